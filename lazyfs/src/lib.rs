//! A FUSE filesystem that loses unsynced writes on a power failure, like
//! Jepsen's LazyFS.
//!
//! `kill -9` does not lose data: what a process wrote before it died is in
//! the kernel's page cache and a restarted process reads it back. A power
//! failure loses everything that was not fsynced. To show that fault to any
//! node (ours or a `--node-cmd` one in another language) the harness mounts
//! a [`LazyFs`] on the node's data directory:
//!
//! ```text
//! <run>/nodes/<i>/disk   backing directory: only fsynced data ever lands here
//! <run>/nodes/<i>/data   the FUSE mount the node uses as its data dir
//! ```
//!
//! Writes stay in an in-memory page cache per file ([`cache`]); fsync or
//! fdatasync of a file writes its dirty bytes to the backing file and fsyncs
//! it. [`LazyFsHandle::power_fail`] discards every unsynced byte, so after
//! it the mount shows only what was fsynced. The power-failure fault is:
//! SIGKILL the node, `power_fail()`, restart the node on the same mount.
//!
//! Simplification (see [`fs`]): metadata operations (create, rename,
//! unlink, mkdir, truncate) reach the backing directory at once, so they are
//! never lost; only file *data* is. LazyFS can also lose an unsynced create
//! or rename. Hard links are not supported.
//!
//! The filesystem is served by threads of this process (the `fuser` crate,
//! no libfuse, mounted with `mount(2)`: needs root and `/dev/fuse`; see
//! [`available`]). Unmounting is lazy and happens on [`LazyFsHandle::unmount`]
//! or drop (so also on panic); a lazyfs mount left by a crashed run at the
//! same path is detached before mounting.
//!
//! # Use in a run
//!
//! ```text
//! lazyfs::available()?                      // clear error if FUSE cannot mount here
//! lazyfs::detach_dead_under(&store_dir)?    // optional: mounts of a SIGKILLed harness
//! let fs = LazyFs::mount(node_dir.join("disk"), node_dir.join("data"))?;
//! // start the node with --data-dir node_dir/data, as without lazyfs
//! // power-fail fault: SIGKILL + reap the node, fs.power_fail(), restart it
//! // teardown: stop the node, then fs.unmount() (unsynced data is written
//! // out; the node's files then live in node_dir/disk)
//! ```
//!
//! # Layout
//!
//! - [`cache`]: one file's dirty extents (pure).
//! - [`table`]: inode numbers to backing paths (pure).
//! - [`fs`]: the FUSE request handlers.
//! - [`mount`]: `mount(2)`, lazy unmount, `/proc/self/mountinfo`.
//!
//! # Example
//!
//! Mounting needs root, so this runs the pure page cache that decides what
//! a power failure loses: unsynced writes lie over the backing bytes until
//! fsync takes them.
//!
//! ```
//! use ballot_lazyfs::DirtyFile;
//!
//! let backing = *b"promised:1";
//! let mut cache = DirtyFile::new();
//! cache.write(9, b"7");
//! let mut seen = backing;
//! cache.overlay(0, &mut seen);
//! assert_eq!(&seen, b"promised:7");
//! assert_eq!(cache.dirty_bytes(), 1);
//! let synced = cache.take(); // fsync writes these extents to the backing file
//! assert_eq!(synced.get(&9).map(Vec::as_slice), Some(&b"7"[..]));
//! assert!(cache.is_clean());
//! ```

pub mod cache;
pub mod fs;
pub mod mount;
pub mod table;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use fuser::{BackgroundSession, Config, INodeNo, Notifier, Session, SessionACL};

pub use cache::DirtyFile;
pub use fs::{LazyFsStats, PowerFailReport};

/// FUSE worker threads per mount: one can wait on a backing fsync while
/// another serves reads and stats.
const THREADS: usize = 2;
/// How long unmount waits for the serving threads to stop.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Why a mount or unmount failed.
#[derive(Debug, thiserror::Error)]
pub enum LazyFsError {
    /// A file-system operation failed.
    #[error("lazyfs: {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The two directories would make the filesystem serve itself.
    #[error(
        "lazyfs: backing dir {} and mount point {} must not be inside one another",
        backing.display(),
        mount_point.display()
    )]
    Nested {
        /// The backing directory.
        backing: PathBuf,
        /// The mount point.
        mount_point: PathBuf,
    },
    /// The mount point holds files the mount would hide.
    #[error("lazyfs: mount point {} is not empty", .0.display())]
    NotEmpty(PathBuf),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LazyFsError + 'a {
    move |source| LazyFsError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// The filesystem's entry point; see the module docs.
#[derive(Debug)]
pub struct LazyFs;

