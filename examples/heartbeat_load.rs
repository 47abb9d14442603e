//! A heartbeat load generator for measuring the service: `--workers N` simulated workers of
//! one pool, each heartbeating every `--every` seconds (spread evenly), for `--duration`
//! seconds, against a service on this machine. Prints how many heartbeats were accepted.
//!
//! ```text
//! SPILLWAY_TOKEN=… cargo run --release --example heartbeat_load -- \
//!     --service 127.0.0.1:9464 --pool datacenter --workers 1000 --every 5 --duration 60
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Parser;
use spillway::heartbeat::client;
use spillway::heartbeat::protocol::{Heartbeat, ReportedState};

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
    /// Seconds to run.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Environment variable holding the token.
    #[arg(long, default_value = "SPILLWAY_TOKEN")]
    token_env: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let token = Arc::new(std::env::var(&args.token_env).unwrap_or_default());
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let every = Duration::from_secs_f64(args.every.max(0.1));
    let rounds = (args.duration / args.every).ceil().max(1.0) as u64;
    let mut tasks = Vec::new();
    for n in 0..args.workers {
        let (token, ok, failed, service, pool) = (
            token.clone(),
            ok.clone(),
            failed.clone(),
            args.service.clone(),
            args.pool.clone(),
        );
        let offset = every.mul_f64(f64::from(n) / f64::from(args.workers.max(1)));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let mut tick = tokio::time::interval(every);
            for round in 0..rounds {
                tick.tick().await;
                let hb = Heartbeat {
                    worker_id: format!("load-{n}"),
                    pool: pool.clone(),
                    instance_id: None,
                    state: if (u64::from(n) + round).is_multiple_of(3) {
                        ReportedState::Busy
                    } else {
                        ReportedState::Idle
                    },
                    job_id: None,
                    jobs_done: round,
                    drained: false,
                };
                match client::send(&service, &token, &hb).await {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    println!(
        "heartbeats accepted: {}, failed: {}",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
}
