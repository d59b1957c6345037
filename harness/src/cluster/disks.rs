//! Node data dirs on lazyfs mounts, for the power-failure fault.
//!
//! With [`DataDirs::LazyFs`] node `i`'s data dir is a [`LazyFs`] mount:
//!
//! ```text
//! nodes/<i>/disk   backing directory: only what the node fsynced lands here
//! nodes/<i>/data   the mount; the node's {data_dir}, as without lazyfs
//! ```
//!
//! so any node, ours or a `--node-cmd` one, runs on it unchanged. Teardown
//! order matters: the cluster stops its nodes first, then `Disks`
//! unmounts (writing out what is still unsynced, as a clean shutdown
//! would), removes the empty mount point and renames `disk` to `data`, so a
//! finished run folder has the same layout with or without lazyfs. If that
//! rename fails (logged), the files stay in `disk`.
//!
//! No mount outlives the harness: `Disks` unmounts on drop (also while
//! unwinding from a panic, after the cluster's `Drop` killed the nodes),
//! and every live mount is in a process-wide registry so the second-signal
//! path of Ctrl-C, which exits without running destructors, can detach
//! them with [`detach_all_mounts`]. A harness killed with SIGKILL leaves
//! dead mounts (`ENOTCONN`); the next power-fail run detaches them
//! ([`ballot_lazyfs::detach_dead_under`] on its store).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ballot_lazyfs::{mount, LazyFs, LazyFsHandle, PowerFailReport};

use super::ClusterError;

/// How a cluster's node data dirs are backed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DataDirs {
    /// A plain directory (`nodes/<i>/data`).
    #[default]
    Plain,
    /// A lazyfs mount at `nodes/<i>/data` over `nodes/<i>/disk`, so a power
    /// failure can drop unsynced writes. Needs root and `/dev/fuse`.
    LazyFs,
}

/// One mounted data dir.
#[derive(Debug)]
struct Disk {
    handle: LazyFsHandle,
    /// `major:minor` of the mount, for [`detach_all_mounts`].
    device: String,
}

/// The lazyfs mounts of a cluster's nodes (none for plain data dirs).
#[derive(Debug, Default)]
pub(crate) struct Disks {
    /// Per node, in id order; `None` once unmounted (or never mounted).
    mounts: Vec<Option<Disk>>,
    /// Whether the data dirs are lazyfs mounts at all.
    lazy: bool,
}

/// Live mounts of this process: (mount point, device).
static LIVE: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<(PathBuf, String)>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Lazily detaches every lazyfs mount this process's clusters still hold
/// (only if the mount at the path is still the same one); for the runner's
/// second-signal exit, which skips destructors. Returns how many. Nodes
/// should be killed first ([`super::kill_all_children`]).
pub fn detach_all_mounts() -> usize {
    let mut detached = 0;
    for (path, device) in live().drain(..) {
        let ours = mount::mounts_at(&path)
            .ok()
            .and_then(|mut m| m.pop())
            .is_some_and(|top| top.device == device);
        if ours && mount::detach(&path).is_ok() {
            detached += 1;
        }
    }
    detached
}

impl Disks {
    /// Plain data dirs: nothing to mount.
    pub fn plain() -> Disks {
        Disks::default()
    }

    /// Ready to mount one lazyfs per node with [`Disks::mount`].
    pub fn lazy() -> Disks {
        Disks {
            mounts: Vec::new(),
            lazy: true,
        }
    }

    /// Whether the data dirs are lazyfs mounts.
    pub fn is_lazy(&self) -> bool {
        self.lazy
    }

