//! A counting, fault-injecting HTTP proxy to put in front of moto: it counts every AWS
//! operation by name (EC2 query `Action=…`, SQS JSON `X-Amz-Target`), keeps the bodies (and
//! arrival times) of RunInstances and TerminateInstances, keeps an EC2 [`Ledger`] of the
//! instances launched and terminated through it, and applies injected [`Rule`]s (AWS errors,
//! resets, lost replies, hangs, delays; see [`super::faults`]). It can also make chosen
//! instances look `pending` in DescribeInstances answers, and honour RunInstances
//! ClientTokens the way EC2 does (moto ignores them). One request per connection
//! (`Connection: close`), which the SDK's client handles.

// Deadlines against real servers and processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::faults::error_answer;
pub use super::faults::{Effect, Rule, Target};
use super::ledger::{By, Ledger, answer_ids};
use super::relay::{forward, read_request, show_pending, split, with_body};

/// An injected AWS error answer for one operation (see [`Proxy::fail`]).
#[derive(Debug, Clone)]
pub struct Fault {
    /// HTTP status, e.g. 503.
    pub status: u16,
    /// Error code, e.g. `RequestLimitExceeded`, `ThrottlingException`.
    pub code: String,
}

/// Names an injected rule, to remove it or ask how often it fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleId(u64);

#[derive(Debug)]
struct Armed {
    id: RuleId,
    rule: Rule,
    used: HashMap<String, u64>,
}

#[derive(Debug)]
struct Shared {
    counts: HashMap<String, u64>,
    bodies: HashMap<String, Vec<String>>,
    requests: Vec<(Instant, String, String)>,
    rules: Vec<Armed>,
    fired: HashMap<RuleId, u64>,
    next_rule: u64,
    rng: fastrand::Rng,
    /// Answers of RunInstances by account and ClientToken, when EC2's idempotency is emulated.
    client_tokens: Option<HashMap<String, Vec<u8>>>,
    pending: HashSet<String>,
    ledger: Ledger,
}

/// The running proxy; lives until the test's runtime ends.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

/// Operations that change something in EC2 or SQS.
pub const MUTATING: &[&str] = &[
    "RunInstances",
    "TerminateInstances",
    "StopInstances",
    "StartInstances",
    "CreateTags",
    "DeleteTags",
    "CreateFleet",
    "RequestSpotInstances",
    "ModifyInstanceAttribute",
    "SendMessage",
    "SendMessageBatch",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "PurgeQueue",
    "CreateQueue",
    "DeleteQueue",
];

/// Operations whose bodies (and arrival times) are kept.
const KEPT: &[&str] = &["RunInstances", "TerminateInstances"];

impl Proxy {
    /// Starts a proxy to `upstream` on 127.0.0.1 and a free port.
    pub async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let shared = Arc::new(Mutex::new(Shared {
            counts: HashMap::new(),
            bodies: HashMap::new(),
            requests: Vec::new(),
            rules: Vec::new(),
            fired: HashMap::new(),
            next_rule: 0,
            rng: fastrand::Rng::with_seed(u64::from(addr.port())),
            client_tokens: None,
            pending: HashSet::new(),
            ledger: Ledger::default(),
        }));
        let s = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(conn, upstream, s).await;
                });
            }
        });
        Proxy { addr, shared }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How often `operation` was called.
    pub fn count(&self, operation: &str) -> u64 {
        self.lock().counts.get(operation).copied().unwrap_or(0)
    }

    /// Every operation seen, with its count.
    pub fn counts(&self) -> HashMap<String, u64> {
        self.lock().counts.clone()
    }

    /// The sum of the counts of [`MUTATING`] operations.
    pub fn mutating_calls(&self) -> u64 {
        MUTATING.iter().map(|op| self.count(op)).sum()
    }

    /// The request bodies of `operation` seen so far (RunInstances and TerminateInstances).
    pub fn bodies(&self, operation: &str) -> Vec<String> {
        self.lock()
            .bodies
            .get(operation)
            .cloned()
            .unwrap_or_default()
    }

    /// When each request of `operation` arrived, with its body (RunInstances and
    /// TerminateInstances), whatever became of it.
    pub fn requests(&self, operation: &str) -> Vec<(Instant, String)> {
        self.lock()
            .requests
            .iter()
            .filter(|(_, op, _)| op == operation)
            .map(|(at, _, body)| (*at, body.clone()))
            .collect()
    }

    /// Answers every call of `operation` with `fault` until [`Proxy::heal`].
    pub fn fail(&self, operation: &str, fault: Fault) {
        self.inject(Rule::new(
            Target::Ops(vec![operation.to_string()]),
            Effect::error(fault.status, &fault.code),
        ));
    }

    /// Applies `rule` from now on (the first matching rule wins) until removed or healed.
    pub fn inject(&self, rule: Rule) -> RuleId {
        let mut s = self.lock();
        let id = RuleId(s.next_rule);
        s.next_rule += 1;
        s.rules.push(Armed {
            id,
            rule,
            used: HashMap::new(),
        });
        id
    }

    /// Stops applying one rule.
    pub fn remove(&self, id: RuleId) {
        self.lock().rules.retain(|a| a.id != id);
    }

    /// How many requests rule `id` has hit.
    pub fn fired(&self, id: RuleId) -> u64 {
        self.lock().fired.get(&id).copied().unwrap_or(0)
    }

    /// Stops injecting faults.
    pub fn heal(&self) {
        self.lock().rules.clear();
    }

    /// Answers a RunInstances that repeats an earlier ClientToken (same account) with the
    /// earlier answer instead of forwarding it, as EC2 does; moto would launch again.
    pub fn emulate_client_tokens(&self) {
        self.lock().client_tokens.get_or_insert_with(HashMap::new);
    }

    /// Shows `instance` as `pending` in every DescribeInstances answer from now on.
    pub fn show_pending(&self, instance: &str) {
        self.lock().pending.insert(instance.to_string());
    }

    /// The ledger of instances launched and terminated so far.
    pub fn ledger(&self) -> Ledger {
        self.lock().ledger.clone()
    }

    /// Records instances the test launched (`launched`) or terminated behind the proxy.
    pub fn note(&self, launched: &[String], terminated: &[String]) {
        self.lock()
            .ledger
            .push(By::Test, launched.to_vec(), terminated.to_vec());
    }
}

