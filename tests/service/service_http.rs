//! The heartbeat endpoint as an attacker or a broken worker sees it: wrong or missing tokens
//! are refused with 401, oversized bodies (with or without a Content-Length) with 413, and
//! malformed or hostile JSON (deep nesting, huge numbers, invalid UTF-8) with 400, each
//! counted and none a panic; a good heartbeat gets `run` until the service asks the worker to
//! drain; the listener is on loopback unless told otherwise. No AWS needed.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use spillway::clock::ManualClock;
use spillway::heartbeat::client::{self, RawResponse};
use spillway::heartbeat::protocol::MAX_BODY_BYTES;
use spillway::metrics::Metrics;
use spillway::model::Timestamp;
use spillway::service::forward::LeaderAddress;
use spillway::service::http::{HttpState, router};
use spillway::service::observe::jobs::JobReports;
use spillway::service::observe::registry::Registry;
use spillway::service::pause::PauseSwitch;
use spillway::service::status::StatusBoard;

pub(crate) const TOKEN: &str = "correct-horse-battery-staple";
const ADMIN: &str = "admin-token-not-the-workers";

pub(crate) struct Server {
    pub(crate) host: String,
    pub(crate) registry: Arc<Registry>,
    /// Where this server passes heartbeats on to (a follower replica's leader).
    pub(crate) leader: Arc<LeaderAddress>,
    pub(crate) metrics: Metrics,
    pub(crate) job_reports: Arc<JobReports>,
}

