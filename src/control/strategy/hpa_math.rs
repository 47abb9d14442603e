//! The Kubernetes Horizontal Pod Autoscaler's replica arithmetic, reproduced from upstream.
//!
//! For the HPA baseline (an HPA fed by a KEDA SQS metric): kubernetes `replica_calculator.go`
//! (external metrics) and `horizontal.go` (stabilization, `spec.behavior` rate limits) of
//! `pkg/controller/podautoscaler`, with the defaults of `pkg/apis/autoscaling/v2/defaults.go`.
//! Pure functions, std only, no clock: times are ages in seconds, so upstream's
//! `After(now - window)` is `age < window` and "not `Before(now - window)`" is `age <= window`.
//! Where Go would wrap an integer or convert an out-of-range float in an implementation-defined
//! way (inputs the API rejects, e.g. a target of 0), this saturates; it never panics.

/// Ratio band inside which the HPA keeps the current replica count (upstream `Tolerances`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Allowed relative shortfall below the target before scaling down.
    pub scale_down: f64,
    /// Allowed relative excess above the target before scaling up.
    pub scale_up: f64,
}

impl Default for Tolerance {
    /// The controller's default `--horizontal-pod-autoscaler-tolerance`, 0.1 both ways.
    fn default() -> Self {
        Self {
            scale_down: 0.1,
            scale_up: 0.1,
        }
    }
}

impl Tolerance {
    /// `Tolerances.isWithin`: `1 - scale_down <= ratio <= 1 + scale_up` (inclusive; NaN is not).
    pub fn is_within(&self, ratio: f64) -> bool {
        (1.0 - self.scale_down) <= ratio && ratio <= (1.0 + self.scale_up)
    }
}

/// `float64(math.MaxInt32)`, above which upstream returns `MaxInt32` replicas.
const CAP: f64 = i32::MAX as f64;

/// Upstream's capped `int32(math.Ceil(x))`; `as` saturates what Go leaves undefined (NaN -> 0).
fn capped_ceil(x: f64) -> i32 {
    if x > CAP { i32::MAX } else { x.ceil() as i32 }
}

/// AverageValue external metric (KEDA's default): returns (replicas, usage_milli)
///
/// `GetExternalPerPodMetricReplicas`: a running sum that overflows or goes negative (upstream's
/// overflow test) becomes `i64::MAX`. Tolerance is tested on `sum / (target * current)`, readiness
/// ignored; outside it, replicas = `ceil(sum / target)`. Usage is `getPerPodUsage`: `i64::MAX` once
/// the sum reaches it (as f64), 0 when `current_replicas` is 0, else `ceil(sum / current)`.
pub fn external_per_pod_replicas(
    current_replicas: i32,
    metric_values_milli: &[i64],
    target_milli: i64,
    tolerance: Tolerance,
) -> (i32, i64) {
    let add = |acc: i64, &v: &i64| acc.checked_add(v).filter(|sum| *sum >= 0);
    let usage = metric_values_milli.iter().try_fold(0, add);
    let (sum, target) = (usage.unwrap_or(i64::MAX) as f64, target_milli as f64);
    let current = f64::from(current_replicas);
    let replicas = if tolerance.is_within(sum / (target * current)) {
        current_replicas
    } else {
        capped_ceil(sum / target)
    };
    let per_pod = if sum >= i64::MAX as f64 {
        i64::MAX
    } else if current_replicas == 0 {
        0
    } else {
        (sum / current).ceil() as i64
    };
    (replicas, per_pod)
}

/// Value external metric: ratio = sum/target, replicas = ceil(ratio * ready pods); returns (replicas, usage_milli)
///
/// `GetExternalMetricReplicas` + `getUsageRatioReplicaCount`. The sum caps at `i64::MAX` (Go would
/// wrap a negative underflow; it saturates here); `ready_pods` counts Running and Ready pods.
/// `current_replicas == 0` gives `ceil(ratio)` with no tolerance. Usage is the sum.
pub fn external_value_replicas(
    current_replicas: i32,
    ready_pods: i32,
    metric_values_milli: &[i64],
    target_milli: i64,
    tolerance: Tolerance,
) -> (i32, i64) {
    let add = |acc: i64, &v: &i64| (v <= 0 || acc <= i64::MAX - v).then(|| acc.saturating_add(v));
    let usage = metric_values_milli.iter().try_fold(0, add);
    let usage = usage.unwrap_or(i64::MAX);
    let ratio = usage as f64 / target_milli as f64;
    let replicas = if current_replicas == 0 {
        ratio.ceil() as i32
    } else if tolerance.is_within(ratio) {
        current_replicas
    } else {
        capped_ceil(ratio * f64::from(ready_pods))
    };
    (replicas, usage)
}

