//! What `deploy/` ships is kept true to the service: every metric the Prometheus rules and the
//! Grafana dashboard name is one the service exports (as `src/metrics.rs`, the one module that
//! names metrics, declares it and `/metrics` renders it), each rule has the fields
//! Prometheus requires, and the worker's IAM policy allows exactly the SQS calls the agent
//! makes.

use std::collections::BTreeSet;

use spillway::metrics::Metrics;

/// Every `spillway_…` name in `text`.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("spillway_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

/// The series names the service exports: each metric declared in `src/metrics.rs`, plus a
/// histogram's `_bucket`, `_count` and `_sum`.
fn exported() -> BTreeSet<String> {
    let source = std::fs::read_to_string("src/metrics.rs").unwrap();
    // A histogram is declared by `histogram(` or `histogram_vec(` with its name next.
    let histograms: BTreeSet<String> = source
        .split("histogram")
        .skip(1)
        .filter(|rest| rest.starts_with('(') || rest.starts_with("_vec("))
        .filter_map(|rest| names_in(rest.split(',').next()?).into_iter().next())
        .collect();
    let mut out = BTreeSet::new();
    for name in names_in(&source) {
        if histograms.contains(&name) {
            for suffix in ["_bucket", "_count", "_sum"] {
                out.insert(format!("{name}{suffix}"));
            }
        }
        out.insert(name);
    }
    out
}

#[test]
fn the_declared_metrics_are_the_rendered_ones() {
    // The positive control for the checks below: what src/metrics.rs declares, /metrics
    // renders (a labelled family once it has a child).
    let m = Metrics::new();
    m.queue_messages
        .with_label_values(&["q", "visible"])
        .set(1.0);
    let rendered = m.render();
    for name in [
        "spillway_ticks_total",
        "spillway_queue_messages",
        "spillway_build_info",
    ] {
        assert!(exported().contains(name), "{name}");
        assert!(rendered.contains(&format!("# TYPE {name} ")), "{name}");
    }
    for histogram in ["spillway_boot_seconds", "spillway_job_wait_seconds"] {
        assert!(
            exported().contains(&format!("{histogram}_bucket")),
            "{histogram}"
        );
    }
}

#[test]
fn the_alert_rules_name_only_exported_metrics() {
    let rules = std::fs::read_to_string("deploy/prometheus/alerts.yml").unwrap();
    let exported = exported();
    let used = names_in(&rules);
    assert!(used.len() >= 8, "{used:?}");
    let unknown: Vec<&String> = used.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(unknown.is_empty(), "not exported: {unknown:?}");
    // Each rule: an alert name, an expression, a severity and a summary.
    let alerts = rules.matches("- alert: ").count();
    assert!(alerts >= 8, "{alerts} alerts");
    for field in ["expr: ", "severity: ", "summary: "] {
        assert_eq!(
            rules.matches(field).count(),
            alerts,
            "every alert has {field}"
        );
    }
}

#[test]
fn the_dashboard_names_only_exported_metrics() {
    let text = std::fs::read_to_string("deploy/grafana/spillway.json").unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let exprs: Vec<&str> = dash["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str())
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");
    let exported = exported();
    for e in &exprs {
        let used = names_in(e);
        assert!(!used.is_empty(), "{e}");
        let unknown: Vec<&String> = used.iter().filter(|n| !exported.contains(*n)).collect();
        assert!(unknown.is_empty(), "{e}: not exported: {unknown:?}");
    }
    // The fleet, the queue, desired workers, actions and cost each have a panel.
    for metric in [
        "spillway_workers",
        "spillway_queue_messages",
        "spillway_desired_workers",
        "spillway_scaling_actions_total",
        "spillway_cost_usd_per_hour",
    ] {
        assert!(
            exprs.iter().any(|e| e.contains(metric)),
            "no panel for {metric}"
        );
    }
}

/// `sqs:Action` for each SQS call (`.receive_message()` → `ReceiveMessage`) made in `source`.
fn sqs_calls_in(source: &str) -> BTreeSet<String> {
    let calls = [
        ("receive_message()", "ReceiveMessage"),
        ("change_message_visibility()", "ChangeMessageVisibility"),
        ("delete_message()", "DeleteMessage"),
        ("send_message()", "SendMessage"),
        ("get_queue_attributes()", "GetQueueAttributes"),
        ("purge_queue()", "PurgeQueue"),
    ];
    calls
        .iter()
        .filter(|(call, _)| source.contains(&format!(".{call}")))
        .map(|(_, action)| format!("sqs:{action}"))
        .collect()
}

#[test]
fn the_worker_iam_policy_allows_exactly_the_calls_the_agent_makes() {
    let mut source = String::new();
    for entry in std::fs::read_dir("src/worker").unwrap() {
        source.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    let made = sqs_calls_in(&source);
    assert!(made.contains("sqs:ReceiveMessage"), "{made:?}");
    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("docs/worker-iam-policy.json").unwrap())
            .unwrap();
    let allowed: BTreeSet<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        allowed, made,
        "docs/worker-iam-policy.json against src/worker/"
    );
}

/// Runs promtool (Debian's `prometheus` package, installed by `scripts/install-test-deps.sh`)
/// with `args` in `deploy/prometheus`; its output when it fails.
fn promtool(args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new("promtool")
        .args(args)
        .current_dir("deploy/prometheus")
        .output()
        .unwrap_or_else(|e| panic!("cannot run promtool ({e}): run scripts/install-test-deps.sh"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

#[test]
fn promtool_accepts_the_rules_and_every_alert_fires_on_its_condition_only() {
    let checked = promtool(&["check", "rules", "alerts.yml"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(checked.contains("SUCCESS"), "{checked}");
    // Every alert has a case in the rules test: quiet first, then firing.
    let rules = std::fs::read_to_string("deploy/prometheus/alerts.yml").unwrap();
    let tests = std::fs::read_to_string("deploy/prometheus/alerts.test.yml").unwrap();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 12, "{alerts:?}");
    for a in &alerts {
        let cases = tests.matches(&format!("alertname: {a}\n")).count();
        assert_eq!(cases, 2, "{a}: one quiet and one firing evaluation");
    }
    let tested = promtool(&["test", "rules", "alerts.test.yml"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(tested.contains("SUCCESS"), "{tested}");
}
