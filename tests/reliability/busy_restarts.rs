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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::busy_world::{
    BUSY, LEASE_S, assert_survived, replica, replica_with, run_fleet, sigkill, until_busy,
    wait_for, world,
};
use support::front::Front;
use support::moto::{self, DEFAULT_ACCOUNT};
use support::service::{free_port, status_at as status};

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
    support::queues::send_renders(&sqs, &w.queue, "waiting", 3, 600).await;
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
