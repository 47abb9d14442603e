//! One cell of the fault matrix: a fresh moto account behind its own proxy (which emulates
//! EC2's ClientToken idempotency), the service with a one-second tick and the retry and
//! timeout settings of `spillway run` scaled down (3 attempts, 1.5 s each), an in-process
//! [`Farm`], and one phase with one fault armed at its start:
//!
//! - **out**: an empty fleet; 6 jobs of 3 s arrive. Goal: all done.
//! - **steady**: 2 instances, each busy with a 20 s job, nothing waiting. Watched for 12 s.
//! - **in**: 3 instances finishing jobs of 3–5 s; the queue empties. Goal: no instance left.
//!
//! The cell ends once its goal is met, windowed faults are healed and two ticks after the
//! healing read everything; then it records what [`super::invariants`] checks.

// Deadlines against real servers and processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::types::InstanceStateName;
use spillway::aws::AwsOptions;
use spillway::clock::SystemClock;
use tokio::time::Instant;

use super::farm::{Farm, FarmConfig, Truth};
use super::ledger::Ledger;
use super::matrix_faults::{FaultKind, WINDOW};
use super::moto;
use super::proxy::Proxy;
use super::service::{self as svc, Options, policy_head, policy_tail};
use super::ticks::{History, Tick};
use super::workers::start_instance;

/// The pool's max, the price of one instance and the hourly budget (3 instances' worth).
pub const MAX: u32 = 4;
pub const PRICE: f64 = 0.25;
pub const BUDGET: f64 = 0.80;
/// How long the goal may take.
const DEADLINE: Duration = Duration::from_secs(60);

/// A column of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Out,
    Steady,
    In,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Out => "scaling out",
            Phase::Steady => "steady",
            Phase::In => "scaling in",
        }
    }
}

/// Everything one cell leaves behind.
pub struct Run {
    pub fault: FaultKind,
    pub phase: Phase,
    pub t0: Instant,
    pub healed_at: Instant,
    /// When the phase's goal was met (out: backlog served; in: no instance left; steady
    /// after an interruption: both workers busy again).
    pub goal_at: Option<Instant>,
    /// Why the cell stopped short, if it did.
    pub stalled: Option<String>,
    pub ledger: Ledger,
    /// TerminateInstances requests the service sent: arrival time and body.
    pub terminations: Vec<(Instant, String)>,
    pub truth: HashMap<String, Truth>,
    pub ticks: Vec<Tick>,
    pub unanswered: u64,
    pub fault_hits: u64,
    /// Instances live at the last listing before the service stopped, and the service's
    /// worker count at its next tick (`None`: unknown).
    pub listed: usize,
    pub service_count: Option<u32>,
    /// Pending or running instances once the service stopped, with whether they carry the
    /// policy's tag.
    pub end_live: Vec<(String, bool)>,
    pub stopped_ok: bool,
    pub jobs: usize,
    pub done: Vec<String>,
    pub interrupted: Vec<String>,
}

fn policy_toml(name: &str, queue: &str, subnets: &[String]) -> String {
    let head = policy_head(name, &format!("max_launch_per_tick = {MAX}\n"), "2s");
    let tail = policy_tail(queue, "4s", None);
    format!(
        r#"{head}[budget]
max_hourly_usd = {BUDGET}
[[pool]]
name = "ec2"
kind = "ec2"
min = 0
max = {MAX}
cost_per_hour = {PRICE}
boot_time = "2s"
boot_timeout = "5s"
image_id = "ami-12c6146b"
instance_types = ["c5.large", "c5a.large"]
subnet_ids = ["{}", "{}"]
market = "on-demand"
{tail}"#,
        subnets[0], subnets[1]
    )
}

