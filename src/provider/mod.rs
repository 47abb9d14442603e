//! The act-and-observe seam towards AWS and on-prem VMs: the EC2 fleet ([`ec2::Ec2Fleet`]: list
//! by tag, launch with fallbacks, terminate only what carries this policy's tags), the SQS
//! queue sampler ([`sqs::QueueSampler`], with the window average in [`sqs::QueueWindow`]),
//! command pools' start and stop programs ([`command::CommandRunner`]), and the replicas'
//! leader lease in DynamoDB ([`lease::Lease`]).
//!
//! Both take ready-made SDK clients, so the service uses the standard credential chain and
//! `AWS_ENDPOINT_URL` (see [`crate::aws_client`]) while tests point them at moto.

pub mod command;
pub mod ec2;
pub mod lease;
pub mod sqs;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

use crate::aws_client;
use crate::model::Timestamp;

/// Tag naming the policy that launched an instance. Only instances carrying this tag with the
/// running policy's name are ever listed or terminated.
pub const TAG_POLICY: &str = "spillway:policy";
/// Tag naming the pool an instance belongs to.
pub const TAG_POOL: &str = "spillway:pool";

/// A failed provider call (an AWS request or a command pool's program), named by how the
/// caller reacts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Throttled, a 5xx, a timeout or a network failure after the SDK's bounded retries: hold
    /// this tick and try again next tick.
    #[error("throttled or unavailable ({code}): {message}")]
    Throttled { code: String, message: String },
    /// No capacity for this instance type, subnet or market: try the next option.
    #[error("insufficient capacity ({code}): {message}")]
    InsufficientCapacity { code: String, message: String },
    /// The resource does not exist: for a termination, already gone counts as success.
    #[error("not found ({code}): {message}")]
    NotFound { code: String, message: String },
    /// Anything else (permissions, bad parameters): log it, count it, hold.
    #[error("{code}: {message}")]
    Other { code: String, message: String },
}

impl ProviderError {
    /// The error's code, for logs and metric-free summaries.
    pub fn code(&self) -> &str {
        match self {
            ProviderError::Throttled { code, .. }
            | ProviderError::InsufficientCapacity { code, .. }
            | ProviderError::NotFound { code, .. }
            | ProviderError::Other { code, .. } => code,
        }
    }
}

const CAPACITY_CODES: &[&str] = &[
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "InsufficientHostCapacity",
    "InsufficientReservedInstanceCapacity",
    "InsufficientFreeAddressesInSubnet",
    "SpotMaxPriceTooLow",
    "MaxSpotInstanceCountExceeded",
    "InsufficientSpotCapacity",
    "Unsupported",
];

/// Whether `code` says EC2 has no capacity for the requested type, subnet or market.
pub fn is_capacity_code(code: &str) -> bool {
    CAPACITY_CODES.contains(&code)
}

/// Judges an SDK error from any client.
pub fn classify<E>(err: &SdkError<E>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let f = aws_client::judge(err);
    let (code, message) = (f.code, f.message);
    if is_capacity_code(&code) {
        ProviderError::InsufficientCapacity { code, message }
    } else if code.ends_with(".NotFound")
        || code == "ResourceNotFoundException"
        || code.starts_with("AWS.SimpleQueueService.NonExistentQueue")
    {
        ProviderError::NotFound { code, message }
    } else if f.transient {
        ProviderError::Throttled { code, message }
    } else {
        ProviderError::Other { code, message }
    }
}

/// One instance of this policy, as listed (or a command-pool start not answered yet, which
/// `--state-file` keeps across a restart).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Instance {
    pub id: String,
    /// The `spillway:pool` tag.
    pub pool: String,
    /// EC2's LaunchTime.
    pub launched_at: Timestamp,
}