impl LazyFs {
    /// Mounts a lazy filesystem over `backing` at `mount_point` and serves it
    /// on background threads until the handle is unmounted or dropped.
    ///
    /// Both directories are created if missing; the mount point must be
    /// empty. A lazyfs mount left at `mount_point` by a crashed run is
    /// detached first; any other mount there is an error.
    pub fn mount(
        backing: impl AsRef<Path>,
        mount_point: impl AsRef<Path>,
    ) -> Result<LazyFsHandle, LazyFsError> {
        let backing = backing.as_ref();
        std::fs::create_dir_all(backing).map_err(io_err("create backing dir", backing))?;
        let backing = backing
            .canonicalize()
            .map_err(io_err("resolve backing dir", backing))?;
        let given = mount_point.as_ref();
        if let Some(parent) = given.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_err("create parent of", given))?;
        }
        let mount_point = mount::absolute(given).map_err(io_err("resolve mount point", given))?;
        let cleared = mount::clear_stale(&mount_point)
            .map_err(io_err("clear stale mount at", &mount_point))?;
        if cleared > 0 {
            tracing::warn!(
                mount_point = %mount_point.display(),
                cleared,
                "lazyfs: detached a stale mount left by an earlier run"
            );
        }
        if backing.starts_with(&mount_point) || mount_point.starts_with(&backing) {
            return Err(LazyFsError::Nested {
                backing,
                mount_point,
            });
        }
        match std::fs::create_dir(&mount_point) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("create mount point", &mount_point)(e)),
        }
        let mut listing =
            std::fs::read_dir(&mount_point).map_err(io_err("list mount point", &mount_point))?;
        if listing.next().is_some() {
            return Err(LazyFsError::NotEmpty(mount_point));
        }

        let dev_fuse = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .map_err(io_err("open", Path::new("/dev/fuse")))?;
        mount::mount_fuse(&dev_fuse, &mount_point).map_err(io_err("mount(2) at", &mount_point))?;
        match Self::serve(dev_fuse, backing.clone(), &mount_point) {
            Ok(handle) => Ok(handle),
            Err(e) => {
                let _ = mount::detach(&mount_point);
                Err(e)
            }
        }
    }

    /// Answers the kernel's INIT and starts the serving threads.
    fn serve(
        dev_fuse: File,
        backing: PathBuf,
        mount_point: &Path,
    ) -> Result<LazyFsHandle, LazyFsError> {
        let device = mount::mounts_at(mount_point)
            .map_err(io_err("read mountinfo for", mount_point))?
            .pop()
            .filter(|m| m.fs_type == mount::FS_TYPE)
            .map(|m| m.device)
            .ok_or_else(|| {
                io_err("find new mount", mount_point)(io::Error::other(
                    "not listed in /proc/self/mountinfo",
                ))
            })?;
        let shared = Arc::new(fs::Shared::new(backing.clone()));
        let mut config = Config::default();
        config.acl = SessionACL::All;
        config.n_threads = Some(THREADS);
        let session = Session::from_fd(
            fs::Fs(shared.clone()),
            OwnedFd::from(dev_fuse),
            SessionACL::All,
            config,
        )
        .map_err(io_err("FUSE handshake at", mount_point))?;
        let session = session
            .spawn()
            .map_err(io_err("start FUSE threads for", mount_point))?;
        let notifier = session.notifier();
        tracing::info!(
            mount_point = %mount_point.display(),
            backing = %backing.display(),
            "lazyfs mounted"
        );
        Ok(LazyFsHandle {
            shared,
            session: Some(session),
            notifier,
            mount_point: mount_point.to_owned(),
            backing,
            device,
        })
    }
}

/// A mounted [`LazyFs`]; unmounts on [`unmount`](Self::unmount) or drop.
#[derive(Debug)]
pub struct LazyFsHandle {
    shared: Arc<fs::Shared>,
    /// `None` once unmounted.
    session: Option<BackgroundSession>,
    notifier: Notifier,
    mount_point: PathBuf,
    backing: PathBuf,
    /// `major:minor` of this mount, to never unmount someone else's.
    device: String,
}

impl LazyFsHandle {
    /// Where the filesystem is mounted (absolute).
    pub fn mount_point(&self) -> &Path {
        &self.mount_point
    }

    /// The backing directory that holds only fsynced data (absolute).
    pub fn backing_dir(&self) -> &Path {
        &self.backing
    }

    /// Simulates a power failure: discards every unsynced byte of every file.
    ///
    /// Kill the processes using the mount first (a real power failure kills
    /// them too); a process that keeps a file open across this call may see
    /// stale sizes for appends.
    pub fn power_fail(&self) -> PowerFailReport {
        // 1. Pages written through a shared mmap are dirty in the kernel, not
        //    yet here; invalidating them makes the kernel write them to us
        //    first, so they are lost with the rest instead of arriving later.
        for ino in self.shared.open_files() {
            self.invalidate(ino);
        }
        // 2. Discard every unsynced byte.
        let (report, stale) = self.shared.power_fail();
        // 3. Drop the kernel's cached pages and sizes of files that lost data.
        for ino in stale {
            self.invalidate(ino);
        }
        tracing::info!(
            mount_point = %self.mount_point.display(),
            files = report.files,
            bytes_lost = report.bytes_lost,
            "lazyfs power failure"
        );
        report
    }

