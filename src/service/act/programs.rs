//! Command pools' start and stop programs (like Slurm's resume and suspend programs): the act
//! seam towards on-prem VMs.
//!
//! A program is an argv array from the policy, never a shell string. spillway appends what the
//! program acts on (the count to start, the worker ids to stop) and says the same in the
//! environment: `SPILLWAY_POLICY`, `SPILLWAY_POOL`, `SPILLWAY_ACTION` (`start` / `stop`),
//! `SPILLWAY_COUNT`, and `SPILLWAY_CLIENT_TOKEN` (start: the decision's idempotency token) or
//! `SPILLWAY_WORKERS` (stop: the ids, space-separated). It inherits the service's environment
//! except the workers' bearer token. It must exit 0 within the pool's `command_timeout`, or it
//! is killed and counts as failed; what it prints is kept (the first 4 KiB of each stream) for
//! the log. Failures are [`ProviderError::Other`] with codes `CommandNotRunnable`,
//! `CommandFailed`, `CommandTimeout` or `UnsafeWorkerId`.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::provider::ProviderError;
use crate::policy::CommandPool;

/// What a program printed is kept up to this many bytes per stream.
const KEEP_BYTES: u64 = 4096;
/// After a program exits, how long its output may take to arrive (a background child of the
/// program may hold the pipes open).
const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// What a program that exited 0 printed (lossy UTF-8, trimmed, at most 4 KiB of each stream).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ran {
    pub stdout: String,
    pub stderr: String,
}

/// Runs one policy's start and stop programs.
#[derive(Debug, Clone)]
pub struct CommandRunner {
    policy: String,
    /// Environment variables the programs do not inherit (the workers' token).
    hidden_env: Vec<String>,
}

/// Whether `id` may be handed to a stop program: 1 to 128 characters of letters, digits and
/// `. _ : @ -`, not starting with `-` (which a program could read as an option). Worker ids
/// come from heartbeats; this keeps a forged one from becoming anything but a name.
pub fn safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:@-".contains(&b))
}

/// The `outcome` metric label of a run: `ok`, `timeout`, `refused` or `failed`.
pub fn outcome(result: &Result<Ran, ProviderError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) if e.code() == "CommandTimeout" => "timeout",
        Err(e) if e.code() == "UnsafeWorkerId" => "refused",
        Err(_) => "failed",
    }
}

impl CommandRunner {
    /// The runner for policy `policy`; `hidden_env` names variables the programs must not see.
    pub fn new(policy: &str, hidden_env: Vec<String>) -> Self {
        CommandRunner {
            policy: policy.to_string(),
            hidden_env,
        }
    }

    /// Runs `pool`'s start program for `count` VMs, `token` identifying the decision.
    pub async fn start(
        &self,
        pool: &str,
        c: &CommandPool,
        count: u32,
        token: &str,
    ) -> Result<Ran, ProviderError> {
        let env = [
            ("SPILLWAY_ACTION", "start".to_string()),
            ("SPILLWAY_COUNT", count.to_string()),
            ("SPILLWAY_CLIENT_TOKEN", token.to_string()),
        ];
        self.run(
            pool,
            &c.start_command,
            &[count.to_string()],
            &env,
            c.command_timeout,
        )
        .await
    }

    /// Runs `pool`'s stop program for the workers `ids`; refuses ids that are not
    /// [`safe_id`]s without running anything.
    pub async fn stop(
        &self,
        pool: &str,
        c: &CommandPool,
        ids: &[String],
    ) -> Result<Ran, ProviderError> {
        if let Some(bad) = ids.iter().find(|id| !safe_id(id)) {
            return Err(ProviderError::Other {
                code: "UnsafeWorkerId".into(),
                message: format!("refusing to pass worker id {bad:?} to the stop program"),
            });
        }
        let env = [
            ("SPILLWAY_ACTION", "stop".to_string()),
            ("SPILLWAY_COUNT", ids.len().to_string()),
            ("SPILLWAY_WORKERS", ids.join(" ")),
        ];
        self.run(pool, &c.stop_command, ids, &env, c.command_timeout)
            .await
    }

