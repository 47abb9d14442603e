//! A trace file's text to rows: the header names the format, every row is checked (two fields,
//! numbers ≥ 0, time moving forward, within the spans and sizes a simulation holds), and every
//! bad row is reported with its line before anything runs. Millions of rows are read without
//! an allocation a row.

use super::{
    ARRIVALS_HEADER, JOB_LOG_HEADER, MAX_JOB_S, MAX_JOBS, MAX_QUEUES, MAX_SPAN_S,
    QUEUED_JOB_LOG_HEADER, RawTrace, TraceError, figure,
};

/// Parses trace text; `origin` names it in messages. Lists every bad row (the first 50).
pub fn parse(text: &str, origin: &str) -> Result<RawTrace, TraceError> {
    let mut lines = text.lines().enumerate();
    let raw_header = lines.next().map(|(_, h)| h.trim()).unwrap_or_default();
    let header = raw_header.to_ascii_lowercase();
    let mut queued = false;
    let (is_log, names) = match header.replace(' ', "").as_str() {
        JOB_LOG_HEADER => (true, ["submit_s", "duration_s"]),
        QUEUED_JOB_LOG_HEADER => {
            queued = true;
            (true, ["submit_s", "duration_s"])
        }
        ARRIVALS_HEADER => (false, ["t_seconds", "arrivals"]),
        _ if raw_header.starts_with('{') => {
            return Err(TraceError::Invalid {
                problems: vec![format!(
                    "{origin}:1: this is a JSON Lines file (a `spillway run --record` file?), not a trace: turn a record into a job log with `spillway trace from-record {origin} -o trace.csv`"
                )],
            });
        }
        _ => {
            // Quoted as written, shortened: a whole line of data says little more.
            let shown: String = raw_header.chars().take(60).collect();
            let cut = if raw_header.chars().count() > 60 {
                "…"
            } else {
                ""
            };
            return Err(TraceError::Invalid {
                problems: vec![format!(
                    "{origin}:1: header \"{shown}{cut}\" is not a trace header (expected \"submit_s,duration_s\", \"submit_s,duration_s,queue\" or \"t_seconds,arrivals\")"
                )],
            });
        }
    };
    // A row a line at most: sized once.
    let mut rows = Vec::with_capacity(text.bytes().filter(|&b| b == b'\n').count() + 1);
    let mut problems = Vec::new();
    // A queued job log's queue per row, and the queue names in order of first appearance.
    let mut queue_of: Vec<u16> = Vec::new();
    let mut queue_names: Vec<String> = Vec::new();
    let mut bad = 0usize;
    let mut last_t = f64::NEG_INFINITY;
    let mut first_t = None;
    for (i, line) in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut complain = |msg: String| {
            bad += 1;
            if problems.len() < 50 {
                problems.push(format!("{origin}:{}: {msg}", i + 1));
            }
        };
        // A queued log's last field is the queue's name: taken off first.
        let mut queue = None;
        let line = if queued {
            let commas = line.matches(',').count();
            let Some((head, name)) = line.rsplit_once(',').filter(|_| commas == 2) else {
                complain(format!(
                    "expected 3 fields (submit_s,duration_s,queue), found {}",
                    commas + 1
                ));
                continue;
            };
            let name = name.trim();
            let known = queue_names.iter().position(|n| n == name);
            if name.is_empty() || name.len() > 80 || name.contains(char::is_whitespace) {
                complain(format!(
                    "queue: \"{name}\" is not a queue name (1 to 80 characters, no spaces)"
                ));
                continue;
            }
            if known.is_none() && queue_names.len() >= MAX_QUEUES {
                complain(format!(
                    "queue: \"{name}\" would be queue {}: a trace names at most {MAX_QUEUES}",
                    MAX_QUEUES + 1
                ));
                continue;
            }
            queue = Some(known.unwrap_or(queue_names.len()) as u16);
            if known.is_none() {
                queue_names.push(name.to_string());
            }
            head
        } else {
            line
        };
        // Two fields, found without collecting them (a trace may have millions of rows); the
        // commas are counted only on a row that has too many.
        let (fields, found) = match line.split_once(',') {
            None => ([line, ""], 1),
            Some((a, b)) if b.contains(',') => ([a, b], 2 + b.matches(',').count()),
            Some((a, b)) => ([a.trim(), b.trim()], 2),
        };
        if found != 2 {
            complain(format!(
                "expected 2 fields ({}), found {found}",
                names.join(","),
            ));
            continue;
        }
        let mut vals = [0.0; 2];
        let mut ok = true;
        for k in 0..2 {
            match plain_decimal(fields[k]).map_or_else(|| fields[k].parse::<f64>(), Ok) {
                Ok(v) if v.is_finite() && v >= 0.0 => vals[k] = v,
                _ => {
                    complain(format!(
                        "{}: \"{}\" is not a number ≥ 0",
                        names[k], fields[k]
                    ));
                    ok = false;
                }
            }
        }
        if !ok {
            continue;
        }
        if vals[0] < last_t {
            complain(format!(
                "{}: {} goes back in time (previous row {last_t})",
                names[0], vals[0]
            ));
            continue;
        }
        let first = *first_t.get_or_insert(vals[0]);
        if vals[0] - first > MAX_SPAN_S {
            complain(format!(
                "{}: {} is {:.3e} s after the first row, beyond the longest span a simulation \
                 covers ({MAX_SPAN_S:.0e} s, about 3 years): split the trace",
                names[0],
                figure(vals[0]),
                vals[0] - first
            ));
            continue;
        }
        if !is_log && vals[1] > MAX_JOBS {
            complain(format!(
                "{}: {} arrivals in one row is more than the {MAX_JOBS:.0} jobs one simulation \
                 holds",
                names[1],
                figure(vals[1])
            ));
            continue;
        }
        if is_log && vals[1] > MAX_JOB_S {
            complain(format!(
                "{}: {} s is longer than the longest job a simulation holds ({MAX_JOB_S:.0e} s)",
                names[1],
                figure(vals[1])
            ));
            continue;
        }
        last_t = vals[0];
        rows.push((vals[0], vals[1]));
        queue_of.extend(queue);
    }
    if bad > 0 {
        if bad > problems.len() {
            problems.push(format!(
                "{origin}: … and {} more bad rows",
                bad - problems.len()
            ));
        }
        return Err(TraceError::Invalid { problems });
    }
    if rows.is_empty() {
        return Err(TraceError::Invalid {
            problems: vec![format!("{origin}: the trace has no rows")],
        });
    }
    Ok(if queued {
        RawTrace::QueuedJobLog {
            rows,
            queue: queue_of,
            names: queue_names,
        }
    } else if is_log {
        RawTrace::JobLog(rows)
    } else {
        RawTrace::Arrivals(rows)
    })
}

