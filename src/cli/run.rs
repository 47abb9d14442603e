//! `spillway run`: argument types and the glue from them to [`crate::service::run`]: loads the
//! policy, reads the heartbeat token from the environment, builds SDK clients from the
//! standard chain (honouring `AWS_ENDPOINT_URL`), binds the listener and stops on SIGTERM or
//! Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};

use crate::aws::{self, AwsOptions};
use crate::clock::SystemClock;
use crate::policy::{self, PolicyError};
use crate::service::listener::{self, Limits};
use crate::service::{self, Deps, ServiceError};

/// `spillway run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The policy file (with [[queue]], [heartbeat] and EC2 launch settings).
    #[arg(long)]
    pub policy: PathBuf,
    /// Observe real queues and instances and log decisions; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Address for /metrics, /status and /v1/heartbeat.
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub metrics_addr: SocketAddr,
    /// Append every observation and decision to this JSON Lines file.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Environment variable holding the admin token for POST /v1/pause and /v1/resume (unset
    /// or empty: those endpoints are disabled).
    #[arg(long, default_value = "SPILLWAY_ADMIN_TOKEN")]
    pub admin_token_env: String,
    /// Pause all scaling while this file exists (its first line is the reason); observation,
    /// decisions, metrics and /status go on.
    #[arg(long)]
    pub pause_file: Option<PathBuf>,
    /// This replica's id in the policy's [lease] (default: hostname and process id).
    #[arg(long)]
    pub replica_id: Option<String>,
    /// Where the other replicas reach this one's /v1/heartbeat (host:port): followers pass
    /// heartbeats on to the leader there. Default: --metrics-addr, unless it is a wildcard.
    #[arg(long)]
    pub advertise_addr: Option<String>,
    /// Save the controller's memory (the runaway guards' ledger, learned boot times and
    /// time-of-day profile) here after every decision, and resume from it at start.
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    /// The most HTTP connections held at once; further ones are closed at once (default: a
    /// quarter of the open-file limit, at least 16, at most 4096).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub max_connections: Option<u32>,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Why `spillway run` could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("the heartbeat token variable {0} is unset or empty")]
    MissingToken(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Runs the service until SIGTERM or Ctrl-C.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let policy = policy::load(&args.policy)?;
    let problems = policy.live_problems();
    if !problems.is_empty() {
        return Err(ServiceError::NotRunnable(problems).into());
    }
    let token_env = policy
        .heartbeat
        .as_ref()
        .map(|h| h.token_env.clone())
        .unwrap_or_default();
    let token = std::env::var(&token_env)
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or(RunError::MissingToken(token_env))?;
    let aws = aws::load(&AwsOptions::default()).await;
    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .map_err(|source| RunError::Bind {
            addr: args.metrics_addr,
            source,
        })?;
    let deps = Deps {
        sample_every: service::default_sample_every(&policy),
        ec2: aws::ec2(&aws),
        sqs: aws::sqs(&aws),
        clock: Arc::new(SystemClock::new()),
        listener,
        http_limits: {
            let mut limits = Limits::from_open_files(listener::open_files_limit());
            if let Some(n) = args.max_connections {
                limits.max_connections = n as usize;
            }
            limits
        },
        token,
        dry_run: args.dry_run,
        record: args.record,
        admin_token: std::env::var(&args.admin_token_env)
            .ok()
            .filter(|t| !t.is_empty()),
        pause_file: args.pause_file,
        dynamodb: Some(aws::dynamodb(&aws)),
        replica_id: args.replica_id.unwrap_or_else(default_replica_id),
        advertise_addr: args.advertise_addr,
        state_file: args.state_file,
        policy,
    };
    service::run(deps, shutdown_signal()).await?;
    Ok(())
}

/// `hostname:pid`.
fn default_replica_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
