//! Job classes live, against moto: a CPU pool and a GPU pool, a queue bound to each, and
//! `spillway worker --policy` agents on the instances that take the queues their pool serves.
//! Renders alone launch only CPU instances; GPU renders then launch GPU instances; every GPU
//! render runs on a GPU instance and every render on a CPU one.

// Deadlines against real servers and processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use super::record_replay::lines;
use super::worker_fleet::{all_drained, wait_until};
use crate::support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use spillway::clock::SystemClock;
use support::agents::{AgentFarm, AgentSpec, script};
use support::moto::{self, DEFAULT_ACCOUNT};
use support::service::{self as svc, Options, policy_head};

/// Notes each job's body and instance, after a second of work.
const RENDER: &str = r#"#!/bin/sh
body=$(cat "$SPILLWAY_JOB_FILE")
sleep 1
echo "$body $INSTANCE" >> "$DIR/runs"
"#;

fn policy_text(name: &str, renders: &str, gpu: &str) -> String {
    let head = policy_head(name, "max_launch_per_tick = 2\n", "3s");
    format!(
        r#"{head}[[pool]]
name = "cpu-ec2"
kind = "ec2"
min = 0
max = 2
cost_per_hour = 0.1
boot_time = "2s"
boot_timeout = "1m"
image_id = "ami-12c6146b"
instance_types = ["c5.large"]
market = "on-demand"
[[pool]]
name = "gpu-ec2"
kind = "ec2"
min = 0
max = 2
cost_per_hour = 0.9
boot_time = "2s"
boot_timeout = "1m"
image_id = "ami-12c6146b"
instance_types = ["g4dn.xlarge"]
market = "on-demand"
[[queue]]
name = "renders"
url = "{renders}"
class = "interactive"
pools = ["cpu-ec2"]
[[queue]]
name = "gpu"
url = "{gpu}"
class = "interactive"
pools = ["gpu-ec2"]
wait_slo = "60s"
[heartbeat]
token_env = "SPILLWAY_TEST_TOKEN"
every = "300ms"
lost_after = "5s"
learn_for = "1s"
"#
    )
}

async fn send(sqs: &aws_sdk_sqs::Client, queue: &str, bodies: &[String]) {
    for b in bodies {
        sqs.send_message()
            .queue_url(queue)
            .message_body(b)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_pool_scales_on_its_own_queue_and_its_workers_take_only_its_jobs() {
    let server = moto::server();
    let account = moto::fresh_account();
    // The agents are child processes: they act in moto's default account.
    let sqs = server.sqs_client(DEFAULT_ACCOUNT);
    let ec2 = server.ec2_client(&account);
    let name = format!("classes-{account}");
    let pid = std::process::id();
    let renders = support::queues::create_queue(&sqs, &format!("{name}-renders-{pid}")).await;
    let gpu = support::queues::create_queue(&sqs, &format!("{name}-gpu-{pid}")).await;
    let dir = std::env::temp_dir().join(format!("spillway-{name}-{pid}"));
    std::fs::create_dir_all(&dir).unwrap();
    let text = policy_text(&name, &renders, &gpu);
    let policy_file = dir.join("policy.toml");
    std::fs::write(&policy_file, &text).unwrap();
    let policy = svc::policy(&text);
    assert_eq!(policy.classes.len(), 2);

    let cpu_jobs: Vec<String> = (0..12).map(|n| format!("cpu-{n:02}")).collect();
    let gpu_jobs: Vec<String> = (0..6).map(|n| format!("gpu-{n:02}")).collect();
    send(&sqs, &renders, &cpu_jobs).await;
    let running = svc::start(
        policy,
        ec2.clone(),
        sqs.clone(),
        Arc::new(SystemClock::new()),
        Options::default(),
    )
    .await;
    let path = dir.join("render.sh");
    script(&path, RENDER);
    let farm = AgentFarm::start(
        server,
        ec2.clone(),
        &name,
        AgentSpec {
            service: running.host(),
            queue_url: String::new(),
            command: vec![path.display().to_string()],
            env: vec![("DIR".into(), dir.display().to_string())],
            dir: dir.clone(),
            policy_file: Some(policy_file.clone()),
        },
    );
    let pools = async || -> HashMap<String, String> {
        support::workers::instances_in_pools(&ec2, &name)
            .await
            .into_iter()
            .map(|(id, _, pool)| (id, pool))
            .collect()
    };
    let runs = || -> Vec<(String, String)> {
        lines(&dir.join("runs"))
            .iter()
            .map(|l| {
                let (body, instance) = l.split_once(' ').unwrap();
                (body.to_string(), instance.to_string())
            })
            .collect()
    };
    // Renders alone: CPU instances, and no GPU instance while they run.
    wait_until(
        "a render done",
        Duration::from_secs(60),
        &farm,
        async || !runs().is_empty(),
    )
    .await;
    let seen = pools().await;
    assert!(seen.values().any(|p| p == "cpu-ec2"), "{seen:?}");
    assert!(!seen.values().any(|p| p == "gpu-ec2"), "{seen:?}");
    // GPU renders arrive: GPU instances for them.
    send(&sqs, &gpu, &gpu_jobs).await;
    wait_until(
        "every job rendered",
        Duration::from_secs(120),
        &farm,
        async || {
            let done: HashSet<String> = runs().into_iter().map(|(b, _)| b).collect();
            done.len() == cpu_jobs.len() + gpu_jobs.len()
        },
    )
    .await;
    let pool_of = pools().await;
    let mut on: HashMap<&str, HashSet<String>> = HashMap::new();
    for (body, instance) in runs() {
        let pool = pool_of[&instance].clone();
        let class = if body.starts_with("gpu-") {
            "gpu"
        } else {
            "cpu"
        };
        let want = if class == "gpu" { "gpu-ec2" } else { "cpu-ec2" };
        assert_eq!(pool, want, "{body} ran on {instance} of {pool}");
        on.entry(class).or_default().insert(instance);
    }
    assert!(!on["gpu"].is_empty() && !on["cpu"].is_empty(), "{on:?}");
    // The queues empty, both pools drain: every agent exits 0 by itself.
    all_drained(&farm, None).await;
    running.stop().await.expect("clean stop");
    drop(farm);
    let _ = std::fs::remove_dir_all(&dir);
}
