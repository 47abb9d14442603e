//! Reduction of simulator samples to at most a fixed number of chart columns.
//!
//! Samples are binned by time, not by index (spacing may be uneven), and each column keeps
//! the maximum of every series so short peaks survive. Non-finite and negative values read as 0.

use super::PlotSample;

/// One x-column of the chart: peak values of the samples that fell into it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Column {
    pub t: f64,
    pub queued: f64,
    pub queued_batch: f64,
    pub demand: f64,
    pub busy: f64,
    pub booting: f64,
    /// Exactly one entry per pool (missing entries are 0).
    pub capacity: Vec<f64>,
    /// Per queue, with job classes.
    pub by_queue: Vec<f64>,
}

fn clean(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 { v } else { 0.0 }
}

fn time(s: &PlotSample) -> f64 {
    if s.t_s.is_finite() { s.t_s } else { 0.0 }
}

impl Column {
    fn new(s: &PlotSample, pools: usize) -> Self {
        let capacity = (0..pools)
            .map(|i| clean(s.capacity.get(i).copied().unwrap_or(0.0)))
            .collect();
        Column {
            t: time(s),
            queued: clean(s.queued),
            queued_batch: clean(s.queued_batch),
            demand: clean(s.demand),
            busy: clean(s.busy),
            booting: clean(s.booting),
            capacity,
            by_queue: s.by_queue.iter().map(|&v| clean(v)).collect(),
        }
    }

    fn absorb(&mut self, s: &PlotSample) {
        self.queued = self.queued.max(clean(s.queued));
        self.queued_batch = self.queued_batch.max(clean(s.queued_batch));
        self.demand = self.demand.max(clean(s.demand));
        self.busy = self.busy.max(clean(s.busy));
        self.booting = self.booting.max(clean(s.booting));
        for (c, v) in self.capacity.iter_mut().zip(&s.capacity) {
            *c = c.max(clean(*v));
        }
        for (c, v) in self.by_queue.iter_mut().zip(&s.by_queue) {
            *c = c.max(clean(*v));
        }
    }

    /// Total capacity of all pools (top of the capacity stack).
    pub fn capacity_total(&self) -> f64 {
        self.capacity.iter().sum()
    }
}

/// Bucket widths (seconds) that read as round durations; longer ones double from a week.
const ROUND_WIDTHS: [f64; 20] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    10_800.0, 21_600.0, 43_200.0, 86_400.0, 172_800.0, 604_800.0,
];

/// The smallest round duration of at least `min` seconds (`min` itself when below a second).
fn round_width(min: f64) -> f64 {
    if min < 1.0 {
        return min;
    }
    let mut w = ROUND_WIDTHS
        .iter()
        .copied()
        .find(|&w| w >= min)
        .unwrap_or(604_800.0);
    while w < min {
        w *= 2.0;
    }
    w
}

