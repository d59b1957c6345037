//! The lazy filesystem: a passthrough to the backing directory whose
//! file *data* goes through a per-file page cache that only fsync empties.
//!
//! - `write` records the bytes in the file's [`DirtyFile`] and returns; the
//!   backing file is not touched.
//! - `read` and `getattr` show the backing file with the dirty bytes laid
//!   over it (the size is the larger of the two).
//! - `fsync`/`fdatasync` (and every write to a file opened `O_SYNC` or
//!   `O_DSYNC`) write the dirty bytes to the backing file and fsync it.
//! - Metadata operations (create, mkdir, rename, unlink, rmdir, truncate,
//!   fallocate, chmod, utimes, symlink) go to the backing directory at once and are
//!   therefore durable at once: a simplification of LazyFS, which can also
//!   lose an unsynced create or rename. Truncation drops the cached bytes past
//!   the new length and cuts the backing file too.
//! - [`Shared::power_fail`] discards every dirty byte of every file.
//!
//! Attributes and entries are returned with a zero TTL so the kernel asks
//! again every time; files are opened without `FOPEN_KEEP_CACHE`, so the
//! kernel drops its cached pages of a file at each open. After a power
//! failure the handle also invalidates the kernel's pages of every file that
//! lost data. Hard links are refused (`EPERM`): the table is path-based.
//!
//! Locks: the table lock is taken before a node's data lock, never after.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use super::cache::DirtyFile;
use super::table::Table;

/// Attributes and entries are never cached by the kernel.
const TTL: Duration = Duration::ZERO;

/// What a power failure took away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PowerFailReport {
    /// Files that had unsynced data.
    pub files: u64,
    /// Unsynced bytes discarded.
    pub bytes_lost: u64,
}

/// Counters for tests and the benchmark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LazyFsStats {
    /// `write` requests served.
    pub writes: u64,
    /// fsyncs that wrote dirty data to the backing file.
    pub fsyncs: u64,
    /// Bytes currently unsynced, over all files.
    pub dirty_bytes: u64,
}

/// The per-inode payload.
#[derive(Debug, Default)]
pub struct Node {
    data: Mutex<FileData>,
    /// Mirrors `!data.cache.is_clean()`, readable without the data lock.
    dirty: AtomicBool,
}

#[derive(Debug, Default)]
struct FileData {
    /// The backing file, open while the inode is open or dirty.
    file: Option<File>,
    cache: DirtyFile,
}

impl Node {
    fn lock(&self) -> MutexGuard<'_, FileData> {
        // Every critical section leaves FileData consistent, so a poisoned
        // lock (a panicking handler) is still usable.
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }
}

fn keep_dirty(node: &Node) -> bool {
    node.is_dirty()
}

/// State shared by the FUSE threads and the [`LazyFsHandle`](super::LazyFsHandle).
#[derive(Debug)]
pub struct Shared {
    root: PathBuf,
    table: Mutex<Table<Node>>,
    dirs: Mutex<HashMap<u64, Arc<Vec<DirItem>>>>,
    next_dir: AtomicU64,
    writes: AtomicU64,
    fsyncs: AtomicU64,
}

#[derive(Debug)]
struct DirItem {
    ino: u64,
    kind: FileType,
    name: OsString,
}

