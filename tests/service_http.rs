//! The heartbeat endpoint as an attacker or a broken worker sees it: wrong or missing tokens
//! are refused with 401 and counted, oversized bodies get 413, malformed JSON gets 400, and a
//! good heartbeat gets `run` until the service asks the worker to drain. No AWS needed.

use std::sync::Arc;
use std::time::Duration;

use spillway::clock::ManualClock;
use spillway::heartbeat::Registry;
use spillway::heartbeat::client::{self, RawResponse};
use spillway::heartbeat::protocol::MAX_BODY_BYTES;
use spillway::metrics::Metrics;
use spillway::model::Timestamp;
use spillway::service::http::{HttpState, router};
use spillway::service::status::StatusBoard;

const TOKEN: &str = "correct-horse-battery-staple";

struct Server {
    host: String,
    registry: Arc<Registry>,
}

async fn serve() -> Server {
    let registry = Arc::new(Registry::new());
    let state = Arc::new(HttpState {
        registry: registry.clone(),
        metrics: Metrics::new(),
        status: Arc::new(StatusBoard::new("p", false, Timestamp::from_millis(0))),
        token: TOKEN.into(),
        pools: vec!["ec2".into(), "datacenter".into()],
        clock: Arc::new(ManualClock::new(Timestamp::from_millis(5_000))),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(axum::serve(listener, router(state)).into_future());
    Server { host, registry }
}

async fn post(host: &str, auth: Option<&str>, body: &[u8]) -> RawResponse {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    client::request(
        host,
        "POST",
        "/v1/heartbeat",
        &headers,
        body,
        Duration::from_secs(5),
    )
    .await
    .expect("request")
}

async fn metrics(host: &str) -> String {
    let r = client::request(host, "GET", "/metrics", &[], b"", Duration::from_secs(5))
        .await
        .unwrap();
    String::from_utf8(r.body).unwrap()
}

fn rejected(text: &str, reason: &str) -> u64 {
    let prefix = format!("spillway_heartbeats_rejected_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

const GOOD: &[u8] =
    br#"{"worker_id":"w1","pool":"ec2","instance_id":"i-1","state":"idle","jobs_done":3}"#;

#[tokio::test]
async fn wrong_or_missing_tokens_are_refused_and_counted() {
    let s = serve().await;
    let bearer = format!("Bearer {TOKEN}");
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer correct-horse-battery-stapl"),
        Some(TOKEN),
    ] {
        let r = post(&s.host, auth, GOOD).await;
        assert_eq!(r.status, 401, "{auth:?}");
    }
    assert!(
        s.registry.snapshot().is_empty(),
        "a refused heartbeat was recorded"
    );
    let m = metrics(&s.host).await;
    assert_eq!(rejected(&m, "unauthorized"), 4, "{m}");
    let r = post(&s.host, Some(&bearer), GOOD).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        metrics(&s.host)
            .await
            .contains("spillway_heartbeats_total 1")
    );
}

#[tokio::test]
async fn oversized_bodies_get_413_and_malformed_ones_400() {
    let s = serve().await;
    let bearer = format!("Bearer {TOKEN}");
    let mut big = br#"{"worker_id":"w1","pool":"ec2","state":"idle","job_id":""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', MAX_BODY_BYTES));
    big.extend_from_slice(br#""}"#);
    assert_eq!(post(&s.host, Some(&bearer), &big).await.status, 413);
    for bad in [
        &b"{not json"[..],
        b"",
        b"[]",
        br#"{"worker_id":"w1","pool":"ec2","state":"sleeping"}"#,
        br#"{"worker_id":"w1","pool":"gpu","state":"idle"}"#,
        br#"{"worker_id":"","pool":"ec2","state":"idle"}"#,
        br#"{"worker_id":7,"pool":"ec2","state":"idle"}"#,
    ] {
        let r = post(&s.host, Some(&bearer), bad).await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(bad));
    }
    let m = metrics(&s.host).await;
    assert_eq!(rejected(&m, "too_large"), 1, "{m}");
    assert_eq!(rejected(&m, "malformed"), 7, "{m}");
    assert!(s.registry.snapshot().is_empty());
    // The server is still fine.
    assert_eq!(post(&s.host, Some(&bearer), GOOD).await.status, 200);
}

#[tokio::test]
async fn a_worker_is_told_to_run_until_it_is_asked_to_drain() {
    let s = serve().await;
    let bearer = format!("Bearer {TOKEN}");
    let r = post(&s.host, Some(&bearer), GOOD).await;
    assert_eq!(r.body, br#"{"command":"run"}"#);
    let rec = &s.registry.snapshot()[0];
    assert_eq!(
        (rec.jobs_done, rec.last_seen),
        (3, Timestamp::from_millis(5_000))
    );
    assert!(
        s.registry
            .request_drain("i-1", Timestamp::from_millis(6_000))
    );
    let r = post(&s.host, Some(&bearer), GOOD).await;
    assert_eq!(r.body, br#"{"command":"drain"}"#);
    let status = client::request(&s.host, "GET", "/status", &[], b"", Duration::from_secs(5))
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&status.body).unwrap();
    assert_eq!(v["policy"], "p");
}
