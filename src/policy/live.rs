//! The parts of a policy only the live service reads: how an EC2 pool launches instances
//! (`launch_template` / `image_id`, `instance_types`, `subnet_ids`, `market`), the `[[queue]]`
//! entries and `[heartbeat]`. The simulator ignores all of them, so each is optional here;
//! `spillway run` checks at start-up that what it needs is present ([`Policy::live_problems`]).
//! The queue, heartbeat and lease sections are checked in `live_check.rs`.

use std::time::Duration;

use toml::Spanned;

use super::Policy;
use super::checker::Checker;
use super::file::PoolSection;

/// How to launch the instances of one EC2 pool.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ec2Launch {
    /// Where the instance's image and settings come from; `None` in simulation-only policies.
    pub source: Option<LaunchSource>,
    /// Instance types to try, in order (empty: the launch template's type).
    pub instance_types: Vec<String>,
    /// Subnets to try, in order (empty: the template's or the default VPC's).
    pub subnet_ids: Vec<String>,
    pub market: Market,
}

/// `launch_template = "lt-…"` or `image_id = "ami-…"`.
#[derive(Debug, Clone, PartialEq)]
pub enum LaunchSource {
    Template(String),
    Image(String),
}

/// `market`: which purchase option to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Market {
    #[default]
    OnDemand,
    Spot,
    /// Spot first; on-demand when no type and subnet has spot capacity.
    SpotThenOnDemand,
}

/// One `[[queue]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    /// A short name for metric labels and logs.
    pub name: String,
    pub url: String,
    pub class: QueueClass,
    /// The pools whose workers may take its jobs (indices into `Policy::pools`, in policy
    /// order): every pool unless `pools` is written.
    pub pools: Vec<usize>,
    /// Whether `pools` was written (the queue is bound to some pools: job classes).
    pub bound: bool,
    /// Its own SLO (`wait_slo`), in place of `target.wait_slo`.
    pub wait_slo: Option<std::time::Duration>,
}

/// `class`: interactive jobs drive the controller; batch jobs are backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueClass {
    Interactive,
    Batch,
}

/// `[heartbeat]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatSettings {
    /// The environment variable holding the workers' bearer token.
    pub token_env: String,
    /// The longest time between two heartbeats of a healthy worker (the workers' configured
    /// period; default 10 s). `lost_after` and `learn_for` are at least twice this.
    pub every: Duration,
    /// A worker silent this long is lost.
    pub lost_after: Duration,
    /// How long a service that has just started, or just become the leader, listens before it
    /// judges a worker it has not heard from (default: `lost_after`). Longer than the workers'
    /// heartbeat period.
    pub learn_for: Duration,
}

/// `[lease]`: with it, replicas of `spillway run` elect one leader through a DynamoDB item, and
/// only the leader acts.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseSettings {
    /// The DynamoDB table (partition key `lease`, a string).
    pub table: String,
    /// How long a lease lasts without renewal; renewed every third of it.
    pub duration: Duration,
}

impl Policy {
    /// What `spillway run` needs that simulation does not: queues, `[heartbeat]`, and a launch
    /// source for every EC2 pool. Empty when the policy can run live.
    pub fn live_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self
            .queues
            .iter()
            .any(|q| q.class == QueueClass::Interactive)
        {
            out.push(
                "queue: the service needs at least one [[queue]] with class = \"interactive\""
                    .into(),
            );
        }
        if self.heartbeat.is_none() {
            out.push("heartbeat: the service needs a [heartbeat] section with token_env".into());
        }
        for (i, p) in self.pools.iter().enumerate() {
            if let Some(e) = p.ec2()
                && e.launch.source.is_none()
            {
                out.push(format!(
                    "pool[{i}]: EC2 pool \"{}\" needs launch_template or image_id to run live",
                    p.name
                ));
            }
        }
        out
    }
}

/// A pool's launch fields, taken out of its raw section before the kind is known.
pub(super) struct LaunchFields {
    launch_template: Option<Spanned<String>>,
    image_id: Option<Spanned<String>>,
    instance_types: Option<Spanned<Vec<String>>>,
    subnet_ids: Option<Spanned<Vec<String>>>,
    market: Option<Spanned<String>>,
}

impl LaunchFields {
    pub(super) fn take(p: &mut PoolSection) -> Self {
        LaunchFields {
            launch_template: p.launch_template.take(),
            image_id: p.image_id.take(),
            instance_types: p.instance_types.take(),
            subnet_ids: p.subnet_ids.take(),
            market: p.market.take(),
        }
    }
}

