//! Output files (`--report-json`, `--plot`, `--samples`, `--decisions`): opened before a run
//! starts, so a path that cannot be written fails at once instead of after minutes of
//! simulation, and every error names the file.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

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
