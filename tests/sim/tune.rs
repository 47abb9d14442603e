//! `spillway tune` as a specification: the same result on any number of threads, a written
//! policy that keeps the operator's file and costs what tune measured, and arguments it cannot
//! use refused before any simulation.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn spillway(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spillway"))
        .args(args)
        .output()
        .unwrap()
}

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("spillway-tune-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Six hours of arrivals per minute: a quiet start, a two-hour peak past the datacenter's 40
/// workers, and a short spike.
fn trace(d: &Path) -> String {
    trace_named(d, "trace.csv", 1.0)
}

/// [`trace`]'s shape with every rate times `k`, written as `name`.
fn trace_named(d: &Path, name: &str, k: f64) -> String {
    let mut csv = String::from("t_seconds,arrivals\n");
    for m in 0..360 {
        let rate = match m {
            0..=59 => 60,
            60..=179 => 60 + (m - 60) * 3,
            180..=199 => 350,
            _ => 120,
        };
        csv.push_str(&format!("{},{}\n", m * 60, (rate as f64 * k).round()));
    }
    let path = d.join(name);
    std::fs::write(&path, csv).unwrap();
    path.display().to_string()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn tune_gives_the_same_result_on_one_thread_as_on_two() {
    let d = dir("threads");
    let t = trace(&d);
    let mut reports = Vec::new();
    for jobs in ["1", "2"] {
        let report = d.join(format!("tune-{jobs}.json"));
        let out = spillway(&[
            "tune",
            "--trace",
            &t,
            "--budget",
            "16",
            "--jobs",
            jobs,
            "--report-json",
            report.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{out:?}");
        reports.push(std::fs::read_to_string(&report).unwrap());
    }
    assert_eq!(reports[0], reports[1]);
    let r: serde_json::Value = serde_json::from_str(&reports[0]).unwrap();
    assert_eq!(r["evaluations"].as_array().unwrap().len(), 16);
    assert!(!r["frontier"].as_array().unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn the_written_policy_keeps_the_file_and_costs_what_tune_measured() {
    let d = dir("written");
    let t = trace(&d);
    let (tuned, report) = (d.join("tuned.toml"), d.join("tune.json"));
    let out = spillway(&[
        "tune",
        "--policy",
        "policies/picnik.toml",
        "--trace",
        &t,
        "--budget",
        "24",
        "--write-policy",
        tuned.to_str().unwrap(),
        "--report-json",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&tuned).unwrap();
    assert!(text.starts_with("# Written by `spillway tune` from policies/picnik.toml"));
    // The operator's comments and limits stay as written.
    let original = std::fs::read_to_string("policies/picnik.toml").unwrap();
    for kept in [
        "# how often decide() runs",
        "max = 200",
        "max_hourly_usd = 60",
        "wait_slo = \"30s\"",
    ] {
        assert!(
            original.contains(kept) && text.contains(kept),
            "{kept}:\n{text}"
        );
    }
    let check = spillway(&["policy", "check", tuned.to_str().unwrap()]);
    assert!(check.status.success(), "{check:?}");
    // Simulated on the two tuning seeds, the written file costs exactly what tune reported
    // for the recommendation (their mean), and its wait is the worse of the two.
    let r = json(&report);
    let best = &r["evaluations"][r["recommended"].as_u64().unwrap() as usize];
    let mut hours = Vec::new();
    let mut waits = Vec::new();
    for seed in ["1", "2"] {
        let sim = d.join(format!("sim-{seed}.json"));
        let out = spillway(&[
            "simulate",
            "--policy",
            tuned.to_str().unwrap(),
            "--trace",
            &t,
            "--seed",
            seed,
            "--report-json",
            sim.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{out:?}");
        let s = json(&sim);
        hours.push(s["ec2_billed_hours"].as_f64().unwrap());
        waits.push(s["wait_p99_s"].as_f64().unwrap());
    }
    let mean = (hours[0] + hours[1]) / 2.0;
    assert!(
        (mean - best["ec2_billed_hours"].as_f64().unwrap()).abs() < 1e-9,
        "{mean} against {best}"
    );
    assert_eq!(waits[0].max(waits[1]), best["wait_p99_s"].as_f64().unwrap());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_held_out_day_is_checked_and_a_busier_one_makes_the_recommendation_no_cheaper() {
    let d = dir("held-out");
    let (t, busier) = (trace(&d), trace_named(&d, "busier.csv", 1.3));
    let mut costs = Vec::new();
    for held_out in [None, Some(busier.as_str())] {
        let report = d.join("tune.json");
        let mut args = vec![
            "tune",
            "--trace",
            &t,
            "--budget",
            "24",
            "--report-json",
            report.to_str().unwrap(),
        ];
        args.extend(held_out.iter().flat_map(|h| ["--validate-trace", *h]));
        let out = spillway(&args);
        assert!(out.status.success(), "{out:?}");
        let r = json(&report);
        let last = r["validated"].as_array().unwrap().last().unwrap().clone();
        let checked: Vec<&str> = last["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["workload"].as_str().unwrap())
            .collect();
        assert_eq!(
            checked.len(),
            4 + usize::from(held_out.is_some()),
            "{checked:?}"
        );
        if let Some(h) = held_out {
            assert!(checked.contains(&h), "{checked:?}");
        }
        let best = &r["evaluations"][r["recommended"].as_u64().unwrap() as usize];
        costs.push(best["ec2_cost_usd"].as_f64().unwrap());
    }
    assert!(costs[1] >= costs[0], "{costs:?}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn arguments_tune_cannot_use_are_refused_before_it_simulates() {
    for (args, says) in [
        (
            vec!["--knobs", "band,nope,x.y"],
            "--knobs: unknown \"nope\", \"x.y\" (expected some of: target.free_busy_ratio",
        ),
        (vec!["--budget", "1"], "--budget 1 must be at least 2"),
        (vec!["--tune-seeds", "0"], "--tune-seeds must be at least 1"),
    ] {
        let mut all = vec!["tune", "--scenario", "diurnal"];
        all.extend(&args);
        let out = spillway(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("simulations"),
            "{args:?}: it ran"
        );
    }
    // A policy of another strategy: tune searches spillway's knobs.
    let d = dir("strategy");
    let hpa = d.join("hpa.toml");
    let text = std::fs::read_to_string("policies/picnik.toml")
        .unwrap()
        .replace("strategy = \"spillway\"", "strategy = \"hpa\"");
    std::fs::write(&hpa, text).unwrap();
    let out = spillway(&[
        "tune",
        "--policy",
        hpa.to_str().unwrap(),
        "--trace",
        &trace(&d),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("the policy's strategy is \"hpa\""),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&d);
}
