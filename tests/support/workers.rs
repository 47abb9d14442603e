//! Example render workers as child processes (`examples/render_worker.rs`), each pretending to
//! run on one EC2 instance; starting an instance with chosen tags behind the service's back,
//! and listing this policy's instances the way a test sees them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use aws_sdk_ec2::types::{
    Filter, Instance, InstanceStateName, ResourceType, Tag, TagSpecification,
};

use super::moto::MotoServer;
use super::service::TOKEN;

/// The built example worker; builds it first if this test run did not.
pub fn worker_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let debug = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = debug.join("examples").join("render_worker");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "--locked", "--example", "render_worker"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build --example render_worker")
            .success();
        assert!(ok, "building the example worker failed");
    }
    bin
}

/// Starts a worker for `instance_id` in `pool`, talking to SQS on moto's default account and
/// heartbeating to `service` (`host:port`).
pub fn spawn_worker(
    moto: &MotoServer,
    service: &str,
    queue_url: &str,
    pool: &str,
    instance_id: &str,
    done_file: &Path,
) -> Child {
    spawn_worker_with_batch(moto, service, queue_url, None, pool, instance_id, done_file)
}

/// [`spawn_worker`], also serving `batch_queue_url` when the interactive queue is empty.
pub fn spawn_worker_with_batch(
    moto: &MotoServer,
    service: &str,
    queue_url: &str,
    batch_queue_url: Option<&str>,
    pool: &str,
    instance_id: &str,
    done_file: &Path,
) -> Child {
    let mut cmd = Command::new(worker_binary());
    if let Some(url) = batch_queue_url {
        cmd.args(["--batch-queue-url", url]);
    }
    cmd.args([
        "--service",
        service,
        "--queue-url",
        queue_url,
        "--pool",
        pool,
        "--worker-id",
        instance_id,
        "--instance-id",
        instance_id,
        "--heartbeat-every",
        "0.3",
        "--wait",
        "1",
    ])
    .arg("--done-file")
    .arg(done_file)
    .env("SPILLWAY_TOKEN", TOKEN)
    .env("RUST_LOG", "warn")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    for (k, v) in moto.child_env() {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn render_worker")
}

/// Starts one instance carrying `tags` (key, value; none for a foreign instance) and returns
/// its id.
pub async fn start_instance(ec2: &aws_sdk_ec2::Client, tags: &[(&str, &str)]) -> String {
    let mut req = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1);
    if !tags.is_empty() {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        req = req.tag_specifications(spec.build());
    }
    let out = req.send().await.expect("RunInstances");
    out.instances()[0].instance_id().unwrap().to_string()
}

/// Every instance tagged `spillway:policy = policy`, terminated ones included (moto keeps them
/// listed).
pub async fn tagged(ec2: &aws_sdk_ec2::Client, policy: &str) -> Vec<Instance> {
    let out = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:spillway:policy")
                .values(policy)
                .build(),
        )
        .send()
        .await
        .expect("DescribeInstances");
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .cloned()
        .collect()
}

/// `(instance id, state, pool)` of every instance [`tagged`] for `policy`, its pool from its
/// `spillway:pool` tag.
pub async fn instances_in_pools(
    ec2: &aws_sdk_ec2::Client,
    policy: &str,
) -> Vec<(String, InstanceStateName, String)> {
    tagged(ec2, policy)
        .await
        .iter()
        .filter_map(|i| {
            let pool = i
                .tags()
                .iter()
                .find(|t| t.key() == Some("spillway:pool"))
                .and_then(|t| t.value())
                .unwrap_or_default();
            Some((
                i.instance_id()?.to_string(),
                i.state()?.name()?.clone(),
                pool.to_string(),
            ))
        })
        .collect()
}

/// `(instance id, state)` of every instance [`tagged`] for `policy`.
pub async fn instances(
    ec2: &aws_sdk_ec2::Client,
    policy: &str,
) -> Vec<(String, InstanceStateName)> {
    tagged(ec2, policy)
        .await
        .iter()
        .filter_map(|i| Some((i.instance_id()?.to_string(), i.state()?.name()?.clone())))
        .collect()
}

/// The default subnets of moto's default VPC (one per availability zone), sorted; at least two.
pub async fn default_subnets(ec2: &aws_sdk_ec2::Client) -> Vec<String> {
    let out = ec2
        .describe_subnets()
        .filters(
            Filter::builder()
                .name("default-for-az")
                .values("true")
                .build(),
        )
        .send()
        .await
        .expect("DescribeSubnets");
    let mut ids: Vec<String> = out
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    ids.sort();
    assert!(ids.len() >= 2, "moto's default VPC has a subnet per zone");
    ids
}
