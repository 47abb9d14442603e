//! An example render worker for spillway: long-polls an SQS queue, "renders" each job (sleeps
//! its `duration_s`, optionally burning CPU), keeps the message invisible while it works,
//! deletes it when done, appends the job id to `--done-file`, and heartbeats to
//! `spillway run`. When a heartbeat reply says `drain`, it finishes the current job, takes no
//! more, reports `drained` and exits.
//!
//! ```text
//! SPILLWAY_TOKEN=… cargo run --example render_worker -- --service 127.0.0.1:9464 \
//!     --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/jobs \
//!     --pool ec2 --worker-id "$(hostname)" --instance-id "$(ec2-metadata -i | cut -d' ' -f2)"
//! ```
//! Job bodies are JSON: `{"id": "…", "duration_s": 12.5}` (both optional). With
//! `--batch-queue-url`, interactive jobs come first: the batch (backfill) queue is polled only
//! when the interactive queue has nothing.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use spillway::aws::{self, AwsOptions};
use spillway::heartbeat::client;
use spillway::heartbeat::protocol::{Command, Heartbeat, ReportedState};

#[derive(Debug, Parser)]
struct Args {
    /// The spillway service, `host:port`.
    #[arg(long)]
    service: String,
    /// The SQS queue to take jobs from.
    #[arg(long)]
    queue_url: String,
    /// A batch (backfill) queue, served only when the interactive queue is empty.
    #[arg(long)]
    batch_queue_url: Option<String>,
    /// The policy pool this worker belongs to.
    #[arg(long)]
    pool: String,
    /// This worker's stable id.
    #[arg(long)]
    worker_id: String,
    /// The EC2 instance it runs on, if any.
    #[arg(long)]
    instance_id: Option<String>,
    /// Environment variable holding the heartbeat token.
    #[arg(long, default_value = "SPILLWAY_TOKEN")]
    token_env: String,
    /// Append each finished job id to this file (one per line).
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
}

