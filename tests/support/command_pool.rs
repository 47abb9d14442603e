//! A command pool's side of the service tests: shell scripts as `start_command` and
//! `stop_command` that log their runs, and the policy that uses them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::service::{policy_head, policy_tail};

/// A directory holding `start.sh` and `stop.sh`, which append one line per run to `runs.log`:
/// `start|<args>|<pool>|<count>|<token>` or `stop|<args>|<pool>|<workers>`. `start_exit` is
/// the start program's exit status.
pub fn scripts(tag: &str, start_exit: u8) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spillway-cmd-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("runs.log");
    let log = log.display();
    std::fs::write(
        dir.join("start.sh"),
        format!(
            "echo \"start|$*|$SPILLWAY_POOL|$SPILLWAY_COUNT|$SPILLWAY_CLIENT_TOKEN\" >> '{log}'\n\
             echo asked for $SPILLWAY_COUNT VMs\nexit {start_exit}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("stop.sh"),
        format!("echo \"stop|$*|$SPILLWAY_POOL|$SPILLWAY_WORKERS\" >> '{log}'\n"),
    )
    .unwrap();
    dir
}

/// The lines of the scripts' log (none when neither ran).
pub fn runs(dir: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(dir.join("runs.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect()
}

/// A policy with one command pool `vms` of 3 VMs run by the scripts in `dir`.
pub fn policy(name: &str, queue: &str, dir: &Path, boot_timeout: &str) -> String {
    let d = dir.display();
    let head = policy_head(name, "", "1s");
    // The VMs heartbeat often; the service learns the fleet for 2 s after its start.
    let tail = policy_tail(queue, "1h", Some("2s"));
    format!(
        r#"{head}[[pool]]
name = "vms"
kind = "command"
workers = 3
boot_time = "1s"
boot_timeout = "{boot_timeout}"
start_command = ["/bin/sh", "{d}/start.sh"]
stop_command = ["/bin/sh", "{d}/stop.sh"]
command_timeout = "10s"
{tail}"#
    )
}

/// Polls the scripts' log until `ok` holds for it, or panics after 30 s.
pub async fn wait_runs(
    dir: &Path,
    what: &str,
    ok: impl Fn(&[Vec<String>]) -> bool,
) -> Vec<Vec<String>> {
    for _ in 0..300 {
        let r = runs(dir);
        if ok(&r) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}; runs: {:?}", runs(dir));
}
