//! The side-by-side table `spillway compare` prints: one row per strategy at its cheapest
//! SLO-meeting setting, the oracle and the floor; columns as wide as their contents, marks on
//! what misses the SLO or sits at the edge of its sweep, and what to put in the policy.

use super::compare::{Comparison, Run, StrategySweep};

/// The side-by-side table: columns as wide as their contents, a mark on a result that misses
/// the SLO and on a best setting at the edge of the range swept, and a closing line that says
/// what to put in the policy.
pub fn table(c: &Comparison) -> String {
    let floor = c.oracle_ec2_hours_floor.max(1e-9);
    let slo = c.slo_wait_s;
    let mut rows: Vec<[String; 8]> = vec![[
        "strategy".into(),
        "cheapest setting meeting the SLO".into(),
        "EC2 h".into(),
        "× floor".into(),
        "p99 wait".into(),
        "within SLO".into(),
        "launches".into(),
        "runs".into(),
    ]];
    let mut notes = Vec::new();
    for st in &c.strategies {
        rows.push(match &st.best {
            Some(b) => {
                let mut setting = format!("{} = {}", st.knob, b.setting);
                if at_edge(st, b) {
                    setting.push_str(" ‡");
                    notes.push(format!(
                        "‡ {}: the best setting is at the edge of the range swept; a setting beyond it might be cheaper",
                        st.strategy
                    ));
                }
                [
                    st.strategy.clone(),
                    setting,
                    format!("{:.1}", b.ec2_billed_hours),
                    format!("{:.2}×", b.ec2_billed_hours / floor),
                    crate::model::format_wait(b.wait_p99_s),
                    format!("{:.2}%", b.slo_attainment * 100.0),
                    b.launches.to_string(),
                    st.runs.len().to_string(),
                ]
            }
            None => [
                st.strategy.clone(),
                "no setting met the SLO".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                st.runs.len().to_string(),
            ],
        });
    }
    let o = &c.oracle;
    // With job classes, each queue is judged against its own SLO.
    let missed = match o.queues.is_empty() {
        true => o.wait_p99_s > slo,
        false => o.queues.iter().any(|q| !q.meets_slo),
    };
    let misses = if missed { " ✗" } else { "" };
    if !misses.is_empty() {
        notes.push("✗ misses the SLO".into());
    }
    rows.push([
        "oracle".into(),
        "clairvoyant, not deployable".into(),
        format!("{:.1}", o.ec2_billed_hours),
        format!("{:.2}×", o.ec2_billed_hours / floor),
        format!("{}{misses}", crate::model::format_wait(o.wait_p99_s)),
        format!("{:.2}%", o.slo_attainment * 100.0),
        o.launches.to_string(),
        "1".into(),
    ]);
    rows.push([
        "floor".into(),
        "zero idle, zero boot, no billing minimum".into(),
        format!("{:.1}", c.oracle_ec2_hours_floor),
        "1.00×".into(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    let mut widths = [0usize; 8];
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in r.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            if i < 2 {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            }
            line.push_str("  ");
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    if c.oracle.queues.is_empty() {
        s.push_str(&format!(
            "SLO: p99 wait ≤ {}\n",
            crate::model::format_wait(slo)
        ));
    } else {
        s.push_str(&per_queue(c));
    }
    for n in notes {
        s.push_str(&n);
        s.push('\n');
    }
    // The cheapest of spillway's rows (`spillway+wait`, `spillway+launch` when the policy has
    // them), named when it is not the plain one.
    let cheapest = c
        .strategies
        .iter()
        .filter(|s| s.strategy.starts_with("spillway"))
        .filter_map(|s| s.best.as_ref().map(|b| (s.strategy.as_str(), b)))
        .min_by(|a, b| a.1.ec2_billed_hours.total_cmp(&b.1.ec2_billed_hours));
    if let Some((name, best)) = cheapest {
        let how = match name {
            "spillway" => String::new(),
            other => format!(" ({other})"),
        };
        s.push_str(&format!(
            "To deploy spillway at its cheapest setting that meets the SLO{how}: {} = {} in the policy.\n",
            "target.free_busy_ratio", best.setting
        ));
    }
    s
}

/// With job classes: each queue's SLO, and each row's p99 wait per queue and EC2 dollars
/// (classes' instances differ in price, so hours alone do not compare them).
fn per_queue(c: &Comparison) -> String {
    let slos: Vec<String> = c
        .oracle
        .queues
        .iter()
        .map(|q| format!("{} ≤ {}", q.name, crate::model::format_wait(q.slo_wait_s)))
        .collect();
    let mut s = format!("SLO: p99 wait per queue: {}\n", slos.join(", "));
    let rows = c
        .strategies
        .iter()
        .filter_map(|st| st.best.as_ref().map(|b| (st.strategy.as_str(), b)))
        .chain(std::iter::once(("oracle", &c.oracle)));
    for (name, run) in rows {
        let waits: Vec<String> = run
            .queues
            .iter()
            .map(|q| {
                let mark = if q.meets_slo { "" } else { " ✗" };
                format!(
                    "{} {}{mark}",
                    q.name,
                    crate::model::format_wait(q.wait_p99_s)
                )
            })
            .collect();
        s.push_str(&format!(
            "  {name:<16} ${:.2} of EC2; p99 wait {}\n",
            run.ec2_cost_usd,
            waits.join(", ")
        ));
    }
    s
}

/// Whether `b` is the smallest or largest setting `st` ran.
fn at_edge(st: &StrategySweep, b: &Run) -> bool {
    let lo = st
        .runs
        .iter()
        .map(|r| r.setting)
        .fold(f64::INFINITY, f64::min);
    let hi = st
        .runs
        .iter()
        .map(|r| r.setting)
        .fold(f64::NEG_INFINITY, f64::max);
    st.runs.len() > 1 && ((b.setting - lo).abs() < 1e-9 || (b.setting - hi).abs() < 1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(setting: f64, hours: f64, p99: f64) -> Run {
        Run {
            setting,
            ec2_billed_hours: hours,
            wait_p99_s: p99,
            meets_slo: p99 <= 30.0,
            slo_attainment: 0.995,
            launches: 12,
            ec2_cost_usd: hours * 0.34,
            queues: Vec::new(),
        }
    }

    #[test]
    fn the_table_marks_misses_and_edges_and_says_what_to_deploy() {
        // Reproduction (issue "ops habits"): the oracle's p99 of 791.5 s beside a 30 s SLO had
        // no mark, a best setting at the edge of its range (free_busy_ratio = 0) was not
        // flagged, columns went out of line, and nothing said what to put in the policy.
        let c = Comparison {
            slo_wait_s: 30.0,
            oracle_ec2_hours_floor: 100.0,
            oracle: run(0.0, 120.0, 791.5),
            strategies: vec![
                StrategySweep {
                    strategy: "spillway".into(),
                    knob: "target.free_busy_ratio".into(),
                    best: Some(run(0.0, 130.0, 12.0)),
                    runs: vec![run(0.0, 130.0, 12.0), run(0.5, 180.0, 3.0)],
                },
                StrategySweep {
                    strategy: "target-tracking".into(),
                    knob: "target_tracking.backlog_per_instance".into(),
                    best: Some(run(0.3, 150.0, 20.0)),
                    runs: vec![
                        run(0.1, 190.0, 5.0),
                        run(0.3, 150.0, 20.0),
                        run(0.9, 90.0, 99.0),
                    ],
                },
            ],
        };
        let t = table(&c);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[1].contains("target.free_busy_ratio = 0 ‡"), "{t}");
        assert!(!lines[2].contains('‡'), "{t}");
        assert!(
            lines[3].starts_with("oracle") && lines[3].contains("13.2 min ✗"),
            "{t}"
        );
        assert!(
            t.contains("‡ spillway: the best setting is at the edge"),
            "{t}"
        );
        assert!(t.contains("✗ misses the SLO"), "{t}");
        assert!(
            t.ends_with("target.free_busy_ratio = 0 in the policy.\n"),
            "{t}"
        );
        // Columns line up: the header and every full row are the same width.
        let width = |l: &str| l.chars().count();
        assert!(
            lines[..4].iter().all(|l| width(l) == width(lines[0])),
            "{t}"
        );
    }
}
