//! The shape a policy file may have: every section and key, and the kind of value each takes.
//!
//! Checking a policy is two passes. This is the first: the TOML document, parsed with its
//! spans, is walked against the shape, and every unknown key (with the nearest known one) and
//! every value of the wrong kind (with an example of the right one) is a problem; those entries
//! are then removed, so that the second pass (serde into [`super::file::PolicyFile`], then
//! [`super::validate`]) can still read, and judge, everything else. One run reports it all.

use toml::de::{DeTable, DeValue};

use super::checker::Problem;

/// The kind of value a key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A string such as `"60s"`.
    Duration,
    /// An integer or a float.
    Number,
    /// An integer.
    Count,
    /// A string.
    Text,
    /// An array of strings.
    Texts,
    /// `true` or `false`.
    Flag,
}

impl Kind {
    fn accepts(self, v: &DeValue<'_>) -> bool {
        match self {
            Kind::Duration | Kind::Text => matches!(v, DeValue::String(_)),
            Kind::Number => matches!(v, DeValue::Integer(_) | DeValue::Float(_)),
            Kind::Count => matches!(v, DeValue::Integer(_)),
            Kind::Flag => matches!(v, DeValue::Boolean(_)),
            Kind::Texts => match v {
                DeValue::Array(a) => a.iter().all(|x| matches!(x.get_ref(), DeValue::String(_))),
                _ => false,
            },
        }
    }

    fn expected(self, got: &DeValue<'_>) -> String {
        let got_kind = kind_of(got);
        match (self, got) {
            (Kind::Duration, DeValue::Integer(i)) => format!(
                "must be a duration in quotes, like \"{i}s\" or \"5m\" (a bare {i} has no unit)"
            ),
            (Kind::Duration, _) => {
                format!("must be a duration in quotes, like \"60s\" or \"5m\" (got {got_kind})")
            }
            (Kind::Number, _) => format!("must be a number, like 0.25 (got {got_kind})"),
            (Kind::Count, DeValue::Float(_)) => {
                "must be a whole number, like 4 (got a number with a fraction)".to_string()
            }
            (Kind::Count, _) => format!("must be a whole number, like 4 (got {got_kind})"),
            (Kind::Text, _) => format!("must be text in quotes, like \"ec2\" (got {got_kind})"),
            (Kind::Flag, _) => format!("must be true or false, without quotes (got {got_kind})"),
            (Kind::Texts, _) => {
                format!(
                    "must be a list of texts, like [\"c5.large\", \"m5.large\"] (got {got_kind})"
                )
            }
        }
    }
}

fn kind_of(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "text",
        DeValue::Integer(_) => "a whole number",
        DeValue::Float(_) => "a number",
        DeValue::Boolean(_) => "true or false",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// One section: its name, whether it is an array of tables (`[[pool]]`), and its keys.
struct Section {
    name: &'static str,
    repeated: bool,
    keys: &'static [(&'static str, Kind)],
}

use Kind::{Count, Duration, Flag, Number, Text, Texts};

/// Keys outside any section.
const TOP: &[(&str, Kind)] = &[("name", Text)];

/// Every section, as `file.rs` reads it.
const SECTIONS: &[Section] = &[
    Section {
        name: "control",
        repeated: false,
        keys: &[
            ("interval", Duration),
            ("window", Duration),
            ("strategy", Text),
            ("stale_after", Duration),
            ("max_launch_per_tick", Count),
            ("launch_interval", Duration),
        ],
    },
    Section {
        name: "target",
        repeated: false,
        keys: &[
            ("free_busy_ratio", Number),
            ("min_free", Count),
            ("wait_slo", Duration),
            ("wait_feedback", Flag),
        ],
    },
    Section {
        name: "hysteresis",
        repeated: false,
        keys: &[("band", Number), ("scale_in_after", Duration)],
    },
    Section {
        name: "pool",
        repeated: true,
        keys: &[
            ("name", Text),
            ("kind", Text),
            ("workers", Count),
            ("min", Count),
            ("max", Count),
            ("speed", Number),
            ("cost_per_hour", Number),
            ("spot_cost_per_hour", Number),
            ("boot_time", Duration),
            ("boot_timeout", Duration),
            ("launch_template", Text),
            ("image_id", Text),
            ("instance_types", Texts),
            ("subnet_ids", Texts),
            ("market", Text),
            ("start_command", Texts),
            ("stop_command", Texts),
            ("command_timeout", Duration),
        ],
    },
    Section {
        name: "budget",
        repeated: false,
        keys: &[
            ("max_hourly_usd", Number),
            ("max_daily_usd", Number),
            ("max_launches_per_hour", Count),
        ],
    },
    Section {
        name: "batch",
        repeated: false,
        keys: &[
            ("deadline", Duration),
            ("max_ec2", Count),
            ("max_usd", Number),
        ],
    },
    Section {
        name: "hpa",
        repeated: false,
        keys: &[
            ("target_per_replica", Number),
            ("tolerance", Number),
            ("downscale_stabilization", Duration),
        ],
    },
    Section {
        name: "target_tracking",
        repeated: false,
        keys: &[
            ("backlog_per_instance", Number),
            ("warmup", Duration),
            ("scale_out_periods", Count),
            ("scale_in_periods", Count),
        ],
    },
    Section {
        name: "queue",
        repeated: true,
        keys: &[
            ("name", Text),
            ("url", Text),
            ("class", Text),
            ("pools", Texts),
            ("wait_slo", Duration),
        ],
    },
    Section {
        name: "heartbeat",
        repeated: false,
        keys: &[
            ("token_env", Text),
            ("every", Duration),
            ("lost_after", Duration),
            ("learn_for", Duration),
        ],
    },
    Section {
        name: "lease",
        repeated: false,
        keys: &[("table", Text), ("duration", Duration)],
    },
];

