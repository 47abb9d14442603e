//! What the test proxy ([`super::proxy`]) can do to a request instead of, or besides,
//! forwarding it: the [`Effect`]s, the [`Rule`]s that pick requests (by operation, protocol,
//! body text, a burst count per operation, a seeded share), and AWS error answers in each
//! protocol's wire shape: EC2's query protocol answers XML
//! (`<Response><Errors><Error><Code>…`), SQS's JSON protocol answers `{"__type": …}` with the
//! `x-amzn-query-error` header its SDK reads the code from.

use std::time::Duration;

/// What happens to a request a rule picked.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Answer with this HTTP status and AWS error code, in the request's protocol; nothing is
    /// forwarded.
    Error { status: u16, code: String },
    /// Close the connection (RST) without answering; nothing is forwarded.
    Reset,
    /// Forward, then close without relaying the answer: the call took effect, its reply is lost.
    LostReply,
    /// Hold the connection without answering until the client gives up (at most this long),
    /// then close it; nothing is forwarded.
    Hang(Duration),
    /// Forward after this delay.
    Delay(Duration),
}

impl Effect {
    /// An AWS error answer.
    pub fn error(status: u16, code: &str) -> Effect {
        Effect::Error {
            status,
            code: code.to_string(),
        }
    }
}

/// Which requests a rule looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Every request.
    All,
    /// EC2 query-protocol requests (`Action=…` in the body).
    Ec2,
    /// SQS JSON-protocol requests (`X-Amz-Target`).
    Sqs,
    /// These operations only.
    Ops(Vec<String>),
}

/// One injected fault: which requests, and what happens to them.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub target: Target,
    /// Only requests whose body contains this text (e.g. `InstanceType=c5.large`).
    pub body_contains: Option<String>,
    pub effect: Effect,
    /// Hit at most this many requests per operation (a burst); `None`: no limit.
    pub per_op_limit: Option<u64>,
    /// The share of matching requests hit, drawn from the proxy's seeded generator.
    pub fraction: f64,
}

impl Rule {
    /// Every request of `target` gets `effect`.
    pub fn new(target: Target, effect: Effect) -> Rule {
        Rule {
            target,
            body_contains: None,
            effect,
            per_op_limit: None,
            fraction: 1.0,
        }
    }

    /// Only the next `n` matching requests of each operation.
    pub fn burst(mut self, n: u64) -> Rule {
        self.per_op_limit = Some(n);
        self
    }

    /// Only a share `f` (0–1) of matching requests.
    pub fn share(mut self, f: f64) -> Rule {
        self.fraction = f;
        self
    }

    /// Only requests whose body contains `text`.
    pub fn when_body_contains(mut self, text: &str) -> Rule {
        self.body_contains = Some(text.to_string());
        self
    }

    /// Whether the rule looks at this request (before its limit and share).
    pub fn matches(&self, operation: &str, json: bool, body: &str) -> bool {
        let target = match &self.target {
            Target::All => true,
            Target::Ec2 => !json,
            Target::Sqs => json,
            Target::Ops(ops) => ops.iter().any(|o| o == operation),
        };
        target && self.body_contains.as_ref().is_none_or(|t| body.contains(t))
    }
}

/// A complete HTTP answer carrying AWS error `code` with `status`, shaped for EC2's query
/// protocol (`json == false`) or SQS's JSON protocol.
pub fn error_answer(json: bool, status: u16, code: &str) -> Vec<u8> {
    let message = match code {
        "RequestLimitExceeded" => "Request limit exceeded.".to_string(),
        "ThrottlingException" => "Rate exceeded".to_string(),
        "InsufficientInstanceCapacity" => "We currently do not have sufficient capacity in the \
            Availability Zone you requested. Our system will be working on provisioning \
            additional capacity."
            .to_string(),
        _ => "The service is unavailable.".to_string(),
    } + " (injected by the test proxy)";
    let (headers, body) = if json {
        let namespace = match code {
            "ThrottlingException" => "com.amazon.coral.availability",
            "InternalFailure" | "ServiceUnavailable" => "com.amazon.coral.service",
            _ => "com.amazonaws.sqs",
        };
        let fault = if status >= 500 { "Receiver" } else { "Sender" };
        (
            format!(
                "Content-Type: application/x-amz-json-1.0\r\nX-Amzn-Errortype: {namespace}#{code}\r\n\
                 x-amzn-query-error: {code};{fault}\r\n"
            ),
            format!(r#"{{"__type":"{namespace}#{code}","message":"{message}"}}"#),
        )
    } else {
        (
            "Content-Type: text/xml\r\n".to_string(),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}\
                 </Code><Message>{message}</Message></Error></Errors><RequestID>\
                 00000000-0000-0000-0000-000000000000</RequestID></Response>"
            ),
        )
    };
    format!(
        "HTTP/1.1 {status} Injected\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
