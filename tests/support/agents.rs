//! `spillway worker` processes on the instances the service launches: an [`AgentFarm`] watches
//! the policy's instances in moto, starts one agent per running instance (with that instance's
//! id and its own [`MetadataStub`]) and kills an agent whose instance is terminated, as EC2
//! would. Each agent's exit status and log are kept.

// Waits against real processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ec2::types::InstanceStateName;

use super::moto::MotoServer;
use super::service::TOKEN;

/// A stand-in for the instance metadata service: IMDSv2 tokens, the instance id, and a spot
/// `instance-action` that appears when [`MetadataStub::interrupt`] is called.
pub struct MetadataStub {
    pub addr: String,
    spot: Arc<AtomicBool>,
}

impl MetadataStub {
    pub async fn start(instance_id: &str) -> Self {
        use axum::routing::{get, put};
        let spot = Arc::new(AtomicBool::new(false));
        let id = instance_id.to_string();
        let flag = spot.clone();
        let token = "stub-token";
        let authorized = move |h: &axum::http::HeaderMap| {
            h.get("x-aws-ec2-metadata-token")
                .is_some_and(|v| v.as_bytes() == token.as_bytes())
        };
        let app = axum::Router::new()
            .route("/latest/api/token", put(move || async move { token }))
            .route(
                "/latest/meta-data/instance-id",
                get(move |h: axum::http::HeaderMap| async move {
                    if authorized(&h) {
                        (axum::http::StatusCode::OK, id)
                    } else {
                        (axum::http::StatusCode::UNAUTHORIZED, String::new())
                    }
                }),
            )
            .route(
                "/latest/meta-data/spot/instance-action",
                get(move |h: axum::http::HeaderMap| async move {
                    if !authorized(&h) {
                        (axum::http::StatusCode::UNAUTHORIZED, String::new())
                    } else if flag.load(Ordering::SeqCst) {
                        let at = "2026-12-07T12:00:00Z";
                        let body = format!(r#"{{"action": "terminate", "time": "{at}"}}"#);
                        (axum::http::StatusCode::OK, body)
                    } else {
                        (axum::http::StatusCode::NOT_FOUND, String::new())
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(axum::serve(listener, app).into_future());
        MetadataStub { addr, spot }
    }

    /// From now on, `spot/instance-action` says the instance will be reclaimed.
    pub fn interrupt(&self) {
        self.spot.store(true, Ordering::SeqCst);
    }
}

/// One agent process and what became of it.
pub struct Agent {
    child: Child,
    pub log: PathBuf,
    pub metadata: MetadataStub,
    /// Its exit status once it ended by itself.
    pub exited: Option<ExitStatus>,
    /// Whether it was killed because its instance was terminated.
    pub killed: bool,
}

/// How to start each agent.
#[derive(Clone)]
pub struct AgentSpec {
    pub service: String,
    pub queue_url: String,
    /// The command after `--`.
    pub command: Vec<String>,
    /// Extra environment for the agent (and so its command).
    pub env: Vec<(String, String)>,
    pub dir: PathBuf,
    /// The policy file: when set, each agent is started with `--policy` and the pool its
    /// instance is tagged with, and takes the queues its pool serves (`queue_url` unused).
    pub policy_file: Option<PathBuf>,
}

/// The agents, by instance id.
pub struct AgentFarm {
    pub agents: Arc<Mutex<HashMap<String, Agent>>>,
    watcher: tokio::task::JoinHandle<()>,
}

impl AgentFarm {
    /// Watches `policy`'s instances (through `ec2`) every 200 ms.
    pub fn start(
        moto: &'static MotoServer,
        ec2: aws_sdk_ec2::Client,
        policy: &str,
        spec: AgentSpec,
    ) -> Self {
        let agents: Arc<Mutex<HashMap<String, Agent>>> = Arc::default();
        let (shared, policy) = (agents.clone(), policy.to_string());
        let watcher = tokio::spawn(async move {
            loop {
                for (id, state, pool) in super::workers::instances_in_pools(&ec2, &policy).await {
                    let known = shared.lock().unwrap().contains_key(&id);
                    if state == InstanceStateName::Running && !known {
                        let agent = spawn(moto, &spec, &id, &pool).await;
                        shared.lock().unwrap().insert(id, agent);
                    } else if state != InstanceStateName::Running && known {
                        let mut map = shared.lock().unwrap();
                        let a = map.get_mut(&id).unwrap();
                        a.poll();
                        if a.exited.is_none() && !a.killed {
                            let _ = a.child.kill();
                            let _ = a.child.wait();
                            a.killed = true;
                        }
                    }
                }
                for a in shared.lock().unwrap().values_mut() {
                    a.poll();
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        AgentFarm { agents, watcher }
    }

    /// Every agent's log, for a failed assertion.
    pub fn logs(&self) -> String {
        let map = self.agents.lock().unwrap();
        map.iter()
            .map(|(id, a)| {
                format!(
                    "--- agent on {id}:\n{}",
                    std::fs::read_to_string(&a.log).unwrap_or_default()
                )
            })
            .collect()
    }
}

impl Drop for AgentFarm {
    fn drop(&mut self) {
        self.watcher.abort();
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        for a in self.agents.lock().unwrap().values_mut() {
            let _ = a.child.kill();
            let _ = a.child.wait();
        }
    }
}

impl Agent {
    fn poll(&mut self) {
        if self.exited.is_none()
            && !self.killed
            && let Ok(Some(s)) = self.child.try_wait()
        {
            self.exited = Some(s);
        }
    }
}

async fn spawn(moto: &MotoServer, spec: &AgentSpec, instance: &str, pool: &str) -> Agent {
    let metadata = MetadataStub::start(instance).await;
    let log = spec.dir.join(format!("agent-{instance}.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .arg("worker")
        .args(["--service", &format!("http://{}", spec.service)])
        .args(match &spec.policy_file {
            None => vec!["--pool", "ec2", "--queue-url", &spec.queue_url],
            Some(file) => vec!["--pool", pool, "--policy", file.to_str().unwrap()],
        })
        .args(["--metadata-endpoint", &metadata.addr])
        .args([
            "--heartbeat-every",
            "300ms",
            "--visibility",
            "10",
            "--wait",
            "1",
        ])
        .arg("--work-dir")
        .arg(&spec.dir)
        .arg("--")
        .args(&spec.command)
        .envs(moto.child_env())
        .envs(spec.env.iter().cloned())
        .env("INSTANCE", instance)
        .env("SPILLWAY_WORKER_TOKEN", TOKEN)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn spillway worker");
    Agent {
        child,
        log,
        metadata,
        exited: None,
        killed: false,
    }
}

/// Writes an executable shell script.
pub fn script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
