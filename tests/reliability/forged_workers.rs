//! A token holder floods the live service (against moto) with 100,000 forged worker ids on
//! instances that are not the policy's, each claiming `jobs_done = u64::MAX`: the real worker
//! on the instance spillway launched, first heard after the flood, is accepted and counted,
//! its instance (the same id) still runs, and no job is counted that nobody rendered.
//!
//! Reproduction (issue "hostile input", finding 6): 100,000 fake worker ids filled the
//! registry; real workers got `503 too many workers` for minutes while their instances were
//! killed for `boot_timeout`; `jobs_done: u64::MAX` made throughput 2.4e18 jobs/s.

// Deadlines against real servers read the wall clock.
#![allow(clippy::disallowed_methods)]

use crate::support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::InstanceStateName;
use spillway::clock::SystemClock;
use spillway::heartbeat::client;
use spillway::heartbeat::protocol::{Heartbeat, ReportedState};
use support::moto::{self, DEFAULT_ACCOUNT};
use support::service::{self as svc, Options, TOKEN, TestPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Forged worker ids sent.
const FORGED: usize = 100_000;
/// Keep-alive connections they are sent over.
const CONNECTIONS: usize = 4;

/// Sends `ids` forged heartbeats over one keep-alive connection; returns how many were
/// answered 200.
async fn forge(addr: String, ids: std::ops::Range<usize>) -> usize {
    let stream = TcpStream::connect(&addr).await.expect("connect");
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut accepted = 0;
    for n in ids {
        let body = serde_json::json!({
            "worker_id": format!("forged-{n}"),
            "pool": "ec2",
            "instance_id": format!("i-forged{n:08}"),
            "state": "idle",
            "jobs_done": u64::MAX,
        })
        .to_string();
        let head = format!(
            "POST /v1/heartbeat HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        // One write: a head and a body in two would wait on Nagle and delayed ACKs.
        write
            .write_all(format!("{head}{body}").as_bytes())
            .await
            .unwrap();
        // The answer: a head, then Content-Length bytes.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(read.read_u8().await.expect("an answer"));
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        read.read_exact(&mut body).await.unwrap();
        if head.starts_with("http/1.1 200") {
            accepted += 1;
        }
    }
    accepted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_worker_ids_lock_no_real_worker_out_and_fake_no_throughput() {
    let _alone = support::alone().await;
    let server = moto::server();
    let name = format!(
        "forged-ids-{}-{}",
        moto::fresh_account(),
        std::process::id()
    );
    let sqs = server.sqs_client(DEFAULT_ACCOUNT);
    let ec2 = server.ec2_client(DEFAULT_ACCOUNT);
    let queue = support::queues::create_queue(&sqs, &name).await;
    sqs.send_message()
        .queue_url(&queue)
        .message_body("render-0")
        .send()
        .await
        .unwrap();
    let record = std::env::temp_dir().join(format!("{name}.jsonl"));
    let policy = TestPolicy {
        name: &name,
        queue_url: &queue,
        max: 2,
        scale_in_after: "1h",
        // The real worker is first heard after the flood, well within this.
        boot_timeout: "10m",
        lost_after: "5s",
        learn_for: Some("1s"),
        instance_types: r#"["c5.large"]"#,
    };
    let running = svc::start(
        svc::policy(&policy.toml()),
        ec2.clone(),
        sqs,
        Arc::new(SystemClock::new()),
        Options {
            record: Some(record.clone()),
            ..Options::default()
        },
    )
    .await;
    let launched = Instant::now();
    let real = loop {
        let listed = support::workers::instances(&ec2, &name).await;
        if let Some((id, _)) = listed.first() {
            break id.clone();
        }
        assert!(
            launched.elapsed() < Duration::from_secs(20),
            "nothing launched"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // A tick lists the instance, so the registry knows it is the pool's.
    let t0 = running.status().await["ticks"].as_u64().unwrap_or(0);
    running
        .wait_status(Duration::from_secs(10), "a tick after the launch", |s| {
            s["ticks"].as_u64().unwrap_or(0) >= t0 + 2
        })
        .await;

    let flood_start = Instant::now();
    let per = FORGED / CONNECTIONS;
    let senders: Vec<_> = (0..CONNECTIONS)
        .map(|c| tokio::spawn(forge(running.host(), c * per..(c + 1) * per)))
        .collect();
    let mut forged_accepted = 0;
    for s in senders {
        forged_accepted += s.await.unwrap();
    }

    // The real worker, on the instance spillway launched, starts after the flood: it is heard
    // and counted (idle), and keeps being heard.
    let beat = Heartbeat {
        worker_id: "real-worker".into(),
        pool: "ec2".into(),
        instance_id: Some(real.clone()),
        state: ReportedState::Idle,
        job_id: None,
        jobs_done: 0,
        drained: false,
        finished: Vec::new(),
        interrupted: None,
        taken: Vec::new(),
    };
    let flood_took = flood_start.elapsed();
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        client::send(&running.host(), TOKEN, &beat)
            .await
            .unwrap_or_else(|e| panic!("the real worker was refused: {e}"));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let s = running.status().await;
    assert_eq!(
        s["last"]["workers"][0]["idle"].as_u64(),
        Some(1),
        "the real worker is counted: {s:#}"
    );
    let state = support::workers::instances(&ec2, &name)
        .await
        .into_iter()
        .find(|(id, _)| id == &real)
        .map(|(_, s)| s);
    assert!(
        matches!(
            state,
            Some(InstanceStateName::Running | InstanceStateName::Pending)
        ),
        "the real worker's instance {real} is {state:?}"
    );
    let metrics = running.metrics().await;
    running.stop().await.unwrap();

    let text = std::fs::read_to_string(&record).unwrap();
    let most = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["observation"]["completed"].as_u64())
        .max()
        .unwrap_or(0);
    // Nobody rendered anything: 100,000 claims of u64::MAX jobs count for nothing (before:
    // 2.4e18 jobs/s).
    assert_eq!(most, 0, "a tick counted {most} jobs finished");
    println!(
        "{forged_accepted} of {FORGED} forged heartbeats accepted (each evicting an older \
         forgery) in {flood_took:?}; most jobs in one tick {most}; rejected: {}",
        metrics
            .lines()
            .filter(|l| l.starts_with("spillway_heartbeats_rejected_total"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = std::fs::remove_file(&record);
}
