//! The page cache of one file: unsynced writes held in memory over its backing file.
//!
//! A [`DirtyFile`] is a set of non-overlapping, non-adjacent *extents*
//! (offset, bytes) that an application wrote but has not yet fsynced. The
//! backing file holds only what was made durable. Everything here is pure:
//! the filesystem layer reads the backing bytes itself and asks this type to
//! lay the dirty extents over them ([`DirtyFile::overlay`]), to compute the
//! size the application sees ([`DirtyFile::logical_len`]), and, on fsync, to
//! hand over every extent to write out ([`DirtyFile::take`]). A power failure
//! is [`DirtyFile::discard`].
//!
//! Writes merge into the extent they overlap or touch, growing its buffer in
//! place, so an append-only log costs amortised O(record) per append.

use std::collections::BTreeMap;

/// Unsynced bytes of one file, as extents keyed by their start offset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirtyFile {
    /// Invariant: extents are non-empty, sorted, and neither overlap nor
    /// touch (`start + len < next start`).
    extents: BTreeMap<u64, Vec<u8>>,
}

impl DirtyFile {
    /// An empty cache: the file is exactly its backing file.
    pub fn new() -> DirtyFile {
        DirtyFile::default()
    }

    /// Whether nothing is waiting for an fsync.
    pub fn is_clean(&self) -> bool {
        self.extents.is_empty()
    }

    /// Number of unsynced bytes.
    pub fn dirty_bytes(&self) -> u64 {
        self.extents.values().map(|e| e.len() as u64).sum()
    }

    /// End offset of the last dirty byte (0 when clean).
    pub fn end(&self) -> u64 {
        self.extents
            .iter()
            .next_back()
            .map_or(0, |(start, bytes)| start + bytes.len() as u64)
    }

    /// The file size the application sees, given the backing file's size.
    pub fn logical_len(&self, backing_len: u64) -> u64 {
        backing_len.max(self.end())
    }

    /// Records a write of `data` at `offset`; later writes win where they overlap.
    pub fn write(&mut self, offset: u64, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let end = offset + data.len() as u64;
        // The extent that contains or touches `offset` from the left, if any,
        // becomes the base; otherwise a new extent starts at `offset`.
        let (start, mut buf) = match self.extents.range(..=offset).next_back() {
            Some((&s, bytes)) if s + bytes.len() as u64 >= offset => {
                (s, self.extents.remove(&s).expect("extent just seen"))
            }
            _ => (offset, Vec::with_capacity(data.len())),
        };
        let at = (offset - start) as usize;
        if buf.len() < at + data.len() {
            buf.resize(at + data.len(), 0);
        }
        buf[at..at + data.len()].copy_from_slice(data);
        // Absorb every later extent that overlaps or touches [start, end]:
        // keep only its bytes past `end` (the new write wins before that).
        let absorbed: Vec<u64> = self.extents.range(offset..=end).map(|(&s, _)| s).collect();
        for s in absorbed {
            let bytes = self.extents.remove(&s).expect("extent just seen");
            let e = s + bytes.len() as u64;
            if e > end {
                buf.extend_from_slice(&bytes[(end - s) as usize..]);
            }
        }
        self.extents.insert(start, buf);
    }

    /// Lays the dirty bytes of `[offset, offset + buf.len())` over `buf`,
    /// which holds the backing file's bytes (zeros past its end).
    pub fn overlay(&self, offset: u64, buf: &mut [u8]) {
        let end = offset + buf.len() as u64;
        // The extent starting at or before `offset` may reach into the range.
        let first = self
            .extents
            .range(..=offset)
            .next_back()
            .map_or(offset, |(&s, _)| s);
        for (&s, bytes) in self.extents.range(first..end) {
            let e = s + bytes.len() as u64;
            let lo = s.max(offset);
            let hi = e.min(end);
            if lo >= hi {
                continue;
            }
            buf[(lo - offset) as usize..(hi - offset) as usize]
                .copy_from_slice(&bytes[(lo - s) as usize..(hi - s) as usize]);
        }
    }

