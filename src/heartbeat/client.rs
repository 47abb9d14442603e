//! A minimal heartbeat client for workers (the example worker, the load generator, tests):
//! one HTTP/1.1 request per connection over plain TCP to `host:port`. Plain HTTP only: put the
//! service behind a TLS-terminating proxy, or on a private network, in production.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::protocol::{Heartbeat, Reply};

/// Why a request failed; a worker reacts to all of them the same way (retry next period).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the service: {0}")]
    Unreachable(#[from] std::io::Error),
    #[error("the service took longer than {0:?}")]
    Timeout(Duration),
    #[error("the service answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("unreadable answer: {0}")]
    BadReply(String),
}

/// A raw HTTP response: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends one request and reads the whole response. `addr` is `host:port`.
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<RawResponse, ClientError> {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await?;
        s.write_all(body).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok::<_, std::io::Error>(out)
    };
    let raw = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ClientError::Timeout(timeout))??;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| ClientError::BadReply("no end of headers".into()))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| ClientError::BadReply(format!("bad status line in {head:?}")))?;
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok(RawResponse { status, body })
}

/// Sends a heartbeat and returns the service's command.
pub async fn send(addr: &str, token: &str, hb: &Heartbeat) -> Result<Reply, ClientError> {
    let body = serde_json::to_vec(hb).map_err(|e| ClientError::BadReply(e.to_string()))?;
    let auth = format!("Bearer {token}");
    let r = request(
        addr,
        "POST",
        "/v1/heartbeat",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &body,
        Duration::from_secs(5),
    )
    .await?;
    if r.status != 200 {
        return Err(ClientError::Refused {
            status: r.status,
            body: String::from_utf8_lossy(&r.body).into_owned(),
        });
    }
    serde_json::from_slice(&r.body).map_err(|e| ClientError::BadReply(e.to_string()))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
    out
}