impl Shared {
    /// State for a filesystem over the (absolute) backing directory `root`.
    pub fn new(root: PathBuf) -> Shared {
        Shared {
            root,
            table: Mutex::new(Table::new(Node::default())),
            dirs: Mutex::new(HashMap::new()),
            next_dir: AtomicU64::new(1),
            writes: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table<Node>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Inodes whose backing file is open: the only ones the kernel can hold
    /// dirty (mmap-written) pages of.
    pub fn open_files(&self) -> Vec<u64> {
        let nodes = self.table().nodes();
        nodes
            .into_iter()
            .filter(|(_, n)| n.lock().file.is_some())
            .map(|(ino, _)| ino)
            .collect()
    }

    /// A power failure: every unsynced byte of every file is gone. Returns
    /// what was lost and the inodes whose kernel caches are now stale.
    pub fn power_fail(&self) -> (PowerFailReport, Vec<u64>) {
        let nodes = self.table().nodes();
        let mut report = PowerFailReport::default();
        let mut stale = Vec::new();
        for (ino, node) in nodes {
            let mut data = node.lock();
            let lost = data.cache.discard();
            node.dirty.store(false, Ordering::Release);
            if lost > 0 {
                report.files += 1;
                report.bytes_lost += lost;
                stale.push(ino);
            }
        }
        self.table().sweep(keep_dirty);
        (report, stale)
    }

    /// Writes every file's unsynced data out, as a clean shutdown does.
    pub fn sync_all(&self) -> Result<(), Errno> {
        let nodes = self.table().nodes();
        let mut result = Ok(());
        for (_, node) in nodes {
            if node.is_dirty() {
                if let Err(e) = self.sync_node(&node, false) {
                    result = Err(e);
                }
            }
        }
        result
    }

    /// Current counters.
    pub fn stats(&self) -> LazyFsStats {
        let nodes = self.table().nodes();
        let dirty_bytes = nodes
            .iter()
            .map(|(_, n)| n.lock().cache.dirty_bytes())
            .sum();
        LazyFsStats {
            writes: self.writes.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            dirty_bytes,
        }
    }

    fn full(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// The inode's current relative path and payload.
    fn entry(&self, ino: INodeNo) -> Result<(Option<PathBuf>, Arc<Node>), Errno> {
        let t = self.table();
        let e = t.get(ino.0).ok_or(Errno::ENOENT)?;
        Ok((e.path.clone(), e.node.clone()))
    }

    /// The backing path of an inode that still has a name.
    fn path(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        match self.entry(ino)?.0 {
            Some(rel) => Ok(self.full(&rel)),
            None => Err(Errno::ENOENT),
        }
    }

    /// The relative path of `name` inside directory `parent`.
    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<PathBuf, Errno> {
        if name.is_empty() || name.as_bytes().contains(&b'/') || name == "." || name == ".." {
            return Err(Errno::EINVAL);
        }
        let t = self.table();
        let e = t.get(parent.0).ok_or(Errno::ENOENT)?;
        let dir = e.path.as_ref().ok_or(Errno::ENOENT)?;
        Ok(dir.join(name))
    }

    /// Attributes of `ino` as the application sees them (size includes dirty data).
    fn attr(&self, ino: INodeNo) -> Result<FileAttr, Errno> {
        let (rel, node) = self.entry(ino)?;
        let data = node.lock();
        let meta = match (&data.file, &rel) {
            (Some(file), _) => file.metadata(),
            (None, Some(rel)) => fs::symlink_metadata(self.full(rel)),
            (None, None) => return Err(Errno::ENOENT),
        }
        .map_err(Errno::from)?;
        let size = if meta.is_file() {
            data.cache.logical_len(meta.len())
        } else {
            meta.len()
        };
        Ok(to_attr(ino, &meta, size))
    }

    /// Registers one more kernel lookup of `rel` and returns its attributes.
    fn remember(&self, rel: PathBuf) -> Result<(INodeNo, FileAttr), Errno> {
        let (ino, _) = self.table().lookup(rel.clone(), Node::default);
        let ino = INodeNo(ino);
        match self.attr(ino) {
            Ok(attr) => Ok((ino, attr)),
            Err(e) => {
                // The path vanished between the syscall and now: undo the lookup.
                self.table().forget(ino.0, 1, keep_dirty);
                Err(e)
            }
        }
    }

    /// Makes sure the node has its backing file open (read-write, or read-only
    /// if that is all the backing file allows).
    fn ensure_open(&self, rel: Option<&Path>, data: &mut FileData) -> Result<(), Errno> {
        if data.file.is_some() {
            return Ok(());
        }
        let rel = rel.ok_or(Errno::ENOENT)?;
        let path = self.full(rel);
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e)
                if e.raw_os_error() == Some(libc::EACCES)
                    || e.raw_os_error() == Some(libc::EROFS) =>
            {
                File::open(&path).map_err(Errno::from)?
            }
            Err(e) => return Err(Errno::from(e)),
        };
        data.file = Some(file);
        Ok(())
    }

    /// Writes every dirty byte of `node` to its backing file and fsyncs it.
    fn sync_node(&self, node: &Node, datasync: bool) -> Result<(), Errno> {
        let mut data = node.lock();
        if data.cache.is_clean() {
            return Ok(());
        }
        let extents = data.cache.take();
        let result = (|| -> io::Result<()> {
            let file = data
                .file
                .as_ref()
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
            for (offset, bytes) in &extents {
                file.write_all_at(bytes, *offset)?;
            }
            if datasync {
                file.sync_data()
            } else {
                file.sync_all()
            }
        })();
        match result {
            Ok(()) => {
                node.dirty.store(!data.cache.is_clean(), Ordering::Release);
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                data.cache.restore(extents);
                Err(Errno::from(e))
            }
        }
    }

    /// Cuts `ino` to `len` bytes: the cache and the backing file.
    fn truncate(&self, ino: INodeNo, len: u64) -> Result<(), Errno> {
        let (rel, node) = self.entry(ino)?;
        let mut data = node.lock();
        data.cache.truncate(len);
        node.dirty.store(!data.cache.is_clean(), Ordering::Release);
        match (&data.file, rel) {
            (Some(file), _) => file.set_len(len),
            (None, Some(rel)) => OpenOptions::new()
                .write(true)
                .open(self.full(&rel))
                .and_then(|f| f.set_len(len)),
            (None, None) => return Err(Errno::ENOENT),
        }
        .map_err(Errno::from)
    }

    fn opendir(&self, ino: INodeNo) -> Result<u64, Errno> {
        let (rel, _) = self.entry(ino)?;
        let rel = rel.ok_or(Errno::ENOENT)?;
        let mut items = vec![
            DirItem {
                ino: ino.0,
                kind: FileType::Directory,
                name: ".".into(),
            },
            DirItem {
                ino: 1,
                kind: FileType::Directory,
                name: "..".into(),
            },
        ];
        for entry in fs::read_dir(self.full(&rel)).map_err(Errno::from)? {
            let entry = entry.map_err(Errno::from)?;
            let kind = entry
                .file_type()
                .ok()
                .and_then(FileType::from_std)
                .unwrap_or(FileType::RegularFile);
            let ino = self
                .table()
                .ino_at(&rel.join(entry.file_name()))
                .unwrap_or_else(|| std::os::unix::fs::DirEntryExt::ino(&entry));
            items.push(DirItem {
                ino,
                kind,
                name: entry.file_name(),
            });
        }
        let fh = self.next_dir.fetch_add(1, Ordering::Relaxed);
        self.dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(fh, Arc::new(items));
        Ok(fh)
    }

    /// Gives a newly created node to the user who asked for it (we run as root).
    fn chown_to_caller(path: &Path, req: &Request) {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 && (req.uid() != 0 || req.gid() != 0) {
            if let Err(e) = std::os::unix::fs::lchown(path, Some(req.uid()), Some(req.gid())) {
                tracing::warn!(path = %path.display(), error = %e, "lazyfs: cannot chown new node");
            }
        }
    }
}

fn system_time(secs: i64, nsecs: i64) -> SystemTime {
    let nanos = u32::try_from(nsecs).unwrap_or(0).min(999_999_999);
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos.into())
    }
}

