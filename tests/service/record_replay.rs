//! A recorded service run replayed: `spillway run --record` (from the worker fleet test, whose
//! agents report every job) → `trace from-record` → `simulate` and `tune` → the tuned policy
//! file, checked by `policy check` and simulated on the recorded traffic within the SLO.

use std::ffi::OsStr;
use std::path::Path;

/// The lines of a text file; none when it does not exist (yet).
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn spillway(args: &[&OsStr]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_spillway"))
        .args(args)
        .output()
        .unwrap()
}

/// `spillway simulate` with `args` and `--report-json` at `json`, which must succeed: its report.
fn simulate_report(args: &[&OsStr], json: &Path) -> serde_json::Value {
    let mut all: Vec<&OsStr> = vec!["simulate".as_ref()];
    all.extend_from_slice(args);
    all.extend(["--report-json".as_ref(), json.as_os_str()]);
    let out = spillway(&all);
    assert!(out.status.success(), "{out:?}");
    read_json(json)
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The record's job waits, sorted, and its EC2 worker-seconds (workers listed at each tick
/// times the time to the next).
fn recorded(record: &Path) -> (Vec<f64>, f64) {
    let ticks: Vec<serde_json::Value> = lines(record)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut waits: Vec<f64> = ticks
        .iter()
        .flat_map(|t| t["jobs"].as_array().cloned().unwrap_or_default())
        .map(|j| j["waited_s"].as_f64().unwrap())
        .collect();
    waits.sort_by(f64::total_cmp);
    let worker_s = ticks
        .windows(2)
        .map(|w| {
            let workers: usize = w[0]["observation"]["pools"]
                .as_array()
                .map(|pools| {
                    pools
                        .iter()
                        .map(|p| p["workers"].as_array().map_or(0, Vec::len))
                        .sum()
                })
                .unwrap_or(0);
            let dt = (w[1]["at"].as_i64().unwrap() - w[0]["at"].as_i64().unwrap()) as f64;
            workers as f64 * dt / 1000.0
        })
        .sum();
    (waits, worker_s)
}

/// Every step from `record` (`runs` job runs) to a tuned policy, in `dir`; `policy_toml` is
/// the policy the service ran.
pub fn replays_and_tunes(record: &Path, dir: &Path, policy_toml: &str, runs: usize) {
    // The record replays: as a trace it is refused with the way to convert it; converted, it
    // is a job log of the runs that `simulate` accepts.
    let as_trace = spillway(&["simulate".as_ref(), "--trace".as_ref(), record.as_os_str()]);
    let said = String::from_utf8_lossy(&as_trace.stderr);
    assert!(
        !as_trace.status.success() && said.contains("spillway trace from-record"),
        "{said}"
    );
    let trace = dir.join("trace.csv");
    let converted = spillway(&[
        "trace".as_ref(),
        "from-record".as_ref(),
        record.as_os_str(),
        "-o".as_ref(),
        trace.as_os_str(),
    ]);
    assert!(converted.status.success(), "{converted:?}");
    let rows = lines(&trace);
    assert_eq!(rows[0], "submit_s,duration_s");
    assert_eq!(rows.len(), 1 + runs);
    // Rebuilt from the queue statistics alone (what a farm without the agent has), the
    // arrivals come close to the 200 jobs: the 200 queued before the start, plus whatever
    // per-tick sampling skew adds.
    let arrivals = dir.join("arrivals.csv");
    let rebuilt = spillway(&[
        "trace".as_ref(),
        "from-record".as_ref(),
        record.as_os_str(),
        "--from-queue-stats".as_ref(),
        "-o".as_ref(),
        arrivals.as_os_str(),
    ]);
    assert!(rebuilt.status.success(), "{rebuilt:?}");
    let total: f64 = lines(&arrivals)[1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap().parse::<f64>().unwrap())
        .sum();
    eprintln!("arrivals rebuilt from queue statistics: {total} (200 jobs)");
    assert!((190.0..=230.0).contains(&total), "{total}: {rebuilt:?}");
    let replayed = spillway(&["simulate".as_ref(), "--trace".as_ref(), trace.as_os_str()]);
    assert!(replayed.status.success(), "{replayed:?}");
    assert!(
        String::from_utf8_lossy(&replayed.stdout).contains(&format!("{runs} jobs")),
        "{replayed:?}"
    );
    // How close the replay comes: the service's own policy simulated on the trace, against
    // what the record says happened (waits reported by the agents; EC2 worker time from the
    // fleet listed at each tick). Both met the SLO.
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, policy_toml).unwrap();
    let (waits, worker_s) = recorded(record);
    let same_json = dir.join("replay.json");
    let r = simulate_report(
        &[
            "--policy".as_ref(),
            policy.as_os_str(),
            "--trace".as_ref(),
            trace.as_os_str(),
        ],
        &same_json,
    );
    let p99 = waits[(waits.len() * 99).div_ceil(100) - 1];
    eprintln!(
        "replay of the record: p99 wait recorded {p99:.1} s, simulated {:.1} s; EC2 worker time \
         recorded {worker_s:.0} s, simulated {:.0} s billed",
        r["wait_p99_s"].as_f64().unwrap(),
        r["ec2_billed_hours"].as_f64().unwrap() * 3600.0
    );
    assert!(p99 <= 30.0 && r["meets_slo"] == true, "{p99} {r}");
    // The same from the queue statistics alone, replayed with the mean run time it printed.
    let said = String::from_utf8_lossy(&rebuilt.stderr);
    let durations = said
        .split_whitespace()
        .find(|w| w.starts_with("exp:"))
        .unwrap_or_else(|| panic!("no --durations hint: {said}"));
    let q = simulate_report(
        &[
            "--policy".as_ref(),
            policy.as_os_str(),
            "--trace".as_ref(),
            arrivals.as_os_str(),
            "--durations".as_ref(),
            durations.as_ref(),
        ],
        &same_json,
    );
    eprintln!(
        "replay of the queue statistics ({durations}): p99 wait {:.1} s, {:.0} s billed",
        q["wait_p99_s"].as_f64().unwrap(),
        q["ec2_billed_hours"].as_f64().unwrap() * 3600.0
    );
    assert_eq!(q["meets_slo"], true, "{q}");
    // Tuned on the recorded traffic: a frontier, a recommendation, and a policy file that
    // keeps everything the service needs (queue, pool, heartbeats) with the knobs set.
    let (tuned, plot, json) = (
        dir.join("tuned.toml"),
        dir.join("frontier.svg"),
        dir.join("tune.json"),
    );
    let tune = spillway(&[
        "tune".as_ref(),
        "--policy".as_ref(),
        policy.as_os_str(),
        "--trace".as_ref(),
        trace.as_os_str(),
        "--budget".as_ref(),
        "24".as_ref(),
        "--write-policy".as_ref(),
        tuned.as_os_str(),
        "--plot".as_ref(),
        plot.as_os_str(),
        "--report-json".as_ref(),
        json.as_os_str(),
    ]);
    let said = String::from_utf8_lossy(&tune.stdout);
    assert!(tune.status.success(), "{tune:?}");
    eprintln!("{said}");
    assert!(said.contains("recommended"), "{said}");
    let report = read_json(&json);
    assert!(report["recommended"].as_u64().is_some(), "{said}");
    assert!(
        report["evaluations"].as_array().unwrap().len() >= 12,
        "{said}"
    );
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.contains("recommended:") && svg.contains("current:"),
        "{svg}"
    );
    let text = std::fs::read_to_string(&tuned).unwrap();
    assert!(
        text.starts_with("# Written by `spillway tune` from "),
        "{text}"
    );
    let queue_line = policy_toml
        .lines()
        .find(|l| l.starts_with("url"))
        .expect("the policy has a queue url");
    assert!(text.contains(queue_line), "the queue is kept: {text}");
    let check = spillway(&["policy".as_ref(), "check".as_ref(), tuned.as_os_str()]);
    assert!(check.status.success(), "{check:?}");
    // The tuned policy on the recorded traffic: every job, within the SLO.
    let sim_json = dir.join("tuned-sim.json");
    let r = simulate_report(
        &[
            "--policy".as_ref(),
            tuned.as_os_str(),
            "--trace".as_ref(),
            trace.as_os_str(),
        ],
        &sim_json,
    );
    assert_eq!(r["completed"], runs, "{r}");
    assert_eq!(r["meets_slo"], true, "{r}");
}
