//! Work spread over the cores: each thread claims the next index until none
//! are left, so uneven items balance themselves.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `work` on `0..n` over the cores; the `Some` results with their index.
pub(crate) fn par_map<T: Send>(
    n: usize,
    work: impl Fn(usize) -> Option<T> + Sync,
) -> Vec<(usize, T)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(n.max(1));
    let next = AtomicUsize::new(0);
    let claim = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                return done;
            }
            if let Some(t) = work(i) {
                done.push((i, t));
            }
        }
    };
    std::thread::scope(|s| {
        let others: Vec<_> = (1..threads).map(|_| s.spawn(claim)).collect();
        let mut all = claim();
        for o in others {
            all.extend(o.join().expect("a parallel check panicked"));
        }
        all
    })
}
