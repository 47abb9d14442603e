//! A connection flood without a token, against the real `spillway run` binary under a small
//! open-file limit and moto: slow-header and slow-body connections are closed by the service
//! within its timeouts, a worker's heartbeat gets through once they are, and the service's own
//! AWS calls keep working throughout (it launches for the jobs that arrive during the flood).
//!
//! Reproduction (issue "hostile input", finding 2): with no header, body or idle timeouts, 200
//! slow connections stayed open past 75 s; under `ulimit -n 1024`, 1,100 idle connections made
//! heartbeats time out and every SQS and EC2 call fail with "Too many open files".

// Deadlines against real servers and processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use crate::support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use spillway::heartbeat::client;
use support::moto::{self, DEFAULT_ACCOUNT};
use support::service::{TOKEN, TestPolicy, free_port, metrics_at, status_at};

/// The service's open-file limit: its connection limit is a quarter of it (48).
const OPEN_FILES: u32 = 192;
/// Connections that send half a request head and hold.
const SLOW_HEADERS: usize = 300;
/// Connections that send a head promising 100 bytes of body, then one byte.
const SLOW_BODIES: usize = 30;

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn open_flood(port: u16) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for i in 0..SLOW_HEADERS + SLOW_BODIES {
        // Past the listen backlog a connect may fail or hang; the flood is what connects.
        let Ok(mut s) =
            TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
        else {
            continue;
        };
        let part: &[u8] = if i < SLOW_HEADERS {
            b"POST /v1/heartbeat HTTP/1.1\r\nHost: spillway\r\n"
        } else {
            b"POST /v1/heartbeat HTTP/1.1\r\nHost: spillway\r\nContent-Length: 100\r\n\r\n{"
        };
        let _ = s.write_all(part);
        let _ = s.set_read_timeout(Some(Duration::from_millis(1)));
        held.push(s);
    }
    held
}

/// Whether the service has closed `s` (or answered and closed).
fn closed_by_server(mut s: &TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

async fn heartbeat(port: u16) -> Option<u16> {
    let body = br#"{"worker_id":"real-worker","pool":"ec2","state":"idle"}"#;
    let auth = format!("Bearer {TOKEN}");
    client::request(
        &format!("127.0.0.1:{port}"),
        "POST",
        "/v1/heartbeat",
        &[("Authorization", auth.as_str())],
        body,
        Duration::from_secs(2),
    )
    .await
    .ok()
    .map(|r| r.status)
}

fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_is_shed_and_aws_calls_keep_working() {
    let _alone = support::alone().await;
    let server = moto::server();
    let name = format!("flood-{}-{}", moto::fresh_account(), std::process::id());
    let sqs = server.sqs_client(DEFAULT_ACCOUNT);
    let ec2 = server.ec2_client(DEFAULT_ACCOUNT);
    let queue = support::queues::create_queue(&sqs, &name).await;
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.toml");
    let text = TestPolicy {
        name: &name,
        queue_url: &queue,
        max: 3,
        scale_in_after: "600s",
        boot_timeout: "600s",
        lost_after: "300s",
        learn_for: Some("1s"),
        instance_types: r#"["c5.large"]"#,
    }
    .toml();
    std::fs::write(&policy, text).unwrap();
    let port = free_port();
    let bin = std::env::var("SPILLWAY_BIN").unwrap_or(env!("CARGO_BIN_EXE_spillway").into());
    let _service = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {OPEN_FILES} && exec \"$0\" \"$@\""))
        .arg(bin)
        .args(["run", "--policy"])
        .arg(&policy)
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .envs(server.child_env())
        .env("SPILLWAY_TEST_TOKEN", TOKEN)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map(Service)
        .expect("spawn spillway run");
    let start = Instant::now();
    while status_at(port).await.is_none() {
        assert!(start.elapsed() < Duration::from_secs(30), "never answered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let flood_at = Instant::now();
    let flood = open_flood(port);
    assert!(
        flood.len() > (OPEN_FILES as usize),
        "the flood holds more connections ({}) than the service has files",
        flood.len()
    );
    // Jobs arrive during the flood: the service must see them (SQS) and launch (EC2).
    for i in 0..3 {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(format!("job-{i}"))
            .send()
            .await
            .unwrap();
    }
    let launched = loop {
        let n = support::workers::tagged(&ec2, &name).await.len();
        if n >= 3 || flood_at.elapsed() > Duration::from_secs(25) {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        launched, 3,
        "the service launched {launched} of 3 workers while flooded: its AWS calls failed"
    );

    // The slow connections are closed within the timeouts (10 s each), and then a worker's
    // heartbeat gets through.
    let answered = loop {
        if heartbeat(port).await == Some(200) {
            break flood_at.elapsed();
        }
        assert!(
            flood_at.elapsed() < Duration::from_secs(40),
            "no heartbeat got through within 40 s of the flood"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let open = flood.iter().filter(|s| !closed_by_server(s)).count();
    assert_eq!(
        open, 0,
        "{open} flood connections still open {answered:?} after the flood began"
    );

    let text = metrics_at(&format!("127.0.0.1:{port}"), Duration::from_secs(2)).await;
    assert_eq!(
        metric(&text, "spillway_observation_errors_total"),
        0.0,
        "observations failed during the flood:\n{text}"
    );
    assert_eq!(metric(&text, "spillway_action_errors_total"), 0.0, "{text}");
    assert!(
        metric(
            &text,
            "spillway_http_connections_refused_total{reason=\"limit\"}"
        ) > 0.0,
        "the connection limit never acted:\n{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
