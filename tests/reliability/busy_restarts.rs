//! Restarts, failovers and a dry run while every worker is busy on a long render, end to end
//! against moto with the real `spillway run` binary and example workers: the same busy
//! instances survive (identities, not counts), nothing is launched twice, and no worker is told
//! to drain.
//!
//! Reproduction (issue "the service knows before it acts"): workers busy and heartbeating,
//! instances older than `boot_timeout`; the service SIGKILLed and started again. Its first tick,
//! before any heartbeat could arrive, saw every listed instance as booting, judged them
//! overdue, terminated all of them and launched new ones. The same held for a replica taking
//! over the lease, which had heard no heartbeat of the old leader's workers.
//!
//! `SPILLWAY_RESTART_SEED` makes the restart timings reproducible (the seed is printed);
//! `SPILLWAY_BIN` runs another build of `spillway` (say, an older release, to see these tests
//! fail on it).

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
use support::front::Front;
use support::moto::{self, DEFAULT_ACCOUNT};
use support::service::{TOKEN, TestPolicy, free_port, status_at as status};
use support::workers;

/// Busy workers: one long render each.
const BUSY: usize = 4;
/// The lease period of the failover test, in seconds.
const LEASE_S: u64 = 3;

struct World {
    name: String,
    queue: String,
    dir: PathBuf,
    policy: PathBuf,
    ec2: aws_sdk_ec2::Client,
}