    /// Mounts the next node's (`self.mounts.len()`) lazyfs at `data_dir`
    /// over `node_dir/disk`.
    pub fn mount(&mut self, node_dir: &Path, data_dir: &Path) -> Result<(), ClusterError> {
        let node = self.mounts.len();
        let fail = |reason: String| ClusterError::LazyFs { node, reason };
        let handle =
            LazyFs::mount(node_dir.join("disk"), data_dir).map_err(|e| fail(e.to_string()))?;
        let device = mount::mounts_at(handle.mount_point())
            .map_err(|e| fail(format!("read /proc/self/mountinfo: {e}")))?
            .pop()
            .map(|m| m.device)
            .unwrap_or_default();
        live().push((handle.mount_point().to_path_buf(), device.clone()));
        self.mounts.push(Some(Disk { handle, device }));
        Ok(())
    }

    /// Whether node `id`'s data dir is mounted (always false for plain dirs).
    pub fn is_mounted(&self, id: usize) -> bool {
        matches!(self.mounts.get(id), Some(Some(_)))
    }

    /// Drops node `id`'s unsynced writes; `None` if it has no mount. Kill
    /// the node first.
    pub fn power_fail(&self, id: usize) -> Option<PowerFailReport> {
        Some(self.mounts.get(id)?.as_ref()?.handle.power_fail())
    }

    /// Unmounts every node's data dir and moves its files to `data` (see
    /// the module doc). Stop the nodes first. Tries every node; the first
    /// error wins.
    pub fn unmount_all(&mut self) -> Result<(), ClusterError> {
        let mut first = None;
        for (node, slot) in self.mounts.iter_mut().enumerate() {
            if let Some(disk) = slot.take() {
                if let Err(e) = finish(node, disk) {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl Drop for Disks {
    fn drop(&mut self) {
        if let Err(e) = self.unmount_all() {
            tracing::error!(error = %e, "lazyfs: unmount on drop failed");
        }
    }
}

/// Unmounts one node's data dir, then renames its backing dir over the
/// emptied mount point.
fn finish(node: usize, disk: Disk) -> Result<(), ClusterError> {
    let mount_point = disk.handle.mount_point().to_path_buf();
    let backing = disk.handle.backing_dir().to_path_buf();
    live().retain(|(p, d)| !(p == &mount_point && d == &disk.device));
    disk.handle.unmount().map_err(|e| ClusterError::LazyFs {
        node,
        reason: e.to_string(),
    })?;
    if let Err(e) = move_back(&backing, &mount_point) {
        tracing::warn!(
            node,
            backing = %backing.display(),
            data = %mount_point.display(),
            error = %e,
            "lazyfs: could not move the node's files back to its data dir; they stay in the backing dir"
        );
    }
    Ok(())
}

/// Replaces the (empty, unmounted) `data` dir with `backing`.
fn move_back(backing: &Path, data: &Path) -> io::Result<()> {
    if ballot_lazyfs::is_mounted(data)? {
        return Err(io::Error::other("something is still mounted there"));
    }
    // remove_dir fails on a non-empty dir: nothing is ever lost here.
    std::fs::remove_dir(data)?;
    std::fs::rename(backing, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_back_replaces_an_empty_data_dir_and_never_a_full_one() {
        let dir = tempfile::tempdir().unwrap();
        let (disk, data) = (dir.path().join("disk"), dir.path().join("data"));
        std::fs::create_dir(&disk).unwrap();
        std::fs::write(disk.join("log"), b"synced").unwrap();
        std::fs::create_dir(&data).unwrap();
        move_back(&disk, &data).unwrap();
        assert_eq!(std::fs::read(data.join("log")).unwrap(), b"synced");
        assert!(!disk.exists());

        std::fs::create_dir(&disk).unwrap();
        assert!(move_back(&disk, &data).is_err(), "data is not empty");
        assert_eq!(std::fs::read(data.join("log")).unwrap(), b"synced");
        assert!(disk.is_dir());
    }

    #[test]
    fn plain_disks_have_nothing_to_do() {
        let mut disks = Disks::plain();
        assert!(!disks.is_lazy() && !disks.is_mounted(0));
        assert!(disks.power_fail(0).is_none());
        disks.unmount_all().unwrap();
    }
}
