//! What `decide` remembers from one tick to the next.
//!
//! `decide` is pure: it receives the previous memory and returns the next one inside its
//! [`Step`](super::Step). Everything here is bounded in size, serializable (the service saves it
//! after every decision with `--state-file` and [`ControlMemory::resumed`] picks it up after a
//! restart; without one a restart starts from `Default` and relearns), and derived only from
//! observations.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::Timestamp;

use super::batch::memory::BatchMemory;
use super::ledger::Ledger;
pub use super::profile::{PROFILE_SLOTS, TimeOfDayProfile};
use super::strategy::idle_timer::IdleTimer;

/// How many recent boot durations the estimator keeps.
const BOOT_SAMPLES: usize = 32;
/// How many demand samples the trend keeps.
const DEMAND_SAMPLES: usize = 512;

/// State carried between `decide` calls.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ControlMemory {
    /// Number of decisions taken so far.
    pub ticks: u64,
    /// Recent launch-to-ready durations, seconds, newest last.
    pub boot_samples: VecDeque<f64>,
    /// Recent (time, demand) samples, newest last; demand in workers is busy plus the waiting
    /// jobs' work ([`super::strategy::spillway::demand_sample`]).
    pub demand: VecDeque<(Timestamp, f64)>,
    /// Jobs that were waiting beyond idle and booting workers at the previous tick: a queue
    /// still unserved a tick later is persistent, not a spike.
    #[serde(default)]
    pub unserved_last: f64,
    /// Jobs finished per second, smoothed; `None` until completions are reported.
    #[serde(default)]
    pub throughput: Option<f64>,
    /// The learned growth reserve and when it was computed (refreshed every few minutes).
    #[serde(default)]
    pub reserve: Option<(Timestamp, f64)>,
    /// When the previous observation was decided on.
    #[serde(default)]
    pub last_tick: Option<Timestamp>,
    /// Since when capacity has exceeded the band, and the smallest surplus seen since then.
    pub surplus: Option<Surplus>,
    /// Mean demand per time-of-day slot, learned across days.
    pub profile: TimeOfDayProfile,
    /// Launches over the last hour and EC2 dollars over the last day, for the runaway guards.
    #[serde(default)]
    pub ledger: Ledger,
    /// The running batch (backfill), if any.
    #[serde(default)]
    pub batch: BatchMemory,
    /// State of the HPA baseline.
    pub hpa: HpaMemory,
    /// State of the target-tracking baseline.
    pub target_tracking: TargetTrackingMemory,
    /// Headroom the measured waits added to the policy's ratio (`target.wait_feedback`), as a
    /// share of demand: from minus the ratio to [`MAX_WAIT_EXTRA`].
    #[serde(default)]
    pub wait_extra: f64,
    /// With `control.launch_interval`: when the last full tick was.
    #[serde(default)]
    pub last_full_tick: Option<Timestamp>,
    /// Jobs completed on the launch-only ticks since it (`None` once one of them could not
    /// tell): the next full tick learns the throughput from them.
    #[serde(default)]
    pub completed_between: Option<u64>,
    /// The 90th percentile of `boot_samples`, kept by [`Self::record_boot`] (boots are rare,
    /// ticks are not). Never saved: a loaded memory selects it again.
    #[serde(skip)]
    pub boot_p90: BootP90,
    /// With job classes: each class's own memory, in the policy's class order (the ledger
    /// is this one's, shared by all of them; theirs is only lent for the tick).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ControlMemory>,
    /// The break-even idle timer: how long a worker may idle, as learned, and the cut being
    /// judged.
    #[serde(default)]
    pub idle_timer: IdleTimer,
}

/// A figure derived from `boot_samples`: not part of the memory's state, so two memories
/// that hold the same samples are equal whether or not either has it yet.
/// Only `record_boot` sets it (public so that a memory can be built field by field).
#[derive(Debug, Clone, Copy, Default)]
pub struct BootP90(Option<f64>);

impl PartialEq for BootP90 {
    fn eq(&self, _: &BootP90) -> bool {
        true
    }
}

/// The most headroom the measured wait may add, as a share of demand.
pub const MAX_WAIT_EXTRA: f64 = 1.0;

/// A surplus being timed for scale-in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Surplus {
    pub since: Timestamp,
    /// The smallest surplus (workers) seen since `since`: what is safe to remove.
    pub min: u32,
}

/// The HPA's recommendation and scale-event history (as upstream keeps per HPA object).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HpaMemory {
    pub recommendations: VecDeque<(Timestamp, i32)>,
    pub scale_up_events: VecDeque<(Timestamp, i32)>,
    pub scale_down_events: VecDeque<(Timestamp, i32)>,
}

/// The target-tracking alarms' state: one datapoint per minute.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TargetTrackingMemory {
    pub last_datapoint: Option<Timestamp>,
    /// Consecutive datapoints above target.
    pub high_streak: u32,
    /// Consecutive datapoints below 90% of target.
    pub low_streak: u32,
}

