//! Drawing primitives for the simulator chart: the panel coordinate frame, text escaping,
//! the legend, grid and axes of a panel, and series as SVG paths.

use super::axis::{Num, count_label, duration_label};
use super::columns::Column;
use super::{H, LEFT, PLOT_W, RIGHT, W};
use std::fmt::Write as _;

/// Maps trace time and a value onto one panel's pixels.
pub(super) struct Frame {
    pub y0: f64,
    pub h: f64,
    pub t0: f64,
    pub t1: f64,
    pub vmax: f64,
}

impl Frame {
    /// Pixel x of time `t` (the panel spans `t0..=t1`).
    pub fn x(&self, t: f64) -> f64 {
        LEFT + (t - self.t0) / (self.t1 - self.t0) * PLOT_W
    }
    /// Pixel y of value `v`, clamped into the panel (`0..=vmax`).
    pub fn y(&self, v: f64) -> f64 {
        self.y0 + self.h * (1.0 - (v / self.vmax).clamp(0.0, 1.0))
    }
    /// Pixel y of the panel's zero line.
    pub fn bottom(&self) -> f64 {
        self.y0 + self.h
    }
}

/// How a legend entry is drawn.
pub(super) enum Swatch {
    /// A filled box: fill, outline.
    Fill(&'static str, &'static str),
    /// A short line: colour, dashed.
    Line(&'static str, bool),
}

/// Escapes text for SVG character data and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Shortens `s` to at most `max` characters, ending with `…` when cut.
pub(super) fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Pool (fill, outline): the datacenter pool muted, the others in warm colours.
const POOL_COLOURS: [(&str, &str); 5] = [
    ("#a9bdd1", "#6f8cab"),
    ("#f4a261", "#d9803a"),
    ("#e9c46a", "#c9a23f"),
    ("#e76f51", "#c4533a"),
    ("#c9a7d9", "#9a78b0"),
];

/// Fill and outline colour of the `nth` pool of kind `kind`: datacenter blue-grey, EC2
/// orange then red, command pools yellow then purple.
pub(super) fn pool_colour_of(kind: super::PoolLook, nth: usize) -> (&'static str, &'static str) {
    let choices: &[usize] = match kind {
        super::PoolLook::Datacenter => &[0],
        super::PoolLook::Ec2 => &[1, 3],
        super::PoolLook::Command => &[2, 4],
    };
    POOL_COLOURS[choices[nth % choices.len()]]
}

/// Fill and outline colour of pool `i`.
pub(super) fn pool_colour(i: usize) -> (&'static str, &'static str) {
    POOL_COLOURS[if i == 0 {
        0
    } else {
        1 + (i - 1) % (POOL_COLOURS.len() - 1)
    }]
}

/// Writes the time labels under the queue panel, the axis title and, when samples were merged,
/// a note saying over how long each column takes its peak.
pub(super) fn draw_time_axis(
    out: &mut String,
    f: &Frame,
    ticks: &[(f64, String)],
    bucket: Option<f64>,
) {
    out.push_str("<g font-size=\"12\" fill=\"#444444\" text-anchor=\"middle\">\n");
    for (t, label) in ticks {
        let (x, y) = (Num(f.x(*t)), Num(f.bottom() + 18.0));
        w!(out, "<text x=\"{x}\" y=\"{y}\">{}</text>\n", escape(label));
    }
    let (x, y) = (Num(LEFT + PLOT_W / 2.0), Num(H - 6.0));
    w!(
        out,
        "<text x=\"{x}\" y=\"{y}\" fill=\"#777777\">time since trace start</text>\n"
    );
    if let Some(width) = bucket {
        let note = format!("each column: peak over {}", duration_label(width));
        let x = Num(W - RIGHT);
        w!(
            out,
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"end\" fill=\"#999999\">{note}</text>\n"
        );
    }
    out.push_str("</g>\n");
}

/// Draws the legend as rows of entries under the subtitle; returns the last row's baseline.
pub(super) fn draw_legend(out: &mut String, entries: &[(String, Swatch)]) -> f64 {
    let (mut x, mut y) = (LEFT, 80.0);
    out.push_str("<g font-size=\"12\" fill=\"#333333\">\n");
    for (label, swatch) in entries {
        let width = 22.0 + 7.0 * label.chars().count() as f64 + 20.0;
        if x > LEFT && x + width > W - RIGHT {
            (x, y) = (LEFT, y + 18.0);
        }
        let (sx, sy, mid) = (Num(x), Num(y - 10.0), Num(y - 4.5));
        match swatch {
            Swatch::Fill(fill, stroke) => w!(
                out,
                "<rect x=\"{sx}\" y=\"{sy}\" width=\"16\" height=\"11\" fill=\"{fill}\" \
                 stroke=\"{stroke}\"/>"
            ),
            Swatch::Line(colour, dashed) => {
                let dash = if *dashed {
                    " stroke-dasharray=\"5 3\""
                } else {
                    ""
                };
                let x2 = Num(x + 16.0);
                w!(
                    out,
                    "<line x1=\"{sx}\" y1=\"{mid}\" x2=\"{x2}\" y2=\"{mid}\" stroke=\"{colour}\" \
                     stroke-width=\"2\"{dash}/>"
                )
            }
        }
        let tx = Num(x + 22.0);
        w!(
            out,
            "<text x=\"{tx}\" y=\"{}\">{}</text>\n",
            Num(y),
            escape(label)
        );
        x += width;
    }
    out.push_str("</g>\n");
    y
}

/// Draws one panel's grid lines, y tick labels, axis title and axis lines.
pub(super) fn draw_grid(
    out: &mut String,
    f: &Frame,
    y_ticks: &[f64],
    x_ticks: &[(f64, String)],
    name: &str,
) {
    let (x1, bottom) = (Num(LEFT + PLOT_W), Num(f.bottom()));
    out.push_str("<g stroke=\"#e4e4e4\" stroke-width=\"1\">\n");
    for &v in y_ticks {
        let y = Num(f.y(v));
        w!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{y}\" x2=\"{x1}\" y2=\"{y}\"/>\n"
        );
    }
    for (t, _) in x_ticks {
        let x = Num(f.x(*t));
        w!(
            out,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{bottom}\" stroke=\"#eeeeee\"/>\n",
            Num(f.y0)
        );
    }
    out.push_str("</g>\n<g font-size=\"12\" fill=\"#444444\" text-anchor=\"end\">\n");
    for &v in y_ticks {
        w!(
            out,
            "<text x=\"{}\" y=\"{}\">{}</text>\n",
            Num(LEFT - 8.0),
            Num(f.y(v) + 4.0),
            count_label(v)
        );
    }
    let mid = Num(f.y0 + f.h / 2.0);
    w!(
        out,
        "<text transform=\"translate(18 {mid}) rotate(-90)\" text-anchor=\"middle\" fill=\"#666666\">{}</text>\n</g>\n",
        escape(name)
    );
    w!(
        out,
        "<path d=\"M{LEFT} {} L{LEFT} {bottom} L{x1} {bottom}\" fill=\"none\" stroke=\"#888888\"/>\n",
        Num(f.y0)
    );
}

