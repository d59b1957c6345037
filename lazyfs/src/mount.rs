//! Mounting and unmounting a FUSE filesystem with the raw syscalls, and
//! reading `/proc/self/mountinfo` to find what is mounted where.
//!
//! We mount with `mount(2)` ourselves (as root; no `fusermount` helper) so
//! that we, not the FUSE library, decide when and what to unmount: every
//! unmount first checks that the mount at the path is still *ours* (same
//! device number), so a late unmount can never detach a newer mount at the
//! same path. Unmounting is always lazy (`MNT_DETACH`): the mount leaves the
//! namespace at once even if a process still has a file open on it.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Filesystem type our mounts show in `/proc/self/mountinfo` (`fuse.<subtype>`).
pub const FS_TYPE: &str = "fuse.lazyfs";

/// One line of `/proc/self/mountinfo`, the fields we use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    /// `major:minor` of the mounted filesystem (unique per FUSE connection).
    pub device: String,
    /// Where it is mounted (octal escapes decoded).
    pub mount_point: PathBuf,
    /// Filesystem type, e.g. `fuse.lazyfs` or `ext4`.
    pub fs_type: String,
}

/// Parses the text of `/proc/<pid>/mountinfo`; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            // id parent major:minor root mount-point options [optional...] - type source super
            let dash = fields.iter().position(|&f| f == "-")?;
            if dash < 6 {
                return None;
            }
            Some(MountEntry {
                device: fields[2].to_owned(),
                mount_point: PathBuf::from(OsString::from_vec(unescape(fields[4]))),
                fs_type: fields.get(dash + 1)?.to_string(),
            })
        })
        .collect()
}

/// Decodes the kernel's `\ooo` octal escapes (space, tab, newline, backslash).
fn unescape(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Every mount in this process's namespace, in mount order.
pub fn mounts() -> io::Result<Vec<MountEntry>> {
    Ok(parse_mountinfo(&std::fs::read_to_string(
        "/proc/self/mountinfo",
    )?))
}

/// The mounts stacked at exactly `path` (absolute), oldest first.
pub fn mounts_at(path: &Path) -> io::Result<Vec<MountEntry>> {
    Ok(mounts()?
        .into_iter()
        .filter(|m| m.mount_point == path)
        .collect())
}

/// Makes `path` absolute without touching `path` itself (a stale FUSE mount
/// there answers every `stat` with `ENOTCONN`): canonicalises the parent.
pub fn absolute(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no final component", path.display()),
        )
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::env::current_dir()?,
    };
    Ok(parent.canonicalize()?.join(name))
}

fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} contains a NUL byte", path.display()),
        )
    })
}

/// Mounts a FUSE filesystem served through `dev_fuse` (an open `/dev/fuse`) at `mount_point`.
pub fn mount_fuse(dev_fuse: &File, mount_point: &Path) -> io::Result<()> {
    // SAFETY: geteuid/getegid have no preconditions and cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    // allow_other + default_permissions: a node running as another user may
    // use the mount, and the kernel checks file modes as on a normal disk.
    let options = format!(
        "fd={},rootmode=40000,user_id={uid},group_id={gid},allow_other,default_permissions",
        dev_fuse.as_raw_fd()
    );
    let source = CString::new("lazyfs").expect("no NUL");
    let fs_type = CString::new(FS_TYPE).expect("no NUL");
    let target = cstring(mount_point)?;
    let data = CString::new(options).expect("no NUL");
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fs_type.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            data.as_ptr().cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Lazily detaches whatever is mounted on top at `mount_point` (`umount2(MNT_DETACH)`).
pub fn detach(mount_point: &Path) -> io::Result<()> {
    let target = cstring(mount_point)?;
    // SAFETY: `target` is a valid NUL-terminated string that outlives the call.
    let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Detaches every lazyfs mount left at `mount_point` (by a run that crashed
/// before it could unmount); returns how many were detached. A mount of any
/// other type there is an error: it is not ours to remove.
pub fn clear_stale(mount_point: &Path) -> io::Result<usize> {
    let mut detached = 0;
    // Mounts stack; the loop removes them top first. Bounded by the count seen.
    let stacked = mounts_at(mount_point)?;
    for _ in 0..stacked.len() {
        let Some(top) = mounts_at(mount_point)?.pop() else {
            break;
        };
        if top.fs_type != FS_TYPE {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} is already a mount point of type {} (not a stale lazyfs mount); \
                     refusing to mount over it",
                    mount_point.display(),
                    top.fs_type
                ),
            ));
        }
        detach(mount_point)?;
        detached += 1;
    }
    Ok(detached)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
90 27 0:57 / /tmp/run/nodes/0/data rw,nosuid,nodev,relatime - fuse.lazyfs lazyfs rw,user_id=0,group_id=0
91 27 0:58 / /tmp/with\\040space rw,relatime shared:5 master:1 - fuse.lazyfs lazyfs rw
bad line
";

    #[test]
    fn parses_device_mount_point_and_type() {
        let got = parse_mountinfo(SAMPLE);
        let want = [
            ("0:21", "/proc", "proc"),
            ("254:0", "/", "ext4"),
            ("0:57", "/tmp/run/nodes/0/data", "fuse.lazyfs"),
            ("0:58", "/tmp/with space", "fuse.lazyfs"),
        ];
        assert_eq!(got.len(), want.len());
        for (entry, (dev, mp, ty)) in got.iter().zip(want) {
            assert_eq!(entry.device, dev);
            assert_eq!(entry.mount_point, Path::new(mp));
            assert_eq!(entry.fs_type, ty);
        }
    }

    #[test]
    fn unescapes_octal_sequences_only() {
        let table: &[(&str, &[u8])] = &[
            ("plain", b"plain"),
            ("a\\040b", b"a b"),
            ("tab\\011", b"tab\t"),
            ("back\\134slash", b"back\\slash"),
            ("not\\08escape", b"not\\08escape"),
            ("short\\04", b"short\\04"),
            ("end\\", b"end\\"),
        ];
        for &(input, want) in table {
            assert_eq!(unescape(input), want, "{input}");
        }
    }

    #[test]
    fn absolute_does_not_stat_the_path_itself() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not-there");
        let abs = absolute(&missing).unwrap();
        assert_eq!(abs, dir.path().canonicalize().unwrap().join("not-there"));
        assert!(absolute(Path::new("/")).is_err());
    }
}
