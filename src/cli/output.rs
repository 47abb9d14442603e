//! What the commands write: output files (`--report-json`, `--plot`, `--samples`,
//! `--decisions`), opened before a run starts so that a path that cannot be written fails at
//! once instead of after minutes of simulation, every error naming the file; and standard
//! output through [`say!`], which ends the process quietly when its reader has gone
//! (`spillway simulate | head -1`) instead of panicking; and the progress bar of the commands
//! that run many simulations, on standard error when it is a terminal.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Like `print!`, to standard output; a closed pipe ends the process with status 0, any other
/// write error with a message and status 1.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::output::to_stdout(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// What [`say!`] does.
pub fn to_stdout(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // The reader has what it wanted (`| head`): not an error.
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// An output file that could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct OutputError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// A file opened (created, truncated) for one output, written once at the end of the run.
#[derive(Debug)]
pub struct OutputFile {
    path: PathBuf,
    file: File,
}

impl OutputFile {
    /// Opens `path` for writing now.
    pub fn create(path: &Path) -> Result<Self, OutputError> {
        let file = File::create(path).map_err(|source| OutputError {
            path: path.to_owned(),
            source,
        })?;
        Ok(OutputFile {
            path: path.to_owned(),
            file,
        })
    }

    /// Opens `path` if one was given.
    pub fn create_if(path: Option<&PathBuf>) -> Result<Option<Self>, OutputError> {
        path.map(|p| Self::create(p)).transpose()
    }

    /// Writes `contents`, flushed to the file system; returns the path for the message.
    pub fn write(mut self, contents: &[u8]) -> Result<PathBuf, OutputError> {
        let result = self
            .file
            .write_all(contents)
            .and_then(|()| self.file.flush())
            .and_then(|()| self.file.sync_data().or(Ok(())));
        result.map_err(|source| OutputError {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.path)
    }
}

/// A bar of `len` simulations drawn with `template` (indicatif's syntax), ticking on its own;
/// `None` when standard error is not a terminal.
pub fn simulations_bar(len: u64, template: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_device_is_named() {
        let Ok(out) = OutputFile::create(Path::new("/dev/full")) else {
            return; // no /dev/full here
        };
        let err = out.write(b"x").unwrap_err();
        assert!(
            err.to_string().starts_with("cannot write /dev/full: "),
            "{err}"
        );
    }

    #[test]
    fn a_missing_directory_fails_at_open() {
        let err = OutputFile::create(Path::new("/nonexistent-dir/plot.svg")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent-dir/plot.svg"),
            "{err}"
        );
    }
}
