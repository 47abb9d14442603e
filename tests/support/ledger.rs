//! The EC2 ledger the test proxy keeps: which instances exist, in order, from the
//! RunInstances answers and TerminateInstances answers it relayed, plus what the test itself
//! started or terminated behind the service's back. Replaying it gives the most instances
//! that were ever alive at once, which sampling the listing could miss.

// Deadlines against real servers and processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeSet;

use tokio::time::Instant;

/// Who changed the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The service, through the proxy.
    Service,
    /// The test, directly on moto.
    Test,
}

/// One change to the fleet.
#[derive(Debug, Clone)]
pub struct Event {
    pub at: Instant,
    pub by: By,
    pub launched: Vec<String>,
    pub terminated: Vec<String>,
}

/// Every change, in the order the answers arrived.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub events: Vec<Event>,
}

impl Ledger {
    /// Records a change.
    pub fn push(&mut self, by: By, launched: Vec<String>, terminated: Vec<String>) {
        self.events.push(Event {
            at: Instant::now(),
            by,
            launched,
            terminated,
        });
    }

    /// The most instances alive at once, and when (the first time it was reached).
    pub fn peak(&self) -> (usize, Option<Instant>) {
        let mut live = BTreeSet::new();
        let mut peak = (0, None);
        for e in &self.events {
            live.extend(e.launched.iter().cloned());
            if live.len() > peak.0 {
                peak = (live.len(), Some(e.at));
            }
            for id in &e.terminated {
                live.remove(id);
            }
        }
        peak
    }

    /// Instances alive after the last change.
    pub fn live(&self) -> BTreeSet<String> {
        let mut live = BTreeSet::new();
        for e in &self.events {
            live.extend(e.launched.iter().cloned());
            for id in &e.terminated {
                live.remove(id);
            }
        }
        live
    }

    /// Distinct instances launched by `by`.
    pub fn launched_by(&self, by: By) -> usize {
        let ids: BTreeSet<&String> = self
            .events
            .iter()
            .filter(|e| e.by == by)
            .flat_map(|e| &e.launched)
            .collect();
        ids.len()
    }

    /// Distinct instances terminated by `by`.
    pub fn terminated_by(&self, by: By) -> usize {
        let ids: BTreeSet<&String> = self
            .events
            .iter()
            .filter(|e| e.by == by)
            .flat_map(|e| &e.terminated)
            .collect();
        ids.len()
    }
}

/// The instance ids an EC2 XML answer names (`<instanceId>…</instanceId>`), each once.
pub fn answer_ids(xml: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for part in xml.split("<instanceId>").skip(1) {
        if let Some((id, _)) = part.split_once("</instanceId>")
            && !ids.iter().any(|x| x == id)
        {
            ids.push(id.to_string());
        }
    }
    ids
}

/// The instance ids an EC2 query request names (`InstanceId.N=…`).
pub fn request_ids(body: &str) -> Vec<String> {
    body.split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            k.starts_with("InstanceId.").then(|| v.to_string())
        })
        .collect()
}