/// Appends `x y` pairs of one series to a path's data.
fn points<'a>(
    out: &mut String,
    f: &Frame,
    cols: impl Iterator<Item = &'a Column>,
    v: impl Fn(&Column) -> f64,
) {
    for c in cols {
        w!(out, "{} {} ", Num(f.x(c.t)), Num(f.y(v(c))));
    }
}

/// Draws the band between `lo` and `hi` as one closed path.
pub(super) fn area(
    out: &mut String,
    f: &Frame,
    cols: &[Column],
    lo: impl Fn(&Column) -> f64,
    hi: impl Fn(&Column) -> f64,
    attrs: &str,
) {
    if cols.len() < 2 {
        return;
    }
    out.push_str("<path d=\"M");
    points(out, f, cols.iter(), hi);
    points(out, f, cols.iter().rev(), lo);
    w!(out, "Z\" {attrs}/>\n");
}

/// Draws one series as an open line.
pub(super) fn line(
    out: &mut String,
    f: &Frame,
    cols: &[Column],
    v: impl Fn(&Column) -> f64,
    attrs: &str,
) {
    if cols.len() < 2 {
        return;
    }
    out.push_str("<path d=\"M");
    points(out, f, cols.iter(), v);
    w!(out, "\" fill=\"none\" {attrs}/>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_markup_characters() {
        assert_eq!(
            escape("R&D <farm> \"a\" 'b'"),
            "R&amp;D &lt;farm&gt; &quot;a&quot; &apos;b&apos;"
        );
        assert_eq!(escape("ec2 ×8 · $1\u{7}"), "ec2 ×8 · $1 ");
    }

    #[test]
    fn fit_cuts_long_text_by_characters() {
        assert_eq!(fit("short", 10), "short");
        assert_eq!(fit("ééééé", 3), "éé…");
        assert_eq!(fit("abc", 3), "abc");
    }

    #[test]
    fn frame_maps_range_onto_panel() {
        let f = Frame {
            y0: 100.0,
            h: 200.0,
            t0: 60.0,
            t1: 120.0,
            vmax: 50.0,
        };
        assert_eq!((f.x(60.0), f.x(120.0)), (LEFT, LEFT + PLOT_W));
        assert_eq!((f.y(0.0), f.y(50.0), f.y(25.0)), (300.0, 100.0, 200.0));
        assert_eq!(
            f.y(1e9),
            100.0,
            "values above the axis are clamped to its top"
        );
    }
}