/// How a scaling policy's `value` is read (upstream `HPAScalingPolicyType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// An absolute number of pods per period.
    Pods,
    /// A percentage of the replica count at the start of the period.
    Percent,
}

/// One `HPAScalingPolicy`: at most `value` pods (or percent) of change per `period_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalingPolicy {
    /// Pods or Percent.
    pub kind: PolicyKind,
    /// Number of pods, or percent.
    pub value: i32,
    /// Look-back period in seconds.
    pub period_s: u32,
}

impl ScalingPolicy {
    /// A policy of `kind` allowing `value` per `period_s` seconds.
    pub const fn new(kind: PolicyKind, value: i32, period_s: u32) -> Self {
        Self {
            kind,
            value,
            period_s,
        }
    }
}

/// Which policy wins when there are several (upstream `ScalingPolicySelect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectPolicy {
    /// The policy allowing the largest change.
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// One direction of `spec.behavior` (upstream `HPAScalingRules`), fully defaulted.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingRules {
    /// How to pick among the policies.
    pub select: SelectPolicy,
    /// Stabilization window in seconds.
    pub stabilization_window_s: u32,
    /// The rate-limit policies.
    pub policies: Vec<ScalingPolicy>,
}

impl ScalingRules {
    /// Upstream default scale-up rules: Max of (Pods 4 / 15 s, Percent 100 / 15 s), window 0.
    pub fn default_scale_up() -> Self {
        let pods = ScalingPolicy::new(PolicyKind::Pods, 4, 15);
        let percent = ScalingPolicy::new(PolicyKind::Percent, 100, 15);
        let policies = vec![pods, percent];
        Self {
            select: SelectPolicy::Max,
            stabilization_window_s: 0,
            policies,
        }
    }

    /// Upstream default scale-down rules: Percent 100 / 15 s, Max, window 300 s (defaults.go
    /// leaves the window unset; `maybeInitScaleDownStabilizationWindow` fills in the 5 m flag).
    pub fn default_scale_down() -> Self {
        let policies = vec![ScalingPolicy::new(PolicyKind::Percent, 100, 15)];
        Self {
            select: SelectPolicy::Max,
            stabilization_window_s: 300,
            policies,
        }
    }
}

/// A past scale event: `change` replicas (non-negative, as upstream stores it), `age_s` ago.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleEvent {
    /// Number of replicas added (scale-up log) or removed (scale-down log).
    pub change: i32,
    /// Seconds since the event.
    pub age_s: f64,
}

/// A past unstabilized recommendation, `age_s` seconds old.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recommendation {
    /// The recommended replica count.
    pub replicas: i32,
    /// Seconds since it was recorded.
    pub age_s: f64,
}

/// Why the rate-limited count is what it is (the `ScalingLimited` condition reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitReason {
    /// The desired count was used unchanged.
    DesiredWithinRange,
    /// Capped by the scale-up rate.
    ScaleUpLimit,
    /// Capped by `maxReplicas`.
    TooManyReplicas,
    /// Held up by the scale-down rate.
    ScaleDownLimit,
    /// Raised to `minReplicas`.
    TooFewReplicas,
}

impl LimitReason {
    /// The upstream condition reason string, e.g. `"ScaleUpLimit"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::DesiredWithinRange => "DesiredWithinRange",
            Self::ScaleUpLimit => "ScaleUpLimit",
            Self::TooManyReplicas => "TooManyReplicas",
            Self::ScaleDownLimit => "ScaleDownLimit",
            Self::TooFewReplicas => "TooFewReplicas",
        }
    }
}

