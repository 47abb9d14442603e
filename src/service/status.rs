//! What `/status` shows (the last decisions with their reasons, per-pool worker counts, the
//! last observation errors) and the `--record` JSON Lines log of every observation and
//! decision.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

use crate::control::{Decision, Observation, QueueObservation};
use crate::model::{Timestamp, WorkerState};
use crate::service::observe::jobs::Reported;

/// How many recent ticks `/status` keeps.
pub const RECENT_TICKS: usize = 20;

/// Worker counts of one pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PoolCounts {
    pub pool: String,
    /// `None` when the pool could not be listed.
    pub known: bool,
    pub booting: u32,
    pub idle: u32,
    pub busy: u32,
    pub draining: u32,
}

impl PoolCounts {
    /// Counts every pool of `obs`.
    pub fn of(obs: &Observation) -> Vec<PoolCounts> {
        obs.pools
            .iter()
            .map(|p| {
                let mut c = PoolCounts {
                    pool: p.pool.clone(),
                    known: p.workers.is_some(),
                    ..PoolCounts::default()
                };
                for w in p.workers.iter().flatten() {
                    match w.state {
                        WorkerState::Booting => c.booting += 1,
                        WorkerState::Idle { .. } => c.idle += 1,
                        WorkerState::Busy { .. } => c.busy += 1,
                        WorkerState::Draining { .. } | WorkerState::Drained | WorkerState::Lost => {
                            c.draining += 1
                        }
                    }
                }
                c
            })
            .collect()
    }
}

/// One tick, as shown by `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct TickReport {
    pub tick: u64,
    pub at: Timestamp,
    /// Why parts of the observation are missing this tick (empty when all was read).
    pub observation_errors: Vec<String>,
    pub queue: Option<QueueObservation>,
    pub workers: Vec<PoolCounts>,
    pub decision: Decision,
    /// What the service did about it (empty in dry-run, while paused, and on a follower).
    pub executed: Vec<String>,
    /// `single` (no lease), `leader` or `follower`, with detail.
    pub role: String,
}

/// The state `/status` serves.
#[derive(Debug, Serialize)]
struct Board {
    policy: String,
    dry_run: bool,
    started_at: Timestamp,
    ticks: u64,
    recent: VecDeque<TickReport>,
}

/// Shared between the control loop (writes) and the HTTP handler (reads).
#[derive(Debug)]
pub struct StatusBoard(Mutex<Board>);

impl StatusBoard {
    pub fn new(policy: &str, dry_run: bool, started_at: Timestamp) -> Self {
        StatusBoard(Mutex::new(Board {
            policy: policy.to_string(),
            dry_run,
            started_at,
            ticks: 0,
            recent: VecDeque::new(),
        }))
    }

    /// Adds a tick, keeping the last [`RECENT_TICKS`].
    pub fn push(&self, report: TickReport) {
        let mut b = self.0.lock().unwrap_or_else(|e| e.into_inner());
        b.ticks = report.tick;
        if b.recent.len() == RECENT_TICKS {
            b.recent.pop_front();
        }
        b.recent.push_back(report);
    }

    /// The `/status` JSON: newest tick first; times in RFC 3339, the desired workers by pool.
    pub fn to_json(&self) -> serde_json::Value {
        let b = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let recent: Vec<serde_json::Value> = b.recent.iter().rev().map(for_people).collect();
        serde_json::json!({
            "policy": b.policy,
            "dry_run": b.dry_run,
            "started_at": b.started_at.rfc3339(),
            "ticks": b.ticks,
            "last": recent.first(),
            "recent": recent,
        })
    }
}

/// A tick as `/status` shows it: instants in RFC 3339 rather than epoch milliseconds, and
/// `decision.desired` as `{pool: workers}` beside the policy-ordered `desired_per_pool`.
fn for_people(t: &TickReport) -> serde_json::Value {
    let mut v = serde_json::to_value(t).unwrap_or_default();
    v["at"] = t.at.rfc3339().into();
    if let Some(q) = &t.queue {
        v["queue"]["sampled_at"] = q.sampled_at.rfc3339().into();
    }
    if let Some(until) = t.decision.learning_until {
        v["decision"]["learning_until"] = until.rfc3339().into();
    }
    let desired: serde_json::Map<String, serde_json::Value> = t
        .workers
        .iter()
        .zip(&t.decision.desired_per_pool)
        .map(|(c, n)| (c.pool.clone(), (*n).into()))
        .collect();
    v["decision"]["desired"] = desired.into();
    v
}

/// The record format this build writes (the `format` field of every line).
pub const RECORD_FORMAT: u32 = 2;

/// The `--record` file: one JSON object per tick, `{"format", "policy", "at", "observation",
/// "decision", "jobs"}` (`jobs`: the jobs workers reported finished since the previous tick;
/// `jobs_dropped` when more arrived than the service keeps). Documented in `docs/record.md`.
#[derive(Debug)]
pub struct Recorder {
    out: BufWriter<File>,
    /// The policy's name, on every line: a replay must not mix two farms.
    policy: String,
}

impl Recorder {
    /// Opens `path` for appending the ticks of policy `policy`.
    pub fn open(path: &Path, policy: &str) -> std::io::Result<Self> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Recorder {
            out: BufWriter::new(f),
            policy: policy.to_string(),
        })
    }

    /// Appends one line and flushes it.
    pub fn write(
        &mut self,
        at: Timestamp,
        observation: &Observation,
        decision: &Decision,
        jobs: &Reported,
    ) -> std::io::Result<()> {
        let mut line = serde_json::json!({
            "format": RECORD_FORMAT,
            "policy": self.policy,
            "at": at,
            "observation": observation,
            "decision": decision,
            "jobs": jobs.jobs,
        });
        if jobs.dropped > 0 {
            line["jobs_dropped"] = jobs.dropped.into();
        }
        serde_json::to_writer(&mut self.out, &line)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}
