//! `tune --plot`: the frontier as SVG. Every setting simulated is a grey dot, the frontier a
//! line, the SLO a dashed vertical; the current policy and the recommendation are labelled.

use std::fmt::Write;

use super::{Evaluation, Tuning};
use crate::sim::plot::axis::{Num, count_label, nice_ticks};
use crate::sim::plot::draw::escape;

const W: f64 = 860.0;
const H: f64 = 520.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 60.0;

/// The frontier of `t` as an SVG document, titled with `title`.
pub fn render(t: &Tuning, title: &str) -> String {
    // Wait axis: up to three times the SLO, enough to see the trade-off; settings waiting
    // longer are counted in the legend, not drawn.
    let x_max_data = t
        .evaluations
        .iter()
        .chain(std::iter::once(&t.current))
        .map(|e| e.wait_p99_s)
        .filter(|w| *w <= 3.0 * t.slo_wait_s)
        .fold(t.slo_wait_s * 1.2, f64::max);
    let shown = |e: &Evaluation| e.wait_p99_s <= x_max_data;
    let y_max_data = t
        .evaluations
        .iter()
        .chain(std::iter::once(&t.current))
        .filter(|e| shown(e))
        .map(|e| e.ec2_cost_usd)
        .fold(1.0, f64::max);
    let xt = nice_ticks(x_max_data, 8, 1.0);
    let yt = nice_ticks(y_max_data, 6, 1.0);
    let (x_top, y_top) = (
        *xt.last().unwrap_or(&x_max_data),
        *yt.last().unwrap_or(&y_max_data),
    );
    let x = |w: f64| LEFT + w / x_top * (W - LEFT - RIGHT);
    let y = |c: f64| H - BOTTOM - c / y_top * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{W}\" height=\"{H}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"24\" font-size=\"16\">{}</text>\n\
         <text x=\"{LEFT}\" y=\"44\" fill=\"#555\">{} settings simulated; {} beyond {} s not drawn</text>\n",
        escape(title),
        t.evaluations.len(),
        t.evaluations.iter().filter(|e| !shown(e)).count(),
        Num(x_top)
    );
    for v in &xt {
        let _ = writeln!(
            s,
            "<line x1=\"{0:.1}\" y1=\"{TOP}\" x2=\"{0:.1}\" y2=\"{1}\" stroke=\"#eee\"/>\
             <text x=\"{0:.1}\" y=\"{2}\" text-anchor=\"middle\">{3}</text>",
            x(*v),
            H - BOTTOM,
            H - BOTTOM + 18.0,
            Num(*v)
        );
    }
    for v in &yt {
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#eee\"/>\
             <text x=\"{2}\" y=\"{3:.1}\" text-anchor=\"end\">${4}</text>",
            y(*v),
            W - RIGHT,
            LEFT - 8.0,
            y(*v) + 4.0,
            count_label(*v)
        );
    }
    let _ = write!(
        s,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">p99 queue wait (s)</text>\n\
         <text x=\"18\" y=\"{:.1}\" transform=\"rotate(-90 18 {:.1})\" text-anchor=\"middle\">EC2 cost (USD)</text>\n\
         <line x1=\"{2:.1}\" y1=\"{TOP}\" x2=\"{2:.1}\" y2=\"{3}\" stroke=\"#c0392b\" stroke-dasharray=\"6 4\"/>\
         <text x=\"{4:.1}\" y=\"{5}\" fill=\"#c0392b\">SLO {6} s</text>\n",
        (LEFT + W - RIGHT) / 2.0,
        H - 16.0,
        x(t.slo_wait_s),
        H - BOTTOM,
        x(t.slo_wait_s) + 4.0,
        TOP + 12.0,
        Num(t.slo_wait_s),
    );
    for e in t.evaluations.iter().filter(|e| shown(e)) {
        let _ = writeln!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#bbb\"/>",
            x(e.wait_p99_s),
            y(e.ec2_cost_usd)
        );
    }
    let line: Vec<String> = t
        .frontier
        .iter()
        .map(|&i| &t.evaluations[i])
        .filter(|e| shown(e))
        .map(|e| format!("{:.1},{:.1}", x(e.wait_p99_s), y(e.ec2_cost_usd)))
        .collect();
    let _ = writeln!(
        s,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#2471a3\" stroke-width=\"2\"/>",
        line.join(" ")
    );
    let mut mark = |e: &Evaluation, color: &str, label: String| {
        if shown(e) {
            let (cx, cy) = (x(e.wait_p99_s), y(e.ec2_cost_usd));
            let _ = writeln!(
                s,
                "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"6\" fill=\"{color}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{color}\">{}</text>",
                cx + 9.0,
                cy - 8.0,
                escape(&label)
            );
        }
    };
    let c = &t.current;
    mark(
        c,
        "#d35400",
        format!("current: ${:.0}, p99 {:.1} s", c.ec2_cost_usd, c.wait_p99_s),
    );
    if let Some(r) = t.recommended.map(|i| &t.evaluations[i]) {
        mark(
            r,
            "#1e8449",
            format!(
                "recommended: ${:.0}, p99 {:.1} s",
                r.ec2_cost_usd, r.wait_p99_s
            ),
        );
    }
    s.push_str("</svg>\n");
    s
}
