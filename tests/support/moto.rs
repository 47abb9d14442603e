//! The moto harness for integration tests: one moto server (EC2, SQS, DynamoDB) per test binary,
//! started on first use from `.venv-moto` (installed by `scripts/test`), and SDK clients that
//! give each test its own empty AWS account on that server, so tests run in parallel.
//!
//! The server is `scripts/moto_harness.py`, whose stdin we hold open for the life of the test
//! process: when the process exits or is killed, the pipe closes and the server goes with it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Duration;

use aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_sqs::config::retry::RetryPartition;
use aws_sdk_sqs::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use spillway::aws::{self, AwsOptions};

/// The account moto uses for requests without an `x-moto-account-id` header: the one a spawned
/// `spillway` binary talks to. Tests that share it must use unique resource names.
pub const DEFAULT_ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// The running server. Never dropped: it lives until the test process ends.
pub struct MotoServer {
    port: u16,
    _child: Mutex<Child>,
    _stdin: Mutex<ChildStdin>,
}

static SERVER: OnceLock<MotoServer> = OnceLock::new();
static NEXT_ACCOUNT: AtomicU64 = AtomicU64::new(100_000_000_001);

/// The test binary's moto server, started on first call.
pub fn server() -> &'static MotoServer {
    SERVER.get_or_init(MotoServer::start)
}

/// A 12-digit account id no other test in this binary uses: an empty AWS world.
pub fn fresh_account() -> String {
    NEXT_ACCOUNT.fetch_add(1, Ordering::Relaxed).to_string()
}

/// An SQS client configuration for moto: test credentials, `endpoint`, acting in `account`.
fn sqs_config(account: &str, endpoint: &str) -> aws_sdk_sqs::config::Builder {
    aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
        .endpoint_url(endpoint)
        .interceptor(MotoAccount(account.to_owned()))
}

/// The EC2 counterpart of [`sqs_config`].
fn ec2_config(account: &str, endpoint: &str) -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::Config::builder()
        .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
        .region(aws_sdk_ec2::config::Region::new(REGION))
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .endpoint_url(endpoint)
        .interceptor(MotoAccount(account.to_owned()))
}

impl MotoServer {
    fn start() -> MotoServer {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let python = root.join(".venv-moto/bin/python");
        assert!(
            python.exists(),
            "moto is not installed ({} is missing). Run the tests with `scripts/test`, which \
             installs it (scripts/install-test-deps.sh).",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg(root.join("scripts/moto_harness.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("moto_harness.py did not print its port within 60 s");
        let port = line.trim().parse().unwrap_or_else(|_| {
            panic!("moto_harness.py printed {line:?} instead of a port (see its stderr above)")
        });
        MotoServer {
            port,
            _child: Mutex::new(child),
            _stdin: Mutex::new(stdin),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SQS client acting in `account` (see [`fresh_account`]).
    pub fn sqs_client(&self, account: &str) -> aws_sdk_sqs::Client {
        self.sqs_client_via(account, &self.endpoint())
    }

    /// An SQS client acting in `account` that sends its requests to `endpoint` (e.g. a
    /// counting or fault-injecting proxy in front of this server).
    pub fn sqs_client_via(&self, account: &str, endpoint: &str) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::from_conf(sqs_config(account, endpoint).build())
    }

    /// An EC2 client acting in `account`.
    pub fn ec2_client(&self, account: &str) -> aws_sdk_ec2::Client {
        self.ec2_client_via(account, &self.endpoint())
    }

    /// An EC2 client acting in `account` that sends its requests to `endpoint`.
    pub fn ec2_client_via(&self, account: &str, endpoint: &str) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::from_conf(ec2_config(account, endpoint).build())
    }

    /// A DynamoDB client acting in `account`.
    pub fn dynamodb_client(&self, account: &str) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new(REGION))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "moto",
            ))
            .endpoint_url(self.endpoint())
            .interceptor(MotoAccount(account.to_owned()))
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// An EC2 client acting in `account` through `endpoint`, with the retry and timeout settings
    /// `spillway run` gives its own clients (`aws::retry_config` / `timeout_config` /
    /// `ec2_retry_rules`) from `options`, and a retry token bucket of its own: the SDK shares one bucket per
    /// partition across the process, and tests running side by side must not drain each
    /// other's retries.
    pub fn ec2_client_as_service(
        &self,
        account: &str,
        endpoint: &str,
        options: &AwsOptions,
    ) -> aws_sdk_ec2::Client {
        let config = ec2_config(account, endpoint)
            .retry_config(aws::retry_config(options))
            .timeout_config(aws::timeout_config(options))
            .retry_partition(RetryPartition::new(format!("ec2-{account}-{endpoint}")));
        aws_sdk_ec2::Client::from_conf(aws::ec2_retry_rules(config).build())
    }

    /// The SQS counterpart of [`MotoServer::ec2_client_as_service`].
    pub fn sqs_client_as_service(
        &self,
        account: &str,
        endpoint: &str,
        options: &AwsOptions,
    ) -> aws_sdk_sqs::Client {
        let config = sqs_config(account, endpoint)
            .retry_config(aws::retry_config(options))
            .timeout_config(aws::timeout_config(options))
            .retry_partition(RetryPartition::new(format!("sqs-{account}-{endpoint}")))
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    /// Environment for a child process (e.g. the `spillway` binary) to reach this server through
    /// the standard chain. It lands in [`DEFAULT_ACCOUNT`].
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ]
    }
}

/// Sets `x-moto-account-id` on every request, so moto serves it from that account's state.
#[derive(Debug)]
struct MotoAccount(String);

impl Intercept for MotoAccount {
    fn name(&self) -> &'static str {
        "MotoAccount"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}