/// The problems of `doc`'s shape, each at its key; the entries at fault are removed from
/// `doc`. `text` is what `doc` was parsed from (for line and column).
pub(super) fn check(doc: &mut DeTable<'_>, text: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut problem = |at: usize, field: String, message: String| {
        out.push(Problem::at(text, at, field, message));
    };
    let mut drop = Vec::new();
    for (key, value) in doc.iter_mut() {
        let name: &str = key.get_ref();
        let at = key.span().start;
        let keep = if let Some((_, kind)) = TOP.iter().find(|(k, _)| *k == name) {
            keep_if(kind.accepts(value.get_ref()), || {
                problem(at, name.to_string(), kind.expected(value.get_ref()))
            })
        } else if let Some(section) = SECTIONS.iter().find(|s| s.name == name) {
            match (section.repeated, value.get_mut()) {
                (false, DeValue::Table(t)) => {
                    section_keys(section, t, name, &mut problem);
                    true
                }
                (true, DeValue::Array(items))
                    if items
                        .iter()
                        .all(|i| matches!(i.get_ref(), DeValue::Table(_))) =>
                {
                    for (i, item) in items.iter_mut().enumerate() {
                        if let DeValue::Table(t) = item.get_mut() {
                            section_keys(section, t, &format!("{name}[{i}]"), &mut problem);
                        }
                    }
                    true
                }
                (repeated, v) => {
                    let form = if repeated {
                        format!("[[{name}]] sections")
                    } else {
                        format!("a [{name}] section")
                    };
                    problem(
                        at,
                        name.to_string(),
                        format!("must be {form} (got {})", kind_of(v)),
                    );
                    false
                }
            }
        } else {
            let known: Vec<&str> = TOP
                .iter()
                .map(|(k, _)| *k)
                .chain(SECTIONS.iter().map(|s| s.name))
                .collect();
            let what = if matches!(value.get_ref(), DeValue::Table(_) | DeValue::Array(_)) {
                "unknown section"
            } else {
                "unknown field"
            };
            problem(at, name.to_string(), unknown(what, name, &known));
            false
        };
        if !keep {
            drop.push(key.clone());
        }
    }
    for key in drop {
        doc.remove(&key);
    }
    out
}

/// Checks and prunes the keys of one section's table, named `path` in problems.
fn section_keys(
    section: &Section,
    table: &mut DeTable<'_>,
    path: &str,
    problem: &mut impl FnMut(usize, String, String),
) {
    let mut drop = Vec::new();
    for (key, value) in table.iter_mut() {
        let name: &str = key.get_ref();
        let field = format!("{path}.{name}");
        let keep = match section.keys.iter().find(|(k, _)| *k == name) {
            Some((_, kind)) => keep_if(kind.accepts(value.get_ref()), || {
                problem(value.span().start, field, kind.expected(value.get_ref()))
            }),
            None => {
                let known: Vec<&str> = section.keys.iter().map(|(k, _)| *k).collect();
                problem(
                    key.span().start,
                    field,
                    unknown("unknown field", name, &known),
                );
                false
            }
        };
        if !keep {
            drop.push(key.clone());
        }
    }
    for key in drop {
        table.remove(&key);
    }
}

fn keep_if(ok: bool, report: impl FnOnce()) -> bool {
    if !ok {
        report();
    }
    ok
}

/// `unknown field "intervall"; did you mean "interval"?` (or the known ones when none is near).
fn unknown(what: &str, name: &str, known: &[&str]) -> String {
    let nearest = known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(1))
        .min();
    match nearest {
        Some((_, k)) => format!("{what} \"{name}\"; did you mean \"{k}\"?"),
        None => format!("{what} \"{name}\" (expected one of: {})", known.join(", ")),
    }
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspellings_find_their_key() {
        assert_eq!(edit_distance("intervall", "interval"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert!(
            unknown("unknown field", "intervall", &["interval", "window"])
                .contains("did you mean \"interval\"")
        );
        assert!(
            unknown("unknown section", "contrl", &["control", "pool"])
                .contains("did you mean \"control\"")
        );
        assert!(
            unknown("unknown field", "zzz", &["interval", "window"])
                .contains("expected one of: interval, window")
        );
    }
}
