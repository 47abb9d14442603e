//! Integration tests of the backfill library against a local moto server: validation, delivery
//! to standard and FIFO queues, retries of failed entries, crash and resume in process, and
//! refusal to resume against a changed input. Tests of the real binary (SIGKILL and resume,
//! dry run, giving up) are in `backfill_cli.rs`.

use crate::support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use spillway::backfill::jobs::{ATTR_JOB_ID, ATTR_SOURCE};
use spillway::backfill::{self, BackfillError, SqsSink, SubmitOptions, checkpoint};
use support::jobfiles::{assert_each_exactly_once, body_counts, test_dir, write_jobs};
use support::moto;
use support::queues::{attribute, create_queue, receive_all, visible_count};
use support::sinks::{CrashAfterSend, FlakySink};

fn options(input: &Path, url: &str) -> SubmitOptions {
    SubmitOptions {
        concurrency: 4,
        ..SubmitOptions::new(input, url)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_lines_are_all_reported_and_nothing_is_sent() {
    let server = moto::server();
    let client = server.sqs_client(&moto::fresh_account());
    let url = create_queue(&client, "validation").await;
    let dir = test_dir("validation");
    let input = dir.join("jobs.jsonl");
    let text = [
        r#"{"id":"a","frame":1}"#,
        r#"{"id":"b","frame":2"#,
        r#""just a string""#,
        "",
        r#"{"id":{"nested":true}}"#,
        r#"{"id":"a"}"#,
        r#"{"id":"c","duration_s":-3}"#,
        r#"{"id":"d","duration_s":"long"}"#,
        r#"{"id":"e"}"#,
    ]
    .join("\n");
    std::fs::write(&input, text).unwrap();

    let err = backfill::submit(&options(&input, &url), client.clone())
        .await
        .unwrap_err();
    let BackfillError::InvalidInput { problems, .. } = &err else {
        panic!("expected InvalidInput, got {err}");
    };
    let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [2, 3, 5, 6, 7, 8]);
    let message = err.to_string();
    assert!(
        message.contains("jobs.jsonl:2: invalid JSON at column"),
        "{message}"
    );
    assert!(
        message.contains("jobs.jsonl:6: duplicate id \"a\" (first used on line 1)"),
        "{message}"
    );
    assert_eq!(err.exit_code(), 3);
    assert_eq!(visible_count(&client, &url).await, 0);
    assert!(!dir.join("jobs.jsonl.spillway-ckpt").exists());

    // --skip-invalid sends the two good lines and writes the six bad ones aside.
    let skip = SubmitOptions {
        skip_invalid: true,
        ..options(&input, &url)
    };
    let summary = backfill::submit(&skip, client.clone()).await.unwrap();
    assert_eq!((summary.sent, summary.rejected), (2, 6));
    let rejects = std::fs::read_to_string(dir.join("jobs.jsonl.rejects.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(rejects.lines().next().unwrap()).unwrap();
    assert_eq!(first["line"], 2);
    assert_eq!(first["text"], r#"{"id":"b","frame":2"#);
    assert_eq!(rejects.lines().count(), 6);
    assert_eq!(receive_all(&client, &url).await.len(), 2);
}

async fn deliver_all(queue: &str) {
    let server = moto::server();
    let client = server.sqs_client(&moto::fresh_account());
    let url = create_queue(&client, queue).await;
    let dir = test_dir(queue);
    let input = dir.join("render.jsonl");
    let lines = write_jobs(&input, 250);

    let summary = backfill::submit(&options(&input, &url), client.clone())
        .await
        .unwrap();
    assert_eq!((summary.sent, summary.skipped, summary.calls), (250, 0, 25));

    let messages = receive_all(&client, &url).await;
    assert_each_exactly_once(&lines, &messages);
    let parsed = spillway::backfill::jobs::parse_jobs(&std::fs::read(&input).unwrap(), "x");
    let ids: HashMap<&str, &str> = parsed
        .jobs
        .iter()
        .map(|j| (j.body.as_str(), j.id.as_str()))
        .collect();
    for m in &messages {
        let id = attribute(m, ATTR_JOB_ID).unwrap();
        assert_eq!(ids[m.body().unwrap()], id);
        assert_eq!(attribute(m, ATTR_SOURCE).as_deref(), Some("render.jsonl"));
    }
    let state = checkpoint::load(&dir.join("render.jsonl.spillway-ckpt"))
        .unwrap()
        .unwrap();
    assert!(state.done && state.in_doubt.is_empty() && state.acked.len() == 250);

    // Running again sends nothing.
    let again = backfill::submit(&options(&input, &url), client.clone())
        .await
        .unwrap();
    assert_eq!((again.sent, again.skipped), (0, 250));
    assert_eq!(visible_count(&client, &url).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_queue_gets_every_job_exactly_once() {
    deliver_all("happy-standard").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_queue_gets_every_job_exactly_once() {
    deliver_all("happy.fifo").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_failed_entries_are_resent_and_a_sender_fault_stops_the_run() {
    let server = moto::server();
    let client = server.sqs_client(&moto::fresh_account());
    let url = create_queue(&client, "partial").await;
    let dir = test_dir("partial");
    let input = dir.join("jobs.jsonl");
    let lines = write_jobs(&input, 40);
    let mut opts = options(&input, &url);
    opts.retry.base_delay = Duration::from_millis(5);
    let flaky = |refuse_line| FlakySink {
        inner: SqsSink::new(client.clone(), &url, "g", "jobs.jsonl"),
        seen: Mutex::new(Default::default()),
        calls: AtomicUsize::new(0),
        refuse_line,
    };

    // Line 13 is refused for good: the run fails, but every other job is delivered once.
    let sink = flaky(Some(13));
    let err = backfill::submit_to(&opts, sink).await.unwrap_err();
    let BackfillError::Permanent { failures } = &err else {
        panic!("expected Permanent, got {err}");
    };
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (failures[0].line, failures[0].job_id.as_str()),
        (13, "job-00013")
    );
    let state = checkpoint::load(&dir.join("jobs.jsonl.spillway-ckpt"))
        .unwrap()
        .unwrap();
    assert!(!state.acked.contains(&13) && !state.in_doubt.contains(&13));
    let delivered = receive_all(&client, &url).await;
    let counts = body_counts(&delivered);
    assert!(counts.values().all(|&c| c == 1), "a job arrived twice");
    assert!(!counts.contains_key(&lines[12]));
    assert_eq!(delivered.len(), state.acked.len());

    // Rerun with the cause fixed: only what was missing is sent, each entry failing once.
    let sink = flaky(None);
    let summary = backfill::submit_to(&opts, sink).await.unwrap();
    assert_eq!(summary.sent + summary.skipped, 40);
    let mut all = delivered;
    all.extend(receive_all(&client, &url).await);
    assert_each_exactly_once(&lines, &all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_batch_refused_by_sqs_is_permanent() {
    let server = moto::server();
    let client = server.sqs_client(&moto::fresh_account());
    let output = client
        .create_queue()
        .queue_name("small-messages")
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize,
            "1024",
        )
        .send()
        .await
        .unwrap();
    let url = output.queue_url().unwrap().to_owned();
    let dir = test_dir("refused");
    let input = dir.join("jobs.jsonl");
    let big = format!("{{\"id\":\"big\",\"pad\":\"{}\"}}", "x".repeat(2000));
    std::fs::write(&input, format!("{{\"id\":\"small\"}}\n{big}\n")).unwrap();
    let err = backfill::submit(&options(&input, &url), client.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, BackfillError::Permanent { .. }), "{err}");
    assert_eq!(err.exit_code(), 5);
}

/// Kills a run in process after 3 acknowledged batches and 4 sent-but-unanswered ones, then
/// resumes: the 40 in-doubt jobs are announced and resent.
async fn resume_after_in_process_crash(
    queue: &str,
) -> (Vec<String>, Vec<aws_sdk_sqs::types::Message>, usize) {
    let server = moto::server();
    let client = server.sqs_client(&moto::fresh_account());
    let url = create_queue(&client, queue).await;
    let dir = test_dir(queue);
    let input = dir.join("jobs.jsonl");
    let lines = write_jobs(&input, 100);
    let opts = options(&input, &url);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sink = CrashAfterSend {
        inner: SqsSink::new(client.clone(), &url, "spillway-backfill", "jobs.jsonl"),
        calls: AtomicUsize::new(0),
        hang_from: 3,
        hung: tx,
    };
    let run = backfill::submit_to(&opts, sink);
    tokio::select! {
        result = run => panic!("the run should hang, got {result:?}"),
        _ = async { for _ in 0..4 { rx.recv().await; } } => {}
    }
    let state = checkpoint::load(&dir.join("jobs.jsonl.spillway-ckpt"))
        .unwrap()
        .unwrap();
    assert_eq!((state.acked.len(), state.in_doubt.len()), (30, 40));

    let summary = backfill::submit(&opts, client.clone()).await.unwrap();
    assert_eq!((summary.sent, summary.skipped), (70, 30));
    (lines, receive_all(&client, &url).await, summary.maybe_twice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_on_a_standard_queue_repeats_only_the_in_doubt_jobs() {
    let (lines, messages, maybe_twice) = resume_after_in_process_crash("crash-standard").await;
    assert_eq!(maybe_twice, 40);
    let counts = body_counts(&messages);
    assert!(
        lines.iter().all(|l| counts.contains_key(l)),
        "a job was lost"
    );
    let twice = counts.values().filter(|&&c| c == 2).count();
    assert_eq!((twice, messages.len()), (40, 140));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_on_a_fifo_queue_delivers_exactly_once() {
    let (lines, messages, maybe_twice) = resume_after_in_process_crash("crash.fifo").await;
    assert_eq!(maybe_twice, 0);
    assert_each_exactly_once(&lines, &messages);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_against_a_modified_input_is_refused() {
    let server = moto::server();
    let client = server.sqs_client(&moto::fresh_account());
    let url = create_queue(&client, "modified").await;
    let dir = test_dir("modified");
    let input = dir.join("jobs.jsonl");
    write_jobs(&input, 12);
    backfill::submit(&options(&input, &url), client.clone())
        .await
        .unwrap();
    let mut text = std::fs::read_to_string(&input).unwrap();
    text = text.replacen("\"frame\":1,", "\"frame\":100,", 1);
    std::fs::write(&input, text).unwrap();
    let err = backfill::submit(&options(&input, &url), client.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(err, BackfillError::CheckpointMismatch { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("different version of the input"),
        "{err}"
    );
    assert_eq!(receive_all(&client, &url).await.len(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_edited_to_claim_more_than_its_input_is_refused() {
    // Reproduction (issue "hostile input", finding 9): a hand-made checkpoint acknowledging
    // line 301 of a 300-job input was trusted.
    let server = moto::server();
    let client = server.sqs_client(&moto::fresh_account());
    let url = create_queue(&client, "edited").await;
    let dir = test_dir("edited");
    let input = dir.join("jobs.jsonl");
    write_jobs(&input, 12);
    backfill::submit(&options(&input, &url), client.clone())
        .await
        .unwrap();
    let path = dir.join("jobs.jsonl.spillway-ckpt");
    let written = std::fs::read_to_string(&path).unwrap();
    let records: Vec<&str> = written.lines().collect();
    let (done, rest) = records.split_last().unwrap();
    assert!(done.contains("\"done\""), "{done}");

    // A line acknowledged that holds no job of the input, and no done record: refused.
    let edited = format!(
        "{}\n{{\"record\":\"acked\",\"batch\":99,\"lines\":[301]}}\n",
        rest.join("\n")
    );
    std::fs::write(&path, edited).unwrap();
    let err = backfill::submit(&options(&input, &url), client.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(err, BackfillError::CheckpointMismatch { .. }) && err.to_string().contains("301"),
        "{err}"
    );
    // A done record claiming more than was acknowledged: refused, with its line.
    let edited = format!(
        "{}\n{}\n",
        rest.join("\n"),
        done.replace("\"acked\":12", "\"acked\":301")
    );
    std::fs::write(&path, edited).unwrap();
    let err = backfill::submit(&options(&input, &url), client.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(err, BackfillError::CheckpointCorrupt { line, .. } if line == records.len()),
        "{err}"
    );
    // Nothing was sent again.
    assert_eq!(receive_all(&client, &url).await.len(), 12);
}
