//! The inode table: which FUSE inode number stands for which backing path.
//!
//! The filesystem is path-based: every inode the kernel knows maps to a path
//! relative to the backing directory (the root, inode 1, is the empty path).
//! An entry lives while the kernel holds lookups on it, while it is open, or
//! while its payload says it must be kept (a file with unsynced data must
//! survive the kernel forgetting it, or the data would vanish without a power
//! failure). Unlink and rename move paths here after the backing directory
//! changed; an unlinked entry keeps serving its open handles under no path.
//!
//! Pure bookkeeping, generic over the per-inode payload, so it is tested
//! without a mount.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Inode number of the root directory (FUSE's fixed choice).
pub const ROOT: u64 = 1;

/// One inode the filesystem knows.
#[derive(Debug)]
pub struct Entry<T> {
    /// Path relative to the backing root; `None` once unlinked or replaced.
    pub path: Option<PathBuf>,
    /// Lookups the kernel holds (each forgotten by `forget`).
    pub lookups: u64,
    /// Open handles.
    pub opens: u64,
    /// The per-inode payload (open backing file, page cache).
    pub node: Arc<T>,
}

/// Inode numbers to paths and back.
#[derive(Debug)]
pub struct Table<T> {
    entries: HashMap<u64, Entry<T>>,
    by_path: HashMap<PathBuf, u64>,
    next: u64,
}

impl<T> Table<T> {
    /// A table holding only the root directory, which is never collected.
    pub fn new(root: T) -> Table<T> {
        let mut entries = HashMap::new();
        entries.insert(
            ROOT,
            Entry {
                path: Some(PathBuf::new()),
                lookups: u64::MAX / 2,
                opens: 0,
                node: Arc::new(root),
            },
        );
        let mut by_path = HashMap::new();
        by_path.insert(PathBuf::new(), ROOT);
        Table {
            entries,
            by_path,
            next: ROOT + 1,
        }
    }

    /// The entry of `ino`, if known.
    pub fn get(&self, ino: u64) -> Option<&Entry<T>> {
        self.entries.get(&ino)
    }

    /// The inode currently at `path`, if any.
    pub fn ino_at(&self, path: &Path) -> Option<u64> {
        self.by_path.get(path).copied()
    }

    /// Number of known inodes (root included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always false: the root is always there.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry's inode number and payload.
    pub fn nodes(&self) -> Vec<(u64, Arc<T>)> {
        self.entries
            .iter()
            .map(|(&ino, e)| (ino, e.node.clone()))
            .collect()
    }

    /// The kernel looked `path` up (or created it): one more lookup on its
    /// inode, made with `make` if the path is new.
    pub fn lookup(&mut self, path: PathBuf, make: impl FnOnce() -> T) -> (u64, Arc<T>) {
        if let Some(&ino) = self.by_path.get(&path) {
            let e = self
                .entries
                .get_mut(&ino)
                .expect("by_path points at an entry");
            e.lookups += 1;
            return (ino, e.node.clone());
        }
        let ino = self.next;
        self.next += 1;
        let node = Arc::new(make());
        self.by_path.insert(path.clone(), ino);
        self.entries.insert(
            ino,
            Entry {
                path: Some(path),
                lookups: 1,
                opens: 0,
                node: node.clone(),
            },
        );
        (ino, node)
    }

    /// The kernel dropped `n` lookups of `ino`.
    pub fn forget(&mut self, ino: u64, n: u64, keep: impl Fn(&T) -> bool) {
        if let Some(e) = self.entries.get_mut(&ino) {
            e.lookups = e.lookups.saturating_sub(n);
        }
        self.collect(ino, keep);
    }

    /// A handle on `ino` was opened; `None` if the inode is unknown.
    pub fn open(&mut self, ino: u64) -> Option<Arc<T>> {
        let e = self.entries.get_mut(&ino)?;
        e.opens += 1;
        Some(e.node.clone())
    }

    /// A handle on `ino` was released; returns the open count left.
    pub fn release(&mut self, ino: u64, keep: impl Fn(&T) -> bool) -> u64 {
        let left = match self.entries.get_mut(&ino) {
            Some(e) => {
                e.opens = e.opens.saturating_sub(1);
                e.opens
            }
            None => 0,
        };
        self.collect(ino, keep);
        left
    }

    /// `path` was removed from the backing directory.
    pub fn unlinked(&mut self, path: &Path, keep: impl Fn(&T) -> bool) {
        if let Some(ino) = self.by_path.remove(path) {
            if let Some(e) = self.entries.get_mut(&ino) {
                e.path = None;
            }
            self.collect(ino, keep);
        }
    }