/// Columns in time order, at most `max_cols` (at least 2), and the bucket width in seconds
/// when samples were merged (`None` when each sample is its own column). Buckets are round
/// durations aligned to multiples of their width since trace start; the first and last
/// columns sit at the first and last sample times, the others mid-bucket.
pub(super) fn downsample(
    samples: &[PlotSample],
    pools: usize,
    max_cols: usize,
) -> (Vec<Column>, Option<f64>) {
    let max_cols = max_cols.max(2);
    let (lo, hi) = samples
        .iter()
        .map(time)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), t| {
            (lo.min(t), hi.max(t))
        });
    let span = hi - lo;
    if samples.is_empty() {
        return (Vec::new(), None);
    }
    if samples.len() <= max_cols && span > 0.0 {
        let mut cols: Vec<Column> = samples.iter().map(|s| Column::new(s, pools)).collect();
        cols.sort_by(|a, b| a.t.total_cmp(&b.t));
        return (cols, None);
    }
    let width = if span > 0.0 {
        round_width(span / (max_cols - 1) as f64)
    } else {
        1.0
    };
    let first = (lo / width).floor();
    let slot = |t: f64| (((t / width).floor() - first).max(0.0) as usize).min(max_cols - 1);
    let mut buckets: Vec<Option<Column>> = vec![None; slot(hi) + 1];
    for s in samples {
        match &mut buckets[slot(time(s))] {
            Some(col) => col.absorb(s),
            empty => *empty = Some(Column::new(s, pools)),
        }
    }
    let mut cols: Vec<Column> = buckets
        .into_iter()
        .enumerate()
        .filter_map(|(i, col)| {
            col.map(|c| Column {
                t: ((first + i as f64 + 0.5) * width).clamp(lo, hi),
                ..c
            })
        })
        .collect();
    if let Some(c) = cols.first_mut() {
        c.t = lo;
    }
    if let Some(c) = cols.last_mut().filter(|c| c.t > lo) {
        c.t = hi;
    }
    (cols, (span > 0.0).then_some(width))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_s: f64, v: f64, capacity: Vec<f64>) -> PlotSample {
        PlotSample {
            t_s,
            queued: v,
            queued_batch: 0.0,
            demand: v,
            busy: v,
            capacity,
            booting: v,
            by_queue: Vec::new(),
        }
    }

    #[test]
    fn downsampling_keeps_the_global_max_of_every_series() {
        let mut samples: Vec<PlotSample> = (0..200_000)
            .map(|i| {
                let v = ((i as f64) * 0.001).sin().abs() * 50.0;
                sample(i as f64 * 60.0, v, vec![100.0, v])
            })
            .collect();
        samples[123_457].queued = 9_999.0;
        samples[7].capacity[1] = 777.0;
        samples[199_999].booting = 310.0;
        samples[88_888].demand = 4_321.0;
        let (cols, width) = downsample(&samples, 2, 1_000);
        // 200k minutes in at most 1,000 columns need 3.3 h each: the next round width is 6 h.
        assert_eq!(width, Some(6.0 * 3600.0));
        assert_eq!(cols.len(), 556);
        let max = |f: fn(&Column) -> f64| cols.iter().map(f).fold(0.0, f64::max);
        assert_eq!(max(|c| c.queued), 9_999.0);
        assert_eq!(max(|c| c.demand), 4_321.0);
        assert_eq!(max(|c| c.capacity[1]), 777.0);
        assert_eq!(max(|c| c.booting), 310.0);
        let raw_busy = samples.iter().map(|s| s.busy).fold(0.0, f64::max);
        assert_eq!(max(|c| c.busy), raw_busy);
        assert!(cols.windows(2).all(|w| w[0].t < w[1].t));
        assert_eq!((cols[0].t, cols[cols.len() - 1].t), (0.0, 199_999.0 * 60.0));
    }

    #[test]
    fn short_traces_are_sorted_and_cleaned() {
        let samples = vec![
            sample(120.0, f64::NAN, vec![1.0, 2.0, 3.0]),
            sample(0.0, -4.0, vec![]),
            sample(f64::INFINITY, f64::INFINITY, vec![5.0]),
        ];
        let (cols, width) = downsample(&samples, 2, 100);
        assert_eq!(width, None);
        let ts: Vec<f64> = cols.iter().map(|c| c.t).collect();
        assert_eq!(ts, [0.0, 0.0, 120.0]);
        assert!(
            cols.iter()
                .all(|c| c.capacity.len() == 2 && c.queued == 0.0 && c.busy == 0.0)
        );
        assert_eq!(cols[2].capacity, [1.0, 2.0]);
    }

    #[test]
    fn equal_times_collapse_into_one_column() {
        let samples = vec![sample(5.0, 1.0, vec![3.0]), sample(5.0, 2.0, vec![1.0])];
        let (cols, width) = downsample(&samples, 1, 100);
        assert_eq!((cols.len(), width), (1, None));
        assert_eq!((cols[0].queued, cols[0].capacity[0]), (2.0, 3.0));
        assert!(downsample(&[], 3, 100).0.is_empty());
    }
}
