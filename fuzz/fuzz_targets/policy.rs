//! Fuzz target: policy text through `policy::from_toml_str`, the parser and validator every
//! command uses. It must never panic; an accepted policy must keep the promises validation
//! makes, and a refused one must name at least one problem on a line that exists.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spillway::policy::{self, PoolKind};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match policy::from_toml_str(text, "fuzz.toml") {
        Ok(p) => {
            assert!(!p.name.trim().is_empty());
            assert!(!p.pools.is_empty());
            assert!(!p.control.interval.is_zero() && !p.control.window.is_zero());
            assert!(p.control.max_launch_per_tick >= 1);
            assert!((0.0..1.0).contains(&p.hysteresis.band));
            for (i, pool) in p.pools.iter().enumerate() {
                assert!(pool.speed > 0.0 && pool.speed <= 100.0);
                assert!(pool.cost_per_hour.is_finite() && pool.cost_per_hour >= 0.0);
                assert!(p.pools[..i].iter().all(|q| q.name != pool.name));
                if let PoolKind::Ec2(e) = &pool.kind {
                    assert!(e.min <= e.max);
                    assert!(e.boot_timeout >= e.boot_time);
                }
            }
            let _ = p.live_problems();
            let _ = p.static_workers();
        }
        Err(e) => {
            let policy::PolicyError::Invalid { problems, .. } = &e else {
                panic!("text parsing reported an I/O error: {e}");
            };
            assert!(!problems.is_empty());
            let lines = text.matches('\n').count() + 1;
            for problem in problems {
                assert!((1..=lines).contains(&problem.line), "{problem:?}");
            }
            let _ = e.to_string();
        }
    }
});
