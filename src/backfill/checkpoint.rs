//! The resumable-run checkpoint: an append-only JSON Lines file recording which input lines SQS
//! acknowledged, and which were sent but not (yet) acknowledged.
//!
//! Layout, one record per line:
//! - `{"record":"header",...}` once: the input file's name, size and SHA-256, the queue URL and
//!   FIFO group, so a resume against a different file or queue is refused.
//! - `{"record":"run",...}` at the start of each run (first run or resume).
//! - `{"record":"sent","batch":B,"lines":[..]}` durable *before* the SendMessageBatch call.
//! - `{"record":"acked","batch":B,"lines":[..]}` durable *after* SQS acknowledged those entries
//!   and before the batch counts as done.
//! - `{"record":"refused","batch":B,"lines":[..]}` for lines SQS explicitly did not enqueue.
//! - `{"record":"done",...}` when every job is acknowledged.
//!
//! Lines sent but never acknowledged are "in doubt": they may or may not be in the queue. This
//! module reads and checks checkpoints; `checkpoint_writer` appends to them durably. A torn last
//! line (a crash mid-write) is ignored, and cut off on resume.

use std::collections::HashSet;
use std::io;
use std::path::Path;

use super::error::BackfillError;
use serde::{Deserialize, Serialize};

/// The checkpoint format version written in the header.
pub const FORMAT_VERSION: u32 = 1;

/// What a checkpoint is tied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub version: u32,
    /// The input file's name as given on the command line.
    pub input: String,
    pub input_size: u64,
    pub input_sha256: String,
    pub queue_url: String,
    pub fifo: bool,
    /// The FIFO message group (None on a standard queue).
    pub group_id: Option<String>,
    /// Valid jobs in the input (rejected lines excluded).
    pub total_jobs: usize,
}

/// One checkpoint line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Header(Header),
    Run {
        started_unix_s: u64,
        already_acked: usize,
        in_doubt: usize,
    },
    Sent {
        batch: u64,
        lines: Vec<usize>,
    },
    Acked {
        batch: u64,
        lines: Vec<usize>,
    },
    /// SQS explicitly refused these lines (they are not in the queue, and not acknowledged).
    Refused {
        batch: u64,
        lines: Vec<usize>,
    },
    Done {
        acked: usize,
    },
}

/// A checkpoint as read back from disk.
#[derive(Debug, Clone)]
pub struct CheckpointState {
    pub header: Header,
    /// Lines SQS acknowledged.
    pub acked: HashSet<usize>,
    /// Lines sent but never acknowledged: they may or may not be in the queue.
    pub in_doubt: HashSet<usize>,
    /// Runs started so far (1 after the first run).
    pub runs: usize,
    /// Sum over resumes of the lines in doubt at that resume: an upper bound on the jobs that
    /// a standard queue may hold twice because of interrupted runs.
    pub resumed_in_doubt: usize,
    /// A `done` record was written.
    pub done: bool,
    /// Byte length of the complete records (a torn tail after it is ignored).
    pub(super) valid_len: u64,
}

impl CheckpointState {
    /// Whether every job was acknowledged.
    pub fn finished(&self) -> bool {
        self.done || self.acked.len() >= self.header.total_jobs
    }
}

