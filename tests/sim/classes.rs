//! Job classes in the simulator: a CPU queue and a GPU queue, each bound to its pools, each
//! class sized on its own; and the old single-queue farm unchanged.
//!
//! Reproduction (issue "Job classes"): with a `gpu` pool declared second, a simulation gave it
//! 0 workers while the first EC2 pool peaked at 129; `[[queue]]` had no way to bind a queue to
//! pools.

use std::collections::BTreeMap;

use spillway::control::Action;
use spillway::policy::{self, Policy};
use spillway::sim::trace::{self, DurationDist, Job};
use spillway::sim::{self, SimConfig, binding, scenario};

fn gpu_policy() -> Policy {
    policy::from_toml_str(
        include_str!("../../policies/gpu-classes.toml"),
        "gpu-classes.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The `gpu-mix` scenario's jobs bound to `policy`'s queues, keeping only `keep` queues' jobs
/// (by the scenario's queue index: 0 renders, 1 gpu).
fn gpu_mix(policy: &Policy, keep: &[u16]) -> Vec<Job> {
    let s = scenario::build("gpu-mix", 1).expect("scenario");
    let names: Vec<String> = s.queues.iter().map(|q| q.to_string()).collect();
    let mut jobs: Vec<Job> = s
        .jobs
        .into_iter()
        .filter(|j| keep.contains(&j.queue))
        .collect();
    binding::bind_queues(&mut jobs, &names, policy).unwrap();
    jobs
}

/// Workers launched in each pool over a run.
fn launched_by_pool(decisions: &[(f64, spillway::control::Decision)]) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for (_, d) in decisions {
        for a in &d.actions {
            if let Action::Launch { pool, count, .. } = a {
                *out.entry(pool.clone()).or_default() += count;
            }
        }
    }
    out
}

#[test]
fn gpu_renders_run_only_on_gpu_workers_and_both_queues_meet_their_slos() {
    let policy = gpu_policy();
    let jobs = gpu_mix(&policy, &[0, 1]);
    let out = sim::run(&policy, &jobs, &SimConfig::default());
    let r = &out.report;
    let by_name: BTreeMap<&str, _> = r.queues.iter().map(|q| (q.name.as_str(), q)).collect();
    let (renders, gpu) = (by_name["renders"], by_name["gpu"]);
    // Where every job ran, from the simulator's record of the worker each one started on.
    assert_eq!(
        gpu.ran_on.keys().collect::<Vec<_>>(),
        vec!["gpu-ec2"],
        "{:?}",
        gpu.ran_on
    );
    assert_eq!(gpu.ran_on["gpu-ec2"], gpu.jobs);
    assert!(
        renders
            .ran_on
            .keys()
            .all(|p| p == "datacenter" || p == "cpu-ec2"),
        "{:?}",
        renders.ran_on
    );
    assert!(
        renders.ran_on["cpu-ec2"] > 0,
        "renders burst to CPU instances"
    );
    assert_eq!(renders.jobs + gpu.jobs, r.jobs);
    // Each queue within its own SLO: 30 s for renders, 60 s for the GPU's long jobs.
    assert_eq!((renders.slo_wait_s, gpu.slo_wait_s), (30.0, 60.0));
    assert!(renders.meets_slo && gpu.meets_slo, "{:?}", r.queues);
    assert!(r.meets_slo);
    assert_eq!(r.busy_terminations_refused, 0);
    eprintln!(
        "gpu-mix: renders p99 {:.1} s, gpu p99 {:.1} s, EC2 ${:.2}",
        renders.wait_p99_s, gpu.wait_p99_s, r.ec2_cost_usd
    );
}

#[test]
fn each_pool_is_scaled_on_its_own_queue() {
    let policy = gpu_policy();
    let config = SimConfig {
        keep_decisions: true,
        ..SimConfig::default()
    };
    // Renders alone: CPU instances burst; the GPU pool holds its class's headroom (`min_free`)
    // and launches nothing for the renders' peaks.
    let out = sim::run(&policy, &gpu_mix(&policy, &[0]), &config);
    let launched = launched_by_pool(&out.decisions);
    assert!(launched["cpu-ec2"] > 100, "{launched:?}");
    assert!(
        launched.get("gpu-ec2").copied().unwrap_or(0) <= 2 * policy.target.min_free,
        "{launched:?}"
    );
    // GPU renders alone: GPU instances; the CPU pool launches nothing, however many idle
    // datacenter workers there are.
    let out = sim::run(&policy, &gpu_mix(&policy, &[1]), &config);
    let launched = launched_by_pool(&out.decisions);
    assert!(launched["gpu-ec2"] > 20, "{launched:?}");
    assert_eq!(launched.get("cpu-ec2"), None, "{launched:?}");
    assert!(out.report.meets_slo, "{:?}", out.report.queues);
}

#[test]
fn a_job_log_names_each_jobs_queue_and_an_unknown_queue_is_refused() {
    let text = "submit_s,duration_s,queue\n0,30,renders\n1,120,gpu\n2,30,renders\n";
    let raw = trace::parse(text, "t.csv").unwrap();
    assert_eq!(raw.queue_names(), vec!["renders", "gpu"]);
    let mut jobs = trace::to_jobs(&raw, 1.0, DurationDist::Fixed(1.0), 1).unwrap();
    let policy = gpu_policy();
    binding::bind_queues(&mut jobs, &raw.queue_names(), &policy).unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.queue).collect::<Vec<_>>(),
        vec![0, 1, 0]
    );
    let other = trace::parse("submit_s,duration_s,queue\n0,30,thumbs\n", "t.csv").unwrap();
    let mut jobs = trace::to_jobs(&other, 1.0, DurationDist::Fixed(1.0), 1).unwrap();
    let err = binding::bind_queues(&mut jobs, &other.queue_names(), &policy).unwrap_err();
    assert!(
        err.contains("queue \"thumbs\"") && err.contains("renders, gpu"),
        "{err}"
    );
    // A bad row is reported with its line, every one of them.
    let bad = "submit_s,duration_s,queue\n0,30\n1,30,two words\n2,30,gpu\n";
    let Err(trace::TraceError::Invalid { problems }) = trace::parse(bad, "t.csv") else {
        panic!("accepted")
    };
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with("t.csv:2: expected 3 fields"),
        "{problems:?}"
    );
    assert!(problems[1].starts_with("t.csv:3: queue"), "{problems:?}");
}

