//! `cargo bench --bench simulate`: simulator throughput in jobs of trace per second of CPU on
//! one core (target ≥ 2 million), on the LANL CM-5 job log (`../shared/traces`, 122k jobs) and
//! on the built-in `diurnal` scenario.

#![allow(clippy::disallowed_methods)] // a benchmark reads the clock to time itself

use std::path::Path;
use std::time::Instant;

use spillway::policy;
use spillway::sim::{self, SimConfig, scenario, trace};

fn time(label: &str, jobs: &[trace::Job]) {
    let policy = policy::embedded_default();
    let config = SimConfig::default();
    let mut runs = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let out = sim::run(&policy, jobs, &config);
        runs.push(start.elapsed().as_secs_f64());
        std::hint::black_box(out);
    }
    runs.sort_by(f64::total_cmp);
    let median = runs[2];
    println!(
        "simulate, {label:>28}: {} jobs in {:.3} s median (min {:.3}) → {:.2} M jobs/s",
        jobs.len(),
        median,
        runs[0],
        jobs.len() as f64 / median / 1e6
    );
}

fn main() {
    let lanl =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/traces/lanl_cm5_1994_jobs.csv");
    let jobs = trace::read(&lanl)
        .and_then(|raw| trace::to_jobs(&raw, 1.0, trace::DurationDist::Fixed(0.0), 1));
    match jobs {
        Ok(jobs) => time("lanl_cm5_1994_jobs.csv ×1", &jobs),
        Err(e) => println!("simulate: skipping the LANL trace: {e}"),
    }
    let s = scenario::build("diurnal", 1).expect("built-in scenario");
    time("scenario diurnal", &s.jobs);
}
