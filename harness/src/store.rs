//! The store: one folder a run, and the writers that fill it.
//!
//! - [`RunDir`] creates `store/<workload>-<UTC timestamp>/` with `nodes/<id>/`
//!   folders and points `store/latest` at it (atomically: a temporary
//!   symlink renamed over the old one).
//! - [`JsonlWriter`] appends JSON Lines from many tasks through one writer
//!   thread: callers only serialise and queue a line; the thread writes in
//!   batches and flushes to the OS whenever its queue runs empty (about a
//!   millisecond after a record is queued), so a killed harness still leaves
//!   every record it had queued a moment before.
//! - [`HistoryWriter`] gives each history event its `index` and `time` (under
//!   one lock, so index order, time order and file order agree).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use ballot_core::protocol::NodeId;
use ballot_core::records::{Event, EventType, Process};
use serde::Serialize;
use serde_json::Value;

use crate::clock::Clock;

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
    /// A record could not be serialised as JSON.
    #[error("cannot serialise a record for {path}: {source}")]
    Serialize {
        /// The file it was for.
        path: PathBuf,
        /// The serde error.
        source: serde_json::Error,
    },
    /// The writer was closed, or its thread stopped after an earlier error.
    #[error("{path}: writer is closed{}", reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Closed {
        /// The file.
        path: PathBuf,
        /// The earlier error that stopped it, if any.
        reason: Option<String>,
    },
    /// `test.json` could not be written.
    #[error(transparent)]
    TestParams(#[from] ballot_core::run_folder::RunFolderError),
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
        let base = format!("{workload}-{}", utc_timestamp(SystemTime::now()));
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

/// `YYYYMMDDTHHMMSS.mmmZ` in UTC, from the Unix time (no time-zone crate needed).
pub fn utc_timestamp(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

enum Msg {
    Line(Vec<u8>),
    Flush(mpsc::Sender<Result<(), String>>),
}

struct Shared {
    path: PathBuf,
    tx: Mutex<Option<mpsc::Sender<Msg>>>,
    thread: Mutex<Option<JoinHandle<Result<u64, String>>>>,
    /// Set by the writer thread on its first I/O error; later writes fail.
    failed: Arc<Mutex<Option<String>>>,
}

/// An append-only JSON Lines file fed from any task or thread.
///
/// Cloning is cheap (one `Arc`); every clone writes to the same file, in
/// the order the `write` calls happened. `write` never blocks on the disk.
pub struct JsonlWriter<T> {
    shared: Arc<Shared>,
    _records: PhantomData<fn(&T)>,
}

impl<T> Clone for JsonlWriter<T> {
    fn clone(&self) -> Self {
        JsonlWriter {
            shared: self.shared.clone(),
            _records: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for JsonlWriter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonlWriter")
            .field("path", &self.shared.path)
            .finish()
    }
}

impl<T: Serialize> JsonlWriter<T> {
    /// Creates (or appends to) `path` and starts its writer thread.
    pub fn create(path: &Path) -> Result<Self, StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io_err(path))?;
        let (tx, rx) = mpsc::channel();
        let failed = Arc::new(Mutex::new(None));
        let thread_failed = failed.clone();
        let name = format!(
            "jsonl-{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || writer_loop(file, rx, &thread_failed))
            .map_err(io_err(path))?;
        Ok(JsonlWriter {
            shared: Arc::new(Shared {
                path: path.to_path_buf(),
                tx: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
                failed,
            }),
            _records: PhantomData,
        })
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Queues one record as one line. Fails if the writer is closed or a
    /// previous write failed.
    pub fn write(&self, record: &T) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(record).map_err(|source| StoreError::Serialize {
            path: self.shared.path.clone(),
            source,
        })?;
        line.push(b'\n');
        self.send(Msg::Line(line))
    }

    fn send(&self, msg: Msg) -> Result<(), StoreError> {
        if lock(&self.shared.failed).is_some() {
            return Err(self.closed());
        }
        let tx = lock(&self.shared.tx);
        match tx.as_ref().map(|tx| tx.send(msg)) {
            Some(Ok(())) => Ok(()),
            _ => Err(self.closed()),
        }
    }

    fn closed(&self) -> StoreError {
        StoreError::Closed {
            path: self.shared.path.clone(),
            reason: lock(&self.shared.failed).clone(),
        }
    }

    /// Waits until every record queued so far is written and flushed to the OS.
    /// Blocks the calling thread (briefly); from async code prefer calling it
    /// at phase boundaries.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (reply_tx, reply_rx) = mpsc::channel();
        self.send(Msg::Flush(reply_tx))?;
        match reply_rx.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => {
                *lock(&self.shared.failed) = Some(reason);
                Err(self.closed())
            }
            Err(_) => Err(self.closed()),
        }
    }

    /// Writes and flushes everything queued, then stops the writer thread.
    /// Later writes from any clone fail with [`StoreError::Closed`]. Returns
    /// the number of lines this writer wrote; closing twice returns 0.
    pub fn close(&self) -> Result<u64, StoreError> {
        drop(lock(&self.shared.tx).take());
        let Some(thread) = lock(&self.shared.thread).take() else {
            return Ok(0);
        };
        match thread.join() {
            Ok(Ok(lines)) => Ok(lines),
            Ok(Err(reason)) => {
                *lock(&self.shared.failed) = Some(reason);
                Err(self.closed())
            }
            Err(_) => Err(StoreError::Closed {
                path: self.shared.path.clone(),
                reason: Some("writer thread panicked".into()),
            }),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long the writer thread waits after waking before it drains its queue.
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

/// The writer thread: write what arrives, flush whenever the queue is empty
/// (so a record reaches the OS about [`LINGER`] after it was queued).
/// Ends when every sender is gone (after writing everything queued). The
/// first I/O error is published in `failed` and stops further writing.
fn writer_loop(
    file: File,
    rx: mpsc::Receiver<Msg>,
    failed: &Mutex<Option<String>>,
) -> Result<u64, String> {
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut lines = 0u64;
    let mut error: Option<String> = None;
    let handle = |msg: Msg,
                  out: &mut BufWriter<File>,
                  lines: &mut u64,
                  error: &mut Option<String>| {
        match msg {
            Msg::Line(line) => {
                if error.is_none() {
                    match out.write_all(&line) {
                        Ok(()) => *lines += 1,
                        Err(e) => *error = Some(e.to_string()),
                    }
                }
            }
            Msg::Flush(reply) => {
                if error.is_none() {
                    if let Err(e) = out.flush() {
                        *error = Some(e.to_string());
                    }
                }
                let _ = reply.send(error.clone().map_or(Ok(()), Err));
            }
        }
    };
    while let Ok(msg) = rx.recv() {
        handle(msg, &mut out, &mut lines, &mut error);
        // Let a burst pile up: senders do not wake a thread that is not
        // parked, so this bounds wake-ups to about one per LINGER under load.
        std::thread::sleep(LINGER);
        while let Ok(msg) = rx.try_recv() {
            handle(msg, &mut out, &mut lines, &mut error);
        }
        if error.is_none() {
            if let Err(e) = out.flush() {
                error = Some(e.to_string());
            }
        }
        if error.is_some() {
            lock(failed).clone_from(&error);
        }
    }
    if error.is_none() {
        if let Err(e) = out.flush() {
            error = Some(e.to_string());
        }
    }
    error.map_or(Ok(lines), Err)
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
        self.writer.flush()
    }

    /// Flushes and closes the file; returns the number of events written.
    pub fn close(&self) -> Result<u64, StoreError> {
        self.writer.close()
    }
}

#[cfg(test)]
mod tests;
