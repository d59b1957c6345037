//! The durable log behind the acceptor: append-only, checksummed, group-committed.
//!
//! # File format
//!
//! `DATA_DIR/acceptor.log` is a sequence of frames, one per [`Change`]:
//!
//! ```text
//! +-----------+-------------+-------------------+-------------------+
//! | len: u32  | !len: u32   | crc32(payload):u32| payload: len bytes|
//! +-----------+-------------+-------------------+-------------------+
//! ```
//!
//! (little-endian; the payload is the change as JSON). The length is stored
//! with its bitwise complement so a damaged length field is recognised as
//! damage instead of being mistaken for a frame that runs past the end.
//!
//! # Recovery
//!
//! At start-up the log is replayed frame by frame. Only the *final* frame may
//! be incomplete (a crash while appending, never acknowledged): a frame that
//! is cut short, whose CRC fails and that ends exactly at end of file, or a
//! zero-filled tail, is a torn write and is truncated away. Any other damage
//! means acknowledged state may be lost, so [`Storage::open`] refuses with
//! [`StorageError::Corrupt`], naming the file and byte offset.
//!
//! # Group commit
//!
//! One writer thread owns the file. [`Storage::submit`] queues a change and
//! returns its sequence number without blocking; the writer takes *every*
//! queued change, writes them with one `write`, calls `fdatasync` once, and
//! then publishes the highest durable sequence number, waking every waiter
//! at once. Concurrent requests therefore share one fsync.
//!
//! A reply that merely *reads* state another request changed (a duplicate
//! prepare, a rejection, `GET /v1/state`) must not be sent before that state
//! is durable either: such requests wait for [`Storage::position`], the
//! sequence number of the last change queued so far.
//!
//! # Compaction
//!
//! When the log grows past a threshold the writer writes the whole current
//! state (one snapshot frame per key) to `acceptor.log.tmp`, fsyncs it,
//! renames it over the log and fsyncs the directory, so the log stays
//! proportional to the state, not to the history.
//!
//! A write or fsync error stops the writer for good: every waiter gets
//! [`WriteFailed`] and the server stops serving.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use tokio::sync::watch;

use ballot_core::acceptor::{apply_change, Change};
use ballot_core::protocol::InstanceState;

/// File name of the log inside the data directory.
pub const LOG_FILE: &str = "acceptor.log";
/// File name of the lock that keeps a second node out of the data directory.
pub const LOCK_FILE: &str = "LOCK";
/// File name of a snapshot being written by compaction.
pub const TMP_FILE: &str = "acceptor.log.tmp";
/// Default size past which the log is compacted (64 MiB).
pub const DEFAULT_COMPACT_BYTES: u64 = 64 << 20;
/// Frame header size: length, its complement, CRC32.
const HEADER: usize = 12;
/// Largest payload a frame may carry; bigger lengths are damage.
const MAX_PAYLOAD: u32 = 1 << 20;

/// Errors opening or recovering the log.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file-system operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("create data dir", "read", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Another process holds the data directory's lock.
    #[error(
        "data dir {} is in use by another process (it holds the lock on {}); \
         two nodes must not share a data dir",
        dir.display(),
        dir.join(LOCK_FILE).display()
    )]
    InUse {
        /// The data directory.
        dir: PathBuf,
    },
    /// The log is damaged somewhere other than a torn final record.
    #[error("corrupt log {} at byte offset {offset}: {reason}", path.display())]
    Corrupt {
        /// The log file.
        path: PathBuf,
        /// Byte offset of the damaged frame.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// The writer hit an I/O error; nothing more will become durable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("storage failed: {0}")]
pub struct WriteFailed(pub Arc<str>);

/// Sequence number of a queued change; 0 means "nothing queued yet".
pub type Seq = u64;

/// How the log is opened.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    /// The data directory (created if missing).
    pub dir: PathBuf,
    /// Compact once the log is larger than this many bytes.
    pub compact_bytes: u64,
    /// If set, the writer waits this long before each batch (used by the
    /// `reply-before-durable` bug, whose server does not wait for durability).
    pub flush_delay: Option<Duration>,
}

