//! A recorded service run replayed: `spillway run --record` (from the worker fleet test, whose
//! agents report every job) → `trace from-record` → `simulate` and `tune` → the tuned policy
//! file, checked by `policy check` and simulated on the recorded traffic within the SLO.

use std::ffi::OsStr;
use std::path::Path;

fn lines(path: &Path) -> Vec<String> {
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

/// Every step from `record` (201 job runs) to a tuned policy, in `dir`; `policy_toml` is the
/// policy the service ran.
pub fn replays_and_tunes(record: &Path, dir: &Path, policy_toml: &str) {
    // The record replays: as a trace it is refused with the way to convert it; converted, it
    // is a job log of the 201 runs that `simulate` accepts.
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
    assert_eq!(rows.len(), 1 + 201);
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
        String::from_utf8_lossy(&replayed.stdout).contains("201 jobs"),
        "{replayed:?}"
    );
    // Tuned on the recorded traffic: a frontier, a recommendation, and a policy file that
    // keeps everything the service needs (queue, pool, heartbeats) with the knobs set.
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, policy_toml).unwrap();
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
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
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
    let sim = spillway(&[
        "simulate".as_ref(),
        "--policy".as_ref(),
        tuned.as_os_str(),
        "--trace".as_ref(),
        trace.as_os_str(),
        "--report-json".as_ref(),
        sim_json.as_os_str(),
    ]);
    assert!(sim.status.success(), "{sim:?}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sim_json).unwrap()).unwrap();
    assert_eq!(r["completed"], 201, "{r}");
    assert_eq!(r["meets_slo"], true, "{r}");
}