/// Reads a checkpoint; `Ok(None)` if the file does not exist.
pub fn load(path: &Path) -> Result<Option<CheckpointState>, BackfillError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(BackfillError::io(path, e)),
    };
    parse(path, &bytes).map(Some)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<CheckpointState, BackfillError> {
    let corrupt = |line: usize, reason: String| BackfillError::CheckpointCorrupt {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut state: Option<CheckpointState> = None;
    let mut offset = 0usize;
    let mut pieces = bytes
        .split_inclusive(|&b| b == b'\n')
        .enumerate()
        .peekable();
    while let Some((index, piece)) = pieces.next() {
        let is_last = pieces.peek().is_none();
        let complete = piece.ends_with(b"\n");
        let record = serde_json::from_slice::<Record>(piece);
        let record = match record {
            Ok(record) if complete => record,
            // A crash can tear only the last line: ignore it (its batch never counted as done).
            _ if is_last && state.is_some() => break,
            Ok(_) => return Err(corrupt(index + 1, "truncated record".into())),
            Err(e) => return Err(corrupt(index + 1, e.to_string())),
        };
        offset += piece.len();
        match (record, state.as_mut()) {
            (Record::Header(header), None) => {
                if header.version != FORMAT_VERSION {
                    return Err(corrupt(
                        1,
                        format!("format version {} is not supported", header.version),
                    ));
                }
                state = Some(CheckpointState {
                    header,
                    acked: HashSet::new(),
                    in_doubt: HashSet::new(),
                    runs: 0,
                    resumed_in_doubt: 0,
                    done: false,
                    valid_len: 0,
                });
            }
            (_, None) => return Err(corrupt(1, "no header: not a spillway checkpoint".into())),
            (Record::Header(_), Some(_)) => {
                return Err(corrupt(index + 1, "second header".into()));
            }
            (Record::Run { in_doubt, .. }, Some(s)) => {
                s.runs += 1;
                s.resumed_in_doubt += in_doubt;
            }
            (Record::Sent { lines, .. }, Some(s)) => {
                s.in_doubt
                    .extend(lines.into_iter().filter(|l| !s.acked.contains(l)));
            }
            (Record::Acked { lines, .. }, Some(s)) => {
                for line in lines {
                    s.in_doubt.remove(&line);
                    s.acked.insert(line);
                }
            }
            (Record::Refused { lines, .. }, Some(s)) => {
                for line in lines {
                    s.in_doubt.remove(&line);
                }
            }
            (Record::Done { acked }, Some(s)) => {
                if acked != s.acked.len() || acked < s.header.total_jobs {
                    return Err(corrupt(
                        index + 1,
                        format!(
                            "done with {acked} acknowledged, but its records acknowledge {} of \
                             the input's {} jobs",
                            s.acked.len(),
                            s.header.total_jobs
                        ),
                    ));
                }
                s.done = true;
            }
        }
    }
    let mut state = state.ok_or_else(|| corrupt(1, "empty file".into()))?;
    state.valid_len = offset as u64;
    Ok(state)
}

/// Checks that `state` was written for this input, queue and group.
pub fn check_matches(path: &Path, found: &Header, want: &Header) -> Result<(), BackfillError> {
    let mismatch = |reason: String| BackfillError::CheckpointMismatch {
        path: path.to_owned(),
        reason,
    };
    if found.input_size != want.input_size || found.input_sha256 != want.input_sha256 {
        return Err(mismatch(format!(
            "it was written for a different version of the input ({} bytes, sha256 {}); \
             this input is {} bytes, sha256 {}. Resume with the original file, or start over \
             with another --checkpoint",
            found.input_size, found.input_sha256, want.input_size, want.input_sha256
        )));
    }
    if found.queue_url != want.queue_url {
        return Err(mismatch(format!(
            "it was written for queue {}, not {}",
            found.queue_url, want.queue_url
        )));
    }
    if found.group_id != want.group_id {
        return Err(mismatch(format!(
            "it was written for message group {:?}, not {:?}",
            found.group_id, want.group_id
        )));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A checkpoint header for tests (also used by `checkpoint_writer`'s tests).
    pub(crate) fn header() -> Header {
        Header {
            version: FORMAT_VERSION,
            input: "jobs.jsonl".into(),
            input_size: 10,
            input_sha256: "ab".into(),
            queue_url: "http://q".into(),
            fifo: false,
            group_id: None,
            total_jobs: 5,
        }
    }

    /// A path in a per-process temporary directory.
    pub(crate) fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("spillway-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn damage_before_the_last_line_is_corruption() {
        let path = temp_path("corrupt.spillway-ckpt");
        let head = serde_json::to_string(&Record::Header(header())).unwrap();
        std::fs::write(
            &path,
            format!("{head}\nnot json\n{{\"record\":\"done\",\"acked\":1}}\n"),
        )
        .unwrap();
        let err = load(&path).unwrap_err();
        assert!(
            matches!(err, BackfillError::CheckpointCorrupt { line: 2, .. }),
            "{err}"
        );
        std::fs::write(&path, "{\"record\":\"done\",\"acked\":1}\n").unwrap();
        assert!(matches!(
            load(&path),
            Err(BackfillError::CheckpointCorrupt { .. })
        ));
    }

    #[test]
    fn a_different_input_or_queue_is_refused() {
        let path = Path::new("c");
        let mut other = header();
        other.input_sha256 = "cd".into();
        let err = check_matches(path, &header(), &other).unwrap_err();
        assert!(
            err.to_string().contains("different version of the input"),
            "{err}"
        );
        let mut other = header();
        other.queue_url = "http://elsewhere".into();
        assert!(check_matches(path, &header(), &other).is_err());
        assert!(check_matches(path, &header(), &header()).is_ok());
    }
}