impl StorageConfig {
    /// A correct configuration for `dir` with the default threshold.
    pub fn new(dir: impl Into<PathBuf>) -> StorageConfig {
        StorageConfig {
            dir: dir.into(),
            compact_bytes: DEFAULT_COMPACT_BYTES,
            flush_delay: None,
        }
    }
}

/// Durability as published by the writer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Status {
    /// Every change up to this sequence number is on disk.
    Durable(Seq),
    /// The writer stopped after an error.
    Failed(WriteFailed),
}

/// The queue between submitters and the writer thread.
struct Queue {
    pending: Vec<Change>,
    /// Sequence number of the last change queued.
    last: Seq,
    closing: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    fsyncs: AtomicU64,
    compactions: AtomicU64,
}

fn lock(m: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    // A panic while holding this lock cannot leave the queue inconsistent
    // (every critical section is a push or a take), so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Handle to the durable log; dropping it flushes and stops the writer.
pub struct Storage {
    shared: Arc<Shared>,
    status: watch::Receiver<Status>,
    writer: Option<JoinHandle<()>>,
    /// The data dir's lock, released once the writer has stopped.
    lock: Option<Flock<File>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("position", &self.position())
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Opens (or creates) the log, recovers its state and starts the writer.
    pub fn open(
        config: StorageConfig,
    ) -> Result<(Storage, BTreeMap<String, InstanceState>), StorageError> {
        let dir = &config.dir;
        fs::create_dir_all(dir).map_err(io_err("create data dir", dir))?;
        let lock = lock_dir(dir)?;
        let tmp = dir.join(TMP_FILE);
        if tmp.exists() {
            // A compaction that never reached its rename: the log is intact.
            fs::remove_file(&tmp).map_err(io_err("remove", &tmp))?;
        }
        let path = dir.join(LOG_FILE);
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        if !existed {
            sync_dir(dir).map_err(io_err("fsync dir", dir))?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(io_err("read", &path))?;
        let recovered = decode_log(&bytes).map_err(|(offset, reason)| StorageError::Corrupt {
            path: path.clone(),
            offset,
            reason,
        })?;
        if (recovered.valid_len as usize) < bytes.len() {
            tracing::warn!(
                file = %path.display(),
                offset = recovered.valid_len,
                dropped = bytes.len() as u64 - recovered.valid_len,
                "dropping torn final record"
            );
            file.set_len(recovered.valid_len)
                .map_err(io_err("truncate", &path))?;
            file.sync_all().map_err(io_err("fsync", &path))?;
        }
        let mut state = BTreeMap::new();
        for change in &recovered.changes {
            apply_change(&mut state, change);
        }

        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                pending: Vec::new(),
                last: 0,
                closing: false,
            }),
            wake: Condvar::new(),
            fsyncs: AtomicU64::new(0),
            compactions: AtomicU64::new(0),
        });
        let (tx, rx) = watch::channel(Status::Durable(0));
        let writer = Writer {
            shared: shared.clone(),
            status: tx,
            file,
            dir: dir.clone(),
            path,
            len: recovered.valid_len,
            compact_at: config.compact_bytes,
            compact_bytes: config.compact_bytes,
            flush_delay: config.flush_delay,
            image: state.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || writer.run())
            .map_err(io_err("spawn writer thread", dir))?;
        Ok((
            Storage {
                shared,
                status: rx,
                writer: Some(handle),
                lock: Some(lock),
            },
            state,
        ))
    }

    /// Queues a change and returns its sequence number; never blocks on I/O.
    ///
    /// Callers must submit in the order the state machine made the changes
    /// (the server does so while holding the acceptor lock).
    pub fn submit(&self, change: Change) -> Seq {
        let mut q = lock(&self.shared.queue);
        q.pending.push(change);
        q.last += 1;
        let seq = q.last;
        drop(q);
        self.shared.wake.notify_one();
        seq
    }

    /// Lets go of the handle the way a crash would (no flush, no clean
    /// stop of the writer) but releases the data dir's lock, which only the
    /// process's exit would release otherwise, so a test can reopen.
    #[cfg(test)]
    fn abandon(mut self) {
        drop(self.lock.take());
        std::mem::forget(self);
    }

    /// Sequence number of the last change queued so far.
    pub fn position(&self) -> Seq {
        lock(&self.shared.queue).last
    }

    /// Waits until every change up to `seq` is durable.
    pub async fn wait_durable(&self, seq: Seq) -> Result<(), WriteFailed> {
        let mut rx = self.status.clone();
        let status = rx
            .wait_for(|s| match s {
                Status::Durable(d) => *d >= seq,
                Status::Failed(_) => true,
            })
            .await;
        match status.as_deref() {
            Ok(Status::Durable(_)) => Ok(()),
            Ok(Status::Failed(e)) => Err(e.clone()),
            // The writer thread is gone without saying why.
            Err(_) => Err(WriteFailed("log writer stopped".into())),
        }
    }

    /// The error that stopped the writer, if it has stopped.
    pub fn failure(&self) -> Option<WriteFailed> {
        match &*self.status.borrow() {
            Status::Failed(e) => Some(e.clone()),
            Status::Durable(_) => None,
        }
    }

    /// How many fsyncs of the log the writer has done (a test and bench hook).
    pub fn fsync_count(&self) -> u64 {
        self.shared.fsyncs.load(Ordering::Relaxed)
    }

    /// How many times the log was compacted.
    pub fn compaction_count(&self) -> u64 {
        self.shared.compactions.load(Ordering::Relaxed)
    }

    /// Writes everything queued, stops the writer and waits for it.
    pub fn close(mut self) -> Result<(), WriteFailed> {
        self.stop();
        match self.failure() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn stop(&mut self) {
        lock(&self.shared.queue).closing = true;
        self.shared.wake.notify_one();
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        self.stop();
        // Only now that the writer has stopped may another node open the dir.
        drop(self.lock.take());
    }
}

