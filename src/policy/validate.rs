//! Turns a raw [`PolicyFile`] into a typed [`Policy`], collecting every problem on the way.
//!
//! Each check names the field with a dotted path (`pool[1].max`) and the line it is on, so
//! an operator can fix a whole file in one pass.

use std::time::Duration;

use toml::Spanned;

use serde::Deserialize;

use super::checker::{Checker, MAX_POLICY_BYTES, MAX_SECTIONS, Problem, split};
use super::file::PolicyFile;
use super::*;

/// The error for a policy file over [`MAX_POLICY_BYTES`].
pub(super) fn too_large(origin: &str) -> PolicyError {
    PolicyError::Invalid {
        file: origin.to_string(),
        problems: vec![Problem {
            line: 1,
            col: 1,
            field: "(file)".into(),
            message: format!(
                "larger than a policy may be ({MAX_POLICY_BYTES} bytes): is this a policy file?"
            ),
        }],
    }
}

/// Parses and validates policy text; `origin` names the file in error messages.
///
/// Two passes, so that one run reports every problem: the document's shape (unknown keys,
/// values of the wrong kind; [`super::schema`]), then, on what is left of it, the values.
pub fn from_toml_str(text: &str, origin: &str) -> Result<Policy, PolicyError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(too_large(origin));
    }
    let invalid = |problems: Vec<Problem>| PolicyError::Invalid {
        file: origin.to_string(),
        problems,
    };
    let syntax = |e: toml::de::Error| {
        let at = e.span().map_or(0, |s| s.start);
        Problem::at(text, at, "(syntax)".into(), e.message().trim().to_string())
    };
    let mut doc = toml::de::DeTable::parse(text).map_err(|e| invalid(vec![syntax(e)]))?;
    let shape = super::schema::check(doc.get_mut(), text);
    let raw = PolicyFile::deserialize(toml::de::Deserializer::from(doc)).map_err(|e| {
        let mut all = shape.clone();
        all.push(syntax(e));
        invalid(all)
    })?;
    let mut check = Checker {
        text,
        problems: Vec::new(),
    };
    let policy = check.policy(raw);
    // A key refused for its kind is reported once, not again as missing.
    check
        .problems
        .retain(|p| !shape.iter().any(|s| s.field == p.field));
    let mut problems = shape;
    problems.append(&mut check.problems);
    if problems.is_empty() {
        Ok(policy)
    } else {
        problems.sort_by_key(|p| (p.line, p.col));
        Err(invalid(problems))
    }
}

