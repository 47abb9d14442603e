//! The service's TCP listener, within bounds a client without a token cannot push it past:
//! a request's head must arrive within [`Limits::header_timeout`] (which is also how long an
//! idle keep-alive connection is kept), the whole request must be read and answered within
//! [`Limits::request_timeout`], and at most [`Limits::max_connections`] connections are held
//! at once: past that, a new connection is closed at once. The limit defaults to a quarter of
//! the process's open-file limit, so a connection flood leaves the SQS, EC2 and DynamoDB
//! clients, the state file and the record file their own descriptors.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tracing::{debug, warn};

use crate::metrics::Metrics;

/// How far one client can hold the listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections held at once.
    pub max_connections: usize,
    /// From accepting a connection (or finishing its last answer) to the end of the next
    /// request's head.
    pub header_timeout: Duration,
    /// From a request's head to the end of its answer, the body's reading included.
    pub request_timeout: Duration,
}

/// The connection limit when the open-file limit cannot be read.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// The most connections held whatever the open-file limit: a farm's workers heartbeat every
/// few seconds over short requests, so a few hundred connections serve thousands of workers.
pub const MAX_CONNECTIONS_CEILING: usize = 4096;

impl Limits {
    /// The defaults: 10 s for a head, 10 s for a request, and a quarter of the open-file
    /// limit (at least 16, at most [`MAX_CONNECTIONS_CEILING`]).
    pub fn from_open_files(open_files: Option<u64>) -> Self {
        let max_connections = open_files.map_or(DEFAULT_MAX_CONNECTIONS, |n| {
            usize::try_from(n / 4)
                .unwrap_or(MAX_CONNECTIONS_CEILING)
                .clamp(16, MAX_CONNECTIONS_CEILING)
        });
        Limits {
            max_connections,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// The process's soft open-file limit (`RLIMIT_NOFILE`), read from `/proc/self/limits`;
/// `None` where that file does not exist or says "unlimited".
pub fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    soft_limit(&text, "Max open files")
}

fn soft_limit(limits: &str, name: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the connections in
/// progress finish their requests (for at most one request timeout).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    metrics: Metrics,
    shutdown: impl Future<Output = ()>,
) {
    let router = router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| async move {
            match tokio::time::timeout(limits.request_timeout, next.run(req)).await {
                Ok(response) => response,
                Err(_) => axum::http::StatusCode::REQUEST_TIMEOUT.into_response(),
            }
        },
    ));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, closing_seen) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of descriptors, most likely: wait for some to close, do not spin.
                    metrics.http_connections_refused.with_label_values(&["accept_error"]).inc();
                    warn!(error = %e, "Cannot accept a connection; retrying in 100 ms.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics
                .http_connections_refused
                .with_label_values(&["limit"])
                .inc();
            debug!(%peer, "Connection limit reached; closing a new connection.");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        metrics.http_connections.inc();
        let service = TowerToHyperService::new(router.clone());
        let metrics = metrics.clone();
        let mut closing_seen = closing_seen.clone();
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        debug!(%peer, error = %e, "Connection ended with an error.");
                    }
                }
                _ = async { closing_seen.wait_for(|closing| *closing).await.map(|_| ()) } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(limits.request_timeout, connection).await;
                }
            }
            metrics.http_connections.dec();
            drop(slot);
        });
    }
    let _ = closing.send(true);
    // Every slot back means every connection has ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(
        limits.request_timeout + Duration::from_secs(1),
        slots.acquire_many(all),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_limit_leaves_most_descriptors_to_the_rest() {
        let limits = |n| Limits::from_open_files(n).max_connections;
        assert_eq!(limits(Some(1024)), 256);
        assert_eq!(limits(Some(40)), 16);
        assert_eq!(limits(Some(1 << 20)), MAX_CONNECTIONS_CEILING);
        assert_eq!(limits(None), DEFAULT_MAX_CONNECTIONS);
    }

    #[test]
    fn reads_the_soft_open_file_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max processes             127431               127431               processes \n\
                    Max open files            1024                 524288               files     \n";
        assert_eq!(soft_limit(text, "Max open files"), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(soft_limit(unlimited, "Max open files"), None);
        assert_eq!(soft_limit("", "Max open files"), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_many_requests_on_one_keep_alive_connection() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router =
            Router::new().route("/", axum::routing::post(|body: String| async move { body }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            router,
            Limits::from_open_files(None),
            Metrics::new(),
            async {
                let _ = stopped.await;
            },
        ));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        for n in 0..2000 {
            let req = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{n:05}");
            s.write_all(req.as_bytes()).await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 512];
            while !got.ends_with(format!("{n:05}").as_bytes()) {
                let k = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                    .await
                    .unwrap_or_else(|_| panic!("request {n} unanswered"))
                    .unwrap();
                assert!(k > 0, "closed at request {n}");
                got.extend_from_slice(&buf[..k]);
            }
        }
        let _ = stop.send(());
        server.await.unwrap();
    }
}
