//! `--shard I/N`: one slice of a seed range, for fanning a nightly run out
//! over a CI matrix. Pure.

use std::fmt;
use std::str::FromStr;

/// Slice `index` (from 1) of `of`: the seeds at positions `index - 1`,
/// `index - 1 + of`, ... of the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which slice, from 1.
    pub index: u64,
    /// How many slices.
    pub of: u64,
}

impl Shard {
    /// The seeds of this slice of `count` seeds from `first`.
    pub fn seeds(self, first: u64, count: u64) -> Vec<u64> {
        (0..count)
            .filter(|i| i % self.of == self.index - 1)
            .map(|i| first.wrapping_add(i))
            .collect()
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("shard {s:?}: expected I/N with 1 <= I <= N, e.g. 2/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let of: u64 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || of == 0 || index > of {
            return Err(bad());
        }
        Ok(Shard { index, of })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_a_seed_range_into_disjoint_slices_that_cover_it() {
        let four: Vec<Vec<u64>> = (1..=4)
            .map(|i| Shard { index: i, of: 4 }.seeds(10, 10))
            .collect();
        assert_eq!(four[0], vec![10, 14, 18]);
        assert_eq!(four[3], vec![13, 17]);
        let mut all: Vec<u64> = four.concat();
        all.sort_unstable();
        assert_eq!(all, (10..20).collect::<Vec<_>>());
        assert_eq!("1/1".parse::<Shard>().unwrap().seeds(5, 3), vec![5, 6, 7]);
    }

    #[test]
    fn a_bad_shard_is_refused_with_the_expected_form() {
        for bad in ["0/4", "5/4", "2", "a/b", "1/0", ""] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains("expected I/N"), "{bad}: {err}");
        }
        assert_eq!("2/4".parse::<Shard>().unwrap().to_string(), "2/4");
    }
}
