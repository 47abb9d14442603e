//! Issue 5's fault matrix: every fault of `support::matrix_faults` × (scaling out, steady,
//! scaling in), each cell its own service against its own moto account behind its own
//! fault-injecting proxy, several cells at a time. After every cell the invariants of
//! `support::invariants` are checked; the outcome table is printed (run with `--nocapture`,
//! or see `target/fault-matrix.md`). `SPILLWAY_MATRIX=timeout,reset` runs only those faults.
//! Also: the proxy's injected errors read, through the SDK, as the AWS errors they imitate.

// Deadlines against real servers and processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use crate::support;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use spillway::aws::AwsOptions;
use spillway::service::act::ec2::Ec2Fleet;
use spillway::service::act::provider::ProviderError;
use support::cell::{self, Phase};
use support::invariants::{self, Outcome};
use support::matrix_faults::{ALL, FaultKind};
use support::moto;
use support::proxy::{Effect, Proxy, Rule, Target};
use tokio::time::Instant;

/// Cells running at once: enough to keep the matrix near a minute, few enough for one moto.
const PARALLEL: usize = 12;

fn cells() -> Vec<(FaultKind, Phase)> {
    let only = std::env::var("SPILLWAY_MATRIX").unwrap_or_default();
    let wanted = |f: FaultKind| only.is_empty() || only.split(',').any(|n| n.trim() == f.name());
    let mut cells = Vec::new();
    for phase in [Phase::Out, Phase::Steady, Phase::In] {
        for &f in ALL.iter().filter(|f| wanted(**f)) {
            cells.push((f, phase));
        }
    }
    cells
}

fn table(outcomes: &[Outcome], wall: Duration) -> String {
    let mut t = String::from(
        "| fault | phase | result | launched | terminated | failed ticks | clean again at | \
         peak (max 4, budget 3) | fault hits | outcome |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for o in outcomes {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {}{} | {} of {} | {} | {} | {} | {} |",
            o.fault,
            o.phase,
            if o.passed() { "pass" } else { "**FAIL**" },
            o.launched,
            o.terminated,
            if o.boot_timeouts > 0 {
                format!(" ({} boot timeout)", o.boot_timeouts)
            } else {
                String::new()
            },
            o.failed_ticks,
            o.ticks,
            o.recovered_s.map_or("-".into(), |s| format!("{s:.1} s")),
            o.peak,
            o.hits,
            o.goal,
        );
    }
    let _ = writeln!(
        t,
        "\n{} cells in {:.0} s.",
        outcomes.len(),
        wall.as_secs_f64()
    );
    for o in outcomes.iter().filter(|o| !o.passed()) {
        let _ = writeln!(
            t,
            "\n{} / {}:\n- {}",
            o.fault,
            o.phase,
            o.violations.join("\n- ")
        );
    }
    t
}