#[test]
fn a_policy_without_classes_serves_every_queue_alike() {
    // The same jobs through the seed policy (one farm): the queue column changes nothing.
    let policy = policy::embedded_default();
    let with = gpu_mix(&policy, &[0, 1]);
    let without: Vec<Job> = with.iter().map(|j| Job { queue: 0, ..*j }).collect();
    let a = sim::run(&policy, &with, &SimConfig::default()).report;
    let b = sim::run(&policy, &without, &SimConfig::default()).report;
    assert!(a.queues.is_empty());
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
}

#[test]
fn restarts_and_a_failover_keep_both_classes_within_their_slos_and_terminate_no_busy_worker() {
    // Each class's memory is resumed as from `--state-file` and each relearns its fleet from
    // heartbeats; a GPU worker busy on a four-times-longer render must survive every restart.
    let policy = gpu_policy();
    let jobs = gpu_mix(&policy, &[0, 1]);
    let calm = sim::run(&policy, &jobs, &SimConfig::default()).report;
    let config = SimConfig {
        faults: sim::faults::Faults {
            restart_every_ms: Some(5 * 3_600_000),
            failovers_ms: vec![(37.5 * 3_600_000.0) as i64],
            ..Default::default()
        },
        ..SimConfig::default()
    };
    let r = sim::run(&policy, &jobs, &config).report;
    assert_eq!(r.busy_terminations_refused, 0);
    assert!(r.meets_slo, "{:?}", r.queues);
    let extra = r.ec2_cost_usd / calm.ec2_cost_usd - 1.0;
    assert!(extra < 0.05, "restarts cost {:.1}% more", extra * 100.0);
    eprintln!(
        "gpu-mix, a restart every 5 h and a failover: EC2 ${:.2} against ${:.2} ({:+.2}%)",
        r.ec2_cost_usd,
        calm.ec2_cost_usd,
        extra * 100.0
    );
}
