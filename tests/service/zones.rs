//! Launches spread over availability zones: a pool with several `subnet_ids` launches into them
//! in balance, not into the first while it has capacity, so one zone's loss costs a fraction of
//! the fleet. (Before: every instance went to the first subnet; the others were fallbacks.)

// Deadlines against real servers read the wall clock.
#![allow(clippy::disallowed_methods)]

use crate::support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::InstanceStateName;
use spillway::clock::SystemClock;
use support::moto;
use support::service::{self as svc, Options, policy_head, policy_tail};

/// Live instances of `policy` per subnet.
async fn per_subnet(ec2: &aws_sdk_ec2::Client, policy: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for i in support::workers::tagged(ec2, policy).await {
        let live = matches!(
            i.state().and_then(|s| s.name()),
            Some(InstanceStateName::Pending | InstanceStateName::Running)
        );
        if live {
            *out.entry(i.subnet_id().unwrap_or("?").to_string())
                .or_default() += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_with_three_subnets_launches_into_all_three_in_balance() {
    let server = moto::server();
    let account = moto::fresh_account();
    let (sqs, ec2) = (server.sqs_client(&account), server.ec2_client(&account));
    let name = format!("zones-{account}");
    let queue = support::queues::create_queue(&sqs, &name).await;
    let mut subnets = support::workers::default_subnets(&ec2).await;
    assert!(
        subnets.len() >= 3,
        "moto's default VPC has a subnet per zone: {subnets:?}"
    );
    subnets.truncate(3);
    // Two launches: four jobs first, then five more (each tick launches for what waits).
    let text = format!(
        r#"{head}[[pool]]
name = "ec2"
kind = "ec2"
max = 9
cost_per_hour = 0.1
boot_time = "2s"
boot_timeout = "5m"
image_id = "ami-12c6146b"
instance_types = ["c5.large"]
subnet_ids = ["{}", "{}", "{}"]
market = "on-demand"
{tail}"#,
        subnets[0],
        subnets[1],
        subnets[2],
        head = policy_head(&name, "max_launch_per_tick = 9\n", "1h"),
        tail = policy_tail(&queue, "5m", Some("1s")),
    );
    let send = async |n: usize| {
        for k in 0..n {
            sqs.send_message()
                .queue_url(&queue)
                .message_body(format!("job-{k}"))
                .send()
                .await
                .unwrap();
        }
    };
    send(4).await;
    let running = svc::start(
        svc::policy(&text),
        ec2.clone(),
        sqs.clone(),
        Arc::new(SystemClock::new()),
        Options::default(),
    )
    .await;
    let until = async |n: usize| {
        let start = Instant::now();
        loop {
            let seen = per_subnet(&ec2, &name).await;
            if seen.values().sum::<usize>() >= n {
                return seen;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "{seen:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let first = until(4).await;
    assert_eq!(first.len(), 3, "four instances over three zones: {first:?}");
    assert!(first.values().all(|&n| (1..=2).contains(&n)), "{first:?}");
    send(5).await;
    let all = until(9).await;
    assert_eq!(
        all.values().copied().collect::<Vec<_>>(),
        vec![3, 3, 3],
        "nine instances, three per zone: {all:?}"
    );
    assert!(all.keys().all(|s| subnets.contains(s)), "{all:?}");
    running.stop().await.expect("clean stop");
}
