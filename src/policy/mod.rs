//! Policies: what capacity to keep, how cautiously, with which pools, within which limits.
//!
//! A policy file is parsed into the raw [`file::PolicyFile`] and then validated into the typed
//! [`Policy`] that the rest of spillway uses. Validation reports every problem at once, each with
//! file, line and field, and nothing downstream ever sees a half-valid policy.

mod baseline_check;
mod budget_check;
mod checker;
mod classes;
pub mod file;
mod live;
mod live_check;
mod pool_check;
mod pools;
mod schema;
mod validate;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use checker::Problem;
pub use classes::Class;
pub use live::{
    Ec2Launch, HeartbeatSettings, LaunchSource, LeaseSettings, Market, QueueClass, QueueSpec,
};
pub use pools::{CommandPool, Ec2Pool, Pool, PoolKind, Scaling};
pub use validate::from_toml_str;

/// Errors from loading a policy. The caller reacts by printing and exiting non-zero.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("{path}: cannot read policy: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid policy; every problem is listed.
    #[error("{}", render_problems(file, problems))]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
}

fn render_problems(file: &str, problems: &[Problem]) -> String {
    let mut out = format!(
        "{file}: {} problem{} in policy",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str(&format!(
            "\n  {file}:{}:{}: {}: {}",
            p.line, p.col, p.field, p.message
        ));
    }
    out
}

