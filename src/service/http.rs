//! The service's HTTP listener: `GET /metrics` (Prometheus text), `GET /status` (JSON),
//! `POST /v1/heartbeat` (bearer token, 16 KiB body limit, 400 on malformed JSON) and the
//! operator's `POST /v1/pause` / `POST /v1/resume` (admin bearer token; disabled without one).
//! A follower replica passes heartbeats on to the leader ([`super::forward`]).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use tracing::info;

use crate::clock::Clock;
use crate::heartbeat::protocol::{self, Interruption, MAX_BODY_BYTES, Rejection, Reply};
use crate::metrics::Metrics;
use crate::service::observe::jobs::{JobRecord, JobReports, QueueWait};
use crate::service::observe::registry::{Refused, Registry};

use super::forward::{self, FORWARDED_HEADER, LeaderAddress};
use super::status::StatusBoard;

/// What the handlers share.
pub struct HttpState {
    pub registry: Arc<Registry>,
    /// What workers reported of their jobs, for the control loop to take.
    pub job_reports: Arc<JobReports>,
    pub metrics: Metrics,
    pub status: Arc<StatusBoard>,
    /// The workers' bearer token.
    pub token: String,
    /// The operator's bearer token for pause and resume; `None` disables them.
    pub admin_token: Option<String>,
    pub pause: Arc<super::pause::PauseSwitch>,
    /// Pool names a heartbeat may name.
    pub pools: Vec<String>,
    /// The policy's queues, `(url, name)`: a job report's queue is labelled by its name.
    pub queues: Vec<(String, String)>,
    pub clock: Arc<dyn Clock>,
    /// Where heartbeats are passed on to while this replica follows (see [`super::forward`]).
    pub leader: Arc<LeaderAddress>,
    /// This replica's id, named in the heartbeats it forwards.
    pub replica_id: String,
}

/// The routes.
pub fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/v1/heartbeat", post(heartbeat))
        .route("/v1/pause", post(pause))
        .route("/v1/resume", post(resume))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn metrics(State(s): State<Arc<HttpState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

async fn status(State(s): State<Arc<HttpState>>) -> Response {
    axum::Json(s.status.to_json()).into_response()
}

async fn heartbeat(
    State(s): State<Arc<HttpState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let raw = body.as_ref().ok().cloned();
    match accept(&s, &headers, body) {
        Ok((reply, hb, noticed)) => {
            s.metrics.heartbeats.inc();
            // Counted where the fleet is judged: a follower passes the reports on instead.
            if s.leader.get().is_none() {
                record_jobs(&s, &hb);
                if let Some(kind) = noticed {
                    s.metrics
                        .worker_interruptions
                        .with_label_values(&[hb.pool.as_str(), kind.label()])
                        .inc();
                    info!(worker = %hb.worker_id, pool = %hb.pool, instance = hb.instance_id.as_deref().unwrap_or("-"), kind = kind.label(), "A worker's instance is going away: draining and replacing it.");
                }
            }
            // A follower passes it on, and answers with the leader's reply when it has one.
            let leader = s.leader.get();
            let forwarded = headers.contains_key(FORWARDED_HEADER);
            if let (Some(leader), false, Some(raw)) = (leader, forwarded, raw) {
                let auth = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let outcome = forward::forward(&leader, auth, &s.replica_id, &raw).await;
                let label = if outcome.is_some() { "ok" } else { "failed" };
                s.metrics
                    .heartbeats_forwarded
                    .with_label_values(&[label])
                    .inc();
                if let Some(reply) = outcome {
                    return axum::Json(reply).into_response();
                }
            }
            axum::Json(reply).into_response()
        }
        Err((code, label, message)) => {
            s.metrics
                .heartbeats_rejected
                .with_label_values(&[label])
                .inc();
            (code, axum::Json(serde_json::json!({ "error": message }))).into_response()
        }
    }
}

/// Checks the admin token; the refusal is the response to send.
fn admin(s: &HttpState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let refuse = |code: StatusCode, outcome: &str, message: &str| {
        s.metrics.admin_requests.with_label_values(&[outcome]).inc();
        Box::new((code, axum::Json(serde_json::json!({ "error": message }))).into_response())
    };
    let Some(token) = &s.admin_token else {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "disabled",
            "admin endpoints are disabled: start spillway run with an admin token",
        ));
    };
    let auth = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    if !protocol::authorized(auth, token) {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "bad or missing admin token",
        ));
    }
    Ok(())
}

