//! Validation of one `[[pool]]` section: kind, speed, cost, and the kind's own fields.

use std::time::Duration;

use super::checker::Checker;
use super::file::PoolSection;
use super::{Ec2Pool, Pool, PoolKind};

impl Checker<'_> {
    pub(super) fn pool(&mut self, i: usize, at: usize, mut p: PoolSection) -> Pool {
        let launch_fields = super::live::LaunchFields::take(&mut p);
        let f = |name: &str| format!("pool[{i}].{name}");
        let name = match p.name {
            Some(n) if !n.get_ref().trim().is_empty() => n.into_inner(),
            Some(n) => {
                self.problem(n.span().start, &f("name"), "must not be empty");
                format!("pool{i}")
            }
            None => {
                self.problem(at, &f("name"), "required field is missing");
                format!("pool{i}")
            }
        };
        let speed = self.number(
            p.speed,
            at,
            &f("speed"),
            Some(1.0),
            |x| x > 0.0 && x <= 100.0,
            "must be above 0 and at most 100",
        );
        let cost_per_hour = self.number(
            p.cost_per_hour,
            at,
            &f("cost_per_hour"),
            Some(0.0),
            |x| x >= 0.0,
            "must be at least 0",
        );
        let kind = match p.kind.as_ref().map(|k| k.get_ref().as_str()) {
            Some("static") => {
                self.no_launch_fields(i, at, &launch_fields);
                for (present, field) in [
                    (p.min.is_some(), "min"),
                    (p.max.is_some(), "max"),
                    (p.boot_time.is_some(), "boot_time"),
                    (p.boot_timeout.is_some(), "boot_timeout"),
                ] {
                    if present {
                        self.problem(
                            at,
                            &f(field),
                            "only EC2 pools take this; a static pool has a fixed `workers` count",
                        );
                    }
                }
                PoolKind::Static {
                    workers: self.count(p.workers, at, &f("workers"), None),
                }
            }
            Some("ec2") => {
                if p.workers.is_some() {
                    self.problem(
                        at,
                        &f("workers"),
                        "only static pools take this; an EC2 pool has `min` and `max`",
                    );
                }
                let min_at = p.min.as_ref().map(|m| m.span().start).unwrap_or(at);
                let min = self.count(p.min, at, &f("min"), Some(0));
                let has_max = p.max.is_some();
                let max = self.count(p.max, at, &f("max"), None);
                if has_max && min > max {
                    self.problem(
                        min_at,
                        &f("min"),
                        format!("min ({min}) is greater than max ({max})"),
                    );
                }
                let boot_time = self.positive_duration(
                    p.boot_time,
                    at,
                    &f("boot_time"),
                    Some(Duration::from_secs(180)),
                );
                let boot_timeout = self.positive_duration(
                    p.boot_timeout,
                    at,
                    &f("boot_timeout"),
                    Some(Duration::from_secs(600)),
                );
                if boot_timeout < boot_time {
                    self.problem(at, &f("boot_timeout"), "must be at least boot_time");
                }
                let launch = self.ec2_launch(i, launch_fields);
                PoolKind::Ec2(Ec2Pool {
                    min,
                    max,
                    boot_time,
                    boot_timeout,
                    launch,
                })
            }
            Some(other) => {
                let start = p.kind.as_ref().map(|k| k.span().start).unwrap_or(at);
                self.problem(
                    start,
                    &f("kind"),
                    format!("unknown pool kind \"{other}\" (expected static or ec2)"),
                );
                PoolKind::Static { workers: 0 }
            }
            None => {
                self.problem(at, &f("kind"), "required field is missing (static or ec2)");
                PoolKind::Static { workers: 0 }
            }
        };
        Pool {
            name,
            kind,
            speed,
            cost_per_hour,
        }
    }
}