    /// `from` was renamed to `to` in the backing directory (replacing
    /// whatever was at `to`), or the two were swapped if `exchange`.
    /// Entries below a renamed directory move with it.
    pub fn renamed(&mut self, from: &Path, to: &Path, exchange: bool, keep: impl Fn(&T) -> bool) {
        if from == to {
            return;
        }
        let moving = self.under(from);
        let coming = if exchange { self.under(to) } else { Vec::new() };
        if !exchange {
            if let Some(ino) = self.by_path.get(to).copied() {
                // The replaced file keeps its open handles but has no name.
                if !moving.iter().any(|(i, _)| *i == ino) {
                    self.by_path.remove(to);
                    if let Some(e) = self.entries.get_mut(&ino) {
                        e.path = None;
                    }
                    self.collect(ino, &keep);
                }
            }
        }
        for (_, old) in moving.iter().chain(coming.iter()) {
            self.by_path.remove(old);
        }
        let mut place = |ino: u64, old: &Path, base_old: &Path, base_new: &Path| {
            let rest = old
                .strip_prefix(base_old)
                .expect("under() filtered by prefix");
            // `join("")` would add a trailing slash, which the OS reads as
            // "must be a directory".
            let new = if rest.as_os_str().is_empty() {
                base_new.to_path_buf()
            } else {
                base_new.join(rest)
            };
            self.by_path.insert(new.clone(), ino);
            if let Some(e) = self.entries.get_mut(&ino) {
                e.path = Some(new);
            }
        };
        for (ino, old) in &moving {
            place(*ino, old, from, to);
        }
        for (ino, old) in &coming {
            place(*ino, old, to, from);
        }
    }

    /// Every entry at `path` or below it, with its current path.
    fn under(&self, path: &Path) -> Vec<(u64, PathBuf)> {
        self.by_path
            .iter()
            .filter(|(p, _)| p.starts_with(path))
            .map(|(p, &ino)| (ino, p.clone()))
            .collect()
    }

    /// Drops `ino` if nothing needs it any more: no lookups, no open
    /// handles, and either no name or nothing `keep` wants kept.
    pub fn collect(&mut self, ino: u64, keep: impl Fn(&T) -> bool) {
        let Some(e) = self.entries.get(&ino) else {
            return;
        };
        if ino == ROOT || e.lookups > 0 || e.opens > 0 || (e.path.is_some() && keep(&e.node)) {
            return;
        }
        if let Some(path) = &e.path {
            if self.by_path.get(path) == Some(&ino) {
                self.by_path.remove(path);
            }
        }
        self.entries.remove(&ino);
    }

