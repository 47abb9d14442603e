//! SVG chart of one simulated run, written by `spillway simulate --plot out.svg`.
//!
//! The chart reads like an operations dashboard: a top panel with the fleet over time
//! (capacity per pool as stacked areas, EC2 workers still booting hatched on top, `busy` as a
//! solid line, `demand` dashed) and a bottom panel with queue depth, over one time axis.
//! Long traces are reduced to at most [`MAX_COLUMNS`] x-columns keeping each column's peak,
//! so a year of minute samples stays a small file. Output is standalone SVG 1.1; std only.
//!
//! Submodules: `axis` (ticks, labels, number text), `columns` (downsampling), `draw` (SVG pieces).

/// Appends formatted text to a `String` (writing to a `String` cannot fail).
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

pub(crate) mod axis;
mod columns;
pub(crate) mod draw;

use axis::{Num, nice_ticks, time_ticks};
use columns::{Column, downsample};
use draw::{
    Frame, Swatch, area, draw_grid, draw_legend, draw_time_axis, escape, fit, line, pool_colour,
    pool_colour_of,
};
use std::fmt::Write as _;

/// One sample of the simulated farm. Samples are usually evenly spaced (every 60 s), but the
/// chart places each by its own time. Non-finite or negative values are drawn as 0.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotSample {
    /// Seconds since trace start.
    pub t_s: f64,
    /// Jobs waiting in the queue, both classes.
    pub queued: f64,
    /// Of those, batch (backfill) jobs: drawn apart from interactive ones.
    pub queued_batch: f64,
    /// Jobs that would be running if none waited (the ideal fleet size).
    pub demand: f64,
    /// Workers running a job, all pools together.
    pub busy: f64,
    /// Per pool, workers that are up (idle or busy), in the order of [`PlotData::pools`].
    pub capacity: Vec<f64>,
    /// EC2 workers launched but not ready yet.
    pub booting: f64,
    /// With job classes: jobs waiting in each queue, in the order of [`PlotData::queues`]
    /// (empty without).
    pub by_queue: Vec<f64>,
}

/// Everything the chart shows: headings, pool names and the samples.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotData {
    /// Main heading, e.g. `spillway on lanl_cm5_1994_jobs.csv ×8`.
    pub title: String,
    /// Second line, e.g. `p99 wait 12 s (SLO 30 s) · EC2 412.3 h · $140.18`.
    pub subtitle: String,
    /// Pool names, datacenter first. Capacity entries beyond these are named `pool N`.
    pub pools: Vec<String>,
    /// What each pool is, for its colour (a pool's colour follows its kind, not its index);
    /// pools beyond these are coloured by index.
    pub pool_kinds: Vec<PoolLook>,
    /// The samples, in any order.
    pub samples: Vec<PlotSample>,
    /// With job classes: the queues, each drawn as a line over the queue panel.
    pub queues: Vec<String>,
}

/// What a pool is, as the chart colours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolLook {
    Datacenter,
    Command,
    Ec2,
}

/// Most x-columns the chart draws: one per horizontal pixel of the plot area.
pub const MAX_COLUMNS: usize = PLOT_W as usize;

const W: f64 = 1200.0;
const H: f64 = 700.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 36.0;
const PLOT_W: f64 = W - LEFT - RIGHT;
const GAP: f64 = 26.0;
/// Baseline of both panels' x axis (the queue panel's bottom edge).
const BOTTOM: f64 = H - 40.0;
const INK: &str = "#1d2b3a";
const DEMAND: &str = "#c0392b";
const BOOT: &str = "#e07b39";
const QUEUE_FILL: &str = "#f4c0b8";
const BATCH_FILL: &str = "#cdd9e5";
const BATCH_LINE: &str = "#5b7a99";
/// Each queue's line, with job classes (in turn, past the last).
const QUEUE_LINES: [&str; 4] = ["#6c3483", "#117a65", "#1f618d", "#7d6608"];

