//! SQS helpers for integration tests: create a queue, fill it with jobs, drain everything in it.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, QueueAttributeName};

/// Creates queue `name` (FIFO if it ends in `.fifo`) and returns its URL.
pub async fn create_queue(client: &Client, name: &str) -> String {
    let mut request = client.create_queue().queue_name(name);
    if name.ends_with(".fifo") {
        request = request.attributes(QueueAttributeName::FifoQueue, "true");
    }
    let output = request.send().await.expect("CreateQueue");
    output.queue_url().expect("queue URL").to_owned()
}

/// Sends `n` five-second jobs (`job-0` …) to the queue at `url`.
pub async fn send_jobs(client: &Client, url: &str, n: usize) {
    send_renders(client, url, "job", n, 5).await;
}

/// Sends `n` jobs of `duration_s` seconds each (`{prefix}-0` …) to the queue at `url`.
pub async fn send_renders(client: &Client, url: &str, prefix: &str, n: usize, duration_s: u64) {
    for i in 0..n {
        client
            .send_message()
            .queue_url(url)
            .message_body(format!(
                r#"{{"id":"{prefix}-{i}","duration_s":{duration_s}}}"#
            ))
            .send()
            .await
            .expect("SendMessage");
    }
}

/// Receives and deletes every message in the queue until a receive comes back empty. (Deleting
/// matters on FIFO queues: a group's next messages stay hidden while earlier ones are in flight.)
pub async fn receive_all(client: &Client, url: &str) -> Vec<Message> {
    let mut all = Vec::new();
    loop {
        let output = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(600)
            .wait_time_seconds(0)
            .message_attribute_names("All")
            .send()
            .await
            .expect("ReceiveMessage");
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            return all;
        }
        let mut delete = client.delete_message_batch().queue_url(url);
        for (i, message) in messages.iter().enumerate() {
            let entry = DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(message.receipt_handle().expect("receipt handle"))
                .build()
                .expect("entry");
            delete = delete.entries(entry);
        }
        delete.send().await.expect("DeleteMessageBatch");
        all.extend(messages);
    }
}

/// The `ApproximateNumberOfMessages` of the queue.
pub async fn visible_count(client: &Client, url: &str) -> usize {
    let output = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .expect("GetQueueAttributes");
    output
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|n| n.parse().ok())
        .expect("ApproximateNumberOfMessages")
}

/// The string value of message attribute `name`.
pub fn attribute(message: &Message, name: &str) -> Option<String> {
    message
        .message_attributes()?
        .get(name)?
        .string_value()
        .map(str::to_owned)
}
