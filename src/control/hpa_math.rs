//! The Kubernetes Horizontal Pod Autoscaler's replica arithmetic, reproduced from upstream.
//!
//! The HPA baseline (an HPA fed by a KEDA SQS external metric) must decide exactly as the real
//! controller does, so this module re-implements the arithmetic of kubernetes
//! `pkg/controller/podautoscaler/replica_calculator.go` (external metrics, `Value` and
//! `AverageValue` targets), `horizontal.go` (stabilization windows and `spec.behavior` rate limits)
//! and the default behavior of `pkg/apis/autoscaling/v2/defaults.go`. It is checked against the
//! upstream test vectors in `tests/hpa_cases.rs`.
//!
//! Everything is a pure function of its inputs: no clock, no I/O, std only. Times are ages in
//! seconds (how long ago). Upstream compares timestamps with `time.Time.After`/`Before` against a
//! cutoff of `now - window`; with ages that becomes `age < window` (After) and `age > window`
//! (Before), kept exactly as upstream uses them per function.
//!
//! Where Go would silently wrap an integer or convert an out-of-range float with
//! implementation-defined results (inputs the API server rejects, such as non-positive targets),
//! this module saturates instead; it never panics.

/// Ratio band inside which the HPA keeps the current replica count (upstream `Tolerances`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Allowed relative shortfall below the target before scaling down.
    pub scale_down: f64,
    /// Allowed relative excess above the target before scaling up.
    pub scale_up: f64,
}

impl Default for Tolerance {
    /// The controller's default `--horizontal-pod-autoscaler-tolerance` of 0.1 both ways.
    fn default() -> Self {
        Self {
            scale_down: 0.1,
            scale_up: 0.1,
        }
    }
}

impl Tolerance {
    /// `Tolerances.isWithin`: `1 - scale_down <= ratio <= 1 + scale_up`, inclusive (NaN is outside).
    pub fn is_within(&self, ratio: f64) -> bool {
        (1.0 - self.scale_down) <= ratio && ratio <= (1.0 + self.scale_up)
    }
}

/// `float64(math.MaxInt32)`, the bound upstream checks before converting a replica count.
const MAX_REPLICAS_F64: f64 = i32::MAX as f64;

/// Replica count from a float as upstream does it: cap at `i32::MAX` first, then `int32(ceil(x))`.
fn capped_ceil(x: f64) -> i32 {
    if x > MAX_REPLICAS_F64 {
        i32::MAX
    } else {
        // `as` saturates (NaN -> 0); Go's conversion of such values is implementation-defined.
        x.ceil() as i32
    }
}

/// The usage sum of `GetExternalPerPodMetricReplicas`: a running sum that overflows, or is
/// negative at any step (upstream's overflow test is `usage < 0`), becomes `i64::MAX`.
fn per_pod_usage_sum(values: &[i64]) -> i64 {
    let mut usage: i64 = 0;
    for &v in values {
        match usage.checked_add(v) {
            Some(sum) if sum >= 0 => usage = sum,
            _ => return i64::MAX,
        }
    }
    usage
}

/// The usage sum of `GetExternalMetricReplicas`: capped at `i64::MAX` when a positive sample would
/// overflow. Negative underflow (which Go would wrap) saturates at `i64::MIN`.
fn value_usage_sum(values: &[i64]) -> i64 {
    let mut usage: i64 = 0;
    for &v in values {
        if v > 0 && usage > i64::MAX - v {
            return i64::MAX;
        }
        usage = usage.saturating_add(v);
    }
    usage
}

/// `getPerPodUsage`: `i64::MAX` once the total reaches it (compared as f64, as upstream does),
/// 0 when there are no status replicas, else `ceil(usage / statusReplicas)`.
fn per_pod_usage(usage: i64, status_replicas: i32) -> i64 {
    if usage as f64 >= i64::MAX as f64 {
        return i64::MAX;
    }
    if status_replicas == 0 {
        return 0;
    }
    (usage as f64 / f64::from(status_replicas)).ceil() as i64
}

/// AverageValue external metric (KEDA's default): returns (replicas, usage_milli)
///
/// Upstream `GetExternalPerPodMetricReplicas`: the tolerance is tested on
/// `sum / (target * current_replicas)` (readiness is ignored); outside it, replicas =
/// `ceil(sum / target)` capped at `i32::MAX`. The returned usage is the per-pod average
/// (`getPerPodUsage`), 0 when `current_replicas` is 0.
pub fn external_per_pod_replicas(
    current_replicas: i32,
    metric_values_milli: &[i64],
    target_milli: i64,
    tolerance: Tolerance,
) -> (i32, i64) {
    let usage = per_pod_usage_sum(metric_values_milli);
    let target = target_milli as f64;
    let ratio = usage as f64 / (target * f64::from(current_replicas));
    let replicas = if tolerance.is_within(ratio) {
        current_replicas
    } else {
        capped_ceil(usage as f64 / target)
    };
    (replicas, per_pod_usage(usage, current_replicas))
}

