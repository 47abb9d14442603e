//! One sample of the simulated farm (every `sample_every_s`): the time series behind the
//! plot, the elasticity metrics and `--samples`.

use serde::Serialize;

use super::world::World;

/// The farm at one sample instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub t_s: f64,
    /// Demand (jobs that would run if none waited), mean over the sample's bin.
    pub demand: f64,
    /// Jobs waiting, both classes.
    pub queued: u32,
    /// Of those, batch jobs.
    pub queued_batch: u32,
    pub busy: u32,
    /// Ready (idle or busy) workers per pool, policy order.
    pub ready: Vec<u32>,
    pub booting: u32,
}

impl Sample {
    /// Reads the world at `now`.
    pub fn take(world: &World, now: i64) -> Sample {
        Sample {
            t_s: now as f64 / 1000.0,
            demand: 0.0,
            queued: world.queued() as u32,
            queued_batch: world.queued_batch() as u32,
            busy: world.busy,
            ready: (0..world.live.len())
                .map(|p| world.ready_in(p) as u32)
                .collect(),
            booting: world.booting,
        }
    }
}