fn to_attr(ino: INodeNo, m: &fs::Metadata, size: u64) -> FileAttr {
    FileAttr {
        ino,
        size,
        blocks: m.blocks().max(size.div_ceil(512)),
        atime: system_time(m.atime(), m.atime_nsec()),
        mtime: system_time(m.mtime(), m.mtime_nsec()),
        ctime: system_time(m.ctime(), m.ctime_nsec()),
        crtime: UNIX_EPOCH,
        kind: FileType::from_std(m.file_type()).unwrap_or(FileType::RegularFile),
        perm: (m.mode() & 0o7777) as u16,
        nlink: m.nlink() as u32,
        uid: m.uid(),
        gid: m.gid(),
        rdev: m.rdev() as u32,
        blksize: m.blksize() as u32,
        flags: 0,
    }
}

fn cpath(path: &Path) -> Result<CString, Errno> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

fn timespec(t: Option<TimeOrNow>) -> libc::timespec {
    match t {
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        Some(TimeOrNow::Now) => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Some(TimeOrNow::SpecificTime(t)) => {
            let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
                Ok(d) => (d.as_secs() as i64, d.subsec_nanos() as i64),
                Err(e) => (-(e.duration().as_secs() as i64), 0),
            };
            libc::timespec {
                tv_sec: secs as libc::time_t,
                tv_nsec: nanos as _,
            }
        }
    }
}

mod handlers;

pub use handlers::Fs;
