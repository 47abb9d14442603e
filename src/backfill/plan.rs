//! Preparing a submit run without sending anything: read and validate the input, write the
//! rejects file, match an existing checkpoint, and cut the remaining jobs into batches. Also the
//! `--dry-run` report.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::SubmitOptions;
use super::checkpoint::{self, CheckpointState, FORMAT_VERSION, Header};
use super::error::BackfillError;
use super::jobs::{self, Job, MAX_MESSAGE_BYTES};
use super::send::MAX_BATCH_ENTRIES;
use super::sqs::is_fifo;

/// Up to ten jobs sent in one `SendMessageBatch` call.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Sequence number within this run (informational, in checkpoint records).
    pub number: u64,
    pub jobs: Vec<Job>,
}

/// Everything a run needs, decided before the first call.
#[derive(Debug)]
pub struct Plan {
    /// The `spillway-backfill` attribute value: the input file's name.
    pub source_name: String,
    pub header: Header,
    pub checkpoint_path: PathBuf,
    /// The checkpoint of earlier runs, if this is a resume.
    pub existing: Option<CheckpointState>,
    pub batches: Vec<Batch>,
    /// Jobs to send in this run.
    pub to_send: usize,
    /// Jobs skipped because the checkpoint says SQS acknowledged them.
    pub skipped: usize,
    /// Jobs sent but not acknowledged by an earlier run, sent again now.
    pub in_doubt: usize,
    /// Invalid lines (only with `--skip-invalid`).
    pub rejected: Vec<jobs::Problem>,
    pub rejects_path: PathBuf,
}