fn panic_text(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into()),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_in_every_phase_keeps_the_invariants() {
    let _alone = support::alone().await;
    let started = Instant::now();
    let permits = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut handles = Vec::new();
    for (fault, phase) in cells() {
        let permits = permits.clone();
        let h = tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore");
            invariants::check(&cell::run(fault, phase).await)
        });
        handles.push((fault, phase, h));
    }
    let mut outcomes = Vec::new();
    for (fault, phase, h) in handles {
        outcomes.push(match h.await {
            Ok(o) => o,
            Err(e) => Outcome::panicked(fault, phase, panic_text(e)),
        });
    }
    let table = table(&outcomes, started.elapsed());
    eprintln!("{table}");
    let exe = std::env::current_exe().expect("test binary path");
    if let Some(target) = exe.ancestors().nth(3) {
        let _ = std::fs::write(target.join("fault-matrix.md"), &table);
    }
    assert!(outcomes.iter().all(Outcome::passed), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_errors_read_as_the_aws_errors_they_imitate() {
    let _alone = support::alone().await;
    let server = moto::server();
    let account = moto::fresh_account();
    let proxy = Proxy::start(server.port()).await;
    // moto builds an account's EC2 world on its first request, which takes a while.
    server
        .ec2_client(&account)
        .describe_instances()
        .send()
        .await
        .expect("warm up");
    let once = AwsOptions {
        max_attempts: 1,
        attempt_timeout: Duration::from_secs(3),
        ..AwsOptions::default()
    };
    let ec2 = server.ec2_client_as_service(&account, &proxy.endpoint(), &once);
    let sqs = server.sqs_client_as_service(&account, &proxy.endpoint(), &once);

    proxy.inject(Rule::new(
        Target::Sqs,
        Effect::error(400, "ThrottlingException"),
    ));
    let e = spillway::service::act::provider::classify(
        &sqs.list_queues().send().await.expect_err("throttled"),
    );
    assert_eq!(
        (e.code(), matches!(e, ProviderError::Throttled { .. })),
        ("ThrottlingException", true),
        "{e:?}"
    );
    proxy.heal();

    proxy.inject(Rule::new(Target::Ec2, Effect::error(503, "RequestLimitExceeded")).burst(1));
    let e = spillway::service::act::provider::classify(
        &ec2.describe_instances()
            .send()
            .await
            .expect_err("throttled"),
    );
    assert!(
        matches!(e, ProviderError::Throttled { .. }) && e.code() == "RequestLimitExceeded",
        "{e:?}"
    );
    ec2.describe_instances()
        .send()
        .await
        .expect("a burst of one is over");

    proxy.inject(Rule::new(Target::All, Effect::Reset).burst(1));
    let e = spillway::service::act::provider::classify(
        &ec2.describe_instances().send().await.expect_err("reset"),
    );
    assert!(
        matches!(e, ProviderError::Throttled { .. }),
        "transient: {e:?}"
    );

    proxy.inject(Rule::new(Target::All, Effect::Hang(Duration::from_secs(10))).burst(1));
    let waited = Instant::now();
    let e = spillway::service::act::provider::classify(
        &ec2.describe_instances().send().await.expect_err("timeout"),
    );
    assert!(
        e.code() == "Timeout" && waited.elapsed() < Duration::from_secs(6),
        "{e:?}"
    );

    // Like the service's: 3 attempts, so 5xx answers are retried, but not capacity errors.
    let retrying = AwsOptions {
        max_attempts: 3,
        ..once.clone()
    };
    let ec2 = server.ec2_client_as_service(&account, &proxy.endpoint(), &retrying);
    proxy.heal();
    let rule = proxy.inject(Rule::new(Target::Ec2, Effect::error(500, "InternalError")).burst(2));
    ec2.describe_instances()
        .send()
        .await
        .expect("retried past two 500s");
    assert_eq!(proxy.fired(rule), 2);

    // ICE only when the body names the type: the fleet falls back to the next one at once.
    proxy.heal();
    let ice = Effect::error(500, "InsufficientInstanceCapacity");
    let run = Target::Ops(vec!["RunInstances".into()]);
    let rule = proxy.inject(Rule::new(run, ice).when_body_contains("InstanceType=c5.large"));
    proxy.emulate_client_tokens();
    let policy = support::service::policy(
        &support::service::TestPolicy {
            name: "ice",
            queue_url: "http://127.0.0.1:1/q",
            max: 3,
            scale_in_after: "1m",
            boot_timeout: "1m",
            lost_after: "1m",
            learn_for: None,
            instance_types: r#"["c5.large", "c5a.large"]"#,
        }
        .toml(),
    );
    let fleet = Ec2Fleet::new(ec2.clone(), "ice");
    let launch = &policy.pools[0].ec2().unwrap().launch;
    let done = fleet
        .launch("ec2", launch, 1, "tok")
        .await
        .expect("fell back");
    assert_eq!(done.ids.len(), 1);
    assert!(
        done.failures[0].contains("InsufficientInstanceCapacity"),
        "{done:?}"
    );
    assert_eq!(
        proxy.fired(rule),
        1,
        "a capacity error is final: the SDK does not retry it before the fallback"
    );
    // The same ClientToken again: EC2 (and the proxy) answer with the same instance.
    let again = fleet
        .launch("ec2", launch, 1, "tok")
        .await
        .expect("replayed");
    assert_eq!(again.ids, done.ids);
    assert_eq!(proxy.ledger().live().len(), 1);

    // A stuck instance looks pending.
    proxy.show_pending(&done.ids[0]);
    let out = ec2.describe_instances().send().await.expect("listed");
    let state = out.reservations()[0].instances()[0]
        .state()
        .unwrap()
        .name()
        .unwrap()
        .clone();
    assert_eq!(state.as_str(), "pending");
}
