//! Two replicas of the real `spillway run` binary against moto, each behind its own counting
//! proxy: exactly one acts; when the leader is frozen (SIGSTOP) the other takes over within two
//! lease periods; and the frozen leader, resumed after its lease expired, acts on nothing.

// Deadlines against real servers and processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use crate::support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::moto::{self, DEFAULT_ACCOUNT};
use support::proxy::Proxy;
use support::service::{TOKEN, TestPolicy, free_port, status_at as status};

const LEASE_S: u64 = 3;

fn replica(policy: &std::path::Path, id: &str, port: u16, proxy: &Proxy) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spillway"));
    cmd.arg("run")
        .arg("--policy")
        .arg(policy)
        .args([
            "--replica-id",
            id,
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ])
        .envs(moto::server().child_env())
        .env("AWS_ENDPOINT_URL", proxy.endpoint())
        .env("SPILLWAY_TEST_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    cmd.spawn().expect("spawn spillway run")
}

async fn role(port: u16) -> String {
    status(port)
        .await
        .and_then(|s| s["last"]["role"].as_str().map(str::to_string))
        .unwrap_or_default()
}

async fn wait_for(what: &str, within: Duration, mut ok: impl AsyncFnMut() -> bool) -> Duration {
    let start = tokio::time::Instant::now();
    loop {
        if ok().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn send(sqs: &aws_sdk_sqs::Client, url: &str, n: usize) {
    support::queues::send_renders(sqs, url, "job", n, 600).await;
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_acts_failover_is_quick_and_a_frozen_leader_is_fenced() {
    let _alone = support::alone().await;
    let server = moto::server();
    let name = format!("ha-{}-{}", moto::fresh_account(), std::process::id());
    let ddb = server.dynamodb_client(DEFAULT_ACCOUNT);
    support::leases::create_table(&ddb, &name).await;
    let sqs = server.sqs_client(DEFAULT_ACCOUNT);
    let queue = support::queues::create_queue(&sqs, &name).await;
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.toml");
    let text = TestPolicy {
        name: &name,
        queue_url: &queue,
        max: 20,
        scale_in_after: "10m",
        boot_timeout: "10m",
        lost_after: "10m",
        learn_for: None,
        instance_types: r#"["c5.large"]"#,
    }
    .toml()
        + &format!("[lease]\ntable = \"{name}\"\nduration = \"{LEASE_S}s\"\n");
    std::fs::write(&policy, text).unwrap();
    let (proxy_a, proxy_b) = (
        Proxy::start(server.port()).await,
        Proxy::start(server.port()).await,
    );
    let (port_a, port_b) = (free_port(), free_port());

    send(&sqs, &queue, 3).await;
    let mut a = replica(&policy, "replica-a", port_a, &proxy_a);
    wait_for(
        "A to lead and launch",
        Duration::from_secs(30),
        async || role(port_a).await.starts_with("leader") && proxy_a.count("RunInstances") >= 1,
    )
    .await;
    let mut b = replica(&policy, "replica-b", port_b, &proxy_b);
    wait_for("B to follow", Duration::from_secs(30), async || {
        role(port_b).await.starts_with("follower")
    })
    .await;
    // More work while both run: only A acts on it.
    send(&sqs, &queue, 3).await;
    wait_for(
        "A to launch for the new jobs",
        Duration::from_secs(20),
        async || proxy_a.count("RunInstances") >= 2,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        proxy_b.mutating_calls(),
        0,
        "a follower acted: {:?}",
        proxy_b.counts()
    );

    // Freeze the leader; B must lead within two lease periods (plus one status tick).
    signal(&a, "-STOP");
    let failover = wait_for(
        "B to take over",
        Duration::from_secs(4 * LEASE_S),
        async || role(port_b).await.starts_with("leader"),
    )
    .await;
    assert!(
        failover <= Duration::from_secs(2 * LEASE_S + 1),
        "failover took {failover:?}"
    );
    send(&sqs, &queue, 3).await;
    wait_for("B to launch", Duration::from_secs(20), async || {
        proxy_b.count("RunInstances") >= 1
    })
    .await;

    // Thaw A long after its lease expired: it must notice before acting and act on nothing.
    let before = proxy_a.mutating_calls();
    signal(&a, "-CONT");
    send(&sqs, &queue, 3).await;
    wait_for("A to see it follows", Duration::from_secs(20), async || {
        role(port_a).await.starts_with("follower")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        proxy_a.mutating_calls(),
        before,
        "the thawed leader acted on stale leadership: {:?}",
        proxy_a.counts()
    );
    assert!(role(port_b).await.starts_with("leader"));
    eprintln!("failover after SIGSTOP: {failover:?} (lease {LEASE_S} s)");

    for c in [&mut a, &mut b] {
        let _ = c.kill();
        let _ = c.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
