//! The service's whole tick history, read through `/status`: a task polls it more often than
//! ticks happen (the board keeps the last 20), and keeps every tick report by number, with
//! its observation errors, decision and what was executed.

// Deadlines against real servers and processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use spillway::heartbeat::client;
use tokio::task::JoinHandle;
use tokio::time::Instant;

#[derive(Default)]
struct Seen {
    ticks: BTreeMap<u64, (Instant, Value)>,
    unanswered: u64,
}

/// Polls `/status` until dropped.
pub struct History {
    seen: Arc<Mutex<Seen>>,
    task: JoinHandle<()>,
}

/// One tick, as recorded.
#[derive(Debug, Clone)]
pub struct Tick {
    pub n: u64,
    /// When the test first saw it.
    pub seen_at: Instant,
    pub report: Value,
}

impl Tick {
    /// Why parts of its observation were missing (empty: it read everything).
    pub fn errors(&self) -> Vec<String> {
        strings(&self.report["observation_errors"])
    }

    /// `(action, reason kind)` of each action decided.
    pub fn actions(&self) -> Vec<(String, String)> {
        self.report["decision"]["actions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        let s = |v: &Value| v.as_str().unwrap_or("").to_string();
                        (s(&x["action"]), s(&x["reason"]["kind"]))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Workers terminated for not booting within `boot_timeout`.
    pub fn boot_timeouts(&self) -> usize {
        self.report["decision"]["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["action"] == "terminate" && a["reason"]["kind"] == "boot_timeout")
            .map(|a| a["workers"].as_array().map_or(0, Vec::len))
            .sum()
    }

    /// What the service did about it.
    pub fn executed(&self) -> Vec<String> {
        strings(&self.report["executed"])
    }

    /// The EC2 pool's counts: `None` when it could not be listed.
    pub fn ec2_workers(&self) -> Option<u32> {
        let w = self.report["workers"]
            .as_array()?
            .iter()
            .find(|p| p["pool"] == "ec2")?;
        if w["known"] != true {
            return None;
        }
        let n = |k: &str| w[k].as_u64().unwrap_or(0) as u32;
        Some(n("booting") + n("idle") + n("busy") + n("draining"))
    }

    /// Busy EC2 workers, when known.
    pub fn busy(&self) -> Option<u32> {
        let w = self.report["workers"]
            .as_array()?
            .iter()
            .find(|p| p["pool"] == "ec2")?;
        (w["known"] == true).then(|| w["busy"].as_u64().unwrap_or(0) as u32)
    }
}

impl History {
    /// Starts polling the service at `host`.
    pub fn start(host: String) -> History {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                poll(&host, &s).await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        History { seen, task }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every tick so far, in order.
    pub fn ticks(&self) -> Vec<Tick> {
        self.lock()
            .ticks
            .iter()
            .map(|(n, (at, v))| Tick {
                n: *n,
                seen_at: *at,
                report: v.clone(),
            })
            .collect()
    }

    /// The newest tick, if any.
    pub fn last(&self) -> Option<Tick> {
        self.ticks().pop()
    }

    /// Polls that got no answer.
    pub fn unanswered(&self) -> u64 {
        self.lock().unanswered
    }
}

impl Drop for History {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn poll(host: &str, seen: &Mutex<Seen>) {
    let answer = client::request(host, "GET", "/status", &[], b"", Duration::from_secs(5)).await;
    let status: Option<Value> = answer
        .ok()
        .filter(|r| r.status == 200)
        .and_then(|r| serde_json::from_slice(&r.body).ok());
    let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
    let Some(status) = status else {
        s.unanswered += 1;
        return;
    };
    let now = Instant::now();
    for t in status["recent"].as_array().into_iter().flatten() {
        if let Some(n) = t["tick"].as_u64() {
            s.ticks.entry(n).or_insert_with(|| (now, t.clone()));
        }
    }
}

/// The strings of a JSON array (none when it is not one).
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect()
}
