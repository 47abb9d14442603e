//! What `decide` returns: actions, each with a human-readable reason.
//!
//! A scale-out is a count; a scale-in names workers. When nothing should change, the decision
//! holds and says why. Reasons carry a low-cardinality [`ReasonKind`] (for metric labels) and
//! a sentence for people (for logs and `/status`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{Timestamp, WorkerId};

use super::memory::ControlMemory;

/// The result of one `decide` call: the decision and the memory to pass to the next call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub decision: Decision,
    pub memory: ControlMemory,
}

/// Actions for this tick, plus the figures they were computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// What to do. Never empty: when nothing changes there is a `Hold` saying why.
    pub actions: Vec<Action>,
    /// Workers the strategy wants across all pools (after caps), for metrics and plots.
    pub desired_total: u32,
    /// Desired workers per pool (policy order; a static pool's are its workers on hand).
    pub desired_per_pool: Vec<u32>,
    /// Until when the fleet is still being learned (a restart or failover): unknown workers
    /// count as capacity and nothing is scaled in before then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_until: Option<Timestamp>,
}

impl Decision {
    /// A decision of `actions` with these desired figures, its reasons not yet stated in full.
    pub(super) fn new(actions: Vec<Action>, desired_per_pool: Vec<u32>) -> Self {
        Decision {
            actions,
            desired_total: desired_per_pool.iter().sum(),
            desired_per_pool,
            learning_until: None,
        }
    }

    /// Workers to launch in total.
    pub fn launched(&self) -> u32 {
        self.actions
            .iter()
            .map(|a| match a {
                Action::Launch { count, .. } => *count,
                _ => 0,
            })
            .sum()
    }

    /// Busy workers told to drain, in total.
    pub fn drained(&self) -> usize {
        self.actions
            .iter()
            .map(|a| match a {
                Action::Drain { workers, .. } => workers.len(),
                _ => 0,
            })
            .sum()
    }

    /// Workers to terminate in total.
    pub fn terminated(&self) -> usize {
        self.actions
            .iter()
            .map(|a| match a {
                Action::Terminate { workers, .. } => workers.len(),
                _ => 0,
            })
            .sum()
    }
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Launch `count` workers in `pool`. `client_token` makes a replayed launch idempotent.
    Launch {
        pool: String,
        count: u32,
        client_token: String,
        reason: Reason,
    },
    /// Terminate these named workers of `pool`: idle ones (scale-in), ones that never booted,
    /// were lost or finished their drain; in a command pool, stop their VMs with the pool's
    /// `stop_command`. A worker that heartbeats and has not drained is asked to drain first
    /// (it confirms it is idle and takes nothing more), and is terminated once it has.
    Terminate {
        pool: String,
        workers: Vec<WorkerId>,
        reason: Reason,
    },
    /// Tell these busy workers of `pool` to finish their current job and take no other; each is
    /// terminated (or stopped) once idle. Used when a batch keeps surplus workers from ever
    /// going idle.
    Drain {
        pool: String,
        workers: Vec<WorkerId>,
        reason: Reason,
    },
    /// Change nothing (in `pool`, or in the whole fleet when `None`).
    Hold {
        pool: Option<String>,
        reason: Reason,
    },
}

impl Action {
    /// The action's reason.
    pub fn reason(&self) -> &Reason {
        match self {
            Action::Launch { reason, .. }
            | Action::Terminate { reason, .. }
            | Action::Drain { reason, .. }
            | Action::Hold { reason, .. } => reason,
        }
    }

    pub(super) fn reason_mut(&mut self) -> &mut Reason {
        match self {
            Action::Launch { reason, .. }
            | Action::Terminate { reason, .. }
            | Action::Drain { reason, .. }
            | Action::Hold { reason, .. } => reason,
        }
    }

    /// `launch`, `terminate`, `drain` or `hold`: the metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Action::Launch { .. } => "launch",
            Action::Terminate { .. } => "terminate",
            Action::Drain { .. } => "drain",
            Action::Hold { .. } => "hold",
        }
    }
}

/// Why an action was taken: a label for metrics and a sentence for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub kind: ReasonKind,
    pub text: String,
}

