//! A simulated render worker built on the library's agent ([`spillway::worker`], what
//! `spillway worker` runs): the agent takes jobs, heartbeats and obeys `drain`; the "render"
//! it runs on each job is this same program in `--render-job` mode, which sleeps the job's
//! `duration_s` (or burns CPU for it) and appends the job's id to `--done-file`. The load and
//! reliability tests run fleets of it.
//!
//! ```text
//! SPILLWAY_TOKEN=… cargo run --example render_worker -- --service 127.0.0.1:9464 \
//!     --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/jobs \
//!     --pool ec2 --worker-id "$(hostname)" --instance-id i-0123456789abcdef0
//! ```
//! Job bodies are JSON: `{"id": "…", "duration_s": 12.5}` (both optional; the id defaults to
//! the message id). With `--batch-queue-url`, the batch (backfill) queue is polled only when
//! the interactive queue has nothing. A real farm runs `spillway worker` with its renderer.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use spillway::aws::{self, AwsOptions};
use spillway::worker::{self, AgentConfig};

#[derive(Debug, Parser)]
struct Args {
    /// The spillway service, `host:port`.
    #[arg(long, required_unless_present = "render_job")]
    service: Option<String>,
    /// The SQS queue to take jobs from.
    #[arg(long, required_unless_present = "render_job")]
    queue_url: Option<String>,
    /// A batch (backfill) queue, served only when the interactive queue is empty.
    #[arg(long)]
    batch_queue_url: Option<String>,
    /// The policy pool this worker belongs to.
    #[arg(long, default_value = "ec2")]
    pool: String,
    /// This worker's stable id.
    #[arg(long, default_value = "render-worker")]
    worker_id: String,
    /// The EC2 instance it runs on, if any.
    #[arg(long)]
    instance_id: Option<String>,
    /// Environment variable holding the heartbeat token.
    #[arg(long, default_value = "SPILLWAY_TOKEN")]
    token_env: String,
    /// Append each finished job's id to this file (one per line).
    #[arg(long)]
    done_file: Option<PathBuf>,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = 1.0)]
    heartbeat_every: f64,
    /// Long-poll wait per ReceiveMessage, seconds (0–20).
    #[arg(long, default_value_t = 2)]
    wait: i32,
    /// Visibility timeout for a received job, seconds; extended while the job runs.
    #[arg(long, default_value_t = 30)]
    visibility: i32,
    /// Burn CPU while rendering instead of sleeping.
    #[arg(long)]
    burn_cpu: bool,
    /// Render the job in this file and exit (what the agent runs for each job).
    #[arg(long)]
    render_job: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if let Some(job) = &args.render_job {
        render(job, &args);
        return;
    }
    let me = std::env::current_exe().expect("this program's path");
    let mut command = vec![
        me.display().to_string(),
        "--render-job".into(),
        "{job_file}".into(),
    ];
    if let Some(done) = &args.done_file {
        command.extend(["--done-file".into(), done.display().to_string()]);
    }
    if args.burn_cpu {
        command.push("--burn-cpu".into());
    }
    let cfg = AgentConfig {
        service: args.service.clone().unwrap_or_default(),
        pool: args.pool.clone(),
        queue_urls: args
            .queue_url
            .iter()
            .chain(&args.batch_queue_url)
            .cloned()
            .collect(),
        worker_id: args.worker_id.clone(),
        instance_id: args.instance_id.clone(),
        concurrency: 1,
        heartbeat_every: Duration::from_secs_f64(args.heartbeat_every.max(0.05)),
        command,
        token: std::env::var(&args.token_env).unwrap_or_default(),
        grace: Duration::from_secs(30),
        wait_s: args.wait,
        visibility_s: args.visibility,
        work_dir: std::env::temp_dir(),
        notices: None,
    };
    let sqs = aws::sqs(&aws::load(&AwsOptions::default()).await);
    worker::run(cfg, sqs, std::future::pending()).await;
}

/// Sleeps the job's `duration_s` (or burns CPU for it), then records its id.
fn render(job: &PathBuf, args: &Args) {
    let body: serde_json::Value = std::fs::read_to_string(job)
        .ok()
        .and_then(|b| serde_json::from_str(&b).ok())
        .unwrap_or_default();
    let id = body["id"]
        .as_str()
        .map(str::to_string)
        .or_else(|| body["id"].as_u64().map(|n| n.to_string()))
        .or_else(|| std::env::var("SPILLWAY_JOB_ID").ok())
        .unwrap_or_default();
    let duration = Duration::from_secs_f64(body["duration_s"].as_f64().unwrap_or(1.0).max(0.0));
    if args.burn_cpu {
        let start = spillway::clock::Stopwatch::start();
        let mut x = 1u64;
        while start.elapsed() < duration {
            for _ in 0..10_000 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
    } else {
        std::thread::sleep(duration);
    }
    if let Some(path) = &args.done_file {
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(format!("{id}\n").as_bytes()));
        if let Err(e) = written {
            eprintln!("cannot record the finished job: {e}");
            std::process::exit(1);
        }
    }
}
