//! The operator's pause switch: while paused, the service keeps observing, deciding (every
//! decision a hold that says why) and exporting, but makes no scaling action, no drain request
//! and no clean-up termination. Two ways to pause, either one is enough:
//! - `POST /v1/pause` (optional JSON `{"reason": "…"}`) and `POST /v1/resume`, authenticated with
//!   the admin token (`Authorization: Bearer …`; without an admin token they are disabled);
//! - `--pause-file PATH`: paused while that file exists (its first line is the reason), so a
//!   config-management run or an on-call engineer with shell access can freeze it too.

use std::path::PathBuf;
use std::sync::Mutex;

/// Where the pause state comes from.
#[derive(Debug, Default)]
pub struct PauseSwitch {
    api: Mutex<Option<String>>,
    file: Option<PathBuf>,
}

impl PauseSwitch {
    /// A switch that also honours `file`.
    pub fn new(file: Option<PathBuf>) -> Self {
        PauseSwitch {
            api: Mutex::new(None),
            file,
        }
    }

    /// Pauses through the API, with `reason` (control characters escaped: it reaches every
    /// log line and reason of the pause).
    pub fn pause(&self, reason: String) {
        *self.api.lock().unwrap_or_else(|e| e.into_inner()) = Some(printable(&reason));
    }

    /// Ends an API pause; returns whether one was in effect. A pause file stays in effect.
    pub fn resume(&self) -> bool {
        self.api
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .is_some()
    }

    /// Why scaling is paused, or `None`.
    pub fn state(&self) -> Option<String> {
        if let Some(path) = &self.file
            && let Ok(text) = std::fs::read_to_string(path)
        {
            let why = printable(text.lines().next().unwrap_or("").trim());
            let why = if why.is_empty() {
                "no reason given".to_string()
            } else {
                why
            };
            return Some(format!("pause file {}: {why}", path.display()));
        }
        if path_exists(self.file.as_ref()) {
            // Present but unreadable: still a pause.
            return Some(format!(
                "pause file {} (unreadable)",
                self.file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ));
        }
        self.api
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|why| format!("paused through the API: {why}"))
    }
}

/// `text` with every control character (newlines, ANSI escapes) written as an escape, so an
/// operator's reason cannot forge log lines or repaint a terminal.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

fn path_exists(path: Option<&PathBuf>) -> bool {
    path.is_some_and(|p| p.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_and_the_file_each_pause_and_the_file_outlives_a_resume() {
        let dir = std::env::temp_dir().join(format!("spillway-pause-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pause");
        let _ = std::fs::remove_file(&file);
        let s = PauseSwitch::new(Some(file.clone()));
        assert_eq!(s.state(), None);
        s.pause("deploying".into());
        assert!(s.state().unwrap().contains("deploying"));
        assert!(s.resume());
        assert!(!s.resume());
        std::fs::write(&file, "incident 42\nmore").unwrap();
        assert!(s.state().unwrap().contains("incident 42"));
        assert!(!s.resume(), "the API cannot lift a file pause");
        assert!(s.state().is_some());
        std::fs::remove_file(&file).unwrap();
        assert_eq!(s.state(), None);
    }

    #[test]
    fn control_characters_in_a_reason_are_escaped() {
        // Reproduction (issue "hostile input"): a pause reason with a newline and ANSI escapes
        // went raw into the log.
        let s = PauseSwitch::new(None);
        s.pause("deploy\nFAKE LOG LINE \u{1b}[31mred".into());
        let why = s.state().unwrap();
        assert!(!why.chars().any(char::is_control), "{why:?}");
        assert!(
            why.contains("deploy\\nFAKE LOG LINE \\u{1b}[31mred"),
            "{why}"
        );
    }
}
