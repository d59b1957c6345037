//! JSON Lines writers: [`JsonlWriter`] appends records from many tasks
//! through one writer thread (callers only serialise and queue a line; the
//! thread writes in batches and flushes to the OS whenever its queue runs
//! empty, about a millisecond after a record is queued, so a killed harness
//! still leaves every record it had queued a moment before);
//! [`write_jsonl`] writes a whole file of records at once.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde::Serialize;

use super::RunFolderError;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RunFolderError + '_ {
    move |source| RunFolderError::Io {
        path: path.to_path_buf(),
        source,
    }
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
    pub fn create(path: &Path) -> Result<Self, RunFolderError> {
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
    pub fn write(&self, record: &T) -> Result<(), RunFolderError> {
        let mut line = serde_json::to_vec(record).map_err(|source| RunFolderError::Serialize {
            path: self.shared.path.clone(),
            source,
        })?;
        line.push(b'\n');
        self.send(Msg::Line(line))
    }

    fn send(&self, msg: Msg) -> Result<(), RunFolderError> {
        if lock(&self.shared.failed).is_some() {
            return Err(self.closed());
        }
        let tx = lock(&self.shared.tx);
        match tx.as_ref().map(|tx| tx.send(msg)) {
            Some(Ok(())) => Ok(()),
            _ => Err(self.closed()),
        }
    }

    fn closed(&self) -> RunFolderError {
        RunFolderError::Closed {
            path: self.shared.path.clone(),
            reason: lock(&self.shared.failed).clone(),
        }
    }

    /// Waits until every record queued so far is written and flushed to the OS.
    /// Blocks the calling thread (briefly); from async code prefer calling it
    /// at phase boundaries.
    pub fn flush(&self) -> Result<(), RunFolderError> {
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
    /// Later writes from any clone fail with [`RunFolderError::Closed`]. Returns
    /// the number of lines this writer wrote; closing twice returns 0.
    pub fn close(&self) -> Result<u64, RunFolderError> {
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
            Err(_) => Err(RunFolderError::Closed {
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

/// Writes `records` to `path`, one JSON line each (replacing the file).
pub fn write_jsonl<T: Serialize>(path: &Path, records: &[T]) -> Result<(), RunFolderError> {
    let mut text = Vec::new();
    for r in records {
        serde_json::to_writer(&mut text, r).map_err(|source| RunFolderError::Serialize {
            path: path.to_path_buf(),
            source,
        })?;
        text.push(b'\n');
    }
    let io = |source| RunFolderError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = File::create(path).map_err(io)?;
    f.write_all(&text).map_err(io)
}

#[cfg(test)]
mod tests;
