//! The [`Registry`] of what every worker last reported over the heartbeat protocol
//! ([`crate::heartbeat::protocol`]), which the service joins with the EC2 listing each tick.
//!
//! The registry also carries drain requests: when `decide` names an idle worker for scale-in,
//! the service marks it here, the worker's next heartbeat reply says `drain`, and the worker
//! is terminated only after it reports `drained` while idle.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::heartbeat::protocol::{Command, Heartbeat, Interruption, ReportedState};
use crate::model::Timestamp;
use crate::policy::{Policy, PoolKind};

/// The most workers remembered at once, all pools together; heartbeats from further new
/// workers are refused.
pub const MAX_WORKERS: usize = 100_000;
/// The most jobs a worker may plausibly finish per second; a jobs-done counter that grows
/// faster between two heartbeats is credited at this rate only.
pub const MAX_JOBS_PER_SECOND: u64 = 20;
/// The most jobs a worker may have credited at once after a silence: a minute's worth.
pub const MAX_JOBS_BURST: u64 = MAX_JOBS_PER_SECOND * 60;

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
    /// The worker's own jobs-done counter, as last reported.
    pub jobs_done: u64,
    /// Jobs credited to it since it was first heard: the counter's growth since its first
    /// heartbeat, at most [`MAX_JOBS_PER_SECOND`] per second of the time since then (a token
    /// bucket of at most [`MAX_JOBS_BURST`]: many heartbeats in a burst earn no more). Never
    /// decreases.
    pub jobs_credited: u64,
    /// Jobs it may still be credited (the token bucket's level), in thousandths of a job.
    pub credit_allowance_milli: u64,
    /// The worker says it has stopped taking jobs after a drain.
    pub drained: bool,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// When the service told it to drain.
    pub drain_requested: Option<Timestamp>,
    /// Whether its boot duration was recorded already.
    pub boot_recorded: bool,
    /// The notice it reported that its instance is going away: it is told to drain (and so
    /// no longer counts as capacity) and terminated once it reports `drained`.
    pub interrupted: Option<Interruption>,
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

/// Why a heartbeat was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The pool (or the registry) holds as many workers as it may, none of them evictable.
    #[error("too many workers in pool {0}")]
    Full(String),
    /// The worker id is bound to another instance or pool, whose worker is still heard.
    #[error("worker id {worker_id} is bound to {bound} while that worker is heard")]
    Conflict { worker_id: String, bound: String },
}

impl Refused {
    /// The rejection metric's label.
    pub fn label(&self) -> &'static str {
        match self {
            Refused::Full(_) => "full",
            Refused::Conflict { .. } => "conflict",
        }
    }
}

/// How much the registry holds.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// The most workers per pool; a pool not named is bounded by [`MAX_WORKERS`] only.
    pub per_pool: HashMap<String, usize>,
    /// A worker silent this long may give up its place (its id, or its slot in a full pool)
    /// to a new one.
    pub silent_after: Duration,
}

impl Limits {
    /// Twice what each pool can hold, plus 16: a static pool's `workers`, a scaled pool's
    /// `max`; silent after two heartbeat periods.
    pub fn for_policy(policy: &Policy) -> Self {
        let per_pool = policy
            .pools
            .iter()
            .map(|p| {
                let holds = match &p.kind {
                    PoolKind::Static { workers } => *workers,
                    PoolKind::Ec2(e) => e.max,
                    PoolKind::Command(c) => c.workers,
                };
                let bound = (holds as usize).saturating_mul(2).saturating_add(16);
                (p.name.clone(), bound.min(MAX_WORKERS))
            })
            .collect();
        let every = policy
            .heartbeat
            .as_ref()
            .map_or(Duration::from_secs(10), |h| h.every);
        Limits {
            per_pool,
            silent_after: every * 2,
        }
    }
}

/// Every worker's last report. Shared between the HTTP handler and the control loop.
#[derive(Debug, Default)]
pub struct Registry {
    inner: Mutex<HashMap<String, Record>>,
    limits: Limits,
    /// Per pool, the instances the last listing showed as this policy's (EC2 pools only).
    owned: Mutex<HashMap<String, HashSet<String>>>,
}

impl Registry {
    /// A registry bounded by [`MAX_WORKERS`] only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry bounded per pool.
    pub fn bounded(limits: Limits) -> Self {
        Registry {
            limits,
            ..Self::default()
        }
    }

    /// Records which instances the last listing showed as `pool`'s: in a full pool, a worker
    /// claiming any other instance gives up its place first.
    pub fn set_owned(&self, pool: &str, instances: HashSet<String>) {
        let mut owned = self.owned.lock().unwrap_or_else(|e| e.into_inner());
        owned.insert(pool.to_string(), instances);
    }

    /// Records a heartbeat received at `now` and returns the worker's command: `Drain` once a
    /// drain was requested for it, `Run` otherwise.
    ///
    /// A worker id is bound to the pool and instance of its first heartbeat while it is heard
    /// (silent for at most `silent_after`). A new worker in a full pool takes the place of,
    /// in this order, one claiming an instance the listing does not show as the pool's, one
    /// claiming an instance another worker claimed first, or one silent past `silent_after`;
    /// with none of those it is refused.
    pub fn beat(&self, hb: Heartbeat, now: Timestamp) -> Result<Command, Refused> {
        self.beat_noting(hb, now).map(|(command, _)| command)
    }