    async fn run(
        &self,
        pool: &str,
        argv: &[String],
        extra: &[String],
        env: &[(&str, String)],
        timeout: Duration,
    ) -> Result<Ran, ProviderError> {
        let Some((program, args)) = argv.split_first() else {
            return Err(not_runnable("(none)", "the policy names no program"));
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .args(extra)
            .env("SPILLWAY_POLICY", &self.policy)
            .env("SPILLWAY_POOL", pool)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for name in &self.hidden_env {
            cmd.env_remove(name);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| not_runnable(program, &e.to_string()))?;
        let stdout = tokio::spawn(keep(child.stdout.take()));
        let stderr = tokio::spawn(keep(child.stderr.take()));
        let status = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => {
                stdout.abort();
                stderr.abort();
                return Err(ProviderError::Other {
                    code: "CommandFailed".into(),
                    message: format!("{program}: waiting for it failed: {e}"),
                });
            }
            Err(_) => {
                // Kills the program itself; children it left behind are its own business.
                let _ = child.kill().await;
                stdout.abort();
                stderr.abort();
                return Err(ProviderError::Other {
                    code: "CommandTimeout".into(),
                    message: format!(
                        "{program} did not finish within {}s and was killed",
                        timeout.as_secs_f64()
                    ),
                });
            }
        };
        let ran = Ran {
            stdout: collected(stdout).await,
            stderr: collected(stderr).await,
        };
        if status.success() {
            Ok(ran)
        } else {
            Err(ProviderError::Other {
                code: "CommandFailed".into(),
                message: format!("{program} exited with {status}: {}", ran.stderr),
            })
        }
    }
}

fn not_runnable(program: &str, why: &str) -> ProviderError {
    ProviderError::Other {
        code: "CommandNotRunnable".into(),
        message: format!("cannot run {program}: {why}"),
    }
}

/// What a reader task kept, as text, waiting at most [`OUTPUT_GRACE`] for it.
async fn collected(mut reader: tokio::task::JoinHandle<Vec<u8>>) -> String {
    match tokio::time::timeout(OUTPUT_GRACE, &mut reader).await {
        Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).trim().to_string(),
        _ => {
            reader.abort();
            String::new()
        }
    }
}

/// Reads the first [`KEEP_BYTES`] of a stream, then drains the rest so the program never
/// blocks on a full pipe.
async fn keep(stream: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut stream) = stream else {
        return kept;
    };
    let _ = (&mut stream).take(KEEP_BYTES).read_to_end(&mut kept).await;
    let _ = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await;
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(start: &[&str], timeout_ms: u64) -> CommandPool {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect();
        CommandPool {
            min: 0,
            workers: 4,
            boot_time: Duration::from_secs(1),
            boot_timeout: Duration::from_secs(5),
            start_command: argv(start),
            stop_command: argv(&["/bin/sh", "-c", "echo stop \"$@\" $SPILLWAY_WORKERS", "sh"]),
            command_timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[tokio::test]
    async fn programs_get_their_arguments_and_environment_but_not_the_token() {
        // HOME stands in for the token's variable: the programs must not see it.
        let r = CommandRunner::new("p", vec!["HOME".into()]);
        let script = "echo \"$# $1 $SPILLWAY_POLICY $SPILLWAY_POOL $SPILLWAY_ACTION $SPILLWAY_COUNT \
                      $SPILLWAY_CLIENT_TOKEN [$HOME]\"; echo note >&2";
        let c = pool(&["/bin/sh", "-c", script, "sh"], 5000);
        let ran = r.start("vms", &c, 3, "tok-1").await.unwrap();
        assert_eq!(ran.stdout, "1 3 p vms start 3 tok-1 []");
        assert_eq!(ran.stderr, "note");
        let ids = ["vm-1".to_string(), "vm-2".to_string()];
        let ran = r.stop("vms", &c, &ids).await.unwrap();
        assert_eq!(ran.stdout, "stop vm-1 vm-2 vm-1 vm-2");
    }

    #[tokio::test]
    async fn failures_timeouts_and_unsafe_ids_are_errors_with_their_own_codes() {
        let r = CommandRunner::new("p", Vec::new());
        let failing = pool(&["/bin/sh", "-c", "echo no capacity >&2; exit 3"], 5000);
        let e = r.start("vms", &failing, 1, "t").await.unwrap_err();
        assert_eq!(e.code(), "CommandFailed");
        assert!(e.to_string().contains("no capacity"), "{e}");
        let slow = pool(&["/bin/sh", "-c", "sleep 30"], 200);
        let res = r.start("vms", &slow, 1, "t").await;
        assert_eq!(outcome(&res), "timeout");
        let missing = pool(&["/nonexistent/render-vm"], 5000);
        let e = r.start("vms", &missing, 1, "t").await.unwrap_err();
        assert_eq!(e.code(), "CommandNotRunnable");
        let res = r.stop("vms", &failing, &["--all".to_string()]).await;
        assert_eq!(outcome(&res), "refused");
    }

    #[test]
    fn only_plain_names_are_safe_ids() {
        for ok in ["vm-1", "render07.farm.local", "host:3", "w@x_1"] {
            assert!(safe_id(ok), "{ok}");
        }
        for bad in ["", "-rf", "a b", "a;b", "$(x)", "a/b", &"x".repeat(129)] {
            assert!(!safe_id(bad), "{bad}");
        }
    }
}
