//! Jobs meeting workers: an arriving job starts on the best idle worker that serves its queue
//! or waits in its lane; a worker that frees up (a job done, a boot done) takes the next job
//! of the lanes its pool serves, or goes idle; a draining one takes nothing and reports
//! `drained`.

use super::super::trace::{Job, JobClass};
use super::{Scheduled, WState, World};

impl World {
    /// Takes the best idle worker for a job of `lane`: among the pools that serve it, static
    /// pools first, then command pools, then EC2 pools, each in policy order, most recent
    /// first.
    pub(super) fn take_idle(&mut self, lane: usize) -> Option<u32> {
        for k in 0..self.routing.takers[lane].len() {
            let p = self.routing.takers[lane][k];
            while let Some(idx) = self.idle[p].pop() {
                let w = &self.workers[idx as usize];
                if matches!(w.state, WState::Idle { .. }) && !w.draining {
                    return Some(idx);
                }
            }
        }
        None
    }

    /// The speed factor of `pool` at `now` after incidents.
    fn speed_factor(&self, pool: usize, now: i64) -> f64 {
        self.incidents
            .iter()
            .filter(|(p, a, b, _)| *p == pool && now >= *a && now < *b)
            .map(|c| c.3)
            .product()
    }

    pub(super) fn start(&mut self, worker: u32, job_idx: u32, job: &Job, now: i64) -> Scheduled {
        let speed_factor = self.speed_factor(self.workers[worker as usize].pool, now);
        self.dirty = true;
        let w = &mut self.workers[worker as usize];
        w.state = WState::Busy { since: now };
        w.on_batch = job.class == JobClass::Batch;
        let lane = self.routing.lane(job);
        w.lane = lane as u16;
        self.busy += 1;
        self.busy_batch += u32::from(w.on_batch);
        self.busy_in[lane] += 1;
        self.started[job_idx as usize] = now;
        if let Some(on) = &mut self.ran_on {
            on[job_idx as usize] = w.pool as u16;
        }
        if let Some(waits) = &mut self.taken_waits
            && job.class == JobClass::Interactive
        {
            waits.push_back((now, (now - job.submit_ms) as f64 / 1000.0));
        }
        let run_s = job.duration_s / (self.pool_speed[w.pool] * speed_factor).max(1e-9);
        if self.pool_is_ec2[w.pool] {
            self.tally.ec2_busy_s += run_s;
        } else {
            self.tally.datacenter_busy_s += run_s;
        }
        let at = now + (run_s * 1000.0).round().max(1.0) as i64;
        w.job = job_idx;
        w.busy_until = at;
        Scheduled::JobDone { worker, at }
    }

    /// A job arrives: it starts on an idle worker or waits.
    pub fn arrive(&mut self, job_idx: u32, jobs: &[Job], now: i64) -> Option<Scheduled> {
        let job = &jobs[job_idx as usize];
        let lane = self.routing.lane(job);
        let can_start = if self.routing.by_queue() {
            self.routing.first[lane]
                .iter()
                .all(|&l| self.queues[l].is_empty())
        } else {
            // Without classes: a batch job starts only while no interactive job waits.
            lane == 0 || self.queues[0].is_empty()
        };
        if can_start && let Some(w) = self.take_idle(lane) {
            return Some(self.start(w, job_idx, job, now));
        }
        self.queues[lane].push_back(job_idx);
        None
    }

    /// A worker is free (job done or boot done): it takes the next job or goes idle; a draining
    /// one takes nothing and reports `drained` at once.
    pub fn free(&mut self, worker: u32, jobs: &[Job], now: i64) -> Option<Scheduled> {
        if self.workers[worker as usize].draining {
            self.dirty = true;
            self.idle_draining += 1;
            let w = &mut self.workers[worker as usize];
            w.state = WState::Idle { since: now };
            w.drained_at = now + super::super::observe::HEARTBEAT_LATENCY_MS;
            return None;
        }
        let next = if self.routing.by_queue() {
            let pool = self.workers[worker as usize].pool;
            let serves = &self.routing.serves[pool];
            serves
                .iter()
                .find_map(|&lane| self.queues[lane].pop_front())
        } else {
            // Without classes every worker serves both lanes, interactive first.
            self.queues[0]
                .pop_front()
                .or_else(|| self.queues[1].pop_front())
        };
        match next {
            Some(j) => Some(self.start(worker, j, &jobs[j as usize], now)),
            None => {
                self.dirty = true;
                let w = &mut self.workers[worker as usize];
                w.state = WState::Idle { since: now };
                self.idle[w.pool].push(worker);
                None
            }
        }
    }

    /// A job finished on `worker`.
    pub fn job_done(&mut self, worker: u32, jobs: &[Job], now: i64) -> Option<Scheduled> {
        // The job of an interrupted worker went back to the queue; its old end means nothing.
        if !matches!(self.workers[worker as usize].state, WState::Busy { .. }) {
            return None;
        }
        self.busy -= 1;
        self.completed_since_tick += 1;
        let w = &self.workers[worker as usize];
        self.busy_batch -= u32::from(w.on_batch);
        self.busy_in[usize::from(w.lane)] -= 1;
        if let Some(t) = &mut self.per_pool {
            t.completed[w.pool] += 1;
        }
        self.free(worker, jobs, now)
    }

    /// `worker` finished booting, unless it was terminated meanwhile.
    pub fn boot_done(&mut self, worker: u32, jobs: &[Job], now: i64) -> Option<Scheduled> {
        let w = &self.workers[worker as usize];
        if w.state != WState::Booting {
            return None;
        }
        let booted_ms = self.end_boot(worker, now);
        let pool = self.workers[worker as usize].pool;
        let took = std::time::Duration::from_millis(booted_ms as u64);
        if self.feeds_boot[pool] {
            self.boots.push(took);
        }
        if let Some(t) = &mut self.per_pool {
            t.boots[pool].push(took);
        }
        self.free(worker, jobs, now)
    }
}
