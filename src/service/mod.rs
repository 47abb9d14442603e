//! `spillway run`: the live service. One tokio task runs the control loop (a queue sample
//! every few seconds, a tick every `control.interval`); the HTTP listener serves `/metrics`,
//! `/status` and `/v1/heartbeat`. Dependencies (SDK clients, clock, listener) are passed in
//! and shutdown is a future, so tests run the whole service in-process against moto.
//!
//! Modules: [`engine`] (one tick), [`act`] (carrying out decisions: EC2 calls, command pools'
//! programs), [`observe`] (joining the EC2 listing and command-pool starts with heartbeats),
//! [`http`], [`status`] (`/status` and `--record`), [`pause`] (the operator's pause switch),
//! [`state`] (`--state-file`: the controller's memory across restarts).

pub mod act;
pub mod engine;
mod export;
pub mod forward;
pub mod http;
pub mod lease;
pub mod listener;
pub mod observe;
pub mod pause;
pub mod shadow;
pub mod state;
pub mod status;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::clock::Clock;
use crate::control::ControlMemory;
use crate::metrics::Metrics;
use crate::policy::Policy;
use crate::service::act::ec2::Ec2Fleet;
use crate::service::act::programs::CommandRunner;
use crate::service::act::provider::ProviderError;
use crate::service::lease::Lease;
use crate::service::observe::queues::{QueueSampler, QueueWindow};
use crate::service::observe::registry::Registry;

use engine::Engine;
use http::HttpState;
use observe::jobs::JobReports;
use state::{Resumed, StateFile};
use status::{Recorder, StatusBoard};

/// Everything the service needs from outside.
pub struct Deps {
    pub policy: Policy,
    pub ec2: aws_sdk_ec2::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub clock: Arc<dyn Clock>,
    /// The bound listener for `/metrics`, `/status` and `/v1/heartbeat`.
    pub listener: tokio::net::TcpListener,
    /// How far one client can hold that listener (timeouts, connections).
    pub http_limits: listener::Limits,
    /// The workers' bearer token.
    pub token: String,
    /// Observe and decide, but make no mutating call, run no start or stop program and tell no
    /// worker to drain.
    pub dry_run: bool,
    /// Append every observation and decision to this JSON Lines file.
    pub record: Option<PathBuf>,
    /// How often to sample the queues (also the loop's wake-up period).
    pub sample_every: Duration,
    /// The bearer token of `POST /v1/pause` and `/v1/resume`; `None` disables them.
    pub admin_token: Option<String>,
    /// Scaling is paused while this file exists.
    pub pause_file: Option<PathBuf>,
    /// For the policy's `[lease]`: the DynamoDB client and this replica's id.
    pub dynamodb: Option<aws_sdk_dynamodb::Client>,
    pub replica_id: String,
    /// Where the other replicas reach this one's `/v1/heartbeat` (`host:port`); by default the
    /// listener's address, unless it is a wildcard (then followers cannot forward to it).
    pub advertise_addr: Option<String>,
    /// Save the controller's memory here after every decision and resume from it at start.
    pub state_file: Option<PathBuf>,
}

