//! The real `spillway run` killed with SIGKILL at random points across many ticks while the
//! queue rises and falls, restarted each time, with a backfill submission killed and resumed
//! alongside. Afterwards: no decision launched more instances than it asked for, the fleet
//! never exceeded `max`, a last incarnation accounts for every instance the others launched
//! (no orphan survives), and every backfill job is on the queue exactly once.
//!
//! `SPILLWAY_CRASH_TICKS` (default 200) sets how many ticks the incarnations must run in all;
//! `SPILLWAY_CRASH_SEED` makes the kill points reproducible (the seed is printed).

// These tests wait on real servers, so their deadlines read the wall clock.
#![allow(clippy::disallowed_methods)]

use crate::support;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_ec2::types::InstanceStateName;
use spillway::service::state::StateFile;
use support::jobfiles::{assert_each_exactly_once, write_jobs};
use support::moto::{self, DEFAULT_ACCOUNT};
use support::queues::{create_queue, receive_all};
use support::service::{TOKEN, TestPolicy};
use support::workers;

const MAX: usize = 6;

fn spillway(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spillway"));
    cmd.args(args)
        .envs(moto::server().child_env())
        .env("SPILLWAY_TEST_TOKEN", TOKEN)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    cmd
}

/// `(id, state, client token)` of every instance of `policy`.
async fn instances(
    ec2: &aws_sdk_ec2::Client,
    policy: &str,
) -> Vec<(String, InstanceStateName, String)> {
    workers::tagged(ec2, policy)
        .await
        .iter()
        .filter_map(|i| {
            Some((
                i.instance_id()?.to_string(),
                i.state()?.name()?.clone(),
                i.client_token().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn live(list: &[(String, InstanceStateName, String)]) -> usize {
    list.iter()
        .filter(|(_, s, _)| matches!(s, InstanceStateName::Running | InstanceStateName::Pending))
        .count()
}

/// Kills `child` with SIGKILL and checks it had not died on its own (a panic or an error exit).
fn kill(child: &mut Child, what: &str) {
    if let Some(status) = child.try_wait().unwrap() {
        panic!("{what} exited by itself before being killed: {status}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_nothing_and_launches_nothing_twice() {
    let _alone = support::alone().await;
    let ticks: usize = std::env::var("SPILLWAY_CRASH_TICKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("SPILLWAY_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("crash test: {ticks} ticks, SPILLWAY_CRASH_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let server = moto::server();
    let ec2 = server.ec2_client(DEFAULT_ACCOUNT);
    let sqs = server.sqs_client(DEFAULT_ACCOUNT);
    let name = format!("crash-{}-{}", moto::fresh_account(), std::process::id());
    let queue = create_queue(&sqs, &name).await;
    let fifo = create_queue(&sqs, &format!("{name}-bf.fifo")).await;
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.toml");
    let text = TestPolicy {
        name: &name,
        queue_url: &queue,
        max: MAX as u32,
        scale_in_after: "2s",
        boot_timeout: "4s",
        lost_after: "5s",
        learn_for: None,
        instance_types: r#"["c5.large"]"#,
    }
    .toml()
    .replace("interval = \"1s\"", "interval = \"500ms\"");
    std::fs::write(&policy, text).unwrap();
    let record = dir.join("decisions.jsonl");
    let jobs_file = dir.join("backfill.jsonl");
    let lines = write_jobs(&jobs_file, 400);
    let policy_arg = policy.to_str().unwrap().to_string();
    let record_arg = record.to_str().unwrap().to_string();
    let state = dir.join("state.json");
    let state_arg = state.to_str().unwrap().to_string();
    let run_args = [
        "run",
        "--policy",
        &policy_arg,
        "--record",
        &record_arg,
        "--state-file",
        &state_arg,
        "--metrics-addr",
        "127.0.0.1:0",
    ];
    let jobs_arg = jobs_file.to_str().unwrap().to_string();
    let submit_args = [
        "backfill",
        "submit",
        &jobs_arg,
        "--queue-url",
        &fifo,
        "--rate",
        "20/s",
    ];

    let ticks_done = || std::fs::read_to_string(&record).map_or(0, |t| t.lines().count());
    let (mut incarnations, mut submit_kills, mut submit_done, mut peak) = (0, 0, false, 0);
    let mut submitter: Option<Child> = None;
    let mut depth: i64 = 0;
    while ticks_done() < ticks {
        let mut service = spillway(&run_args).spawn().expect("spawn spillway run");
        incarnations += 1;
        let lifetime = Duration::from_millis(rng.u64(200..2500));
        let until = tokio::time::Instant::now() + lifetime;
        while tokio::time::Instant::now() < until {
            // The queue rises and falls: a triangle between 0 and 12 messages over 20 s.
            let phase = (incarnations as i64 * 7 + depth) % 40;
            let target = if phase < 20 {
                phase * 12 / 20
            } else {
                (40 - phase) * 12 / 20
            };
            depth += 1;
            let visible = support::queues::visible_count(&sqs, &queue).await as i64;
            if visible < target {
                sqs.send_message()
                    .queue_url(&queue)
                    .message_body(r#"{"duration_s":60}"#)
                    .send()
                    .await
                    .unwrap();
            } else if visible > target {
                let got = sqs
                    .receive_message()
                    .queue_url(&queue)
                    .max_number_of_messages(2)
                    .send()
                    .await
                    .unwrap();
                for m in got.messages() {
                    let _ = sqs
                        .delete_message()
                        .queue_url(&queue)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .send()
                        .await;
                }
            }
            peak = peak.max(live(&instances(&ec2, &name).await));
            // The backfill submitter runs alongside; killed at random too, resumed each time.
            if !submit_done {
                match &mut submitter {
                    None => submitter = Some(spillway(&submit_args).spawn().unwrap()),
                    Some(c) => {
                        if let Some(status) = c.try_wait().unwrap() {
                            assert!(status.success(), "backfill submit failed: {status}");
                            submit_done = true;
                            submitter = None;
                        } else if rng.u8(..) < 40 {
                            kill(c, "backfill submit");
                            submit_kills += 1;
                            submitter = None;
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        kill(&mut service, "spillway run");
    }
    // Finish the backfill (one last resume, not killed).
    if let Some(c) = &mut submitter {
        kill(c, "backfill submit");
    }
    if !submit_done {
        assert!(
            spillway(&submit_args).status().unwrap().success(),
            "the last resume failed"
        );
    }

    // No decision launched more than it asked for: the ClientToken ends in the count.
    let all = instances(&ec2, &name).await;
    let mut per_token: HashMap<&str, usize> = HashMap::new();
    for (_, _, token) in &all {
        *per_token.entry(token.as_str()).or_default() += 1;
    }
    for (token, n) in &per_token {
        let asked: usize = token
            .rsplit('-')
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        assert!(*n <= asked, "decision {token} launched {n} instances");
    }
    assert!(peak <= MAX, "{peak} instances at once, max {MAX}");
    // Every incarnation resumed the state the one before saved: no kill left it torn.
    let saved = StateFile::new(&state, &name).load();
    assert!(
        matches!(saved, Ok(Some(_))),
        "the state file after the kills: {saved:?}"
    );

    // No orphan: with the queue empty, one last incarnation finds every instance by its tags
    // and terminates them (none ever heartbeats: boot_timeout) or scales them in.
    let _ = sqs.purge_queue().queue_url(&queue).send().await;
    let mut last = spillway(&run_args).spawn().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while live(&instances(&ec2, &name).await) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "orphans: {:?}",
            instances(&ec2, &name).await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    kill(&mut last, "the last spillway run");

    let messages = receive_all(&sqs, &fifo).await;
    assert_each_exactly_once(&lines, &messages);
    eprintln!(
        "crash test: {} ticks over {incarnations} SIGKILLed incarnations, {} launches by {} decisions, peak {peak}/{MAX}, backfill killed {submit_kills} times, 400 jobs exactly once",
        ticks_done(),
        all.len(),
        per_token.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
