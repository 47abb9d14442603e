//! Forged heartbeats against the live service and moto, through the counting proxy: someone
//! holding the workers' token claims instances spillway does not own (untagged, tagged by
//! another policy, or tagged with a pool this policy does not have) as drained, then goes
//! silent so they would count as lost. None of them is ever terminated, nor even named in a
//! TerminateInstances call. The same forgery for an instance this policy does own is acted on,
//! which shows the termination path was live all along.

// These tests wait on real servers, so their deadlines read the wall clock.
#![allow(clippy::disallowed_methods)]

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::types::InstanceStateName;
use spillway::clock::SystemClock;
use spillway::heartbeat::client;
use spillway::heartbeat::protocol::{Heartbeat, ReportedState};
use support::moto;
use support::proxy::Proxy;
use support::service::{self as svc, Options, TOKEN, TestPolicy};
use support::workers::start_instance;

async fn state(ec2: &aws_sdk_ec2::Client, id: &str) -> InstanceStateName {
    let out = ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    let i = &out.reservations()[0].instances()[0];
    i.state().and_then(|s| s.name()).unwrap().clone()
}

/// A heartbeat saying the worker on `instance` finished draining: terminable if it were ours.
fn drained(worker_id: &str, instance: Option<&str>) -> Heartbeat {
    Heartbeat {
        worker_id: worker_id.into(),
        pool: "ec2".into(),
        instance_id: instance.map(str::to_string),
        state: ReportedState::Idle,
        job_id: None,
        jobs_done: 0,
        drained: true,
        finished: Vec::new(),
        interrupted: None,
        taken: Vec::new(),
    }
}

/// Starts the service on `policy`, every AWS call of it through `proxy` into `account`.
async fn start_proxied(account: &str, proxy: &Proxy, policy: &TestPolicy<'_>) -> svc::Running {
    let server = moto::server();
    svc::start(
        svc::policy(&policy.toml()),
        server.ec2_client_via(account, &proxy.endpoint()),
        server.sqs_client_via(account, &proxy.endpoint()),
        Arc::new(SystemClock::new()),
        Options::default(),
    )
    .await
}

