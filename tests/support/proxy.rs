//! A counting, fault-injecting HTTP proxy to put in front of moto: it counts every AWS
//! operation by name (EC2 query `Action=…`, SQS JSON `X-Amz-Target`), keeps the bodies of the
//! ones asked for, and can answer chosen operations with an error instead of forwarding them.
//! One request per connection (`Connection: close`), which the SDK's client handles.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An injected failure.
#[derive(Debug, Clone)]
pub struct Fault {
    /// HTTP status, e.g. 503.
    pub status: u16,
    /// Error code, e.g. `RequestLimitExceeded`, `ThrottlingException`.
    pub code: String,
}

#[derive(Debug, Default)]
struct Shared {
    counts: HashMap<String, u64>,
    bodies: HashMap<String, Vec<String>>,
    faults: HashMap<String, Fault>,
}

/// The running proxy; lives until the test's runtime ends.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

/// Operations that change something in EC2 or SQS.
pub const MUTATING: &[&str] = &[
    "RunInstances",
    "TerminateInstances",
    "StopInstances",
    "StartInstances",
    "CreateTags",
    "DeleteTags",
    "CreateFleet",
    "RequestSpotInstances",
    "ModifyInstanceAttribute",
    "SendMessage",
    "SendMessageBatch",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "PurgeQueue",
    "CreateQueue",
    "DeleteQueue",
];

impl Proxy {
    /// Starts a proxy to `upstream` on 127.0.0.1 and a free port.
    pub async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(conn, upstream, s).await;
                });
            }
        });
        Proxy { addr, shared }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How often `operation` was called.
    pub fn count(&self, operation: &str) -> u64 {
        let s = self.shared.lock().unwrap();
        s.counts.get(operation).copied().unwrap_or(0)
    }

    /// Every operation seen, with its count.
    pub fn counts(&self) -> HashMap<String, u64> {
        self.shared.lock().unwrap().counts.clone()
    }

    /// The sum of the counts of [`MUTATING`] operations.
    pub fn mutating_calls(&self) -> u64 {
        MUTATING.iter().map(|op| self.count(op)).sum()
    }

    /// The request bodies of `operation` seen so far.
    pub fn bodies(&self, operation: &str) -> Vec<String> {
        let s = self.shared.lock().unwrap();
        s.bodies.get(operation).cloned().unwrap_or_default()
    }

    /// Answers every call of `operation` with `fault` until [`Proxy::heal`].
    pub fn fail(&self, operation: &str, fault: Fault) {
        let mut s = self.shared.lock().unwrap();
        s.faults.insert(operation.to_string(), fault);
    }

    /// Stops injecting faults.
    pub fn heal(&self) {
        self.shared.lock().unwrap().faults.clear();
    }
}

async fn serve(
    mut conn: TcpStream,
    upstream: u16,
    shared: Arc<Mutex<Shared>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 8192];
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 8192];
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    let operation = header("x-amz-target")
        .and_then(|t| t.rsplit('.').next().map(str::to_string))
        .or_else(|| {
            body.split('&')
                .find_map(|kv| kv.strip_prefix("Action=").map(str::to_string))
        })
        .unwrap_or_else(|| "Unknown".to_string());
    let fault = {
        let mut s = shared.lock().unwrap();
        *s.counts.entry(operation.clone()).or_default() += 1;
        if operation == "RunInstances" || operation == "TerminateInstances" {
            s.bodies
                .entry(operation.clone())
                .or_default()
                .push(body.clone());
        }
        s.faults.get(&operation).cloned()
    };
    if let Some(f) = fault {
        let json = header("x-amz-target").is_some();
        let (ctype, text) = if json {
            (
                "application/x-amz-json-1.0",
                format!(
                    r#"{{"__type":"com.amazonaws.sqs#{}","message":"injected by the test proxy"}}"#,
                    f.code
                ),
            )
        } else {
            (
                "text/xml",
                format!(
                    "<?xml version=\"1.0\"?><Response><Errors><Error><Code>{}</Code><Message>injected by the test proxy</Message></Error></Errors><RequestID>proxy</RequestID></Response>",
                    f.code
                ),
            )
        };
        let reply = format!(
            "HTTP/1.1 {} Injected\r\nContent-Type: {ctype}\r\nx-amzn-query-error: {};Sender\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            f.status,
            f.code,
            text.len()
        );
        conn.write_all(reply.as_bytes()).await?;
        return conn.shutdown().await;
    }
    // Forward with Connection: close, and relay the answer with Connection: close.
    let mut up = TcpStream::connect(("127.0.0.1", upstream)).await?;
    let forwarded_head: String = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\r\n"))
        .collect::<String>()
        + "Connection: close\r\n\r\n";
    up.write_all(forwarded_head.as_bytes()).await?;
    up.write_all(&buf[head_end..]).await?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer).await?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |p| p + 4);
    let ahead = String::from_utf8_lossy(&answer[..split]).into_owned();
    let relayed: String = ahead
        .split("\r\n")
        .filter(|l| {
            !l.to_ascii_lowercase().starts_with("connection:")
                && !l.to_ascii_lowercase().starts_with("keep-alive:")
        })
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\r\n"))
        .collect::<String>()
        + "Connection: close\r\n\r\n";
    conn.write_all(relayed.as_bytes()).await?;
    conn.write_all(&answer[split..]).await?;
    conn.shutdown().await
}
