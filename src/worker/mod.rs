//! `spillway worker`: the render-side agent an operator installs next to the renderer.
//!
//! It long-polls its queues in the order given (the first with something wins), runs the
//! operator's command on each job ([`job`]), at most `concurrency` at a time, and heartbeats to
//! the service every `heartbeat_every` with its state (`busy` with a job id, or `idle`) and the
//! jobs it finished. A `drain` reply makes it finish what runs, take nothing more, report
//! `drained` and return; so does the `shutdown` future (SIGTERM), except that jobs still running
//! after `grace` are stopped and returned to their queue. Both end with status 0.
//!
//! A notice from the metadata service that the instance is going away (a spot interruption
//! or a rebalance recommendation) stops every job at once (back to its queue), and the
//! heartbeats say `interrupted`: the service drains and replaces the worker, which reports
//! `drained` and returns.
//!
//! Submodules: [`job`] (one job), [`metadata`] (instance id and notices from the metadata
//! service).

pub mod job;
pub mod metadata;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use aws_sdk_sqs::types::MessageSystemAttributeName;

use crate::aws;
use crate::clock::{Clock, Stopwatch, SystemClock};
use crate::heartbeat::client;
use crate::heartbeat::protocol::{
    Command, Heartbeat, Interruption, JobReport, JobTaken, MAX_REPORTS, ReportedState,
};
use crate::model::Timestamp;
use job::{JobContext, Outcome, Taken};

/// Everything the agent is told.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The service, `host:port`.
    pub service: String,
    pub pool: String,
    /// Polled in this order.
    pub queue_urls: Vec<String>,
    pub worker_id: String,
    pub instance_id: Option<String>,
    /// Jobs run at once.
    pub concurrency: usize,
    pub heartbeat_every: Duration,
    /// The command and its arguments, `{job_file}` where the job's file goes.
    pub command: Vec<String>,
    /// The workers' bearer token.
    pub token: String,
    /// How long jobs may still run after the shutdown signal.
    pub grace: Duration,
    /// Long-poll wait of the last queue, seconds (0–20).
    pub wait_s: i32,
    /// Visibility timeout kept on a running job's message, seconds.
    pub visibility_s: i32,
    /// Where job files are written.
    pub work_dir: PathBuf,
    /// The metadata service polled for interruption notices (`host:port`); `None`: not polled.
    pub notices: Option<String>,
}

/// What the agent did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub done: u64,
    pub failed: u64,
    pub stopped: u64,
}

/// What the heartbeats report.
#[derive(Debug, Default)]
struct Status {
    running: Vec<String>,
    jobs_done: u64,
    drained: bool,
    /// Finished jobs not yet reported (the oldest dropped past a bound: a long outage).
    reports: Vec<JobReport>,
    /// Jobs taken not yet reported, with what they waited (bounded like `reports`).
    taken: Vec<JobTaken>,
    /// The notice that the instance is going away, once received.
    interrupted: Option<Interruption>,
}

/// Reports kept while the service cannot be reached.
const MAX_PENDING_REPORTS: usize = 10_000;