    /// Cuts the file to `len` bytes: drops every dirty byte at or past `len`.
    pub fn truncate(&mut self, len: u64) {
        let _dropped = self.extents.split_off(&len);
        if let Some((&s, bytes)) = self.extents.iter_mut().next_back() {
            if s + bytes.len() as u64 > len {
                bytes.truncate((len - s) as usize);
            }
        }
    }

    /// Hands over every extent (for writing to the backing file) and leaves
    /// the cache clean.
    pub fn take(&mut self) -> BTreeMap<u64, Vec<u8>> {
        std::mem::take(&mut self.extents)
    }

    /// Puts back extents that [`take`](Self::take) returned but could not be
    /// written; bytes written since then win.
    pub fn restore(&mut self, extents: BTreeMap<u64, Vec<u8>>) {
        let newer = std::mem::replace(&mut self.extents, extents);
        for (s, bytes) in newer {
            self.write(s, &bytes);
        }
    }

    /// A power failure: forgets every unsynced byte; returns how many there were.
    pub fn discard(&mut self) -> u64 {
        let lost = self.dirty_bytes();
        self.extents.clear();
        lost
    }

    /// The extents as (offset, bytes) pairs, in order (for tests and debugging).
    pub fn extents(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.extents.iter().map(|(&s, b)| (s, b.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reference model: the file as a plain byte vector plus a dirty mask.
    #[derive(Default)]
    struct Model {
        bytes: Vec<u8>,
        dirty: Vec<bool>,
    }

    impl Model {
        fn write(&mut self, offset: u64, data: &[u8]) {
            let end = offset as usize + data.len();
            if self.bytes.len() < end {
                self.bytes.resize(end, 0);
                self.dirty.resize(end, false);
            }
            self.bytes[offset as usize..end].copy_from_slice(data);
            for d in &mut self.dirty[offset as usize..end] {
                *d = true;
            }
        }
    }

    fn check_invariant(f: &DirtyFile) {
        let mut prev_end: Option<u64> = None;
        for (s, b) in f.extents() {
            assert!(!b.is_empty(), "empty extent at {s}");
            if let Some(pe) = prev_end {
                assert!(pe < s, "extents touch or overlap at {s}");
            }
            prev_end = Some(s + b.len() as u64);
        }
    }

    /// Compares the cache with the model: every dirty byte and nothing else.
    fn check_against(f: &DirtyFile, m: &Model) {
        check_invariant(f);
        let mut seen = vec![false; m.bytes.len()];
        for (s, b) in f.extents() {
            for (i, &byte) in b.iter().enumerate() {
                let at = s as usize + i;
                assert!(m.dirty[at], "byte {at} is cached but was never written");
                assert_eq!(byte, m.bytes[at], "byte {at}");
                seen[at] = true;
            }
        }
        assert_eq!(seen, m.dirty, "every written byte is cached");
        let mut buf = vec![0xEE; m.bytes.len()];
        // Backing is all 0xEE here: overlay must replace exactly the dirty bytes.
        f.overlay(0, &mut buf);
        for (i, &byte) in buf.iter().enumerate() {
            let want = if m.dirty[i] { m.bytes[i] } else { 0xEE };
            assert_eq!(byte, want, "overlay byte {i}");
        }
    }

    #[test]
    fn writes_merge_like_a_byte_array() {
        // (offset, len) writes, applied in order; each gets a distinct fill byte.
        let table: &[&[(u64, usize)]] = &[
            &[(0, 4)],
            &[(0, 4), (4, 4)],                 // touching on the right: one extent
            &[(4, 4), (0, 4)],                 // touching on the left
            &[(0, 4), (10, 4)],                // a gap: two extents
            &[(0, 4), (10, 4), (4, 6)],        // fills the gap exactly
            &[(0, 4), (10, 4), (2, 10)],       // overlaps both
            &[(10, 4), (0, 20)],               // swallows a later extent
            &[(0, 20), (5, 2)],                // inside an extent
            &[(5, 2), (0, 3), (8, 1), (1, 9)], // many pieces joined
            &[(100, 1), (0, 1), (50, 1), (49, 3)],
            &[(3, 0)], // empty write: no extent
        ];
        for (case, writes) in table.iter().enumerate() {
            let mut f = DirtyFile::new();
            let mut m = Model::default();
            for (i, &(off, len)) in writes.iter().enumerate() {
                let data = vec![i as u8 + 1; len];
                f.write(off, &data);
                m.write(off, &data);
            }
            check_against(&f, &m);
            let want_end = m.dirty.iter().rposition(|&d| d).map_or(0, |i| i as u64 + 1);
            assert_eq!(f.end(), want_end, "case {case}");
        }
    }

    #[test]
    fn append_only_writes_stay_one_extent() {
        let mut f = DirtyFile::new();
        for i in 0..100u64 {
            f.write(i * 3, &[1, 2, 3]);
        }
        assert_eq!(f.extents().count(), 1);
        assert_eq!(f.dirty_bytes(), 300);
        assert_eq!(f.end(), 300);
    }

    #[test]
    fn pseudo_random_writes_match_the_model() {
        // A small deterministic LCG: no dependency, exhaustive enough for merging.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        for _ in 0..300 {
            let mut f = DirtyFile::new();
            let mut m = Model::default();
            for i in 0..12 {
                let off = next(64);
                let len = next(12) as usize;
                let data = vec![(i % 250) as u8 + 1; len];
                f.write(off, &data);
                m.write(off, &data);
            }
            check_against(&f, &m);
        }
    }

    #[test]
    fn overlay_covers_partial_ranges() {
        let mut f = DirtyFile::new();
        f.write(4, b"abcd");
        f.write(12, b"xy");
        // (read offset, read len, expected with backing '.')
        let table: &[(u64, usize, &[u8])] = &[
            (0, 4, b"...."),
            (0, 6, b"....ab"),
            (5, 2, b"bc"),
            (6, 8, b"cd....xy"),
            (13, 3, b"y.."),
            (20, 2, b".."),
            (0, 0, b""),
        ];
        for &(off, len, want) in table {
            let mut buf = vec![b'.'; len];
            f.overlay(off, &mut buf);
            assert_eq!(buf, want, "read {off}+{len}");
        }
    }

    #[test]
    fn logical_len_is_the_larger_of_backing_and_dirty_end() {
        let mut f = DirtyFile::new();
        assert_eq!(f.logical_len(7), 7);
        f.write(10, b"ab");
        assert_eq!(f.logical_len(7), 12);
        assert_eq!(f.logical_len(20), 20);
    }

    #[test]
    fn truncate_drops_bytes_at_and_past_the_length() {
        // (truncate to, expected extents)
        type Extents = &'static [(u64, &'static [u8])];
        let table: &[(u64, Extents)] = &[
            (100, &[(0, b"abcd"), (10, b"efgh")]),
            (14, &[(0, b"abcd"), (10, b"efgh")]),
            (12, &[(0, b"abcd"), (10, b"ef")]),
            (10, &[(0, b"abcd")]),
            (6, &[(0, b"abcd")]),
            (2, &[(0, b"ab")]),
            (0, &[]),
        ];
        for &(len, want) in table {
            let mut f = DirtyFile::new();
            f.write(0, b"abcd");
            f.write(10, b"efgh");
            f.truncate(len);
            let got: Vec<(u64, &[u8])> = f.extents().collect();
            assert_eq!(got, want, "truncate to {len}");
            check_invariant(&f);
        }
    }

    #[test]
    fn take_leaves_the_cache_clean_and_discard_counts_lost_bytes() {
        let mut f = DirtyFile::new();
        f.write(0, b"abc");
        f.write(10, b"de");
        let taken = f.take();
        assert!(f.is_clean());
        assert_eq!(taken.len(), 2);
        f.write(1, b"Z");
        f.restore(taken);
        let got: Vec<(u64, &[u8])> = f.extents().collect();
        assert_eq!(got, vec![(0, &b"aZc"[..]), (10, &b"de"[..])]);
        assert_eq!(f.discard(), 5);
        assert!(f.is_clean());
        assert_eq!(f.discard(), 0);
    }
}