pub(crate) async fn serve() -> Server {
    let registry = Arc::new(Registry::new());
    let leader = Arc::new(LeaderAddress::default());
    let metrics = Metrics::new();
    let job_reports = Arc::new(JobReports::new());
    let state = Arc::new(HttpState {
        registry: registry.clone(),
        job_reports: job_reports.clone(),
        metrics: metrics.clone(),
        status: Arc::new(StatusBoard::new("p", false, Timestamp::from_millis(0))),
        token: TOKEN.into(),
        admin_token: Some(ADMIN.into()),
        pause: Arc::new(PauseSwitch::default()),
        pools: vec!["ec2".into(), "datacenter".into()],
        queues: vec![("https://sqs.example/1/jobs".into(), "jobs".into())],
        clock: Arc::new(ManualClock::new(Timestamp::from_millis(5_000))),
        leader: leader.clone(),
        replica_id: "replica-under-test".into(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(axum::serve(listener, router(state)).into_future());
    Server {
        host,
        registry,
        leader,
        metrics,
        job_reports,
    }
}

pub(crate) async fn post(host: &str, auth: Option<&str>, body: &[u8]) -> RawResponse {
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

pub(crate) async fn metrics(host: &str) -> String {
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

#[tokio::test]
async fn a_follower_records_passes_the_heartbeat_on_and_answers_with_the_leaders_reply() {
    let (leader, follower) = (serve().await, serve().await);
    follower.leader.set(Some(leader.host.clone()));
    let bearer = format!("Bearer {TOKEN}");
    let r = post(&follower.host, Some(&bearer), GOOD).await;
    assert_eq!(r.body, br#"{"command":"run"}"#);
    // Both heard it: the follower for the day it leads, the leader for today.
    assert_eq!(follower.registry.snapshot().len(), 1);
    assert_eq!(leader.registry.snapshot()[0].jobs_done, 3);
    // A drain the leader asked for reaches the worker through the follower.
    assert!(
        leader
            .registry
            .request_drain("i-1", Timestamp::from_millis(6_000))
    );
    let r = post(&follower.host, Some(&bearer), GOOD).await;
    assert_eq!(r.body, br#"{"command":"drain"}"#);
    assert!(
        follower
            .metrics
            .render()
            .contains("spillway_heartbeats_forwarded_total{outcome=\"ok\"} 2")
    );
    // Replicas that each think the other leads do not bounce a heartbeat between them.
    leader.leader.set(Some(follower.host.clone()));
    let r = post(&follower.host, Some(&bearer), GOOD).await;
    assert_eq!(r.status, 200);
    // A leader that does not answer: the follower answers from its own registry.
    follower.leader.set(Some("127.0.0.1:9".into()));
    let r = post(&follower.host, Some(&bearer), GOOD).await;
    assert_eq!(r.body, br#"{"command":"run"}"#);
    assert!(
        follower
            .metrics
            .render()
            .contains("spillway_heartbeats_forwarded_total{outcome=\"failed\"} 1")
    );
}

#[tokio::test]
async fn hostile_bodies_get_400_and_are_counted_and_never_panic() {
    let s = serve().await;
    let bearer = format!("Bearer {TOKEN}");
    let hb = |jobs_done: &str| {
        format!(r#"{{"worker_id":"w9","pool":"ec2","state":"idle","jobs_done":{jobs_done}}}"#)
            .into_bytes()
    };
    let bodies: Vec<Vec<u8>> = vec![
        // Nesting far past serde_json's recursion limit, inside the size limit.
        format!("{}{}", "[".repeat(8_000), "]".repeat(8_000)).into_bytes(),
        format!("{}1{}", r#"{"a":"#.repeat(2_500), "}".repeat(2_500)).into_bytes(),
        // Numbers out of range or of the wrong kind.
        hb("18446744073709551616"),
        hb("1e400"),
        hb("-1"),
        hb("1.5"),
        hb(&"9".repeat(10_000)),
        // Not UTF-8, a lone surrogate, control bytes, not a heartbeat at all.
        b"{\"worker_id\":\"\xff\xfe\",\"pool\":\"ec2\",\"state\":\"idle\"}".to_vec(),
        br#"{"worker_id":"\ud800","pool":"ec2","state":"idle"}"#.to_vec(),
        b"\x00\x01\x02\x03".to_vec(),
        b"null".to_vec(),
        br#""a string""#.to_vec(),
        // A field twice, and trailing garbage after a good heartbeat.
        br#"{"worker_id":"a","worker_id":"b","pool":"ec2","state":"idle"}"#.to_vec(),
        [GOOD, b" trailing"].concat(),
    ];
    for body in &bodies {
        let r = post(&s.host, Some(&bearer), body).await;
        assert_eq!(
            r.status,
            400,
            "{}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        );
    }
    // Without the token the body is not even looked at.
    assert_eq!(post(&s.host, None, b"{not json").await.status, 401);
    let m = metrics(&s.host).await;
    assert_eq!(rejected(&m, "malformed"), bodies.len() as u64, "{m}");
    assert_eq!(rejected(&m, "unauthorized"), 1, "{m}");
    assert!(s.registry.snapshot().is_empty());
    assert_eq!(post(&s.host, Some(&bearer), GOOD).await.status, 200);
}

/// Sends a chunked body of `size` bytes (no Content-Length to check up front) and returns
/// the status line's code.
async fn post_chunked(host: &str, size: usize) -> u16 {
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /v1/heartbeat HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in vec![b'x'; size].chunks(4096) {
        let sent = s
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await;
        // The service may answer and close before the whole body is sent.
        if sent.is_err() || s.write_all(chunk).await.is_err() || s.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_gets_413_and_is_counted() {
    let s = serve().await;
    assert_eq!(post_chunked(&s.host, MAX_BODY_BYTES * 4).await, 413);
    let m = metrics(&s.host).await;
    assert_eq!(rejected(&m, "too_large"), 1, "{m}");
    assert!(s.registry.snapshot().is_empty());
}

#[test]
fn the_listener_is_on_loopback_by_default() {
    use clap::Parser;
    use spillway::cli::{Cli, Command};
    let cli = Cli::try_parse_from(["spillway", "run", "--policy", "p.toml"]).unwrap();
    let Command::Run(args) = cli.command else {
        panic!("not the run command")
    };
    assert!(
        args.metrics_addr.ip().is_loopback(),
        "{}",
        args.metrics_addr
    );
}