/// Runs the agent until the service says `drain` or `shutdown` completes.
pub async fn run(
    cfg: AgentConfig,
    sqs: aws_sdk_sqs::Client,
    shutdown: impl Future<Output = ()>,
) -> Summary {
    let status = Arc::new(Mutex::new(Status::default()));
    let drain = Arc::new(AtomicBool::new(false));
    let (stop_jobs, stop_seen) = watch::channel(false);
    let notices = match &cfg.notices {
        Some(endpoint) => {
            let mut md = metadata::Metadata::new(endpoint);
            // Asked before the first job: a worker restarted on a doomed instance takes none.
            if let Ok(Some(kind)) = md.notice().await {
                interrupt(kind, &status, &drain, &stop_jobs);
            }
            let watcher = watch_notices(
                md,
                cfg.clone(),
                status.clone(),
                drain.clone(),
                stop_jobs.clone(),
            );
            Some(tokio::spawn(watcher))
        }
        None => None,
    };
    let beats = tokio::spawn(heartbeats(cfg.clone(), status.clone(), drain.clone()));
    let mut jobs: JoinSet<(String, Outcome, Option<JobReport>)> = JoinSet::new();
    let clock = SystemClock::new();
    let mut summary = Summary::default();
    let mut shutting_down = false;
    tokio::pin!(shutdown);
    info!(worker = %cfg.worker_id, pool = %cfg.pool, queues = cfg.queue_urls.len(), concurrency = cfg.concurrency, "Worker started.");
    loop {
        let draining = drain.load(Ordering::SeqCst);
        if (draining || shutting_down) && jobs.is_empty() {
            break;
        }
        let room = !draining && !shutting_down && jobs.len() < cfg.concurrency;
        tokio::select! {
            biased;
            () = &mut shutdown, if !shutting_down => {
                info!(running = jobs.len(), grace = ?cfg.grace, "Shutting down: finishing the running jobs.");
                shutting_down = true;
                let stop = stop_jobs.clone();
                let grace = cfg.grace;
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    let _ = stop.send(true);
                });
            }
            Some(ended) = jobs.join_next(), if !jobs.is_empty() => {
                if let Ok((id, outcome, report)) = ended {
                    let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
                    s.running.retain(|r| r != &id);
                    if let Some(r) = report {
                        if s.reports.len() >= MAX_PENDING_REPORTS {
                            s.reports.remove(0);
                        }
                        s.reports.push(r);
                    }
                    match outcome {
                        Outcome::Done => { s.jobs_done += 1; summary.done += 1; }
                        Outcome::Failed => summary.failed += 1,
                        Outcome::Stopped => summary.stopped += 1,
                    }
                }
            }
            taken = take(&sqs, &cfg), if room => {
                let Some(t) = taken else { continue };
                if drain.load(Ordering::SeqCst) {
                    // Asked to drain while this long poll ran: the job goes straight back.
                    job::release(&sqs, &t).await;
                    continue;
                }
                let taken_at = clock.now();
                {
                    let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
                    s.running.push(t.message_id.clone());
                    if let Some(sent) = t.sent_at {
                        if s.taken.len() >= MAX_PENDING_REPORTS {
                            s.taken.remove(0);
                        }
                        let waited_s = taken_at.since(sent).as_secs_f64();
                        s.taken.push(JobTaken { queue: t.queue_url.clone(), waited_s });
                    }
                }
                let (sqs, cfg, stop) = (sqs.clone(), cfg.clone(), stop_seen.clone());
                jobs.spawn(async move {
                    let id = t.message_id.clone();
                    let queue = t.queue_url.clone();
                    let waited = t.sent_at.map(|sent| taken_at.since(sent));
                    let sent_at_ms = t.sent_at.map(|s| s.0);
                    let cx = JobContext {
                        sqs: &sqs,
                        command: &cfg.command,
                        work_dir: &cfg.work_dir,
                        visibility_s: cfg.visibility_s,
                        stop,
                    };
                    let watch = Stopwatch::start();
                    let (outcome, exit) = job::run(t, cx).await;
                    // A stopped job did not finish: it is reported by whoever runs it again.
                    let report = (outcome != Outcome::Stopped).then(|| JobReport {
                        queue,
                        waited_s: waited.map_or(0.0, |w| w.as_secs_f64()),
                        ran_s: watch.elapsed().as_secs_f64(),
                        ok: outcome == Outcome::Done,
                        sent_at_ms,
                        exit,
                    });
                    (id, outcome, report)
                });
            }
            // Nothing to take and nothing running: wait for a drain or the shutdown.
            () = tokio::time::sleep(Duration::from_millis(200)), if !room && jobs.is_empty() => {}
        }
    }
    // Drained: say so (a few tries), so that the service terminates this worker.
    status.lock().unwrap_or_else(|e| e.into_inner()).drained = true;
    for _ in 0..8 {
        if beat(&cfg, &status, &drain).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    beats.abort();
    if let Some(n) = notices {
        n.abort();
    }
    info!(
        done = summary.done,
        failed = summary.failed,
        stopped = summary.stopped,
        "Worker stopped."
    );
    summary
}

