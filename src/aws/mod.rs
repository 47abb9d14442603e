//! Building AWS SDK clients the same way everywhere: the standard credential and region chain,
//! `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_SQS` / `_EC2`) honoured for local servers such as
//! moto, bounded retries and timeouts (EC2 capacity errors excepted from retries); plus one
//! shared judgement of which SDK errors are transient.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::interceptors::InterceptorContext;
use aws_sdk_ec2::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_ec2::operation::run_instances::RunInstancesError;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

/// How to build clients. `Default` suits a controller: 3 attempts, 10 s per attempt.
#[derive(Debug, Clone)]
pub struct AwsOptions {
    /// Overrides the standard chain's region (`AWS_REGION`, profile, IMDS) when set, e.g. with
    /// the region a queue URL names.
    pub region: Option<String>,
    /// Overrides `AWS_ENDPOINT_URL` when set.
    pub endpoint_url: Option<String>,
    /// Attempts per call made by the SDK's standard retry strategy; 1 disables SDK retries (for
    /// callers that retry themselves).
    pub max_attempts: u32,
    /// Limit for one attempt of one call.
    pub attempt_timeout: Duration,
}

impl Default for AwsOptions {
    fn default() -> Self {
        AwsOptions {
            region: None,
            endpoint_url: None,
            max_attempts: 3,
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

/// The retry settings `options` give every client: the SDK's standard strategy (exponential
/// backoff with jitter) with `max_attempts` attempts per call.
pub fn retry_config(options: &AwsOptions) -> RetryConfig {
    RetryConfig::standard().with_max_attempts(options.max_attempts.max(1))
}

/// The timeouts `options` give every client: `attempt_timeout` per attempt, 5 s to connect.
pub fn timeout_config(options: &AwsOptions) -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_attempt_timeout(options.attempt_timeout)
        .connect_timeout(Duration::from_secs(5))
        .build()
}

/// Loads the shared SDK configuration from the standard chain.
pub async fn load(options: &AwsOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config(options))
        .timeout_config(timeout_config(options));
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    loader.load().await
}

/// An SQS client from `config`.
pub fn sqs(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

/// A DynamoDB client from `config` (the replicas' lease).
pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// An EC2 client from `config`, with [`ec2_retry_rules`].
pub fn ec2(config: &SdkConfig) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::from_conf(
        ec2_retry_rules(aws_sdk_ec2::config::Builder::from(config)).build(),
    )
}

/// What EC2 clients add to the standard retry strategy: [`CapacityIsFinal`].
pub fn ec2_retry_rules(builder: aws_sdk_ec2::config::Builder) -> aws_sdk_ec2::config::Builder {
    builder.retry_classifier(CapacityIsFinal)
}

/// Makes RunInstances capacity errors (`InsufficientInstanceCapacity` and kin) final for the
/// call. EC2 answers them with HTTP 500, which the SDK's standard strategy retries with
/// backoff; but missing capacity does not come back within seconds, and the launcher's answer
/// to it is to try its next instance type, subnet or market at once (`provider::ec2`).
/// Retried, every exhausted option cost `max_attempts` calls and up to seconds of backoff.
#[derive(Debug, Clone, Copy)]
pub struct CapacityIsFinal;

impl ClassifyRetry for CapacityIsFinal {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let code = ctx
            .output_or_error()
            .and_then(Result::err)
            .and_then(|e| e.as_operation_error())
            .and_then(|e| e.downcast_ref::<RunInstancesError>())
            .and_then(|e| e.code());
        if code.is_some_and(is_capacity_code) {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "CapacityIsFinal"
    }
}

/// The region named in an SQS queue URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`),
/// if it has one.
pub fn region_from_queue_url(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split(['/', ':']).next()?;
    let mut parts = host.split('.');
    match (parts.next(), parts.next()) {
        (Some("sqs"), Some(region)) if region.contains('-') => Some(region.to_owned()),
        (Some(region), Some("queue")) if region.contains('-') => Some(region.to_owned()),
        _ => None,
    }
}

/// A failed SDK call, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    /// Worth retrying: throttling, a 5xx, a timeout or a network failure. Such a call may still
    /// have been carried out by the service.
    pub transient: bool,
    /// The service's error code, or a description of the local failure kind.
    pub code: String,
    pub message: String,
}

const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "KmsThrottled",
    "AWS.SimpleQueueService.RequestThrottled",
];

/// Judges an SDK error (from any service client) as transient or permanent.
pub fn judge<E>(err: &SdkError<E>) -> CallFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = aws_sdk_sqs::error::DisplayErrorContext(err).to_string();
    let local = |code: &str, transient| CallFailure {
        transient,
        code: code.to_owned(),
        message: detail.clone(),
    };
    match err {
        SdkError::TimeoutError(_) => local("Timeout", true),
        SdkError::DispatchFailure(_) => local("DispatchFailure", true),
        SdkError::ResponseError(_) => local("ResponseError", true),
        SdkError::ConstructionFailure(_) => local("ConstructionFailure", false),
        _ => {
            let code = err.code().unwrap_or("Unknown").to_owned();
            let status = err.raw_response().map(|r| r.status().as_u16());
            let transient =
                TRANSIENT_CODES.contains(&code.as_str()) || matches!(status, Some(429 | 500..=599));
            CallFailure {
                transient,
                message: err.message().map_or(detail, str::to_owned),
                code,
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_come_from_standard_queue_urls_only() {
        let url = "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs";
        assert_eq!(region_from_queue_url(url).as_deref(), Some("eu-west-1"));
        let legacy = "https://eu-west-2.queue.amazonaws.com/1/jobs.fifo";
        assert_eq!(region_from_queue_url(legacy).as_deref(), Some("eu-west-2"));
        assert_eq!(region_from_queue_url("http://127.0.0.1:5000/1/jobs"), None);
        assert_eq!(region_from_queue_url("not a url"), None);
    }
}
