//! Reading a decision in tests: its launches, terminations and holds, in decision order.

use spillway::control::{Action, ReasonKind, Step};
use spillway::model::WorkerId;

/// (pool, count, reason) of every launch.
pub fn launches(step: &Step) -> Vec<(String, u32, ReasonKind)> {
    step.decision
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Launch {
                pool,
                count,
                reason,
                ..
            } => Some((pool.clone(), *count, reason.kind)),
            _ => None,
        })
        .collect()
}

/// (pool, workers, reason) of every termination.
pub fn terminations(step: &Step) -> Vec<(String, Vec<WorkerId>, ReasonKind)> {
    step.decision
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Terminate {
                pool,
                workers,
                reason,
            } => Some((pool.clone(), workers.clone(), reason.kind)),
            _ => None,
        })
        .collect()
}

/// Every worker terminated, in decision order.
pub fn terminated(step: &Step) -> Vec<WorkerId> {
    terminations(step).into_iter().flat_map(|t| t.1).collect()
}

/// The reason kind of every hold.
pub fn holds(step: &Step) -> Vec<ReasonKind> {
    step.decision
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Hold { reason, .. } => Some(reason.kind),
            _ => None,
        })
        .collect()
}