/// A queue with [`BUSY`] ten-minute renders and a policy whose `boot_timeout` (3 s) every
/// instance outlives: an instance not heard from would be judged overdue at once. With
/// `launch`, the policy has launch-only ticks every 250 ms between its 500 ms full ticks.
async fn world(tag: &str, lease: bool, launch: bool) -> World {
    let server = moto::server();
    let name = format!("{tag}-{}-{}", moto::fresh_account(), std::process::id());
    let sqs = server.sqs_client(DEFAULT_ACCOUNT);
    let queue = support::queues::create_queue(&sqs, &name).await;
    for i in 0..BUSY {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(format!(r#"{{"id":"render-{i}","duration_s":600}}"#))
            .send()
            .await
            .unwrap();
    }
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = TestPolicy {
        name: &name,
        queue_url: &queue,
        max: 8,
        scale_in_after: "2s",
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
fn replica(w: &World, id: &str, port: u16) -> Replica {
    replica_with(w, id, port, &[])
}

/// [`replica`] with more arguments (`--dry-run`, `--record FILE`).
fn replica_with(w: &World, id: &str, port: u16, more: &[&str]) -> Replica {
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
struct Replica(Child);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sigkill(replica: &mut Replica, what: &str) {
    let child = &mut replica.0;
    if let Some(status) = child.try_wait().unwrap() {
        panic!("{what} exited by itself before being killed: {status}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn wait_for(what: &str, within: Duration, mut ok: impl AsyncFnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !ok().await {
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Steps a [`Fleet`] of example workers (heartbeating to `front`) in the background until
/// `stop`; a terminated instance whose worker had not drained fails the task.
fn run_fleet(w: &World, front: String, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Fleet> {
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
async fn identities(w: &World) -> (BTreeSet<String>, BTreeSet<String>) {
    let listed = workers::instances(&w.ec2, &w.name).await;
    let live = listed
        .iter()
        .filter(|(_, s)| matches!(s, InstanceStateName::Running | InstanceStateName::Pending))
        .map(|(id, _)| id.clone())
        .collect();
    (live, listed.into_iter().map(|(id, _)| id).collect())
}

/// Waits until [`BUSY`] instances run and every render has been taken by a worker.
async fn until_busy(w: &World) -> BTreeSet<String> {
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
async fn assert_survived(w: &World, before: &BTreeSet<String>, fleet: Fleet, what: &str) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sigkill_restarts_terminate_no_busy_worker_and_launch_nothing() {
    sigkill_restarts("restarts", false).await;
}

/// The same with launch-only ticks between the full ones: a restarted service's first tick is
/// a full one (the resumed memory has no last full tick), and no launch-only tick judges a
/// worker it has not heard from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sigkill_restarts_with_launch_only_ticks_terminate_and_launch_nothing() {
    sigkill_restarts("launch-restarts", true).await;
}

async fn sigkill_restarts(tag: &str, launch: bool) {
    let _alone = support::alone().await;
    let seed: u64 = std::env::var("SPILLWAY_RESTART_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("busy restarts: SPILLWAY_RESTART_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let w = world(tag, false, launch).await;
    let port = free_port();
    let stop = Arc::new(AtomicBool::new(false));
    let fleet = run_fleet(&w, format!("127.0.0.1:{port}"), stop.clone());
    let mut service = replica(&w, "only", port);
    let before = until_busy(&w).await;

    for _ in 0..20 {
        sigkill(&mut service, "spillway run");
        service = replica(&w, "only", port);
        // Some incarnations die while still learning the fleet (4 s), some after.
        tokio::time::sleep(Duration::from_millis(rng.u64(300..6000))).await;
    }
    // The last incarnation runs well past learning, then judges what it hears.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let last = status(port)
        .await
        .expect("the last incarnation answers /status");
    sigkill(&mut service, "the last spillway run");
    stop.store(true, Ordering::SeqCst);
    let fleet = fleet.await.expect("the worker fleet");
    assert_survived(&w, &before, fleet, "after 20 SIGKILL restarts").await;
    let busy = last["last"]["workers"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["pool"] == "ec2"))
        .map(|p| p["busy"].clone());
    assert_eq!(busy, Some(serde_json::json!(BUSY)), "{last:#}");
    eprintln!(
        "busy restarts ({tag}): 20 SIGKILL restarts, {BUSY} busy instances survived, 0 launches"
    );
    let _ = std::fs::remove_dir_all(&w.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_leader_kills_terminate_no_busy_worker_and_launch_nothing() {
    leader_kills("failovers", false).await;
}

/// The same with launch-only ticks: a replica that takes the lease starts from a full tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_leader_kills_with_launch_only_ticks_terminate_and_launch_nothing() {
    leader_kills("launch-failovers", true).await;
}

async fn leader_kills(tag: &str, launch: bool) {
    let _alone = support::alone().await;
    let w = world(tag, true, launch).await;
    let ports = [free_port(), free_port()];
    let ids = ["replica-a", "replica-b"];
    // Workers know one address: the front passes every connection to A while A is up.
    let front = Front::start(ports.iter().map(|p| format!("127.0.0.1:{p}")).collect()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let fleet = run_fleet(&w, front.addr.clone(), stop.clone());
    let mut replicas = [replica(&w, ids[0], ports[0]), replica(&w, ids[1], ports[1])];
    let before = until_busy(&w).await;
    let leads = async |k: usize| {
        status(ports[k]).await.is_some_and(|s| {
            s["last"]["role"]
                .as_str()
                .is_some_and(|r| r.starts_with("leader"))
        })
    };

    for kill in 0..5 {
        let mut leader = None;
        wait_for("a leader", Duration::from_secs(20), async || {
            for k in 0..2 {
                if leads(k).await {
                    leader = Some(k);
                    return true;
                }
            }
            false
        })
        .await;
        let (old, new) = (leader.unwrap(), 1 - leader.unwrap());
        sigkill(&mut replicas[old], ids[old]);
        wait_for(
            &format!("takeover {kill} by {}", ids[new]),
            Duration::from_secs(6 * LEASE_S),
            async || leads(new).await,
        )
        .await;
        // The killed replica comes back as a follower. When it is A, the front sends every
        // heartbeat to it again, and the leader B hears them only as A passes them on.
        replicas[old] = replica(&w, ids[old], ports[old]);
        // Past the new leader's learning time (lost_after, 4 s): it judges what it hears.
        tokio::time::sleep(Duration::from_secs(6)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let fleet = fleet.await.expect("the worker fleet");
    for (k, r) in replicas.iter_mut().enumerate() {
        sigkill(r, ids[k]);
    }
    assert_survived(&w, &before, fleet, "after 5 leader kills").await;
    eprintln!("busy failovers ({tag}): 5 leader kills, {BUSY} busy instances survived, 0 launches");
    drop(front);
    let _ = std::fs::remove_dir_all(&w.dir);
}

/// A dry run started over a farm whose workers are all busy, with renders waiting that a real
/// run would launch for: it decides those launches (its record says so) and makes none, and
/// the same busy instances survive it (identities, not counts), their workers still on their
/// renders. The policy has launch-only ticks, so those are dry too. Until now the dry run was
/// tested only on an empty fleet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_over_busy_workers_decides_but_changes_nothing() {
    let _alone = support::alone().await;
    let w = world("dry-busy", false, true).await;
    let port = free_port();
    let stop = Arc::new(AtomicBool::new(false));
    let fleet = run_fleet(&w, format!("127.0.0.1:{port}"), stop.clone());
    let mut service = replica(&w, "only", port);
    let before = until_busy(&w).await;
    sigkill(&mut service, "spillway run");
    // Renders the busy fleet cannot take: a real run would launch for them.
    let sqs = moto::server().sqs_client(DEFAULT_ACCOUNT);
    for i in 0..3 {
        sqs.send_message()
            .queue_url(&w.queue)
            .message_body(format!(r#"{{"id":"waiting-{i}","duration_s":600}}"#))
            .send()
            .await
            .unwrap();
    }
    let record = w.dir.join("dry-run.jsonl");
    let mut dry = replica_with(
        &w,
        "only",
        port,
        &["--dry-run", "--record", record.to_str().unwrap()],
    );
    // Past learning the fleet (4 s), then many ticks of 500 ms judging what it hears.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let s = status(port).await.expect("the dry run answers /status");
    sigkill(&mut dry, "the dry run");
    stop.store(true, Ordering::SeqCst);
    let fleet = fleet.await.expect("the worker fleet");
    assert_survived(&w, &before, fleet, "after a dry run").await;
    assert_eq!(s["dry_run"], true, "{s:#}");
    let lines = std::fs::read_to_string(&record).expect("the dry run's record");
    let launched: u64 = lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .flat_map(|v| {
            v["decision"]["actions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|a| a["action"] == "launch")
        .map(|a| a["count"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        launched > 0,
        "the dry run decided no launch for the waiting renders: {lines}"
    );
    eprintln!(
        "dry run over {BUSY} busy workers: decided {launched} launches, made none; \
         the same instances live"
    );
    let _ = std::fs::remove_dir_all(&w.dir);
}
