//! A heartbeat load generator for measuring the service: `--workers N` simulated workers of
//! one pool, each heartbeating every `--every` seconds (start times spread evenly over one
//! period), for `--duration` seconds, against a service on this machine.
//!
//! It prints heartbeats expected, sent, accepted and dropped (expected − accepted: any error,
//! non-200 answer or heartbeat never sent is a drop), failures by kind, the latency of
//! accepted heartbeats (request start to whole answer read) and the schedule lag (request
//! start minus when it was due: waiting for a pooled connection or for the generator's own
//! thread) as p50/p90/p99/p99.9/max, and the generator's own CPU time. A large schedule lag means the generator, not the service, was
//! the bottleneck, and the latency figures understate what workers would see.
//!
//! ```text
//! SPILLWAY_TOKEN=… cargo run --release --example heartbeat_load -- \
//!     --service 127.0.0.1:9464 --pool datacenter --workers 10000 --every 10 --duration 300
//! ```
//!
//! `scripts/load-test` runs it against a release service and moto and adds the service's CPU
//! and memory.

#![allow(clippy::disallowed_methods)] // the load generator reads the clock to time requests

mod connections;
mod tally;

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use spillway::heartbeat::protocol::{Heartbeat, JobReport, ReportedState};

use connections::Transport;
use tally::Tally;

#[derive(Debug, Parser)]
struct Args {
    /// The service, `host:port` (loopback).
    #[arg(long, default_value = "127.0.0.1:9464")]
    service: String,
    /// Pool the simulated workers claim.
    #[arg(long)]
    pool: String,
    #[arg(long, default_value_t = 1000)]
    workers: u32,
    /// Seconds between two heartbeats of one worker.
    #[arg(long, default_value_t = 5.0)]
    every: f64,
    /// Seconds to run: each worker sends `duration / every` heartbeats.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Keep-alive connections shared by all workers; 0 opens a new connection per heartbeat
    /// (the library client, as the example worker does).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Threads of the generator's runtime (1: a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, default_value_t = 30.0)]
    progress: f64,
    /// Environment variable holding the token.
    #[arg(long, default_value = "SPILLWAY_TOKEN")]
    token_env: String,
    /// Finished-job reports in every heartbeat (what `spillway worker` sends: queue, sent
    /// time, wait, run time, exit status); a busy worker also names its job.
    #[arg(long, default_value_t = 0)]
    reports: usize,
}

fn main() {
    let args = Args::parse();
    let mut rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(args.threads);
        b
    };
    let rt = rt
        .enable_all()
        .build()
        .expect("cannot start the tokio runtime");
    rt.block_on(generate(args));
}

async fn generate(args: Args) {
    let token: Arc<str> = std::env::var(&args.token_env).unwrap_or_default().into();
    let transport = Arc::new(Transport::new(&args.service, args.connections));
    let tally = Arc::new(Tally::default());
    let every = Duration::from_secs_f64(args.every.max(0.1));
    let rounds = (args.duration / args.every).round().max(1.0) as u64;
    let cpu_before = own_cpu();
    let start = tokio::time::Instant::now();
    let progress = (args.progress > 0.0).then(|| {
        let tally = tally.clone();
        let period = Duration::from_secs_f64(args.progress);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(start + period, period);
            loop {
                tick.tick().await;
                let (sent, accepted, failed) = tally.counts();
                eprintln!(
                    "{:>5.0} s: sent {sent} accepted {accepted} failed {failed}",
                    start.elapsed().as_secs_f64()
                );
            }
        })
    });
    let mut tasks = Vec::new();
    let reports = args.reports;
    for n in 0..args.workers {
        let (token, transport, tally, pool) = (
            token.clone(),
            transport.clone(),
            tally.clone(),
            args.pool.clone(),
        );
        let offset = every.mul_f64(f64::from(n) / f64::from(args.workers.max(1)));
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(start + offset, every);
            for round in 0..rounds {
                let due = tick.tick().await.into_std();
                let busy = (u64::from(n) + round).is_multiple_of(3);
                let hb = Heartbeat {
                    worker_id: format!("load-{n}"),
                    pool: pool.clone(),
                    instance_id: None,
                    state: if busy {
                        ReportedState::Busy
                    } else {
                        ReportedState::Idle
                    },
                    job_id: (busy && reports > 0)
                        .then(|| format!("5fe0c3a1-7d1e-4b8e-9c2a-{n:06}{round:06}")),
                    jobs_done: round * reports as u64,
                    drained: false,
                    finished: (0..reports)
                        .map(|k| JobReport {
                            queue: "https://sqs.eu-west-1.amazonaws.com/123456789012/renders"
                                .into(),
                            waited_s: 3.5 + k as f64,
                            ran_s: 241.25,
                            ok: true,
                            sent_at_ms: Some(1_765_100_000_000 + i64::from(n)),
                            exit: Some(0),
                        })
                        .collect(),
                    interrupted: None,
                    taken: Vec::new(),
                };
                let (started, outcome) = transport.send(&token, &hb).await;
                let lag = started.saturating_duration_since(due);
                tally.record(lag, started.elapsed(), outcome.err().map(|f| f.label()));
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    if let Some(p) = progress {
        p.abort();
    }
    let wall = start.elapsed().as_secs_f64();
    println!(
        "load: {} workers of pool {} every {:.1} s, {rounds} rounds, over {}",
        args.workers,
        args.pool,
        every.as_secs_f64(),
        transport.describe()
    );
    println!("{}", tally.report(u64::from(args.workers) * rounds));
    match (cpu_before, own_cpu()) {
        (Some(a), Some(b)) => println!(
            "generator: wall_s {wall:.1} cpu_s {:.1} ({:.0}% of one core)",
            b - a,
            (b - a) / wall * 100.0
        ),
        _ => println!("generator: wall_s {wall:.1} cpu_s unknown"),
    }
}

/// CPU seconds (user + system, all threads) this process has run so far: Linux
/// `/proc/self/stat`, in clock ticks of 1/100 s (`USER_HZ`).
fn own_cpu() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let mut fields = s.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
