//! The durable, append-only side of the checkpoint: every record is written and fsync'd before
//! its writer is told it is on disk, and concurrent batches share one fsync (group commit) on a
//! dedicated thread.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use tokio::sync::oneshot;

use super::checkpoint::{CheckpointState, Header, Record};
use super::error::BackfillError;

type Pending = (String, oneshot::Sender<Result<(), String>>);

/// Appends records durably from any task; concurrent writes share one fsync.
pub struct CheckpointWriter {
    path: PathBuf,
    tx: Option<mpsc::Sender<Pending>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CheckpointWriter {
    /// Starts a new checkpoint holding only `header` (atomically: written aside, then renamed).
    pub fn create(path: &Path, header: Header) -> Result<Self, BackfillError> {
        let io_err = |e| BackfillError::io(path, e);
        let aside = path.with_extension("spillway-ckpt.tmp");
        let mut line = serde_json::to_string(&Record::Header(header)).expect("serializable");
        line.push('\n');
        let mut file = File::create(&aside).map_err(io_err)?;
        file.write_all(line.as_bytes()).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        std::fs::rename(&aside, path).map_err(io_err)?;
        sync_parent_dir(path);
        Self::open(path, line.len() as u64)
    }

    /// Reopens an existing checkpoint for appending, cutting off any torn last line.
    pub fn resume(path: &Path, state: &CheckpointState) -> Result<Self, BackfillError> {
        Self::open(path, state.valid_len)
    }

    fn open(path: &Path, valid_len: u64) -> Result<Self, BackfillError> {
        let io_err = |e| BackfillError::io(path, e);
        let file = OpenOptions::new().write(true).open(path).map_err(io_err)?;
        file.set_len(valid_len).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        drop(file);
        let file = OpenOptions::new().append(true).open(path).map_err(io_err)?;
        let (tx, rx) = mpsc::channel::<Pending>();
        let thread = std::thread::Builder::new()
            .name("backfill-checkpoint".into())
            .spawn(move || group_commit(file, rx))
            .map_err(io_err)?;
        Ok(CheckpointWriter {
            path: path.to_owned(),
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Appends `record`; returns once it is on disk (written and fsync'd).
    pub async fn write(&self, record: &Record) -> Result<(), BackfillError> {
        let mut line = serde_json::to_string(record).expect("serializable");
        line.push('\n');
        let (done_tx, done_rx) = oneshot::channel();
        let closed =
            || BackfillError::io(&self.path, io::Error::other("checkpoint writer stopped"));
        let tx = self.tx.as_ref().ok_or_else(closed)?;
        tx.send((line, done_tx)).map_err(|_| closed())?;
        match done_rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(BackfillError::io(&self.path, io::Error::other(message))),
            Err(_) => Err(closed()),
        }
    }
}

impl Drop for CheckpointWriter {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes every queued record, fsyncs once, then tells every waiter.
fn group_commit(mut file: File, rx: mpsc::Receiver<Pending>) {
    while let Ok(first) = rx.recv() {
        let mut waiting = vec![first];
        waiting.extend(rx.try_iter());
        let mut buffer = String::new();
        for (line, _) in &waiting {
            buffer.push_str(line);
        }
        let result = file
            .write_all(buffer.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| e.to_string());
        for (_, done) in waiting {
            let _ = done.send(result.clone());
        }
    }
}

fn sync_parent_dir(path: &Path) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backfill::checkpoint::load;
    use crate::backfill::checkpoint::tests::{header, temp_path};
    use std::collections::HashSet;

    #[tokio::test]
    async fn records_round_trip_and_in_doubt_is_sent_minus_acked() {
        let path = temp_path("round-trip.spillway-ckpt");
        let writer = CheckpointWriter::create(&path, header()).unwrap();
        let run = Record::Run {
            started_unix_s: 1,
            already_acked: 0,
            in_doubt: 0,
        };
        writer.write(&run).await.unwrap();
        let sent = |batch, lines: &[usize]| Record::Sent {
            batch,
            lines: lines.to_vec(),
        };
        writer.write(&sent(0, &[1, 2])).await.unwrap();
        writer.write(&sent(1, &[3, 4])).await.unwrap();
        let acked = Record::Acked {
            batch: 0,
            lines: vec![1, 2],
        };
        writer.write(&acked).await.unwrap();
        drop(writer);
        let state = load(&path).unwrap().unwrap();
        assert_eq!(state.header, header());
        assert_eq!(state.runs, 1);
        assert_eq!(state.acked, HashSet::from([1, 2]));
        assert_eq!(state.in_doubt, HashSet::from([3, 4]));
        assert!(!state.finished());
    }

    #[tokio::test]
    async fn a_torn_last_line_is_ignored_and_cut_off_on_resume() {
        let path = temp_path("torn.spillway-ckpt");
        let writer = CheckpointWriter::create(&path, header()).unwrap();
        let acked = Record::Acked {
            batch: 0,
            lines: vec![1],
        };
        writer.write(&acked).await.unwrap();
        drop(writer);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"record\":\"acked\",\"batch\":1,\"li")
            .unwrap();
        drop(file);
        let state = load(&path).unwrap().unwrap();
        assert_eq!(state.acked, HashSet::from([1]));
        let writer = CheckpointWriter::resume(&path, &state).unwrap();
        let acked = Record::Acked {
            batch: 1,
            lines: vec![2],
        };
        writer.write(&acked).await.unwrap();
        drop(writer);
        let state = load(&path).unwrap().unwrap();
        assert_eq!(state.acked, HashSet::from([1, 2]));
    }
}
