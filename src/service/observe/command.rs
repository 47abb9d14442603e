//! One command pool's workers: there is no listing to join, so its workers are the heartbeats
//! that name the pool, plus the VMs its start program was asked for that have not sent a
//! heartbeat yet (`Booting`, under a placeholder id, until `boot_timeout` makes them a failed
//! launch).
//!
//! A new worker (first heartbeat not yet counted as a boot) takes the oldest pending start made
//! before its first heartbeat: that start is done, and its boot time is recorded. Lost workers
//! and drained idle ones are judged as in EC2 pools (`decide` stops their VMs). Workers whose
//! id could not safely be handed to the stop program are left out altogether.

use std::time::Duration;

use super::{Boot, FleetView, judged};
use crate::control::PoolObservation;
use crate::model::Instance;
use crate::model::{Timestamp, Worker, WorkerId, WorkerState};
use crate::service::act::programs::safe_id;
use crate::service::observe::registry::Record;

/// Adds pool `index` (`name`) to `view`, from heartbeat `records` and the pending starts among
/// `recent`.
pub(super) fn join_pool(
    view: &mut FleetView,
    index: usize,
    name: &str,
    records: &[Record],
    recent: &[Instance],
    now: Timestamp,
    lost_after: Duration,
) {
    let lost = |r: &Record| now.since(r.last_seen) > lost_after;
    // One record per key: the latest.
    let mut mine: Vec<&Record> = records
        .iter()
        .filter(|r| r.pool == name && safe_id(r.key()))
        .collect();
    mine.sort_by(|a, b| a.key().cmp(b.key()).then(b.last_seen.cmp(&a.last_seen)));
    mine.dedup_by(|later, first| later.key() == first.key());

    let mut pending: Vec<&Instance> = recent.iter().filter(|s| s.pool == name).collect();
    pending.sort_by_key(|s| (s.launched_at, s.id.clone()));
    let mut fresh: Vec<&&Record> = mine
        .iter()
        .filter(|r| !r.boot_recorded && !lost(r))
        .collect();
    fresh.sort_by_key(|r| r.first_seen);
    for r in fresh {
        if let Some(k) = pending.iter().position(|s| s.launched_at <= r.first_seen) {
            let start = pending.remove(k);
            view.boots.push(Boot {
                key: r.key().to_string(),
                pool: index,
                took: r.first_seen.since(start.launched_at),
            });
            view.started.push(start.id.clone());
        }
    }

    let mut workers = Vec::new();
    for r in mine {
        workers.push(Worker {
            id: WorkerId(r.key().to_string()),
            launched_at: r.first_seen,
            state: judged(r, now, lost_after),
        });
    }
    workers.extend(pending.into_iter().map(|s| Worker {
        id: WorkerId(s.id.clone()),
        launched_at: s.launched_at,
        state: WorkerState::Booting,
    }));
    view.instances_per_pool.push(workers.len() as u32);
    view.pools.push(PoolObservation {
        pool: name.to_string(),
        workers: Some(workers),
    });
}

#[cfg(test)]
mod tests {
    use super::super::join;
    use super::*;
    use crate::heartbeat::protocol::ReportedState;
    use crate::policy;

    const POLICY: &str = r#"
name = "t"
[control]
interval = "1s"
[target]
free_busy_ratio = 0.0
wait_slo = "30s"
[[pool]]
name = "vms"
kind = "command"
workers = 8
start_command = ["/bin/true"]
stop_command = ["/bin/true"]
"#;

    fn rec(worker: &str, first_seen: i64, last_seen: i64, busy: bool) -> Record {
        Record {
            worker_id: worker.into(),
            pool: "vms".into(),
            instance_id: None,
            state: if busy {
                ReportedState::Busy
            } else {
                ReportedState::Idle
            },
            state_since: Timestamp::from_millis(first_seen),
            job_id: None,
            jobs_done: 0,
            jobs_credited: 0,
            credit_allowance_milli: 0,
            drained: false,
            first_seen: Timestamp::from_millis(first_seen),
            last_seen: Timestamp::from_millis(last_seen),
            drain_requested: None,
            boot_recorded: false,
            interrupted: None,
        }
    }

    fn start(id: &str, at: i64) -> Instance {
        Instance {
            id: id.into(),
            pool: "vms".into(),
            launched_at: Timestamp::from_millis(at),
        }
    }

    #[test]
    fn heartbeats_are_the_workers_and_new_ones_complete_the_oldest_start() {
        let p = policy::from_toml_str(POLICY, "t").unwrap();
        let now = 100_000;
        let mut drained = rec("vm-d", 1_000, now - 500, false);
        drained.drain_requested = Some(Timestamp::from_millis(90_000));
        drained.drained = true;
        let mut draining_busy = rec("vm-b", 1_000, now - 500, true);
        draining_busy.drain_requested = Some(Timestamp::from_millis(0));
        let records = vec![
            rec("always-on", 500, now - 1_000, true),
            rec("vm-new", 62_000, now - 1_000, false),
            rec("vm-lost", 1_000, now - 40_000, false),
            drained,
            draining_busy,
            rec("--all", 70_000, now, false),
            Record {
                pool: "other".into(),
                ..rec("vm-x", 70_000, now, false)
            },
        ];
        let recent = vec![
            start("s/1", 60_000),
            start("s/0", 60_000),
            start("s/2", 95_000),
        ];
        let v = join(
            &p,
            Some(&[]),
            &recent,
            &records,
            Timestamp::from_millis(now),
            Duration::from_secs(30),
            Timestamp::from_millis(0),
        );
        let ws = v.pools[0].workers.as_ref().unwrap();
        let state = |id: &str| ws.iter().find(|w| w.id.0 == id).map(|w| w.state);
        assert!(matches!(state("always-on"), Some(WorkerState::Busy { .. })));
        assert!(matches!(state("vm-new"), Some(WorkerState::Idle { .. })));
        assert_eq!(state("vm-d"), Some(WorkerState::Drained));
        assert_eq!(state("vm-b"), Some(WorkerState::Draining { busy: true }));
        assert_eq!(
            state("vm-lost"),
            Some(WorkerState::Lost),
            "lost workers are not capacity: decide stops their VMs"
        );
        assert_eq!(
            state("--all"),
            None,
            "an id a program could misread is ignored"
        );
        assert_eq!(state("vm-x"), None, "another pool's heartbeat");
        assert_eq!(state("s/1"), Some(WorkerState::Booting));
        assert_eq!(state("s/2"), Some(WorkerState::Booting));
        assert_eq!(ws.len(), 7);
        assert_eq!(
            v.started,
            vec!["s/0".to_string()],
            "vm-new completed one start"
        );
        assert_eq!(
            v.boots,
            vec![Boot {
                key: "vm-new".into(),
                pool: 0,
                took: Duration::from_secs(2)
            }]
        );
        assert_eq!(v.instances_per_pool, vec![7]);
    }
}