/// `path` with `suffix` appended to its file name (`jobs.jsonl` -> `jobs.jsonl.spillway-ckpt`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether `a` names the file `b` is (the same path, or the same file through another path).
fn same_file(a: &Path, b: &Path) -> bool {
    // The same inode is the same file, whatever the spelling (a hard link, a symlink, `..`).
    #[cfg(unix)]
    if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        use std::os::unix::fs::MetadataExt;
        return (x.dev(), x.ino()) == (y.dev(), y.ino());
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Reads, validates and plans. Writes only the rejects file (and not in a dry run).
pub fn prepare(options: &SubmitOptions) -> Result<Plan, BackfillError> {
    let input = &options.input;
    let bytes = std::fs::read(input).map_err(|e| BackfillError::io(input, e))?;
    let source_name = super::source_name(input);
    let parsed = jobs::parse_jobs(&bytes, &source_name);
    if !parsed.problems.is_empty() && !options.skip_invalid {
        return Err(BackfillError::InvalidInput {
            file: input.clone(),
            problems: parsed.problems,
        });
    }
    let rejects_path = options
        .rejects
        .clone()
        .unwrap_or_else(|| with_suffix(input, ".rejects.jsonl"));
    let checkpoint_path = options
        .checkpoint
        .clone()
        .unwrap_or_else(|| with_suffix(input, ".spillway-ckpt"));
    // Writing either over the input would lose the jobs it holds.
    for (flag, path) in [
        ("--rejects", &rejects_path),
        ("--checkpoint", &checkpoint_path),
    ] {
        if same_file(path, input) {
            return Err(BackfillError::Usage(format!(
                "{flag} {} is the input file itself; name another file (nothing was sent)",
                path.display()
            )));
        }
    }
    if same_file(&rejects_path, &checkpoint_path) {
        return Err(BackfillError::Usage(format!(
            "--rejects and --checkpoint are the same file ({}); name two files (nothing was sent)",
            rejects_path.display()
        )));
    }
    if !parsed.problems.is_empty() && !options.dry_run {
        jobs::write_rejects(&rejects_path, &parsed.problems)
            .map_err(|e| BackfillError::io(&rejects_path, e))?;
    }

    let fifo = is_fifo(&options.queue_url);
    let header = Header {
        version: FORMAT_VERSION,
        input: input.to_string_lossy().into_owned(),
        input_size: parsed.size,
        input_sha256: parsed.sha256.clone(),
        queue_url: options.queue_url.clone(),
        fifo,
        group_id: fifo.then(|| options.group_id.clone()),
        total_jobs: parsed.jobs.len(),
    };
    let existing = checkpoint::load(&checkpoint_path)?;
    let (acked, in_doubt) = match &existing {
        Some(state) => {
            checkpoint::check_matches(&checkpoint_path, &state.header, &header)?;
            // A checkpoint names only lines that hold jobs of this input.
            let jobs: HashSet<usize> = parsed.jobs.iter().map(|j| j.line).collect();
            let mut foreign: Vec<usize> = state
                .acked
                .iter()
                .chain(&state.in_doubt)
                .filter(|l| !jobs.contains(l))
                .copied()
                .collect();
            if !foreign.is_empty() {
                foreign.sort_unstable();
                foreign.truncate(5);
                return Err(BackfillError::CheckpointMismatch {
                    path: checkpoint_path.clone(),
                    reason: format!(
                        "it names input lines that hold no job of this input ({}); it was \
                         edited or written for another file",
                        foreign
                            .iter()
                            .map(usize::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            (state.acked.clone(), state.in_doubt.len())
        }
        None => (HashSet::new(), 0),
    };
    let remaining: Vec<Job> = parsed
        .jobs
        .into_iter()
        .filter(|j| !acked.contains(&j.line))
        .collect();
    let skipped = header.total_jobs - remaining.len();
    let to_send = remaining.len();
    Ok(Plan {
        batches: plan_batches(remaining, &source_name),
        source_name,
        header,
        checkpoint_path,
        existing,
        to_send,
        skipped,
        in_doubt,
        rejected: parsed.problems,
        rejects_path,
    })
}

/// Cuts `jobs` (in order) into batches of at most ten entries whose messages add up to at most
/// SQS's batch payload limit (the same 256 KiB as one message).
pub fn plan_batches(jobs: Vec<Job>, source_name: &str) -> Vec<Batch> {
    let mut batches: Vec<Batch> = Vec::new();
    let mut current: Vec<Job> = Vec::new();
    let mut bytes = 0;
    for job in jobs {
        let size = job.message_bytes(source_name);
        if !current.is_empty()
            && (current.len() == MAX_BATCH_ENTRIES || bytes + size > MAX_MESSAGE_BYTES)
        {
            batches.push(Batch {
                number: batches.len() as u64,
                jobs: std::mem::take(&mut current),
            });
            bytes = 0;
        }
        bytes += size;
        current.push(job);
    }
    if !current.is_empty() {
        batches.push(Batch {
            number: batches.len() as u64,
            jobs: current,
        });
    }
    batches
}

/// What a resume should tell the user before sending, if this is a resume.
pub fn resume_notice(plan: &Plan) -> Option<String> {
    let state = plan.existing.as_ref()?;
    let mut text = format!(
        "resuming from {}: {} of {} jobs already acknowledged, {} to send",
        plan.checkpoint_path.display(),
        plan.skipped,
        plan.header.total_jobs,
        plan.to_send
    );
    if plan.in_doubt > 0 {
        if plan.header.fifo {
            let _ = write!(
                text,
                "; {} job(s) were in flight when the previous run stopped and are resent: the \
                 FIFO deduplication id keeps them exactly once if the previous send was less \
                 than 5 minutes ago",
                plan.in_doubt
            );
        } else {
            let _ = write!(
                text,
                "; {n} job(s) were in flight when the previous run stopped and are resent: on \
                 this standard queue up to {n} job(s) may be delivered twice",
                n = plan.in_doubt
            );
        }
    }
    if state.finished() {
        text.push_str("; the previous run had already finished");
    }
    Some(text)
}

/// The `--dry-run` report: what would be sent, batch by batch.
pub fn dry_run_report(plan: &Plan, queue_url: &str) -> String {
    let mut out = String::new();
    let kind = match &plan.header.group_id {
        Some(group) => format!("FIFO queue, message group {group:?}"),
        None => "standard queue".to_owned(),
    };
    let _ = writeln!(
        out,
        "dry run: {} valid job(s), {} rejected, {} already acknowledged; would send {} message(s) \
         in {} SendMessageBatch call(s) to {queue_url} ({kind}); no SQS call made",
        plan.header.total_jobs,
        plan.rejected.len(),
        plan.skipped,
        plan.to_send,
        plan.batches.len(),
    );
    for problem in &plan.rejected {
        let _ = writeln!(out, "reject line {}: {}", problem.line, problem.reason);
    }
    for batch in &plan.batches {
        let (first, last) = (&batch.jobs[0], &batch.jobs[batch.jobs.len() - 1]);
        let bytes: usize = batch
            .jobs
            .iter()
            .map(|j| j.message_bytes(&plan.source_name))
            .sum();
        let _ = writeln!(
            out,
            "batch {}: {} message(s), {bytes} bytes, lines {}-{}, ids {} .. {}",
            batch.number + 1,
            batch.jobs.len(),
            first.line,
            last.line,
            first.id,
            last.id
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(line: usize, body_len: usize) -> Job {
        Job {
            line,
            id: format!("{line}"),
            body: "x".repeat(body_len),
            duration_s: None,
        }
    }

    #[test]
    fn batches_hold_at_most_ten_jobs() {
        let batches = plan_batches((1..=25).map(|l| job(l, 10)).collect(), "f");
        let sizes: Vec<usize> = batches.iter().map(|b| b.jobs.len()).collect();
        assert_eq!(sizes, [10, 10, 5]);
        assert_eq!(batches[2].number, 2);
        assert_eq!(batches[1].jobs[0].line, 11);
    }

    #[test]
    fn batches_stay_under_the_payload_limit() {
        let big = MAX_MESSAGE_BYTES / 3;
        let batches = plan_batches((1..=5).map(|l| job(l, big)).collect(), "f");
        let sizes: Vec<usize> = batches.iter().map(|b| b.jobs.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        for b in &batches {
            let total: usize = b.jobs.iter().map(|j| j.message_bytes("f")).sum();
            assert!(total <= MAX_MESSAGE_BYTES);
        }
    }

    #[test]
    fn suffixes_append_to_the_whole_name() {
        let p = with_suffix(Path::new("dir/jobs.jsonl"), ".spillway-ckpt");
        assert_eq!(p, Path::new("dir/jobs.jsonl.spillway-ckpt"));
    }
}
