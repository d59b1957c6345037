//! The FUSE request handlers: each turns one kernel request into calls on
//! [`Shared`] and one reply.

use super::*;

/// Sends `result` as an entry reply, or its errno.
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