/// Value external metric: ratio = sum/target, replicas = ceil(ratio * ready pods); returns (replicas, usage_milli)
///
/// Upstream `GetExternalMetricReplicas` + `getUsageRatioReplicaCount`. `ready_pods` counts the
/// Running and Ready pods. With `current_replicas == 0` the result is `ceil(ratio)` with no
/// tolerance (scale from zero). The returned usage is the (capped) sum of the samples.
pub fn external_value_replicas(
    current_replicas: i32,
    ready_pods: i32,
    metric_values_milli: &[i64],
    target_milli: i64,
    tolerance: Tolerance,
) -> (i32, i64) {
    let usage = value_usage_sum(metric_values_milli);
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

/// One `HPAScalingPolicy`: at most `value` pods or percent of change per `period_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalingPolicy {
    /// Pods or Percent.
    pub kind: PolicyKind,
    /// Number of pods, or percent.
    pub value: i32,
    /// Length of the look-back period in seconds.
    pub period_s: u32,
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
    /// Upstream default scale-up rules: max of (Pods 4 / 15 s, Percent 100 / 15 s), window 0.
    pub fn default_scale_up() -> Self {
        Self {
            select: SelectPolicy::Max,
            stabilization_window_s: 0,
            policies: vec![
                ScalingPolicy {
                    kind: PolicyKind::Pods,
                    value: 4,
                    period_s: 15,
                },
                ScalingPolicy {
                    kind: PolicyKind::Percent,
                    value: 100,
                    period_s: 15,
                },
            ],
        }
    }

    /// Upstream default scale-down rules: Percent 100 / 15 s, Max, window 300 s (defaults.go leaves
    /// the window unset; `maybeInitScaleDownStabilizationWindow` fills in the controller's 5 m default).
    pub fn default_scale_down() -> Self {
        Self {
            select: SelectPolicy::Max,
            stabilization_window_s: 300,
            policies: vec![ScalingPolicy {
                kind: PolicyKind::Percent,
                value: 100,
                period_s: 15,
            }],
        }
    }
}

/// A past scale event: `change` replicas (non-negative, as upstream stores it) `age_s` seconds ago.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleEvent {
    /// Absolute number of replicas added (up events) or removed (down events).
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

/// `getReplicasChangePerPeriod`: the sum of changes strictly younger than `period_s`
/// (upstream keeps events whose timestamp is After `now - period`). Saturating.
pub fn replicas_change_in_period(period_s: u32, events: &[ScaleEvent]) -> i32 {
    let period = f64::from(period_s);
    events
        .iter()
        .filter(|e| e.age_s < period)
        .fold(0i32, |acc, e| acc.saturating_add(e.change))
}

/// Replicas at the start of a policy's period: current − added + removed within the period.
fn period_start_replicas(
    current: i32,
    period_s: u32,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
) -> i32 {
    current
        .saturating_sub(replicas_change_in_period(period_s, up))
        .saturating_add(replicas_change_in_period(period_s, down))
}

