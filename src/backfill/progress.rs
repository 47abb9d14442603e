//! Progress reporting while sending: an indicatif bar with rate and ETA when stderr is a
//! terminal, otherwise one `tracing` line per 1,000 jobs or 10 seconds.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

const LOG_EVERY_JOBS: usize = 1_000;
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Counts acknowledged jobs of one run and shows them.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    done: AtomicUsize,
    started: Instant,
    /// (when, done) at the last plain log line.
    last_log: Mutex<(Instant, usize)>,
}

impl Progress {
    /// `total` jobs to send in this run; a bar only if stderr is a terminal.
    pub fn new(total: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {pos}/{len} jobs  {rate}  ETA {eta}",
            )
            .expect("valid template")
            .with_key(
                "rate",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} msg/s", state.per_sec());
                },
            )
            .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        Self::with_bar(total, bar)
    }

    /// Plain log lines only, whatever stderr is.
    pub fn plain(total: usize) -> Self {
        Self::with_bar(total, None)
    }

    fn with_bar(total: usize, bar: Option<ProgressBar>) -> Self {
        let now = crate::clock::monotonic_now();
        Progress {
            bar,
            total,
            done: AtomicUsize::new(0),
            started: now,
            last_log: Mutex::new((now, 0)),
        }
    }

    /// Records `jobs` more acknowledged jobs.
    pub fn add(&self, jobs: usize) {
        let done = self.done.fetch_add(jobs, Ordering::Relaxed) + jobs;
        if let Some(bar) = &self.bar {
            bar.inc(jobs as u64);
            return;
        }
        let mut last = self.last_log.lock().expect("progress lock");
        let now = crate::clock::monotonic_now();
        if done - last.1 >= LOG_EVERY_JOBS || now.duration_since(last.0) >= LOG_EVERY {
            *last = (now, done);
            let elapsed = self.started.elapsed().as_secs_f64();
            tracing::info!(
                "backfill: {done}/{} jobs acknowledged, {:.1} messages/s",
                self.total,
                done as f64 / elapsed.max(1e-9)
            );
        }
    }

    /// Jobs acknowledged so far in this run.
    pub fn done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Removes the bar (if any) so the summary prints cleanly.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Runs `f` (which prints) without tearing the bar.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_without_a_terminal() {
        let p = Progress::plain(2_500);
        for _ in 0..250 {
            p.add(10);
        }
        assert_eq!(p.done(), 2_500);
        p.finish();
    }
}