    /// [`Registry::beat`], also returning the interruption notice this heartbeat is the first
    /// to report for its worker (to be counted once).
    ///
    /// A notice is taken as a request to drain: the worker has already returned its jobs, and
    /// a forged one can cost no more than a graceful drain and a replacement, since a worker
    /// still running a job finishes it before it reports `drained`.
    pub fn beat_noting(
        &self,
        hb: Heartbeat,
        now: Timestamp,
    ) -> Result<(Command, Option<Interruption>), Refused> {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let silent = |r: &Record| now.since(r.last_seen) > self.limits.silent_after;
        if let Some(r) = map.get(&hb.worker_id)
            && (r.pool != hb.pool || r.instance_id != hb.instance_id)
        {
            if !silent(r) {
                return Err(Refused::Conflict {
                    worker_id: hb.worker_id,
                    bound: format!(
                        "pool {} instance {}",
                        r.pool,
                        r.instance_id.as_deref().unwrap_or("(none)")
                    ),
                });
            }
            map.remove(&hb.worker_id);
        }
        if !map.contains_key(&hb.worker_id) {
            self.make_room(&mut map, &hb.pool, now)?;
        }
        let rec = map.entry(hb.worker_id.clone()).or_insert(Record {
            worker_id: hb.worker_id.clone(),
            pool: hb.pool.clone(),
            instance_id: hb.instance_id.clone(),
            state: hb.state,
            state_since: now,
            job_id: None,
            jobs_done: hb.jobs_done,
            // Workers heartbeat as they start: what one claims before it was heard is not
            // credited (a forged first heartbeat would claim anything).
            jobs_credited: 0,
            credit_allowance_milli: 0,
            drained: false,
            first_seen: now,
            last_seen: now,
            drain_requested: None,
            boot_recorded: false,
            interrupted: None,
        });
        // Idle at two heartbeats but with jobs done in between: it was busy meanwhile, so it has
        // been idle since this heartbeat at most (the idle timer must not take a worker that
        // runs short jobs between heartbeats for one idle all along).
        let worked =
            hb.jobs_done != rec.jobs_done || !hb.finished.is_empty() || !hb.taken.is_empty();
        if rec.state != hb.state || (hb.state == ReportedState::Idle && worked) {
            rec.state = hb.state;
            rec.state_since = now;
        }
        // A counter that went backwards is a restarted worker: its jobs count from zero.
        let grown = hb
            .jobs_done
            .checked_sub(rec.jobs_done)
            .unwrap_or(hb.jobs_done);
        // The bucket fills at MAX_JOBS_PER_SECOND (20 thousandths of a job per millisecond),
        // up to a minute's worth.
        let earned = u64::try_from(now.since(rec.last_seen).as_millis()).unwrap_or(u64::MAX);
        rec.credit_allowance_milli = rec
            .credit_allowance_milli
            .saturating_add(earned.saturating_mul(MAX_JOBS_PER_SECOND))
            .min(MAX_JOBS_BURST * 1000);
        let credit = grown.min(rec.credit_allowance_milli / 1000);
        rec.credit_allowance_milli -= credit * 1000;
        rec.jobs_credited = rec.jobs_credited.saturating_add(credit);
        rec.jobs_done = hb.jobs_done;
        rec.job_id = hb.job_id;
        // `drained` answers a drain request: unasked, it is not believed (a forged one would
        // have a healthy worker terminated).
        let noticed = hb.interrupted.filter(|_| rec.interrupted.is_none());
        if let Some(kind) = hb.interrupted {
            rec.interrupted = Some(kind);
            rec.drain_requested.get_or_insert(now);
        }
        rec.drained = hb.drained && rec.drain_requested.is_some();
        rec.last_seen = now;
        let command = if rec.draining() {
            Command::Drain
        } else {
            Command::Run
        };
        Ok((command, noticed))
    }

    /// Frees a place for a new worker of `pool`, or says why none can be freed.
    fn make_room(
        &self,
        map: &mut HashMap<String, Record>,
        pool: &str,
        now: Timestamp,
    ) -> Result<(), Refused> {
        let bound = self
            .limits
            .per_pool
            .get(pool)
            .copied()
            .unwrap_or(MAX_WORKERS);
        // Counting the pool's workers is needed only once the registry holds that many.
        if map.len() < bound.min(MAX_WORKERS)
            || (map.len() < MAX_WORKERS && map.values().filter(|r| r.pool == pool).count() < bound)
        {
            return Ok(());
        }
        // A full registry (all pools) makes room in the same pool: a pool's flood evicts its own.
        let owned = self.owned.lock().unwrap_or_else(|e| e.into_inner());
        let owned = owned.get(pool);
        let mut first_claim: HashMap<&str, (Timestamp, &str)> = HashMap::new();
        for r in map.values().filter(|r| r.pool == pool) {
            if let Some(i) = r.instance_id.as_deref() {
                let e = first_claim.entry(i).or_insert((r.first_seen, &r.worker_id));
                if (r.first_seen, r.worker_id.as_str()) < (e.0, e.1) {
                    *e = (r.first_seen, &r.worker_id);
                }
            }
        }
        let rank = |r: &Record| -> Option<u8> {
            let instance = r.instance_id.as_deref();
            if let (Some(owned), Some(i)) = (owned, instance)
                && !owned.contains(i)
            {
                return Some(0);
            }
            if instance.is_some_and(|i| first_claim.get(i).map(|e| e.1) != Some(&r.worker_id)) {
                return Some(1);
            }
            (now.since(r.last_seen) > self.limits.silent_after).then_some(2)
        };
        let victim = map
            .values()
            .filter(|r| r.pool == pool)
            .filter_map(|r| Some(((rank(r)?, r.last_seen), r.worker_id.clone())))
            .min()
            .map(|(_, id)| id);
        drop(first_claim);
        match victim {
            Some(id) => {
                map.remove(&id);
                Ok(())
            }
            None => Err(Refused::Full(pool.to_string())),
        }
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
