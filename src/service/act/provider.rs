//! What every provider shares: the tags that mark an instance as this policy's own, and
//! [`ProviderError`], the act seam's one error type (an AWS request or a command pool's
//! program), with [`classify`] turning an SDK error into it.

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

use crate::aws;

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

/// Judges an SDK error from any client.
pub fn classify<E>(err: &SdkError<E>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let f = aws::judge(err);
    let (code, message) = (f.code, f.message);
    if aws::is_capacity_code(&code) {
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