/// The writer thread's state: the open log and the durable image of the state.
struct Writer {
    shared: Arc<Shared>,
    status: watch::Sender<Status>,
    file: File,
    dir: PathBuf,
    path: PathBuf,
    len: u64,
    compact_at: u64,
    compact_bytes: u64,
    flush_delay: Option<Duration>,
    /// The state as the log on disk describes it (what a restart recovers).
    image: BTreeMap<String, InstanceState>,
}

impl Writer {
    fn run(mut self) {
        loop {
            let closing = {
                let mut q = lock(&self.shared.queue);
                while q.pending.is_empty() && !q.closing {
                    q = self.shared.wake.wait(q).unwrap_or_else(|e| e.into_inner());
                }
                q.closing
            };
            if let (Some(delay), false) = (self.flush_delay, closing) {
                // Let records pile up for `delay` (or until close is asked).
                let q = lock(&self.shared.queue);
                drop(
                    self.shared
                        .wake
                        .wait_timeout_while(q, delay, |q| !q.closing)
                        .unwrap_or_else(|e| e.into_inner()),
                );
            }
            let (batch, last) = {
                let mut q = lock(&self.shared.queue);
                (std::mem::take(&mut q.pending), q.last)
            };
            if batch.is_empty() {
                // Closing and nothing left to write.
                return;
            }
            if let Err(e) = self.write_batch(&batch) {
                tracing::error!(file = %self.path.display(), error = %e, "log write failed");
                let msg = format!("writing {}: {e}", self.path.display());
                self.status
                    .send_replace(Status::Failed(WriteFailed(msg.into())));
                return;
            }
            self.status.send_replace(Status::Durable(last));
            if self.len > self.compact_at {
                if let Err(e) = self.compact() {
                    tracing::error!(dir = %self.dir.display(), error = %e, "compaction failed");
                    let msg = format!("compacting {}: {e}", self.path.display());
                    self.status
                        .send_replace(Status::Failed(WriteFailed(msg.into())));
                    return;
                }
            }
        }
    }