#[derive(Debug, Default)]
struct Status {
    busy: bool,
    job_id: Option<String>,
    jobs_done: u64,
    drained: bool,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let token = std::env::var(&args.token_env).unwrap_or_default();
    let sqs = aws::sqs(&aws::load(&AwsOptions::default()).await);
    let status = Arc::new(Mutex::new(Status::default()));
    let drain = Arc::new(AtomicBool::new(false));
    let beat = {
        let (status, drain, token) = (status.clone(), drain.clone(), token.clone());
        let (service, hb) = (args.service.clone(), heartbeat_of(&args));
        let every = Duration::from_secs_f64(args.heartbeat_every.max(0.05));
        tokio::spawn(async move {
            loop {
                send_beat(&service, &token, &hb, &status, &drain).await;
                tokio::time::sleep(every).await;
            }
        })
    };
    while !drain.load(Ordering::SeqCst) {
        // Interactive first: with a batch queue, the interactive queue is only peeked at.
        let wait = if args.batch_queue_url.is_some() {
            0
        } else {
            args.wait
        };
        let mut taken = receive(&sqs, &args.queue_url, wait, args.visibility).await;
        if taken.is_none()
            && let Some(batch) = &args.batch_queue_url
        {
            taken = receive(&sqs, batch, args.wait, args.visibility).await;
        }
        let (url, msg) = match taken {
            Some((url, msg)) => (url, Some(msg)),
            None => (String::new(), None),
        };
        let Some(msg) = msg else { continue };
        let body: serde_json::Value =
            serde_json::from_str(msg.body().unwrap_or("{}")).unwrap_or_default();
        let job_id = body["id"]
            .as_str()
            .map(str::to_string)
            .or_else(|| body["id"].as_u64().map(|n| n.to_string()))
            .or_else(|| msg.message_id().map(str::to_string))
            .unwrap_or_default();
        let duration = Duration::from_secs_f64(body["duration_s"].as_f64().unwrap_or(1.0).max(0.0));
        {
            let mut s = status.lock().unwrap();
            s.busy = true;
            s.job_id = Some(job_id.clone());
        }
        let receipt = msg.receipt_handle().unwrap_or_default().to_string();
        render(&sqs, &args, &url, &receipt, duration).await;
        match sqs
            .delete_message()
            .queue_url(&url)
            .receipt_handle(&receipt)
            .send()
            .await
        {
            Ok(_) => record_done(args.done_file.as_ref(), &job_id),
            Err(e) => {
                tracing::warn!(job = %job_id, error = %aws::judge(&e).message, "DeleteMessage failed; the job will run again.")
            }
        }
        let mut s = status.lock().unwrap();
        s.busy = false;
        s.job_id = None;
        s.jobs_done += 1;
    }
    status.lock().unwrap().drained = true;
    let hb = heartbeat_of(&args);
    for _ in 0..20 {
        if send_beat(&args.service, &token, &hb, &status, &drain).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    beat.abort();
    tracing::info!(worker = %args.worker_id, "Drained; exiting.");
}

/// One message from `url`, if any arrived within `wait` seconds (errors are logged and count
/// as none, after a pause).
async fn receive(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    wait: i32,
    visibility: i32,
) -> Option<(String, aws_sdk_sqs::types::Message)> {
    let received = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(1)
        .wait_time_seconds(wait)
        .visibility_timeout(visibility)
        .send()
        .await;
    match received {
        Ok(out) => out
            .messages
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(|m| (url.to_string(), m)),
        Err(e) => {
            tracing::warn!(error = %aws::judge(&e).message, "ReceiveMessage failed.");
            tokio::time::sleep(Duration::from_secs(1)).await;
            None
        }
    }
}

/// "Renders" for `duration`, extending the message's visibility (on `url`) every half timeout.
async fn render(
    sqs: &aws_sdk_sqs::Client,
    args: &Args,
    url: &str,
    receipt: &str,
    duration: Duration,
) {
    let work = async {
        if args.burn_cpu {
            let _ = tokio::task::spawn_blocking(move || burn(duration)).await;
        } else {
            tokio::time::sleep(duration).await;
        }
    };
    tokio::pin!(work);
    let half = Duration::from_secs((args.visibility.max(2) / 2) as u64);
    loop {
        tokio::select! {
            () = &mut work => return,
            () = tokio::time::sleep(half) => {
                let _ = sqs
                    .change_message_visibility()
                    .queue_url(url)
                    .receipt_handle(receipt)
                    .visibility_timeout(args.visibility)
                    .send()
                    .await;
            }
        }
    }
}

fn burn(duration: Duration) {
    let start = spillway::clock::Stopwatch::start();
    let mut x = 1u64;
    while start.elapsed() < duration {
        for _ in 0..10_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        }
    }
    std::hint::black_box(x);
}

fn heartbeat_of(args: &Args) -> Heartbeat {
    Heartbeat {
        worker_id: args.worker_id.clone(),
        pool: args.pool.clone(),
        instance_id: args.instance_id.clone(),
        state: ReportedState::Idle,
        job_id: None,
        jobs_done: 0,
        drained: false,
        finished: Vec::new(),
        interrupted: None,
    }
}

/// Sends one heartbeat with the current status; returns whether it was accepted.
async fn send_beat(
    service: &str,
    token: &str,
    base: &Heartbeat,
    status: &Mutex<Status>,
    drain: &AtomicBool,
) -> bool {
    let hb = {
        let s = status.lock().unwrap();
        Heartbeat {
            state: if s.busy {
                ReportedState::Busy
            } else {
                ReportedState::Idle
            },
            job_id: s.job_id.clone(),
            jobs_done: s.jobs_done,
            drained: s.drained,
            finished: Vec::new(),
            interrupted: None,
            ..base.clone()
        }
    };
    match client::send(service, token, &hb).await {
        Ok(reply) => {
            if reply.command == Command::Drain {
                drain.store(true, Ordering::SeqCst);
            }
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "Heartbeat failed.");
            false
        }
    }
}

fn record_done(path: Option<&PathBuf>, job_id: &str) {
    let Some(path) = path else { return };
    let line = format!("{job_id}\n");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        tracing::warn!(error = %e, "Cannot record a finished job.");
    }
}