impl ControlMemory {
    /// This memory as a restarted service resumes it: what was learned (boot times, throughput,
    /// demand history, the time-of-day profile) and what the caps must not forget (the
    /// launches-per-hour and daily-spend ledger, the batch's start and spend) carry over; timers
    /// and per-tick state restart, so a surplus timed before the restart scales nothing in, and
    /// the time the service was down is not billed to the ledger as if the fleet had been
    /// observed. The baselines' state restarts too, as upstream controllers' does.
    pub fn resumed(mut self) -> ControlMemory {
        self.unserved_last = 0.0;
        self.reserve = None;
        self.last_tick = None;
        self.last_full_tick = None;
        self.completed_between = None;
        self.surplus = None;
        self.batch.last = None;
        self.batch.lower = None;
        self.hpa = HpaMemory::default();
        self.target_tracking = TargetTrackingMemory::default();
        self.classes = self.classes.into_iter().map(Self::resumed).collect();
        self
    }

    /// Remembers a completed boot.
    pub fn record_boot(&mut self, d: Duration) {
        if self.boot_samples.len() == BOOT_SAMPLES {
            self.boot_samples.pop_front();
        }
        self.boot_samples.push_back(d.as_secs_f64());
        self.boot_p90 = BootP90(self.select_boot_p90());
    }

    /// The boot time to plan with: the 90th percentile of recent boots once there are at
    /// least three, otherwise the policy's estimate.
    pub fn boot_estimate(&self, configured: Duration) -> Duration {
        let Some(p90) = self.boot_p90.0.or_else(|| self.select_boot_p90()) else {
            return configured;
        };
        // Total: a value no boot can take (negative, not a number, beyond any range) plans with
        // the configured boot time instead of panicking.
        Duration::try_from_secs_f64(p90).unwrap_or(configured)
    }

    /// The 90th percentile of the recent boots, once there are three.
    fn select_boot_p90(&self) -> Option<f64> {
        if self.boot_samples.len() < 3 {
            return None;
        }
        // At most BOOT_SAMPLES values: select on the stack, no allocation.
        let mut buf = [0.0f64; BOOT_SAMPLES];
        let n = self.boot_samples.len().min(BOOT_SAMPLES);
        for (slot, v) in buf.iter_mut().zip(&self.boot_samples) {
            *slot = *v;
        }
        let v = &mut buf[..n];
        let idx = ((n as f64 * 0.9).ceil() as usize).clamp(1, n) - 1;
        let (_, p90, _) = v.select_nth_unstable_by(idx, f64::total_cmp);
        Some(*p90)
    }

