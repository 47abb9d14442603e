//! `cargo bench --bench simulate`: simulator throughput in jobs of trace per second of CPU on
//! one core, on the LANL CM-5 job log (`../shared/traces`, 122k jobs, about a million ticks:
//! target ≤ 1 s), on the built-in `diurnal` scenario, and on a million-job M/M/10 job log
//! (Poisson arrivals at 8/s, exponential 1 s renders, ten datacenter workers and EC2 overflow)
//! timed whole: reading and parsing the CSV, the run and its report (target ≥ 5 M jobs/s).

#![allow(clippy::disallowed_methods)] // a benchmark reads the clock to time itself

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use spillway::policy;
use spillway::sim::{self, SimConfig, rng::SimRng, scenario, trace};

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

/// Ten datacenter workers at 80% load, EC2 for the overflow.
const MM10_POLICY: &str = r#"name = "mm10"
[control]
interval = "60s"
window = "60s"
[target]
free_busy_ratio = 0.25
min_free = 2
wait_slo = "30s"
[[pool]]
name = "datacenter"
kind = "static"
workers = 10
[[pool]]
name = "ec2"
kind = "ec2"
max = 20
cost_per_hour = 0.34
boot_time = "3m"
"#;

/// Writes a seeded M/M/10 job log of `n` jobs (arrivals 8/s, renders of mean 1 s).
fn write_mm10(path: &Path, n: usize) {
    let mut rng = SimRng::new(1, 0);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("bench trace"));
    writeln!(out, "submit_s,duration_s").unwrap();
    let mut t = 0.0;
    for _ in 0..n {
        t += rng.exponential(1.0 / 8.0);
        writeln!(out, "{t:.3},{:.3}", rng.exponential(1.0)).unwrap();
    }
}

/// Reading, parsing, simulating and reporting the M/M/10 log, as `spillway simulate` does.
fn time_whole_mm10() {
    let dir = std::env::temp_dir().join(format!("spillway-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let path = dir.join("mm10.csv");
    let n = 1_000_000;
    write_mm10(&path, n);
    let policy = policy::from_toml_str(MM10_POLICY, "mm10.toml").expect("bench policy");
    let config = SimConfig::default();
    let mut runs = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let raw = trace::read(&path).expect("bench trace");
        let jobs = trace::to_jobs(&raw, 1.0, trace::DurationDist::Fixed(0.0), 1).expect("jobs");
        let out = sim::run(&policy, &jobs, &config);
        let json = serde_json::to_string(&out.report).expect("report");
        runs.push(start.elapsed().as_secs_f64());
        std::hint::black_box(json);
    }
    let _ = std::fs::remove_dir_all(&dir);
    runs.sort_by(f64::total_cmp);
    let median = runs[2];
    println!(
        "simulate, {:>28}: {n} jobs in {:.3} s median (min {:.3}) → {:.2} M jobs/s, read to report",
        "M/M/10 job log, whole",
        median,
        runs[0],
        n as f64 / median / 1e6
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
    time_whole_mm10();
}
