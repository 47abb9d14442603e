//! A service that has just started knows before it acts, against moto.
//!
//! Reproduction (issue "the service knows before it acts"): with 2 datacenter workers
//! heartbeating idle every second and `min_free = 2`, the first tick logged `capacity 0 below
//! desired 2` and launched 2 EC2 instances; ten seconds later it held a surplus of 2. The
//! datacenter counted as empty because nothing had reported yet.

// Deadlines against real servers read the wall clock.
#![allow(clippy::disallowed_methods)]

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use spillway::clock::SystemClock;
use spillway::heartbeat::client;
use spillway::heartbeat::protocol::{Heartbeat, ReportedState};
use support::moto;
use support::service::{self as svc, Options, TOKEN, policy_head, policy_tail};

/// A datacenter of 2 and an EC2 pool, `min_free = 2`; the fleet is learned for `learn_for`.
fn policy(name: &str, queue: &str, learn_for: &str) -> String {
    let head = policy_head(name, "", "1m").replace("min_free = 0", "min_free = 2");
    // No worker heartbeats here: a 1 ms period lets the positive control learn in 2 ms.
    let tail =
        policy_tail(queue, "3s", Some(learn_for)).replace("every = \"300ms\"", "every = \"1ms\"");
    format!(
        r#"{head}[[pool]]
name = "datacenter"
kind = "static"
workers = 2
[[pool]]
name = "ec2"
kind = "ec2"
min = 0
max = 4
cost_per_hour = 0.1
boot_time = "2s"
boot_timeout = "5m"
image_id = "ami-12c6146b"
instance_types = ["c5.large"]
{tail}"#
    )
}

/// Starts the service among two idle datacenter workers that heartbeat every second; returns
/// the EC2 launches decided in its first 6 ticks.
async fn launches_in_the_first_ticks(learn_for: &str) -> f64 {
    let server = moto::server();
    let account = moto::fresh_account();
    let sqs = server.sqs_client(&account);
    let queue = support::queues::create_queue(&sqs, "jobs").await;
    let name = format!("startup-{account}");
    let running = svc::start(
        svc::policy(&policy(&name, &queue, learn_for)),
        server.ec2_client(&account),
        sqs,
        Arc::new(SystemClock::new()),
        Options::default(),
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    for host in ["render-01", "render-02"] {
        let (addr, stop) = (running.host(), stop.clone());
        tokio::spawn(async move {
            // Each beats once a second; the service starts between two of their beats.
            tokio::time::sleep(Duration::from_millis(900)).await;
            while !stop.load(Ordering::SeqCst) {
                let hb = Heartbeat {
                    worker_id: host.into(),
                    pool: "datacenter".into(),
                    instance_id: None,
                    state: ReportedState::Idle,
                    job_id: None,
                    jobs_done: 0,
                    drained: false,
                    finished: Vec::new(),
                    interrupted: None,
                    taken: Vec::new(),
                };
                let _ = client::send(&addr, TOKEN, &hb).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
    running
        .wait_status(Duration::from_secs(30), "six ticks", |s| {
            s["ticks"].as_u64().unwrap_or(0) >= 6
        })
        .await;
    let metrics = running.metrics().await;
    stop.store(true, Ordering::SeqCst);
    running.stop().await.unwrap();
    svc::metric(
        &metrics,
        r#"spillway_scaling_actions_total{action="launch",pool="ec2",reason="headroom"}"#,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datacenter_not_heard_from_yet_is_not_read_as_empty_at_start() {
    assert_eq!(
        launches_in_the_first_ticks("3s").await,
        0.0,
        "launched EC2 for a datacenter that had not reported yet"
    );
    // The positive control: without the time to learn the fleet, the first tick launches.
    assert!(launches_in_the_first_ticks("2ms").await >= 1.0);
}