impl Checker<'_> {
    /// Fields that only EC2 pools take, reported on a pool of another kind; `why` says what
    /// that kind has instead.
    pub(super) fn no_launch_fields(&mut self, i: usize, at: usize, p: &LaunchFields, why: &str) {
        for (present, field) in [
            (p.launch_template.is_some(), "launch_template"),
            (p.image_id.is_some(), "image_id"),
            (p.instance_types.is_some(), "instance_types"),
            (p.subnet_ids.is_some(), "subnet_ids"),
            (p.market.is_some(), "market"),
        ] {
            if present {
                self.problem(
                    at,
                    &format!("pool[{i}].{field}"),
                    format!("only EC2 pools take this; {why}"),
                );
            }
        }
    }

    /// An EC2 pool's launch settings.
    pub(super) fn ec2_launch(&mut self, i: usize, mut p: LaunchFields) -> Ec2Launch {
        let f = |name: &str| format!("pool[{i}].{name}");
        let source = match (p.launch_template.take(), p.image_id.take()) {
            (Some(t), Some(_)) => {
                self.problem(
                    t.span().start,
                    &f("launch_template"),
                    "give launch_template or image_id, not both",
                );
                None
            }
            (Some(t), None) => {
                if !t.get_ref().starts_with("lt-") {
                    self.problem(
                        t.span().start,
                        &f("launch_template"),
                        format!("\"{}\" is not a launch template id (lt-…)", t.get_ref()),
                    );
                }
                Some(LaunchSource::Template(t.into_inner()))
            }
            (None, Some(a)) => {
                if !a.get_ref().starts_with("ami-") {
                    self.problem(
                        a.span().start,
                        &f("image_id"),
                        format!("\"{}\" is not an image id (ami-…)", a.get_ref()),
                    );
                }
                if p.instance_types.is_none() {
                    self.problem(
                        a.span().start,
                        &f("instance_types"),
                        "required with image_id (only a launch template can name the type)",
                    );
                }
                Some(LaunchSource::Image(a.into_inner()))
            }
            (None, None) => None,
        };
        let instance_types = self.names(p.instance_types.take(), &f("instance_types"), "");
        let subnet_ids = self.names(p.subnet_ids.take(), &f("subnet_ids"), "subnet-");
        let market = match p.market.take() {
            None => Market::OnDemand,
            Some(m) => match m.get_ref().as_str() {
                "on-demand" => Market::OnDemand,
                "spot" => Market::Spot,
                "spot-then-on-demand" => Market::SpotThenOnDemand,
                other => {
                    self.problem(
                        m.span().start,
                        &f("market"),
                        format!(
                            "unknown market \"{other}\" (expected on-demand, spot or spot-then-on-demand)"
                        ),
                    );
                    Market::OnDemand
                }
            },
        };
        Ec2Launch {
            source,
            instance_types,
            subnet_ids,
            market,
        }
    }

    /// A list of non-empty, distinct names, each starting with `prefix`.
    pub(super) fn names(
        &mut self,
        v: Option<Spanned<Vec<String>>>,
        field: &str,
        prefix: &str,
    ) -> Vec<String> {
        let Some(v) = v else { return Vec::new() };
        let at = v.span().start;
        let list = v.into_inner();
        if list.is_empty() {
            self.problem(at, field, "must not be empty (leave the field out instead)");
        }
        for (k, name) in list.iter().enumerate() {
            if name.trim().is_empty() || !name.starts_with(prefix) {
                let want = if prefix.is_empty() {
                    "a non-empty name".to_string()
                } else {
                    format!("an id starting with {prefix}")
                };
                self.problem(at, field, format!("entry {k} \"{name}\" is not {want}"));
            } else if list[..k].contains(name) {
                self.problem(at, field, format!("entry {k} \"{name}\" is listed twice"));
            }
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::{self, LaunchSource, Market, QueueClass};

    #[test]
    fn the_live_example_runs_and_the_simulation_policy_says_what_it_lacks() {
        let text = include_str!("../../policies/picnik-live.toml");
        let p = policy::from_toml_str(text, "picnik-live.toml").unwrap();
        assert!(p.live_problems().is_empty(), "{:?}", p.live_problems());
        let e = p.pools[1].ec2().unwrap();
        assert_eq!(
            e.launch.source,
            Some(LaunchSource::Template("lt-0123456789abcdef0".into()))
        );
        assert_eq!(e.launch.market, Market::SpotThenOnDemand);
        assert_eq!(e.launch.instance_types.len(), 3);
        assert_eq!(p.queues[1].class, QueueClass::Batch);
        assert_eq!(p.heartbeat.as_ref().unwrap().lost_after.as_secs(), 90);
        let sim_only = policy::embedded_default().live_problems();
        assert_eq!(sim_only.len(), 3, "{sim_only:?}");
    }
}
