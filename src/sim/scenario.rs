//! Built-in scenarios: seeded synthetic workloads that need no files, each showing one situation
//! the farm has lived through.

use super::SpeedChange;
use super::faults::Faults;
use super::rng::SimRng;
use super::trace::{Job, JobClass};

const DAY: f64 = 86_400.0;
const HOUR: f64 = 3_600.0;

/// A generated workload and the incidents that go with it.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    pub name: &'static str,
    /// What the scenario shows, for the summary.
    pub about: &'static str,
    pub jobs: Vec<Job>,
    pub speed_changes: Vec<SpeedChange>,
    /// Cloud faults (outages, spot interruptions).
    pub faults: Faults,
    /// Probability that a launch never becomes ready.
    pub launch_failure_rate: f64,
    /// The queues its jobs are submitted to, by `Job::queue` (empty: one queue).
    pub queues: Vec<&'static str>,
}

/// Names of the built-in scenarios.
pub const NAMES: [&str; 11] = [
    "diurnal",
    "christmas",
    "nfs-slowdown",
    "slow-release",
    "backfill",
    "ec2-outage",
    "launch-failures",
    "spot-interruptions",
    "flash-crowd",
    "spike-shift",
    "gpu-mix",
];

/// Median and sigma of interactive render durations (log-normal, mean ≈ 41 s).
const RENDER_MEDIAN_S: f64 = 30.0;
const RENDER_SIGMA: f64 = 0.8;

/// Busy workers the interactive load needs at time `t` (seconds): a day that peaks at 14:00 at
/// about twice the 40-worker datacenter and falls to a quarter of it at 02:00.
fn load(t: f64) -> f64 {
    let phase = (t.rem_euclid(DAY) - 8.0 * HOUR) / DAY * std::f64::consts::TAU;
    45.0 + 35.0 * phase.sin()
}

/// Interactive jobs over `days`, with the load multiplied by `boost(t)` and durations by
/// `stretch(t)`.
fn interactive(
    days: f64,
    seed: u64,
    boost: impl Fn(f64) -> f64,
    stretch: impl Fn(f64) -> f64,
) -> Vec<Job> {
    renders(RENDERS, days, seed, 1.0, boost, stretch)
}

/// Which random stream a draw of renders uses, and the queue its jobs go to.
struct Stream {
    id: u64,
    queue: u16,
}

/// The renders of every scenario: [`interactive`]'s stream, queue 0.
const RENDERS: Stream = Stream {
    id: 0x5ce0,
    queue: 0,
};

/// `gpu-mix`'s GPU renders over `days`: a tenth of all renders (one for every nine of
/// [`interactive`]'s), four times as long, following the same day, in queue 1.
fn gpu_renders(days: f64, seed: u64) -> Vec<Job> {
    let share = 1.0 / 9.0;
    renders(
        Stream {
            id: 0x69b0,
            queue: 1,
        },
        days,
        seed,
        share,
        |_| share,
        |_| 4.0,
    )
}

/// Renders following the day's [`load`] times `boost`, durations times `stretch`, drawn by
/// thinning from `headroom` times the peak rate on its own random stream. A `boost` that may
/// take the load past 1.5 times the daily peak needs a `headroom` above 1 (1.0 keeps the
/// scenarios that never go past it drawing exactly what they always drew).
fn renders(
    stream: Stream,
    days: f64,
    seed: u64,
    headroom: f64,
    boost: impl Fn(f64) -> f64,
    stretch: impl Fn(f64) -> f64,
) -> Vec<Job> {
    let mut rng = SimRng::new(seed, stream.id);
    let mean_duration = RENDER_MEDIAN_S * (RENDER_SIGMA * RENDER_SIGMA / 2.0).exp();
    let peak_rate = 80.0 * 1.5 * headroom / mean_duration;
    let mut jobs = Vec::new();
    let mut t = 0.0;
    loop {
        t += rng.exponential(1.0 / peak_rate);
        if t >= days * DAY {
            break;
        }
        let rate = load(t) * boost(t) / mean_duration;
        if rng.uniform() * peak_rate < rate {
            let duration_s = rng.lognormal(RENDER_MEDIAN_S, RENDER_SIGMA) * stretch(t);
            jobs.push(Job {
                submit_ms: (t * 1000.0) as i64,
                duration_s,
                class: JobClass::Interactive,
                queue: stream.queue,
            });
        }
    }
    jobs
}