/// A number written as plain digits with at most one point and 15 significant digits (what
/// trace files hold), read without the general parser: the digits as an integer divided by a
/// power of ten, both exact in an f64, so the quotient is the correctly rounded value
/// `str::parse` gives (Clinger's fast path). `None` for anything else (signs, exponents, more
/// digits), which the general parser reads.
fn plain_decimal(s: &str) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (mut mantissa, mut digits, mut after_point) = (0u64, 0usize, None::<usize>);
    for &b in s.as_bytes() {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                digits += 1;
                if let Some(n) = after_point.as_mut() {
                    *n += 1;
                }
            }
            b'.' if after_point.is_none() => after_point = Some(0),
            _ => return None,
        }
        if digits > 15 {
            return None;
        }
    }
    if digits == 0 {
        return None;
    }
    Some(mantissa as f64 / POW10[after_point.unwrap_or(0)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::SimRng;

    #[test]
    fn plain_decimals_read_as_the_general_parser_reads_them() {
        let typical = [
            "0",
            "0.0",
            "7",
            "125001.669",
            "0.400",
            "1.5",
            "3.",
            ".5",
            "999999999999999",
            "0.00000000000001",
            "12345.678901234",
            "0.1",
            "0.3",
            "86400",
            "17304.25",
        ];
        for s in typical {
            assert_eq!(
                plain_decimal(s).map(f64::to_bits),
                Some(s.parse::<f64>().unwrap().to_bits()),
                "{s}"
            );
        }
        // Anything else, sixteen digits or more (leading zeros count), goes to the general
        // parser.
        let others = [
            "",
            ".",
            "1e3",
            "-1",
            "+1",
            "1.2.3",
            "1,5",
            "1234567890123456",
            "inf",
            "NaN",
            "0.000000000000001",
        ];
        for s in others {
            assert_eq!(plain_decimal(s), None, "{s}");
        }
        // Random numbers as traces write them, bit for bit.
        let mut rng = SimRng::new(7, 0);
        for _ in 0..100_000 {
            let v = rng.exponential(1000.0);
            for s in [format!("{v:.3}"), format!("{v:.6}"), format!("{:.0}", v)] {
                assert_eq!(
                    plain_decimal(&s).map(f64::to_bits),
                    Some(s.parse::<f64>().unwrap().to_bits()),
                    "{s}"
                );
            }
        }
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let text = "submit_s,duration_s\n0,10\nx,5\n3,-1\n4\n5,1\n2,1\n";
        let TraceError::Invalid { problems } = parse(text, "t.csv").unwrap_err() else {
            panic!()
        };
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("t.csv:3: submit_s"));
        assert!(problems[1].starts_with("t.csv:4: duration_s"));
        assert!(problems[2].starts_with("t.csv:5: expected 2 fields"));
        assert!(problems[3].contains("goes back in time"));
    }

    #[test]
    fn spans_and_jobs_beyond_what_a_simulation_holds_are_refused_with_their_line() {
        // Reproduction (issue "hostile input"): `submit_s,duration_s\n0,10\n1e12,10` ran 40 s
        // and aborted allocating 3.7 GB; an arrival series at 1e15 did the same, and a 1e300 s
        // job overflowed the oracle's plan.
        for (text, field) in [
            ("submit_s,duration_s\n0,10\n1e12,10\n", "t.csv:3: submit_s"),
            ("t_seconds,arrivals\n0,1\n1e15,1\n", "t.csv:3: t_seconds"),
            ("submit_s,duration_s\n0,1e300\n", "t.csv:2: duration_s"),
            ("t_seconds,arrivals\n0,1\n60,1e15\n", "t.csv:3: arrivals"),
        ] {
            let TraceError::Invalid { problems } = parse(text, "t.csv").unwrap_err() else {
                panic!("{text}")
            };
            assert!(problems[0].starts_with(field), "{problems:?}");
        }
        // A trace that starts late is measured from its first row.
        assert!(parse("submit_s,duration_s\n5e9,10\n5.0001e9,10\n", "t.csv").is_ok());
    }
}
