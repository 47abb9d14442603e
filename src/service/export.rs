//! What a tick tells the operators: every decided action logged with its reason (a hold
//! repeated from the previous tick at DEBUG), and the gauges and counters of `/metrics`.

use tracing::{debug, info};

use crate::control::{Action, Observation};
use crate::model::names;

use super::engine::Engine;
use super::observe::FleetView;
use super::status::PoolCounts;

impl Engine {
    /// Logs every action with its reason and updates the gauges and counters.
    pub(super) fn export(
        &mut self,
        obs: &Observation,
        view: &FleetView,
        decision: &crate::control::Decision,
    ) {
        let dry = self.dry_run;
        for a in &decision.actions {
            let reason = a.reason();
            let pool = match a {
                Action::Launch { pool, .. }
                | Action::Terminate { pool, .. }
                | Action::Drain { pool, .. } => pool.as_str(),
                Action::Hold { pool, .. } => pool.as_deref().unwrap_or("all"),
            };
            self.metrics
                .scaling_actions
                .with_label_values(&[pool, a.label(), reason.kind.label()])
                .inc();
            match a {
                Action::Launch {
                    count,
                    client_token,
                    ..
                } => info!(
                    pool = %pool, count, reason = %reason, kind = reason.kind.label(),
                    client_token = %client_token, dry_run = dry, "Launching workers."
                ),
                Action::Terminate { workers, .. } => info!(
                    pool = %pool, count = workers.len(), workers = %names(workers), reason = %reason,
                    kind = reason.kind.label(), dry_run = dry, "Scaling in workers."
                ),
                Action::Drain { workers, .. } => info!(
                    pool = %pool, count = workers.len(), workers = %names(workers), reason = %reason,
                    kind = reason.kind.label(), dry_run = dry, "Draining busy workers."
                ),
                // A hold repeats every tick: logged at INFO only when its kind changed.
                Action::Hold { .. }
                    if self.last_holds.contains(&(pool.to_string(), reason.kind)) =>
                {
                    debug!(
                        pool = %pool, reason = %reason, kind = reason.kind.label(), dry_run = dry,
                        "Holding."
                    )
                }
                Action::Hold { .. } => info!(
                    pool = %pool, reason = %reason, kind = reason.kind.label(), dry_run = dry,
                    "Holding."
                ),
            }
        }
        for (i, c) in PoolCounts::of(obs).iter().enumerate() {
            for (state, n) in [
                ("booting", c.booting),
                ("idle", c.idle),
                ("busy", c.busy),
                ("draining", c.draining),
            ] {
                self.metrics
                    .workers
                    .with_label_values(&[c.pool.as_str(), state])
                    .set(f64::from(n));
            }
            let desired = decision.desired_per_pool.get(i).copied().unwrap_or(0);
            self.metrics
                .desired_workers
                .with_label_values(&[c.pool.as_str()])
                .set(f64::from(desired));
        }
        let cost: f64 = self
            .policy
            .pools
            .iter()
            .zip(&view.instances_per_pool)
            .map(|(p, n)| p.budget_price() * f64::from(*n))
            .sum();
        self.metrics.cost_usd_per_hour.set(cost);
        self.last_holds = decision
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Hold { pool, reason } => {
                    Some((pool.clone().unwrap_or_else(|| "all".into()), reason.kind))
                }
                _ => None,
            })
            .collect();
    }
}
