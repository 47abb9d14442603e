//! Who the worker is: its EC2 instance id from the instance metadata service (IMDSv2: a
//! session token first, then the id), or, off EC2, the host name. The metadata endpoint is
//! configurable so that tests can serve it.

use std::time::Duration;

use crate::heartbeat::client;

/// The metadata service's address on EC2.
pub const DEFAULT_METADATA: &str = "169.254.169.254:80";

/// The instance id from the metadata service at `endpoint` (`host:port`), or `None` when it
/// does not answer within a second (not on EC2).
pub async fn instance_id(endpoint: &str) -> Option<String> {
    let wait = Duration::from_secs(1);
    let token = client::request(
        endpoint,
        "PUT",
        "/latest/api/token",
        &[("X-aws-ec2-metadata-token-ttl-seconds", "300")],
        b"",
        wait,
    )
    .await
    .ok()
    .filter(|r| r.status == 200)?;
    let token = String::from_utf8(token.body).ok()?;
    let id = client::request(
        endpoint,
        "GET",
        "/latest/meta-data/instance-id",
        &[("X-aws-ec2-metadata-token", token.trim())],
        b"",
        wait,
    )
    .await
    .ok()
    .filter(|r| r.status == 200)?;
    let id = String::from_utf8(id.body).ok()?.trim().to_string();
    (id.starts_with("i-") && id.len() <= 64).then_some(id)
}

/// This machine's host name (`localhost` when it cannot be read).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
