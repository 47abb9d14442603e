//! Every Prometheus metric the service exports, named in this file only, and the text
//! rendering served at `/metrics`.

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    Opts, Registry, TextEncoder, exponential_buckets,
};

/// The service's metrics, registered in their own registry.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// `spillway_queue_messages{queue,state}`: latest sample; state = visible | in_flight | delayed.
    pub queue_messages: GaugeVec,
    /// `spillway_workers{pool,state}`: state = booting | idle | busy | draining.
    pub workers: GaugeVec,
    /// `spillway_desired_workers{pool}`.
    pub desired_workers: GaugeVec,
    /// `spillway_scaling_actions_total{pool,action,reason}`: one per action decided; reason is
    /// `ReasonKind::label()`, or `worker_lost` / `drained` for the service's own terminations.
    pub scaling_actions: IntCounterVec,
    /// `spillway_boot_seconds`: launch to first heartbeat.
    pub boot_seconds: Histogram,
    /// `spillway_decide_seconds`: one `decide` call.
    pub decide_seconds: Histogram,
    /// `spillway_cost_usd_per_hour`: EC2 instances listed (and command-pool VMs on) times their
    /// pool's price.
    pub cost_usd_per_hour: Gauge,
    /// `spillway_observation_errors_total{source}`: source = sqs | ec2.
    pub observation_errors: IntCounterVec,
    /// `spillway_action_errors_total{action}`: failed launches and terminations.
    pub action_errors: IntCounterVec,
    /// `spillway_launch_failures_total{pool}`: instances (or started VMs) that never heartbeat
    /// within `boot_timeout`, launches EC2 refused, and VMs a failed start program did not start.
    pub launch_failures: IntCounterVec,
    /// `spillway_command_runs_total{pool,command,outcome}`: command pools' programs run;
    /// command = start | stop, outcome = ok | failed | timeout | refused.
    pub command_runs: IntCounterVec,
    /// `spillway_heartbeats_total`.
    pub heartbeats: IntCounter,
    /// `spillway_heartbeats_rejected_total{reason}`: reason = unauthorized | too_large | malformed
    /// | full (the pool holds as many workers as it may) | conflict (a worker id bound elsewhere).
    pub heartbeats_rejected: IntCounterVec,
    /// `spillway_heartbeats_forwarded_total{outcome}`: heartbeats a follower passed on to the
    /// leader; outcome = ok | failed.
    pub heartbeats_forwarded: IntCounterVec,
    /// `spillway_http_connections`: connections the listener holds open now.
    pub http_connections: Gauge,
    /// `spillway_http_connections_refused_total{reason}`: reason = limit (closed at once: the
    /// connection limit was reached) | accept_error (the system refused, e.g. out of files).
    pub http_connections_refused: IntCounterVec,
    /// `spillway_job_wait_seconds{queue}`: what finished jobs waited in their queue, from SQS's
    /// SentTimestamp to a worker taking them, as workers report it; queue = the policy's queue
    /// name (`other` for a queue the policy does not name).
    pub job_wait_seconds: HistogramVec,
    /// `spillway_job_run_seconds{pool}`: how long finished jobs ran, as workers report it.
    pub job_run_seconds: HistogramVec,
    /// `spillway_oldest_job_age_seconds{queue}`: the longest queue wait of a job taken within
    /// the last control window, as workers report it when they take a job (how old the oldest
    /// job was when it was taken); absent while no job was taken from the queue in the window.
    pub oldest_job_age: GaugeVec,
    /// `spillway_jobs_finished_total{pool,outcome}`: outcome = ok | failed.
    pub jobs_finished: IntCounterVec,
    /// `spillway_worker_interruptions_total{pool,kind}`: workers that reported their instance
    /// is going away (kind = spot | rebalance), counted once each; they are drained and
    /// replaced.
    pub worker_interruptions: IntCounterVec,
    /// `spillway_ticks_total`.
    pub ticks: IntCounter,
    /// `spillway_last_tick_timestamp_seconds`: when the last tick that observed everything
    /// (queues and fleet) ran, Unix seconds; alert when it falls behind.
    pub last_tick_timestamp: Gauge,
    /// `spillway_build_info{version}`: always 1.
    pub build_info: GaugeVec,
    /// `spillway_dry_run`: 1 when no mutating call is made.
    pub dry_run: Gauge,
    /// `spillway_paused`: 1 while an operator has paused scaling.
    pub paused: Gauge,
    /// `spillway_leader`: 1 when this replica may act (it holds the lease, or runs alone).
    pub leader: Gauge,
    /// `spillway_admin_requests_total{outcome}`: outcome = paused | resumed | unauthorized | disabled.
    pub admin_requests: IntCounterVec,
    /// `spillway_state_save_errors_total`: `--state-file` writes that failed (a restart would
    /// resume older state).
    pub state_save_errors: IntCounter,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
                .expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        let histogram_vec = |name: &str, help: &str, labels: &[&str], buckets: Vec<f64>| {
            let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
                .expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = Gauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        Metrics {
            queue_messages: gauge_vec(
                "spillway_queue_messages",
                "Messages per queue and state (latest sample).",
                &["queue", "state"],
            ),
            workers: gauge_vec(
                "spillway_workers",
                "Workers per pool and state.",
                &["pool", "state"],
            ),
            desired_workers: gauge_vec(
                "spillway_desired_workers",
                "Workers the controller wants per pool.",
                &["pool"],
            ),
            scaling_actions: counter_vec(
                "spillway_scaling_actions_total",
                "Actions decided, by pool, action and reason.",
                &["pool", "action", "reason"],
            ),
            boot_seconds: histogram(
                "spillway_boot_seconds",
                "Launch to first heartbeat.",
                exponential_buckets(5.0, 1.6, 12).expect("valid buckets"),
            ),
            decide_seconds: histogram(
                "spillway_decide_seconds",
                "Time spent in one decide call.",
                exponential_buckets(0.000_01, 3.0, 12).expect("valid buckets"),
            ),
            cost_usd_per_hour: gauge(
                "spillway_cost_usd_per_hour",
                "Hourly price of the EC2 instances listed and command-pool VMs on.",
            ),
            observation_errors: counter_vec(
                "spillway_observation_errors_total",
                "Failed observations by source.",
                &["source"],
            ),
            action_errors: counter_vec(
                "spillway_action_errors_total",
                "Failed launches and terminations.",
                &["action"],
            ),
            launch_failures: counter_vec(
                "spillway_launch_failures_total",
                "Instances that never became ready, and launches refused.",
                &["pool"],
            ),
            command_runs: counter_vec(
                "spillway_command_runs_total",
                "Command pools' start and stop programs run, by pool, command and outcome.",
                &["pool", "command", "outcome"],
            ),
            heartbeats: counter("spillway_heartbeats_total", "Heartbeats accepted."),
            heartbeats_rejected: counter_vec(
                "spillway_heartbeats_rejected_total",
                "Heartbeats refused, by reason.",
                &["reason"],
            ),
            heartbeats_forwarded: counter_vec(
                "spillway_heartbeats_forwarded_total",
                "Heartbeats a follower replica passed on to the leader, by outcome.",
                &["outcome"],
            ),
            http_connections: gauge("spillway_http_connections", "HTTP connections held open."),
            http_connections_refused: counter_vec(
                "spillway_http_connections_refused_total",
                "HTTP connections closed unserved, by reason.",
                &["reason"],
            ),
            job_wait_seconds: histogram_vec(
                "spillway_job_wait_seconds",
                "Queue wait of finished jobs, as workers measured it.",
                &["queue"],
                exponential_buckets(0.5, 2.0, 18).expect("valid buckets"),
            ),
            job_run_seconds: histogram_vec(
                "spillway_job_run_seconds",
                "Run time of finished jobs, as workers measured it.",
                &["pool"],
                exponential_buckets(1.0, 2.0, 18).expect("valid buckets"),
            ),
            oldest_job_age: gauge_vec(
                "spillway_oldest_job_age_seconds",
                "Longest queue wait of a job taken within the last window, as workers report it.",
                &["queue"],
            ),
            jobs_finished: counter_vec(
                "spillway_jobs_finished_total",
                "Jobs workers finished, by pool and outcome.",
                &["pool", "outcome"],
            ),
            worker_interruptions: counter_vec(
                "spillway_worker_interruptions_total",
                "Workers that reported a spot interruption or rebalance notice, by pool and kind.",
                &["pool", "kind"],
            ),
            ticks: counter("spillway_ticks_total", "Control ticks run."),
            last_tick_timestamp: gauge(
                "spillway_last_tick_timestamp_seconds",
                "Unix time of the last tick that observed queues and fleet without error.",
            ),
            build_info: {
                let g = gauge_vec(
                    "spillway_build_info",
                    "The running build (always 1).",
                    &["version"],
                );
                g.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1.0);
                g
            },
            dry_run: gauge("spillway_dry_run", "1 when running with --dry-run."),
            paused: gauge(
                "spillway_paused",
                "1 while scaling is paused by an operator.",
            ),
            leader: gauge(
                "spillway_leader",
                "1 when this replica holds the lease or runs alone.",
            ),
            admin_requests: counter_vec(
                "spillway_admin_requests_total",
                "Pause and resume requests, by outcome.",
                &["outcome"],
            ),
            state_save_errors: counter(
                "spillway_state_save_errors_total",
                "Failed writes of the --state-file.",
            ),
            registry,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut buf) {
            return format!("# encoding failed: {e}\n");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_labels() {
        let m = Metrics::new();
        m.queue_messages
            .with_label_values(&["jobs", "visible"])
            .set(3.0);
        m.scaling_actions
            .with_label_values(&["ec2", "launch", "backlog"])
            .inc();
        m.boot_seconds.observe(42.0);
        let text = m.render();
        assert!(
            text.contains(r#"spillway_queue_messages{queue="jobs",state="visible"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"spillway_scaling_actions_total{action="launch",pool="ec2",reason="backlog"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains("spillway_boot_seconds_count 1"), "{text}");
        assert!(text.contains("spillway_cost_usd_per_hour 0"), "{text}");
    }
}
