//! Delta debugging (Zeller and Hildebrandt, *Simplifying and Isolating
//! Failure-Inducing Input*, 2002): the `ddmin` algorithm, plus a shortest
//! failing prefix search to cut long runs quickly first.
//!
//! `ddmin` splits the current failing input into `n` chunks. If one chunk
//! alone still fails, it keeps that chunk (n back to 2); else if the input
//! without one chunk (its complement) still fails, it keeps the complement
//! (n - 1 chunks); else it doubles `n`, until chunks are single units and
//! nothing can be removed: the result is 1-minimal (removing any one unit
//! makes the failure go away), unless the budget ran out first.
//!
//! The test is async (each candidate runs real nodes) and may be expensive,
//! so every call is counted against a [`Budget`]; the best input found so
//! far is always returned.

use std::time::{Duration, Instant};

/// Decides whether a candidate (a subsequence of the units, in their
/// original order) still shows the failure. Oracles run on the caller's
/// task, so the future needs no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait Oracle<T> {
    /// True when `candidate` still fails the same way.
    async fn fails(&mut self, candidate: &[T]) -> bool;
}

/// Limits on how many candidates are tried and for how long.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Wall-clock deadline.
    pub deadline: Instant,
    /// Candidates left.
    pub candidates: usize,
    /// Candidates tried so far.
    pub tried: usize,
}

impl Budget {
    /// A budget of `time` and at most `candidates` tests.
    pub fn new(time: Duration, candidates: usize) -> Self {
        Budget {
            deadline: Instant::now() + time,
            candidates,
            tried: 0,
        }
    }

    /// True when no more candidates may be tried.
    pub fn exhausted(&self) -> bool {
        self.candidates == 0 || Instant::now() >= self.deadline
    }

    /// Takes one candidate from the budget; false when none is left.
    pub(crate) fn spend(&mut self) -> bool {
        if self.exhausted() {
            return false;
        }
        self.candidates -= 1;
        self.tried += 1;
        true
    }
}

async fn test<T: Clone, O: Oracle<T>>(oracle: &mut O, budget: &mut Budget, c: &[T]) -> bool {
    budget.spend() && oracle.fails(c).await
}

/// The shortest prefix of `items` that still fails, by binary search
/// (assuming failure is monotone in the prefix length, which a schedule
/// mostly is; the result is tested, so a wrong guess only costs time).
pub async fn shortest_prefix<T: Clone, O: Oracle<T>>(
    items: Vec<T>,
    oracle: &mut O,
    budget: &mut Budget,
) -> Vec<T> {
    let (mut lo, mut hi) = (0, items.len()); // items[..hi] fails; items[..lo] is unknown/passes
    while lo + 1 < hi && !budget.exhausted() {
        let mid = lo + (hi - lo) / 2;
        if test(oracle, budget, &items[..mid]).await {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    items[..hi].to_vec()
}

/// ddmin: a 1-minimal failing subsequence of `items` (which must fail), or
/// the smallest found before the budget ran out.
pub async fn ddmin<T: Clone, O: Oracle<T>>(
    mut items: Vec<T>,
    oracle: &mut O,
    budget: &mut Budget,
) -> Vec<T> {
    let mut n = 2usize;
    while items.len() >= 2 && !budget.exhausted() {
        let chunks = split(&items, n);
        let mut reduced = false;
        for chunk in &chunks {
            if chunks.len() > 2 && test(oracle, budget, chunk).await {
                items = chunk.clone();
                n = 2;
                reduced = true;
                break;
            }
        }
        if !reduced {
            for i in 0..chunks.len() {
                let complement: Vec<T> = chunks
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .flat_map(|(_, c)| c.iter().cloned())
                    .collect();
                if test(oracle, budget, &complement).await {
                    items = complement;
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
        }
        if !reduced {
            if n >= items.len() {
                break;
            }
            n = (2 * n).min(items.len());
        }
    }
    items
}

/// `items` in `n` contiguous chunks of nearly equal size.
fn split<T: Clone>(items: &[T], n: usize) -> Vec<Vec<T>> {
    let n = n.min(items.len()).max(1);
    let (size, extra) = (items.len() / n, items.len() % n);
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n {
        let len = size + usize::from(i < extra);
        out.push(items[start..start + len].to_vec());
        start += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when the candidate contains every needed unit (in order).
    struct Needs(Vec<u32>, usize);

    impl Oracle<u32> for Needs {
        async fn fails(&mut self, candidate: &[u32]) -> bool {
            self.1 += 1;
            self.0.iter().all(|n| candidate.contains(n))
        }
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn splits_evenly() {
        assert_eq!(split(&[1, 2, 3, 4, 5], 2), vec![vec![1, 2, 3], vec![4, 5]]);
        assert_eq!(split(&[1, 2], 5), vec![vec![1], vec![2]]);
    }

    #[test]
    fn ddmin_finds_the_needed_units() {
        // (input length, needed units)
        let table: [(u32, &[u32]); 5] = [
            (1, &[0]),
            (8, &[3]),
            (8, &[1, 6]),
            (100, &[0, 50, 99]),
            (64, &[10, 11, 12, 40]),
        ];
        for (len, needed) in table {
            let mut oracle = Needs(needed.to_vec(), 0);
            let mut budget = Budget::new(Duration::from_secs(60), 10_000);
            let got = block(ddmin((0..len).collect(), &mut oracle, &mut budget));
            assert_eq!(got, needed, "len {len}");
            assert!(oracle.1 < 2_000, "{} tests", oracle.1);
        }
    }

    #[test]
    fn prefix_search_stops_at_the_last_needed_unit() {
        let mut oracle = Needs(vec![3, 17], 0);
        let mut budget = Budget::new(Duration::from_secs(60), 100);
        let got = block(shortest_prefix(
            (0..100).collect(),
            &mut oracle,
            &mut budget,
        ));
        assert_eq!(got, (0..18).collect::<Vec<_>>());
        assert!(oracle.1 <= 8);
    }

    #[test]
    fn a_spent_budget_returns_the_input() {
        let mut oracle = Needs(vec![1], 0);
        let mut budget = Budget::new(Duration::from_secs(60), 0);
        let got = block(ddmin((0..10).collect(), &mut oracle, &mut budget));
        assert_eq!(got.len(), 10);
        assert_eq!(oracle.1, 0);
    }
}