/// Reads and validates a policy file.
pub fn load(path: &Path) -> Result<Policy, PolicyError> {
    use std::io::Read;
    // One byte past the bound is enough to refuse a file too large, without reading it all.
    let mut bytes = Vec::new();
    let unreadable = |source| PolicyError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(checker::MAX_POLICY_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(unreadable)?;
    if bytes.len() > checker::MAX_POLICY_BYTES {
        return Err(validate::too_large(&path.display().to_string()));
    }
    let text = String::from_utf8(bytes)
        .map_err(|e| unreadable(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    from_toml_str(&text, &path.display().to_string())
}

/// The policy every command falls back to when none is given: the seed setup of the farm
/// spillway was built for (40 datacenter workers, EC2 bursting up to 200).
pub const EMBEDDED_DEFAULT: &str = include_str!("../../policies/picnik.toml");

/// The embedded default policy, validated.
pub fn embedded_default() -> Policy {
    from_toml_str(EMBEDDED_DEFAULT, "policies/picnik.toml (embedded)")
        .expect("the embedded default policy is checked by tests/policy/policies.rs")
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Name; tags every instance this policy launches.
    pub name: String,
    pub control: Control,
    pub target: Target,
    pub hysteresis: Hysteresis,
    /// Pools in priority order: static datacenter pools are used first; command pools (on-prem
    /// VMs started and stopped by a program) fill before EC2 pools, each kind in the order
    /// written; scale-in runs the other way round ([`Policy::launch_order`]).
    pub pools: Vec<Pool>,
    pub budget: Budget,
    pub batch: BatchRules,
    pub hpa: HpaSettings,
    pub target_tracking: TargetTrackingSettings,
    /// `[[queue]]`: queues the live service observes (empty for simulation-only policies).
    pub queues: Vec<QueueSpec>,
    /// Job classes, when queues name their pools and these fall apart into separate farms
    /// (each sized on its own); empty for one farm (docs/policy.md § Job classes).
    pub classes: Vec<Class>,
    /// `[heartbeat]`: worker reporting for the live service.
    pub heartbeat: Option<HeartbeatSettings>,
    /// `[lease]`: leader election between service replicas; `None` runs a single replica.
    pub lease: Option<LeaseSettings>,
}

/// `[control]`.
#[derive(Debug, Clone)]
pub struct Control {
    /// How often `decide` runs.
    pub interval: Duration,
    /// Queue and worker statistics are averaged over this window.
    pub window: Duration,
    pub strategy: Strategy,
    /// An observation older than this is stale: no scale-in on it.
    pub stale_after: Duration,
    /// At most this many launches per pool per tick.
    pub max_launch_per_tick: u32,
    /// With spillway: a launch-only tick this often between the full ticks of `interval`,
    /// launching for a backlog beyond idle and booting workers (never scaling in). It divides
    /// `interval` into whole ticks.
    pub launch_interval: Option<Duration>,
}

impl Control {
    /// How often the loop ticks: every `launch_interval` when set, else every `interval`.
    pub fn tick_every(&self) -> Duration {
        self.launch_interval.unwrap_or(self.interval)
    }
}

/// The decision strategy.
#[derive(Debug, Clone)]
pub enum Strategy {
    /// spillway's own controller.
    Spillway,
    /// Kubernetes HPA driven by the KEDA SQS metric.
    Hpa,
    /// EC2 Auto Scaling target tracking on backlog per instance.
    TargetTracking,
    /// A fixed fleet: every EC2 and command pool at its `min`.
    Static,
    /// A clairvoyant plan computed from the trace, which the simulator passes in the
    /// observation (`spillway compare` only, never in a policy file).
    Oracle,
}

impl Strategy {
    /// The name used in policy files and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Spillway => "spillway",
            Strategy::Hpa => "hpa",
            Strategy::TargetTracking => "target-tracking",
            Strategy::Static => "static",
            Strategy::Oracle => "oracle",
        }
    }
}

/// `[target]`.
#[derive(Debug, Clone)]
pub struct Target {
    /// Free workers to keep per busy one.
    pub free_busy_ratio: f64,
    /// Free workers to keep at least.
    pub min_free: u32,
    /// The queue wait a job should not exceed, judged at p99.
    pub wait_slo: Duration,
    /// Close the loop on the measured wait (experimental): steer the headroom by the p99 queue
    /// wait of the jobs taken in the window, as workers report it (docs/strategies.md).
    pub wait_feedback: bool,
}

/// `[hysteresis]`.
#[derive(Debug, Clone)]
pub struct Hysteresis {
    /// No action while capacity is within ±band of desired.
    pub band: f64,
    /// A surplus must persist this long before any scale-in.
    pub scale_in_after: Duration,
}

/// `[budget]`.
#[derive(Debug, Clone, Default)]
pub struct Budget {
    /// Upper bound on the summed hourly price of all launched workers (EC2, and command pools
    /// with a `cost_per_hour`).
    pub max_hourly_usd: Option<f64>,
    /// No launch once EC2 has cost this much over the last 24 hours.
    pub max_daily_usd: Option<f64>,
    /// At most this many launches in any hour (a runaway guard).
    pub max_launches_per_hour: Option<u32>,
}

/// `[batch]`: how a backfill may use EC2. With no rule, batch work only uses spare datacenter
/// capacity.
#[derive(Debug, Clone, Default)]
pub struct BatchRules {
    pub deadline: Option<Duration>,
    pub max_ec2: Option<u32>,
    pub max_usd: Option<f64>,
}

/// `[hpa]`: the HPA baseline's knobs, defaults as upstream.
#[derive(Debug, Clone)]
pub struct HpaSettings {
    /// AverageValue target: messages (visible + in flight) per replica (KEDA `queueLength`).
    pub target_per_replica: f64,
    /// Tolerance around a ratio of 1 (upstream 0.1).
    pub tolerance: f64,
    /// Scale-down stabilization window (upstream 300 s).
    pub downscale_stabilization: Duration,
}

/// `[target_tracking]`: the EC2 Auto Scaling target-tracking baseline's knobs.
#[derive(Debug, Clone)]
pub struct TargetTrackingSettings {
    /// Target backlog (visible messages) per in-service instance.
    pub backlog_per_instance: f64,
    /// Instance warm-up: warming instances are left out of the metric but count as capacity.
    pub warmup: Duration,
    /// Consecutive one-minute breaches before scaling out (the alarm's datapoints, AWS: 3).
    pub scale_out_periods: u32,
    /// Consecutive one-minute low datapoints before scaling in (AWS: 15).
    pub scale_in_periods: u32,
}

impl Policy {
    /// Total fixed datacenter workers.
    pub fn static_workers(&self) -> u32 {
        self.pools
            .iter()
            .map(|p| match p.kind {
                PoolKind::Static { workers } => workers,
                PoolKind::Ec2(_) | PoolKind::Command(_) => 0,
            })
            .sum()
    }

    /// The pools spillway scales, in the order it fills them: command pools first (on-prem,
    /// nearly free), then EC2 pools, each kind in policy order. Scale-in takes the reverse.
    pub fn launch_order(&self) -> Vec<usize> {
        let of = |kind: fn(&Pool) -> bool| {
            self.pools
                .iter()
                .enumerate()
                .filter(move |(_, p)| kind(p))
                .map(|(i, _)| i)
        };
        of(|p| p.command().is_some())
            .chain(of(|p| p.ec2().is_some()))
            .collect()
    }

    /// Every pool in the order idle workers take jobs: static, then [`Policy::launch_order`].
    pub fn dispatch_order(&self) -> Vec<usize> {
        let statics = self
            .pools
            .iter()
            .enumerate()
            .filter(|(_, p)| p.scaling().is_none())
            .map(|(i, _)| i);
        statics.chain(self.launch_order()).collect()
    }

    /// Whether pool `index`'s boots feed the boot-time estimate: EC2 pools' (the slowest
    /// capacity, the one a forecast must look ahead for), or command pools' when there is no
    /// EC2 pool.
    pub fn feeds_boot_estimate(&self, index: usize) -> bool {
        let pool = &self.pools[index];
        pool.ec2().is_some() || (pool.command().is_some() && self.first_ec2().is_none())
    }

    /// The configured boot time the boot estimate starts from: the first EC2 pool's, else the
    /// first command pool's, else 3 minutes.
    pub fn boot_reference(&self) -> Duration {
        let first = |kind: fn(&Pool) -> bool| {
            self.pools
                .iter()
                .find(|p| kind(p))
                .and_then(Pool::scaling)
                .map(|s| s.boot_time)
        };
        first(|p| p.ec2().is_some())
            .or_else(|| first(|p| p.command().is_some()))
            .unwrap_or(Duration::from_secs(180))
    }

    /// How long a worker may be silent before it is lost (`heartbeat.lost_after`, 60 s without
    /// a `[heartbeat]` section).
    pub fn lost_after(&self) -> Duration {
        self.heartbeat
            .as_ref()
            .map_or(Duration::from_secs(60), |h| h.lost_after)
    }

    /// How long a service that has just started, or just become the leader, learns the fleet
    /// before it judges a worker it has not heard from (`heartbeat.learn_for`, by default
    /// [`Policy::lost_after`]).
    pub fn learn_for(&self) -> Duration {
        self.heartbeat
            .as_ref()
            .map_or(Duration::from_secs(60), |h| h.learn_for)
    }

    /// The first EC2 pool, which the baselines scale.
    pub fn first_ec2(&self) -> Option<(usize, &Ec2Pool)> {
        self.pools
            .iter()
            .enumerate()
            .find_map(|(i, p)| p.ec2().map(|e| (i, e)))
    }
}
