//! Checking the sections only the live service reads besides the EC2 launch fields: the
//! `[[queue]]` entries, `[heartbeat]` and `[lease]`, each into its typed form
//! ([`super::live`]), every problem with its field.

use std::time::Duration;

use toml::Spanned;

use super::checker::{Checker, MAX_SECTIONS};
use super::file::{HeartbeatSection, LeaseSection, QueueSection};
use super::live::{HeartbeatSettings, LeaseSettings, QueueClass, QueueSpec};

impl Checker<'_> {
    /// The `[[queue]]` entries; `pools` are the policy's pools, which a queue's `pools` name.
    pub(super) fn queues(
        &mut self,
        raw: Vec<Spanned<QueueSection>>,
        pools: &[super::Pool],
    ) -> Vec<QueueSpec> {
        let mut out: Vec<QueueSpec> = Vec::new();
        if raw.len() > MAX_SECTIONS {
            self.problem(
                raw[MAX_SECTIONS].span().start,
                "queue",
                format!(
                    "{} [[queue]] sections: a policy has at most {MAX_SECTIONS}",
                    raw.len()
                ),
            );
        }
        for (i, q) in raw.into_iter().take(MAX_SECTIONS).enumerate() {
            let at = q.span().start;
            let q = q.into_inner();
            let f = |name: &str| format!("queue[{i}].{name}");
            let name = self.text(q.name, at, &f("name"));
            if !name.is_empty()
                && let Some(first) = out.iter().position(|o| o.name == name)
            {
                self.problem(
                    at,
                    &f("name"),
                    format!("duplicate queue name \"{name}\" (also queue[{first}])"),
                );
            }
            let url_at = q.url.as_ref().map_or(at, |u| u.span().start);
            let url = self.text(q.url, at, &f("url"));
            if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
                self.problem(url_at, &f("url"), format!("\"{url}\" is not a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)"));
            }
            let class = match q.class {
                None => {
                    self.problem(
                        at,
                        &f("class"),
                        "required field is missing (interactive or batch)",
                    );
                    QueueClass::Interactive
                }
                Some(c) => {
                    match c.get_ref().as_str() {
                        "interactive" => QueueClass::Interactive,
                        "batch" => QueueClass::Batch,
                        other => {
                            self.problem(c.span().start, &f("class"), format!("unknown queue class \"{other}\" (expected interactive or batch)"));
                            QueueClass::Interactive
                        }
                    }
                }
            };
            let bound = q.pools.is_some();
            let pools_at = q.pools.as_ref().map_or(at, |p| p.span().start);
            let names = self.names(q.pools, &f("pools"), "");
            let mut indices: Vec<usize> = Vec::with_capacity(names.len());
            for name in &names {
                match pools.iter().position(|p| &p.name == name) {
                    Some(i) => indices.push(i),
                    None => self.problem(
                        pools_at,
                        &f("pools"),
                        format!("no [[pool]] is named \"{name}\""),
                    ),
                }
            }
            // Taken in policy order (datacenter first, then command pools, then EC2).
            indices.sort_unstable();
            indices.dedup();
            if !bound {
                indices = (0..pools.len()).collect();
            }
            let wait_slo = q
                .wait_slo
                .is_some()
                .then(|| self.positive_duration(q.wait_slo, at, &f("wait_slo"), None));
            out.push(QueueSpec {
                name,
                url,
                class,
                pools: indices,
                bound,
                wait_slo,
            });
        }
        out
    }

    /// `[heartbeat]`.
    pub(super) fn heartbeat(
        &mut self,
        raw: Option<Spanned<HeartbeatSection>>,
    ) -> Option<HeartbeatSettings> {
        let raw = raw?;
        let at = raw.span().start;
        let h = raw.into_inner();
        let token_env = self.text(h.token_env, at, "heartbeat.token_env");
        let every = self.positive_duration(
            h.every,
            at,
            "heartbeat.every",
            Some(Duration::from_secs(10)),
        );
        let lost_at = Some(h.lost_after.as_ref().map_or(at, |s| s.span().start));
        // learn_for by default is lost_after: judged only when written.
        let learn_at = h.learn_for.as_ref().map(|s| s.span().start);
        let lost_after = self.positive_duration(
            h.lost_after,
            at,
            "heartbeat.lost_after",
            Some(Duration::from_secs(60)),
        );
        // A lost_after already reported as a problem is no default to report again.
        let default = Some(lost_after).filter(|d| !d.is_zero());
        let learn_for = self.positive_duration(
            h.learn_for,
            at,
            "heartbeat.learn_for",
            default.or(Some(Duration::from_secs(60))),
        );
        // A healthy worker must not be judged lost (or, after a start, unheard) between two of
        // its heartbeats: one late heartbeat would churn it.
        for (d, at, field) in [
            (lost_after, lost_at, "heartbeat.lost_after"),
            (learn_for, learn_at, "heartbeat.learn_for"),
        ] {
            let Some(at) = at else { continue };
            if !d.is_zero() && !every.is_zero() && d < every * 2 {
                self.problem(
                    at,
                    field,
                    format!(
                        "{} is shorter than twice heartbeat.every ({}): a healthy worker would be \
                         judged between two heartbeats; make it at least {}",
                        crate::model::format_duration(d),
                        crate::model::format_duration(every),
                        crate::model::format_duration(every * 2)
                    ),
                );
            }
        }
        Some(HeartbeatSettings {
            token_env,
            every,
            lost_after,
            learn_for,
        })
    }

    /// `[lease]`.
    pub(super) fn lease(&mut self, raw: Option<Spanned<LeaseSection>>) -> Option<LeaseSettings> {
        let raw = raw?;
        let at = raw.span().start;
        let l = raw.into_inner();
        let table = self.text(l.table, at, "lease.table");
        let duration = self.positive_duration(
            l.duration,
            at,
            "lease.duration",
            Some(Duration::from_secs(15)),
        );
        if duration < Duration::from_secs(1) {
            self.problem(at, "lease.duration", "must be at least 1s");
        }
        Some(LeaseSettings { table, duration })
    }

    /// A required, non-empty string.
    fn text(&mut self, v: Option<Spanned<String>>, at: usize, field: &str) -> String {
        match v {
            Some(s) if !s.get_ref().trim().is_empty() => s.into_inner(),
            Some(s) => {
                self.problem(s.span().start, field, "must not be empty");
                String::new()
            }
            None => {
                self.problem(at, field, "required field is missing");
                String::new()
            }
        }
    }
}
