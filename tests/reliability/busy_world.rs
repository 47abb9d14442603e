//! The farm the busy-restart tests run: a moto queue of [`BUSY`] ten-minute renders, a policy
//! every instance outlives the `boot_timeout` of, `spillway run` replicas as child processes,
//! example workers on the launched instances, and the identities of the instances before and
//! after (live, and all ever launched).

// Deadlines against real servers and processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use crate::support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_ec2::types::InstanceStateName;
use support::fleet::Fleet;
use support::moto::{self, DEFAULT_ACCOUNT};
use support::service::{TOKEN, TestPolicy};
use support::workers;

/// Busy workers: one long render each.
pub(super) const BUSY: usize = 4;
/// The lease period of the failover test, in seconds.
pub(super) const LEASE_S: u64 = 3;

pub(super) struct World {
    pub(super) name: String,
    pub(super) queue: String,
    pub(super) dir: PathBuf,
    pub(super) policy: PathBuf,
    pub(super) ec2: aws_sdk_ec2::Client,
}

/// A queue with [`BUSY`] ten-minute renders and a policy whose `boot_timeout` (3 s) every
/// instance outlives: an instance not heard from would be judged overdue at once. With
/// `launch`, the policy has launch-only ticks every 250 ms between its 500 ms full ticks.
pub(super) async fn world(tag: &str, lease: bool, launch: bool) -> World {
    world_with(tag, lease, launch, "2s", 0).await
}

/// [`world`] with its `scale_in_after`, and `short` one-second renders queued after the long
/// ones (their workers go idle at once).
pub(super) async fn world_with(
    tag: &str,
    lease: bool,
    launch: bool,
    scale_in_after: &str,
    short: usize,
) -> World {
    let server = moto::server();
    let name = format!("{tag}-{}-{}", moto::fresh_account(), std::process::id());
    let sqs = server.sqs_client(DEFAULT_ACCOUNT);
    let queue = support::queues::create_queue(&sqs, &name).await;
    support::queues::send_renders(&sqs, &queue, "render", BUSY, 600).await;
    support::queues::send_renders(&sqs, &queue, "short", short, 1).await;
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = TestPolicy {
        name: &name,
        queue_url: &queue,
        max: 8,
        scale_in_after,
        boot_timeout: "3s",
        lost_after: "4s",
        learn_for: None,
        instance_types: r#"["c5.large"]"#,
    }
    .toml()
    .replace(
        "interval = \"1s\"",
        if launch {
            "interval = \"500ms\"\nlaunch_interval = \"250ms\""
        } else {
            "interval = \"500ms\""
        },
    );
    if lease {
        let ddb = server.dynamodb_client(DEFAULT_ACCOUNT);
        support::leases::create_table(&ddb, &name).await;
        text += &format!("[lease]\ntable = \"{name}\"\nduration = \"{LEASE_S}s\"\n");
    }
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, text).unwrap();
    World {
        ec2: server.ec2_client(DEFAULT_ACCOUNT),
        name,
        queue,
        dir,
        policy,
    }
}

/// Starts `spillway run` as replica `id` on `port`, with its own state file.
pub(super) fn replica(w: &World, id: &str, port: u16) -> Replica {
    replica_with(w, id, port, &[])
}

/// [`replica`] with more arguments (`--dry-run`, `--record FILE`).
pub(super) fn replica_with(w: &World, id: &str, port: u16, more: &[&str]) -> Replica {
    let state = w.dir.join(format!("{id}.state.json"));
    let bin = std::env::var("SPILLWAY_BIN").unwrap_or(env!("CARGO_BIN_EXE_spillway").into());
    Command::new(bin)
        .arg("run")
        .arg("--policy")
        .arg(&w.policy)
        .arg("--state-file")
        .arg(&state)
        .args(["--replica-id", id])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .args(more)
        .envs(moto::server().child_env())
        .env("SPILLWAY_TEST_TOKEN", TOKEN)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map(Replica)
        .expect("spawn spillway run")
}

/// A `spillway run` process, killed when dropped (a failed assertion included), so that no
/// replica outlives its test.
pub(super) struct Replica(Child);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) fn sigkill(replica: &mut Replica, what: &str) {
    let child = &mut replica.0;
    if let Some(status) = child.try_wait().unwrap() {
        panic!("{what} exited by itself before being killed: {status}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

pub(super) async fn wait_for(what: &str, within: Duration, mut ok: impl AsyncFnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !ok().await {
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Steps a [`Fleet`] of example workers (heartbeating to `front`) in the background until
/// `stop`; a terminated instance whose worker had not drained fails the task.
pub(super) fn run_fleet(
    w: &World,
    front: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Fleet> {
    let (ec2, name, queue) = (w.ec2.clone(), w.name.clone(), w.queue.clone());
    let done = w.dir.join("done.txt");
    tokio::spawn(async move {
        let mut fleet = Fleet::default();
        while !stop.load(Ordering::SeqCst) {
            fleet
                .step(&ec2, &name, |id| {
                    workers::spawn_worker(moto::server(), &front, &queue, "ec2", id, &done)
                })
                .await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        fleet
    })
}

/// The ids of the policy's instances: (live, all ever launched).
pub(super) async fn identities(w: &World) -> (BTreeSet<String>, BTreeSet<String>) {
    let listed = workers::instances(&w.ec2, &w.name).await;
    let live = listed
        .iter()
        .filter(|(_, s)| matches!(s, InstanceStateName::Running | InstanceStateName::Pending))
        .map(|(id, _)| id.clone())
        .collect();
    (live, listed.into_iter().map(|(id, _)| id).collect())
}

/// Waits until [`BUSY`] instances run and every render has been taken by a worker.
pub(super) async fn until_busy(w: &World) -> BTreeSet<String> {
    let sqs = moto::server().sqs_client(DEFAULT_ACCOUNT);
    wait_for(
        "every render to be taken",
        Duration::from_secs(60),
        async || {
            support::queues::visible_count(&sqs, &w.queue).await == 0
                && identities(w).await.0.len() == BUSY
        },
    )
    .await;
    // Past boot_timeout (3 s): an instance not heard from is overdue from now on.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (live, all) = identities(w).await;
    assert_eq!(live, all, "the farm came up with spare launches: {all:?}");
    live
}

/// After the restarts: the same instances live, none other was ever launched, and every
/// worker still runs its render (none was told to drain, none was killed under it).
pub(super) async fn assert_survived(
    w: &World,
    before: &BTreeSet<String>,
    fleet: Fleet,
    what: &str,
) {
    let (live, all) = identities(w).await;
    assert_eq!(
        &live, before,
        "{what}: the busy instances did not all survive"
    );
    assert_eq!(&all, before, "{what}: instances were launched: {all:?}");
    assert_eq!(fleet.started(), BUSY, "{what}: workers started");
    assert_eq!(
        fleet.exited(),
        0,
        "{what}: a busy worker exited (drained or terminated)"
    );
}
