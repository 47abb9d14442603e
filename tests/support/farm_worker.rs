//! One worker of the in-process [`super::farm`]: a heartbeat task that reports as its
//! instance (idle or busy, the job, jobs done, drained) and obeys `drain`, and a job task that
//! takes jobs from SQS one at a time, holds each for its `duration_s` while keeping the
//! message invisible, deletes it, and records its busy spells in the farm's truth; like
//! `examples/render_worker.rs`, a drained worker finishes its job, reports `drained`, exits.

// Deadlines against real servers and processes read the wall clock.
#![allow(clippy::disallowed_methods)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spillway::heartbeat::client;
use spillway::heartbeat::protocol::{Command, Heartbeat, ReportedState};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::farm::{FarmConfig, State};
use super::service::TOKEN;

const HEARTBEAT_EVERY: Duration = Duration::from_millis(300);
const VISIBILITY_S: i32 = 4;

#[derive(Default)]
struct Status {
    job: Option<String>,
    jobs_done: u64,
    drain: bool,
    drained: bool,
}

/// Starts `instance`'s worker: a heartbeat task and a job task.
pub fn boot(c: &FarmConfig, state: Arc<Mutex<State>>, instance: &str) -> Vec<JoinHandle<()>> {
    let status = Arc::new(Mutex::new(Status::default()));
    let beat = {
        let (status, state) = (status.clone(), state.clone());
        let id = instance.to_string();
        tokio::spawn(async move {
            loop {
                beat_once(&id, &status, &state).await;
                tokio::time::sleep(HEARTBEAT_EVERY).await;
            }
        })
    };
    let (c, id, stop_beat) = (c.clone(), instance.to_string(), beat.abort_handle());
    let jobs = tokio::spawn(async move {
        while !status.lock().unwrap().drain {
            let Some((job, duration, receipt)) = receive(&c).await else {
                continue;
            };
            {
                let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                let t = s.truth.entry(id.clone()).or_default();
                t.busy.push((Instant::now(), None, job.clone()));
                status.lock().unwrap().job = Some(job.clone());
            }
            render(&c, &receipt, duration).await;
            let deleted = c
                .sqs
                .delete_message()
                .queue_url(&c.queue_url)
                .receipt_handle(&receipt)
                .send()
                .await
                .is_ok();
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(spell) = s.truth.entry(id.clone()).or_default().busy.last_mut() {
                spell.1 = Some(Instant::now());
            }
            if deleted {
                s.done.push(job);
            }
            let mut st = status.lock().unwrap();
            st.job = None;
            st.jobs_done += 1;
        }
        status.lock().unwrap().drained = true;
        for _ in 0..20 {
            if beat_once(&id, &status, &state).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.truth.entry(id.clone()).or_default().drained_at = Some(Instant::now());
        stop_beat.abort();
    });
    vec![jobs, beat]
}

/// Sends one heartbeat; returns whether it was accepted.
async fn beat_once(instance: &str, status: &Mutex<Status>, state: &Mutex<State>) -> bool {
    let Some(service) = state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .service
        .clone()
    else {
        return false;
    };
    let hb = {
        let s = status.lock().unwrap();
        Heartbeat {
            worker_id: instance.to_string(),
            pool: "ec2".into(),
            instance_id: Some(instance.to_string()),
            state: if s.job.is_some() {
                ReportedState::Busy
            } else {
                ReportedState::Idle
            },
            job_id: s.job.clone(),
            jobs_done: s.jobs_done,
            drained: s.drained,
            finished: Vec::new(),
            interrupted: None,
            taken: Vec::new(),
        }
    };
    match client::send(&service, TOKEN, &hb).await {
        Ok(reply) => {
            if reply.command == Command::Drain {
                status.lock().unwrap().drain = true;
                let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                let t = s.truth.entry(instance.to_string()).or_default();
                t.told_to_drain.get_or_insert_with(Instant::now);
            }
            true
        }
        Err(_) => false,
    }
}

/// One job, if one arrived within a second: (id, duration, receipt handle).
async fn receive(c: &FarmConfig) -> Option<(String, Duration, String)> {
    let out = c
        .sqs
        .receive_message()
        .queue_url(&c.queue_url)
        .max_number_of_messages(1)
        .wait_time_seconds(1)
        .visibility_timeout(VISIBILITY_S)
        .send()
        .await;
    let Ok(out) = out else {
        tokio::time::sleep(Duration::from_millis(500)).await;
        return None;
    };
    let msg = out.messages.unwrap_or_default().into_iter().next()?;
    let body: serde_json::Value =
        serde_json::from_str(msg.body().unwrap_or("{}")).unwrap_or_default();
    let id = body["id"].as_str().unwrap_or("?").to_string();
    let duration = Duration::from_secs_f64(body["duration_s"].as_f64().unwrap_or(1.0));
    Some((id, duration, msg.receipt_handle()?.to_string()))
}

/// "Renders" for `duration`, keeping the message invisible.
async fn render(c: &FarmConfig, receipt: &str, duration: Duration) {
    let work = tokio::time::sleep(duration);
    tokio::pin!(work);
    loop {
        tokio::select! {
            () = &mut work => return,
            () = tokio::time::sleep(Duration::from_secs(VISIBILITY_S as u64 / 2)) => {
                let _ = c
                    .sqs
                    .change_message_visibility()
                    .queue_url(&c.queue_url)
                    .receipt_handle(receipt)
                    .visibility_timeout(VISIBILITY_S)
                    .send()
                    .await;
            }
        }
    }
}
