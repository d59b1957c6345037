//! The FUSE request handlers: a passthrough to the backing directory whose
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

/// Runs `f` and sends its result (or its errno) as an entry reply.
fn reply_entry(reply: ReplyEntry, result: Result<(INodeNo, FileAttr), Errno>) {
    match result {
        Ok((_, attr)) => reply.entry(&TTL, &attr, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn reply_empty(reply: ReplyEmpty, result: Result<(), Errno>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

/// The filesystem the FUSE session serves.
#[derive(Debug)]
pub struct Fs(pub Arc<Shared>);

impl Filesystem for Fs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let result = (|| {
            let rel = self.0.child(parent, name)?;
            fs::symlink_metadata(self.0.full(&rel)).map_err(Errno::from)?;
            self.0.remember(rel)
        })();
        reply_entry(reply, result);
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.0.table().forget(ino.0, nlookup, keep_dirty);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.0.attr(ino) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let result = (|| {
            if let Some(len) = size {
                self.0.truncate(ino, len)?;
            }
            if mode.is_some()
                || uid.is_some()
                || gid.is_some()
                || atime.is_some()
                || mtime.is_some()
            {
                // These need a name; an unlinked open file keeps its old ones.
                let path = self.0.path(ino)?;
                if let Some(mode) = mode {
                    fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777))
                        .map_err(Errno::from)?;
                }
                if uid.is_some() || gid.is_some() {
                    std::os::unix::fs::lchown(&path, uid, gid).map_err(Errno::from)?;
                }
                if atime.is_some() || mtime.is_some() {
                    let c = cpath(&path)?;
                    let times = [timespec(atime), timespec(mtime)];
                    // SAFETY: `c` is NUL-terminated and `times` holds two timespecs,
                    // both alive for the call.
                    let rc = unsafe {
                        libc::utimensat(
                            libc::AT_FDCWD,
                            c.as_ptr(),
                            times.as_ptr(),
                            libc::AT_SYMLINK_NOFOLLOW,
                        )
                    };
                    if rc != 0 {
                        return Err(Errno::from(io::Error::last_os_error()));
                    }
                }
            }
            self.0.attr(ino)
        })();
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self
            .0
            .path(ino)
            .and_then(|p| fs::read_link(p).map_err(Errno::from))
        {
            Ok(target) => reply.data(target.as_os_str().as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let result = (|| {
            let rel = self.0.child(parent, name)?;
            let path = self.0.full(&rel);
            let c = cpath(&path)?;
            // SAFETY: `c` is a NUL-terminated path alive for the call.
            let rc =
                unsafe { libc::mknod(c.as_ptr(), (mode & !umask) as libc::mode_t, rdev.into()) };
            if rc != 0 {
                return Err(Errno::from(io::Error::last_os_error()));
            }
            Shared::chown_to_caller(&path, req);
            self.0.remember(rel)
        })();
        reply_entry(reply, result);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let result = (|| {
            let rel = self.0.child(parent, name)?;
            let path = self.0.full(&rel);
            fs::DirBuilder::new()
                .mode(mode & !umask & 0o7777)
                .create(&path)
                .map_err(Errno::from)?;
            Shared::chown_to_caller(&path, req);
            self.0.remember(rel)
        })();
        reply_entry(reply, result);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let result = (|| {
            let rel = self.0.child(parent, name)?;
            fs::remove_file(self.0.full(&rel)).map_err(Errno::from)?;
            self.0.table().unlinked(&rel, keep_dirty);
            Ok(())
        })();
        reply_empty(reply, result);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let result = (|| {
            let rel = self.0.child(parent, name)?;
            fs::remove_dir(self.0.full(&rel)).map_err(Errno::from)?;
            self.0.table().unlinked(&rel, keep_dirty);
            Ok(())
        })();
        reply_empty(reply, result);
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let result = (|| {
            let rel = self.0.child(parent, link_name)?;
            let path = self.0.full(&rel);
            std::os::unix::fs::symlink(target, &path).map_err(Errno::from)?;
            Shared::chown_to_caller(&path, req);
            self.0.remember(rel)
        })();
        reply_entry(reply, result);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let result = (|| {
            let from = self.0.child(parent, name)?;
            let to = self.0.child(newparent, newname)?;
            let (full_from, full_to) = (self.0.full(&from), self.0.full(&to));
            if flags.is_empty() {
                fs::rename(&full_from, &full_to).map_err(Errno::from)?;
            } else {
                let (a, b) = (cpath(&full_from)?, cpath(&full_to)?);
                // SAFETY: both paths are NUL-terminated and alive for the call.
                let rc = unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        a.as_ptr(),
                        libc::AT_FDCWD,
                        b.as_ptr(),
                        flags.bits(),
                    )
                };
                if rc != 0 {
                    return Err(Errno::from(io::Error::last_os_error()));
                }
            }
            let exchange = flags.contains(RenameFlags::RENAME_EXCHANGE);
            self.0.table().renamed(&from, &to, exchange, keep_dirty);
            Ok(())
        })();
        reply_empty(reply, result);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let result = (|| {
            let (rel, node) = self.0.entry(ino)?;
            {
                let mut data = node.lock();
                self.0.ensure_open(rel.as_deref(), &mut data)?;
            }
            if flags.0 & libc::O_TRUNC != 0 {
                self.0.truncate(ino, 0)?;
            }
            self.0.table().open(ino.0).ok_or(Errno::ENOENT)?;
            Ok(())
        })();
        match result {
            // fh is unused: all state is per inode.
            Ok(()) => reply.opened(FileHandle(ino.0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let result = (|| {
            let (_, node) = self.0.entry(ino)?;
            let data = node.lock();
            let file = data.file.as_ref().ok_or(Errno::EBADF)?;
            let backing_len = file.metadata().map_err(Errno::from)?.len();
            let len = data.cache.logical_len(backing_len);
            if offset >= len {
                return Ok(Vec::new());
            }
            let n = (len - offset).min(size.into()) as usize;
            let mut buf = vec![0u8; n];
            // Backing bytes first (zeros past its end), then the dirty ones on top.
            let from_backing = backing_len.saturating_sub(offset).min(n as u64) as usize;
            let mut done = 0;
            while done < from_backing {
                match file.read_at(&mut buf[done..from_backing], offset + done as u64) {
                    Ok(0) => break,
                    Ok(k) => done += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Errno::from(e)),
                }
            }
            data.cache.overlay(offset, &mut buf);
            Ok(buf)
        })();
        match result {
            Ok(buf) => reply.data(&buf),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        bytes: &[u8],
        _write_flags: WriteFlags,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let result = (|| {
            let (_, node) = self.0.entry(ino)?;
            {
                let mut data = node.lock();
                if data.file.is_none() {
                    return Err(Errno::EBADF);
                }
                data.cache.write(offset, bytes);
                node.dirty.store(true, Ordering::Release);
            }
            self.0.writes.fetch_add(1, Ordering::Relaxed);
            // O_SYNC includes the O_DSYNC bit: either makes each write durable.
            if flags.0 & libc::O_DSYNC != 0 {
                let datasync = flags.0 & libc::O_SYNC != libc::O_SYNC;
                self.0.sync_node(&node, datasync)?;
            }
            u32::try_from(bytes.len()).map_err(|_| Errno::EINVAL)
        })();
        match result {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close() does not make data durable.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let mut t = self.0.table();
        let node = t.get(ino.0).map(|e| e.node.clone());
        if t.release(ino.0, keep_dirty) == 0 {
            if let Some(node) = node {
                let mut data = node.lock();
                // Unsynced data keeps the backing file open for a later fsync.
                if data.cache.is_clean() {
                    data.file = None;
                }
            }
        }
        drop(t);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let result = self
            .0
            .entry(ino)
            .and_then(|(_, node)| self.0.sync_node(&node, datasync));
        reply_empty(reply, result);
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.0.opendir(ino) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let items = self
            .0
            .dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&fh.0)
            .cloned();
        let Some(items) = items else {
            reply.error(Errno::EBADF);
            return;
        };
        for (i, item) in items.iter().enumerate().skip(offset as usize) {
            // The offset given with an entry is where the next readdir resumes.
            if reply.add(INodeNo(item.ino), i as u64 + 1, item.kind, &item.name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.0
            .dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Metadata is already in the backing directory; make it durable there.
        let result = self.0.path(ino).and_then(|p| {
            File::open(p)
                .and_then(|d| d.sync_all())
                .map_err(Errno::from)
        });
        reply_empty(reply, result);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let result = (|| {
            let c = cpath(&self.0.root)?;
            // SAFETY: statvfs is plain old data; all-zero is a valid value.
            let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
            // SAFETY: `c` is NUL-terminated and `st` is a valid out-pointer.
            if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
                return Err(Errno::from(io::Error::last_os_error()));
            }
            Ok(st)
        })();
        match result {
            Ok(st) => reply.statfs(
                st.f_blocks,
                st.f_bfree,
                st.f_bavail,
                st.f_files,
                st.f_ffree,
                st.f_bsize as u32,
                st.f_namemax as u32,
                st.f_frsize as u32,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        // Only plain allocation is supported: it extends the file like a
        // truncate (a metadata change, durable at once). KEEP_SIZE changes
        // nothing we model; hole punching and the rest are refused, and
        // posix_fallocate falls back to writing zeros.
        let result = (|| {
            if mode == libc::FALLOC_FL_KEEP_SIZE {
                return Ok(());
            }
            if mode != 0 {
                return Err(Errno::from_i32(libc::EOPNOTSUPP));
            }
            let end = offset.checked_add(length).ok_or(Errno::EFBIG)?;
            if self.0.attr(ino)?.size < end {
                self.0.truncate(ino, end)?;
            }
            Ok(())
        })();
        reply_empty(reply, result);
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let result = (|| {
            let rel = self.0.child(parent, name)?;
            let path = self.0.full(&rel);
            let mode = mode & !umask & 0o7777;
            let file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&path)
            {
                Ok(file) => {
                    Shared::chown_to_caller(&path, req);
                    file
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && flags & libc::O_EXCL == 0 => {
                    OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(&path)
                        .map_err(Errno::from)?
                }
                Err(e) => return Err(Errno::from(e)),
            };
            let (ino, node) = self.0.table().lookup(rel, Node::default);
            let ino = INodeNo(ino);
            {
                let mut data = node.lock();
                if data.file.is_none() {
                    data.file = Some(file);
                }
            }
            self.0.table().open(ino.0);
            let finish = (|| {
                if flags & libc::O_TRUNC != 0 {
                    self.0.truncate(ino, 0)?;
                }
                self.0.attr(ino)
            })();
            match finish {
                Ok(attr) => Ok((ino, attr)),
                Err(e) => {
                    // The kernel will not hear of this inode: undo the open and lookup.
                    let mut t = self.0.table();
                    t.release(ino.0, keep_dirty);
                    t.forget(ino.0, 1, keep_dirty);
                    Err(e)
                }
            }
        })();
        match result {
            Ok((ino, attr)) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(ino.0),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }
}
