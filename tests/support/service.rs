//! Running `spillway run` in-process for a test: builds the policy from TOML, binds a free
//! port, starts the service with the given SDK clients and clock, and stops it on demand.

// Deadlines against real servers and processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use spillway::clock::Clock;
use spillway::heartbeat::client;
use spillway::policy::{self, Policy};
use spillway::service::listener::Limits;
use spillway::service::{self, Deps, ServiceError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const TOKEN: &str = "test-token-0123456789";

/// A service running in this test.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<(), ServiceError>>,
}

/// What the service tests vary in their one-second-tick policy.
pub struct TestPolicy<'a> {
    pub name: &'a str,
    pub queue_url: &'a str,
    pub max: u32,
    pub scale_in_after: &'a str,
    pub boot_timeout: &'a str,
    pub lost_after: &'a str,
    /// `heartbeat.learn_for`; `None`: the default, `lost_after`.
    pub learn_for: Option<&'a str>,
    /// The `instance_types` array, written as TOML.
    pub instance_types: &'a str,
}

impl TestPolicy<'_> {
    /// The policy text: one EC2 pool, one interactive queue, heartbeats with [`TOKEN`]'s env var.
    pub fn toml(&self) -> String {
        let TestPolicy {
            name,
            queue_url,
            max,
            scale_in_after,
            boot_timeout,
            lost_after,
            learn_for,
            instance_types,
        } = self;
        let head = policy_head(
            name,
            &format!("max_launch_per_tick = {max}\n"),
            scale_in_after,
        );
        let tail = policy_tail(queue_url, lost_after, *learn_for);
        format!(
            r#"{head}[[pool]]
name = "ec2"
kind = "ec2"
min = 0
max = {max}
cost_per_hour = 0.1
boot_time = "2s"
boot_timeout = "{boot_timeout}"
image_id = "ami-12c6146b"
instance_types = {instance_types}
market = "on-demand"
{tail}"#
        )
    }
}

/// The start every test policy shares: a 1 s loop on a 2 s window, no headroom and no band
/// (every waiting job gets a worker at once), scale-in after `scale_in_after`; `control` adds
/// lines to `[control]`.
pub fn policy_head(name: &str, control: &str, scale_in_after: &str) -> String {
    format!(
        r#"
name = "{name}"
[control]
interval = "1s"
window = "2s"
stale_after = "5s"
{control}[target]
free_busy_ratio = 0.0
min_free = 0
wait_slo = "30s"
[hysteresis]
band = 0.0
scale_in_after = "{scale_in_after}"
"#
    )
}

/// The end every test policy shares: the interactive queue at `queue_url` and heartbeats with
/// [`TOKEN`]'s env var every 300 ms (as the test workers send them), lost after `lost_after`; a started service learns the fleet for
/// `learn_for` (default: `lost_after`).
pub fn policy_tail(queue_url: &str, lost_after: &str, learn_for: Option<&str>) -> String {
    let learn = learn_for.map_or(String::new(), |l| format!("learn_for = \"{l}\"\n"));
    format!(
        r#"[[queue]]
name = "jobs"
url = "{queue_url}"
class = "interactive"
[heartbeat]
token_env = "SPILLWAY_TEST_TOKEN"
every = "300ms"
lost_after = "{lost_after}"
{learn}"#
    )
}

/// The reason kinds of the last decision in a `/status` document.
pub fn last_kinds(status: &serde_json::Value) -> Vec<String> {
    status["last"]["decision"]["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["reason"]["kind"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Parses policy TOML or panics with every problem.
pub fn policy(toml: &str) -> Policy {
    policy::from_toml_str(toml, "test policy").unwrap_or_else(|e| panic!("{e}"))
}

/// Options for [`start`].
#[derive(Clone)]
pub struct Options {
    pub dry_run: bool,
    pub record: Option<PathBuf>,
    pub sample_every: Duration,
    pub admin_token: Option<String>,
    pub pause_file: Option<PathBuf>,
    pub dynamodb: Option<aws_sdk_dynamodb::Client>,
    pub replica_id: String,
    pub state_file: Option<PathBuf>,
    pub http_limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dry_run: false,
            record: None,
            sample_every: Duration::from_millis(300),
            admin_token: None,
            pause_file: None,
            dynamodb: None,
            replica_id: "test-replica".into(),
            state_file: None,
            http_limits: Limits::from_open_files(None),
        }
    }
}

/// Starts the service.
pub async fn start(
    policy: Policy,
    ec2: aws_sdk_ec2::Client,
    sqs: aws_sdk_sqs::Client,
    clock: Arc<dyn Clock>,
    options: Options,
) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let deps = Deps {
        policy,
        ec2,
        sqs,
        clock,
        listener,
        http_limits: options.http_limits,
        token: TOKEN.to_string(),
        dry_run: options.dry_run,
        record: options.record,
        sample_every: options.sample_every,
        admin_token: options.admin_token,
        pause_file: options.pause_file,
        dynamodb: options.dynamodb,
        replica_id: options.replica_id,
        advertise_addr: None,
        state_file: options.state_file,
    };
    let handle = tokio::spawn(service::run(deps, async {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        handle,
    }
}

impl Running {
    /// `host:port` of the listener.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Stops the service (after its current tick) and returns how it ended.
    pub async fn stop(mut self) -> Result<(), ServiceError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.handle)
            .await
            .expect("the service did not stop within 30 s")
            .expect("the service task panicked")
    }

    /// `GET /status`.
    pub async fn status(&self) -> serde_json::Value {
        let r = client::request(
            &self.host(),
            "GET",
            "/status",
            &[],
            b"",
            Duration::from_secs(5),
        )
        .await
        .expect("GET /status");
        assert_eq!(r.status, 200);
        serde_json::from_slice(&r.body).expect("status JSON")
    }

    /// `GET /metrics`.
    pub async fn metrics(&self) -> String {
        metrics_at(&self.host(), Duration::from_secs(5)).await
    }

    /// Polls `/status` until `ok` holds for it, or panics after `within`.
    pub async fn wait_status(
        &self,
        within: Duration,
        what: &str,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let s = self.status().await;
            if ok(&s) {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; last status: {s:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The value of a metric line `name{labels} value`, or 0 when absent.
pub fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name_and_labels)
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

/// A free loopback port (for a service started as a child process).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `/status` document of the service listening on loopback `port`, if it answers.
pub async fn status_at(port: u16) -> Option<serde_json::Value> {
    let r = spillway::heartbeat::client::request(
        &format!("127.0.0.1:{port}"),
        "GET",
        "/status",
        &[],
        b"",
        Duration::from_secs(2),
    )
    .await
    .ok()?;
    serde_json::from_slice(&r.body).ok()
}

/// `GET /metrics` of the service at `host` (`host:port`), answered within `timeout`.
pub async fn metrics_at(host: &str, timeout: Duration) -> String {
    let r = client::request(host, "GET", "/metrics", &[], b"", timeout)
        .await
        .expect("GET /metrics");
    assert_eq!(r.status, 200);
    String::from_utf8(r.body).expect("UTF-8 metrics")
}
