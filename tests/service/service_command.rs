//! Command pools against the live service (moto serving SQS and the EC2 listing): real shell
//! scripts as `start_command` and `stop_command`, written by the test, each appending its
//! arguments and environment to a log. The start program runs with the decided count; the stop
//! program only ever names idle workers that drained, never a busy one; a start whose VM never
//! heartbeats is a failed launch and is retried; `--dry-run` runs neither program.

use crate::support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use spillway::clock::SystemClock;
use spillway::heartbeat::client;
use spillway::heartbeat::protocol::{Command, Heartbeat, ReportedState};
use support::command_pool::{policy, runs, scripts, wait_runs};
use support::moto;
use support::service::{self as svc, Options, Running, TOKEN};
use tokio::task::JoinHandle;

/// A VM's heartbeat agent: reports every 200 ms; told to drain, it reports `drained` (idle)
/// once and goes silent, like a worker that exits. Returns every reply it got.
fn agent(
    host: String,
    id: &'static str,
    busy: bool,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Vec<Command>> {
    tokio::spawn(async move {
        let mut replies = Vec::new();
        let mut hb = Heartbeat {
            worker_id: id.into(),
            pool: "vms".into(),
            instance_id: None,
            state: if busy {
                ReportedState::Busy
            } else {
                ReportedState::Idle
            },
            job_id: busy.then(|| "job-long".to_string()),
            jobs_done: 0,
            drained: false,
            finished: Vec::new(),
            interrupted: None,
            taken: Vec::new(),
        };
        while !stop.load(Ordering::Relaxed) {
            let reply = client::send(&host, TOKEN, &hb).await.expect("heartbeat");
            replies.push(reply.command);
            if hb.drained {
                break;
            }
            if reply.command == Command::Drain && hb.state == ReportedState::Idle {
                hb.drained = true;
                continue;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        replies
    })
}

struct World {
    sqs: aws_sdk_sqs::Client,
    ec2: aws_sdk_ec2::Client,
    queue: String,
    name: String,
}

async fn world(tag: &str) -> World {
    let server = moto::server();
    let account = moto::fresh_account();
    let sqs = server.sqs_client(&account);
    let queue = support::queues::create_queue(&sqs, "jobs").await;
    support::queues::send_renders(&sqs, &queue, "job", 2, 60).await;
    World {
        ec2: server.ec2_client(&account),
        sqs,
        queue,
        name: format!("{tag}-{account}"),
    }
}

async fn start(w: &World, dir: &Path, boot_timeout: &str, dry_run: bool) -> Running {
    let options = Options {
        dry_run,
        ..Options::default()
    };
    start_with(w, dir, boot_timeout, options).await
}

async fn start_with(w: &World, dir: &Path, boot_timeout: &str, options: Options) -> Running {
    svc::start(
        svc::policy(&policy(&w.name, &w.queue, dir, boot_timeout)),
        w.ec2.clone(),
        w.sqs.clone(),
        Arc::new(SystemClock::new()),
        options,
    )
    .await
}

fn ticks(s: &serde_json::Value) -> u64 {
    s["ticks"].as_u64().unwrap_or(0)
}

/// The pool's (booting, idle, busy, draining) in the last tick.
fn counts(s: &serde_json::Value) -> (u64, u64, u64, u64) {
    let c = &s["last"]["workers"][0];
    let n = |k: &str| c[k].as_u64().unwrap_or(0);
    (n("booting"), n("idle"), n("busy"), n("draining"))
}

fn decided(s: &serde_json::Value, action: &str) -> bool {
    s["last"]["decision"]["actions"]
        .as_array()
        .is_some_and(|a| {
            a.iter()
                .any(|x| x["action"] == action && x["pool"] == "vms")
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vms_start_with_the_decided_count_and_only_idle_drained_ones_are_stopped() {
    let w = world("cmd").await;
    let dir = scripts("live", 0);
    let running = start(&w, &dir, "1h", false).await;
    let stop = Arc::new(AtomicBool::new(false));
    // An always-on VM, busy with a long job throughout: it must never be drained or stopped.
    let always_on = agent(running.host(), "always-on", true, stop.clone());

    let r = wait_runs(&dir, "a start", |r| !r.is_empty()).await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0][0], "start");
    assert_eq!(r[0][1], "2", "two jobs waiting: the count is appended");
    assert_eq!((r[0][2].as_str(), r[0][3].as_str()), ("vms", "2"));
    assert!(
        r[0][4].starts_with("spillway-"),
        "the decision's token: {r:?}"
    );

    // The two VMs come up idle; the jobs go (someone else took them).
    let vm_a = agent(running.host(), "vm-a", false, stop.clone());
    let vm_b = agent(running.host(), "vm-b", false, stop.clone());
    running
        .wait_status(Duration::from_secs(30), "both VMs up", |s| {
            counts(s) == (0, 2, 1, 0)
        })
        .await;
    assert_eq!(runs(&dir).len(), 1, "no second start while they boot");
    support::queues::receive_all(&w.sqs, &w.queue).await;

    let r = wait_runs(&dir, "both idle VMs stopped", |r| {
        let named = |id: &str| {
            r.iter()
                .any(|l| l[0] == "stop" && l[1].split(' ').any(|x| x == id))
        };
        named("vm-a") && named("vm-b")
    })
    .await;
    for l in r.iter().filter(|l| l[0] == "stop") {
        assert_eq!(l[2], "vms");
        assert_eq!(
            l[1], l[3],
            "ids appended and in SPILLWAY_WORKERS alike: {l:?}"
        );
        for id in l[1].split(' ') {
            assert!(id == "vm-a" || id == "vm-b", "stopped {id}: {r:?}");
        }
    }
    let replies_a = vm_a.await.unwrap();
    let replies_b = vm_b.await.unwrap();
    for replies in [&replies_a, &replies_b] {
        assert_eq!(
            replies.last(),
            Some(&Command::Drain),
            "drained before the stop"
        );
    }
    // A few more ticks: nothing else is stopped or started.
    let at = ticks(&running.status().await);
    let s = running
        .wait_status(Duration::from_secs(30), "three more ticks", |s| {
            ticks(s) >= at + 3
        })
        .await;
    assert_eq!(
        counts(&s),
        (0, 0, 1, 0),
        "only the busy always-on VM is left"
    );
    stop.store(true, Ordering::Relaxed);
    let replies = always_on.await.unwrap();
    assert!(
        replies.iter().all(|c| *c == Command::Run),
        "the busy VM was never drained"
    );
    let r = runs(&dir);
    assert_eq!(r.iter().filter(|l| l[0] == "start").count(), 1, "{r:?}");
    let metrics = running.metrics().await;
    running.stop().await.unwrap();
    let m = |labels: &str| svc::metric(&metrics, labels);
    assert_eq!(
        m(r#"spillway_command_runs_total{command="start",outcome="ok",pool="vms"}"#),
        1.0,
        "{metrics}"
    );
    assert!(m(r#"spillway_command_runs_total{command="stop",outcome="ok",pool="vms"}"#) >= 1.0);
    assert_eq!(
        m("spillway_boot_seconds_count"),
        2.0,
        "both starts completed"
    );
    assert_eq!(m(r#"spillway_launch_failures_total{pool="vms"}"#), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_decides_to_start_and_stop_vms_but_runs_neither_program() {
    let w = world("cmd-dry").await;
    let dir = scripts("dry", 0);
    let running = start(&w, &dir, "1h", true).await;
    let stop = Arc::new(AtomicBool::new(false));
    let always_on = agent(running.host(), "always-on", true, stop.clone());
    running
        .wait_status(Duration::from_secs(30), "a decision to start VMs", |s| {
            decided(s, "launch")
        })
        .await;
    let vm_a = agent(running.host(), "vm-a", false, stop.clone());
    let vm_b = agent(running.host(), "vm-b", false, stop.clone());
    support::queues::receive_all(&w.sqs, &w.queue).await;
    let s = running
        .wait_status(Duration::from_secs(30), "a decision to stop VMs", |s| {
            decided(s, "terminate")
        })
        .await;
    let at = ticks(&s);
    running
        .wait_status(Duration::from_secs(30), "two more ticks", |s| {
            ticks(s) >= at + 2
        })
        .await;
    stop.store(true, Ordering::Relaxed);
    for agent in [always_on, vm_a, vm_b] {
        let replies = agent.await.unwrap();
        assert!(
            replies.iter().all(|c| *c == Command::Run),
            "a dry run asks no worker to drain"
        );
    }
    let metrics = running.metrics().await;
    running.stop().await.unwrap();
    assert_eq!(runs(&dir), Vec::<Vec<String>>::new(), "no program ran");
    assert!(
        !metrics.contains("spillway_command_runs_total{"),
        "{metrics}"
    );
    let m = |labels: &str| svc::metric(&metrics, labels);
    assert!(
        m(r#"spillway_scaling_actions_total{action="launch",pool="vms",reason="backlog"}"#) >= 1.0
    );
    assert!(
        m(r#"spillway_scaling_actions_total{action="terminate",pool="vms",reason="surplus"}"#)
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_never_heartbeats_is_a_failed_launch_and_is_retried() {
    let w = world("cmd-boot").await;
    let dir = scripts("boot", 0);
    let running = start(&w, &dir, "2s", false).await;
    let r = wait_runs(&dir, "a second start", |r| r.len() >= 2).await;
    assert!(r.iter().all(|l| l[0] == "start" && l[1] == "2"), "{r:?}");
    assert_ne!(r[0][4], r[1][4], "a new decision, a new token");
    let metrics = running.metrics().await;
    running.stop().await.unwrap();
    assert!(
        svc::metric(&metrics, r#"spillway_launch_failures_total{pool="vms"}"#) >= 2.0,
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_start_program_is_counted_and_retried_next_tick() {
    let w = world("cmd-fail").await;
    let dir = scripts("fail", 3);
    let running = start(&w, &dir, "1h", false).await;
    wait_runs(&dir, "two failed starts", |r| r.len() >= 2).await;
    let s = running.status().await;
    assert_eq!(counts(&s).0, 0, "a failed start leaves nothing booting");
    let metrics = running.metrics().await;
    running.stop().await.unwrap();
    let m = |labels: &str| svc::metric(&metrics, labels);
    assert!(
        m(r#"spillway_command_runs_total{command="start",outcome="failed",pool="vms"}"#) >= 2.0,
        "{metrics}"
    );
    assert!(m(r#"spillway_launch_failures_total{pool="vms"}"#) >= 4.0);
    assert!(m(r#"spillway_action_errors_total{action="launch"}"#) >= 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_the_saved_state_counts_pending_starts_and_starts_no_vm_twice() {
    let w = world("cmd-state").await;
    let dir = scripts("state", 0);
    let state = Options {
        state_file: Some(dir.join("state.json")),
        ..Options::default()
    };
    let first = start_with(&w, &dir, "1h", state.clone()).await;
    wait_runs(&dir, "a start", |r| !r.is_empty()).await;
    first.stop().await.expect("clean stop");

    // Restarted on the saved state: the two VMs asked for have not reported yet, and still
    // count as booting, so nothing is started twice.
    let second = start_with(&w, &dir, "1h", state).await;
    let s = second
        .wait_status(Duration::from_secs(20), "three ticks", |s| ticks(s) >= 3)
        .await;
    assert_eq!(
        counts(&s).0,
        2,
        "two starts pending after the restart: {s:#}"
    );
    assert_eq!(runs(&dir).len(), 1, "{:?}", runs(&dir));
    second.stop().await.expect("clean stop");

    // The positive control: without the state the restart forgets them and starts again.
    let third = start(&w, &dir, "1h", false).await;
    let r = wait_runs(&dir, "a second start", |r| r.len() >= 2).await;
    assert_eq!(r[1][0], "start", "{r:?}");
    third.stop().await.expect("clean stop");
}