impl Reason {
    /// A reason of `kind` described by `text`.
    pub fn new(kind: ReasonKind, text: impl Into<String>) -> Self {
        Reason {
            kind,
            text: text.into(),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The kinds of reasons; each is one value of the `reason` metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    /// Jobs are waiting that nothing on hand or on the way will serve.
    Backlog,
    /// Free capacity fell below the target headroom.
    Headroom,
    /// Demand is forecast to rise within a boot time.
    Forecast,
    /// Capacity exceeded what is needed for longer than `scale_in_after`.
    Surplus,
    /// Capacity is above desired but has not been for long enough yet.
    ScaleInPending,
    /// Workers idle for longer than relaunching them would cost went.
    IdleTimer,
    /// Capacity is within the hysteresis band of desired.
    WithinBand,
    /// A launch-only tick (`control.launch_interval`) found nothing to launch for.
    BetweenTicks,
    /// A pool is below its `min`.
    PoolMinimum,
    /// A worker did not become ready within `boot_timeout`.
    BootTimeout,
    /// A worker was silent for longer than `heartbeat.lost_after`.
    WorkerLost,
    /// A worker finished the drain it was asked for.
    Drained,
    /// `batch.deadline` sized the batch's EC2 workers.
    BatchDeadline,
    /// `batch.max_ec2` sized (or capped) the batch's EC2 workers.
    BatchMaxEc2,
    /// `batch.max_usd` capped the batch's EC2 workers.
    BatchBudget,
    /// No `[batch]` rule: the batch runs on spare capacity only.
    BatchSpareOnly,
    /// The batch's throughput is not measured yet; its allotment waits.
    BatchMeasuring,
    /// The batch finished; its EC2 workers are released.
    BatchDone,
    /// A baseline strategy's own rule drove the action.
    Baseline,
    /// The clairvoyant plan drove the action.
    Oracle,
    /// The queue statistics are older than `stale_after`.
    StaleQueue,
    /// The queue statistics could not be read.
    MissingQueue,
    /// A pool's worker listing could not be read.
    MissingFleet,
    /// A pool's `max` bound the launch.
    MaxInstances,
    /// `budget.max_hourly_usd` bound the launch.
    BudgetCap,
    /// `control.max_launch_per_tick` bound the launch.
    StepCap,
    /// `budget.max_launches_per_hour` bound the launch.
    LaunchRateCap,
    /// `budget.max_daily_usd` was spent: no launch.
    DailyBudgetCap,
    /// An operator paused scaling: observing, not acting.
    Paused,
    /// Surplus exists but no idle worker can be scaled in.
    NoIdleWorker,
    /// The service started or became the leader less than `lost_after` ago: it has not heard
    /// every worker yet, so nothing is scaled in.
    LearningFleet,
}

impl ReasonKind {
    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            ReasonKind::Backlog => "backlog",
            ReasonKind::Headroom => "headroom",
            ReasonKind::Forecast => "forecast",
            ReasonKind::Surplus => "surplus",
            ReasonKind::ScaleInPending => "scale_in_pending",
            ReasonKind::IdleTimer => "idle_timer",
            ReasonKind::WithinBand => "within_band",
            ReasonKind::BetweenTicks => "between_ticks",
            ReasonKind::PoolMinimum => "pool_minimum",
            ReasonKind::BootTimeout => "boot_timeout",
            ReasonKind::WorkerLost => "worker_lost",
            ReasonKind::Drained => "drained",
            ReasonKind::BatchDeadline => "batch_deadline",
            ReasonKind::BatchMaxEc2 => "batch_max_ec2",
            ReasonKind::BatchBudget => "batch_max_usd",
            ReasonKind::BatchSpareOnly => "batch_spare_only",
            ReasonKind::BatchMeasuring => "batch_measuring",
            ReasonKind::BatchDone => "batch_done",
            ReasonKind::Baseline => "baseline",
            ReasonKind::Oracle => "oracle",
            ReasonKind::StaleQueue => "stale_queue",
            ReasonKind::MissingQueue => "missing_queue",
            ReasonKind::MissingFleet => "missing_fleet",
            ReasonKind::MaxInstances => "max_instances",
            ReasonKind::BudgetCap => "budget_cap",
            ReasonKind::StepCap => "step_cap",
            ReasonKind::LaunchRateCap => "launch_rate_cap",
            ReasonKind::DailyBudgetCap => "daily_budget_cap",
            ReasonKind::Paused => "paused",
            ReasonKind::NoIdleWorker => "no_idle_worker",
            ReasonKind::LearningFleet => "learning_fleet",
        }
    }

    /// Whether this reason means a cap or missing data held the controller back (alertable).
    pub fn is_constraint(self) -> bool {
        matches!(
            self,
            ReasonKind::StaleQueue
                | ReasonKind::MissingQueue
                | ReasonKind::MissingFleet
                | ReasonKind::MaxInstances
                | ReasonKind::BudgetCap
                | ReasonKind::StepCap
                | ReasonKind::LaunchRateCap
                | ReasonKind::DailyBudgetCap
                | ReasonKind::Paused
                | ReasonKind::LearningFleet
        )
    }
}

/// What a strategy wants: a total of scalable workers (command and EC2 pools together), or to
/// hold, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetPlan {
    /// Desired workers across all command and EC2 pools; `None` holds the fleet as it is.
    pub scalable_target: Option<u32>,
    pub reason: Reason,
}

impl FleetPlan {
    /// Hold, because of `reason`.
    pub fn hold(reason: Reason) -> Self {
        FleetPlan {
            scalable_target: None,
            reason,
        }
    }

    /// Resize the scalable pools to `target` workers in all, because of `reason`.
    pub fn resize(target: u32, reason: Reason) -> Self {
        FleetPlan {
            scalable_target: Some(target),
            reason,
        }
    }
}