/// `getReplicasChangePerPeriod`: the (saturating) sum of changes strictly younger than
/// `period_s` (upstream keeps events After `now - period`).
fn change_in_period(period_s: u32, events: &[ScaleEvent]) -> i32 {
    let period = f64::from(period_s);
    let recent = events.iter().filter(|e| e.age_s < period);
    recent.fold(0, |acc, e| acc.saturating_add(e.change))
}

/// `calculateScaleUpLimitWithScalingRules` (`up`) or `calculateScaleDownLimitWithBehaviors`:
/// the furthest count the policies allow, each from its period start `current - added + removed`.
/// Percent rounds up when scaling up and truncates (Go's `int32(float64)`) when scaling down.
fn policy_limit(
    current: i32,
    added: &[ScaleEvent],
    removed: &[ScaleEvent],
    rules: &ScalingRules,
    up: bool,
) -> i32 {
    let (init, pick): (i32, fn(i32, i32) -> i32) = match (rules.select, up) {
        (SelectPolicy::Disabled, _) => return current,
        (SelectPolicy::Max, true) | (SelectPolicy::Min, false) => (i32::MIN, std::cmp::max),
        (SelectPolicy::Min, true) | (SelectPolicy::Max, false) => (i32::MAX, std::cmp::min),
    };
    rules.policies.iter().fold(init, |acc, p| {
        let start = current
            .saturating_sub(change_in_period(p.period_s, added))
            .saturating_add(change_in_period(p.period_s, removed));
        let fraction = f64::from(p.value) / 100.0;
        let proposed = match (p.kind, up) {
            (PolicyKind::Pods, true) => start.saturating_add(p.value),
            (PolicyKind::Pods, false) => start.saturating_sub(p.value),
            (PolicyKind::Percent, true) => (f64::from(start) * (1.0 + fraction)).ceil() as i32,
            (PolicyKind::Percent, false) => (f64::from(start) * (1.0 - fraction)) as i32,
        };
        pick(acc, proposed)
    })
}

/// convertDesiredReplicasWithBehaviorRate
///
/// Clamps `desired` by the rate limits and bounds: scaling up only `max_replicas` applies, scaling
/// down only `min_replicas`; `desired == current` passes; a rate limit never moves past `current`.
#[allow(clippy::too_many_arguments)] // the upstream `NormalizationArg` plus the two event logs
pub fn rate_limited_replicas(
    min_replicas: i32,
    max_replicas: i32,
    current: i32,
    desired: i32,
    scale_up_events: &[ScaleEvent],
    scale_down_events: &[ScaleEvent],
    up: &ScalingRules,
    down: &ScalingRules,
) -> (i32, LimitReason) {
    let (added, removed) = (scale_up_events, scale_down_events);
    if desired > current {
        let limit = policy_limit(current, added, removed, up, true).max(current);
        let (allowed, reason) = if max_replicas > limit {
            (limit, LimitReason::ScaleUpLimit)
        } else {
            (max_replicas, LimitReason::TooManyReplicas)
        };
        if desired > allowed {
            return (allowed, reason);
        }
    } else if desired < current {
        let limit = policy_limit(current, added, removed, down, false).min(current);
        let (allowed, reason) = if min_replicas < limit {
            (limit, LimitReason::ScaleDownLimit)
        } else {
            (min_replicas, LimitReason::TooFewReplicas)
        };
        if desired < allowed {
            return (allowed, reason);
        }
    }
    (desired, LimitReason::DesiredWithinRange)
}

/// stabilizeRecommendationWithBehaviors (only the replica result)
///
/// `current` clamped between the minimum of `prenormalized` and the recommendations younger than
/// `up_window_s` and the maximum of those younger than `down_window_s` (strictly younger: After).
pub fn stabilize_with_behaviors(
    current: i32,
    prenormalized: i32,
    past: &[Recommendation],
    up_window_s: u32,
    down_window_s: u32,
) -> i32 {
    let (up_window, down_window) = (f64::from(up_window_s), f64::from(down_window_s));
    let (mut up_bound, mut down_bound) = (prenormalized, prenormalized);
    for rec in past {
        if rec.age_s < up_window {
            up_bound = up_bound.min(rec.replicas);
        }
        if rec.age_s < down_window {
            down_bound = down_bound.max(rec.replicas);
        }
    }
    current.max(up_bound).min(down_bound)
}

