//! Heartbeats that reach a follower reach the leader too.
//!
//! Workers know one address (a load balancer or DNS name in front of the replicas), so a
//! heartbeat lands on whichever replica it lands on. Every replica records what it hears, so a
//! follower that becomes the leader starts from what it heard; a follower also passes each
//! heartbeat on to the leader, whose address the lease item carries, and answers the worker
//! with the leader's reply (a drain the leader asked for reaches the worker through any
//! replica). Forwarding costs no AWS call: the follower already reads the lease item every
//! third of a lease period. A forwarded heartbeat carries [`FORWARDED_HEADER`] and is never
//! forwarded again.

use std::sync::Mutex;
use std::time::Duration;

use crate::heartbeat::client;
use crate::heartbeat::protocol::Reply;

/// The header a forwarded heartbeat carries (the forwarding replica's id).
pub const FORWARDED_HEADER: &str = "x-spillway-forwarded";

/// How long a follower waits for the leader before answering the worker itself.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);

/// Where this replica passes heartbeats on to: the leader's address while this replica follows
/// one that advertised it; `None` while it leads, runs alone, or does not know the leader.
#[derive(Debug, Default)]
pub struct LeaderAddress {
    inner: Mutex<Option<String>>,
}

impl LeaderAddress {
    /// Sets (or clears) the leader's address.
    pub fn set(&self, address: Option<String>) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = address;
    }

    /// The leader's address, when heartbeats should be passed on.
    pub fn get(&self) -> Option<String> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Passes one heartbeat `body` with the worker's `authorization` on to the leader at `leader`
/// (`host:port`) and returns the leader's reply; `None` when the leader did not answer 200 with
/// a reply in time (the caller answers from its own registry).
pub async fn forward(leader: &str, authorization: &str, me: &str, body: &[u8]) -> Option<Reply> {
    let r = client::request(
        leader,
        "POST",
        "/v1/heartbeat",
        &[
            ("Authorization", authorization),
            ("Content-Type", "application/json"),
            (FORWARDED_HEADER, me),
        ],
        body,
        FORWARD_TIMEOUT,
    )
    .await
    .ok()?;
    if r.status != 200 {
        return None;
    }
    serde_json::from_slice(&r.body).ok()
}
