//! Tests of the moto test harness itself: one server per test binary, and per-test accounts that
//! do not see each other's resources (SQS and EC2).

use crate::support;

use support::moto::{self, fresh_account};
use support::queues::create_queue;

#[tokio::test]
async fn each_account_is_an_empty_world() {
    let server = moto::server();
    let (a, b) = (fresh_account(), fresh_account());
    assert_ne!(a, b);
    let url_a = create_queue(&server.sqs_client(&a), "same-name").await;
    let url_b = create_queue(&server.sqs_client(&b), "same-name").await;
    assert!(url_a.contains(&a) && url_b.contains(&b), "{url_a} {url_b}");

    let listed = server
        .sqs_client(&fresh_account())
        .list_queues()
        .send()
        .await
        .unwrap();
    assert!(listed.queue_urls().is_empty(), "{listed:?}");

    let ec2_a = server.ec2_client(&a);
    let run = ec2_a
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    assert_eq!(run.instances().len(), 1);
    let count = |out: aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput| {
        out.reservations()
            .iter()
            .map(|r| r.instances().len())
            .sum::<usize>()
    };
    let seen_a = ec2_a.describe_instances().send().await.unwrap();
    let seen_b = server
        .ec2_client(&b)
        .describe_instances()
        .send()
        .await
        .unwrap();
    assert_eq!((count(seen_a), count(seen_b)), (1, 0));
}

#[test]
fn the_server_is_started_once_per_test_binary() {
    let first = moto::server();
    let second = moto::server();
    assert!(std::ptr::eq(first, second));
    assert_eq!(
        first.endpoint(),
        format!("http://127.0.0.1:{}", first.port())
    );
}