/// One message from the first queue that has one: every queue but the last is only peeked
/// at, the last is long-polled. `None` when none had a job (errors are logged and paused on).
async fn take(sqs: &aws_sdk_sqs::Client, cfg: &AgentConfig) -> Option<Taken> {
    let last = cfg.queue_urls.len().saturating_sub(1);
    for (i, url) in cfg.queue_urls.iter().enumerate() {
        let wait = if i == last { cfg.wait_s } else { 0 };
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(1)
            .wait_time_seconds(wait)
            .visibility_timeout(cfg.visibility_s)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await;
        match received {
            Ok(out) => {
                if let Some(m) = out.messages.unwrap_or_default().into_iter().next() {
                    let sent_at = m
                        .attributes
                        .as_ref()
                        .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                        .and_then(|v| v.parse::<i64>().ok())
                        .map(Timestamp::from_millis);
                    return Some(Taken {
                        sent_at,
                        queue_url: url.clone(),
                        message_id: m.message_id.unwrap_or_default(),
                        receipt: m.receipt_handle.unwrap_or_default(),
                        body: m.body.unwrap_or_default(),
                    });
                }
            }
            Err(e) => {
                warn!(queue = %url, error = %aws::judge(&e).message, "ReceiveMessage failed.");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    None
}

/// Acts on a notice that the instance is going away: every job stops at once (back to its
/// queue), nothing more is taken, and the heartbeats say so.
fn interrupt(
    kind: Interruption,
    status: &Mutex<Status>,
    drain: &AtomicBool,
    stop_jobs: &watch::Sender<bool>,
) {
    let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
    if s.interrupted.is_none() {
        warn!(
            kind = kind.label(),
            running = s.running.len(),
            "The instance is going away: returning every job and taking no more."
        );
        s.interrupted = Some(kind);
    }
    drop(s);
    drain.store(true, Ordering::SeqCst);
    let _ = stop_jobs.send(true);
}

/// Polls the metadata service for notices every second (every minute while it does not
/// answer) until one comes or it is aborted; tells the service at once.
async fn watch_notices(
    mut md: metadata::Metadata,
    cfg: AgentConfig,
    status: Arc<Mutex<Status>>,
    drain: Arc<AtomicBool>,
    stop_jobs: watch::Sender<bool>,
) {
    let mut answered = true;
    loop {
        match md.notice().await {
            Ok(Some(kind)) => {
                interrupt(kind, &status, &drain, &stop_jobs);
                beat(&cfg, &status, &drain).await;
                return;
            }
            Ok(None) => answered = true,
            Err(()) => {
                if answered {
                    tracing::debug!(
                        "The metadata service does not answer: notices are polled every minute."
                    );
                }
                answered = false;
            }
        }
        let every = if answered { 1 } else { 60 };
        tokio::time::sleep(Duration::from_secs(every)).await;
    }
}

/// Heartbeats every period until aborted.
async fn heartbeats(cfg: AgentConfig, status: Arc<Mutex<Status>>, drain: Arc<AtomicBool>) {
    loop {
        beat(&cfg, &status, &drain).await;
        tokio::time::sleep(cfg.heartbeat_every).await;
    }
}

/// Sends one heartbeat; returns whether the service took it. A `drain` reply sets `drain`.
async fn beat(cfg: &AgentConfig, status: &Mutex<Status>, drain: &AtomicBool) -> bool {
    let (hb, sent, sent_taken) = {
        let s = status.lock().unwrap_or_else(|e| e.into_inner());
        let sent = s.reports.len().min(MAX_REPORTS);
        let sent_taken = s.taken.len().min(MAX_REPORTS);
        let hb = Heartbeat {
            worker_id: cfg.worker_id.clone(),
            pool: cfg.pool.clone(),
            instance_id: cfg.instance_id.clone(),
            state: if s.running.is_empty() {
                ReportedState::Idle
            } else {
                ReportedState::Busy
            },
            job_id: s.running.first().cloned(),
            jobs_done: s.jobs_done,
            drained: s.drained,
            finished: s.reports[..sent].to_vec(),
            interrupted: s.interrupted,
            taken: s.taken[..sent_taken].to_vec(),
        };
        (hb, sent, sent_taken)
    };
    match client::send(&cfg.service, &cfg.token, &hb).await {
        Ok(reply) => {
            // The service has them: drop what was sent (new ones were appended after).
            let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
            let sent = sent.min(s.reports.len());
            s.reports.drain(..sent);
            let sent_taken = sent_taken.min(s.taken.len());
            s.taken.drain(..sent_taken);
            drop(s);
            if reply.command == Command::Drain && !drain.swap(true, Ordering::SeqCst) {
                info!("The service asked this worker to drain: finishing, taking nothing more.");
            }
            true
        }
        Err(e) => {
            warn!(error = %e, "Heartbeat failed.");
            false
        }
    }
}
