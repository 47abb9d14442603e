//! `spillway run` with `spillway worker` agents on the instances it launches, against moto:
//! three agents drain 200 jobs with a real command, each job rendered once (bar the queue's own
//! at-least-once duplicates, told apart by message id and instance), a failing
//! one retried, the measured waits exported, and every agent drained to exit 0 when the queue
//! is empty; a spot notice hands the running job back within 2 s, the service drains and
//! replaces the worker, and another worker finishes the job.

// Deadlines against real servers and processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use super::record_replay::lines;
use crate::support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use spillway::clock::SystemClock;
use support::agents::{AgentFarm, AgentSpec, script};
use support::moto::{self, DEFAULT_ACCOUNT};
use support::service::{self as svc, Options, TestPolicy};

/// Writes one file per job (named by its body) and appends every run to `runs` (body, message
/// id, instance). `fail-once` fails the first time.
const RENDER: &str = r#"#!/bin/sh
body=$(cat "$SPILLWAY_JOB_FILE")
if [ "$body" = "fail-once" ] && [ ! -e "$DIR/failed" ]; then
    touch "$DIR/failed"; exit 3
fi
echo "$body $SPILLWAY_JOB_ID $INSTANCE" >> "$DIR/runs"
echo "$INSTANCE" > "$DIR/jobs/$body"
"#;

/// Notes which instance started the job, then renders for 5 s.
const LONG: &str = r#"#!/bin/sh
echo "$INSTANCE" >> "$DIR/started"
sleep 5
echo "$INSTANCE" >> "$DIR/done"
"#;

