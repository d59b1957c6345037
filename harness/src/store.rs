//! The store: one folder a run, and the writers that fill it.
//!
//! - [`RunDir`] creates `store/<workload>-<UTC timestamp>/` with `nodes/<id>/`
//!   folders and points `store/latest` at it (atomically: a temporary
//!   symlink renamed over the old one).
//! - [`JsonlWriter`] (from `ballot_core::run_folder`, the one writer of run
//!   folder files) appends JSON Lines from many tasks through one thread.
//! - [`HistoryWriter`] gives each history event its `index` and `time` (under
//!   one lock, so index order, time order and file order agree).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ballot_core::protocol::NodeId;
use ballot_core::records::{Event, EventType, Process};
use serde_json::Value;

use crate::clock::Clock;

pub use ballot_core::run_folder::JsonlWriter;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or folder could not be created or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A run-folder file (`test.json`, `results.json`, a JSON Lines file)
    /// could not be written.
    #[error(transparent)]
    RunFolder(#[from] ballot_core::run_folder::RunFolderError),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One run's folder in the store.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates `store/<workload>-<YYYYMMDDTHHMMSS.mmmZ>/` (with `-2`, `-3`...
    /// appended if that name is taken) and `nodes/`, and points `store/latest` at it.
    pub fn create(store: &Path, workload: &str) -> Result<RunDir, StoreError> {
        fs::create_dir_all(store).map_err(io_err(store))?;
        let base = format!(
            "{workload}-{}",
            ballot_core::utc::timestamp(SystemTime::now())
        );
        let mut name = base.clone();
        let mut attempt = 1;
        let path = loop {
            let path = store.join(&name);
            match fs::create_dir(&path) {
                Ok(()) => break path,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 1000 => {
                    attempt += 1;
                    name = format!("{base}-{attempt}");
                }
                Err(e) => return Err(io_err(&path)(e)),
            }
        };
        let nodes = path.join("nodes");
        fs::create_dir(&nodes).map_err(io_err(&nodes))?;
        point_latest(store, &name)?;
        Ok(RunDir { path })
    }

    /// Uses an existing folder as a run folder (e.g. for `ballot check`), creating `nodes/`.
    pub fn open(path: &Path) -> Result<RunDir, StoreError> {
        let nodes = path.join("nodes");
        fs::create_dir_all(&nodes).map_err(io_err(&nodes))?;
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    /// The run folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file in the run folder, e.g. `file(HISTORY_FILE)`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// `nodes/<id>/`, created if missing.
    pub fn node_dir(&self, id: NodeId) -> Result<PathBuf, StoreError> {
        let dir = self.path.join("nodes").join(id.to_string());
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(dir)
    }
}

/// Replaces `store/latest` with a symlink to `name`, atomically.
fn point_latest(store: &Path, name: &str) -> Result<(), StoreError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = store.join(format!(".latest-{}-{nanos}", std::process::id()));
    std::os::unix::fs::symlink(name, &tmp).map_err(io_err(&tmp))?;
    let latest = store.join("latest");
    fs::rename(&tmp, &latest).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err(&latest)(e)
    })
}

/// Writes `history.jsonl`: assigns each event its `index` and `time`.
///
/// Cheap to clone; every clone shares one index counter. Each event is
/// flushed to the OS as soon as the writer thread catches up (no fsync).
#[derive(Clone, Debug)]
pub struct HistoryWriter {
    writer: JsonlWriter<Event>,
    clock: Clock,
    next_index: Arc<Mutex<u64>>,
}

impl HistoryWriter {
    /// A history writer appending to `path`, timing events with `clock`.
    pub fn create(path: &Path, clock: Clock) -> Result<Self, StoreError> {
        Ok(Self::new(JsonlWriter::create(path)?, clock))
    }

    /// Wraps an existing JSONL writer.
    pub fn new(writer: JsonlWriter<Event>, clock: Clock) -> Self {
        HistoryWriter {
            writer,
            clock,
            next_index: Arc::new(Mutex::new(0)),
        }
    }

    /// The run's clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Records any event; the other methods are shorthands for it.
    /// Returns the event as written (with its index and time).
    pub fn record(
        &self,
        process: Process,
        kind: EventType,
        f: &str,
        key: Option<&str>,
        value: Value,
        error: Option<String>,
    ) -> Result<Event, StoreError> {
        let mut next = lock(&self.next_index);
        let event = Event {
            index: *next,
            time: self.clock.now(),
            process,
            kind,
            f: f.to_string(),
            key: key.map(str::to_string),
            value,
            error,
        };
        self.writer.write(&event)?;
        *next += 1;
        Ok(event)
    }

    /// Records that client `process` invoked `f` on `key` with `value`.
    pub fn invoke(
        &self,
        process: u64,
        f: &str,
        key: &str,
        value: Value,
    ) -> Result<Event, StoreError> {
        self.record(
            Process::Client(process),
            EventType::Invoke,
            f,
            Some(key),
            value,
            None,
        )
    }

    /// Records the completion (`ok`, `fail` or `info`) of client `process`'s operation.
    pub fn complete(
        &self,
        process: u64,
        kind: EventType,
        f: &str,
        key: &str,
        value: Value,
        error: Option<String>,
    ) -> Result<Event, StoreError> {
        self.record(Process::Client(process), kind, f, Some(key), value, error)
    }

    /// Records a nemesis event (`info`, process `"nemesis"`), e.g. `f = "start-kill"`.
    pub fn nemesis(&self, f: &str, value: Value) -> Result<Event, StoreError> {
        self.record(Process::nemesis(), EventType::Info, f, None, value, None)
    }

    /// Waits until every event so far is in the file (flushed to the OS).
    pub fn flush(&self) -> Result<(), StoreError> {
        Ok(self.writer.flush()?)
    }

    /// Flushes and closes the file; returns the number of events written.
    pub fn close(&self) -> Result<u64, StoreError> {
        Ok(self.writer.close()?)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
