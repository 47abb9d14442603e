//! Fuzz target: `--state-file` contents through `StateFile::parse`, what a restarted service
//! resumes from. It may not panic; a state it accepts holds only values `decide` could have
//! produced, and `decide` on it returns a step that launches within the pools' `max`.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use spillway::control::{Action, Observation, PoolObservation, QueueObservation, decide};
use spillway::model::{QueueStats, Timestamp};
use spillway::service::state::StateFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let policy = spillway::policy::embedded_default();
    let file = StateFile::new(Path::new("fuzz.state.json"), &policy.name);
    let resumed = match file.parse(text) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(
        resumed.memory.problems().is_empty(),
        "{:?}",
        resumed.memory.problems()
    );
    let now = Timestamp::from_millis(86_400_000);
    let stats = QueueStats {
        visible: 30.0,
        in_flight: 5.0,
        delayed: 0.0,
    };
    let obs = Observation {
        queue: Some(QueueObservation {
            averaged: stats,
            latest: stats,
            sampled_at: now,
        }),
        batch: None,
        pools: policy
            .pools
            .iter()
            .map(|p| PoolObservation {
                pool: p.name.clone(),
                workers: Some(Vec::new()),
            })
            .collect(),
        boots: Vec::new(),
        completed: Some(3),
        paused: None,
        listening_since: Some(Timestamp::from_millis(0)),
        oracle_plan: None,
    };
    let step = decide(&policy, &obs, &resumed.memory, now);
    for a in &step.decision.actions {
        if let Action::Launch { pool, count, .. } = a {
            let max = policy
                .pools
                .iter()
                .find(|p| &p.name == pool)
                .and_then(|p| p.scaling())
                .map_or(0, |s| s.max);
            assert!(*count <= max, "launched {count} in {pool} (max {max})");
        }
    }
});
