//! Queue observation: [`QueueSampler`] reads `GetQueueAttributes` for every `[[queue]]`, and
//! [`QueueWindow`] keeps the samples of the last `control.window` and turns them into the
//! averaged and latest [`QueueObservation`]s that `decide` reads.
//!
//! As in the simulator, `Observation.queue` is the whole backlog (interactive plus batch), so
//! the baselines see every waiting job; `Observation.batch` is the batch part alone. When the
//! latest sample failed, both are `None`: missing, never zero.

use std::collections::VecDeque;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;

use crate::control::QueueObservation;
use crate::model::{QueueStats, Timestamp};
use crate::policy::{QueueClass, QueueSpec};
use crate::service::act::provider::{ProviderError, classify};

/// Reads queue depths. Read-only.
#[derive(Debug, Clone)]
pub struct QueueSampler {
    client: aws_sdk_sqs::Client,
    queues: Vec<QueueSpec>,
}

/// One sample of every queue, taken together.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSample {
    pub at: Timestamp,
    /// Per queue, in policy order.
    pub per_queue: Vec<(String, QueueClass, QueueStats)>,
}

impl QueueSample {
    /// Sum over the queues of `class` (all queues when `None`).
    pub fn sum(&self, class: Option<QueueClass>) -> QueueStats {
        let mut s = QueueStats::default();
        for (_, c, q) in &self.per_queue {
            if class.is_none_or(|k| k == *c) {
                s.visible += q.visible;
                s.in_flight += q.in_flight;
                s.delayed += q.delayed;
            }
        }
        s
    }
}

impl QueueSampler {
    pub fn new(client: aws_sdk_sqs::Client, queues: Vec<QueueSpec>) -> Self {
        QueueSampler { client, queues }
    }

    /// Samples every queue at `at`. Fails as a whole if any queue cannot be read: a partial
    /// sample would read the missing queue as empty.
    pub async fn sample(&self, at: Timestamp) -> Result<QueueSample, (String, ProviderError)> {
        let mut per_queue = Vec::with_capacity(self.queues.len());
        for q in &self.queues {
            let out = self
                .client
                .get_queue_attributes()
                .queue_url(&q.url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
                .send()
                .await
                .map_err(|e| (q.name.clone(), classify(&e)))?;
            let attrs = out.attributes();
            let get = |name: QueueAttributeName| -> f64 {
                attrs
                    .and_then(|a| a.get(&name))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0)
            };
            per_queue.push((
                q.name.clone(),
                q.class,
                QueueStats {
                    visible: get(QueueAttributeName::ApproximateNumberOfMessages),
                    in_flight: get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
                    delayed: get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
                },
            ));
        }
        Ok(QueueSample { at, per_queue })
    }
}

/// The samples of the last window, and whether the newest attempt failed.
#[derive(Debug, Clone, Default)]
pub struct QueueWindow {
    samples: VecDeque<QueueSample>,
    last_failed: bool,
}

impl QueueWindow {
    /// Adds a successful sample.
    pub fn push(&mut self, sample: QueueSample) {
        self.samples.push_back(sample);
        self.last_failed = false;
    }

    /// Notes a failed attempt: until the next success the observation is missing.
    pub fn failed(&mut self) {
        self.last_failed = true;
    }

    /// The newest sample, if the newest attempt succeeded.
    pub fn latest(&self) -> Option<&QueueSample> {
        if self.last_failed {
            None
        } else {
            self.samples.back()
        }
    }

