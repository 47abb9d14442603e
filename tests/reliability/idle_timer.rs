//! The break-even idle timer live, against moto with the real binary and example workers:
//! instances idle for longer than relaunching them would cost (the boot estimate plus the 60 s
//! billing minimum) go, though the surplus rule would wait ten minutes, and no busy one does;
//! across a SIGKILL restart too, the same busy instances live after.

// Deadlines against real servers and processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::busy_world::{BUSY, identities, replica_with, run_fleet, sigkill, wait_for, world_with};
use crate::support;
use support::moto::{self, DEFAULT_ACCOUNT};
use support::service::{free_port, status_at as status};

/// One-second renders: their instances go idle right after taking them.
const SHORT: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_idle_past_the_break_even_time_go_and_no_busy_one_does() {
    idle_instances_go("idle-timer", false).await;
}

/// The same with a SIGKILL restart 30 s into the idle time: the new incarnation has not seen
/// how long anyone idled, so it counts from when it first hears each worker (never from a
/// guess), and still lets only the idle ones go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_idle_instances_go_a_break_even_time_after_it_and_no_busy_one_does() {
    idle_instances_go("idle-restart", true).await;
}

async fn idle_instances_go(tag: &str, restart: bool) {
    let _alone = support::alone().await;
    let w = world_with(tag, false, false, "10m", SHORT).await;
    let port = free_port();
    let stop = Arc::new(AtomicBool::new(false));
    let fleet = run_fleet(&w, format!("127.0.0.1:{port}"), stop.clone());
    let record = w.dir.join("record.jsonl");
    let mut service = replica_with(&w, "only", port, &["--record", record.to_str().unwrap()]);
    let sqs = moto::server().sqs_client(DEFAULT_ACCOUNT);
    wait_for(
        "every render to be taken, each on an instance of its own",
        Duration::from_secs(60),
        async || {
            support::queues::visible_count(&sqs, &w.queue).await == 0
                && identities(&w).await.0.len() == BUSY + SHORT
        },
    )
    .await;
    let idle_from = Instant::now();
    let (first, _) = identities(&w).await;

    // Well short of the break-even time (a 2 s boot plus the billing minimum), nothing goes.
    let mut clock_from = idle_from;
    if restart {
        tokio::time::sleep(Duration::from_secs(30)).await;
        sigkill(&mut service, "spillway run");
        let again = w.dir.join("record-after-restart.jsonl");
        service = replica_with(&w, "only", port, &["--record", again.to_str().unwrap()]);
        clock_from = Instant::now();
        tokio::time::sleep(Duration::from_secs(10)).await;
    } else {
        tokio::time::sleep(Duration::from_secs(40)).await;
    }
    assert_eq!(
        identities(&w).await.0,
        first,
        "an instance went before its time"
    );

    // Then the two idle instances go: drained and exited cleanly (the fleet checks each
    // terminated instance's worker), long before the ten-minute surplus rule.
    wait_for(
        "the idle instances to go",
        Duration::from_secs(90),
        async || identities(&w).await.0.len() == BUSY,
    )
    .await;
    let waited = clock_from.elapsed();
    assert!(waited >= Duration::from_secs(55), "gone after {waited:?}");
    let last = status(port).await.expect("/status answers");
    sigkill(&mut service, "spillway run");
    stop.store(true, Ordering::SeqCst);
    let fleet = fleet.await.expect("the worker fleet");

    let (live, all) = identities(&w).await;
    assert!(live.is_subset(&first), "{live:?} of {first:?}");
    assert_eq!(all, first, "nothing else was launched");
    assert_eq!(fleet.exited(), SHORT, "only the idle workers exited");
    let busy = last["last"]["workers"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["pool"] == "ec2"))
        .map(|p| p["busy"].clone());
    assert_eq!(busy, Some(serde_json::json!(BUSY)), "{last:#}");
    let record = if restart {
        w.dir.join("record-after-restart.jsonl")
    } else {
        record
    };
    let decisions = std::fs::read_to_string(&record).unwrap();
    assert!(
        decisions.contains("\"idle_timer\""),
        "the record says why they went"
    );
    eprintln!(
        "idle timer ({tag}): {SHORT} idle instances went after {:.0} s, {BUSY} busy ones live",
        waited.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&w.dir);
}
