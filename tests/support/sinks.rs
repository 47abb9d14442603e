//! `BatchSink` wrappers around the real `SqsSink` that inject failures: per-entry failures
//! (transient or permanent) and a crash after a call was sent but before its answer.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use spillway::backfill::jobs::Job;
use spillway::backfill::{BatchReply, BatchSink, CallError, FailedEntry, SqsSink};

/// Passes calls to SQS, except that on a batch's first call it sends only the even entries and
/// reports the odd ones as failed (transiently), or refuses `refuse_line` for good.
pub struct FlakySink {
    pub inner: SqsSink,
    pub seen: Mutex<HashSet<usize>>,
    pub calls: AtomicUsize,
    pub refuse_line: Option<usize>,
}

impl BatchSink for FlakySink {
    async fn send_batch(&self, jobs: &[&Job]) -> Result<BatchReply, CallError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut reply = BatchReply::default();
        let mut forward = Vec::new();
        {
            let mut seen = self.seen.lock().unwrap();
            for (i, job) in jobs.iter().enumerate() {
                let first_time = seen.insert(job.line);
                if Some(job.line) == self.refuse_line {
                    reply.failed.push(FailedEntry {
                        index: i,
                        sender_fault: true,
                        code: "InvalidMessageContents".into(),
                        message: "refused by the test".into(),
                    });
                } else if first_time && i % 2 == 1 {
                    reply.failed.push(FailedEntry {
                        index: i,
                        sender_fault: false,
                        code: "InternalError".into(),
                        message: "injected".into(),
                    });
                } else {
                    forward.push(i);
                }
            }
        }
        if !forward.is_empty() {
            let subset: Vec<&Job> = forward.iter().map(|&i| jobs[i]).collect();
            let inner = self.inner.send_batch(&subset).await?;
            reply
                .succeeded
                .extend(inner.succeeded.iter().map(|&k| forward[k]));
            reply.failed.extend(inner.failed.into_iter().map(|mut f| {
                f.index = forward[f.index];
                f
            }));
        }
        Ok(reply)
    }
}

/// Sends for real, but from call `hang_from` on never answers: a crash after the send.
pub struct CrashAfterSend {
    pub inner: SqsSink,
    pub calls: AtomicUsize,
    pub hang_from: usize,
    pub hung: tokio::sync::mpsc::UnboundedSender<()>,
}

impl BatchSink for CrashAfterSend {
    async fn send_batch(&self, jobs: &[&Job]) -> Result<BatchReply, CallError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let reply = self.inner.send_batch(jobs).await;
        if n >= self.hang_from {
            let _ = self.hung.send(());
            std::future::pending::<()>().await;
        }
        reply
    }
}
