//! The raw shape of a policy file, exactly as serde reads it from TOML.
//!
//! Every field is optional and wrapped in `Spanned` so that validation (in `validate.rs`) can
//! report every missing or wrong field at once, each with the line it is on. Unknown fields are
//! rejected here (`deny_unknown_fields`) so a typo never silently falls back to a default.

use serde::Deserialize;
use toml::Spanned;

/// A whole policy file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub name: Option<Spanned<String>>,
    pub control: Option<Spanned<ControlSection>>,
    pub target: Option<Spanned<TargetSection>>,
    pub hysteresis: Option<Spanned<HysteresisSection>>,
    #[serde(default, rename = "pool")]
    pub pools: Vec<Spanned<PoolSection>>,
    pub budget: Option<Spanned<BudgetSection>>,
    pub batch: Option<Spanned<BatchSection>>,
    pub hpa: Option<Spanned<HpaSection>>,
    pub target_tracking: Option<Spanned<TargetTrackingSection>>,
    /// `[[queue]]`: the SQS queues the live service observes; with `pools`, job classes that
    /// the simulator models too.
    #[serde(default, rename = "queue")]
    pub queues: Vec<Spanned<QueueSection>>,
    /// `[heartbeat]`: how workers report to the live service.
    pub heartbeat: Option<Spanned<HeartbeatSection>>,
    /// `[lease]`: leader election between replicas of the live service.
    pub lease: Option<Spanned<LeaseSection>>,
}

/// One `[[queue]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSection {
    pub name: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub class: Option<Spanned<String>>,
    /// The pools whose workers may take this queue's jobs (default: every pool).
    pub pools: Option<Spanned<Vec<String>>>,
    /// This queue's own SLO, in place of `target.wait_slo`.
    pub wait_slo: Option<Spanned<String>>,
}

/// `[heartbeat]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatSection {
    pub token_env: Option<Spanned<String>>,
    pub every: Option<Spanned<String>>,
    pub lost_after: Option<Spanned<String>>,
    pub learn_for: Option<Spanned<String>>,
}

/// `[lease]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseSection {
    pub table: Option<Spanned<String>>,
    pub duration: Option<Spanned<String>>,
}

/// `[control]`: how often and on what the loop decides.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSection {
    pub interval: Option<Spanned<String>>,
    pub window: Option<Spanned<String>>,
    pub strategy: Option<Spanned<String>>,
    pub stale_after: Option<Spanned<String>>,
    pub max_launch_per_tick: Option<Spanned<i64>>,
    pub launch_interval: Option<Spanned<String>>,
}

/// `[target]`: what capacity to keep.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    pub free_busy_ratio: Option<Spanned<f64>>,
    pub min_free: Option<Spanned<i64>>,
    pub wait_slo: Option<Spanned<String>>,
    pub wait_feedback: Option<Spanned<bool>>,
}

/// `[hysteresis]`: how cautiously to change it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HysteresisSection {
    pub band: Option<Spanned<f64>>,
    pub scale_in_after: Option<Spanned<String>>,
}

/// One `[[pool]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSection {
    pub name: Option<Spanned<String>>,
    pub kind: Option<Spanned<String>>,
    pub workers: Option<Spanned<i64>>,
    pub min: Option<Spanned<i64>>,
    pub max: Option<Spanned<i64>>,
    pub speed: Option<Spanned<f64>>,
    pub cost_per_hour: Option<Spanned<f64>>,
    pub spot_cost_per_hour: Option<Spanned<f64>>,
    pub boot_time: Option<Spanned<String>>,
    pub boot_timeout: Option<Spanned<String>>,
    // How the live service launches an EC2 pool's instances (the simulator ignores these).
    pub launch_template: Option<Spanned<String>>,
    pub image_id: Option<Spanned<String>>,
    pub instance_types: Option<Spanned<Vec<String>>>,
    pub subnet_ids: Option<Spanned<Vec<String>>>,
    pub market: Option<Spanned<String>>,
    // How the live service starts and stops a command pool's VMs (the simulator ignores these).
    pub start_command: Option<Spanned<Vec<String>>>,
    pub stop_command: Option<Spanned<Vec<String>>>,
    pub command_timeout: Option<Spanned<String>>,
}

/// `[budget]`: money limits.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSection {
    pub max_hourly_usd: Option<Spanned<f64>>,
    pub max_daily_usd: Option<Spanned<f64>>,
    pub max_launches_per_hour: Option<Spanned<i64>>,
}

/// `[batch]`: how backfills may use EC2.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSection {
    pub deadline: Option<Spanned<String>>,
    pub max_ec2: Option<Spanned<i64>>,
    pub max_usd: Option<Spanned<f64>>,
}

/// `[hpa]`: the Kubernetes HPA + KEDA SQS baseline.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HpaSection {
    pub target_per_replica: Option<Spanned<f64>>,
    pub tolerance: Option<Spanned<f64>>,
    pub downscale_stabilization: Option<Spanned<String>>,
}

/// `[target_tracking]`: the EC2 Auto Scaling target-tracking baseline.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetTrackingSection {
    pub backlog_per_instance: Option<Spanned<f64>>,
    pub warmup: Option<Spanned<String>>,
    pub scale_out_periods: Option<Spanned<i64>>,
    pub scale_in_periods: Option<Spanned<i64>>,
}
