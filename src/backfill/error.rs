//! `BackfillError`: the one error type of the backfill seam, with variants named by how the
//! caller should react (fix the input, fix the checkpoint, fix the queue, rerun later).

use std::fmt;
use std::path::PathBuf;

use super::jobs::Problem;

/// Everything that can stop `spillway backfill`. Every variant that can happen after sending has
/// started is raised only after the checkpoint has been flushed, so rerunning the same command
/// resumes without losing or needlessly repeating acknowledged jobs.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// The input file has bad lines; nothing was sent. Fix them, or pass `--skip-invalid`.
    #[error("{} has {} invalid line(s); nothing was sent (fix them or pass --skip-invalid):\n{}", file.display(), problems.len(), ProblemList(file, problems))]
    InvalidInput {
        file: PathBuf,
        problems: Vec<Problem>,
    },

    /// The checkpoint belongs to another input file, queue or group: refuse to resume rather
    /// than skip the wrong jobs. Use the matching input, or another `--checkpoint` path.
    #[error("checkpoint {} does not match this run: {reason}", path.display())]
    CheckpointMismatch { path: PathBuf, reason: String },

    /// The checkpoint file cannot be understood (not a spillway checkpoint, or damaged before
    /// its last line). Inspect it; it is never rewritten automatically.
    #[error("checkpoint {} is unreadable at line {line}: {reason}", path.display())]
    CheckpointCorrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    /// SQS refused some jobs for a reason that retrying cannot fix (a sender fault, e.g. a
    /// message the queue does not accept). Acknowledged jobs are checkpointed; fix the cause and
    /// rerun to send the rest.
    #[error("SQS permanently refused {} job(s); fix the cause and rerun to resume:\n{}", failures.len(), FailureList(failures))]
    Permanent { failures: Vec<EntryFailure> },

    /// SQS kept failing transiently (throttling, 5xx, network) past the retry budget.
    /// Acknowledged jobs are checkpointed; rerun the same command later to resume.
    #[error(
        "gave up after {attempts} attempts on a transient error: {message}; rerun the same command to resume"
    )]
    Transient { attempts: u32, message: String },

    /// Stopped by Ctrl-C after in-flight batches finished; rerun the same command to resume.
    #[error("interrupted; in-flight batches were checkpointed; rerun the same command to resume")]
    Interrupted,

    /// A command-line value is unusable (e.g. a malformed `--rate` or queue URL).
    #[error("{0}")]
    Usage(String),

    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl BackfillError {
    /// The process exit code for this error: 2 usage, 3 invalid input, 4 checkpoint problem,
    /// 5 permanent SQS refusal, 6 transient give-up, 130 interrupted, 1 local I/O.
    pub fn exit_code(&self) -> u8 {
        match self {
            BackfillError::Usage(_) => 2,
            BackfillError::InvalidInput { .. } => 3,
            BackfillError::CheckpointMismatch { .. } | BackfillError::CheckpointCorrupt { .. } => 4,
            BackfillError::Permanent { .. } => 5,
            BackfillError::Transient { .. } => 6,
            BackfillError::Interrupted => 130,
            BackfillError::Io { .. } => 1,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BackfillError::Io {
            path: path.into(),
            source,
        }
    }
}

/// One job that SQS refused for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFailure {
    /// 1-based line of the job in the input file.
    pub line: usize,
    pub job_id: String,
    /// SQS's error code, e.g. `InvalidParameterValue`.
    pub code: String,
    pub message: String,
}

struct ProblemList<'a>(&'a std::path::Path, &'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.1.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  {}:{}: {}", self.0.display(), p.line, p.reason)?;
        }
        Ok(())
    }
}

struct FailureList<'a>(&'a [EntryFailure]);

impl fmt::Display for FailureList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 20;
        for (i, e) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "  line {} (id {}): {}: {}",
                e.line, e.job_id, e.code, e.message
            )?;
        }
        if self.0.len() > SHOWN {
            write!(f, "\n  ... and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}
