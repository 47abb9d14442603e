//! What the worker learns from the EC2 instance metadata service (IMDSv2: a session token
//! first, then each read with it): its instance id ([`instance_id`]; off EC2 the host name),
//! and whether its instance is going away ([`notice`]: a spot interruption or a rebalance
//! recommendation). The endpoint is configurable so that tests can serve it.

use std::time::Duration;

use crate::heartbeat::client;
use crate::heartbeat::protocol::Interruption;

/// The metadata service's address on EC2.
pub const DEFAULT_METADATA: &str = "169.254.169.254:80";

/// How long one metadata request may take: the service is local, and off EC2 nothing answers.
const WAIT: Duration = Duration::from_secs(1);

/// A session with the metadata service at `endpoint` (`host:port`).
#[derive(Debug, Clone)]
pub struct Metadata {
    endpoint: String,
    token: Option<String>,
}

impl Metadata {
    pub fn new(endpoint: &str) -> Self {
        Metadata {
            endpoint: endpoint.to_string(),
            token: None,
        }
    }

    /// A fresh session token (six hours), or `None` when the service does not answer.
    async fn fresh_token(&self) -> Option<String> {
        let r = client::request(
            &self.endpoint,
            "PUT",
            "/latest/api/token",
            &[("X-aws-ec2-metadata-token-ttl-seconds", "21600")],
            b"",
            WAIT,
        )
        .await
        .ok()
        .filter(|r| r.status == 200)?;
        let token = String::from_utf8(r.body).ok()?.trim().to_string();
        (!token.is_empty()).then_some(token)
    }

    /// `GET path`: `Ok(Some(body))` on 200, `Ok(None)` on 404 (nothing there), `Err(())` when
    /// the service cannot be asked. An expired token is renewed once.
    async fn get(&mut self, path: &str) -> Result<Option<String>, ()> {
        for _ in 0..2 {
            if self.token.is_none() {
                self.token = Some(self.fresh_token().await.ok_or(())?);
            }
            let token = self.token.clone().unwrap_or_default();
            let r = client::request(
                &self.endpoint,
                "GET",
                path,
                &[("X-aws-ec2-metadata-token", &token)],
                b"",
                WAIT,
            )
            .await
            .map_err(|_| ())?;
            match r.status {
                200 => return Ok(Some(String::from_utf8_lossy(&r.body).trim().to_string())),
                404 => return Ok(None),
                401 => self.token = None,
                _ => return Err(()),
            }
        }
        Err(())
    }

    /// The instance id, or `None` when the service does not answer (not on EC2).
    pub async fn instance_id(&mut self) -> Option<String> {
        let id = self.get("/latest/meta-data/instance-id").await.ok()??;
        (id.starts_with("i-") && id.len() <= 64).then_some(id)
    }

    /// Whether the instance is going away: a spot interruption (`spot/instance-action`) before
    /// a rebalance recommendation. `Err(())` when the service cannot be asked.
    pub async fn notice(&mut self) -> Result<Option<Interruption>, ()> {
        if self
            .get("/latest/meta-data/spot/instance-action")
            .await?
            .is_some()
        {
            return Ok(Some(Interruption::Spot));
        }
        let rebalance = self
            .get("/latest/meta-data/events/recommendations/rebalance")
            .await?;
        Ok(rebalance.map(|_| Interruption::Rebalance))
    }
}

/// This machine's host name (`localhost` when it cannot be read).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
