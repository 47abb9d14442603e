//! How the load generator reaches the service. Two ways, chosen with `--connections`:
//!
//! - [`Transport::Shared`]: a pool of at most N keep-alive HTTP/1.1 connections shared by every
//!   simulated worker (what a fleet behind one NAT or a connection-reusing proxy looks like, and
//!   the cheapest for the generator). A request takes an idle connection or opens one while
//!   fewer than N exist, else waits for one; that wait shows as schedule lag, not latency.
//! - [`Transport::PerRequest`]: a new TCP connection per heartbeat through the library client
//!   (`spillway::heartbeat::client::send`, `Connection: close`), which is what the shipped
//!   example worker does.
//!
//! Either way one heartbeat is one request, and any error or non-200 answer counts as failed.

#![allow(clippy::disallowed_methods)] // the load generator reads the clock to time requests

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use spillway::heartbeat::client::{self, ClientError};
use spillway::heartbeat::protocol::{Heartbeat, Reply};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// The longest a heartbeat may take before it counts as failed (the library client's limit).
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Why one heartbeat failed; `label` groups them in the report (with the error's text, so
/// the first run that drops anything says why).
#[derive(Debug)]
pub enum Failure {
    /// Connecting, writing or reading failed (including the service closing the connection).
    Io(String),
    Timeout,
    /// The service answered with this status.
    Status(u16),
    /// The answer was not HTTP, or not a heartbeat reply.
    BadReply(String),
}

impl Failure {
    pub fn label(&self) -> String {
        match self {
            Failure::Io(m) => format!("io error ({m})"),
            Failure::Timeout => "timeout".into(),
            Failure::Status(s) => format!("status {s}"),
            Failure::BadReply(m) => {
                format!("bad reply ({})", m.chars().take(60).collect::<String>())
            }
        }
    }
}

/// How heartbeats travel.
pub enum Transport {
    Shared(Shared),
    PerRequest { addr: String },
}

impl Transport {
    /// `connections` keep-alive connections shared by all workers, or one per request when 0.
    pub fn new(addr: &str, connections: usize) -> Self {
        if connections == 0 {
            Transport::PerRequest { addr: addr.into() }
        } else {
            Transport::Shared(Shared {
                addr: addr.into(),
                idle: Mutex::new(VecDeque::new()),
                slots: Semaphore::new(connections),
                size: connections,
                opened: AtomicUsize::new(0),
            })
        }
    }

    /// Sends one heartbeat. Returns when the request started (a connection was in hand) and
    /// the outcome; the latency is from that start to the whole answer read.
    pub async fn send(&self, token: &str, hb: &Heartbeat) -> (Instant, Result<Reply, Failure>) {
        match self {
            Transport::Shared(s) => s.send(token, hb).await,
            Transport::PerRequest { addr } => {
                let started = Instant::now();
                let outcome = client::send(addr, token, hb).await.map_err(|e| match e {
                    ClientError::Unreachable(e) => Failure::Io(e.to_string()),
                    ClientError::Timeout(_) => Failure::Timeout,
                    ClientError::Refused { status, .. } => Failure::Status(status),
                    ClientError::BadReply(m) => Failure::BadReply(m),
                });
                (started, outcome)
            }
        }
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        match self {
            Transport::Shared(s) => {
                format!(
                    "a shared pool of up to {} keep-alive connections ({} opened)",
                    s.size,
                    s.opened.load(Ordering::Relaxed)
                )
            }
            Transport::PerRequest { .. } => "a new connection per heartbeat".into(),
        }
    }
}

/// The shared keep-alive pool.
pub struct Shared {
    addr: String,
    /// Idle connections, used oldest first so every one carries traffic.
    idle: Mutex<VecDeque<BufReader<TcpStream>>>,
    slots: Semaphore,
    size: usize,
    opened: AtomicUsize,
}

impl Shared {
    async fn send(&self, token: &str, hb: &Heartbeat) -> (Instant, Result<Reply, Failure>) {
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let reused = self
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        let started = Instant::now();
        let exchange = async {
            let mut conn = match reused {
                Some(c) => c,
                None => {
                    let s = TcpStream::connect(&self.addr)
                        .await
                        .map_err(|e| Failure::Io(e.to_string()))?;
                    s.set_nodelay(true)
                        .map_err(|e| Failure::Io(e.to_string()))?;
                    self.opened.fetch_add(1, Ordering::Relaxed);
                    BufReader::new(s)
                }
            };
            let (status, body, keep) = post(&mut conn, &self.addr, token, hb).await?;
            if keep {
                self.idle
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_back(conn);
            }
            if status != 200 {
                return Err(Failure::Status(status));
            }
            serde_json::from_slice::<Reply>(&body).map_err(|e| Failure::BadReply(e.to_string()))
        };
        let outcome = match tokio::time::timeout(TIMEOUT, exchange).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout),
        };
        (started, outcome)
    }
}

/// One request on a kept-alive connection: returns the status, the body and whether the
/// connection may be used again.
async fn post(
    conn: &mut BufReader<TcpStream>,
    addr: &str,
    token: &str,
    hb: &Heartbeat,
) -> Result<(u16, Vec<u8>, bool), Failure> {
    let body = serde_json::to_vec(hb).map_err(|e| Failure::BadReply(e.to_string()))?;
    let mut req = format!(
        "POST /v1/heartbeat HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let io = |e: std::io::Error| Failure::Io(e.to_string());
    conn.get_mut().write_all(&req).await.map_err(io)?;
    let mut status_line = String::new();
    if conn.read_line(&mut status_line).await.map_err(io)? == 0 {
        return Err(Failure::Io("the service closed the connection".into()));
    }
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| Failure::BadReply(format!("bad status line {status_line:?}")))?;
    let (mut length, mut keep) = (None, true);
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line).await.map_err(io)? == 0 {
            return Err(Failure::Io(
                "the connection closed inside the headers".into(),
            ));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            keep = false;
        }
    }
    let length = length.ok_or_else(|| Failure::BadReply("no Content-Length".into()))?;
    let mut body = vec![0; length];
    conn.read_exact(&mut body).await.map_err(io)?;
    Ok((status, body, keep))
}
