//! Tests of the real `spillway backfill` binary against a local moto server: SIGKILL mid-run and
//! resume (standard and FIFO), `status`, `--dry-run` making no call, and giving up on an
//! unreachable endpoint with the checkpoint flushed.

use crate::support;

use std::process::{Command, Stdio};
use std::time::Duration;

use spillway::backfill::checkpoint;
use support::jobfiles::{assert_each_exactly_once, body_counts, test_dir, write_jobs};
use support::moto::{self, DEFAULT_ACCOUNT};
use support::queues::{create_queue, receive_all};

fn spillway(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spillway"));
    command.args(args).envs(moto::server().child_env());
    command.env("RUST_LOG", "warn");
    command
}

/// Runs the real binary with a slow rate, SIGKILLs it once the checkpoint shows some acks, and
/// reruns the same command. Returns (lines, messages, what the resume said might repeat).
fn kill_and_resume(queue: &str) -> (Vec<String>, Vec<aws_sdk_sqs::types::Message>, usize) {
    let server = moto::server();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = server.sqs_client(DEFAULT_ACCOUNT);
    let suffix = if queue.ends_with("-fifo") {
        ".fifo"
    } else {
        ""
    };
    let name = format!("{queue}-{}{suffix}", std::process::id());
    let url = runtime.block_on(create_queue(&client, &name));
    let dir = test_dir(queue);
    let input = dir.join("jobs.jsonl");
    let lines = write_jobs(&input, 300);
    let ckpt = dir.join("jobs.jsonl.spillway-ckpt");
    let input_arg = input.to_str().unwrap();
    let args = [
        "backfill",
        "submit",
        input_arg,
        "--queue-url",
        &url,
        "--rate",
        "150/s",
    ];

    let mut child = spillway(&args).stdout(Stdio::null()).spawn().unwrap();
    let deadline = spillway::clock::monotonic_now() + Duration::from_secs(60);
    loop {
        let acked = checkpoint::load(&ckpt)
            .ok()
            .flatten()
            .map_or(0, |s| s.acked.len());
        if acked >= 60 {
            break;
        }
        assert!(
            spillway::clock::monotonic_now() < deadline,
            "no progress in the checkpoint"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let state = checkpoint::load(&ckpt).unwrap().unwrap();
    assert!(
        !state.finished(),
        "killed too late: {} acked",
        state.acked.len()
    );

    let output = spillway(&args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("resuming from"), "{stdout}");
    let announced = stdout.split_once("up to ").map_or(0, |(_, rest)| {
        rest.split(' ').next().unwrap().parse().unwrap()
    });

    let status = spillway(&["backfill", "status", "--checkpoint", ckpt.to_str().unwrap()])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&status.stdout);
    assert!(
        report.contains("total: 300") && report.contains("acked: 300"),
        "{report}"
    );
    assert!(report.contains("finished: yes"), "{report}");
    (
        lines,
        runtime.block_on(receive_all(&client, &url)),
        announced,
    )
}

#[test]
fn the_killed_binary_resumes_on_a_standard_queue_with_at_most_the_announced_repeats() {
    let (lines, messages, announced) = kill_and_resume("kill-standard");
    let counts = body_counts(&messages);
    assert!(
        lines.iter().all(|l| counts.contains_key(l)),
        "a job was lost"
    );
    let repeats: usize = counts.values().map(|c| c - 1).sum();
    eprintln!("killed run: {repeats} repeats, {announced} announced as possible");
    assert!(
        repeats <= announced,
        "{repeats} repeats, {announced} announced"
    );
}

#[test]
fn the_killed_binary_resumes_on_a_fifo_queue_exactly_once() {
    let (lines, messages, _) = kill_and_resume("kill-fifo");
    assert_each_exactly_once(&lines, &messages);
}

#[test]
fn a_dry_run_makes_no_sqs_call() {
    let dir = test_dir("dry-run");
    let input = dir.join("jobs.jsonl");
    write_jobs(&input, 25);
    // Nothing listens on port 9: any SQS call would fail.
    let url = "http://127.0.0.1:9/123456789012/nowhere";
    let output = spillway(&[
        "backfill",
        "submit",
        input.to_str().unwrap(),
        "--queue-url",
        url,
        "--dry-run",
    ])
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("would send 25 message(s) in 3 SendMessageBatch call(s)"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("batch ")).count(),
        3
    );
    assert!(!dir.join("jobs.jsonl.spillway-ckpt").exists());
}

