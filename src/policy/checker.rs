//! The primitives policy validation is built from: a `Checker` that collects problems with
//! their line numbers, and typed readers for durations, numbers and counts that report a
//! problem instead of failing.

use std::time::Duration;

use toml::Spanned;

use crate::model::parse_duration;

/// The largest count a policy may hold (workers, `max`, launches): the most workers the
/// service's registry remembers. Larger ones would make the simulator allocate without bound.
pub const MAX_COUNT: u32 = 100_000;
/// The largest policy file read: a farm's policy is a few kilobytes.
pub const MAX_POLICY_BYTES: usize = 1 << 20;
/// The most `[[pool]]` sections (and `[[queue]]` sections) a policy may have.
pub const MAX_SECTIONS: usize = 256;

/// One thing wrong with a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line of the offending field (or of its section when the field is missing).
    pub line: usize,
    /// 1-based column (in characters) where it starts on that line.
    pub col: usize,
    /// Dotted path of the field, e.g. `pool[1].max`.
    pub field: String,
    /// What is wrong, in words.
    pub message: String,
}

impl Problem {
    /// The problem of `field` at byte `offset` of `text`.
    pub(super) fn at(text: &str, offset: usize, field: String, message: String) -> Problem {
        let offset = offset.min(text.len());
        let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let col = text
            .get(line_start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        Problem {
            line: line_of(text, offset),
            col,
            field,
            message,
        }
    }
}

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

pub(super) struct Checker<'a> {
    pub(super) text: &'a str,
    pub(super) problems: Vec<Problem>,
}

impl Checker<'_> {
    pub(super) fn problem(&mut self, offset: usize, field: &str, message: impl Into<String>) {
        self.problems.push(Problem::at(
            self.text,
            offset,
            field.to_string(),
            message.into(),
        ));
    }

    pub(super) fn duration(
        &mut self,
        v: Option<Spanned<String>>,
        at: usize,
        field: &str,
        default: Option<Duration>,
    ) -> Duration {
        match v {
            Some(s) => match parse_duration(s.get_ref()) {
                Ok(d) => d,
                Err(msg) => {
                    self.problem(s.span().start, field, msg);
                    Duration::ZERO
                }
            },
            None => default.unwrap_or_else(|| {
                self.problem(at, field, "required field is missing");
                Duration::ZERO
            }),
        }
    }

    pub(super) fn positive_duration(
        &mut self,
        v: Option<Spanned<String>>,
        at: usize,
        field: &str,
        default: Option<Duration>,
    ) -> Duration {
        let start = v.as_ref().map(|s| s.span().start).unwrap_or(at);
        let d = self.duration(v, at, field, default);
        if d.is_zero() && !self.problems.iter().any(|p| p.field == field) {
            self.problem(start, field, "must be longer than zero");
        }
        d
    }

    pub(super) fn number(
        &mut self,
        v: Option<Spanned<f64>>,
        at: usize,
        field: &str,
        default: Option<f64>,
        valid: impl Fn(f64) -> bool,
        rule: &str,
    ) -> f64 {
        match v {
            Some(s) => {
                let x = *s.get_ref();
                if !x.is_finite() || !valid(x) {
                    self.problem(
                        s.span().start,
                        field,
                        format!("{x} is out of range: {rule}"),
                    );
                }
                x
            }
            None => default.unwrap_or_else(|| {
                self.problem(at, field, "required field is missing");
                0.0
            }),
        }
    }

    /// A whole number ≥ 0 and at most [`MAX_COUNT`].
    pub(super) fn count(
        &mut self,
        v: Option<Spanned<i64>>,
        at: usize,
        field: &str,
        default: Option<u32>,
    ) -> u32 {
        match v {
            Some(s) => match u32::try_from(*s.get_ref()) {
                Ok(n) if n <= MAX_COUNT => n,
                Ok(n) => {
                    self.problem(
                        s.span().start,
                        field,
                        format!("{n} is out of range: at most {MAX_COUNT} (the most workers spillway tracks)"),
                    );
                    0
                }
                Err(_) => {
                    self.problem(
                        s.span().start,
                        field,
                        format!(
                            "{} is out of range: must be a whole number ≥ 0",
                            s.get_ref()
                        ),
                    );
                    0
                }
            },
            None => default.unwrap_or_else(|| {
                self.problem(at, field, "required field is missing");
                0
            }),
        }
    }
}

/// Splits an optional section into (its offset, its contents), reporting it if missing.
pub(super) fn split<T>(
    section: Option<Spanned<T>>,
    name: &str,
    check: &mut Checker<'_>,
) -> (usize, Option<T>) {
    match section {
        Some(s) => (s.span().start, Some(s.into_inner())),
        None => {
            check.problem(0, name, format!("required section [{name}] is missing"));
            (0, None)
        }
    }
}