/// Waits until `ok`, failing with the agents' logs after `within`.
pub async fn wait_until(
    what: &str,
    within: Duration,
    farm: &AgentFarm,
    ok: impl AsyncFn() -> bool,
) {
    let start = Instant::now();
    while !ok().await {
        assert!(
            start.elapsed() < within,
            "timed out waiting for {what}\n{}",
            farm.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every agent of `farm` (exactly `count` of them, when given) has exited by
/// itself, each with status 0 after the service asked it to drain; none was killed.
pub async fn all_drained(farm: &AgentFarm, count: Option<usize>) {
    wait_until(
        "every agent drained",
        Duration::from_secs(60),
        farm,
        async || {
            let map = farm.agents.lock().unwrap();
            count.is_none_or(|n| map.len() == n)
                && !map.is_empty()
                && map.values().all(|a| a.exited.is_some())
        },
    )
    .await;
    for (id, a) in farm.agents.lock().unwrap().iter() {
        assert!(!a.killed, "{id} was killed before it drained");
        assert!(a.exited.unwrap().success(), "{id}: {:?}", a.exited);
        let log = std::fs::read_to_string(&a.log).unwrap();
        assert!(log.contains("asked this worker to drain"), "{id}: {log}");
    }
}

struct Setup {
    name: String,
    dir: std::path::PathBuf,
    queue: String,
    sqs: aws_sdk_sqs::Client,
    ec2: aws_sdk_ec2::Client,
}

async fn setup(tag: &str) -> Setup {
    let server = moto::server();
    let account = moto::fresh_account();
    // The agents are child processes: they act in moto's default account.
    let sqs = server.sqs_client(DEFAULT_ACCOUNT);
    let name = format!("{tag}-{account}");
    let queue =
        support::queues::create_queue(&sqs, &format!("{name}-{}", std::process::id())).await;
    let dir = std::env::temp_dir().join(format!("spillway-{name}-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("jobs")).unwrap();
    Setup {
        name,
        dir,
        queue,
        sqs,
        ec2: server.ec2_client(&account),
    }
}

/// Agents on the instances of `s`'s policy, running the shell script `text` (written as
/// `name`) on each job, with `DIR` set to the test's directory.
fn agents(s: &Setup, service: &str, name: &str, text: &str) -> AgentFarm {
    let path = s.dir.join(name);
    script(&path, text);
    let spec = AgentSpec {
        service: service.to_string(),
        queue_url: s.queue.clone(),
        command: vec![path.display().to_string()],
        env: vec![("DIR".into(), s.dir.display().to_string())],
        dir: s.dir.clone(),
        policy_file: None,
    };
    AgentFarm::start(moto::server(), s.ec2.clone(), &s.name, spec)
}

/// The test's policy file, as written.
fn policy_toml(s: &Setup, max: u32) -> String {
    TestPolicy {
        name: &s.name,
        queue_url: &s.queue,
        max,
        scale_in_after: "2s",
        boot_timeout: "1m",
        lost_after: "5s",
        learn_for: Some("1s"),
        instance_types: r#"["c5.large"]"#,
    }
    .toml()
}

fn policy(s: &Setup, max: u32) -> spillway::policy::Policy {
    svc::policy(&policy_toml(s, max))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_agents_render_two_hundred_jobs_once_each_then_drain_and_exit_0() {
    let s = setup("fleet200").await;
    let bodies: Vec<String> = (0..199)
        .map(|n| format!("job-{n:03}"))
        .chain(["fail-once".to_string()])
        .collect();
    for chunk in bodies.chunks(10) {
        let mut batch = s.sqs.send_message_batch().queue_url(&s.queue);
        for (i, b) in chunk.iter().enumerate() {
            batch = batch.entries(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(b)
                    .build()
                    .unwrap(),
            );
        }
        batch.send().await.unwrap();
    }
    let record = s.dir.join("record.jsonl");
    let running = svc::start(
        policy(&s, 3),
        s.ec2.clone(),
        s.sqs.clone(),
        Arc::new(SystemClock::new()),
        Options {
            record: Some(record.clone()),
            ..Options::default()
        },
    )
    .await;
    let farm = agents(&s, &running.host(), "render.sh", RENDER);
    // The oldest job's age, as the service exports it while jobs are taken.
    let oldest_seen = Arc::new(std::sync::Mutex::new(0.0_f64));
    let sampler = {
        let (oldest_seen, host) = (oldest_seen.clone(), running.host());
        tokio::spawn(async move {
            loop {
                let m = svc::metrics_at(&host, Duration::from_secs(2)).await;
                let age = svc::metric(&m, r#"spillway_oldest_job_age_seconds{queue="jobs"}"#);
                {
                    let mut seen = oldest_seen.lock().unwrap();
                    *seen = seen.max(age);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let jobs = s.dir.join("jobs");
    let rendered = || std::fs::read_dir(&jobs).map_or(0, |d| d.count());
    wait_until(
        "200 jobs rendered",
        Duration::from_secs(120),
        &farm,
        async || rendered() >= 200,
    )
    .await;
    assert_eq!(rendered(), 200);
    // SQS delivers at least once: the same message may reach two agents at the same moment (a
    // standard queue's duplicate, and moto's receive race under load, getmoto/moto#519). That
    // is the only second run allowed: the same message id on another instance. A job run again
    // by spillway's doing (an agent killed, a job handed back) would come after its visibility
    // (600 s here) or on a failure, and a second run on the same agent would be the agent's own
    // bug: both are refused.
    let mut runs: std::collections::HashMap<String, Vec<(String, String)>> = Default::default();
    for line in lines(&s.dir.join("runs")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        runs.entry(f[0].to_string())
            .or_default()
            .push((f[1].to_string(), f[2].to_string()));
    }
    assert_eq!(runs.len(), 200);
    let mut twice = 0;
    for (body, r) in &runs {
        let ids: std::collections::HashSet<&String> = r.iter().map(|(id, _)| id).collect();
        let on: std::collections::HashSet<&String> = r.iter().map(|(_, i)| i).collect();
        assert_eq!(
            ids.len(),
            1,
            "{body}: a job ran twice from two messages: {r:?}"
        );
        assert_eq!(
            on.len(),
            r.len(),
            "{body}: an agent ran one message twice: {r:?}"
        );
        twice += r.len() - 1;
    }
    if twice > 0 {
        eprintln!("messages the queue delivered to two agents at once: {twice}");
    }
    assert!(
        s.dir.join("failed").exists(),
        "fail-once failed, then ran again"
    );
    // Three agents shared the work.
    let instances: std::collections::HashSet<String> = std::fs::read_dir(&jobs)
        .unwrap()
        .map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    assert_eq!(instances.len(), 3, "{instances:?}");
    sampler.abort();
    // The first jobs waited for instances to launch and agents to start: seconds.
    let oldest = *oldest_seen.lock().unwrap();
    assert!(
        (0.5..120.0).contains(&oldest),
        "oldest job age seen: {oldest}"
    );
    // The queue empty, the fleet drains: every agent exits 0 by itself, then its instance
    // is terminated.
    all_drained(&farm, Some(3)).await;
    assert_eq!(support::queues::visible_count(&s.sqs, &s.queue).await, 0);
    let m = running.metrics().await;
    assert_eq!(
        svc::metric(&m, r#"spillway_job_wait_seconds_count{queue="jobs"}"#),
        (201 + twice) as f64,
        "200 jobs and one failure reported, and {twice} delivered twice: {m}"
    );
    assert_eq!(
        svc::metric(
            &m,
            r#"spillway_jobs_finished_total{outcome="ok",pool="ec2"}"#
        ),
        (200 + twice) as f64
    );
    assert!(svc::metric(&m, r#"spillway_job_run_seconds_sum{pool="ec2"}"#) > 0.0);
    running.stop().await.expect("clean stop");
    // The record carries every finished job, for replay: queue, pool, sent time, exit status.
    let mut recorded = Vec::new();
    for line in lines(&record) {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["format"], 2, "{line}");
        assert_eq!(v["policy"], s.name.as_str(), "{line}");
        recorded.extend(v["jobs"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(recorded.len(), 201 + twice);
    let exits = |code: i64| recorded.iter().filter(|j| j["exit"] == code).count();
    assert_eq!((exits(0), exits(3)), (200 + twice, 1));
    assert!(recorded.iter().all(|j| j["queue"] == "jobs"
        && j["pool"] == "ec2"
        && j["sent_at"].as_i64().is_some_and(|t| t > 1_700_000_000_000)));
    // The record replays, and tunes a policy that holds the SLO on it.
    super::record_replay::replays_and_tunes(&record, &s.dir, &policy_toml(&s, 3), 201 + twice);
    drop(farm);
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_notice_hands_the_job_back_at_once_and_the_worker_is_replaced() {
    let s = setup("spot").await;
    s.sqs
        .send_message()
        .queue_url(&s.queue)
        .message_body("long")
        .send()
        .await
        .unwrap();
    let running = svc::start(
        policy(&s, 2),
        s.ec2.clone(),
        s.sqs.clone(),
        Arc::new(SystemClock::new()),
        Options::default(),
    )
    .await;
    let farm = agents(&s, &running.host(), "long.sh", LONG);
    let started = s.dir.join("started");
    wait_until(
        "the job to start",
        Duration::from_secs(30),
        &farm,
        async || !lines(&started).is_empty(),
    )
    .await;
    let first = lines(&started)[0].clone();
    farm.agents.lock().unwrap()[&first].metadata.interrupt();
    let noticed = Instant::now();
    // Handed back: visible in the queue again, or already taken by another worker.
    wait_until(
        "the job handed back",
        Duration::from_secs(2),
        &farm,
        async || {
            lines(&started).len() >= 2
                || support::queues::visible_count(&s.sqs, &s.queue).await >= 1
        },
    )
    .await;
    let handed_back = noticed.elapsed();
    wait_until(
        "another worker to finish it",
        Duration::from_secs(60),
        &farm,
        async || !lines(&s.dir.join("done")).is_empty(),
    )
    .await;
    let done = lines(&s.dir.join("done"));
    assert_eq!(done.len(), 1, "{done:?}");
    assert_ne!(done[0], first, "finished by the replacement");
    assert!(
        lines(&started).iter().filter(|i| **i == first).count() == 1,
        "the interrupted worker took nothing more"
    );
    // The interrupted worker reported, drained and exited 0; its instance was terminated.
    wait_until(
        "the interrupted worker to exit",
        Duration::from_secs(20),
        &farm,
        async || farm.agents.lock().unwrap()[&first].exited.is_some(),
    )
    .await;
    assert!(
        farm.agents.lock().unwrap()[&first]
            .exited
            .unwrap()
            .success()
    );
    let terminated = async || {
        support::workers::instances(&s.ec2, &s.name)
            .await
            .iter()
            .any(|(id, st)| *id == first && *st != aws_sdk_ec2::types::InstanceStateName::Running)
    };
    wait_until(
        "its instance terminated",
        Duration::from_secs(20),
        &farm,
        terminated,
    )
    .await;
    let m = running.metrics().await;
    assert_eq!(
        svc::metric(
            &m,
            r#"spillway_worker_interruptions_total{kind="spot",pool="ec2"}"#
        ),
        1.0,
        "{m}"
    );
    eprintln!("spot notice to job handed back: {handed_back:?}");
    running.stop().await.expect("clean stop");
    drop(farm);
    let _ = std::fs::remove_dir_all(&s.dir);
}
