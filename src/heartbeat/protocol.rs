//! The heartbeat wire format (`POST /v1/heartbeat`), shared by the service and the example
//! worker, and the bearer-token check.

use serde::{Deserialize, Serialize};

/// Largest accepted heartbeat body; larger ones are refused with 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest accepted worker id, pool name, instance id or job id.
pub const MAX_ID_LEN: usize = 256;

/// What a worker reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Stable name of the worker process (host name, or instance id).
    pub worker_id: String,
    /// The policy pool it serves.
    pub pool: String,
    /// Its EC2 instance id, if it runs on one.
    #[serde(default)]
    pub instance_id: Option<String>,
    pub state: ReportedState,
    /// The job it is running, if any.
    #[serde(default)]
    pub job_id: Option<String>,
    /// Jobs finished since it started.
    #[serde(default)]
    pub jobs_done: u64,
    /// Set once it was told to drain, finished its job and takes no more: safe to terminate.
    #[serde(default)]
    pub drained: bool,
}

/// `idle` or `busy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportedState {
    Idle,
    Busy,
}

/// The service's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub command: Command,
}

/// What the worker must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Keep taking jobs.
    Run,
    /// Finish the current job, take no more, report `drained`, then exit.
    Drain,
}

/// Why a heartbeat was refused; each is one value of the rejection metric's label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Missing or wrong bearer token: 401.
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// Body over [`MAX_BODY_BYTES`]: 413.
    #[error("body larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// Not a valid heartbeat: 400.
    #[error("malformed heartbeat: {0}")]
    Malformed(String),
}

impl Rejection {
    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Rejection::Unauthorized => "unauthorized",
            Rejection::TooLarge => "too_large",
            Rejection::Malformed(_) => "malformed",
        }
    }
}

/// Checks an `Authorization` header value against `Bearer <token>`, in time independent of
/// where the two first differ.
pub fn authorized(header: Option<&[u8]>, token: &str) -> bool {
    let Some(value) = header else { return false };
    let Some(given) = value.strip_prefix(b"Bearer ") else {
        return false;
    };
    constant_time_eq(given, token.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xff);
        diff |= x ^ y;
    }
    diff == 0 && !b.is_empty()
}

/// Parses and checks a body.
pub fn parse(body: &[u8]) -> Result<Heartbeat, Rejection> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Rejection::TooLarge);
    }
    let hb: Heartbeat =
        serde_json::from_slice(body).map_err(|e| Rejection::Malformed(e.to_string()))?;
    for (name, v) in [
        ("worker_id", Some(&hb.worker_id)),
        ("pool", Some(&hb.pool)),
        ("instance_id", hb.instance_id.as_ref()),
        ("job_id", hb.job_id.as_ref()),
    ] {
        if let Some(v) = v
            && (v.trim().is_empty() || v.len() > MAX_ID_LEN)
        {
            return Err(Rejection::Malformed(format!(
                "{name} must be 1 to {MAX_ID_LEN} characters"
            )));
        }
    }
    Ok(hb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_must_match_exactly() {
        assert!(authorized(Some(b"Bearer s3cret"), "s3cret"));
        assert!(!authorized(Some(b"Bearer s3cre"), "s3cret"));
        assert!(!authorized(Some(b"Bearer s3crett"), "s3cret"));
        assert!(!authorized(Some(b"bearer s3cret"), "s3cret"));
        assert!(!authorized(None, "s3cret"));
        assert!(
            !authorized(Some(b"Bearer "), ""),
            "an empty token never authorizes"
        );
    }

    #[test]
    fn bodies_are_checked() {
        let ok = br#"{"worker_id":"w1","pool":"ec2","state":"idle"}"#;
        assert_eq!(parse(ok).unwrap().state, ReportedState::Idle);
        assert!(matches!(parse(b"{not json"), Err(Rejection::Malformed(_))));
        assert!(matches!(
            parse(br#"{"worker_id":"","pool":"ec2","state":"idle"}"#),
            Err(Rejection::Malformed(_))
        ));
        assert!(matches!(
            parse(br#"{"worker_id":"w","pool":"ec2","state":"sleeping"}"#),
            Err(Rejection::Malformed(_))
        ));
        assert_eq!(
            parse(&vec![b' '; MAX_BODY_BYTES + 1]),
            Err(Rejection::TooLarge)
        );
    }
}
