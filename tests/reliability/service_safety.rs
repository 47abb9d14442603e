//! The service's safety properties against moto through a counting, fault-injecting proxy:
//! `--dry-run` makes no mutating call; failed observations (SQS 503s, EC2 throttling) hold the
//! fleet and never scale in, and scale-in resumes once data is back; a restarted service
//! finds its instances by tag and does not launch them again; launches send the decision's
//! deterministic ClientToken.

// These tests wait on real servers, so their deadlines read the wall clock.
#![allow(clippy::disallowed_methods)]

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use spillway::clock::{Clock, ManualClock, SystemClock};
use spillway::control::allocate::client_token;
use spillway::heartbeat::client;
use spillway::heartbeat::protocol::{Command, Heartbeat, ReportedState};
use support::moto;
use support::proxy::{Fault, Proxy};
use support::service::{self as svc, Options, TOKEN, TestPolicy};
use support::workers::start_instance;

fn policy_toml(name: &str, queue_url: &str, max: u32) -> String {
    TestPolicy {
        name,
        queue_url,
        max,
        scale_in_after: "1s",
        boot_timeout: "1h",
        lost_after: "1h",
        // The workers here heartbeat every few hundred ms: 2 s hears every one of them.
        learn_for: Some("2s"),
        instance_types: r#"["c5.large"]"#,
    }
    .toml()
}

struct World {
    proxy: Proxy,
    ec2: aws_sdk_ec2::Client,
    sqs: aws_sdk_sqs::Client,
    direct_ec2: aws_sdk_ec2::Client,
    direct_sqs: aws_sdk_sqs::Client,
    queue: String,
    name: String,
}

async fn world(tag: &str) -> World {
    let server = moto::server();
    let account = moto::fresh_account();
    let proxy = Proxy::start(server.port()).await;
    let direct_sqs = server.sqs_client(&account);
    let queue = support::queues::create_queue(&direct_sqs, "jobs").await;
    World {
        ec2: server.ec2_client_via(&account, &proxy.endpoint()),
        sqs: server.sqs_client_via(&account, &proxy.endpoint()),
        direct_ec2: server.ec2_client(&account),
        direct_sqs,
        queue,
        name: format!("{tag}-{account}"),
        proxy,
    }
}

fn ticks(s: &serde_json::Value) -> u64 {
    s["ticks"].as_u64().unwrap_or(0)
}