    /// Drops the kernel's cached pages and attributes of `ino` (writing back
    /// dirty mmap pages first). Best effort: an inode the kernel forgot is fine.
    fn invalidate(&self, ino: u64) {
        if let Err(e) = self.notifier.inval_inode(INodeNo(ino), 0, 0) {
            tracing::debug!(ino, error = %e, "lazyfs: cache invalidation failed");
        }
    }

    /// Counters: writes served, fsyncs done, bytes currently unsynced.
    pub fn stats(&self) -> LazyFsStats {
        self.shared.stats()
    }

    /// Writes unsynced data out (a clean shutdown), then unmounts (lazily:
    /// processes still using files keep them until they close them) and
    /// stops the serving threads.
    pub fn unmount(mut self) -> Result<(), LazyFsError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), LazyFsError> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        if let Err(e) = self.shared.sync_all() {
            tracing::error!(
                mount_point = %self.mount_point.display(),
                error = ?e,
                "lazyfs: writing unsynced data out at unmount failed"
            );
        }
        let mounts = mount::mounts_at(&self.mount_point)
            .map_err(io_err("read mountinfo for", &self.mount_point))?;
        match mounts.last() {
            Some(top) if top.device == self.device => {
                mount::detach(&self.mount_point).map_err(io_err("unmount", &self.mount_point))?;
            }
            _ if mounts.iter().any(|m| m.device == self.device) => {
                return Err(io_err("unmount", &self.mount_point)(io::Error::other(
                    "another mount covers it; not detaching someone else's mount",
                )));
            }
            // Already unmounted by someone else.
            _ => {}
        }
        // Once no process uses the detached mount the kernel ends the
        // connection and the serving threads return; wait for that.
        let deadline = Instant::now() + STOP_WAIT;
        while !session.guard.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if session.guard.is_finished() {
            if let Err(e) = session.join() {
                tracing::warn!(error = %e, "lazyfs: serving threads ended with an error");
            }
        } else {
            // A process still holds a file open on the detached mount; the
            // threads go on serving it until it closes, then end by themselves.
            tracing::warn!(
                mount_point = %self.mount_point.display(),
                "lazyfs: detached, but a process still uses the filesystem"
            );
        }
        tracing::info!(mount_point = %self.mount_point.display(), "lazyfs unmounted");
        Ok(())
    }
}

impl Drop for LazyFsHandle {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!(error = %e, "lazyfs: unmount on drop failed");
        }
    }
}

/// Detaches every lazyfs mount under `root` (or at it) whose serving
/// process is gone (`ENOTCONN`), e.g. left by a harness that was SIGKILLed;
/// returns how many. Live mounts, even other processes', are left alone.
pub fn detach_dead_under(root: &Path) -> io::Result<usize> {
    let root = root.canonicalize()?;
    let mut paths: Vec<PathBuf> = mount::mounts()?
        .into_iter()
        .filter(|m| m.fs_type == mount::FS_TYPE && m.mount_point.starts_with(&root))
        .map(|m| m.mount_point)
        .collect();
    let stacked = paths.len();
    // Deepest first, so a dead mount never hides one below it.
    paths.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    paths.dedup();
    let mut detached = 0;
    for path in paths {
        // Mounts stack: peel dead lazyfs mounts off the top, at most as many
        // as were listed.
        for _ in 0..stacked {
            let top_is_lazyfs = mount::mounts_at(&path)?
                .last()
                .is_some_and(|m| m.fs_type == mount::FS_TYPE);
            let dead = matches!(std::fs::symlink_metadata(&path),
                Err(e) if e.raw_os_error() == Some(libc::ENOTCONN));
            if !(top_is_lazyfs && dead) {
                break;
            }
            mount::detach(&path)?;
            detached += 1;
            tracing::warn!(mount_point = %path.display(), "lazyfs: detached a dead mount");
        }
    }
    Ok(detached)
}

/// Whether a lazyfs mount (any, even a stale one) is at `path`.
pub fn is_mounted(path: &Path) -> io::Result<bool> {
    let abs = mount::absolute(path)?;
    Ok(mount::mounts_at(&abs)?
        .iter()
        .any(|m| m.fs_type == mount::FS_TYPE))
}

/// Whether this process can mount a lazyfs (root, `/dev/fuse`, `mount(2)`
/// allowed); the error says what is missing. Probes once with a real mount
/// in a temporary directory and remembers the answer.
pub fn available() -> Result<(), String> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE.get_or_init(probe).clone()
}

fn probe() -> Result<(), String> {
    if let Err(e) = OpenOptions::new().read(true).write(true).open("/dev/fuse") {
        return Err(format!(
            "cannot open /dev/fuse ({e}): the FUSE device is missing or not accessible"
        ));
    }
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ballot-lazyfs-probe-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let handle = LazyFs::mount(dir.join("disk"), dir.join("mnt")).map_err(|e| {
            format!("mounting a FUSE filesystem failed ({e}); lazyfs needs root (CAP_SYS_ADMIN)")
        })?;
        std::fs::metadata(handle.mount_point())
            .map_err(|e| format!("the probe mount does not answer: {e}"))?;
        handle
            .unmount()
            .map_err(|e| format!("unmounting the probe mount failed: {e}"))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handle_can_be_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<LazyFsHandle>();
    }
}
