//! The operator's pause switch against moto: while paused (through the authenticated API or a
//! pause file) the service keeps observing and deciding, every decision holds with reason
//! `paused`, and no mutating call is made; resuming lets the backlog launch.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use spillway::clock::SystemClock;
use spillway::heartbeat::client;
use support::moto;
use support::proxy::Proxy;
use support::service::{self as svc, Options, TestPolicy};

const ADMIN: &str = "operator-token-0123456789";

async fn admin_post(host: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(b) = &bearer {
        headers.push(("Authorization", b.as_str()));
    }
    let r = client::request(
        host,
        "POST",
        path,
        &headers,
        body.as_bytes(),
        Duration::from_secs(5),
    )
    .await
    .expect("request");
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_freezes_scaling_but_not_observation_and_resuming_acts_again() {
    let server = moto::server();
    let account = moto::fresh_account();
    let proxy = Proxy::start(server.port()).await;
    let sqs = server.sqs_client(&account);
    let queue = support::queues::create_queue(&sqs, "jobs").await;
    support::queues::send_jobs(&sqs, &queue, 6).await;
    let name = format!("pause-{account}");
    let dir = std::env::temp_dir().join(format!("spillway-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pause_file = dir.join("pause");
    // Paused from the start by the file: nothing may launch even on the first tick.
    std::fs::write(&pause_file, "change freeze CHG-1234\n").unwrap();
    let policy = TestPolicy {
        name: &name,
        queue_url: &queue,
        max: 4,
        scale_in_after: "2s",
        boot_timeout: "5m",
        lost_after: "20s",
        learn_for: None,
        instance_types: r#"["c5.large"]"#,
    }
    .toml();
    let running = svc::start(
        svc::policy(&policy),
        server.ec2_client_via(&account, &proxy.endpoint()),
        server.sqs_client_via(&account, &proxy.endpoint()),
        Arc::new(SystemClock::new()),
        Options {
            admin_token: Some(ADMIN.into()),
            pause_file: Some(pause_file.clone()),
            ..Options::default()
        },
    )
    .await;
    let host = running.host();

    let s = running
        .wait_status(Duration::from_secs(20), "three paused ticks", |s| {
            s["ticks"].as_u64().unwrap_or(0) >= 3
        })
        .await;
    assert_eq!(svc::last_kinds(&s), vec!["paused"], "{s:#}");
    assert!(
        s["last"]["queue"]["latest"]["visible"].as_f64() >= Some(1.0),
        "still observing: {s:#}"
    );
    assert_eq!(proxy.mutating_calls(), 0, "{:?}", proxy.counts());
    assert!(svc::metric(&running.metrics().await, "spillway_paused") == 1.0);

    // The API: refused without the admin token (the workers' token is not it), then a pause
    // that outlives the file.
    let (code, _) = admin_post(&host, "/v1/pause", None, "{}").await;
    assert_eq!(code, 401);
    let (code, _) = admin_post(&host, "/v1/pause", Some(svc::TOKEN), "{}").await;
    assert_eq!(code, 401);
    let (code, body) = admin_post(
        &host,
        "/v1/pause",
        Some(ADMIN),
        r#"{"reason":"investigating"}"#,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    std::fs::remove_file(&pause_file).unwrap();
    let ticks = running.status().await["ticks"].as_u64().unwrap();
    let s = running
        .wait_status(Duration::from_secs(20), "two more ticks", |s| {
            s["ticks"].as_u64().unwrap_or(0) >= ticks + 2
        })
        .await;
    assert_eq!(svc::last_kinds(&s), vec!["paused"], "{s:#}");
    assert!(
        s["last"]["decision"]["actions"][0]["reason"]["text"]
            .as_str()
            .unwrap_or("")
            .contains("investigating")
    );
    assert_eq!(proxy.mutating_calls(), 0, "{:?}", proxy.counts());

    // Resume: the backlog launches.
    let (code, body) = admin_post(&host, "/v1/resume", Some(ADMIN), "").await;
    assert_eq!(code, 200, "{body}");
    // The gauge follows the API at once, not a tick later (issue "hostile input", finding 9).
    assert_eq!(
        svc::metric(&running.metrics().await, "spillway_paused"),
        0.0
    );
    running
        .wait_status(Duration::from_secs(20), "a launch after resume", |_| {
            proxy.count("RunInstances") >= 1
        })
        .await;
    let metrics = running.metrics().await;
    assert_eq!(svc::metric(&metrics, "spillway_paused"), 0.0);
    assert!(
        svc::metric(
            &metrics,
            r#"spillway_admin_requests_total{outcome="unauthorized"}"#
        ) >= 2.0
    );
    running.stop().await.expect("clean stop");
    let _ = std::fs::remove_dir_all(&dir);
}