#[test]
fn a_missing_queue_is_permanent_and_an_unreachable_endpoint_gives_up() {
    let dir = test_dir("give-up");
    let input = dir.join("jobs.jsonl");
    write_jobs(&input, 25);
    let input = input.to_str().unwrap();
    let url = format!(
        "{}/{DEFAULT_ACCOUNT}/no-such-queue",
        moto::server().endpoint()
    );
    let missing = dir.join("missing.ckpt");
    let output = spillway(&[
        "backfill",
        "submit",
        input,
        "--queue-url",
        &url,
        "--checkpoint",
        missing.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("NonExistentQueue"), "{stderr}");
    // SQS said no: those jobs are known not to be in any queue.
    let state = checkpoint::load(&missing).unwrap().unwrap();
    assert_eq!((state.acked.len(), state.in_doubt.len()), (0, 0));

    // Nothing listens on port 9: every call fails to connect, which counts as transient.
    let unreachable = dir.join("unreachable.ckpt");
    let started = spillway::clock::monotonic_now();
    let output = spillway(&[
        "backfill",
        "submit",
        input,
        "--queue-url",
        &url,
        "--max-attempts",
        "2",
        "--checkpoint",
        unreachable.to_str().unwrap(),
    ])
    .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("gave up after 2 attempts"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let state = checkpoint::load(&unreachable).unwrap().unwrap();
    assert_eq!((state.acked.len(), state.in_doubt.len()), (0, 25));
    let status = spillway(&[
        "backfill",
        "status",
        "--checkpoint",
        unreachable.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let report = String::from_utf8_lossy(&status.stdout);
    assert!(
        report.contains("in-doubt: 25") && report.contains("finished: no"),
        "{report}"
    );
}

/// Reproduction (issue "hostile input"): `backfill submit --rejects` naming the input file
/// overwrote the input (exit 0, data lost). The same for `--checkpoint`, and through another
/// spelling of the path or a hard link.
#[test]
fn rejects_or_checkpoint_naming_the_input_are_refused_and_the_input_is_kept() {
    let dir = test_dir("rejects-input");
    let input = dir.join("jobs.jsonl");
    write_jobs(&input, 5);
    let mut text = std::fs::read_to_string(&input).unwrap();
    text.push_str("not json\n");
    std::fs::write(&input, &text).unwrap();
    let other_spelling = dir.join(".").join("jobs.jsonl");
    let hard_link = dir.join("linked.jsonl");
    let _ = std::fs::remove_file(&hard_link);
    std::fs::hard_link(&input, &hard_link).unwrap();
    let url = "http://127.0.0.1:9/123456789012/nowhere";
    for (flag, path) in [
        ("--rejects", &input),
        ("--rejects", &other_spelling),
        ("--rejects", &hard_link),
        ("--checkpoint", &input),
        ("--checkpoint", &hard_link),
    ] {
        let output = spillway(&[
            "backfill",
            "submit",
            input.to_str().unwrap(),
            "--queue-url",
            url,
            "--skip-invalid",
            flag,
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{flag} {}: {stderr}",
            path.display()
        );
        assert!(stderr.contains("is the input file itself"), "{stderr}");
        assert_eq!(
            std::fs::read_to_string(&input).unwrap(),
            text,
            "the input is intact"
        );
    }
}
