//! The [`Registry`] of what every worker last reported over the heartbeat protocol
//! ([`crate::heartbeat::protocol`]), which the service joins with the EC2 listing each tick.
//!
//! The registry also carries drain requests: when `decide` names an idle worker for scale-in,
//! the service marks it here, the worker's next heartbeat reply says `drain`, and the worker
//! is terminated only after it reports `drained` while idle.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::heartbeat::protocol::{Command, Heartbeat, ReportedState};
use crate::model::Timestamp;

/// The most workers remembered at once; heartbeats from further new workers are refused.
pub const MAX_WORKERS: usize = 100_000;

/// What one worker last reported, plus what the service decided about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub worker_id: String,
    pub pool: String,
    pub instance_id: Option<String>,
    pub state: ReportedState,
    /// When `state` last changed (or the first heartbeat).
    pub state_since: Timestamp,
    pub job_id: Option<String>,
    pub jobs_done: u64,
    /// The worker says it has stopped taking jobs after a drain.
    pub drained: bool,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// When the service told it to drain.
    pub drain_requested: Option<Timestamp>,
    /// Whether its boot duration was recorded already.
    pub boot_recorded: bool,
}

impl Record {
    /// Whether it is draining: this process told it to (a worker's own `drained` counts only
    /// then).
    pub fn draining(&self) -> bool {
        self.drain_requested.is_some()
    }

    /// The key `decide` knows it by: the instance id when it has one.
    pub fn key(&self) -> &str {
        self.instance_id.as_deref().unwrap_or(&self.worker_id)
    }
}

/// Every worker's last report. Shared between the HTTP handler and the control loop.
#[derive(Debug, Default)]
pub struct Registry {
    inner: Mutex<HashMap<String, Record>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a heartbeat received at `now` and returns the worker's command: `Drain` once a
    /// drain was requested for it, `Run` otherwise. `None` when the registry is full.
    pub fn beat(&self, hb: Heartbeat, now: Timestamp) -> Option<Command> {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let full = map.len() >= MAX_WORKERS;
        let rec = match map.get_mut(&hb.worker_id) {
            Some(r) => r,
            None if full => return None,
            None => map.entry(hb.worker_id.clone()).or_insert(Record {
                worker_id: hb.worker_id.clone(),
                pool: hb.pool.clone(),
                instance_id: None,
                state: hb.state,
                state_since: now,
                job_id: None,
                jobs_done: 0,
                drained: false,
                first_seen: now,
                last_seen: now,
                drain_requested: None,
                boot_recorded: false,
            }),
        };
        if rec.state != hb.state {
            rec.state = hb.state;
            rec.state_since = now;
        }
        rec.pool = hb.pool;
        rec.instance_id = hb.instance_id;
        rec.job_id = hb.job_id;
        rec.jobs_done = hb.jobs_done;
        // `drained` answers a drain request: unasked, it is not believed (a forged one would
        // have a healthy worker terminated).
        rec.drained = hb.drained && rec.drain_requested.is_some();
        rec.last_seen = now;
        Some(if rec.draining() {
            Command::Drain
        } else {
            Command::Run
        })
    }

    /// Asks the worker known as `key` (instance id or worker id) to drain. Returns whether such
    /// a worker is known. Idempotent: the first request time is kept.
    pub fn request_drain(&self, key: &str, now: Timestamp) -> bool {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = false;
        for rec in map.values_mut().filter(|r| r.key() == key) {
            rec.drain_requested.get_or_insert(now);
            found = true;
        }
        found
    }

    /// Marks the boot of the worker known as `key` as recorded.
    pub fn mark_boot_recorded(&self, key: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for rec in map.values_mut().filter(|r| r.key() == key) {
            rec.boot_recorded = true;
        }
    }

    /// Forgets the worker(s) known as `key` (after termination).
    pub fn forget(&self, key: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, r| r.key() != key);
    }

    /// Forgets workers silent since before `cutoff`.
    pub fn forget_silent_since(&self, cutoff: Timestamp) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, r| r.last_seen >= cutoff);
    }

    /// A copy of every record.
    pub fn snapshot(&self) -> Vec<Record> {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(id: &str, state: ReportedState) -> Heartbeat {
        Heartbeat {
            worker_id: id.into(),
            pool: "ec2".into(),
            instance_id: Some(format!("i-{id}")),
            state,
            job_id: None,
            jobs_done: 0,
            drained: false,
        }
    }

    #[test]
    fn drain_requests_reach_the_worker_by_instance_id() {
        let r = Registry::new();
        let t = Timestamp::from_millis;
        assert_eq!(
            r.beat(hb("a", ReportedState::Idle), t(0)),
            Some(Command::Run)
        );
        assert!(r.request_drain("i-a", t(1)));
        assert!(!r.request_drain("i-zzz", t(1)));
        assert_eq!(
            r.beat(hb("a", ReportedState::Busy), t(2)),
            Some(Command::Drain)
        );
        let rec = &r.snapshot()[0];
        assert_eq!(rec.drain_requested, Some(t(1)));
        assert_eq!((rec.state, rec.state_since), (ReportedState::Busy, t(2)));
        r.forget("i-a");
        assert!(r.snapshot().is_empty());
    }

    #[test]
    fn drained_is_believed_only_in_answer_to_a_drain_request() {
        // Reproduction (issue "hostile input"): a forged `drained` from any worker id had a
        // healthy instance terminated.
        let r = Registry::new();
        let t = Timestamp::from_millis;
        let forged = Heartbeat {
            drained: true,
            ..hb("evil", ReportedState::Idle)
        };
        assert_eq!(r.beat(forged.clone(), t(0)), Some(Command::Run));
        assert!(!r.snapshot()[0].drained && !r.snapshot()[0].draining());
        assert!(r.request_drain("i-evil", t(1)));
        assert_eq!(r.beat(forged, t(2)), Some(Command::Drain));
        assert!(r.snapshot()[0].drained);
    }
}