fn last_actions(s: &serde_json::Value) -> Vec<(String, String)> {
    s["last"]["decision"]["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["action"].as_str().unwrap_or("").to_string(),
                        x["reason"]["kind"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reproduction (issue "the service knows before it acts"): with 150 messages and `max = 5`,
/// the dry run decided `Launching workers … count=5` on every tick and tripped
/// `max_launches_per_hour` after 4 ticks, while a real run launches 5 once and holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_observes_and_decides_but_makes_no_mutating_call() {
    let _alone = support::alone().await;
    let w = world("dry").await;
    support::queues::send_jobs(&w.direct_sqs, &w.queue, 150).await;
    let dir = std::env::temp_dir().join(format!("spillway-dry-{}", w.name));
    std::fs::create_dir_all(&dir).unwrap();
    let record = dir.join("decisions.jsonl");
    let _ = std::fs::remove_file(&record);
    let policy = policy_toml(&w.name, &w.queue, 5) + "[budget]\nmax_launches_per_hour = 12\n";
    let running = svc::start(
        svc::policy(&policy),
        w.ec2.clone(),
        w.sqs.clone(),
        Arc::new(SystemClock::new()),
        Options {
            dry_run: true,
            record: Some(record.clone()),
            ..Options::default()
        },
    )
    .await;
    let s = running
        .wait_status(Duration::from_secs(40), "eight ticks", |s| ticks(s) >= 8)
        .await;
    assert_eq!(s["dry_run"], true);
    let metrics = running.metrics().await;
    running.stop().await.unwrap();
    assert_eq!(
        w.proxy.mutating_calls(),
        0,
        "mutating calls: {:?}",
        w.proxy.counts()
    );
    assert!(
        w.proxy.count("GetQueueAttributes") >= 8,
        "{:?}",
        w.proxy.counts()
    );
    assert!(
        w.proxy.count("DescribeInstances") >= 8,
        "{:?}",
        w.proxy.counts()
    );
    assert!(svc::metric(&metrics, "spillway_dry_run") == 1.0);
    let out = w.direct_ec2.describe_instances().send().await.unwrap();
    assert!(out.reservations().is_empty(), "no instance exists");
    // Like the real run: one launch of 5, then holds at max; the ledger never trips.
    let lines = std::fs::read_to_string(&record).unwrap();
    let decisions: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["decision"].clone())
        .collect();
    assert!(decisions.len() >= 8);
    let launches: Vec<u64> = decisions
        .iter()
        .flat_map(|d| d["actions"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["action"] == "launch")
        .map(|a| a["count"].as_u64().unwrap())
        .collect();
    assert_eq!(launches, vec![5], "the dry run's launches: {lines}");
    assert!(!lines.contains("launch_rate_cap"), "{lines}");
    assert!(lines.contains("max_instances"), "{lines}");
    assert!(
        svc::metric(
            &metrics,
            r#"spillway_scaling_actions_total{action="launch",pool="ec2",reason="backlog"}"#
        ) == 1.0,
        "{metrics}"
    );
    let said: Vec<String> = s["recent"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["executed"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect();
    assert!(
        said.iter().any(|e| e == "dry run: would launch 5 in ec2"),
        "what a real run would have changed: {said:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Heartbeats an idle worker for `instance` until stopped; counts drain replies.
fn idle_worker(host: String, instance: String, stop: Arc<AtomicBool>, drains: Arc<AtomicU64>) {
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let hb = Heartbeat {
                instance_id: Some(instance.clone()),
                drained: drains.load(Ordering::SeqCst) > 0,
                ..Heartbeat::new(&instance, "ec2", ReportedState::Idle)
            };
            if let Ok(r) = client::send(&host, TOKEN, &hb).await
                && r.command == Command::Drain
            {
                drains.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_observations_hold_the_fleet_and_never_scale_in() {
    let _alone = support::alone().await;
    let w = world("faults").await;
    let instance = start_instance(
        &w.direct_ec2,
        &[
            ("spillway:policy", w.name.as_str()),
            ("spillway:pool", "ec2"),
        ],
    )
    .await;
    // The queue is empty and the worker idle: with good data this is a surplus to remove.
    w.proxy.fail(
        "GetQueueAttributes",
        Fault {
            status: 503,
            code: "ServiceUnavailable".into(),
        },
    );
    let running = svc::start(
        svc::policy(&policy_toml(&w.name, &w.queue, 4)),
        w.ec2.clone(),
        w.sqs.clone(),
        Arc::new(SystemClock::new()),
        Options::default(),
    )
    .await;
    let (stop, drains) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    idle_worker(
        running.host(),
        instance.clone(),
        stop.clone(),
        drains.clone(),
    );

    let s = running
        .wait_status(
            Duration::from_secs(60),
            "three ticks on failed SQS samples",
            |s| ticks(s) >= 3,
        )
        .await;
    assert!(last_actions(&s).iter().all(|(a, _)| a == "hold"), "{s:#}");
    assert!(
        last_actions(&s).iter().any(|(_, k)| k == "missing_queue"),
        "{s:#}"
    );
    assert!(
        s["last"]["observation_errors"][0]
            .as_str()
            .unwrap()
            .starts_with("sqs"),
        "{s:#}"
    );
    let m = running.metrics().await;
    assert!(
        svc::metric(&m, r#"spillway_observation_errors_total{source="sqs"}"#) >= 1.0,
        "{m}"
    );

    // SQS back, EC2 throttled: the fleet is unknown, so still no scale-in.
    w.proxy.heal();
    w.proxy.fail(
        "DescribeInstances",
        Fault {
            status: 503,
            code: "RequestLimitExceeded".into(),
        },
    );
    let before = ticks(&s);
    let s = running
        .wait_status(
            Duration::from_secs(60),
            "three ticks on a throttled EC2",
            |s| {
                ticks(s) >= before + 3
                    && s["last"]["observation_errors"][0]
                        .as_str()
                        .is_some_and(|e| e.starts_with("ec2"))
            },
        )
        .await;
    assert_eq!(s["last"]["workers"][0]["known"], false, "{s:#}");
    assert!(last_actions(&s).iter().all(|(a, _)| a == "hold"), "{s:#}");
    assert_eq!(
        drains.load(Ordering::SeqCst),
        0,
        "no drain on failed observations"
    );
    assert_eq!(w.proxy.count("TerminateInstances"), 0);
    assert_eq!(w.proxy.count("RunInstances"), 0);
    let m = running.metrics().await;
    assert!(
        svc::metric(&m, r#"spillway_observation_errors_total{source="ec2"}"#) >= 1.0,
        "{m}"
    );

    // Data back: the surplus is drained and terminated, so the holds above were the faults.
    w.proxy.heal();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while w.proxy.count("TerminateInstances") == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no scale-in after healing: {:#}",
            running.status().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        drains.load(Ordering::SeqCst) > 0,
        "drained before terminated"
    );
    stop.store(true, Ordering::SeqCst);
    running.stop().await.unwrap();
    let body = w.proxy.bodies("TerminateInstances").join("\n");
    assert!(body.contains(&instance), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_service_finds_its_instances_by_tag_and_launches_nothing_twice() {
    let _alone = support::alone().await;
    let w = world("restart").await;
    support::queues::send_jobs(&w.direct_sqs, &w.queue, 10).await;
    let policy = svc::policy(&policy_toml(&w.name, &w.queue, 3));
    let t0 = SystemClock::new().now();
    let clock = ManualClock::new(t0);
    let first = svc::start(
        policy.clone(),
        w.ec2.clone(),
        w.sqs.clone(),
        Arc::new(clock.clone()),
        Options::default(),
    )
    .await;
    first
        .wait_status(Duration::from_secs(30), "the first tick", |s| ticks(s) >= 1)
        .await;
    first.stop().await.unwrap();
    // moto starts MinCount (1) per call, so the launch repeats with tokens token, token-1, …
    let launches = w.proxy.count("RunInstances");
    assert!(launches >= 1, "{:?}", w.proxy.counts());
    let body = &w.proxy.bodies("RunInstances")[0];
    let token = client_token(&w.name, "ec2", t0, 3);
    let sent = |body: &str| {
        body.split('&')
            .find_map(|kv| kv.strip_prefix("ClientToken="))
            .map(str::to_string)
    };
    assert_eq!(
        sent(body),
        Some(token.clone()),
        "the decision's token is sent: {body}"
    );
    for (k, later) in w.proxy.bodies("RunInstances").iter().enumerate().skip(1) {
        assert_eq!(sent(later), Some(format!("{token}-{k}")), "{later}");
    }
    assert_eq!(
        token,
        client_token(&w.name, "ec2", t0, 3),
        "derived deterministically"
    );
    let listed = spillway::service::act::ec2::Ec2Fleet::new(w.direct_ec2.clone(), &w.name)
        .list()
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);

    // A new process, no memory, the backlog still there: it must see the 3 booting instances.
    clock.advance(Duration::from_secs(5));
    let second = svc::start(
        policy,
        w.ec2.clone(),
        w.sqs.clone(),
        Arc::new(clock.clone()),
        Options::default(),
    )
    .await;
    for n in 1..=3 {
        second
            .wait_status(Duration::from_secs(30), "a tick", |s| ticks(s) >= n)
            .await;
        clock.advance(Duration::from_secs(1));
    }
    let s = second.status().await;
    second.stop().await.unwrap();
    assert_eq!(
        w.proxy.count("RunInstances"),
        launches,
        "relaunched after restart: {s:#}"
    );
    assert_eq!(s["last"]["workers"][0]["booting"], 3, "{s:#}");
    let listed = spillway::service::act::ec2::Ec2Fleet::new(w.direct_ec2.clone(), &w.name)
        .list()
        .await
        .unwrap();
    assert_eq!(listed.len(), 3, "no orphan, no duplicate");
    assert!(clock.now() > t0);
}
