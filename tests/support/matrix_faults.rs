//! The faults of the matrix (issue 5), each as the proxy rules or farm behaviour that make
//! it: AWS 5xx bursts and throttling with the real error codes, added latency, connection
//! resets, lost replies, timeouts, `InsufficientInstanceCapacity` on one instance type or one
//! subnet, instances stuck `pending`, instances that boot but never heartbeat, instances
//! terminated from under the service (spot interruptions), and workers that die on a running
//! instance.

use std::time::Duration;

use super::proxy::Rule;
use super::proxy::{Effect, Proxy, RuleId, Target};

/// How long windowed faults last from the start of the phase.
pub const WINDOW: Duration = Duration::from_secs(5);

/// One row of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The control: no fault.
    None,
    /// The next 4 requests of every operation fail: EC2 `Unavailable` (503), SQS
    /// `InternalFailure` (500).
    Http5xx,
    /// For the window, 60% of requests are throttled: EC2 `RequestLimitExceeded` (503), SQS
    /// `ThrottlingException` (400).
    Throttle,
    /// For the window, every request waits 600 ms before it is forwarded.
    Latency,
    /// The next 4 requests of every operation: the connection is reset, nothing is forwarded.
    Reset,
    /// The next 2 RunInstances and TerminateInstances are carried out but their replies are
    /// lost (the connection is reset after moto answered).
    LostReply,
    /// The next 3 requests of every operation hang, unanswered, past the SDK's attempt timeout.
    Timeout,
    /// RunInstances naming `c5.large` (the first type) gets `InsufficientInstanceCapacity`.
    IceType,
    /// RunInstances naming the first subnet gets `InsufficientInstanceCapacity`.
    IceSubnet,
    /// Instances stay `pending` (DescribeInstances rewritten by the proxy) and never heartbeat.
    StuckPending,
    /// Instances run but their worker never heartbeats.
    NoHeartbeat,
    /// A busy worker's instance is terminated from under the service (a spot interruption).
    Interrupt,
    /// A busy worker dies while its instance keeps running: heartbeats stop, so the service
    /// must find it lost, terminate it and replace it.
    Crash,
}

/// Every fault, in table order.
pub const ALL: &[FaultKind] = &[
    FaultKind::None,
    FaultKind::Http5xx,
    FaultKind::Throttle,
    FaultKind::Latency,
    FaultKind::Reset,
    FaultKind::LostReply,
    FaultKind::Timeout,
    FaultKind::IceType,
    FaultKind::IceSubnet,
    FaultKind::StuckPending,
    FaultKind::NoHeartbeat,
    FaultKind::Interrupt,
    FaultKind::Crash,
];

/// The rules armed for one cell.
#[derive(Debug, Default)]
pub struct Armed {
    /// Removed when the window ends.
    pub windowed: Vec<RuleId>,
    /// Kept for the whole cell (bursts end by themselves once their count is used up).
    pub permanent: Vec<RuleId>,
}

impl Armed {
    /// How many requests the rules hit.
    pub fn hits(&self, proxy: &Proxy) -> u64 {
        self.windowed
            .iter()
            .chain(&self.permanent)
            .map(|id| proxy.fired(*id))
            .sum()
    }
}

impl FaultKind {
    /// The name in the table and in `SPILLWAY_MATRIX`.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::None => "none",
            FaultKind::Http5xx => "5xx-burst",
            FaultKind::Throttle => "throttling",
            FaultKind::Latency => "latency",
            FaultKind::Reset => "reset",
            FaultKind::LostReply => "lost-reply",
            FaultKind::Timeout => "timeout",
            FaultKind::IceType => "ice-type",
            FaultKind::IceSubnet => "ice-subnet",
            FaultKind::StuckPending => "stuck-pending",
            FaultKind::NoHeartbeat => "no-heartbeat",
            FaultKind::Interrupt => "interrupted",
            FaultKind::Crash => "worker-crash",
        }
    }

    /// Whether instances of this fault get no worker (stuck pending, or never heartbeating).
    pub fn mutes(self) -> bool {
        matches!(self, FaultKind::StuckPending | FaultKind::NoHeartbeat)
    }

    /// Arms the proxy rules for this fault; `first_subnet` is the policy's first subnet.
    pub fn arm(self, proxy: &Proxy, first_subnet: &str) -> Armed {
        let mut a = Armed::default();
        let ec2_and_sqs = |ec2: Effect, sqs: Effect| [(Target::Ec2, ec2), (Target::Sqs, sqs)];
        let run = || Target::Ops(vec!["RunInstances".into()]);
        let ice = || Effect::error(500, "InsufficientInstanceCapacity");
        match self {
            FaultKind::Http5xx => {
                for (t, e) in ec2_and_sqs(
                    Effect::error(503, "Unavailable"),
                    Effect::error(500, "InternalFailure"),
                ) {
                    a.permanent.push(proxy.inject(Rule::new(t, e).burst(4)));
                }
            }
            FaultKind::Throttle => {
                for (t, e) in ec2_and_sqs(
                    Effect::error(503, "RequestLimitExceeded"),
                    Effect::error(400, "ThrottlingException"),
                ) {
                    a.windowed.push(proxy.inject(Rule::new(t, e).share(0.6)));
                }
            }
            FaultKind::Latency => {
                let delay = Effect::Delay(Duration::from_millis(600));
                a.windowed.push(proxy.inject(Rule::new(Target::All, delay)));
            }
            FaultKind::Reset => {
                let rule = Rule::new(Target::All, Effect::Reset).burst(4);
                a.permanent.push(proxy.inject(rule));
            }
            FaultKind::LostReply => {
                let ops = vec!["RunInstances".into(), "TerminateInstances".into()];
                let rule = Rule::new(Target::Ops(ops), Effect::LostReply).burst(2);
                a.permanent.push(proxy.inject(rule));
            }
            FaultKind::Timeout => {
                let hang = Effect::Hang(Duration::from_secs(4));
                a.permanent
                    .push(proxy.inject(Rule::new(Target::All, hang).burst(3)));
            }
            FaultKind::IceType => {
                let rule = Rule::new(run(), ice()).when_body_contains("InstanceType=c5.large");
                a.permanent.push(proxy.inject(rule));
            }
            FaultKind::IceSubnet => {
                let rule =
                    Rule::new(run(), ice()).when_body_contains(&format!("SubnetId={first_subnet}"));
                a.permanent.push(proxy.inject(rule));
            }
            FaultKind::None
            | FaultKind::StuckPending
            | FaultKind::NoHeartbeat
            | FaultKind::Interrupt
            | FaultKind::Crash => {}
        }
        a
    }
}
