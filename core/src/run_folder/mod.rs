//! The run folder, read and written in one place: `test.json` as typed
//! [`TestParams`], the JSON Lines record files (strictly, or leniently for
//! reports of a run that was killed half-way), and `results.json`.
//!
//! The record types themselves are in [`crate::records`]; the checker's fast
//! message-log reader builds on the same formats.

mod jsonl;
mod params;
mod writer;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use jsonl::{parse_jsonl, read_records, Parsed};
pub use params::TestParams;
pub use writer::{write_jsonl, JsonlWriter};

use crate::records::RESULTS_FILE;
use crate::verdict::Results;

/// Why a file of a run folder could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RunFolderError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `test.json` or `results.json` is not the JSON object it must be.
    #[error("{}: {message}", path.display())]
    NotAnObject {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A record could not be serialised as JSON.
    #[error("cannot serialise a record for {}: {source}", path.display())]
    Serialize {
        /// The file it was for.
        path: PathBuf,
        /// The serde error.
        source: serde_json::Error,
    },
    /// A JSON Lines writer was closed, or its thread stopped after an earlier error.
    #[error("{}: writer is closed{}", path.display(), reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Closed {
        /// The file.
        path: PathBuf,
        /// The earlier error that stopped it, if any.
        reason: Option<String>,
    },
    /// A line of a JSON Lines file is not a record.
    #[error("{}:{line}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Its line number, from 1.
        line: usize,
        /// The parse error.
        message: String,
    },
}

/// Writes `bytes` to `path` whole: a temporary file beside it, fsynced, then renamed.
pub(crate) fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), RunFolderError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{}.tmp", name.unwrap_or_default()));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RunFolderError::Io { path, source }
    };
    let mut file = File::create(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Writes `dir/results.json` (pretty) whole, so a reader never sees half of it.
pub fn write_results(dir: &Path, results: &Results) -> Result<(), RunFolderError> {
    let mut text = serde_json::to_vec_pretty(results).expect("results serialise");
    text.push(b'\n');
    write_whole(&dir.join(RESULTS_FILE), &text)
}

/// Reads `dir/results.json`.
pub fn read_results(dir: &Path) -> Result<Results, RunFolderError> {
    let path = dir.join(RESULTS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| RunFolderError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| RunFolderError::NotAnObject {
        path,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Validity;

    #[test]
    fn results_round_trip_whole() {
        let dir = tempfile::tempdir().unwrap();
        let results = Results::new(Vec::new());
        write_results(dir.path(), &results).unwrap();
        assert_eq!(read_results(dir.path()).unwrap().valid, Validity::Valid);
        assert!(!dir.path().join(".results.json.tmp").exists());
        std::fs::write(dir.path().join(RESULTS_FILE), "{").unwrap();
        assert!(read_results(dir.path()).is_err());
    }
}
