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
    pub ready: PerPool,
    pub booting: u32,
    /// With job classes: jobs waiting per queue, policy order (empty without).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_queue: Vec<u32>,
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
            ready: PerPool::from_fn(world.live.len(), |p| world.ready_in(p) as u32),
            booting: world.booting,
            by_queue: match world.per_pool {
                Some(_) => world.queues.iter().map(|q| q.len() as u32).collect(),
                None => Vec::new(),
            },
        }
    }
}

/// A count per pool: inline for up to [`PerPool::INLINE`] pools (most farms), on the heap for
/// more. A run keeps a sample a minute (a million over the LANL log's two years), so a heap
/// list each was a million allocations. It reads and serializes as a plain list.
#[derive(Debug, Clone, PartialEq)]
pub enum PerPool {
    Inline {
        len: u8,
        counts: [u32; PerPool::INLINE],
    },
    Heap(Vec<u32>),
}

impl PerPool {
    pub const INLINE: usize = 4;

    /// The counts `f(0)`, …, `f(n - 1)`.
    pub fn from_fn(n: usize, mut f: impl FnMut(usize) -> u32) -> PerPool {
        if n > Self::INLINE {
            return PerPool::Heap((0..n).map(f).collect());
        }
        let mut counts = [0; Self::INLINE];
        for (p, c) in counts.iter_mut().enumerate().take(n) {
            *c = f(p);
        }
        PerPool::Inline {
            len: n as u8,
            counts,
        }
    }
}

impl std::ops::Deref for PerPool {
    type Target = [u32];

    fn deref(&self) -> &[u32] {
        match self {
            PerPool::Inline { len, counts } => &counts[..usize::from(*len)],
            PerPool::Heap(v) => v,
        }
    }
}

impl Serialize for PerPool {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::PerPool;

    #[test]
    fn counts_read_and_serialize_as_a_list_inline_or_not() {
        for n in [0, 1, 4, 5, 9] {
            let p = PerPool::from_fn(n, |i| i as u32 * 10);
            let want: Vec<u32> = (0..n as u32).map(|i| i * 10).collect();
            assert_eq!(&*p, &want[..]);
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                serde_json::to_string(&want).unwrap()
            );
            assert_eq!(matches!(p, PerPool::Heap(_)), n > PerPool::INLINE);
        }
    }
}
