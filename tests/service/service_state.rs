//! `--state-file` against moto: a service restarted on its saved state still counts the launches
//! it made in the last hour against `max_launches_per_hour`, so a crash loop cannot launch past
//! the cap; without the state (the positive control) the same restart launches again. A state
//! file that cannot be written is counted and does not stop the service.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::types::InstanceStateName;
use spillway::clock::SystemClock;
use support::moto;
use support::service::{self as svc, Options, Running, TestPolicy};
use support::workers::instances;

/// Waits for a tick (at least the `after`th) that the launch rate cap held.
async fn capped(r: &Running, after: u64) -> serde_json::Value {
    r.wait_status(Duration::from_secs(20), "a tick held by the cap", |s| {
        s["ticks"].as_u64().unwrap_or(0) >= after
            && svc::last_kinds(s).iter().any(|k| k == "launch_rate_cap")
    })
    .await
}

async fn live(ec2: &aws_sdk_ec2::Client, policy: &str) -> usize {
    instances(ec2, policy)
        .await
        .iter()
        .filter(|(_, s)| matches!(s, InstanceStateName::Running | InstanceStateName::Pending))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_the_saved_state_keeps_the_launch_rate_cap() {
    let server = moto::server();
    let account = moto::fresh_account();
    let sqs = server.sqs_client(&account);
    let ec2 = server.ec2_client(&account);
    let queue = support::queues::create_queue(&sqs, "jobs").await;
    support::queues::send_jobs(&sqs, &queue, 6).await;
    let name = format!("state-{account}");
    let dir = std::env::temp_dir().join(format!("spillway-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state_file = dir.join("state.json");
    let _ = std::fs::remove_file(&state_file);
    // Six jobs want four instances; two launches an hour are allowed. No worker ever reports,
    // so the instances stay booting (capacity on the way) for the whole test.
    let policy = TestPolicy {
        name: &name,
        queue_url: &queue,
        max: 4,
        scale_in_after: "1h",
        boot_timeout: "10m",
        lost_after: "1h",
        learn_for: None,
        instance_types: r#"["c5.large"]"#,
    }
    .toml()
        + "[budget]\nmax_launches_per_hour = 2\n";
    let start = |state_file: Option<std::path::PathBuf>| {
        svc::start(
            svc::policy(&policy),
            ec2.clone(),
            sqs.clone(),
            Arc::new(SystemClock::new()),
            Options {
                state_file,
                ..Options::default()
            },
        )
    };
    let first = start(Some(state_file.clone())).await;
    capped(&first, 2).await;
    assert_eq!(live(&ec2, &name).await, 2, "two launches, then the cap");
    first.stop().await.expect("clean stop");
    assert!(state_file.exists(), "the state was saved");

    // Restarted on the saved state: the two launches of the last hour still count.
    let second = start(Some(state_file.clone())).await;
    let s = capped(&second, 3).await;
    assert_eq!(live(&ec2, &name).await, 2, "no launch past the cap: {s:#}");
    second.stop().await.expect("clean stop");

    // The positive control: the same restart without the state forgets them and launches.
    let third = start(None).await;
    let mut launched = 0;
    for _ in 0..100 {
        launched = live(&ec2, &name).await;
        if launched > 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(launched, 4, "without the state the cap starts over");
    third.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_that_cannot_be_written_is_counted_and_the_service_goes_on() {
    let server = moto::server();
    let account = moto::fresh_account();
    let sqs = server.sqs_client(&account);
    let queue = support::queues::create_queue(&sqs, "jobs").await;
    let name = format!("unsaved-{account}");
    let policy = TestPolicy {
        name: &name,
        queue_url: &queue,
        max: 2,
        scale_in_after: "1h",
        boot_timeout: "10m",
        lost_after: "1h",
        learn_for: None,
        instance_types: r#"["c5.large"]"#,
    }
    .toml();
    let nowhere = std::env::temp_dir()
        .join(format!("spillway-no-such-dir-{account}"))
        .join("state.json");
    let running = svc::start(
        svc::policy(&policy),
        server.ec2_client(&account),
        sqs.clone(),
        Arc::new(SystemClock::new()),
        Options {
            state_file: Some(nowhere),
            ..Options::default()
        },
    )
    .await;
    running
        .wait_status(Duration::from_secs(20), "three ticks", |s| {
            s["ticks"].as_u64().unwrap_or(0) >= 3
        })
        .await;
    let failed = svc::metric(&running.metrics().await, "spillway_state_save_errors_total");
    assert!(
        failed >= 3.0,
        "every tick's write failed and was counted: {failed}"
    );
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_with_impossible_values_is_refused_and_the_service_starts_fresh() {
    // Reproduction (issue "hostile input", finding 1): `memory.boot_samples = [-5,-5,-5]` in an
    // otherwise valid state file crashed every start (panic in boot_estimate, a crash loop), and
    // `"throughput": -1e300` made it want 4,294,967,295 workers and launch to max.
    let server = moto::server();
    let account = moto::fresh_account();
    let sqs = server.sqs_client(&account);
    let ec2 = server.ec2_client(&account);
    let queue = support::queues::create_queue(&sqs, "jobs").await;
    support::queues::send_jobs(&sqs, &queue, 1).await;
    let name = format!("forged-state-{account}");
    let dir = std::env::temp_dir().join(format!("spillway-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state_file = dir.join("state.json");
    let policy = TestPolicy {
        name: &name,
        queue_url: &queue,
        max: 8,
        scale_in_after: "1h",
        boot_timeout: "10m",
        lost_after: "1h",
        learn_for: Some("1s"),
        instance_types: r#"["c5.large"]"#,
    }
    .toml();
    for (field, value) in [
        ("boot_samples", serde_json::json!([-5.0, -5.0, -5.0])),
        ("boot_samples", serde_json::json!([1e300])),
        ("throughput", serde_json::json!(-1e300)),
    ] {
        // A whole, valid memory with one value no decision could have produced.
        let mut memory = serde_json::to_value(spillway::control::ControlMemory::default()).unwrap();
        memory[field] = value;
        assert!(
            serde_json::from_value::<spillway::control::ControlMemory>(memory.clone()).is_ok(),
            "the forged memory parses: only its value is wrong"
        );
        let forged = serde_json::json!({
            "policy": name,
            "saved_at": 0,
            "memory": memory,
        });
        std::fs::write(&state_file, forged.to_string()).unwrap();
        let running = svc::start(
            svc::policy(&policy),
            ec2.clone(),
            sqs.clone(),
            Arc::new(SystemClock::new()),
            Options {
                state_file: Some(state_file.clone()),
                ..Options::default()
            },
        )
        .await;
        let s = running
            .wait_status(Duration::from_secs(20), "three ticks", |s| {
                s["ticks"].as_u64().unwrap_or(0) >= 3
            })
            .await;
        running
            .stop()
            .await
            .expect("the service ran and stopped cleanly");
        assert_eq!(
            live(&ec2, &name).await,
            1,
            "one job, one launch (not max) from {memory}: {s:#}"
        );
        // What it saved is its own fresh memory, resumable.
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
        assert_ne!(saved["memory"], memory, "the forged values were not kept");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
