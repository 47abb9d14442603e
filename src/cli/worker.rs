//! `spillway worker`: the arguments of the render-side agent ([`crate::worker`]).

use std::path::PathBuf;

use clap::Args;

use crate::aws::{self, AwsOptions};
use crate::worker::{self, AgentConfig, metadata};

/// `spillway worker … -- COMMAND ARGS…`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The spillway service: `http://host:port` or `host:port` (plain HTTP; put TLS in a
    /// proxy).
    #[arg(long)]
    pub service: String,
    /// The policy pool this worker belongs to.
    #[arg(long)]
    pub pool: String,
    /// An SQS queue to take jobs from; repeat it: queues are polled in the order given.
    #[arg(long = "queue-url", required_unless_present = "policy")]
    pub queue_urls: Vec<String>,
    /// The policy file: the worker takes jobs from the queues its pool serves (the
    /// `[[queue]]`s whose `pools` name it, or every queue), interactive ones first, then in
    /// policy order. In place of `--queue-url`.
    #[arg(long, conflicts_with = "queue_urls")]
    pub policy: Option<PathBuf>,
    /// The EC2 instance it runs on (default: from the instance metadata service when on EC2,
    /// else the host name).
    #[arg(long)]
    pub instance_id: Option<String>,
    /// This worker's id (default: the instance id).
    #[arg(long)]
    pub worker_id: Option<String>,
    /// Jobs run at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Time between heartbeats (as the policy's `heartbeat.every` declares).
    #[arg(long, default_value = "10s")]
    pub heartbeat_every: String,
    /// Environment variable holding the workers' token.
    #[arg(long, default_value = "SPILLWAY_WORKER_TOKEN")]
    pub token_env: String,
    /// After SIGTERM, how long running jobs may finish before they are stopped and returned to
    /// their queue.
    #[arg(long, default_value = "5m")]
    pub grace: String,
    /// Visibility timeout kept on a running job's message, seconds (extended every half).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(i32).range(2..=43_200))]
    pub visibility: i32,
    /// Long-poll wait on the last queue, seconds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i32).range(0..=20))]
    pub wait: i32,
    /// Where each job's body is written for the command.
    #[arg(long, default_value = "/tmp")]
    pub work_dir: PathBuf,
    /// The instance metadata service, `host:port`.
    #[arg(long, default_value = metadata::DEFAULT_METADATA)]
    pub metadata_endpoint: String,
    /// Do not poll the metadata service for spot interruption and rebalance notices (polled
    /// every second by default, wherever the metadata service answers).
    #[arg(long)]
    pub no_notices: bool,
    /// The command run for each job, after `--`: `{job_file}` is replaced by the job file.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// Why the worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("{0}")]
    Usage(String),
}

/// Runs the agent until drained or SIGTERM.
pub async fn run(args: WorkerArgs) -> Result<(), WorkerError> {
    let duration = |flag: &str, v: &str| {
        crate::model::parse_duration(v)
            .map_err(|e| WorkerError::Usage(format!("{flag} {v:?}: {e}")))
    };
    let heartbeat_every = duration("--heartbeat-every", &args.heartbeat_every)?;
    if heartbeat_every.is_zero() {
        return Err(WorkerError::Usage(
            "--heartbeat-every must be longer than zero".into(),
        ));
    }
    let grace = duration("--grace", &args.grace)?;
    let queue_urls = match &args.policy {
        None => args.queue_urls.clone(),
        Some(path) => {
            let policy =
                crate::policy::load(path).map_err(|e| WorkerError::Usage(e.to_string()))?;
            let pool = policy
                .pools
                .iter()
                .position(|p| p.name == args.pool)
                .ok_or_else(|| {
                    WorkerError::Usage(format!(
                        "--pool {}: policy {} has no such pool",
                        args.pool, policy.name
                    ))
                })?;
            let urls: Vec<String> = policy
                .queues_served_by(pool)
                .into_iter()
                .map(|q| policy.queues[q].url.clone())
                .collect();
            if urls.is_empty() {
                return Err(WorkerError::Usage(format!(
                    "--pool {}: no [[queue]] of policy {} is served by it",
                    args.pool, policy.name
                )));
            }
            urls
        }
    };
    let token = std::env::var(&args.token_env)
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            WorkerError::Usage(format!(
                "the token variable {} is unset or empty",
                args.token_env
            ))
        })?;
    let service = args
        .service
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    if service.starts_with("https://") {
        return Err(WorkerError::Usage(
            "--service: the worker speaks plain HTTP; reach a TLS proxy through a local one".into(),
        ));
    }
    let instance_id = match args.instance_id {
        Some(id) => Some(id),
        None => {
            metadata::Metadata::new(&args.metadata_endpoint)
                .instance_id()
                .await
        }
    };
    let worker_id = args
        .worker_id
        .or_else(|| instance_id.clone())
        .unwrap_or_else(metadata::host_name);
    let cfg = AgentConfig {
        service,
        pool: args.pool,
        queue_urls,
        worker_id,
        instance_id,
        concurrency: usize::from(args.concurrency),
        heartbeat_every,
        command: args.command,
        token,
        grace,
        wait_s: args.wait,
        visibility_s: args.visibility,
        work_dir: args.work_dir,
        notices: (!args.no_notices).then_some(args.metadata_endpoint),
    };
    let sqs = aws::sqs(&aws::load(&AwsOptions::default()).await);
    worker::run(cfg, sqs, crate::cli::run::shutdown_signal()).await;
    Ok(())
}
