//! `target.wait_feedback`: `decide` closes the loop on the queue wait workers measured. While
//! the window's p99 exceeds 80% of the SLO (on enough jobs), each tick adds headroom; while it
//! is below 40%, headroom is given back slowly, down to none of the policy's ratio; without
//! the setting, or on too few jobs, or with no measure at all (unknown, not zero), the
//! measured wait changes nothing.

use spillway::control::{ControlMemory, MeasuredWait};

use crate::farm::{Farm, at, picnik, picnik_with};

fn feedback() -> spillway::policy::Policy {
    picnik_with(
        "wait_slo = \"30s\"",
        "wait_slo = \"30s\"\nwait_feedback = true",
    )
}

/// 40 datacenter and 40 EC2 workers busy, nothing waiting: the policy's headroom alone.
fn farm() -> Farm {
    Farm::at(at(36_000)).dc_busy(40).ec2_busy(40)
}

fn desired(
    policy: &spillway::policy::Policy,
    wait: Option<MeasuredWait>,
    memory: &ControlMemory,
) -> (u32, f64) {
    let mut obs = farm().observe();
    obs.measured_wait = wait;
    let step = spillway::control::decide(policy, &obs, memory, at(36_000));
    (step.decision.desired_total, step.memory.wait_extra)
}

fn waited(p99_s: f64, jobs: u32) -> Option<MeasuredWait> {
    Some(MeasuredWait { p99_s, jobs })
}

#[test]
fn waits_over_the_slo_add_headroom_tick_by_tick() {
    let policy = feedback();
    let base = desired(&policy, None, &ControlMemory::default());
    let mut memory = ControlMemory::default();
    let mut last = base.0;
    for tick in 1..=4 {
        let (d, extra) = desired(&policy, waited(95.0, 40), &memory);
        assert!(
            (extra - 0.05 * f64::from(tick)).abs() < 1e-9,
            "tick {tick}: {extra}"
        );
        assert!(d > last, "tick {tick}: {d} workers, not more than {last}");
        last = d;
        memory.wait_extra = extra;
    }
    // 80 busy workers and a fifth of demand more: 16 more than without it.
    assert_eq!(last, base.0 + 16, "base {}", base.0);
}

#[test]
fn waits_well_within_the_slo_give_headroom_back_slowly_down_to_no_ratio() {
    let policy = feedback();
    let memory = ControlMemory {
        wait_extra: 0.02,
        ..ControlMemory::default()
    };
    let (_, extra) = desired(&policy, waited(5.0, 40), &memory);
    assert!((extra - 0.01).abs() < 1e-9, "{extra}");
    // The seed's ratio is 0.25: the headroom goes down to min_free, no further.
    let memory = ControlMemory {
        wait_extra: -0.245,
        ..memory
    };
    let (d, extra) = desired(&policy, waited(5.0, 40), &memory);
    assert!((extra + 0.25).abs() < 1e-9, "{extra}");
    let again = ControlMemory {
        wait_extra: extra,
        ..memory
    };
    let (d_again, extra) = desired(&policy, waited(5.0, 40), &again);
    assert!((extra + 0.25).abs() < 1e-9, "{extra}");
    assert_eq!((d, d_again), (82, 82), "80 busy and min_free 2");
    // Between 40% and 80% of the SLO it holds.
    let memory = ControlMemory {
        wait_extra: 0.3,
        ..ControlMemory::default()
    };
    assert_eq!(desired(&policy, waited(20.0, 40), &memory).1, 0.3);
}

#[test]
fn too_few_jobs_no_measure_or_no_setting_change_nothing() {
    let policy = feedback();
    let memory = ControlMemory {
        wait_extra: 0.3,
        ..ControlMemory::default()
    };
    assert_eq!(desired(&policy, waited(500.0, 4), &memory).1, 0.3, "4 jobs");
    assert_eq!(desired(&policy, None, &memory).1, 0.3, "unknown");
    assert_eq!(
        desired(&policy, waited(f64::NAN, 40), &memory).1,
        0.3,
        "not a number"
    );
    // The seed policy does not close the loop: the measure is ignored, any extra dropped.
    let plain = picnik();
    let without = desired(&plain, None, &ControlMemory::default());
    assert_eq!(
        desired(&plain, waited(500.0, 40), &memory),
        (without.0, 0.0)
    );
}
