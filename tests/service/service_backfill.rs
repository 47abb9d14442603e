//! A backfill end to end against moto: `spillway backfill submit` puts a job file on the batch
//! queue, `spillway run` launches tagged workers for it within `[batch] max_ec2` and the hourly
//! budget, the example render workers (interactive queue first, batch queue when it is empty)
//! complete every job exactly once, and the fleet scales back in to nothing.

use crate::support;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::Arc;

use spillway::clock::SystemClock;
use support::fleet::Fleet;
use support::moto::{self, DEFAULT_ACCOUNT};
use support::service::{self as svc, Options, TestPolicy};
use support::workers::spawn_worker_with_batch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_backfill_is_absorbed_within_its_rules_and_the_fleet_scales_back_in() {
    let server = moto::server();
    let account = moto::fresh_account();
    let ec2 = server.ec2_client(&account);
    let sqs = server.sqs_client(DEFAULT_ACCOUNT);
    let name = format!("bf-e2e-{account}");
    let interactive = support::queues::create_queue(&sqs, &format!("{name}-jobs")).await;
    let batch = support::queues::create_queue(&sqs, &format!("{name}-backfill")).await;

    // Submit through the real CLI, as an operator would.
    let dir = std::env::temp_dir().join(format!("spillway-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let jobs = 18;
    let input = dir.join("thumbs.jsonl");
    let lines: Vec<String> = (0..jobs)
        .map(|i| format!(r#"{{"id":"thumb-{i:03}","duration_s":0.4}}"#))
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let submitted = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .args(["backfill", "submit"])
        .arg(&input)
        .args(["--queue-url", &batch])
        .envs(server.child_env())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .status()
        .expect("run spillway backfill submit");
    assert!(submitted.success(), "backfill submit failed");
    assert_eq!(support::queues::visible_count(&sqs, &batch).await, jobs);

    // max_ec2 = 3 for the batch, but $0.25/h at $0.10/h per instance affords only 2.
    let policy = TestPolicy {
        name: &name,
        queue_url: &interactive,
        max: 4,
        scale_in_after: "2s",
        boot_timeout: "5m",
        lost_after: "20s",
        learn_for: None,
        instance_types: r#"["c5.large"]"#,
    }
    .toml()
        + &format!(
            "[[queue]]\nname = \"backfill\"\nurl = \"{batch}\"\nclass = \"batch\"\n\
             [batch]\nmax_ec2 = 3\n[budget]\nmax_hourly_usd = 0.25\n"
        );
    let done_file = dir.join("done.txt");
    let running = svc::start(
        svc::policy(&policy),
        ec2.clone(),
        sqs.clone(),
        Arc::new(SystemClock::new()),
        Options::default(),
    )
    .await;

    let mut fleet = Fleet::default();
    let done = fleet
        .settle(&ec2, &name, &running, &done_file, jobs, |id| {
            spawn_worker_with_batch(
                server,
                &running.host(),
                &interactive,
                Some(&batch),
                "ec2",
                id,
                &done_file,
            )
        })
        .await;
    let metrics = running.metrics().await;
    running.stop().await.expect("clean stop");

    let unique: HashSet<&str> = done.iter().map(String::as_str).collect();
    assert_eq!(done.len(), jobs, "every job ran exactly once: {done:?}");
    assert_eq!(unique.len(), jobs);
    for i in 0..jobs {
        assert!(
            unique.contains(format!("thumb-{i:03}").as_str()),
            "thumb-{i:03} missing"
        );
    }
    assert_eq!(
        fleet.max_seen, 2,
        "the batch got the 2 workers the budget affords (max_ec2 = 3)"
    );
    assert!(fleet.all_clean(), "every worker drained and exited cleanly");
    assert_eq!(support::queues::visible_count(&sqs, &batch).await, 0);
    let launched_for_batch = svc::metric(
        &metrics,
        r#"spillway_scaling_actions_total{action="launch",pool="ec2",reason="batch_max_ec2"}"#,
    );
    assert!(launched_for_batch >= 1.0, "{metrics}");
    assert!(
        svc::metric(
            &metrics,
            r#"spillway_scaling_actions_total{action="hold",pool="all",reason="budget_cap"}"#
        ) >= 1.0,
        "the budget bound and said so: {metrics}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