async fn pause(
    State(s): State<Arc<HttpState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(refused) = admin(&s, &headers) {
        return *refused;
    }
    let reason = body
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v["reason"]
                .as_str()
                .map(|r| r.chars().take(200).collect::<String>())
        })
        .unwrap_or_else(|| "no reason given".into());
    s.pause.pause(reason);
    let state = s.pause.state();
    // The gauge says so now, not at the next tick.
    s.metrics.paused.set(1.0);
    s.metrics
        .admin_requests
        .with_label_values(&["paused"])
        .inc();
    info!(
        reason = state.as_deref().unwrap_or(""),
        "Scaling paused through the API."
    );
    axum::Json(serde_json::json!({ "paused": state })).into_response()
}

async fn resume(State(s): State<Arc<HttpState>>, headers: HeaderMap) -> Response {
    if let Err(refused) = admin(&s, &headers) {
        return *refused;
    }
    let was = s.pause.resume();
    let still = s.pause.state();
    s.metrics
        .paused
        .set(if still.is_some() { 1.0 } else { 0.0 });
    s.metrics
        .admin_requests
        .with_label_values(&["resumed"])
        .inc();
    info!(
        still_paused_by = still.as_deref().unwrap_or("nothing"),
        "Scaling resumed through the API."
    );
    // A pause file may still hold the switch: say so.
    axum::Json(serde_json::json!({ "resumed": was, "paused": still })).into_response()
}

/// Exports what the heartbeat's worker reports of its finished jobs, and keeps them for the
/// control loop (the record, the measured waits).
fn record_jobs(s: &HttpState, hb: &protocol::Heartbeat) {
    let now = s.clock.now();
    for r in &hb.finished {
        let queue = queue_name(s, &r.queue);
        s.metrics
            .job_wait_seconds
            .with_label_values(&[queue])
            .observe(r.waited_s);
        s.metrics
            .job_run_seconds
            .with_label_values(&[hb.pool.as_str()])
            .observe(r.ran_s);
        let outcome = if r.ok { "ok" } else { "failed" };
        s.metrics
            .jobs_finished
            .with_label_values(&[hb.pool.as_str(), outcome])
            .inc();
        s.job_reports
            .add_finished(JobRecord::of(r, queue, &hb.pool, now));
    }
    for t in &hb.taken {
        s.job_reports.add_taken(QueueWait {
            queue: queue_name(s, &t.queue).to_string(),
            waited_s: t.waited_s,
            heard_at: now,
        });
    }
}

/// The policy's name for the queue at `url`: `other` when it names none.
fn queue_name<'a>(s: &'a HttpState, url: &str) -> &'a str {
    s.queues
        .iter()
        .find(|(u, _)| u == url)
        .map_or("other", |(_, name)| name.as_str())
}

type Refusal = (StatusCode, &'static str, String);

fn accept(
    s: &HttpState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Reply, protocol::Heartbeat, Option<Interruption>), Refusal> {
    let refuse = |r: Rejection| {
        let code = match r {
            Rejection::Unauthorized => StatusCode::UNAUTHORIZED,
            Rejection::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::Malformed(_) => StatusCode::BAD_REQUEST,
        };
        (code, r.label(), r.to_string())
    };
    let auth = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    if !protocol::authorized(auth, &s.token) {
        return Err(refuse(Rejection::Unauthorized));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            refuse(Rejection::TooLarge)
        } else {
            refuse(Rejection::Malformed(e.body_text()))
        }
    })?;
    let hb = protocol::parse(&body).map_err(refuse)?;
    if !s.pools.contains(&hb.pool) {
        return Err(refuse(Rejection::Malformed(format!(
            "unknown pool \"{}\"",
            hb.pool
        ))));
    }
    match s.registry.beat_noting(hb.clone(), s.clock.now()) {
        Ok((command, noticed)) => Ok((Reply { command }, hb, noticed)),
        Err(refused) => {
            let code = match refused {
                Refused::Full(_) => StatusCode::SERVICE_UNAVAILABLE,
                Refused::Conflict { .. } => StatusCode::CONFLICT,
            };
            Err((code, refused.label(), refused.to_string()))
        }
    }
}