/// `calculateScaleUpLimitWithScalingRules`: the highest count the scale-up policies allow now.
/// Percent proposals round up (`ceil`). `Disabled` returns `current`.
pub fn scale_up_limit(
    current: i32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules: &ScalingRules,
) -> i32 {
    let (init, pick): (i32, fn(i32, i32) -> i32) = match rules.select {
        SelectPolicy::Disabled => return current,
        SelectPolicy::Min => (i32::MAX, std::cmp::min),
        SelectPolicy::Max => (i32::MIN, std::cmp::max),
    };
    rules.policies.iter().fold(init, |acc, p| {
        let start = period_start_replicas(current, p.period_s, up_events, down_events);
        let proposed = match p.kind {
            PolicyKind::Pods => start.saturating_add(p.value),
            PolicyKind::Percent => {
                (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32
            }
        };
        pick(acc, proposed)
    })
}

/// `calculateScaleDownLimitWithBehaviors`: the lowest count the scale-down policies allow now.
/// Percent proposals truncate toward zero (Go's `int32(float64)`). `Disabled` returns `current`.
pub fn scale_down_limit(
    current: i32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules: &ScalingRules,
) -> i32 {
    let (init, pick): (i32, fn(i32, i32) -> i32) = match rules.select {
        SelectPolicy::Disabled => return current,
        SelectPolicy::Min => (i32::MIN, std::cmp::max),
        SelectPolicy::Max => (i32::MAX, std::cmp::min),
    };
    rules.policies.iter().fold(init, |acc, p| {
        let start = period_start_replicas(current, p.period_s, up_events, down_events);
        let proposed = match p.kind {
            PolicyKind::Pods => start.saturating_sub(p.value),
            PolicyKind::Percent => (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32,
        };
        pick(acc, proposed)
    })
}

/// convertDesiredReplicasWithBehaviorRate
///
/// Clamps `desired` by the scale-up/scale-down rate limits and by `min_replicas`/`max_replicas`,
/// exactly as upstream: when scaling up only the maximum applies, when scaling down only the
/// minimum, and `desired == current` is returned as is. A rate limit never pushes past `current`.
// The eight arguments are the upstream `NormalizationArg` plus the two event logs.
#[allow(clippy::too_many_arguments)]
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
    if desired > current {
        let limit = scale_up_limit(current, scale_up_events, scale_down_events, up).max(current);
        let (allowed, reason) = if max_replicas > limit {
            (limit, LimitReason::ScaleUpLimit)
        } else {
            (max_replicas, LimitReason::TooManyReplicas)
        };
        if desired > allowed {
            return (allowed, reason);
        }
    } else if desired < current {
        let limit =
            scale_down_limit(current, scale_up_events, scale_down_events, down).min(current);
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

/// `convertDesiredReplicasWithRules` (no `spec.behavior`): clamp to `[min, max]` with the fixed
/// scale-up limit `max(2 * current, 4)` of `calculateScaleUpLimit`; the minimum is checked first.
pub fn legacy_limited_replicas(
    min_replicas: i32,
    max_replicas: i32,
    current: i32,
    desired: i32,
) -> (i32, LimitReason) {
    let scale_up_limit = (2.0 * f64::from(current)).max(4.0) as i32;
    let (maximum, reason) = if max_replicas > scale_up_limit {
        (scale_up_limit, LimitReason::ScaleUpLimit)
    } else {
        (max_replicas, LimitReason::TooManyReplicas)
    };
    if desired < min_replicas {
        (min_replicas, LimitReason::TooFewReplicas)
    } else if desired > maximum {
        (maximum, reason)
    } else {
        (desired, LimitReason::DesiredWithinRange)
    }
}

/// stabilizeRecommendationWithBehaviors (only the replica result)
///
/// The scale-up bound is the minimum of `prenormalized` and the recommendations younger than
/// `up_window_s`; the scale-down bound the maximum of those younger than `down_window_s` (strict:
/// upstream keeps timestamps After the cutoff). The result is `current` clamped into them.
pub fn stabilize_with_behaviors(
    current: i32,
    prenormalized: i32,
    past: &[Recommendation],
    up_window_s: u32,
    down_window_s: u32,
) -> i32 {
    let (up_window, down_window) = (f64::from(up_window_s), f64::from(down_window_s));
    let mut up_bound = prenormalized;
    let mut down_bound = prenormalized;
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
/// The maximum of `prenormalized` and every recommendation not older than the window: upstream
/// drops only samples Before `now - window`, so an age equal to the window still counts.
pub fn stabilize_legacy(
    prenormalized: i32,
    past: &[Recommendation],
    downscale_window_s: u32,
) -> i32 {
    let window = f64::from(downscale_window_s);
    past.iter()
        .filter(|rec| rec.age_s <= window)
        .fold(prenormalized, |acc, rec| acc.max(rec.replicas))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: Tolerance = Tolerance {
        scale_down: 0.1,
        scale_up: 0.1,
    };

    #[test]
    fn tolerance_band_is_inclusive() {
        assert!(TOL.is_within(1.0 - 0.1) && TOL.is_within(1.0 + 0.1));
        assert!(!TOL.is_within(1.2) && !TOL.is_within(0.8) && !TOL.is_within(f64::NAN));
    }

    #[test]
    fn per_pod_sum_saturates_and_never_panics() {
        assert_eq!(
            external_per_pod_replicas(2, &[i64::MAX, i64::MAX], 1, TOL),
            (i32::MAX, i64::MAX)
        );
        // A negative running sum is treated as overflow, as upstream does.
        assert_eq!(per_pod_usage_sum(&[5, -10, 3]), i64::MAX);
        // Invalid targets (the API rejects them) still return without panicking.
        assert_eq!(external_per_pod_replicas(3, &[0], 0, TOL), (0, 0));
        assert_eq!(external_per_pod_replicas(3, &[10], 0, TOL).0, i32::MAX);
    }

    #[test]
    fn value_sum_caps_and_scale_from_zero_ignores_tolerance() {
        assert_eq!(value_usage_sum(&[i64::MAX, 1, -5]), i64::MAX);
        assert_eq!(value_usage_sum(&[i64::MIN, -1]), i64::MIN);
        // current 0: ceil(1050/1000) = 2 although 1.05 is within the tolerance band.
        assert_eq!(external_value_replicas(0, 0, &[1050], 1000, TOL), (2, 1050));
        assert_eq!(
            external_value_replicas(0, 0, &[i64::MAX], 1, TOL).0,
            i32::MAX
        );
        assert_eq!(
            external_value_replicas(3, 3, &[i64::MAX], 1, TOL).0,
            i32::MAX
        );
    }

    #[test]
    fn rate_limits_saturate_on_extreme_events() {
        let up = ScalingRules::default_scale_up();
        let down = ScalingRules::default_scale_down();
        let huge = [
            ScaleEvent {
                change: i32::MAX,
                age_s: 1.0,
            },
            ScaleEvent {
                change: i32::MAX,
                age_s: 2.0,
            },
        ];
        assert_eq!(replicas_change_in_period(15, &huge), i32::MAX);
        assert_eq!(
            rate_limited_replicas(1, i32::MAX, i32::MAX - 1, i32::MAX, &[], &huge, &up, &down).0,
            i32::MAX
        );
        let half = ScalingRules {
            select: SelectPolicy::Max,
            stabilization_window_s: 0,
            policies: vec![ScalingPolicy {
                kind: PolicyKind::Percent,
                value: 50,
                period_s: 15,
            }],
        };
        // Period start saturates at i32::MAX; the limit is then held at current.
        assert_eq!(
            rate_limited_replicas(0, 10, 5, 0, &[], &huge, &up, &half),
            (5, LimitReason::ScaleDownLimit)
        );
    }

    #[test]
    fn event_window_is_strict_and_percent_rounding_differs_by_direction() {
        let rules = |kind, value| ScalingRules {
            select: SelectPolicy::Max,
            stabilization_window_s: 0,
            policies: vec![ScalingPolicy {
                kind,
                value,
                period_s: 60,
            }],
        };
        let at_boundary = [ScaleEvent {
            change: 5,
            age_s: 60.0,
        }];
        assert_eq!(replicas_change_in_period(60, &at_boundary), 0);
        // 3 * 1.5 = 4.5: scale-up ceils to 5, scale-down (3 * 0.5 = 1.5) truncates to 1.
        assert_eq!(
            scale_up_limit(3, &[], &[], &rules(PolicyKind::Percent, 50)),
            5
        );
        assert_eq!(
            scale_down_limit(3, &[], &[], &rules(PolicyKind::Percent, 50)),
            1
        );
        let disabled = ScalingRules {
            select: SelectPolicy::Disabled,
            ..rules(PolicyKind::Pods, 9)
        };
        assert_eq!(
            rate_limited_replicas(1, 100, 7, 50, &[], &[], &disabled, &disabled),
            (7, LimitReason::ScaleUpLimit)
        );
    }

    #[test]
    fn stabilization_window_boundaries() {
        let past = [Recommendation {
            replicas: 9,
            age_s: 300.0,
        }];
        assert_eq!(stabilize_legacy(3, &past, 300), 9);
        assert_eq!(stabilize_with_behaviors(10, 3, &past, 0, 300), 3);
    }

    #[test]
    fn legacy_limits() {
        assert_eq!(
            legacy_limited_replicas(1, 100, 1, 50),
            (4, LimitReason::ScaleUpLimit)
        );
        assert_eq!(
            legacy_limited_replicas(1, 100, 10, 50),
            (20, LimitReason::ScaleUpLimit)
        );
        assert_eq!(
            legacy_limited_replicas(1, 15, 10, 50),
            (15, LimitReason::TooManyReplicas)
        );
        assert_eq!(
            legacy_limited_replicas(2, 15, 10, 1),
            (2, LimitReason::TooFewReplicas)
        );
        assert_eq!(
            legacy_limited_replicas(2, 15, 10, 7),
            (7, LimitReason::DesiredWithinRange)
        );
    }
}