/// Renders the chart as a standalone SVG document (about 1200×700). Never panics: empty or
/// odd input (no samples, NaN, unequal capacity lengths) still gives a valid, labelled chart.
pub fn render_svg(data: &PlotData) -> String {
    let longest = data.samples.iter().map(|s| s.capacity.len()).max();
    let n_pools = longest.unwrap_or(0).max(data.pools.len());
    let (mut cols, bucket) = downsample(&data.samples, n_pools, MAX_COLUMNS);
    if let [only] = cols.as_slice() {
        // A single instant: draw it one minute wide so it is visible.
        let next = Column {
            t: only.t + 60.0,
            ..only.clone()
        };
        cols.push(next);
    }
    let (t0, t1) = match (cols.first(), cols.last()) {
        (Some(a), Some(b)) if b.t > a.t => (a.t, b.t),
        _ => (0.0, 3600.0),
    };
    let peak = |f: &dyn Fn(&Column) -> f64| cols.iter().map(f).fold(0.0, f64::max);
    // A demand spike far above the fleet (a backfill landing) would flatten the fleet into a
    // line: the scale follows the fleet, and demand above it is drawn at the top, with a note.
    let fleet_peak = peak(&|c| stack_top(c).max(c.busy));
    let demand_peak = peak(&|c| c.demand);
    let off_scale = demand_peak > 2.0 * fleet_peak.max(1.0);
    let scale_peak = if off_scale {
        2.0 * fleet_peak.max(1.0)
    } else {
        fleet_peak.max(demand_peak)
    };
    let w_ticks = nice_ticks(scale_peak, 6, 1.0);
    let q_ticks = nice_ticks(peak(&|c| c.queued), 3, 1.0);

    let mut out = String::with_capacity(160 * 1024);
    w!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{W}\" height=\"{H}\" \
         viewBox=\"0 0 {W} {H}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n\
         <defs><pattern id=\"spillway-hatch\" patternUnits=\"userSpaceOnUse\" width=\"6\" \
         height=\"6\" patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" \
         fill=\"#fde8d4\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"{BOOT}\" \
         stroke-width=\"2\"/></pattern></defs>\n<rect width=\"{W}\" height=\"{H}\" fill=\"#ffffff\"/>\n\
         <g><text x=\"{LEFT}\" y=\"32\" font-size=\"20\" font-weight=\"bold\" fill=\"{INK}\">{}</text>\
         <text x=\"{LEFT}\" y=\"54\" font-size=\"13\" fill=\"#555555\">{}</text></g>\n",
        escape(&fit(&data.title, 84)),
        escape(&fit(&data.subtitle, 140))
    );
    let colours = colours(&data.pool_kinds, n_pools);
    let batch = cols.iter().any(|c| c.queued_batch > 0.0);
    let mut entries = legend_entries(&data.pools, &colours, batch);
    for (i, q) in data.queues.iter().enumerate() {
        let colour = QUEUE_LINES[i % QUEUE_LINES.len()];
        entries.push((fit(&format!("queue {q}"), 40), Swatch::Line(colour, false)));
    }
    let legend_bottom = draw_legend(&mut out, &entries);

    // Panels: workers on top (72 % of the plot height), queue below, time labels under both.
    let top_y = legend_bottom + 18.0;
    let top_h = ((BOTTOM - top_y - GAP) * 0.72).round();
    let vmax = |ticks: &[f64]| ticks.last().copied().unwrap_or(1.0);
    let top = Frame {
        y0: top_y,
        h: top_h,
        t0,
        t1,
        vmax: vmax(&w_ticks),
    };
    let q_y = top_y + top_h + GAP;
    let queue = Frame {
        y0: q_y,
        h: BOTTOM - q_y,
        t0,
        t1,
        vmax: vmax(&q_ticks),
    };
    let x_ticks = time_ticks(t0, t1, (PLOT_W / 85.0) as usize);
    draw_grid(&mut out, &top, &w_ticks, &x_ticks, "workers");
    draw_grid(&mut out, &queue, &q_ticks, &x_ticks, "queued jobs");
    draw_series(&mut out, &top, &queue, &cols, &colours);
    if off_scale {
        let x = Num(LEFT + PLOT_W - 8.0);
        let y = Num(top.y0 + 16.0);
        w!(
            out,
            "<text x=\"{x}\" y=\"{y}\" font-size=\"12\" fill=\"{DEMAND}\" text-anchor=\"end\">\
             demand off scale: peaks at {} workers</text>\n",
            axis::count_label(demand_peak.round())
        );
    }

    draw_time_axis(&mut out, &queue, &x_ticks, bucket);
    if cols.is_empty() {
        let y = Num(top.y0 + top.h / 2.0);
        let x = Num(LEFT + PLOT_W / 2.0);
        w!(
            out,
            "<text x=\"{x}\" y=\"{y}\" font-size=\"18\" fill=\"#999999\" text-anchor=\"middle\">no samples</text>\n"
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Top of the fleet stack: all pools' capacity plus the workers still booting.
fn stack_top(c: &Column) -> f64 {
    c.capacity_total() + c.booting
}

/// Each pool's (fill, outline): by its kind where known (datacenter blue-grey, EC2 orange,
/// command pools yellow), so a colour means the same on every chart; else by index.
fn colours(kinds: &[PoolLook], n_pools: usize) -> Vec<(&'static str, &'static str)> {
    let mut seen = [0usize; 3];
    (0..n_pools)
        .map(|i| match kinds.get(i) {
            Some(k) => {
                let kind = *k as usize;
                let nth = seen[kind];
                seen[kind] += 1;
                pool_colour_of(*k, nth)
            }
            None => pool_colour(i),
        })
        .collect()
}

/// One legend entry per series: each pool (unnamed ones as `pool N`), then the rest.
fn legend_entries(
    pools: &[String],
    colours: &[(&'static str, &'static str)],
    batch: bool,
) -> Vec<(String, Swatch)> {
    let mut entries: Vec<(String, Swatch)> = colours
        .iter()
        .enumerate()
        .map(|(i, (fill, stroke))| {
            let name = pools
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("pool {}", i + 1));
            (fit(&name, 40), Swatch::Fill(fill, stroke))
        })
        .collect();
    entries.push(("booting".into(), Swatch::Fill("url(#spillway-hatch)", BOOT)));
    entries.push(("busy".into(), Swatch::Line(INK, false)));
    entries.push(("demand".into(), Swatch::Line(DEMAND, true)));
    if batch {
        entries.push((
            "queued interactive".into(),
            Swatch::Fill(QUEUE_FILL, DEMAND),
        ));
        entries.push(("queued batch".into(), Swatch::Fill(BATCH_FILL, BATCH_LINE)));
    } else {
        entries.push(("queued jobs".into(), Swatch::Fill(QUEUE_FILL, DEMAND)));
    }
    entries
}

/// Draws the data: stacked pool capacity, booting band, busy and demand lines (demand clipped
/// at the top of the scale), and the queue: batch jobs below, interactive ones on top.
fn draw_series(
    out: &mut String,
    top: &Frame,
    queue: &Frame,
    cols: &[Column],
    colours: &[(&'static str, &'static str)],
) {
    out.push_str("<g stroke-linejoin=\"round\">\n");
    for (i, (fill, stroke)) in colours.iter().enumerate() {
        let below = |c: &Column| c.capacity.iter().take(i).sum::<f64>();
        let attrs = format!("fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1\"");
        area(
            out,
            top,
            cols,
            below,
            |c| below(c) + c.capacity.get(i).copied().unwrap_or(0.0),
            &attrs,
        );
    }
    if cols.iter().any(|c| c.booting > 0.0) {
        let attrs = format!("fill=\"url(#spillway-hatch)\" stroke=\"{BOOT}\" stroke-width=\"0.8\"");
        area(out, top, cols, Column::capacity_total, stack_top, &attrs);
    }
    let busy = format!("stroke=\"{INK}\" stroke-width=\"1.6\"");
    line(out, top, cols, |c| c.busy.min(top.vmax), &busy);
    let demand = format!("stroke=\"{DEMAND}\" stroke-width=\"1.6\" stroke-dasharray=\"7 4\"");
    line(out, top, cols, |c| c.demand.min(top.vmax), &demand);
    let batch = |c: &Column| c.queued_batch.min(c.queued);
    if cols.iter().any(|c| c.queued_batch > 0.0) {
        let attrs = format!("fill=\"{BATCH_FILL}\" stroke=\"{BATCH_LINE}\" stroke-width=\"1.2\"");
        area(out, queue, cols, |_| 0.0, batch, &attrs);
    }
    let queued = format!("fill=\"{QUEUE_FILL}\" stroke=\"{DEMAND}\" stroke-width=\"1.2\"");
    area(out, queue, cols, batch, |c| c.queued, &queued);
    // With job classes, each queue's own depth over the summed area.
    let queues = cols.iter().map(|c| c.by_queue.len()).max().unwrap_or(0);
    for q in 0..queues {
        let colour = QUEUE_LINES[q % QUEUE_LINES.len()];
        let attrs = format!("stroke=\"{colour}\" stroke-width=\"1.4\"");
        line(
            out,
            queue,
            cols,
            |c| c.by_queue.get(q).copied().unwrap_or(0.0),
            &attrs,
        );
    }
    out.push_str("</g>\n");
}

#[cfg(test)]
mod tests;