    /// `(interactive, batch)` for the observation at `now`, each summed over its queues: means over
    /// samples newer than `window`, and the newest sample. `batch` is `None` without a batch queue.
    pub fn observe(
        &mut self,
        now: Timestamp,
        window: Duration,
    ) -> (Option<QueueObservation>, Option<QueueObservation>) {
        let from = now.minus(window);
        while self.samples.len() > 1 && self.samples.front().is_some_and(|s| s.at < from) {
            self.samples.pop_front();
        }
        let Some(latest) = self.latest() else {
            return (None, None);
        };
        let has_batch = latest
            .per_queue
            .iter()
            .any(|(_, c, _)| *c == QueueClass::Batch);
        let recent: Vec<&QueueSample> = self.samples.iter().filter(|s| s.at >= from).collect();
        let mean = |class: Option<QueueClass>| {
            let n = recent.len().max(1) as f64;
            let mut m = QueueStats::default();
            for s in &recent {
                let q = s.sum(class);
                m.visible += q.visible / n;
                m.in_flight += q.in_flight / n;
                m.delayed += q.delayed / n;
            }
            if recent.is_empty() {
                latest.sum(class)
            } else {
                m
            }
        };
        let obs = |class| QueueObservation {
            averaged: mean(class),
            latest: latest.sum(class),
            sampled_at: latest.at,
        };
        // Interactive work is what the strategies size for; batch work is `decide`'s own concern.
        let queue = obs(Some(QueueClass::Interactive));
        let batch = has_batch.then(|| obs(Some(QueueClass::Batch)));
        (Some(queue), batch)
    }

    /// Each queue on its own at `now` (job classes), in policy order: its means over the
    /// window last [`QueueWindow::observe`]d and its newest sample; all `None` when the newest
    /// attempt failed. Call after `observe`, which drops the samples older than the window.
    pub fn per_queue(&self, now: Timestamp, window: Duration) -> Vec<Option<QueueObservation>> {
        let Some(latest) = self.latest() else {
            return Vec::new();
        };
        let from = now.minus(window);
        let recent: Vec<&QueueSample> = self.samples.iter().filter(|s| s.at >= from).collect();
        (0..latest.per_queue.len())
            .map(|q| {
                let newest = latest.per_queue[q].2;
                let n = recent.len() as f64;
                let averaged = if recent.is_empty() {
                    newest
                } else {
                    let mut m = QueueStats::default();
                    for s in &recent {
                        let one = s.per_queue.get(q).map_or(newest, |x| x.2);
                        m.visible += one.visible / n;
                        m.in_flight += one.in_flight / n;
                        m.delayed += one.delayed / n;
                    }
                    m
                };
                Some(QueueObservation {
                    averaged,
                    latest: newest,
                    sampled_at: latest.at,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_s: i64, interactive: f64, batch: f64) -> QueueSample {
        let q = |v| QueueStats {
            visible: v,
            in_flight: 1.0,
            delayed: 0.0,
        };
        QueueSample {
            at: Timestamp::from_millis(at_s * 1000),
            per_queue: vec![
                ("i".into(), QueueClass::Interactive, q(interactive)),
                ("b".into(), QueueClass::Batch, q(batch)),
            ],
        }
    }

    #[test]
    fn averages_over_the_window_and_keeps_batch_apart() {
        let mut w = QueueWindow::default();
        w.push(sample(0, 100.0, 0.0));
        w.push(sample(50, 10.0, 2.0));
        w.push(sample(60, 20.0, 4.0));
        let (q, b) = w.observe(Timestamp::from_millis(60_000), Duration::from_secs(30));
        let q = q.unwrap();
        assert_eq!(q.latest.visible, 20.0);
        assert_eq!(
            q.averaged.visible, 15.0,
            "the sample at 0 s is outside the window"
        );
        assert_eq!(q.latest.in_flight, 1.0);
        assert_eq!(q.sampled_at, Timestamp::from_millis(60_000));
        assert_eq!(b.unwrap().latest.visible, 4.0);
    }

    #[test]
    fn a_failed_latest_sample_is_missing_not_zero() {
        let mut w = QueueWindow::default();
        w.push(sample(0, 5.0, 0.0));
        w.failed();
        assert_eq!(
            w.observe(Timestamp::from_millis(1_000), Duration::from_secs(60)),
            (None, None)
        );
        w.push(sample(2, 0.0, 0.0));
        assert!(
            w.observe(Timestamp::from_millis(2_000), Duration::from_secs(60))
                .0
                .is_some()
        );
    }
}
