//! The strategies: each turns the interactive view of the farm into a target for the scalable
//! workers (command and EC2 pools together) with a reason, as a [`FleetPlan`]. They share one
//! entry point, [`plan`], so `decide` picks a strategy in one place; what each remembers
//! between ticks lives in `ControlMemory`.
//!
//! [`spillway`] is the product's own controller; [`hpa`] (with upstream's arithmetic in
//! [`hpa_math`]) and [`target_tracking`] are the peers' algorithms as baselines; the static
//! baseline keeps every scalable pool at its `min`; [`oracle`] follows a clairvoyant plan.

pub mod hpa;
pub mod hpa_math;
pub mod idle_timer;
pub mod oracle;
pub mod spillway;
pub mod target_tracking;

use crate::model::Timestamp;
use crate::policy::{Policy, Strategy};

use super::decision::FleetPlan;
use super::decision::{Reason, ReasonKind};
use super::facts::Facts;
use super::memory::ControlMemory;
use super::observation::Observation;

/// The policy's strategy's target for this tick, from the interactive `view` of the farm.
pub fn plan(
    policy: &Policy,
    obs: &Observation,
    view: &Facts,
    memory: &mut ControlMemory,
    now: Timestamp,
) -> FleetPlan {
    match &policy.control.strategy {
        Strategy::Spillway => spillway::plan(policy, obs, view, memory, now),
        Strategy::Hpa => hpa::plan(policy, view, memory, now),
        Strategy::TargetTracking => target_tracking::plan(policy, obs, view, memory, now),
        Strategy::Static => static_plan(policy),
        Strategy::Oracle => match &obs.oracle_plan {
            Some(plan) => oracle::plan(policy, plan, now),
            None => FleetPlan::resize(
                0,
                Reason::new(
                    ReasonKind::Oracle,
                    "oracle: no plan was given (it exists only inside `spillway compare`)",
                ),
            ),
        },
    }
}

/// The static baseline: every command and EC2 pool at its `min`, always.
fn static_plan(policy: &Policy) -> FleetPlan {
    let fleet: u32 = policy
        .pools
        .iter()
        .filter_map(|p| p.scaling())
        .map(|s| s.min)
        .sum();
    FleetPlan::resize(
        fleet,
        Reason::new(
            ReasonKind::Baseline,
            format!("static: a fixed fleet of {fleet} command and EC2 workers"),
        ),
    )
}
