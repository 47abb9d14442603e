//! A recorded day rebuilt from queue statistics alone, for records without job records (format
//! 1, or a farm whose workers do not run `spillway worker`): the jobs that arrived between two
//! ticks are the jobs completed in between plus the growth of the queue (visible plus in
//! flight, latest sample), and the first tick's queue arrives at once. The mean run time is the
//! busy worker-seconds (in flight) over the completions. The result is an arrival series
//! `t_seconds,arrivals`, replayed with `--durations exp:<mean>s`.
//!
//! What it cannot see: the durations of single jobs (only their mean), and arrivals during a
//! tick whose queue or completions are unknown (skipped and counted, never read as zero).

/// What one record line says of the queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueSample {
    /// The tick, epoch milliseconds.
    pub at_ms: i64,
    /// Visible plus in flight, latest sample; `None` when the queue could not be read.
    pub queued: Option<f64>,
    /// In flight: jobs running.
    pub running: Option<f64>,
    /// Jobs completed since the previous tick; `None` when unknown.
    pub completed: Option<u64>,
}

/// The rebuilt arrivals.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuilt {
    /// `(t_seconds, arrivals)`, from the first known tick.
    pub arrivals: Vec<(f64, f64)>,
    /// Busy worker-seconds per completed job; `None` when nothing completed.
    pub mean_run_s: Option<f64>,
    /// Ticks used, and skipped for unknown statistics.
    pub used: usize,
    pub skipped: usize,
}

impl Rebuilt {
    /// The arrival series' text.
    pub fn csv(&self) -> String {
        super::trace::to_csv(super::trace::ARRIVALS_HEADER, &self.arrivals)
    }

    /// All arrivals.
    pub fn total(&self) -> f64 {
        self.arrivals.iter().map(|a| a.1).sum()
    }
}

/// Rebuilds the arrivals of `samples` (in time order); `None` when no two ticks with known
/// queue and completions follow each other.
pub fn rebuild(samples: &[QueueSample]) -> Option<Rebuilt> {
    let start = samples.iter().position(|s| s.queued.is_some())?;
    let first = samples[start];
    let t0 = first.at_ms;
    let mut out = Rebuilt {
        arrivals: vec![(0.0, first.queued.unwrap_or(0.0))],
        mean_run_s: None,
        used: 0,
        skipped: 0,
    };
    let (mut prev, mut busy_s, mut done) = (first, 0.0, 0u64);
    for s in &samples[start + 1..] {
        let (Some(queued), Some(completed), Some(before)) = (s.queued, s.completed, prev.queued)
        else {
            out.skipped += 1;
            continue;
        };
        let arrived = (completed as f64 + queued - before).max(0.0);
        out.arrivals.push(((s.at_ms - t0) as f64 / 1000.0, arrived));
        busy_s += prev.running.unwrap_or(0.0) * (s.at_ms - prev.at_ms).max(0) as f64 / 1000.0;
        done += completed;
        out.used += 1;
        prev = *s;
    }
    if out.used == 0 {
        return None;
    }
    out.mean_run_s = (done > 0).then(|| busy_s / done as f64);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64, queued: Option<f64>, running: f64, completed: Option<u64>) -> QueueSample {
        QueueSample {
            at_ms: s * 1000,
            queued,
            running: Some(running),
            completed,
        }
    }

    #[test]
    fn arrivals_are_completions_plus_the_queues_growth() {
        let samples = [
            at(100, Some(10.0), 4.0, None),
            // 5 completed, the queue grew by 2: 7 arrived.
            at(160, Some(12.0), 4.0, Some(5)),
            // Unknown queue: skipped, not zero.
            at(220, None, 4.0, Some(3)),
            // 6 completed, the queue shrank by 6 since the last known: none arrived.
            at(280, Some(6.0), 2.0, Some(6)),
        ];
        let r = rebuild(&samples).unwrap();
        assert_eq!(r.arrivals, vec![(0.0, 10.0), (60.0, 7.0), (180.0, 0.0)]);
        assert_eq!((r.used, r.skipped), (2, 1));
        // 4 busy for 60 s, then 4 for 120 s: 720 worker-seconds over 11 jobs.
        assert!((r.mean_run_s.unwrap() - 720.0 / 11.0).abs() < 1e-9);
        assert_eq!(r.total(), 17.0);
        assert!(
            r.csv()
                .starts_with("t_seconds,arrivals\n0.000,10.000\n60.000,7.000\n")
        );
    }

    #[test]
    fn without_two_known_ticks_nothing_is_rebuilt() {
        assert_eq!(rebuild(&[]), None);
        assert_eq!(rebuild(&[at(0, Some(3.0), 1.0, Some(1))]), None);
        assert_eq!(
            rebuild(&[at(0, None, 0.0, None), at(60, None, 0.0, Some(2))]),
            None
        );
    }
}
