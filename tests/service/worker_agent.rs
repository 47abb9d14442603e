//! `spillway worker` against moto and the live service: it runs the operator's command on each
//! job once (argv, the body in `{job_file}`, `SPILLWAY_JOB_ID` set), deletes a job whose
//! command exits 0, returns one that fails at once (so it runs again), heartbeats to the
//! service with each finished job's measured queue wait and run time (exported per queue and
//! pool), and on SIGTERM stops taking jobs, returns a job still running after its grace period
//! to the queue and exits 0.

// Deadlines against real servers and processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spillway::clock::SystemClock;
use support::moto::{self, DEFAULT_ACCOUNT};
use support::service::{self as svc, Options, TOKEN, TestPolicy};

/// The "renderer": records each job's id and body; fails `fail-once` the first time; sleeps
/// on `long`.
const RENDER: &str = r#"#!/bin/sh
body=$(cat "$1")
if [ "$body" = "fail-once" ] && [ ! -e "$DIR/failed" ]; then
    touch "$DIR/failed"; echo "cannot render" >&2; exit 3
fi
if [ "$body" = "long" ]; then touch "$DIR/long-started"; sleep 30; fi
echo "$SPILLWAY_JOB_ID $body" >> "$DIR/done"
echo "rendered $body"
"#;

/// The agent's process, killed when dropped (a failed assertion included); its log is kept
/// in a file and printed then.
struct Agent {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- spillway worker's log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

async fn wait_until(what: &str, within: Duration, ok: impl Fn() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_runs_each_job_once_returns_failures_and_stops_on_sigterm() {
    let server = moto::server();
    let account = moto::fresh_account();
    // The agent is a child process: it acts in moto's default account, so the queue is there.
    let sqs = server.sqs_client(DEFAULT_ACCOUNT);
    let queue_name = format!("renders-{account}-{}", std::process::id());
    let queue = support::queues::create_queue(&sqs, &queue_name).await;
    for body in ["a", "b", "fail-once"] {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let name = format!("agent-{account}");
    let policy = TestPolicy {
        name: &name,
        queue_url: &queue,
        max: 1,
        scale_in_after: "1h",
        boot_timeout: "1h",
        lost_after: "1h",
        learn_for: None,
        instance_types: r#"["c5.large"]"#,
    };
    let running = svc::start(
        svc::policy(&policy.toml()),
        server.ec2_client(&account),
        sqs.clone(),
        Arc::new(SystemClock::new()),
        Options::default(),
    )
    .await;
    let dir = std::env::temp_dir().join(format!("spillway-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let render = dir.join("render.sh");
    std::fs::write(&render, RENDER).unwrap();
    std::fs::set_permissions(&render, std::fs::Permissions::from_mode(0o755)).unwrap();

    let log = dir.join("worker.log");
    let child = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .arg("worker")
        .args(["--service", &format!("http://{}", running.host())])
        .args(["--pool", "ec2", "--queue-url", &queue])
        .args(["--instance-id", "i-agent", "--heartbeat-every", "300ms"])
        .args(["--visibility", "4", "--wait", "1", "--grace", "1s"])
        .arg("--work-dir")
        .arg(&dir)
        .arg("--")
        .arg(&render)
        .arg("{job_file}")
        .envs(server.child_env())
        .env("SPILLWAY_WORKER_TOKEN", TOKEN)
        .env("DIR", &dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn spillway worker");
    let mut worker = Agent { child, log };

    let done = dir.join("done");
    let lines = || {
        std::fs::read_to_string(&done)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    wait_until("three jobs rendered", Duration::from_secs(40), || {
        lines().len() >= 3
    })
    .await;
    let mut bodies: Vec<String> = lines()
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap_or_default().to_string())
        .collect();
    bodies.sort();
    assert_eq!(
        bodies,
        ["a", "b", "fail-once"],
        "each job once: {:?}",
        lines()
    );
    assert!(
        dir.join("failed").exists(),
        "the failing job failed once and ran again"
    );
    assert!(
        lines()
            .iter()
            .all(|l| l.split(' ').next().is_some_and(|id| id.len() >= 8)),
        "SPILLWAY_JOB_ID is the message id: {:?}",
        lines()
    );
    assert_eq!(
        support::queues::visible_count(&sqs, &queue).await,
        0,
        "every rendered job was deleted"
    );
    // The heartbeats carried each finished job's measured wait and run time: four reports
    // (a, b, fail-once failed, fail-once done), labelled with the policy's queue name.
    let start = Instant::now();
    let metrics = loop {
        let m = running.metrics().await;
        if svc::metric(&m, r#"spillway_job_wait_seconds_count{queue="jobs"}"#) >= 4.0 {
            break m;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no job reports: {m}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(svc::metric(&metrics, "spillway_heartbeats_total") >= 1.0);
    assert_eq!(
        svc::metric(
            &metrics,
            r#"spillway_jobs_finished_total{outcome="failed",pool="ec2"}"#
        ),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        svc::metric(
            &metrics,
            r#"spillway_jobs_finished_total{outcome="ok",pool="ec2"}"#
        ),
        3.0,
        "{metrics}"
    );

    // A long job, then SIGTERM: after the 1 s grace it is stopped and returned to the queue.
    sqs.send_message()
        .queue_url(&queue)
        .message_body("long")
        .send()
        .await
        .unwrap();
    wait_until("the long job to start", Duration::from_secs(20), || {
        dir.join("long-started").exists()
    })
    .await;
    let stopped_at = Instant::now();
    let pid = worker.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = loop {
        if let Some(s) = worker.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(15),
            "the worker did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status:?}");
    assert!(
        !lines().iter().any(|l| l.ends_with(" long")),
        "the long job was not finished"
    );
    // Returned at once, not after its visibility timeout.
    let back = support::queues::receive_all(&sqs, &queue).await;
    assert_eq!(
        back.iter().filter_map(|m| m.body()).collect::<Vec<_>>(),
        ["long"],
        "the stopped job is back in the queue"
    );
    running.stop().await.expect("clean stop");
    drop(worker);
    let _ = std::fs::remove_dir_all(&dir);
}