async fn send_jobs(sqs: &aws_sdk_sqs::Client, queue: &str, durations: &[f64]) {
    for (i, d) in durations.iter().enumerate() {
        sqs.send_message()
            .queue_url(queue)
            .message_body(format!(r#"{{"id":"job-{i}","duration_s":{d}}}"#))
            .send()
            .await
            .expect("SendMessage");
    }
}

/// Runs one cell.
pub async fn run(fault: FaultKind, phase: Phase) -> Run {
    let server = moto::server();
    let account = moto::fresh_account();
    let proxy = Proxy::start(server.port()).await;
    proxy.emulate_client_tokens();
    let (direct_ec2, direct_sqs) = (server.ec2_client(&account), server.sqs_client(&account));
    let options = AwsOptions {
        max_attempts: 3,
        attempt_timeout: Duration::from_millis(1500),
        ..AwsOptions::default()
    };
    let ec2 = server.ec2_client_as_service(&account, &proxy.endpoint(), &options);
    let sqs = server.sqs_client_as_service(&account, &proxy.endpoint(), &options);
    let queue = super::queues::create_queue(&direct_sqs, "jobs").await;
    let subnets = super::workers::default_subnets(&direct_ec2).await;
    let name = format!("matrix-{account}");
    let tags = [("spillway:policy", name.as_str()), ("spillway:pool", "ec2")];

    // Seeds: instances of this policy already running, with jobs for their workers.
    let (seeds, durations): (usize, Vec<f64>) = match phase {
        Phase::Out => (0, vec![]),
        Phase::Steady => (2 + usize::from(fault.mutes()), vec![20.0, 20.0]),
        Phase::In if fault.mutes() => (3, vec![3.0, 4.0]),
        Phase::In => (3, vec![3.0, 4.0, 5.0]),
    };
    send_jobs(&direct_sqs, &queue, &durations).await;
    let mut seeded = Vec::new();
    for _ in 0..seeds {
        seeded.push(start_instance(&direct_ec2, &tags).await);
    }
    proxy.note(&seeded, &[]);
    let muted: Vec<String> = if fault.mutes() && phase != Phase::Out {
        seeded.last().cloned().into_iter().collect()
    } else {
        Vec::new()
    };
    // The farm first, so that seeded workers hold their jobs before the service's first look.
    let pending_via = (fault == FaultKind::StuckPending).then(|| proxy.clone());
    let farm = Farm::start(
        FarmConfig {
            ec2: direct_ec2.clone(),
            sqs: direct_sqs.clone(),
            queue_url: queue.clone(),
            pending_via,
        },
        &muted,
        if fault.mutes() && phase == Phase::Out {
            2
        } else {
            0
        },
    );
    let taken = Instant::now() + Duration::from_secs(20);
    while farm.busy().len() < durations.len() {
        assert!(
            Instant::now() < taken,
            "{}/{}: seeds idle",
            fault.name(),
            phase.name()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let running = svc::start(
        svc::policy(&policy_toml(&name, &queue, &subnets)),
        ec2,
        sqs,
        Arc::new(SystemClock::new()),
        Options::default(),
    )
    .await;
    farm.heartbeat_to(&running.host());
    let history = History::start(running.host());

    // Warm up: the service has ticked and, with seeds, sees their workers busy.
    let busy_wanted = durations.len() as u32;
    let warm = Instant::now() + Duration::from_secs(20);
    let warmed = |t: Tick| t.busy().is_some_and(|b| b >= busy_wanted);
    while !history.last().is_some_and(warmed) {
        assert!(
            Instant::now() < warm,
            "{}/{}: no warm-up",
            fault.name(),
            phase.name()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let t0 = Instant::now();
    let armed = fault.arm(&proxy, &subnets[0]);
    let jobs = if phase == Phase::Out {
        send_jobs(&direct_sqs, &queue, &[3.0; 6]).await;
        6
    } else {
        durations.len()
    };
    let mut healed_at = None;
    let mut goal_at = None;
    let mut interrupted: Vec<String> = Vec::new();
    let mut stalled = None;
    loop {
        let now = Instant::now();
        if healed_at.is_none() && now >= t0 + WINDOW {
            armed.windowed.iter().for_each(|id| proxy.remove(*id));
            healed_at = Some(now);
        }
        if matches!(fault, FaultKind::Interrupt | FaultKind::Crash) && interrupted.is_empty() {
            // Out: once the fleet is at its budget; the others: early in the phase.
            let due = match phase {
                Phase::Out => farm.busy().len() >= 3,
                Phase::Steady => now >= t0 + Duration::from_secs(1),
                Phase::In => now >= t0 + Duration::from_millis(500),
            };
            if let Some(victim) = farm.busy().first().filter(|_| due) {
                if fault == FaultKind::Crash {
                    farm.crash(victim);
                } else {
                    farm.interrupt(victim, &proxy).await;
                }
                interrupted.push(victim.clone());
            }
        }
        let reached = match phase {
            Phase::Out => farm.done().len() >= jobs,
            Phase::Steady if matches!(fault, FaultKind::Interrupt | FaultKind::Crash) => {
                !interrupted.is_empty() && farm.busy().len() >= 2
            }
            Phase::Steady => false,
            Phase::In => farm.live().is_empty() && farm.done().len() >= jobs,
        };
        if reached && goal_at.is_none() {
            goal_at = Some(now);
        }
        let watched = phase != Phase::Steady || now >= t0 + Duration::from_secs(12);
        let recovered = healed_at.is_some_and(|h| {
            history
                .ticks()
                .iter()
                .filter(|t| t.seen_at > h && t.errors().is_empty())
                .count()
                >= 2
        });
        if watched && recovered && (goal_at.is_some() || phase == Phase::Steady) {
            break;
        }
        if now >= t0 + DEADLINE {
            stalled = Some(format!(
                "stopped at the {}s deadline: goal {}, recovered {recovered}",
                DEADLINE.as_secs(),
                if goal_at.is_some() { "met" } else { "not met" }
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The end: does the service count what exists? (Retried: the fleet may still be moving.)
    let mut listed = 0;
    let mut service_count = None;
    let settle = Instant::now() + Duration::from_secs(8);
    while Instant::now() < settle {
        let listed_at = Instant::now();
        listed = live_instances(&direct_ec2, &name).await.len();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        service_count = history
            .ticks()
            .iter()
            .rev()
            .find(|t| t.seen_at > listed_at)
            .and_then(Tick::ec2_workers);
        if service_count == Some(listed as u32) {
            break;
        }
    }
    let ticks = history.ticks();
    let unanswered = history.unanswered();
    drop(history);
    let stopped_ok = running.stop().await.is_ok();
    // Nothing changes the fleet any more: what exists must be what the ledger says.
    let end_live = live_instances(&direct_ec2, &name).await;
    let (truth, done) = (farm.truth(), farm.done());
    drop(farm);
    Run {
        fault,
        phase,
        t0,
        healed_at: healed_at.unwrap_or(t0),
        goal_at,
        stalled,
        ledger: proxy.ledger(),
        terminations: proxy.requests("TerminateInstances"),
        truth,
        ticks,
        unanswered,
        fault_hits: armed.hits(&proxy),
        end_live,
        listed,
        service_count,
        stopped_ok,
        jobs,
        done,
        interrupted,
    }
}

/// Every pending or running instance of the account, with whether it carries `policy`'s tag.
async fn live_instances(ec2: &aws_sdk_ec2::Client, policy: &str) -> Vec<(String, bool)> {
    let out = ec2
        .describe_instances()
        .send()
        .await
        .expect("DescribeInstances");
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| {
            matches!(
                i.state().and_then(|s| s.name()),
                Some(InstanceStateName::Pending | InstanceStateName::Running)
            )
        })
        .filter_map(|i| {
            let tagged = i
                .tags()
                .iter()
                .any(|t| t.key() == Some("spillway:policy") && t.value() == Some(policy));
            Some((i.instance_id()?.to_string(), tagged))
        })
        .collect()
}
