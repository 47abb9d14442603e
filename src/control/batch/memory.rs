//! What `decide` remembers about a running batch between ticks (part of `ControlMemory`, so
//! saved by `--state-file`).

use serde::{Deserialize, Serialize};

use crate::model::Timestamp;

/// What `decide` remembers about the running batch.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BatchMemory {
    /// When a backlog was first seen (the deadline counts from here).
    pub started_at: Option<Timestamp>,
    /// EC2 workers allotted to the batch at the previous tick.
    pub allotted: u32,
    /// Dollars the allotment has cost so far.
    pub spent_usd: f64,
    /// The previous tick's time and backlog, to measure throughput.
    pub last: Option<(Timestamp, f64)>,
    /// Batch jobs finished per second per batch worker, smoothed.
    pub rate_per_worker: Option<f64>,
    /// Since when fewer workers would do, and the most wanted since then.
    pub lower: Option<(Timestamp, u32)>,
}
