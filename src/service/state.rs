//! `--state-file`: the controller's memory, saved after every decision and resumed at start.
//!
//! Without it a restart forgets the runaway guards' ledger (launches in the last hour, dollars in
//! the last day), the batch's spend, everything learned (boot times, the time-of-day profile)
//! and the command-pool starts whose VMs have not reported yet, so a crash-looping service could
//! launch past `max_launches_per_hour` or start VMs twice. The file is written before the
//! decision is acted on (and again after, when the action started VMs), to a temporary file
//! renamed over the old one, so a crash leaves either the previous state or the new one, never
//! half of one. A file that cannot
//! be read, or was written for another policy, is reported and ignored: the service starts fresh
//! rather than not at all, as it would without the flag.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::control::ControlMemory;
use crate::model::Instance;
use crate::model::Timestamp;

/// What the file holds.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    policy: String,
    saved_at: Timestamp,
    memory: ControlMemory,
    /// Command-pool starts not answered by a heartbeat yet.
    #[serde(default)]
    command_starts: Vec<Instance>,
}

/// What a restarted service picks up.
#[derive(Debug)]
pub struct Resumed {
    /// The saved memory, [resumed](ControlMemory::resumed).
    pub memory: ControlMemory,
    /// Command-pool starts still pending (they count as booting until `boot_timeout`).
    pub command_starts: Vec<Instance>,
    pub saved_at: Timestamp,
}

/// The state file of one policy.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
    policy: String,
}

/// Why the saved state was not resumed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be read or parsed: start fresh.
    #[error("cannot resume {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    /// The file belongs to another policy: start fresh, leave it alone.
    #[error("{path} holds the state of policy {found:?}, not {expected:?}")]
    OtherPolicy {
        path: PathBuf,
        found: String,
        expected: String,
    },
}

impl StateFile {
    pub fn new(path: &Path, policy: &str) -> StateFile {
        StateFile {
            path: path.to_path_buf(),
            policy: policy.to_string(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What was saved; `Ok(None)` when there is no file yet.
    pub fn load(&self) -> Result<Option<Resumed>, StateError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.unreadable(e)),
        };
        self.parse(&text).map(Some)
    }

    /// What `text` (a state file's contents) holds, checked as [`StateFile::load`] checks it.
    pub fn parse(&self, text: &str) -> Result<Resumed, StateError> {
        let saved: Saved = serde_json::from_str(text).map_err(|e| self.unreadable(e))?;
        let problems = saved.memory.problems();
        if !problems.is_empty() {
            return Err(self.unreadable(problems.join("; ")));
        }
        if saved.policy != self.policy {
            return Err(StateError::OtherPolicy {
                path: self.path.clone(),
                found: saved.policy,
                expected: self.policy.clone(),
            });
        }
        Ok(Resumed {
            memory: saved.memory.resumed(),
            command_starts: saved.command_starts,
            saved_at: saved.saved_at,
        })
    }

    /// Replaces the file with `memory` and the pending `command_starts` as of `now`.
    pub fn save<'a>(
        &self,
        memory: &ControlMemory,
        command_starts: impl Iterator<Item = &'a Instance>,
        now: Timestamp,
    ) -> std::io::Result<()> {
        let saved = Saved {
            policy: self.policy.clone(),
            saved_at: now,
            memory: memory.clone(),
            command_starts: command_starts.cloned().collect(),
        };
        let text = serde_json::to_string(&saved).map_err(std::io::Error::other)?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.path)
    }

    fn unreadable(&self, e: impl std::fmt::Display) -> StateError {
        StateError::Unreadable {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::memory::Surplus;
    use std::time::Duration;

    fn file(name: &str, policy: &str) -> StateFile {
        let dir = std::env::temp_dir().join(format!("spillway-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        StateFile::new(&path, policy)
    }

    #[test]
    fn a_saved_ledger_and_what_was_learned_survive_timers_do_not() {
        let f = file("roundtrip.json", "picnik");
        assert!(f.load().unwrap().is_none(), "no file yet is a fresh start");
        let now = Timestamp::from_millis(7_200_000);
        let mut m = ControlMemory::default();
        m.ledger.record_launches(now, 5);
        m.record_boot(Duration::from_secs(170));
        m.record_demand(now, 42.0);
        m.surplus = Some(Surplus {
            since: Timestamp::from_millis(0),
            min: 9,
        });
        m.last_tick = Some(now);
        let start = Instance {
            id: "tok-1/0".into(),
            pool: "vms".into(),
            launched_at: now,
        };
        f.save(&m, [&start].into_iter(), now).unwrap();
        let resumed = f.load().unwrap().unwrap();
        assert_eq!(resumed.saved_at, now);
        assert_eq!(
            resumed.command_starts,
            vec![start],
            "a pending start is still pending"
        );
        let back = resumed.memory;
        assert_eq!(back.ledger, m.ledger);
        assert_eq!(back.boot_samples, m.boot_samples);
        assert_eq!(back.demand, m.demand);
        assert_eq!(
            back.surplus, None,
            "a surplus timed before the restart is not acted on"
        );
        assert_eq!(
            back.last_tick, None,
            "downtime is not billed as observed spend"
        );
    }

    #[test]
    fn another_policys_or_a_torn_file_is_reported_not_resumed() {
        let f = file("other.json", "picnik");
        f.save(
            &ControlMemory::default(),
            std::iter::empty(),
            Timestamp::from_millis(0),
        )
        .unwrap();
        let other = StateFile::new(f.path(), "cost-capped");
        assert!(matches!(
            other.load(),
            Err(StateError::OtherPolicy { found, .. }) if found == "picnik"
        ));
        std::fs::write(f.path(), r#"{"policy":"picnik","saved_at":0,"mem"#).unwrap();
        let e = f.load().unwrap_err();
        assert!(matches!(e, StateError::Unreadable { .. }), "{e}");
        assert!(e.to_string().contains("other.json"), "{e}");
    }

    #[test]
    fn out_of_range_values_are_refused_with_their_fields_not_resumed() {
        // Reproduction (issue "hostile input"): boot_samples = [-5, -5, -5] in an otherwise
        // valid file panicked every start in boot_estimate (a crash loop); a throughput of
        // -1e300 wanted 4,294,967,295 workers.
        let f = file("forged.json", "picnik");
        let mut m = ControlMemory::default();
        m.boot_samples.extend([-5.0, -5.0, -5.0]);
        m.throughput = Some(-1e300);
        f.save(&m, std::iter::empty(), Timestamp::from_millis(0))
            .unwrap();
        let e = f.load().unwrap_err().to_string();
        assert!(e.contains("memory.boot_samples: -5"), "{e}");
        assert!(e.contains("memory.throughput"), "{e}");
        // decide itself is total on such a memory: the configured boot time, no panic.
        assert_eq!(
            m.boot_estimate(Duration::from_secs(180)),
            Duration::from_secs(180)
        );
    }
}