/// stabilizeRecommendation (legacy, no spec.behavior)
///
/// The maximum of `prenormalized` and the recommendations not older than the window (upstream
/// drops only those Before `now - window`, so an age equal to the window counts).
pub fn stabilize_legacy(
    prenormalized: i32,
    past: &[Recommendation],
    downscale_window_s: u32,
) -> i32 {
    let window = f64::from(downscale_window_s);
    let recent = past.iter().filter(|rec| rec.age_s <= window);
    recent.fold(prenormalized, |acc, rec| acc.max(rec.replicas))
}

#[cfg(test)]
mod tests {
    use super::*;
    use LimitReason::*;

    const MAX: i64 = i64::MAX;

    fn rules(select: SelectPolicy, kind: PolicyKind, value: i32) -> ScalingRules {
        let mut rules = ScalingRules::default_scale_up();
        (rules.select, rules.policies) = (select, vec![ScalingPolicy::new(kind, value, 60)]);
        rules
    }

    #[test]
    fn external_metrics_saturate_and_never_panic() {
        let t = Tolerance::default();
        assert!(t.is_within(0.9) && t.is_within(1.1) && !t.is_within(f64::NAN));
        let per_pod = |n, samples: &[i64], target| external_per_pod_replicas(n, samples, target, t);
        assert_eq!(per_pod(2, &[MAX, MAX], 1), (i32::MAX, MAX));
        assert_eq!(per_pod(1, &[5, -10, 3], 1), (i32::MAX, MAX)); // upstream: sum < 0 is overflow
        assert_eq!(per_pod(3, &[0], 0), (0, 0)); // a target of 0 (the API rejects it) must not panic
        let value = |n, samples: &[i64]| external_value_replicas(n, n, samples, 1, t);
        assert_eq!(value(3, &[MAX, 1, -5]), (i32::MAX, MAX));
        assert_eq!(value(3, &[i64::MIN, -1]), (i32::MIN, i64::MIN));
        assert_eq!(value(0, &[MAX]), (i32::MAX, MAX));
        assert_eq!(value(0, &[1]), (1, 1)); // from zero, no tolerance: ratio 1 gives 1, not 0
    }

    #[test]
    fn rate_limit_edges() {
        let up = ScalingRules::default_scale_up();
        let at = |change, age_s| ScaleEvent { change, age_s };
        assert_eq!(change_in_period(60, &[at(5, 60.0), at(2, 59.9)]), 2);
        // 3 * 1.5 = 4.5 rounds up when scaling up; 3 * 0.5 = 1.5 truncates when scaling down.
        let half = rules(SelectPolicy::Max, PolicyKind::Percent, 50);
        assert_eq!(policy_limit(3, &[], &[], &half, true), 5);
        assert_eq!(policy_limit(3, &[], &[], &half, false), 1);
        // Huge events saturate the period start; a limit never goes past current.
        let huge = [at(i32::MAX, 1.0); 2];
        let top = rate_limited_replicas(1, i32::MAX, 7, i32::MAX, &[], &huge, &up, &up);
        assert_eq!(top, (i32::MAX, DesiredWithinRange));
        let held = rate_limited_replicas(0, 9, 5, 0, &[], &huge, &up, &half);
        assert_eq!(held, (5, ScaleDownLimit));
        let five = rules(SelectPolicy::Max, PolicyKind::Pods, 5);
        let capped = rate_limited_replicas(1, 999, 100, 500, &[at(9, 20.0)], &[], &five, &up);
        assert_eq!(capped, (100, ScaleUpLimit)); // 91 + 5 is below current: hold at current
        let off = rules(SelectPolicy::Disabled, PolicyKind::Pods, 9);
        let frozen = rate_limited_replicas(1, 99, 7, 50, &[], &[], &off, &off);
        assert_eq!(frozen, (7, ScaleUpLimit));
    }

    #[test]
    fn stabilization_window_boundaries() {
        let rec = |replicas, age_s| Recommendation { replicas, age_s };
        assert_eq!(stabilize_legacy(3, &[rec(9, 300.0)], 300), 9);
        assert_eq!(stabilize_with_behaviors(10, 3, &[rec(9, 300.0)], 0, 300), 3);
        assert_eq!(stabilize_with_behaviors(1, 5, &[rec(1, 300.0)], 300, 0), 5);
    }
}
