//! Spot interruptions: EC2 instances the cloud takes away. Billing stops; a job that was running
//! goes back to the front of its queue (SQS redelivers it once its visibility times out) and
//! starts again from scratch on the next free worker.

use crate::sim::trace::Job;

use super::{Scheduled, WState, World};

impl World {
    /// Interrupts each live EC2 worker with probability `1 − e^(−rate·dt)` for the `dt_ms` since
    /// the previous call. Returns the jobs restarted at once on idle workers.
    pub fn interrupt_spot(
        &mut self,
        rate_per_hour: f64,
        dt_ms: i64,
        jobs: &[Job],
        now: i64,
    ) -> Vec<Scheduled> {
        let mut out = Vec::new();
        if rate_per_hour <= 0.0 || dt_ms <= 0 {
            return out;
        }
        let p = 1.0 - (-rate_per_hour * dt_ms as f64 / 3_600_000.0).exp();
        let candidates: Vec<u32> = self
            .live
            .iter()
            .enumerate()
            .filter(|(pool, _)| self.pool_is_ec2[*pool])
            .flat_map(|(_, ws)| ws.iter().copied())
            .collect();
        for idx in candidates {
            if self.spot_rng.chance(p) {
                out.extend(self.interrupt(idx, jobs, now));
            }
        }
        out
    }

    fn interrupt(&mut self, idx: u32, jobs: &[Job], now: i64) -> Option<Scheduled> {
        let w = &self.workers[idx as usize];
        let requeued = match w.state {
            WState::Busy { .. } => {
                let (job, until, batch, lane) = (w.job, w.busy_until, w.on_batch, w.lane);
                self.busy -= 1;
                self.busy_batch -= u32::from(batch);
                self.busy_in[usize::from(lane)] -= 1;
                // The unfinished part was never worked.
                self.tally.ec2_busy_s -= ((until - now) as f64 / 1000.0).max(0.0);
                self.started[job as usize] = i64::MIN;
                self.tally.jobs_restarted += 1;
                Some(job)
            }
            WState::Booting => {
                self.end_boot(idx, now);
                None
            }
            WState::Idle { .. } | WState::Gone => None,
        };
        self.leave(idx);
        self.bill(idx, now);
        self.dirty = true;
        self.workers[idx as usize].state = WState::Gone;
        self.remove_live(idx);
        self.tally.spot_interruptions += 1;
        let job = requeued?;
        let lane = self.routing.lane(&jobs[job as usize]);
        self.queues[lane].push_front(job);
        // An idle worker takes it (interactive work first) as it would any arrival.
        if self.routing.first[lane]
            .iter()
            .any(|&l| !self.queues[l].is_empty())
        {
            return None;
        }
        let worker = self.take_idle(lane)?;
        let job = self.queues[lane].pop_front()?;
        Some(self.start(worker, job, &jobs[job as usize], now))
    }
}