    /// Runs [`collect`](Self::collect) on every entry.
    pub fn sweep(&mut self, keep: impl Fn(&T) -> bool) {
        let inos: Vec<u64> = self.entries.keys().copied().collect();
        for ino in inos {
            self.collect(ino, &keep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Payload: whether the inode has unsynced data.
    type T = bool;

    fn keep(dirty: &bool) -> bool {
        *dirty
    }

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    fn path_of(t: &Table<T>, ino: u64) -> Option<PathBuf> {
        t.get(ino).and_then(|e| e.path.clone())
    }

    #[test]
    fn lookup_reuses_the_inode_of_a_known_path() {
        let mut t = Table::new(false);
        let (a, _) = t.lookup(p("a"), || false);
        let (a2, _) = t.lookup(p("a"), || true);
        let (b, _) = t.lookup(p("b"), || false);
        assert_eq!(a, a2);
        assert_ne!(a, b);
        assert_ne!(a, ROOT);
        assert_eq!(t.get(a).unwrap().lookups, 2);
        assert!(!*t.get(a).unwrap().node, "the first payload stays");
        assert_eq!(t.ino_at(Path::new("")), Some(ROOT));
    }

    #[test]
    fn collection_rules() {
        // (lookups left, opens left, unlinked, dirty) -> collected?
        let table = [
            (0, 0, false, false, true),
            (1, 0, false, false, false),
            (0, 1, false, false, false),
            (0, 0, false, true, false), // unsynced data outlives the kernel's forget
            (0, 0, true, true, true),   // ... but not once nothing can name it
            (0, 1, true, true, false),  // an open handle can still read it
            (0, 0, true, false, true),
        ];
        for (case, &(lookups, opens, unlinked, dirty, collected)) in table.iter().enumerate() {
            let mut t = Table::new(false);
            let (ino, _) = t.lookup(p("f"), || dirty);
            for _ in 0..opens {
                t.open(ino).unwrap();
            }
            t.lookup(p("f"), || dirty); // 2 lookups now
            if unlinked {
                t.unlinked(Path::new("f"), keep);
            }
            t.forget(ino, 2 - lookups, keep);
            assert_eq!(t.get(ino).is_none(), collected, "case {case}");
            assert_eq!(
                t.ino_at(Path::new("f")).is_some(),
                !collected && !unlinked,
                "case {case}"
            );
        }
    }

    #[test]
    fn release_collects_a_forgotten_clean_file() {
        let mut t = Table::new(false);
        let (ino, _) = t.lookup(p("f"), || false);
        t.open(ino).unwrap();
        t.forget(ino, 1, keep);
        assert!(t.get(ino).is_some(), "still open");
        assert_eq!(t.release(ino, keep), 0);
        assert!(t.get(ino).is_none());
    }

    #[test]
    fn rename_replaces_the_target_and_moves_descendants() {
        let mut t = Table::new(false);
        let (dir, _) = t.lookup(p("d"), || false);
        let (child, _) = t.lookup(p("d/x"), || false);
        let (deep, _) = t.lookup(p("d/sub/y"), || false);
        let (other, _) = t.lookup(p("dd/x"), || false); // shares a string prefix only
        let (target, _) = t.lookup(p("e"), || false);
        t.open(target).unwrap();
        t.renamed(Path::new("d"), Path::new("e"), false, keep);
        assert_eq!(path_of(&t, dir), Some(p("e")));
        // Compared as strings: Path equality ignores a trailing slash, the OS does not.
        assert_eq!(path_of(&t, dir).unwrap().as_os_str(), "e");
        assert_eq!(path_of(&t, child), Some(p("e/x")));
        assert_eq!(path_of(&t, deep), Some(p("e/sub/y")));
        assert_eq!(path_of(&t, other), Some(p("dd/x")));
        assert_eq!(path_of(&t, target), None, "replaced: nameless but open");
        assert_eq!(t.ino_at(Path::new("e")), Some(dir));
        assert_eq!(t.ino_at(Path::new("e/x")), Some(child));
        assert_eq!(t.ino_at(Path::new("d")), None);
        assert_eq!(t.ino_at(Path::new("d/x")), None);
    }

    #[test]
    fn rename_of_a_file_over_a_dirty_one_drops_the_replaced_data() {
        let mut t = Table::new(false);
        let (tmp, _) = t.lookup(p("log.tmp"), || false);
        let (log, _) = t.lookup(p("log"), || true);
        t.forget(log, 1, keep);
        assert!(t.get(log).is_some(), "dirty data kept after forget");
        t.renamed(Path::new("log.tmp"), Path::new("log"), false, keep);
        assert_eq!(path_of(&t, tmp).unwrap().as_os_str(), "log");
        assert!(t.get(log).is_none(), "replaced and unreachable");
        assert_eq!(t.ino_at(Path::new("log")), Some(tmp));
    }

    #[test]
    fn exchange_swaps_both_subtrees() {
        let mut t = Table::new(false);
        let (a, _) = t.lookup(p("a"), || false);
        let (ax, _) = t.lookup(p("a/x"), || false);
        let (b, _) = t.lookup(p("b"), || false);
        t.renamed(Path::new("a"), Path::new("b"), true, keep);
        assert_eq!(path_of(&t, a).unwrap().as_os_str(), "b");
        assert_eq!(path_of(&t, ax).unwrap().as_os_str(), "b/x");
        assert_eq!(path_of(&t, b).unwrap().as_os_str(), "a");
        assert_eq!(t.ino_at(Path::new("a")), Some(b));
        assert_eq!(t.ino_at(Path::new("b/x")), Some(ax));
    }

    #[test]
    fn rename_onto_itself_changes_nothing() {
        let mut t = Table::new(false);
        let (a, _) = t.lookup(p("a"), || false);
        t.renamed(Path::new("a"), Path::new("a"), false, keep);
        assert_eq!(path_of(&t, a), Some(p("a")));
        assert_eq!(t.ino_at(Path::new("a")), Some(a));
    }

    #[test]
    fn the_root_is_never_collected() {
        let mut t = Table::new(false);
        t.forget(ROOT, u64::MAX, keep);
        t.sweep(keep);
        assert!(t.get(ROOT).is_some());
        assert_eq!(t.len(), 1);
    }
}
