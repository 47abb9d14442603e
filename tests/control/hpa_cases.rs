//! Runs the upstream HPA test vectors (`../shared/peer-cases/hpa_cases.jsonl`, transcribed from
//! kubernetes `replica_calculator_test.go` and `horizontal_test.go`) against
//! `spillway::control::strategy::hpa_math`.
//!
//! Every line must run: a missing file, an unparsable line, an unknown `function`, a missing field
//! or a field the runner does not understand is a failure, never a skip. Each function's lines
//! parse into their own struct with `deny_unknown_fields`. All failures are reported together.

use std::collections::HashSet;
use std::fmt::Debug;
use std::fs;
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use spillway::control::strategy::hpa_math::{
    PolicyKind, Recommendation, ScaleEvent, ScalingPolicy, ScalingRules, SelectPolicy, Tolerance,
    external_per_pod_replicas, external_value_replicas, rate_limited_replicas, stabilize_legacy,
    stabilize_with_behaviors,
};

/// Provenance fields every line carries; the runner reads only `id`, `case` and `function`.
const PROVENANCE: &str = "id source case file repo commit function hpa_metric";

/// `GetExternalPerPodMetricReplicas` (AverageValue target).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PerPodCase {
    current_replicas: i32,
    metric_values_milli: Vec<i64>,
    target_milli: i64,
    #[serde(with = "ToleranceJson")]
    tolerance: Tolerance,
    expected_replicas: i32,
    expected_usage_milli: i64,
}

/// `GetExternalMetricReplicas` (Value target).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValueCase {
    current_replicas: i32,
    metric_values_milli: Vec<i64>,
    target_milli: i64,
    #[serde(with = "ToleranceJson")]
    tolerance: Tolerance,
    #[serde(default)]
    pod_ready: Vec<Ready>,
    expected_replicas: i32,
    expected_usage_milli: i64,
}

/// `convertDesiredReplicasWithBehaviorRate`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateCase {
    min_replicas: i32,
    max_replicas: i32,
    current_replicas: i32,
    prenormalized_desired_replicas: i32,
    scale_up_rules: RulesJson,
    scale_down_rules: RulesJson,
    #[serde(default)]
    recent_scale_up_events: Vec<EventJson>,
    #[serde(default)]
    recent_scale_down_events: Vec<EventJson>,
    expected_replicas: i32,
    expected_condition: String,
}

/// `stabilizeRecommendationWithBehaviors`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BehaviorCase {
    current_replicas: i32,
    prenormalized_desired_replicas: i32,
    past_recommendations: Vec<RecommendationJson>,
    scale_up_stabilization_window_s: u32,
    scale_down_stabilization_window_s: u32,
    expected_replicas: i32,
}

/// `stabilizeRecommendation` (no `spec.behavior`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyCase {
    prenormalized_desired_replicas: i32,
    past_recommendations: Vec<RecommendationJson>,
    downscale_stabilization_window_s: u32,
    expected_replicas: i32,
}

/// The JSON form of `Tolerance` (same field names).
#[derive(Deserialize)]
#[serde(remote = "Tolerance", deny_unknown_fields)]
struct ToleranceJson {
    scale_down: f64,
    scale_up: f64,
}