    /// Every value out of the range `decide` could have produced, as `field: problem`: a state
    /// file edited by hand, corrupted or forged is refused with them, never acted on.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |field: &str, v: f64, max: f64| {
            if !(v.is_finite() && (0.0..=max).contains(&v)) {
                out.push(format!("{field}: {v} is outside 0..={max}"));
            }
        };
        for v in &self.boot_samples {
            check("memory.boot_samples", *v, 86_400.0);
        }
        for (_, v) in &self.demand {
            check("memory.demand", *v, 1e7);
        }
        check("memory.unserved_last", self.unserved_last, 1e9);
        // Down to minus the largest ratio a policy may set.
        check(
            "memory.wait_extra",
            self.wait_extra + 10.0,
            MAX_WAIT_EXTRA + 10.0,
        );
        if let Some(v) = self.throughput {
            check("memory.throughput", v, 1e6);
        }
        if let Some((_, v)) = self.reserve {
            check("memory.reserve", v, 1e7);
        }
        for v in self.profile.slots.iter().flatten() {
            check("memory.profile.slots", *v, 1e7);
        }
        if let Some((_, sum, _)) = self.profile.current {
            check("memory.profile.current", sum, 1e12);
        }
        for (_, usd) in &self.ledger.spend {
            check("memory.ledger.spend", *usd, 1e9);
        }
        check("memory.batch.spent_usd", self.batch.spent_usd, 1e9);
        if let Some(after) = self.idle_timer.after {
            check(
                "memory.idle_timer.after",
                after.as_secs_f64(),
                super::strategy::idle_timer::MAX_TIMER.as_secs_f64(),
            );
        }
        if let Some(v) = self.batch.rate_per_worker {
            check("memory.batch.rate_per_worker", v, 1e6);
        }
        if self.boot_samples.len() > BOOT_SAMPLES || self.demand.len() > DEMAND_SAMPLES {
            out.push("memory: more samples than are ever kept".into());
        }
        if self.profile.slots.len() != PROFILE_SLOTS {
            out.push(format!(
                "memory.profile.slots: {} slots, not {PROFILE_SLOTS}",
                self.profile.slots.len()
            ));
        }
        out
    }

    /// Remembers the demand at `now`.
    pub fn record_demand(&mut self, now: Timestamp, demand: f64) {
        if self.demand.len() == DEMAND_SAMPLES {
            self.demand.pop_front();
        }
        self.demand.push_back((now, demand));
        self.profile.record(now, demand);
    }

    /// Notes `count` launches decided at `now` (on any tick): in the ledger the runaway guards
    /// read, and for the idle timer, which judges a cut premature when a launch follows it.
    pub fn record_launches(&mut self, now: Timestamp, count: u32) {
        self.ledger.record_launches(now, count);
        self.idle_timer.note_launches(count);
    }

    /// Folds `completed` jobs since the previous tick into the smoothed throughput.
    pub fn record_completions(&mut self, now: Timestamp, completed: Option<u64>) {
        if let (Some(done), Some(last)) = (completed, self.last_tick) {
            let dt = now.since(last).as_secs_f64();
            if dt > 0.0 {
                let rate = done as f64 / dt;
                self.throughput = Some(match self.throughput {
                    Some(old) => 0.8 * old + 0.2 * rate,
                    None => rate,
                });
            }
        }
        self.last_tick = Some(now);
    }

    /// The `q` quantile of demand growth over `span` (later sample minus earlier one, taken
    /// over every pair of samples `span` apart within the last `history`), or `None` with too
    /// little history. Growth that can happen within a boot time is what idle workers must
    /// absorb, since no launch can arrive sooner.
    pub fn demand_growth(
        &self,
        now: Timestamp,
        span: Duration,
        history: Duration,
        q: f64,
    ) -> Option<f64> {
        let from = now.minus(history);
        let start = self.demand.partition_point(|(t, _)| *t < from);
        let pts = &self.demand;
        let mut growth = Vec::with_capacity(pts.len() - start);
        let mut j = start;
        for i in start..pts.len() {
            let target = pts[i].0.plus(span);
            while j < pts.len() && pts[j].0 < target {
                j += 1;
            }
            if j == pts.len() {
                break;
            }
            growth.push(pts[j].1 - pts[i].1);
        }
        if growth.len() < 8 {
            return None;
        }
        // The quantile's value is the same whether the list is sorted or only selected.
        let idx = ((growth.len() as f64 * q).ceil() as usize).clamp(1, growth.len()) - 1;
        let (_, at, _) = growth.select_nth_unstable_by(idx, f64::total_cmp);
        Some(at.max(0.0))
    }

    /// The demand samples at or after `from`, oldest first. Samples are in time order, so this
    /// starts at a binary search instead of scanning the whole history (it runs every tick).
    fn since(&self, from: Timestamp) -> impl Iterator<Item = &(Timestamp, f64)> {
        let start = self.demand.partition_point(|(t, _)| *t < from);
        self.demand.range(start..)
    }

    /// Mean of the demand samples newer than `span` (`None` without samples).
    pub fn mean_demand(&self, now: Timestamp, span: Duration) -> Option<f64> {
        let from = now.minus(span);
        let (n, sum) = self
            .since(from)
            .fold((0usize, 0.0), |(n, s), (_, d)| (n + 1, s + d));
        (n > 0).then(|| sum / n as f64)
    }

    /// Largest demand sample newer than `span` (`None` without samples).
    pub fn max_demand(&self, now: Timestamp, span: Duration) -> Option<f64> {
        self.since(now.minus(span))
            .map(|(_, d)| *d)
            .max_by(f64::total_cmp)
    }

    /// Least-squares slope of demand (jobs per second) over the samples newer than `span`.
    pub fn demand_slope(&self, now: Timestamp, span: Duration) -> f64 {
        let from = now.minus(span);
        let pts = self.since(from);
        let (mut n, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (t, y) in pts {
            let x = t.since(from).as_secs_f64();
            n += 1.0;
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
        }
        let denom = n * sxx - sx * sx;
        if n < 3.0 || denom.abs() < 1e-9 {
            return 0.0;
        }
        (n * sxy - sx * sy) / denom
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_estimate_uses_p90_of_recent_boots() {
        let mut m = ControlMemory::default();
        let configured = Duration::from_secs(180);
        m.record_boot(Duration::from_secs(100));
        assert_eq!(m.boot_estimate(configured), configured, "two few samples");
        for s in [110, 120, 130, 140, 150, 160, 170, 180, 400] {
            m.record_boot(Duration::from_secs(s));
        }
        assert_eq!(m.boot_estimate(configured), Duration::from_secs(180));
    }

    #[test]
    fn slope_of_a_rising_line() {
        let mut m = ControlMemory::default();
        for i in 0..10 {
            m.record_demand(Timestamp::from_millis(i * 60_000), 10.0 + 2.0 * i as f64);
        }
        let s = m.demand_slope(Timestamp::from_millis(9 * 60_000), Duration::from_secs(600));
        assert!((s - 2.0 / 60.0).abs() < 1e-9, "{s}");
    }
}