    fn write_batch(&mut self, batch: &[Change]) -> io::Result<()> {
        let mut buf = Vec::new();
        for change in batch {
            encode_frame(change, &mut buf);
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.shared.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.len += buf.len() as u64;
        for change in batch {
            apply_change(&mut self.image, change);
        }
        Ok(())
    }

    fn compact(&mut self) -> io::Result<()> {
        let mut buf = Vec::new();
        for (key, state) in &self.image {
            encode_frame(&Change::snapshot(key, state), &mut buf);
        }
        let tmp = self.dir.join(TMP_FILE);
        let mut file = File::create(&tmp)?;
        file.write_all(&buf)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &self.path)?;
        sync_dir(&self.dir)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.len = buf.len() as u64;
        // If the state alone is near the threshold, wait for it to double
        // before compacting again, so compaction cost stays amortised.
        self.compact_at = self.compact_bytes.max(2 * self.len);
        self.shared.compactions.fetch_add(1, Ordering::Relaxed);
        tracing::info!(file = %self.path.display(), bytes = self.len, "compacted log");
        Ok(())
    }
}

/// Takes the data directory's exclusive lock (released when the process
/// exits, however it exits), or says who has it.
fn lock_dir(dir: &Path) -> Result<Flock<File>, StorageError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err("open", &path))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        if errno == Errno::EWOULDBLOCK {
            StorageError::InUse {
                dir: dir.to_owned(),
            }
        } else {
            StorageError::Io {
                op: "lock",
                path,
                source: errno.into(),
            }
        }
    })
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |source| StorageError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// Makes a rename or file creation inside `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Appends one frame holding `change` to `buf`.
pub fn encode_frame(change: &Change, buf: &mut Vec<u8>) {
    let payload = serde_json::to_vec(change).expect("a Change always serialises");
    let len = payload.len() as u32;
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&(!len).to_le_bytes());
    buf.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    buf.extend_from_slice(&payload);
}

/// The result of decoding a log image.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The changes, in log order.
    pub changes: Vec<Change>,
    /// Length of the valid prefix; anything after it is a torn tail.
    pub valid_len: u64,
}

/// Decodes a whole log image; `Err((offset, reason))` on real corruption.
pub fn decode_log(bytes: &[u8]) -> Result<Decoded, (u64, String)> {
    let mut changes = Vec::new();
    let mut at = 0usize;
    let torn = |at: usize, changes: Vec<Change>| {
        Ok(Decoded {
            changes,
            valid_len: at as u64,
        })
    };
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < HEADER {
            // A header cut short can only be the end of an interrupted append.
            return torn(at, changes);
        }
        let word = |i: usize| u32::from_le_bytes(rest[i..i + 4].try_into().expect("4 bytes"));
        let (len, check, crc) = (word(0), word(4), word(8));
        if check != !len || len > MAX_PAYLOAD {
            if rest.iter().all(|&b| b == 0) {
                // Space the file system allocated for an append that never
                // reached the disk: a torn tail, not damage.
                return torn(at, changes);
            }
            return Err((
                at as u64,
                format!("bad frame header (length field {len:#x})"),
            ));
        }
        let end = HEADER + len as usize;
        if rest.len() < end {
            return torn(at, changes);
        }
        let payload = &rest[HEADER..end];
        if crc32fast::hash(payload) != crc {
            if rest.len() == end {
                // The final frame, written but not fully synced: never acknowledged.
                return torn(at, changes);
            }
            return Err((at as u64, "checksum mismatch".to_owned()));
        }
        match serde_json::from_slice::<Change>(payload) {
            Ok(change) => changes.push(change),
            Err(e) => return Err((at as u64, format!("undecodable record: {e}"))),
        }
        at += end;
    }
    Ok(Decoded {
        changes,
        valid_len: at as u64,
    })
}

#[cfg(test)]
mod tests;
