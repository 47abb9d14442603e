//! Fuzz target: a stream of heartbeats, as a token holder could send them, through the
//! service's own path: `protocol::parse`, the bounded `Registry` (with drain requests between
//! them), the join with an EC2 listing, and `decide`. Nothing may panic; each pool holds at most
//! its bound; a worker's credited jobs never exceed the plausible rate since it was first heard,
//! and change only when it is heard; and no decision terminates an instance the listing does
//! not show as the policy's.
//!
//! Input: lines; a line's first byte advances the clock (× 100 ms; odd: the service asks the
//! line's worker to drain), the rest is a heartbeat body.

#![no_main]

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use spillway::control::{Action, ControlMemory, Observation, QueueObservation, decide};
use spillway::heartbeat::protocol;
use spillway::model::{Instance, QueueStats, Timestamp};
use spillway::service::observe::{self, registry};

/// The instances the listing shows as the policy's EC2 pool.
const LISTED: [&str; 3] = ["i-0001", "i-0002", "i-0003"];

fuzz_target!(|data: &[u8]| {
    let policy = spillway::policy::embedded_default();
    let limits = registry::Limits::for_policy(&policy);
    let r = registry::Registry::bounded(limits.clone());
    let ec2 = policy.first_ec2().map(|(i, _)| policy.pools[i].name.clone());
    let listing: Vec<Instance> = LISTED
        .iter()
        .map(|id| Instance {
            id: id.to_string(),
            pool: ec2.clone().unwrap_or_default(),
            launched_at: Timestamp::from_millis(0),
        })
        .collect();
    if let Some(pool) = &ec2 {
        r.set_owned(pool, LISTED.iter().map(|s| s.to_string()).collect());
    }
    let pools: HashSet<&str> = policy.pools.iter().map(|p| p.name.as_str()).collect();
    let mut now = Timestamp::from_millis(1_000);
    let mut credited: HashMap<String, u64> = HashMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some((&step, body)) = line.split_first() else {
            continue;
        };
        now = now.plus(Duration::from_millis(100 * u64::from(step)));
        let Ok(hb) = protocol::parse(body) else {
            continue;
        };
        if !pools.contains(hb.pool.as_str()) {
            continue; // the HTTP handler refuses these before the registry
        }
        let key = hb.instance_id.clone().unwrap_or_else(|| hb.worker_id.clone());
        let heard = hb.worker_id.clone();
        let _ = r.beat(hb, now);
        if step % 2 == 1 {
            r.request_drain(&key, now);
        }
        for rec in r.snapshot() {
            // Never more than the rate allows since the worker was first heard.
            let lived_ms = rec.last_seen.since(rec.first_seen).as_millis() as u64;
            assert!(
                rec.jobs_credited * 1000 <= registry::MAX_JOBS_PER_SECOND * lived_ms,
                "{rec:?}"
            );
            // Only the worker heard now may have been credited more.
            if let Some(before) = credited.get(&rec.worker_id)
                && rec.worker_id != heard
            {
                assert_eq!(rec.jobs_credited, *before, "{rec:?} credited unheard");
            }
            credited.insert(rec.worker_id.clone(), rec.jobs_credited);
        }
    }
    let records = r.snapshot();
    for (pool, bound) in &limits.per_pool {
        let n = records.iter().filter(|x| &x.pool == pool).count();
        assert!(n <= *bound, "{pool} holds {n} > {bound}");
    }
    let view = observe::join(
        &policy,
        Some(&listing),
        &[],
        &records,
        now,
        policy.lost_after(),
        Timestamp::from_millis(0),
    );
    let stats = QueueStats {
        visible: 0.0,
        in_flight: 0.0,
        delayed: 0.0,
    };
    let obs = Observation {
        queue: Some(QueueObservation {
            averaged: stats,
            latest: stats,
            sampled_at: now,
        }),
        batch: None,
        pools: view.pools,
        boots: Vec::new(),
        completed: None,
        paused: None,
        listening_since: Some(Timestamp::from_millis(0)),
        oracle_plan: None,
    };
    let step = decide(&policy, &obs, &ControlMemory::default(), now);
    for a in &step.decision.actions {
        if let Action::Terminate { pool, workers, .. } = a {
            assert_eq!(Some(pool), ec2.as_ref(), "{a:?}");
            for w in workers {
                assert!(LISTED.contains(&w.0.as_str()), "terminated {w:?}: {a:?}");
            }
        }
    }
});