impl Checker<'_> {
    fn policy(&mut self, raw: PolicyFile) -> Policy {
        let name = match raw.name {
            // The name is an EC2 tag value on every instance: at most 256 characters.
            Some(n) if n.get_ref().chars().count() > 256 => {
                let len = n.get_ref().chars().count();
                self.problem(
                    n.span().start,
                    "name",
                    format!("{len} characters: at most 256 (it tags every instance)"),
                );
                String::new()
            }
            Some(n) if !n.get_ref().trim().is_empty() => n.into_inner(),
            Some(n) => {
                self.problem(n.span().start, "name", "must not be empty");
                String::new()
            }
            None => {
                self.problem(0, "name", "required field is missing");
                String::new()
            }
        };

        let (c_at, c) = split(raw.control, "control", self);
        let interval_default = c.is_none().then_some(Duration::from_secs(60));
        let interval = self.positive_duration(
            c.as_ref().and_then(|c| c.interval.clone()),
            c_at,
            "control.interval",
            interval_default,
        );
        // Defaults derive from the interval; an invalid interval is reported once, not thrice.
        let base = if interval.is_zero() {
            Duration::from_secs(60)
        } else {
            interval
        };
        let window = self.positive_duration(
            c.as_ref().and_then(|c| c.window.clone()),
            c_at,
            "control.window",
            Some(base),
        );
        let stale_at = c
            .as_ref()
            .and_then(|c| c.stale_after.as_ref())
            .map_or(c_at, |s| s.span().start);
        let stale_after = self.positive_duration(
            c.as_ref().and_then(|c| c.stale_after.clone()),
            c_at,
            "control.stale_after",
            Some(base * 3),
        );
        if !stale_after.is_zero() && stale_after < base {
            self.problem(
                stale_at,
                "control.stale_after",
                format!(
                    "{} is shorter than control.interval ({}): every sample would be stale",
                    crate::model::format_duration(stale_after),
                    crate::model::format_duration(base)
                ),
            );
        }
        let strategy = match c.as_ref().and_then(|c| c.strategy.clone()) {
            None => Strategy::Spillway,
            Some(s) => match s.get_ref().as_str() {
                "spillway" => Strategy::Spillway,
                "hpa" => Strategy::Hpa,
                "target-tracking" => Strategy::TargetTracking,
                "static" => Strategy::Static,
                "oracle" => {
                    self.problem(
                        s.span().start,
                        "control.strategy",
                        "\"oracle\" reads the future and exists only inside `spillway compare`",
                    );
                    Strategy::Spillway
                }
                other => {
                    self.problem(
                        s.span().start,
                        "control.strategy",
                        format!("unknown strategy \"{other}\" (expected spillway, hpa, target-tracking or static)"),
                    );
                    Strategy::Spillway
                }
            },
        };
        let launch_at = c
            .as_ref()
            .and_then(|c| c.max_launch_per_tick.as_ref())
            .map_or(c_at, |s| s.span().start);
        let max_launch_per_tick = self.count(
            c.as_ref().and_then(|c| c.max_launch_per_tick.clone()),
            c_at,
            "control.max_launch_per_tick",
            Some(50),
        );
        let field = "control.max_launch_per_tick";
        if max_launch_per_tick == 0 && !self.problems.iter().any(|p| p.field == field) {
            self.problem(launch_at, field, "must be at least 1");
        }
        let fast = c.as_ref().and_then(|c| c.launch_interval.clone());
        let fast_at = fast.as_ref().map_or(c_at, |s| s.span().start);
        let field = "control.launch_interval";
        let launch_interval = fast
            .is_some()
            .then(|| self.positive_duration(fast, c_at, field, None))
            .filter(|d| !d.is_zero());
        if let Some(every) = launch_interval {
            if every > base || base.as_millis() % every.as_millis() != 0 {
                self.problem(
                    fast_at,
                    field,
                    format!(
                        "{} does not divide control.interval ({}) into whole ticks (say \"15s\" for \"60s\")",
                        crate::model::format_duration(every),
                        crate::model::format_duration(base)
                    ),
                );
            }
            if !matches!(strategy, Strategy::Spillway) {
                self.problem(
                    fast_at,
                    field,
                    format!(
                        "launches between ticks are spillway's rule; strategy \"{}\" decides every control.interval",
                        strategy.name()
                    ),
                );
            }
        }

        let (t_at, t) = split(raw.target, "target", self);
        let free_busy_ratio = self.number(
            t.as_ref().and_then(|t| t.free_busy_ratio.clone()),
            t_at,
            "target.free_busy_ratio",
            t.is_none().then_some(0.0),
            |x| (0.0..=10.0).contains(&x),
            "must be between 0 and 10",
        );
        let min_free = self.count(
            t.as_ref().and_then(|t| t.min_free.clone()),
            t_at,
            "target.min_free",
            Some(0),
        );
        let wait_slo = self.positive_duration(
            t.as_ref().and_then(|t| t.wait_slo.clone()),
            t_at,
            "target.wait_slo",
            t.is_none().then_some(Duration::from_secs(30)),
        );
        let feedback_at = t
            .as_ref()
            .and_then(|t| t.wait_feedback.as_ref())
            .map(|f| f.span().start);
        let wait_feedback = t
            .as_ref()
            .and_then(|t| t.wait_feedback.as_ref())
            .is_some_and(|f| *f.get_ref());

        let h_at = raw.hysteresis.as_ref().map(|h| h.span().start).unwrap_or(0);
        let h = raw.hysteresis.map(Spanned::into_inner);
        let band = self.number(
            h.as_ref().and_then(|h| h.band.clone()),
            h_at,
            "hysteresis.band",
            Some(0.15),
            |x| (0.0..1.0).contains(&x),
            "must be at least 0 and below 1",
        );
        let scale_in_after = self.duration(
            h.and_then(|h| h.scale_in_after),
            h_at,
            "hysteresis.scale_in_after",
            Some(Duration::from_secs(300)),
        );

        if raw.pools.is_empty() {
            self.problem(0, "pool", "a policy needs at least one [[pool]]");
        }
        if raw.pools.len() > MAX_SECTIONS {
            let at = raw.pools[MAX_SECTIONS].span().start;
            self.problem(
                at,
                "pool",
                format!(
                    "{} [[pool]] sections: a policy has at most {MAX_SECTIONS}",
                    raw.pools.len()
                ),
            );
        }
        let mut pools: Vec<Pool> = Vec::new();
        let mut pool_at: Vec<usize> = Vec::new();
        for (i, p) in raw.pools.into_iter().take(MAX_SECTIONS).enumerate() {
            let at = p.span().start;
            pool_at.push(at);
            let pool = self.pool(i, at, p.into_inner());
            if let Some(first) = pools.iter().position(|q| q.name == pool.name) {
                self.problem(
                    at,
                    &format!("pool[{i}].name"),
                    format!("duplicate pool name \"{}\" (also pool[{first}])", pool.name),
                );
            }
            pools.push(pool);
        }

        let budget = self.budget(raw.budget, &pools);
        let batch = self.batch(raw.batch);

        let hpa = self.hpa(raw.hpa);
        let target_tracking = self.target_tracking(raw.target_tracking);

        let queue_at: Vec<usize> = raw.queues.iter().map(|q| q.span().start).collect();
        let queues = self.queues(raw.queues, &pools);
        let heartbeat = self.heartbeat(raw.heartbeat);
        let lease = self.lease(raw.lease);
        let mut policy = Policy {
            name,
            classes: Vec::new(),
            queues,
            heartbeat,
            lease,
            control: Control {
                interval,
                window,
                strategy,
                stale_after,
                max_launch_per_tick,
                launch_interval,
            },
            target: Target {
                free_busy_ratio,
                min_free,
                wait_slo,
                wait_feedback,
            },
            hysteresis: Hysteresis {
                band,
                scale_in_after,
            },
            pools,
            budget,
            batch,
            hpa,
            target_tracking,
        };
        let derived = super::classes::derive(&mut policy);
        // The measured waits are not told apart by queue yet: a class would steer on every
        // class's waits.
        if wait_feedback && derived.as_ref().map_or(true, |c| !c.is_empty()) {
            self.problem(
                feedback_at.unwrap_or(0),
                "target.wait_feedback",
                "is not available with job classes (queues that name their pools) yet",
            );
        }
        match derived {
            Ok(classes) => policy.classes = classes,
            Err(unserved) => {
                for u in unserved {
                    self.class_problem(&policy, &pool_at, &queue_at, u);
                }
            }
        }
        policy
    }
}
