//! `SqsSink`: the production `BatchSink`, one `SendMessageBatch` call per batch, with FIFO
//! group and deduplication ids and the backfill's message attributes.

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

use super::jobs::{ATTR_JOB_ID, ATTR_SOURCE, Job, sha256_hex};
use super::send::{BatchReply, BatchSink, CallError, FailedEntry};
use crate::aws;

/// Sends batches to one queue.
#[derive(Debug, Clone)]
pub struct SqsSink {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    /// Set on a FIFO queue: the `MessageGroupId` of every message.
    group_id: Option<String>,
    /// The `spillway-backfill` attribute: the input file's name.
    source_name: String,
}

/// Whether `queue_url` names a FIFO queue.
pub fn is_fifo(queue_url: &str) -> bool {
    queue_url.trim_end_matches('/').ends_with(".fifo")
}

/// The FIFO `MessageDeduplicationId` for a job id: the id itself when SQS accepts it (1 to 128
/// characters, ASCII letters, digits and punctuation), otherwise `sha256-` and its hash.
pub fn dedup_id(job_id: &str) -> String {
    let usable =
        !job_id.is_empty() && job_id.len() <= 128 && job_id.bytes().all(|b| b.is_ascii_graphic());
    if usable {
        job_id.to_owned()
    } else {
        format!("sha256-{}", sha256_hex(job_id.as_bytes()))
    }
}

impl SqsSink {
    /// `group_id` is used only when the queue is FIFO.
    pub fn new(
        client: aws_sdk_sqs::Client,
        queue_url: &str,
        group_id: &str,
        source_name: &str,
    ) -> Self {
        SqsSink {
            client,
            queue_url: queue_url.to_owned(),
            group_id: is_fifo(queue_url).then(|| group_id.to_owned()),
            source_name: source_name.to_owned(),
        }
    }

    fn entry(&self, index: usize, job: &Job) -> SendMessageBatchRequestEntry {
        let attribute = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .expect("data_type is set")
        };
        let mut entry = SendMessageBatchRequestEntry::builder()
            .id(index.to_string())
            .message_body(&job.body)
            .message_attributes(ATTR_SOURCE, attribute(&self.source_name))
            .message_attributes(ATTR_JOB_ID, attribute(&job.id));
        if let Some(group) = &self.group_id {
            entry = entry
                .message_group_id(group)
                .message_deduplication_id(dedup_id(&job.id));
        }
        entry.build().expect("id and body are set")
    }
}

impl BatchSink for SqsSink {
    async fn send_batch(&self, jobs: &[&Job]) -> Result<BatchReply, CallError> {
        let entries = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| self.entry(i, job))
            .collect();
        let output = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                let judged = aws::judge(&e);
                CallError {
                    transient: judged.transient,
                    code: judged.code,
                    message: judged.message,
                }
            })?;
        let index = |id: &str| id.parse::<usize>().ok();
        Ok(BatchReply {
            succeeded: output
                .successful()
                .iter()
                .filter_map(|s| index(s.id()))
                .collect(),
            failed: output
                .failed()
                .iter()
                .filter_map(|f| {
                    Some(FailedEntry {
                        index: index(f.id())?,
                        sender_fault: f.sender_fault(),
                        code: f.code().to_owned(),
                        message: f.message().unwrap_or_default().to_owned(),
                    })
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_is_told_by_the_url() {
        assert!(is_fifo("https://sqs.us-east-1.amazonaws.com/1/jobs.fifo"));
        assert!(!is_fifo("https://sqs.us-east-1.amazonaws.com/1/jobs"));
    }

    #[test]
    fn dedup_ids_are_the_id_when_sqs_accepts_it() {
        assert_eq!(dedup_id("job-42"), "job-42");
        assert_eq!(dedup_id("a!b#c~"), "a!b#c~");
        let long = "x".repeat(129);
        for bad in [long.as_str(), "has space", "ünï", ""] {
            let d = dedup_id(bad);
            assert!(d.starts_with("sha256-") && d.len() == 71, "{d}");
        }
        assert_ne!(dedup_id("has space"), dedup_id("has  space"));
        assert_eq!(dedup_id(&"y".repeat(128)), "y".repeat(128));
    }
}