/// Errors that stop the service; the caller prints them and exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The policy lacks what the live service needs.
    #[error("the policy cannot run live:\n  {}", .0.join("\n  "))]
    NotRunnable(Vec<String>),
    /// The `--record` file cannot be opened.
    #[error("cannot open the record file {path}: {source}")]
    Record {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The lease table cannot be used (missing, no permission): replicas cannot elect a leader.
    #[error("the lease table cannot be used: {0}")]
    Lease(String),
    /// The HTTP listener failed.
    #[error("the HTTP listener failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// The default queue sampling period: a few samples per tick, at most every 5 s.
pub fn default_sample_every(policy: &Policy) -> Duration {
    (policy.control.tick_every() / 3).clamp(Duration::from_millis(200), Duration::from_secs(5))
}

/// Runs the service until `shutdown` completes; a tick in progress is finished first.
pub async fn run(deps: Deps, shutdown: impl Future<Output = ()>) -> Result<(), ServiceError> {
    let problems = deps.policy.live_problems();
    if !problems.is_empty() {
        return Err(ServiceError::NotRunnable(problems));
    }
    let addr = deps.listener.local_addr().map_err(ServiceError::Serve)?;
    let advertise = deps
        .advertise_addr
        .clone()
        .or_else(|| (!addr.ip().is_unspecified()).then(|| addr.to_string()));
    let leader = Arc::new(forward::LeaderAddress::default());
    let lease = match (&deps.policy.lease, &deps.dynamodb) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(ServiceError::NotRunnable(vec![
                "lease: [lease] needs a DynamoDB client".into(),
            ]));
        }
        (Some(l), Some(client)) => {
            let mut lease = Lease::new(
                client.clone(),
                &l.table,
                &deps.policy.name,
                &deps.replica_id,
                l.duration,
            )
            .advertising(advertise.clone());
            if advertise.is_none() {
                warn!(addr = %addr, "The listener is on a wildcard address and no --advertise-addr was given: followers cannot pass heartbeats on to this replica when it leads.");
            }
            match lease.refresh(deps.clock.now()).await {
                Ok(role) => {
                    if let lease::Role::Follower { address, .. } = &role {
                        leader.set(address.clone());
                    }
                    info!(replica = %deps.replica_id, role = ?role, "Lease checked.")
                }
                Err(e @ (ProviderError::NotFound { .. } | ProviderError::Other { .. })) => {
                    return Err(ServiceError::Lease(e.to_string()));
                }
                Err(e) => {
                    warn!(error = %e, "The lease could not be read yet; following until it can.")
                }
            }
            Some(lease)
        }
    };
    let recorder = match &deps.record {
        Some(path) => Some(Recorder::open(path, &deps.policy.name).map_err(|source| {
            ServiceError::Record {
                path: path.clone(),
                source,
            }
        })?),
        None => None,
    };
    let started_at = deps.clock.now();
    let state = deps
        .state_file
        .as_deref()
        .map(|path| StateFile::new(path, &deps.policy.name));
    let resumed = resume(state.as_ref(), started_at);
    let metrics = Metrics::new();
    metrics.dry_run.set(if deps.dry_run { 1.0 } else { 0.0 });
    let registry = Arc::new(Registry::bounded(
        crate::service::observe::registry::Limits::for_policy(&deps.policy),
    ));
    let pause = Arc::new(pause::PauseSwitch::new(deps.pause_file.clone()));
    let status = Arc::new(StatusBoard::new(
        &deps.policy.name,
        deps.dry_run,
        started_at,
    ));
    let job_reports = Arc::new(JobReports::new());
    let http_state = Arc::new(HttpState {
        registry: registry.clone(),
        job_reports: job_reports.clone(),
        metrics: metrics.clone(),
        status: status.clone(),
        token: deps.token.clone(),
        admin_token: deps.admin_token.clone(),
        pause: pause.clone(),
        pools: deps.policy.pools.iter().map(|p| p.name.clone()).collect(),
        queues: deps
            .policy
            .queues
            .iter()
            .map(|q| (q.url.clone(), q.name.clone()))
            .collect(),
        clock: deps.clock.clone(),
        leader: leader.clone(),
        replica_id: deps.replica_id.clone(),
    });
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(listener::serve(
        deps.listener,
        http::router(http_state),
        deps.http_limits,
        metrics.clone(),
        async {
            let _ = http_stopped.await;
        },
    ));
    info!(
        addr = %addr,
        policy = %deps.policy.name,
        dry_run = deps.dry_run,
        max_connections = deps.http_limits.max_connections,
        "Serving metrics, status and heartbeats."
    );
    // What this run is, once, for whoever reads the log after an incident.
    let p = &deps.policy;
    info!(
        strategy = p.control.strategy.name(),
        interval = %crate::model::format_duration(p.control.interval),
        wait_slo = %crate::model::format_duration(p.target.wait_slo),
        pools = %p
            .pools
            .iter()
            .map(|pool| match pool.scaling() {
                Some(s) => format!("{} ({}..{})", pool.name, s.min, s.max),
                None => format!("{} (static)", pool.name),
            })
            .collect::<Vec<_>>()
            .join(", "),
        queues = %p.queues.iter().map(|q| q.name.as_str()).collect::<Vec<_>>().join(", "),
        replicas = if lease.is_some() { "lease" } else { "single" },
        state_file = %deps
            .state_file
            .as_deref()
            .map_or("none".into(), |f| f.display().to_string()),
        "Started."
    );

    // Every `control.interval`, or every `control.launch_interval` when set (`decide` knows
    // which ticks are launch-only).
    let interval = deps.policy.control.tick_every();
    // A single replica leads from its start; a replica of a lease from when it takes it.
    let single = lease.is_none();
    let mut engine = Engine {
        fleet: Ec2Fleet::new(deps.ec2, &deps.policy.name),
        commands: CommandRunner::new(
            &deps.policy.name,
            deps.policy
                .heartbeat
                .iter()
                .map(|h| h.token_env.clone())
                .collect(),
        ),
        sampler: QueueSampler::new(deps.sqs, deps.policy.queues.clone()),
        window: QueueWindow::default(),
        registry,
        job_reports,
        recent_waits: Default::default(),
        metrics,
        status,
        recorder,
        clock: deps.clock.clone(),
        memory: resumed.memory,
        state,
        recent: HashMap::new(),
        starts: resumed
            .command_starts
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect(),
        jobs_done: None,
        shadow: deps.dry_run.then(shadow::Shadow::default),
        dry_run: deps.dry_run,
        pause,
        lease,
        leader,
        next_lease_check: deps.clock.now(),
        started_at,
        listening_since: started_at,
        was_leading: single,
        ticks: 0,
        last_holds: Vec::new(),
        policy: deps.policy,
    };
    let mut wake = tokio::time::interval(deps.sample_every);
    wake.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_tick = started_at;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            _ = wake.tick() => {}
        }
        engine.sample().await;
        engine.keep_lease().await;
        let now = deps.clock.now();
        if now >= next_tick {
            engine.tick().await;
            next_tick = next_tick.plus(interval).max(now.plus(interval / 2));
        }
    }
    info!(ticks = engine.ticks, "Shutting down.");
    let _ = stop_http.send(());
    server
        .await
        .map_err(|e| ServiceError::Serve(std::io::Error::other(e)))
}

/// What to start from: the state file's memory and pending command-pool starts, or a fresh
/// start (with the reason logged).
fn resume(state: Option<&StateFile>, now: crate::model::Timestamp) -> Resumed {
    let fresh = || Resumed {
        memory: ControlMemory::default(),
        command_starts: Vec::new(),
        saved_at: now,
    };
    let Some(state) = state else {
        return fresh();
    };
    match state.load() {
        Ok(Some(resumed)) => {
            info!(
                path = %state.path().display(),
                age_s = now.since(resumed.saved_at).as_secs(),
                pending_starts = resumed.command_starts.len(),
                "Resumed the controller's memory."
            );
            resumed
        }
        Ok(None) => {
            info!(path = %state.path().display(), "No saved state yet; starting fresh.");
            fresh()
        }
        Err(e) => {
            warn!(error = %e, "Starting fresh: the saved state cannot be resumed.");
            fresh()
        }
    }
}