/// `flash-crowd`'s load multiplier: a 2× crowd at 35h for 20 min, a 5× one at 51h for 30 min,
/// each rising over a minute.
fn flash_crowds(t: f64) -> f64 {
    let crowd = |from: f64, minutes: f64, k: f64| {
        let into = t - from;
        if (0.0..minutes * 60.0).contains(&into) {
            1.0 + (k - 1.0) * (into / 60.0).min(1.0)
        } else {
            1.0
        }
    };
    crowd(DAY + 11.0 * HOUR, 20.0, 2.0) * crowd(2.0 * DAY + 3.0 * HOUR, 30.0, 5.0)
}

/// `spike-shift`'s spike: 2.5× the renders from 34h to 34h15.
fn spike(t: f64) -> f64 {
    if (DAY + 10.0 * HOUR..DAY + 10.25 * HOUR).contains(&t) {
        2.5
    } else {
        1.0
    }
}

/// `spike-shift`'s shift: `k` from 37h to 48h, 1 otherwise.
fn shift(t: f64, k: f64) -> f64 {
    if (DAY + 13.0 * HOUR..2.0 * DAY).contains(&t) {
        k
    } else {
        1.0
    }
}

/// Builds scenario `name`, or `None` if there is no such scenario.
pub fn build(name: &str, seed: u64) -> Option<Scenario> {
    let none = |_: f64| 1.0;
    let s = match name {
        "diurnal" => Scenario {
            name: "diurnal",
            about: "Three ordinary days: the datacenter covers the nights, EC2 absorbs each afternoon peak.",
            jobs: interactive(3.0, seed, none, none),
            speed_changes: vec![],
            ..Scenario::default()
        },
        "christmas" => Scenario {
            name: "christmas",
            about: "The day before Christmas (the second day, from 24h) brings 20% more renders; capacity follows without anyone planning it.",
            jobs: interactive(
                3.0,
                seed,
                |t| {
                    if (DAY..2.0 * DAY).contains(&t) {
                        1.2
                    } else {
                        1.0
                    }
                },
                none,
            ),
            speed_changes: vec![],
            ..Scenario::default()
        },
        "nfs-slowdown" => Scenario {
            name: "nfs-slowdown",
            about: "Slow NFS cuts the datacenter to a third of its speed from 10:00 to 12:00 on the second day (34h to 36h); EC2 scales out of the incident.",
            jobs: interactive(3.0, seed, none, none),
            speed_changes: vec![SpeedChange {
                pool: "datacenter".into(),
                from_s: DAY + 10.0 * HOUR,
                to_s: DAY + 12.0 * HOUR,
                factor: 1.0 / 3.0,
            }],
            ..Scenario::default()
        },
        "slow-release" => Scenario {
            name: "slow-release",
            about: "A release on the second day (from 24h) makes every render 30% slower; the fleet grows to keep waits flat.",
            jobs: interactive(3.0, seed, none, |t| if t >= DAY { 1.3 } else { 1.0 }),
            speed_changes: vec![],
            ..Scenario::default()
        },
        "backfill" => {
            let mut jobs = interactive(3.0, seed, none, none);
            let mut rng = SimRng::new(seed, 0xbf11);
            let at = (DAY + 9.0 * HOUR) * 1000.0;
            jobs.extend((0..100_000).map(|_| Job {
                submit_ms: at as i64,
                duration_s: rng.lognormal(4.0, 0.3),
                class: JobClass::Batch,
                queue: 0,
            }));
            jobs.sort_by_key(|j| j.submit_ms);
            Scenario {
                name: "backfill",
                about: "100,000 thumbnail re-renders land at 09:00 on the second day (33h); interactive renders keep priority while the batch drains.",
                jobs,
                speed_changes: vec![],
                ..Scenario::default()
            }
        }
        "ec2-outage" => Scenario {
            name: "ec2-outage",
            about: "The EC2 API is unreachable from 13:00 to 13:30 on the second day (37h to 37h30), as the afternoon peak builds: running instances keep working, the datacenter carries on, and recovery brings no launch storm.",
            jobs: interactive(3.0, seed, none, none),
            faults: Faults {
                ec2_outages: vec![(
                    (DAY + 13.0 * HOUR) as i64 * 1000,
                    (DAY + 13.5 * HOUR) as i64 * 1000,
                )],
                ..Faults::default()
            },
            ..Scenario::default()
        },
        "launch-failures" => Scenario {
            name: "launch-failures",
            about: "Three ordinary days on which 30% of EC2 launches never boot: they are terminated at boot_timeout and replaced.",
            jobs: interactive(3.0, seed, none, none),
            launch_failure_rate: 0.3,
            ..Scenario::default()
        },
        "spot-interruptions" => Scenario {
            name: "spot-interruptions",
            about: "Three ordinary days on spot instances taken away at 5% an hour: their jobs run again elsewhere and the fleet is refilled.",
            jobs: interactive(3.0, seed, none, none),
            faults: Faults {
                spot_interruptions_per_hour: 0.05,
                ..Faults::default()
            },
            ..Scenario::default()
        },
        "flash-crowd" => Scenario {
            name: "flash-crowd",
            about: "Flash crowds on ordinary days: twice the renders within a minute at 11:00 on the second day (35h) for 20 minutes, five times the night's load at 03:00 on the third (51h) for 30 minutes.",
            jobs: renders(RENDERS, 3.0, seed, 2.0, flash_crowds, none),
            ..Scenario::default()
        },
        "spike-shift" => Scenario {
            name: "spike-shift",
            about: "A spike (2.5× the renders from 10:00 to 10:15 on the second day, 34h) and then a job-size shift: from 13:00 (37h) to midnight, renders take four times as long and come a quarter as often, the same work in fewer, longer jobs.",
            jobs: renders(
                RENDERS,
                3.0,
                seed,
                2.0,
                |t| spike(t) * shift(t, 0.25),
                |t| shift(t, 4.0),
            ),
            ..Scenario::default()
        },
        "gpu-mix" => {
            let mut jobs = interactive(3.0, seed, none, none);
            jobs.extend(gpu_renders(3.0, seed));
            jobs.sort_by_key(|j| j.submit_ms);
            Scenario {
                name: "gpu-mix",
                about: "Three ordinary days on which a tenth of the renders need a GPU and take four times as long: queue `renders` runs anywhere, queue `gpu` only on GPU workers (with a policy whose [[queue]]s name their pools, each class is sized on its own).",
                jobs,
                queues: vec!["renders", "gpu"],
                ..Scenario::default()
            }
        }
        _ => return None,
    };
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_are_seeded_and_shaped() {
        let a = build("diurnal", 7).unwrap();
        let b = build("diurnal", 7).unwrap();
        assert_eq!(a.jobs, b.jobs);
        let offered: f64 = a.jobs.iter().map(|j| j.duration_s).sum::<f64>() / (3.0 * DAY);
        assert!((offered - 45.0).abs() < 2.0, "mean load {offered}");
        let xmas = build("christmas", 7).unwrap();
        assert!(xmas.jobs.len() as f64 > a.jobs.len() as f64 * 1.05);
        let bf = build("backfill", 7).unwrap();
        assert_eq!(
            bf.jobs
                .iter()
                .filter(|j| j.class == JobClass::Batch)
                .count(),
            100_000
        );
        assert!(bf.jobs.windows(2).all(|w| w[0].submit_ms <= w[1].submit_ms));
        // The flash crowds: twice the arrivals in the first crowd's 20 minutes as in the same
        // minutes of the ordinary day; the shift: a quarter of the jobs, four times as long.
        let fc = build("flash-crowd", 7).unwrap();
        let within = |jobs: &[Job], from: f64, to: f64| {
            jobs.iter()
                .filter(|j| (from..to).contains(&(j.submit_ms as f64 / 1000.0)))
                .count() as f64
        };
        let (from, to) = (DAY + 11.0 * HOUR + 60.0, DAY + 11.0 * HOUR + 1200.0);
        let ratio = within(&fc.jobs, from, to) / within(&a.jobs, from, to);
        assert!((1.8..2.2).contains(&ratio), "first crowd {ratio}");
        let ss = build("spike-shift", 7).unwrap();
        let (from, to) = (DAY + 14.0 * HOUR, DAY + 20.0 * HOUR);
        let ratio = within(&ss.jobs, from, to) / within(&a.jobs, from, to);
        assert!((0.2..0.3).contains(&ratio), "shifted count {ratio}");
        let mean = |jobs: &[Job]| {
            let v: Vec<f64> = jobs
                .iter()
                .filter(|j| (from..to).contains(&(j.submit_ms as f64 / 1000.0)))
                .map(|j| j.duration_s)
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        let stretch = mean(&ss.jobs) / mean(&a.jobs);
        assert!((3.5..4.5).contains(&stretch), "shifted duration {stretch}");
        assert!(build("nope", 1).is_none());
        for name in NAMES {
            assert!(build(name, 1).is_some(), "{name}");
        }
    }
}
