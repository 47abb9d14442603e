//! `decide` is total: whatever the observation and the memory hold (NaN, infinities,
//! negative or enormous numbers, as a forged state file or a hostile heartbeat could bring),
//! it returns a step without panicking, and never launches past a pool's `max`.

use crate::farm;

use proptest::prelude::*;
use spillway::control::{ControlMemory, decide};
use spillway::model::{QueueStats, Timestamp};

fn any_number() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-1e300),
        Just(1e300),
        Just(-5.0),
        0.0..1e6f64,
        any::<f64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn decide_returns_a_step_for_any_numbers(
        strategy in prop::sample::select(vec!["spillway", "hpa", "target-tracking", "static"]),
        queue in (any_number(), any_number(), any_number()),
        batch in prop::option::of((any_number(), any_number())),
        boots in prop::collection::vec(any_number(), 0..6),
        throughput in prop::option::of(any_number()),
        demand in prop::collection::vec(any_number(), 0..6),
        completed in prop::option::of(any::<u64>()),
        ticks in 1usize..4,
    ) {
        let policy = match strategy {
            "spillway" => farm::picnik(),
            other => farm::picnik_with("strategy = \"spillway\"", &format!("strategy = \"{other}\"")),
        };
        let mut memory = ControlMemory {
            boot_samples: boots.into_iter().collect(),
            throughput,
            // A state file's tick count at its maximum overflowed (found by scripts/hostile).
            ticks: u64::MAX,
            ..ControlMemory::default()
        };
        for (k, d) in demand.into_iter().enumerate() {
            memory.demand.push_back((Timestamp::from_millis(k as i64 * 60_000), d));
        }
        let mut farm = farm::Farm::at(Timestamp::from_millis(3_600_000)).dc_busy(20);
        farm.waiting = queue.0;
        farm.delayed = queue.2;
        if let Some(b) = batch {
            farm.batch = Some((b.0, 3));
            let _ = b.1;
        }
        for t in 0..ticks {
            let mut obs = farm.observe();
            if let Some(q) = obs.queue.as_mut() {
                q.latest = QueueStats { visible: queue.0, in_flight: queue.1, delayed: queue.2 };
                q.averaged = q.latest;
                q.sampled_at = farm.now;
            }
            obs.completed = completed;
            let now = farm.now.plus(std::time::Duration::from_secs(60 * t as u64));
            if let Some(q) = obs.queue.as_mut() {
                q.sampled_at = now;
            }
            let step = decide(&policy, &obs, &memory, now);
            prop_assert!(!step.decision.actions.is_empty());
            prop_assert!(step.decision.launched() <= 200, "{:?}", step.decision);
            memory = step.memory;
        }
    }
}
