//! Validation of one `[[pool]]` section: kind, speed, cost, and the kind's own fields
//! (`workers` for static; `min`, `max`, boot times and launch settings for EC2; `workers`,
//! `min`, boot times and the start and stop programs for command pools).

use std::time::Duration;

use toml::Spanned;

use super::checker::Checker;
use super::file::PoolSection;
use super::{CommandPool, Ec2Pool, Pool, PoolKind};

/// What a static pool has instead of the EC2 launch fields.
const STATIC_HAS: &str = "a static pool has a fixed `workers` count";
/// What a command pool has instead of the EC2 launch fields.
const COMMAND_HAS: &str = "a command pool is started by its `start_command`";

/// A pool's command fields, taken out of its raw section before the kind is known.
struct CommandFields {
    start_command: Option<Spanned<Vec<String>>>,
    stop_command: Option<Spanned<Vec<String>>>,
    command_timeout: Option<Spanned<String>>,
}

impl CommandFields {
    fn take(p: &mut PoolSection) -> Self {
        CommandFields {
            start_command: p.start_command.take(),
            stop_command: p.stop_command.take(),
            command_timeout: p.command_timeout.take(),
        }
    }

    fn present(&self) -> [(bool, &'static str); 3] {
        [
            (self.start_command.is_some(), "start_command"),
            (self.stop_command.is_some(), "stop_command"),
            (self.command_timeout.is_some(), "command_timeout"),
        ]
    }
}

impl Checker<'_> {
    pub(super) fn pool(&mut self, i: usize, at: usize, mut p: PoolSection) -> Pool {
        let launch_fields = super::live::LaunchFields::take(&mut p);
        let command_fields = CommandFields::take(&mut p);
        let f = |name: &str| format!("pool[{i}].{name}");
        let name = match p.name.take() {
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
            p.speed.take(),
            at,
            &f("speed"),
            Some(1.0),
            |x| x > 0.0 && x <= 100.0,
            "must be above 0 and at most 100",
        );
        let cost_per_hour = self.number(
            p.cost_per_hour.take(),
            at,
            &f("cost_per_hour"),
            Some(0.0),
            |x| x >= 0.0,
            "must be at least 0",
        );
        let spot_at = p.spot_cost_per_hour.as_ref().map(|s| s.span().start);
        let spot_cost_per_hour = p.spot_cost_per_hour.take().map(|v| {
            self.number(
                Some(v),
                at,
                &f("spot_cost_per_hour"),
                None,
                |x| x >= 0.0,
                "must be at least 0",
            )
        });
        let kind_field = p.kind.take();
        let kind = match kind_field.as_ref().map(|k| k.get_ref().as_str()) {
            Some("static") => {
                self.no_launch_fields(i, at, &launch_fields, STATIC_HAS);
                self.no_command_fields(i, at, &command_fields, "a static pool is never started");
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
                            "only EC2 and command pools take this; a static pool has a fixed `workers` count",
                        );
                    }
                }
                PoolKind::Static {
                    workers: self.count(p.workers, at, &f("workers"), None),
                }
            }
            Some("ec2") => {
                self.no_command_fields(
                    i,
                    at,
                    &command_fields,
                    "an EC2 pool is launched by RunInstances",
                );
                if p.workers.is_some() {
                    self.problem(
                        at,
                        &f("workers"),
                        "only static and command pools take this; an EC2 pool has `min` and `max`",
                    );
                }
                let has_max = p.max.is_some();
                let max = self.count(p.max.take(), at, &f("max"), None);
                let (min, boot_time, boot_timeout) =
                    self.bounds(i, at, &mut p, has_max.then_some((max, "max")), 180, 600);
                let launch = self.ec2_launch(i, launch_fields);
                PoolKind::Ec2(Ec2Pool {
                    min,
                    max,
                    boot_time,
                    boot_timeout,
                    launch,
                })
            }
            Some("command") => {
                self.no_launch_fields(i, at, &launch_fields, COMMAND_HAS);
                if p.max.is_some() {
                    self.problem(
                        at,
                        &f("max"),
                        "only EC2 pools take this; a command pool has `workers` (the most it has) and `min`",
                    );
                }
                let has_workers = p.workers.is_some();
                let workers = self.count(p.workers.take(), at, &f("workers"), None);
                if has_workers && workers == 0 {
                    self.problem(at, &f("workers"), "must be at least 1");
                }
                let (min, boot_time, boot_timeout) = self.bounds(
                    i,
                    at,
                    &mut p,
                    has_workers.then_some((workers, "workers")),
                    60,
                    300,
                );
                PoolKind::Command(self.commands(i, at, command_fields, |c| CommandPool {
                    min,
                    workers,
                    boot_time,
                    boot_timeout,
                    ..c
                }))
            }
            Some(other) => {
                let start = kind_field.as_ref().map(|k| k.span().start).unwrap_or(at);
                self.problem(
                    start,
                    &f("kind"),
                    format!("unknown pool kind \"{other}\" (expected static, ec2 or command)"),
                );
                PoolKind::Static { workers: 0 }
            }
            None => {
                self.problem(
                    at,
                    &f("kind"),
                    "required field is missing (static, ec2 or command)",
                );
                PoolKind::Static { workers: 0 }
            }
        };
        // A spot price is an EC2 pool's, and means something only where it launches spot.
        if let Some(spot_at) = spot_at {
            let market = match &kind {
                PoolKind::Ec2(e) => Some(e.launch.market),
                _ => None,
            };
            let why = match market {
                None => Some("only an EC2 pool has a spot price"),
                Some(super::Market::OnDemand) => Some(
                    "the pool's market is on-demand: set market = \"spot\" or \"spot-then-on-demand\" for a spot price to apply",
                ),
                Some(_) => None,
            };
            if let Some(why) = why {
                self.problem(spot_at, &f("spot_cost_per_hour"), why);
            }
        }
        Pool {
            name,
            kind,
            speed,
            cost_per_hour,
            spot_cost_per_hour,
        }
    }

    /// `min` (default 0, at most `max` when given) and the boot times (defaults in seconds) of
    /// a pool spillway scales.
    fn bounds(
        &mut self,
        i: usize,
        at: usize,
        p: &mut PoolSection,
        max: Option<(u32, &str)>,
        boot_default_s: u64,
        timeout_default_s: u64,
    ) -> (u32, Duration, Duration) {
        let f = |name: &str| format!("pool[{i}].{name}");
        let min_at = p.min.as_ref().map(|m| m.span().start).unwrap_or(at);
        let min = self.count(p.min.take(), at, &f("min"), Some(0));
        if let Some((max, max_name)) = max
            && min > max
        {
            self.problem(
                min_at,
                &f("min"),
                format!("min ({min}) is greater than {max_name} ({max})"),
            );
        }
        let boot_time = self.positive_duration(
            p.boot_time.take(),
            at,
            &f("boot_time"),
            Some(Duration::from_secs(boot_default_s)),
        );
        let boot_timeout = self.positive_duration(
            p.boot_timeout.take(),
            at,
            &f("boot_timeout"),
            Some(Duration::from_secs(timeout_default_s)),
        );
        if boot_timeout < boot_time {
            self.problem(at, &f("boot_timeout"), "must be at least boot_time");
        }
        (min, boot_time, boot_timeout)
    }

    /// Command fields on a pool that is not a command pool; `why` says how that kind starts.
    fn no_command_fields(&mut self, i: usize, at: usize, c: &CommandFields, why: &str) {
        for (present, field) in c.present() {
            if present {
                self.problem(
                    at,
                    &format!("pool[{i}].{field}"),
                    format!("only command pools take this; {why}"),
                );
            }
        }
    }

    /// A command pool's programs and timeout, completed by `finish` with the pool's bounds.
    fn commands(
        &mut self,
        i: usize,
        at: usize,
        c: CommandFields,
        finish: impl FnOnce(CommandPool) -> CommandPool,
    ) -> CommandPool {
        let f = |name: &str| format!("pool[{i}].{name}");
        let start_command = self.argv(c.start_command, at, &f("start_command"));
        let stop_command = self.argv(c.stop_command, at, &f("stop_command"));
        let command_timeout = self.positive_duration(
            c.command_timeout,
            at,
            &f("command_timeout"),
            Some(Duration::from_secs(120)),
        );
        finish(CommandPool {
            min: 0,
            workers: 0,
            boot_time: Duration::ZERO,
            boot_timeout: Duration::ZERO,
            start_command,
            stop_command,
            command_timeout,
        })
    }

    /// A program and its arguments, as an array: required, the program named first.
    fn argv(&mut self, v: Option<Spanned<Vec<String>>>, at: usize, field: &str) -> Vec<String> {
        let Some(v) = v else {
            self.problem(
                at,
                field,
                "required field is missing: a command pool is scaled by running its start and \
                 stop programs (a pool nothing starts or stops is kind = \"static\")",
            );
            return Vec::new();
        };
        let start = v.span().start;
        let argv = v.into_inner();
        match argv.first() {
            None => self.problem(
                start,
                field,
                "must name a program: [\"/path/to/program\", \"arg\", …]",
            ),
            Some(program) if program.trim().is_empty() => {
                self.problem(start, field, "the program (first entry) must not be empty")
            }
            Some(_) => {}
        }
        argv
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::policy;

    const HYBRID: &str = r#"
name = "h"
[control]
interval = "60s"
[target]
free_busy_ratio = 0.25
wait_slo = "30s"
[[pool]]
name = "dc"
kind = "static"
workers = 4
[[pool]]
name = "ec2"
kind = "ec2"
max = 10
[[pool]]
name = "vms"
kind = "command"
workers = 6
min = 1
start_command = ["/usr/local/bin/render-vm", "start"]
stop_command = ["/usr/local/bin/render-vm", "stop"]
"#;

    #[test]
    fn a_command_pool_reads_with_its_defaults_and_fills_before_ec2() {
        let p = policy::from_toml_str(HYBRID, "h.toml").unwrap_or_else(|e| panic!("{e}"));
        let c = p.pools[2].command().expect("a command pool");
        assert_eq!((c.min, c.workers), (1, 6));
        assert_eq!(c.boot_time, Duration::from_secs(60));
        assert_eq!(c.boot_timeout, Duration::from_secs(300));
        assert_eq!(c.command_timeout, Duration::from_secs(120));
        assert_eq!(c.start_command, ["/usr/local/bin/render-vm", "start"]);
        let s = p.pools[2].scaling().unwrap();
        assert_eq!((s.min, s.max), (1, 6));
        assert_eq!(p.launch_order(), [2, 1], "command pools fill first");
        assert_eq!(p.dispatch_order(), [0, 2, 1]);
        assert_eq!(p.static_workers(), 4);
        assert!(p.feeds_boot_estimate(1) && !p.feeds_boot_estimate(2));
        assert_eq!(p.boot_reference(), Duration::from_secs(180));
        assert!(p.pools[0].scaling().is_none());
    }

    #[test]
    fn a_command_pool_without_commands_is_refused() {
        let text = HYBRID
            .replace(
                "start_command = [\"/usr/local/bin/render-vm\", \"start\"]\n",
                "",
            )
            .replace(
                "stop_command = [\"/usr/local/bin/render-vm\", \"stop\"]",
                "stop_command = []",
            );
        let err = policy::from_toml_str(&text, "h.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pool[2].start_command: required field is missing"),
            "{err}"
        );
        assert!(
            err.contains("pool[2].stop_command: must name a program"),
            "{err}"
        );
        assert!(err.contains("2 problems"), "{err}");
    }
}
