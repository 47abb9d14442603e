//! A validated `[[pool]]`: its kind (static datacenter workers, command-started VMs, EC2), and
//! the scaling bounds the scalable kinds share.

use std::time::Duration;

use super::Ec2Launch;

/// One `[[pool]]`.
#[derive(Debug, Clone)]
pub struct Pool {
    pub name: String,
    pub kind: PoolKind,
    /// Relative render speed: a job of `duration_s` takes `duration_s / speed` here.
    pub speed: f64,
    /// Dollars per worker-hour (EC2 bills per second with a 60 s minimum): the on-demand
    /// price of an EC2 pool.
    pub cost_per_hour: f64,
    /// An EC2 pool's spot price per instance-hour (`spot_cost_per_hour`), for a pool whose
    /// `market` launches spot.
    pub spot_cost_per_hour: Option<f64>,
}

impl Pool {
    /// Dollars per worker-hour the budgets count: the spot price for a pool that launches only
    /// spot, else `cost_per_hour` (a pool that may fall back to on-demand is counted at the
    /// on-demand price, so no mix of markets takes the fleet past a budget).
    pub fn budget_price(&self) -> f64 {
        match self.ec2().map(|e| e.launch.market) {
            Some(super::Market::Spot) => self.spot_cost_per_hour.unwrap_or(self.cost_per_hour),
            _ => self.cost_per_hour,
        }
    }

    /// Dollars per worker-hour a simulated instance bills: the spot price for a pool that
    /// launches spot first (the simulator always finds spot capacity), else `cost_per_hour`.
    pub fn billed_price(&self) -> f64 {
        match self.ec2().map(|e| e.launch.market) {
            Some(super::Market::Spot | super::Market::SpotThenOnDemand) => {
                self.spot_cost_per_hour.unwrap_or(self.cost_per_hour)
            }
            _ => self.cost_per_hour,
        }
    }

    /// The EC2 settings, if this is an EC2 pool.
    pub fn ec2(&self) -> Option<&Ec2Pool> {
        match &self.kind {
            PoolKind::Ec2(e) => Some(e),
            _ => None,
        }
    }

    /// The command settings, if this is a command pool.
    pub fn command(&self) -> Option<&CommandPool> {
        match &self.kind {
            PoolKind::Command(c) => Some(c),
            _ => None,
        }
    }

    /// How far spillway may scale this pool: `None` for a static pool, which it never touches.
    pub fn scaling(&self) -> Option<Scaling> {
        match &self.kind {
            PoolKind::Static { .. } => None,
            PoolKind::Ec2(e) => Some(Scaling {
                min: e.min,
                max: e.max,
                boot_time: e.boot_time,
                boot_timeout: e.boot_timeout,
            }),
            PoolKind::Command(c) => Some(Scaling {
                min: c.min,
                max: c.workers,
                boot_time: c.boot_time,
                boot_timeout: c.boot_timeout,
            }),
        }
    }
}

/// What kind of capacity a pool is.
#[derive(Debug, Clone)]
pub enum PoolKind {
    /// Fixed datacenter workers: counted first, never launched or terminated.
    Static { workers: u32 },
    /// EC2 instances launched and terminated by spillway.
    Ec2(Ec2Pool),
    /// On-prem VMs that spillway starts and stops by running a program (like Slurm's resume and
    /// suspend programs), so idle ones can be handed back to other work.
    Command(CommandPool),
}

/// The bounds of a pool spillway scales (EC2 or command), whatever its kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scaling {
    /// Workers always kept (launched at once when fewer exist).
    pub min: u32,
    /// Workers at most (an EC2 pool's `max`, a command pool's `workers`).
    pub max: u32,
    /// Initial estimate of launch-to-ready.
    pub boot_time: Duration,
    /// A worker not ready this long after launch is a failed launch.
    pub boot_timeout: Duration,
}

/// Settings of an EC2 pool.
#[derive(Debug, Clone)]
pub struct Ec2Pool {
    pub min: u32,
    pub max: u32,
    /// Initial estimate of launch-to-ready, refined from observed boots.
    pub boot_time: Duration,
    /// A worker not ready this long after launch is a failed launch and is terminated.
    pub boot_timeout: Duration,
    /// How the live service launches instances (unused by the simulator).
    pub launch: Ec2Launch,
}

/// Settings of a command pool.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandPool {
    /// VMs always on.
    pub min: u32,
    /// VMs the pool has at most.
    pub workers: u32,
    /// How long a started VM takes to send its first heartbeat (initial estimate).
    pub boot_time: Duration,
    /// A started VM that has not sent a heartbeat by then is a failed start.
    pub boot_timeout: Duration,
    /// Program and arguments run to start VMs; spillway appends the count (unused by the
    /// simulator).
    pub start_command: Vec<String>,
    /// Program and arguments run to stop VMs; spillway appends their worker ids.
    pub stop_command: Vec<String>,
    /// A command still running after this long is killed and counts as failed.
    pub command_timeout: Duration,
}