/// Counts and logs the request, and picks the effect of the first rule that hits it.
fn admit(s: &mut Shared, operation: &str, json: bool, body: &str) -> Option<Effect> {
    *s.counts.entry(operation.to_string()).or_default() += 1;
    if KEPT.contains(&operation) {
        s.bodies
            .entry(operation.to_string())
            .or_default()
            .push(body.to_string());
        s.requests
            .push((Instant::now(), operation.to_string(), body.to_string()));
    }
    let Shared {
        rules, rng, fired, ..
    } = s;
    for armed in rules.iter_mut() {
        if !armed.rule.matches(operation, json, body) {
            continue;
        }
        let used = armed.used.entry(operation.to_string()).or_default();
        if armed.rule.per_op_limit.is_some_and(|n| *used >= n) {
            continue;
        }
        if armed.rule.fraction < 1.0 && rng.f64() >= armed.rule.fraction {
            continue;
        }
        *used += 1;
        *fired.entry(armed.id).or_default() += 1;
        return Some(armed.rule.effect.clone());
    }
    None
}

async fn serve(
    mut conn: TcpStream,
    upstream: u16,
    shared: Arc<Mutex<Shared>>,
) -> std::io::Result<()> {
    let Some(request) = read_request(&mut conn).await? else {
        return Ok(());
    };
    let json = request.header("x-amz-target").is_some();
    let operation = request
        .header("x-amz-target")
        .and_then(|t| t.rsplit('.').next().map(str::to_string))
        .or_else(|| request.param("Action"))
        .unwrap_or_else(|| "Unknown".to_string());
    let token_key = (operation == "RunInstances")
        .then(|| request.param("ClientToken"))
        .flatten()
        .map(|t| {
            format!(
                "{}/{t}",
                request.header("x-moto-account-id").unwrap_or_default()
            )
        });
    let (effect, cached) = {
        let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
        let effect = admit(&mut s, &operation, json, &request.text());
        let cached = match (&s.client_tokens, &token_key) {
            (Some(cache), Some(key)) => cache.get(key).cloned(),
            _ => None,
        };
        (effect, cached)
    };
    match &effect {
        Some(Effect::Error { status, code }) => {
            conn.write_all(&error_answer(json, *status, code)).await?;
            return conn.shutdown().await;
        }
        Some(Effect::Reset) => {
            let _ = conn.set_zero_linger();
            return Ok(());
        }
        Some(Effect::Hang(most)) => {
            // Wait for the client to give up (it closes the connection), or `most`.
            let _ = tokio::time::timeout(*most, async {
                let mut sink = [0u8; 1024];
                while let Ok(n) = conn.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            })
            .await;
            return Ok(());
        }
        Some(Effect::Delay(d)) => tokio::time::sleep(*d).await,
        Some(Effect::LostReply) | None => {}
    }
    let answer = match cached {
        Some(answer) => answer,
        None => {
            let answer = forward(&request, upstream).await?;
            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
            settle(&mut s, &operation, answer, token_key)
        }
    };
    if effect == Some(Effect::LostReply) {
        let _ = conn.set_zero_linger();
        return Ok(());
    }
    conn.write_all(&answer).await?;
    conn.shutdown().await
}

/// Books an upstream answer: the ledger, the ClientToken cache, and `pending` rewrites.
fn settle(s: &mut Shared, operation: &str, answer: Vec<u8>, token_key: Option<String>) -> Vec<u8> {
    let (head, body) = split(&answer);
    let head = String::from_utf8_lossy(head).into_owned();
    let ok = head.split_whitespace().nth(1) == Some("200");
    let text = String::from_utf8_lossy(body).into_owned();
    match operation {
        "RunInstances" if ok => {
            s.ledger.push(By::Service, answer_ids(&text), Vec::new());
            if let (Some(cache), Some(key)) = (&mut s.client_tokens, token_key) {
                cache.insert(key, answer.clone());
            }
            answer
        }
        "TerminateInstances" if ok => {
            s.ledger.push(By::Service, Vec::new(), answer_ids(&text));
            answer
        }
        "DescribeInstances" if ok && !s.pending.is_empty() => {
            with_body(&answer, &show_pending(&text, &s.pending))
        }
        _ => answer,
    }
}
