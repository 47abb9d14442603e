//! Caps are caps, in the simulator: `budget.max_daily_usd` bounds what EC2 costs in any 24 h,
//! running instances included; a spot pool is budgeted and billed at its spot price.
//!
//! Reproduction (issue "the service knows before it acts"): `max_daily_usd = 100` on the
//! christmas scenario; the rolling 24 h EC2 spend reached about $154, because the guard only
//! stopped launches while the running instances kept billing.

use crate::farm;

use farm::picnik_with;
use spillway::policy;
use spillway::sim::{self, SimConfig, scenario};

/// The most EC2 cost in any 24 h of the run, from the per-minute samples (ready and booting
/// EC2 workers at the pool's price, each for its sample's minute).
fn max_rolling_day_usd(samples: &[sim::sample::Sample], usd_per_hour: f64) -> f64 {
    let per_sample: Vec<f64> = samples
        .iter()
        .map(|s| f64::from(s.ready[1] + s.booting) * usd_per_hour / 60.0)
        .collect();
    let day = 24 * 60;
    let mut window: f64 = per_sample.iter().take(day).sum();
    let mut most = window;
    for i in day..per_sample.len() {
        window += per_sample[i] - per_sample[i - day];
        most = most.max(window);
    }
    most
}

#[test]
fn the_daily_budget_bounds_the_cost_of_any_24_hours_running_instances_included() {
    let policy = picnik_with(
        "max_hourly_usd = 60",
        "max_hourly_usd = 60\nmax_daily_usd = 100",
    );
    let christmas = scenario::build("christmas", 1).expect("scenario");
    let out = sim::run(&policy, &christmas.jobs, &SimConfig::default());
    let most = max_rolling_day_usd(&out.samples, 0.34);
    // Minute samples miss the 60 s billing minimum of short-lived instances: 2% of slack.
    assert!(most <= 102.0, "the most EC2 cost in 24 h: ${most:.2}");
    // The budget is used, not hoarded: more than half of it in the busiest day.
    assert!(most > 50.0, "the most EC2 cost in 24 h: ${most:.2}");
    let unbounded = sim::run(&farm::picnik(), &christmas.jobs, &SimConfig::default());
    let free = max_rolling_day_usd(&unbounded.samples, 0.34);
    assert!(
        free > 120.0,
        "without the cap the busiest day costs ${free:.2}"
    );
    eprintln!(
        "christmas: the busiest 24 h cost ${most:.2} under max_daily_usd = 100, ${free:.2} without"
    );
}

#[test]
fn a_spot_pool_is_budgeted_and_billed_at_its_spot_price() {
    // $12/h buys 35 on-demand instances at $0.34, or 100 spot ones at $0.12.
    let on_demand = picnik_with("max_hourly_usd = 60", "max_hourly_usd = 12");
    let text = policy::EMBEDDED_DEFAULT
        .replace("max_hourly_usd = 60", "max_hourly_usd = 12")
        .replace(
            "cost_per_hour = 0.34",
            "cost_per_hour = 0.34\nspot_cost_per_hour = 0.12\nmarket = \"spot\"",
        );
    let spot = policy::from_toml_str(&text, "spot.toml").unwrap_or_else(|e| panic!("{e}"));
    let christmas = scenario::build("christmas", 1).expect("scenario");
    let peak = |out: &sim::SimOutput| {
        out.samples
            .iter()
            .map(|s| s.ready[1] + s.booting)
            .max()
            .unwrap_or(0)
    };
    let a = sim::run(&on_demand, &christmas.jobs, &SimConfig::default());
    let b = sim::run(&spot, &christmas.jobs, &SimConfig::default());
    assert!(peak(&a) <= 35, "on-demand peak {}", peak(&a));
    assert!(peak(&b) > 35 && peak(&b) <= 100, "spot peak {}", peak(&b));
    // Billed at the spot price: dollars over billed hours.
    let rate = b.report.ec2_cost_usd / b.report.ec2_billed_hours;
    assert!((rate - 0.12).abs() < 1e-9, "billed ${rate:.4}/h");
    eprintln!(
        "christmas under $12/h: on-demand peaks at {} instances, spot at {}",
        peak(&a),
        peak(&b)
    );
}