fn ticks(s: &serde_json::Value) -> u64 {
    s["ticks"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_heartbeats_never_terminate_an_instance_spillway_does_not_own() {
    let _alone = support::alone().await;
    let server = moto::server();
    let account = moto::fresh_account();
    let proxy = Proxy::start(server.port()).await;
    let direct = server.ec2_client(&account);
    let queue = support::queues::create_queue(&server.sqs_client(&account), "jobs").await;
    let name = format!("forged-{account}");
    let foreign = start_instance(&direct, &[]).await;
    let other_policy = start_instance(
        &direct,
        &[
            ("spillway:policy", "someone-else"),
            ("spillway:pool", "ec2"),
        ],
    )
    .await;
    let other_pool = start_instance(
        &direct,
        &[("spillway:policy", name.as_str()), ("spillway:pool", "gpu")],
    )
    .await;
    let ours = start_instance(
        &direct,
        &[("spillway:policy", name.as_str()), ("spillway:pool", "ec2")],
    )
    .await;
    let policy = TestPolicy {
        name: &name,
        queue_url: &queue,
        max: 4,
        // Neither decide's scale-in nor a boot timeout may terminate anything in this test.
        scale_in_after: "1h",
        boot_timeout: "1h",
        lost_after: "2s",
        learn_for: None,
        instance_types: r#"["c5.large"]"#,
    };
    let running = start_proxied(&account, &proxy, &policy).await;
    let host = running.host();

    // Forged "drained" heartbeats for the three instances that are not ours, under a worker id
    // of their own and under the instance id itself, for three ticks; then silence, so they
    // are also past `lost_after`.
    let not_ours = [&foreign, &other_policy, &other_pool];
    let start = ticks(&running.status().await);
    while ticks(&running.status().await) < start + 3 {
        for (n, id) in not_ours.iter().enumerate() {
            for hb in [drained(&format!("forger-{n}"), Some(id)), drained(id, None)] {
                client::send(&host, TOKEN, &hb).await.expect("accepted");
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A pool the policy does not have is refused outright.
    let mut gpu = drained("forger-gpu", Some(&other_pool));
    gpu.pool = "gpu".into();
    assert!(client::send(&host, TOKEN, &gpu).await.is_err());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let now = ticks(&running.status().await);
    let s = running
        .wait_status(Duration::from_secs(30), "three ticks of silence", |s| {
            ticks(s) >= now + 3
        })
        .await;
    assert_eq!(proxy.count("TerminateInstances"), 0, "{s:#}");
    let ec2 = &s["last"]["workers"][0];
    assert_eq!(
        (ec2["booting"].as_u64(), ec2["idle"].as_u64()),
        (Some(1), Some(0)),
        "only our own instance is a worker, and it has not reported: {s:#}"
    );

    // The same forgery for our own instance is acted on: the path above was live.
    client::send(&host, TOKEN, &drained("forger-ours", Some(&ours)))
        .await
        .expect("accepted");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while proxy.count("TerminateInstances") == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "our drained instance was not terminated: {:#}",
            running.status().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.stop().await.expect("clean stop");
    let asked = proxy.bodies("TerminateInstances").join("\n");
    assert!(asked.contains(&ours), "{asked}");
    for id in not_ours {
        assert!(!asked.contains(id.as_str()), "{id} was named: {asked}");
        assert_eq!(state(&direct, id).await, InstanceStateName::Running, "{id}");
    }
    assert_eq!(state(&direct, &ours).await, InstanceStateName::Terminated);
}

/// Reproduction (issue "hostile input"): with the worker token, `{"worker_id":"evil", …,
/// "instance_id":"i-…", "state":"idle", "drained":true}` once a second, while the real worker
/// reports idle and not drained: the instance was terminated (`reason="drained"`). An
/// unrequested `drained` was trusted, and the newest record for an instance won.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_drained_heartbeat_for_a_healthy_worker_terminates_nothing() {
    let _alone = support::alone().await;
    let server = moto::server();
    let account = moto::fresh_account();
    let proxy = Proxy::start(server.port()).await;
    let direct = server.ec2_client(&account);
    let queue = support::queues::create_queue(&server.sqs_client(&account), "jobs").await;
    let name = format!("forged-drain-{account}");
    let ours = start_instance(
        &direct,
        &[("spillway:policy", name.as_str()), ("spillway:pool", "ec2")],
    )
    .await;
    let policy = TestPolicy {
        name: &name,
        queue_url: &queue,
        max: 4,
        scale_in_after: "1h",
        boot_timeout: "1h",
        lost_after: "3s",
        learn_for: Some("1s"),
        instance_types: r#"["c5.large"]"#,
    };
    let running = start_proxied(&account, &proxy, &policy).await;
    let host = running.host();
    let real = Heartbeat {
        drained: false,
        finished: Vec::new(),
        interrupted: None,
        taken: Vec::new(),
        ..drained(&ours, Some(&ours))
    };
    // The real worker is heard first, then the forger joins, for eight ticks.
    client::send(&host, TOKEN, &real).await.expect("accepted");
    let start = ticks(&running.status().await);
    while ticks(&running.status().await) < start + 8 {
        client::send(&host, TOKEN, &real).await.expect("accepted");
        client::send(&host, TOKEN, &drained("evil", Some(&ours)))
            .await
            .expect("accepted");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let s = running.status().await;
    running.stop().await.expect("clean stop");
    assert_eq!(proxy.count("TerminateInstances"), 0, "{s:#}");
    assert_eq!(state(&direct, &ours).await, InstanceStateName::Running);
    assert_eq!(s["last"]["workers"][0]["idle"].as_u64(), Some(1), "{s:#}");
}
