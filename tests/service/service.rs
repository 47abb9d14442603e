//! `spillway run` end to end against moto: a backlog launches tagged instances, example
//! workers (child processes pretending to be those instances) drain the queue exactly once,
//! and the fleet scales back in to `min` by draining, never terminating a busy worker.

use crate::support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use spillway::clock::SystemClock;
use support::fleet::Fleet;
use support::moto::{self, DEFAULT_ACCOUNT};
use support::service::{self as svc, Options, TestPolicy};
use support::workers::{spawn_worker, start_instance};

/// A policy with a one-second tick for tests.
pub fn test_policy(name: &str, queue_url: &str, max: u32, scale_in_after: &str) -> String {
    TestPolicy {
        name,
        queue_url,
        max,
        scale_in_after,
        boot_timeout: "5m",
        lost_after: "20s",
        learn_for: None,
        instance_types: r#"["c5.large", "c5a.large"]"#,
    }
    .toml()
}

async fn send_jobs(sqs: &aws_sdk_sqs::Client, url: &str, n: usize, duration_s: f64) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(10) {
        let mut req = sqs.send_message_batch().queue_url(url);
        for i in chunk {
            req = req.entries(
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(format!(r#"{{"id":"job-{i}","duration_s":{duration_s}}}"#))
                    .build()
                    .unwrap(),
            );
        }
        req.send().await.expect("SendMessageBatch");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_launches_tagged_workers_that_drain_it_then_scales_in_to_min() {
    let server = moto::server();
    let account = moto::fresh_account();
    let ec2 = server.ec2_client(&account);
    // Workers are separate processes on the default account: the queue lives there.
    let sqs = server.sqs_client(DEFAULT_ACCOUNT);
    let queue = support::queues::create_queue(&sqs, &format!("e2e-{account}")).await;
    let jobs = 24;
    send_jobs(&sqs, &queue, jobs, 1.5).await;
    let name = format!("e2e-{account}");
    let dir = std::env::temp_dir().join(format!("spillway-e2e-{account}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let done_file = dir.join("done.txt");
    let record = dir.join("decisions.jsonl");
    let _ = std::fs::remove_file(&done_file);
    let running = svc::start(
        svc::policy(&test_policy(&name, &queue, 4, "2s")),
        ec2.clone(),
        sqs.clone(),
        Arc::new(SystemClock::new()),
        Options {
            record: Some(record.clone()),
            ..Options::default()
        },
    )
    .await;

    let mut fleet = Fleet::default();
    let done = fleet
        .settle(&ec2, &name, &running, &done_file, jobs, |id| {
            spawn_worker(server, &running.host(), &queue, "ec2", id, &done_file)
        })
        .await;
    let metrics = running.metrics().await;
    let status = running.status().await;
    running.stop().await.expect("clean stop");
    // /status for people: RFC 3339 times, the desired workers by pool name.
    let rfc3339 = |v: &serde_json::Value| {
        let t = v.as_str().unwrap_or_default();
        t.len() == 24 && t.starts_with("20") && t.ends_with('Z') && t.as_bytes()[10] == b'T'
    };
    assert!(rfc3339(&status["started_at"]), "{status:#}");
    assert!(rfc3339(&status["last"]["at"]), "{status:#}");
    assert!(
        status["last"]["decision"]["desired"]["ec2"].is_u64(),
        "{status:#}"
    );

    let unique: HashSet<&String> = done.iter().collect();
    assert_eq!(done.len(), jobs, "every job ran exactly once: {done:?}");
    assert_eq!(unique.len(), jobs);
    assert!(
        (2..=4).contains(&fleet.max_seen),
        "scaled out within max: {}",
        fleet.max_seen
    );
    assert!(fleet.all_clean(), "every worker drained and exited cleanly");
    assert_eq!(support::queues::visible_count(&sqs, &queue).await, 0);
    assert!(
        svc::metric(
            &metrics,
            r#"spillway_scaling_actions_total{action="launch",pool="ec2",reason="backlog"}"#
        ) >= 1.0,
        "{metrics}"
    );
    assert!(
        svc::metric(
            &metrics,
            r#"spillway_scaling_actions_total{action="terminate",pool="ec2",reason="surplus"}"#
        ) >= 1.0,
        "{metrics}"
    );
    assert!(
        svc::metric(&metrics, "spillway_boot_seconds_count") >= 1.0,
        "{metrics}"
    );
    // What ops dashboards key on: the build, and when the last complete tick ran.
    let version = format!(
        r#"spillway_build_info{{version="{}"}}"#,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(svc::metric(&metrics, &version), 1.0, "{metrics}");
    let last = svc::metric(&metrics, "spillway_last_tick_timestamp_seconds");
    #[allow(clippy::disallowed_methods)] // the metric is wall-clock time
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - 60.0..=now).contains(&last), "{last} vs {now}");
    // Scale-in completes through decide: the drained workers' terminations are decisions.
    assert!(
        svc::metric(
            &metrics,
            r#"spillway_scaling_actions_total{action="terminate",pool="ec2",reason="drained"}"#
        ) >= 1.0,
        "{metrics}"
    );
    let lines = std::fs::read_to_string(&record).unwrap();
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert!(first["observation"]["queue"].is_object() && first["decision"]["actions"].is_array());
    // Reasons tell the truth: every one states the desired count /status and the metrics show.
    for line in lines.lines() {
        let d = &serde_json::from_str::<serde_json::Value>(line).unwrap()["decision"];
        let said = format!("desired {} workers", d["desired_total"]);
        for a in d["actions"].as_array().unwrap() {
            let text = a["reason"]["text"].as_str().unwrap();
            assert!(
                text.contains(&said),
                "{text} (decided {})",
                d["desired_total"]
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn launched_instances_carry_the_policy_and_pool_tags() {
    let server = moto::server();
    let account = moto::fresh_account();
    let ec2 = server.ec2_client(&account);
    let fleet = spillway::service::act::ec2::Ec2Fleet::new(ec2.clone(), "tags-test");
    let policy = svc::policy(&test_policy("tags-test", "http://127.0.0.1:1/q", 3, "1m"));
    let launch = &policy.pools[0].ec2().unwrap().launch;
    let done = fleet
        .launch("ec2", launch, 2, "spillway-test-token")
        .await
        .expect("launch");
    assert_eq!(done.ids.len(), 2);
    let out = ec2
        .describe_instances()
        .set_instance_ids(Some(done.ids.clone()))
        .send()
        .await
        .unwrap();
    for i in out.reservations().iter().flat_map(|r| r.instances()) {
        let tags: HashMap<&str, &str> = i
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value()?)))
            .collect();
        assert_eq!(tags.get("spillway:policy"), Some(&"tags-test"));
        assert_eq!(tags.get("spillway:pool"), Some(&"ec2"));
        assert_eq!(tags.get("Name"), Some(&"spillway-tags-test-ec2"));
        assert_eq!(i.instance_type().map(|t| t.as_str()), Some("c5.large"));
    }
    let listed = fleet.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    // A foreign instance (no spillway tags) is never terminated, even when asked by id.
    let foreign_id = start_instance(&ec2, &[]).await;
    let other_policy = spillway::service::act::ec2::Ec2Fleet::new(ec2.clone(), "someone-else");
    let mut ask = done.ids.clone();
    ask.push(foreign_id.clone());
    assert!(
        other_policy.terminate(&ask, None).await.unwrap().is_empty(),
        "another policy's fleet terminated nothing"
    );
    let gone = fleet.terminate(&ask, Some("ec2")).await.unwrap();
    assert_eq!(gone, done.ids, "only our own tagged instances");
    assert!(fleet.list().await.unwrap().is_empty());
    assert!(
        fleet
            .terminate(&done.ids, Some("ec2"))
            .await
            .unwrap()
            .is_empty(),
        "already gone is success"
    );
}
