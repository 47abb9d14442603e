//! One job on the worker: its SQS message's body written to a file, the operator's command run
//! on it (argv, no shell; `{job_file}` replaced by the file's path, `SPILLWAY_JOB_FILE` and
//! `SPILLWAY_JOB_ID` in its environment), the message kept invisible while the command runs,
//! then deleted when it exits 0, or returned to the queue at once (visibility 0) otherwise. The
//! command's output goes to the agent's log with the job's id.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::aws;

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The command exited 0 and the message was deleted.
    Done,
    /// The command failed (or could not start): the message is visible again.
    Failed,
    /// The agent stopped it (shutdown past its grace period): the message is visible again.
    Stopped,
}

/// A received message: where it came from and what it says.
#[derive(Debug, Clone)]
pub struct Taken {
    pub queue_url: String,
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    /// SQS's `SentTimestamp`: when the job was queued.
    pub sent_at: Option<crate::model::Timestamp>,
}

/// What a job needs from the agent.
pub struct JobContext<'a> {
    pub sqs: &'a aws_sdk_sqs::Client,
    /// The command, `{job_file}` not yet replaced.
    pub command: &'a [String],
    /// Where job files are written.
    pub work_dir: &'a Path,
    /// The visibility timeout kept on the message while the command runs, seconds.
    pub visibility_s: i32,
    /// Turns true when the agent stops the job.
    pub stop: watch::Receiver<bool>,
}

/// The argv for `job_file`: every `{job_file}` in `command` replaced by its path.
pub fn argv(command: &[String], job_file: &Path) -> Vec<String> {
    let path = job_file.display().to_string();
    command
        .iter()
        .map(|a| a.replace("{job_file}", &path))
        .collect()
}

/// A file name for a message id (SQS ids are UUIDs; anything else is reduced to safe bytes).
fn file_for(work_dir: &Path, message_id: &str) -> PathBuf {
    let safe: String = message_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    work_dir.join(format!("spillway-job-{safe}"))
}

/// Runs `job` to its end; the command's exit status when it exited.
pub async fn run(job: Taken, cx: JobContext<'_>) -> (Outcome, Option<i32>) {
    let JobContext {
        sqs,
        command,
        work_dir,
        visibility_s,
        mut stop,
    } = cx;
    let file = file_for(work_dir, &job.message_id);
    if let Err(e) = tokio::fs::write(&file, job.body.as_bytes()).await {
        warn!(job = %job.message_id, path = %file.display(), error = %e, "Cannot write the job file; returning the job.");
        release(sqs, &job).await;
        return (Outcome::Failed, None);
    }
    let argv = argv(command, &file);
    let child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .env("SPILLWAY_JOB_FILE", &file)
        .env("SPILLWAY_JOB_ID", &job.message_id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: stopping the job stops everything the command started.
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            warn!(job = %job.message_id, program = %argv[0], error = %e, "Cannot start the command; returning the job.");
            let _ = tokio::fs::remove_file(&file).await;
            release(sqs, &job).await;
            return (Outcome::Failed, None);
        }
    };
    let logs = [
        child
            .stdout
            .take()
            .map(|o| log_lines(o, job.message_id.clone(), "stdout")),
        child
            .stderr
            .take()
            .map(|e| log_lines(e, job.message_id.clone(), "stderr")),
    ];
    let half = Duration::from_secs((visibility_s.max(2) / 2) as u64);
    let mut exit = None;
    let outcome = loop {
        tokio::select! {
            status = child.wait() => {
                break match status {
                    Ok(s) if s.success() => { exit = s.code(); Outcome::Done }
                    Ok(s) => {
                        exit = s.code();
                        warn!(job = %job.message_id, status = %s, "The command failed; returning the job.");
                        Outcome::Failed
                    }
                    Err(e) => {
                        warn!(job = %job.message_id, error = %e, "Lost the command; returning the job.");
                        Outcome::Failed
                    }
                };
            }
            _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {
                kill_group(child.id());
                let _ = child.kill().await;
                warn!(job = %job.message_id, "Stopped before the end; returning the job.");
                break Outcome::Stopped;
            }
            () = tokio::time::sleep(half) => {
                // A running job never reappears in the queue.
                if let Err(e) = sqs
                    .change_message_visibility()
                    .queue_url(&job.queue_url)
                    .receipt_handle(&job.receipt)
                    .visibility_timeout(visibility_s)
                    .send()
                    .await
                {
                    warn!(job = %job.message_id, error = %aws::judge(&e).message, "Cannot extend the job's visibility.");
                }
            }
        }
    };
    for task in logs.into_iter().flatten() {
        // A process the command left behind may hold its output open: do not wait on it.
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    let _ = tokio::fs::remove_file(&file).await;
    match outcome {
        Outcome::Done => {
            if let Err(e) = sqs
                .delete_message()
                .queue_url(&job.queue_url)
                .receipt_handle(&job.receipt)
                .send()
                .await
            {
                warn!(job = %job.message_id, error = %aws::judge(&e).message, "DeleteMessage failed; the job will run again.");
            }
            info!(job = %job.message_id, "Job done.");
        }
        Outcome::Failed | Outcome::Stopped => release(sqs, &job).await,
    }
    (outcome, exit)
}

/// Kills the process group `pid` leads (the command and whatever it started), with the
/// system's `kill` program: spillway has no unsafe code to call kill(2) itself.
fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid else { return };
    let killed = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !killed.is_ok_and(|s| s.success()) {
        warn!(
            pid,
            "Cannot kill the command's process group; only the command itself is stopped."
        );
    }
}

/// Makes the job's message visible again at once.
pub async fn release(sqs: &aws_sdk_sqs::Client, job: &Taken) {
    if let Err(e) = sqs
        .change_message_visibility()
        .queue_url(&job.queue_url)
        .receipt_handle(&job.receipt)
        .visibility_timeout(0)
        .send()
        .await
    {
        warn!(job = %job.message_id, error = %aws::judge(&e).message, "Cannot return the job; it reappears when its visibility runs out.");
    }
}

/// Logs each line the command writes, with the job's id.
fn log_lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    job: String,
    from: &'static str,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            // Escaped (Debug form) so that a command cannot forge log lines.
            info!(job = %job, stream = from, line = ?line, "Command output.");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_file_replaces_its_placeholder_in_every_argument() {
        let cmd: Vec<String> = ["render", "--job-file", "{job_file}", "--out={job_file}.png"]
            .map(String::from)
            .into();
        let a = argv(&cmd, Path::new("/tmp/j"));
        assert_eq!(a, ["render", "--job-file", "/tmp/j", "--out=/tmp/j.png"]);
    }

    #[test]
    fn message_ids_become_safe_file_names() {
        let f = file_for(Path::new("/w"), "../../etc/passwd");
        assert_eq!(f, Path::new("/w/spillway-job-______etc_passwd"));
    }
}