/// A pod's Ready condition status, as the vectors spell it.
#[derive(Deserialize, PartialEq)]
enum Ready {
    True,
    False,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventJson {
    change: i32,
    seconds_ago: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecommendationJson {
    replicas: i32,
    seconds_ago: f64,
}

/// Scaling rules: explicit, or a `default (...)` description of the upstream defaults.
#[derive(Deserialize)]
#[serde(untagged)]
enum RulesJson {
    Described(String),
    Explicit(ExplicitRules),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplicitRules {
    select_policy: Select,
    stabilization_window_s: u32,
    policies: Vec<PolicyJson>,
}

#[derive(Deserialize)]
enum Select {
    Max,
    Min,
    Disabled,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyJson {
    #[serde(rename = "type")]
    kind: Kind,
    value: i32,
    period_s: u32,
}

#[derive(Deserialize)]
enum Kind {
    Pods,
    Percent,
}

impl RulesJson {
    /// The module's rules; a `default (...)` text must describe `default` exactly.
    fn get(&self, default: ScalingRules) -> Result<ScalingRules, String> {
        let r = match self {
            RulesJson::Described(text) => {
                let wanted = format!("default ({})", describe(&default));
                let matches = *text == wanted;
                return matches
                    .then_some(default)
                    .ok_or_else(|| format!("{text:?} is not {wanted:?}"));
            }
            RulesJson::Explicit(r) => r,
        };
        let select = match r.select_policy {
            Select::Max => SelectPolicy::Max,
            Select::Min => SelectPolicy::Min,
            Select::Disabled => SelectPolicy::Disabled,
        };
        let policy = |p: &PolicyJson| {
            let kind = match p.kind {
                Kind::Pods => PolicyKind::Pods,
                Kind::Percent => PolicyKind::Percent,
            };
            ScalingPolicy::new(kind, p.value, p.period_s)
        };
        let policies = r.policies.iter().map(policy).collect();
        Ok(ScalingRules {
            select,
            stabilization_window_s: r.stabilization_window_s,
            policies,
        })
    }
}

/// Renders rules as the vectors describe defaults: `Pods 4/15s, Percent 100/15s, selectPolicy Max`.
fn describe(rules: &ScalingRules) -> String {
    let policies = rules.policies.iter();
    let mut parts: Vec<String> = policies
        .map(|p| format!("{:?} {}/{}s", p.kind, p.value, p.period_s))
        .collect();
    parts.push(format!("selectPolicy {:?}", rules.select));
    parts.join(", ")
}

fn events(raw: &[EventJson]) -> Vec<ScaleEvent> {
    let event = |e: &EventJson| ScaleEvent {
        change: e.change,
        age_s: e.seconds_ago,
    };
    raw.iter().map(event).collect()
}

fn recommendations(raw: &[RecommendationJson]) -> Vec<Recommendation> {
    let rec = |r: &RecommendationJson| Recommendation {
        replicas: r.replicas,
        age_s: r.seconds_ago,
    };
    raw.iter().map(rec).collect()
}

fn parse<T: DeserializeOwned>(fields: Value) -> Result<T, String> {
    serde_json::from_value(fields).map_err(|e| e.to_string())
}

/// (expected, got), rendered alike so they can be compared and printed.
fn verdict(expected: &dyn Debug, got: &dyn Debug) -> (String, String) {
    (format!("{expected:?}"), format!("{got:?}"))
}

/// The upstream function a line names: `function` up to any parenthesised note, so
/// `stabilizeRecommendation (no spec.behavior; 5m downscale window)` is `stabilizeRecommendation`.
fn function_name(raw: &str) -> &str {
    raw.split(" (").next().unwrap_or(raw).trim()
}

/// Runs one line (provenance already removed from `fields`): (expected, got), or why not run.
fn run(function: &str, fields: Value) -> Result<(String, String), String> {
    match function_name(function) {
        "GetExternalPerPodMetricReplicas" => {
            let c: PerPodCase = parse(fields)?;
            let (current, target) = (c.current_replicas, c.target_milli);
            let got =
                external_per_pod_replicas(current, &c.metric_values_milli, target, c.tolerance);
            Ok(verdict(
                &(c.expected_replicas, c.expected_usage_milli),
                &got,
            ))
        }
        "GetExternalMetricReplicas" => {
            let c: ValueCase = parse(fields)?;
            // Upstream's fixture (buildFakePod) makes `current_replicas` Running pods, each Ready
            // unless `pod_ready` lists it as False.
            let not_ready = |i: i32| c.pod_ready.get(i as usize) == Some(&Ready::False);
            let ready = i32::try_from((0..c.current_replicas).filter(|&i| !not_ready(i)).count());
            let ready = ready.map_err(|e| e.to_string())?;
            let (current, values, tolerance) =
                (c.current_replicas, &c.metric_values_milli, c.tolerance);
            let got = external_value_replicas(current, ready, values, c.target_milli, tolerance);
            Ok(verdict(
                &(c.expected_replicas, c.expected_usage_milli),
                &got,
            ))
        }
        "convertDesiredReplicasWithBehaviorRate" => {
            let c: RateCase = parse(fields)?;
            let up = c.scale_up_rules.get(ScalingRules::default_scale_up())?;
            let down = c.scale_down_rules.get(ScalingRules::default_scale_down())?;
            let (up_events, down_events) = (
                events(&c.recent_scale_up_events),
                events(&c.recent_scale_down_events),
            );
            let (min, max, current) = (c.min_replicas, c.max_replicas, c.current_replicas);
            let desired = c.prenormalized_desired_replicas;
            let (replicas, reason) = rate_limited_replicas(
                min,
                max,
                current,
                desired,
                &up_events,
                &down_events,
                &up,
                &down,
            );
            Ok(verdict(
                &(c.expected_replicas, c.expected_condition.as_str()),
                &(replicas, reason.as_str()),
            ))
        }
        "stabilizeRecommendationWithBehaviors" => {
            let c: BehaviorCase = parse(fields)?;
            let past = recommendations(&c.past_recommendations);
            let (up_window, down_window) = (
                c.scale_up_stabilization_window_s,
                c.scale_down_stabilization_window_s,
            );
            let got = stabilize_with_behaviors(
                c.current_replicas,
                c.prenormalized_desired_replicas,
                &past,
                up_window,
                down_window,
            );
            Ok(verdict(&c.expected_replicas, &got))
        }
        "stabilizeRecommendation" => {
            let c: LegacyCase = parse(fields)?;
            let past = recommendations(&c.past_recommendations);
            let got = stabilize_legacy(
                c.prenormalized_desired_replicas,
                &past,
                c.downscale_stabilization_window_s,
            );
            Ok(verdict(&c.expected_replicas, &got))
        }
        _ => Err(format!("unknown function {function:?}")),
    }
}

/// Parses and runs one line; returns its id, its case name and the outcome.
fn run_line(line: &str) -> (String, String, Result<(String, String), String>) {
    let unnamed = |e: String| ("?".to_string(), "?".to_string(), Err(e));
    let mut fields = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => return unnamed("not a JSON object".into()),
        Err(e) => return unnamed(format!("invalid JSON: {e}")),
    };
    let text = |key: &str| fields.get(key).and_then(Value::as_str).map(str::to_string);
    let (id, case, function) = (text("id"), text("case"), text("function"));
    for key in PROVENANCE.split_whitespace() {
        fields.remove(key);
    }
    let outcome = match (&id, &case, function) {
        (Some(_), Some(_), Some(function)) => run(&function, Value::Object(fields)),
        _ => Err("`id`, `case` and `function` must all be strings".into()),
    };
    let or_unknown = |s: Option<String>| s.unwrap_or_else(|| "?".into());
    (or_unknown(id), or_unknown(case), outcome)
}

#[test]
fn upstream_hpa_cases() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peer-cases/hpa_cases.jsonl");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    assert!(!lines.is_empty(), "{} has no cases", path.display());

    let (mut run_count, mut passed) = (0usize, 0usize);
    let mut failures: Vec<String> = Vec::new();
    let mut ids = HashSet::new();
    for (n, line) in lines.iter().enumerate() {
        let (id, case, outcome) = run_line(line);
        if !ids.insert(id.clone()) {
            failures.push(format!("line {}: duplicate id {id}", n + 1));
        }
        match outcome {
            Ok((expected, got)) => {
                run_count += 1;
                if expected == got {
                    passed += 1;
                } else {
                    failures.push(format!("{id} ({case}): expected {expected}, got {got}"));
                }
            }
            Err(e) => failures.push(format!("line {} {id} ({case}): not run: {e}", n + 1)),
        }
    }

    eprintln!(
        "hpa_cases: {passed} of {} lines passed ({run_count} run)",
        lines.len()
    );
    assert!(
        failures.is_empty(),
        "{} HPA case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        run_count,
        lines.len(),
        "every line of {} must run",
        path.display()
    );
}
