//! The general linearizability search for one key: Wing & Gong's algorithm
//! with Lowe's just-in-time refinement and a cache of visited
//! configurations, as Porcupine implements it.
//!
//! # The algorithm
//!
//! Each operation becomes a *call* entry (at its invocation) and a *return*
//! entry (at its completion; an indeterminate op's return is placed after
//! every other entry), in one doubly linked list sorted by time (calls
//! before returns on equal times, so touching ops count as concurrent). The
//! search walks the list from the front:
//!
//! - at a call entry, it tries to linearize that op now: if the model
//!   allows the step and the configuration (set of linearized ops, state)
//!   was not seen before, it pushes the op on a stack, *lifts* the op's call
//!   and return entries out of the list, and restarts from the front;
//!   otherwise it moves on to the next entry;
//! - at a return entry, the op it belongs to should already be linearized
//!   but is not: the current prefix is a dead end, so it pops the last op,
//!   *unlifts* its entries and continues after that op's call entry.
//!
//! The history is linearizable iff the list empties; it is not iff the
//! stack is empty at a return entry. Once every op that is not
//! indeterminate is linearized, the rest can always follow (their steps are
//! always legal), so the search stops there.
//!
//! # The cache
//!
//! A configuration is remembered as a 128-bit fingerprint: the XOR of a
//! random-looking key per linearized op (Zobrist hashing, updated in O(1)
//! on lift and unlift) and a key for the state. Memory per entry is then 16
//! bytes whatever the number of ops. Two different configurations are
//! confused with probability about N²/2¹²⁹ (below 10⁻²⁴ for 10⁷ entries); a
//! confusion could only prune a branch, i.e. report a false violation,
//! never hide a real one.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use crate::models::{CompiledOp, Machine};

/// Limits of one search, shared by the searches that run at once.
pub(crate) struct Limits<'a> {
    /// Give up after this instant.
    pub deadline: Instant,
    /// The time bound the deadline came from (for messages).
    pub time: std::time::Duration,
    /// Cache entries all running searches may hold together.
    pub max_entries: usize,
    /// Cache entries reserved so far by all running searches.
    pub used: &'a AtomicUsize,
    /// Set when another key was found not linearizable: stop early.
    pub cancel: &'a AtomicBool,
}

/// One op of the key, ready for the search.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SearchOp {
    /// Its effect.
    pub step: CompiledOp,
    /// Position of its call in the sort (invocation time).
    pub call: u64,
    /// Its completion time; `None` for an indeterminate op (+infinity).
    pub ret: Option<u64>,
}

/// What the search found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A linearization exists.
    Linearizable,
    /// None exists; the evidence is the deepest point the search reached.
    NotLinearizable(Deepest),
    /// Another key's violation made this search moot.
    Cancelled,
    /// A bound was hit.
    GaveUp {
        /// `true` for the time bound, `false` for the cache bound.
        timeout: bool,
        /// Configurations visited.
        visited: usize,
    },
}

/// The deepest point the search reached: the longest linearizable prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Deepest {
    /// Length of the prefix.
    pub depth: usize,
    /// The last ops of the prefix, in linearization order (at most `TAIL`).
    pub tail: Vec<usize>,
    /// The state after the prefix.
    pub state: u32,
    /// The op whose completion came before anything else could be linearized.
    pub blocker: Option<usize>,
}

/// How many ops of the deepest prefix are kept as evidence.
pub(crate) const TAIL: usize = 9;

/// Entries reserved from the shared budget at a time.
const RESERVE: usize = 4096;

/// A hasher for fingerprints, which are already uniformly distributed.
#[derive(Default)]
struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u128(&mut self, i: u128) {
        self.0 = (i as u64) ^ ((i >> 64) as u64);
    }
}

type Cache = HashSet<u128, BuildHasherDefault<FingerprintHasher>>;

/// SplitMix64's finaliser: a bijection that scatters consecutive inputs.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A random-looking 128-bit key for `x` in the family `salt`.
fn key128(x: u64, salt: u64) -> u128 {
    let a = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let hi = mix64(a ^ salt);
    let lo = mix64(a.wrapping_add(0xD1B5_4A32_D192_ED03) ^ salt.rotate_left(32));
    (u128::from(hi) << 64) | u128::from(lo)
}

const OP_SALT: u64 = 0x243F_6A88_85A3_08D3;
const STATE_SALT: u64 = 0x1319_8A2E_0370_7344;

/// A node of the entry list: call or return of an op.
#[derive(Clone, Copy)]
struct Entry {
    op: u32,
    call: bool,
    /// The other entry of the same op.
    partner: u32,
    prev: u32,
    next: u32,
}

/// Searches for a linearization of `ops` (one key) under `machine`.
pub(crate) fn search(machine: &mut Machine, ops: &[SearchOp], limits: &Limits) -> Outcome {
    let n = ops.len();
    // Sort the 2n events: by time, calls before returns, info returns last.
    let mut order: Vec<(u64, u8, u32)> = Vec::with_capacity(2 * n);
    for (i, op) in ops.iter().enumerate() {
        order.push((op.call, 0, i as u32));
        match op.ret {
            Some(t) => order.push((t, 1, i as u32)),
            None => order.push((u64::MAX, 2, i as u32)),
        }
    }
    order.sort_unstable();
    // Entry 0 is the head sentinel, 2n + 1 the tail sentinel.
    const HEAD: u32 = 0;
    let tail = (2 * n + 1) as u32;
    let mut entries = Vec::with_capacity(2 * n + 2);
    entries.push(Entry {
        op: u32::MAX,
        call: false,
        partner: 0,
        prev: HEAD,
        next: 1,
    });
    let mut call_entry = vec![0u32; n];
    let mut return_entry = vec![0u32; n];
    for (k, &(_, kind, op)) in order.iter().enumerate() {
        let id = (k + 1) as u32;
        if kind == 0 {
            call_entry[op as usize] = id;
        } else {
            return_entry[op as usize] = id;
        }
        entries.push(Entry {
            op,
            call: kind == 0,
            partner: 0,
            prev: id - 1,
            next: id + 1,
        });
    }
    entries.push(Entry {
        op: u32::MAX,
        call: false,
        partner: 0,
        prev: tail - 1,
        next: tail,
    });
    for i in 0..n {
        entries[call_entry[i] as usize].partner = return_entry[i];
        entries[return_entry[i] as usize].partner = call_entry[i];
    }

    let op_keys: Vec<u128> = (0..n as u64).map(|i| key128(i, OP_SALT)).collect();
    let mut determinate_left = ops.iter().filter(|o| o.ret.is_some()).count();
    let mut cache = Cache::default();
    let mut reserved = 0usize;
    let release = |reserved: usize| {
        limits.used.fetch_sub(reserved, Ordering::Relaxed);
    };

    let mut state = machine.initial();
    let mut fingerprint: u128 = 0;
    let mut stack: Vec<(u32, u32)> = Vec::new();
    let mut deepest = Deepest {
        state,
        ..Deepest::default()
    };
    let mut cur = entries[HEAD as usize].next;
    let mut steps: u64 = 0;

    loop {
        if determinate_left == 0 {
            release(reserved);
            return Outcome::Linearizable;
        }
        steps += 1;
        if steps % 1024 == 0 {
            if limits.cancel.load(Ordering::Relaxed) {
                release(reserved);
                return Outcome::Cancelled;
            }
            if Instant::now() >= limits.deadline {
                release(reserved);
                return Outcome::GaveUp {
                    timeout: true,
                    visited: cache.len(),
                };
            }
        }
        let entry = entries[cur as usize];
        if cur == tail {
            // Unreachable while a determinate op is left (its return entry
            // lies before the tail); kept as a guard.
            release(reserved);
            return Outcome::Linearizable;
        }
        if entry.call {
            let op = entry.op as usize;
            if let Some(next_state) = machine.step(state, &ops[op].step) {
                let next_fp = fingerprint ^ op_keys[op];
                if cache.insert(next_fp ^ key128(u64::from(next_state), STATE_SALT)) {
                    if cache.len() > reserved {
                        reserved += RESERVE;
                        if limits.used.fetch_add(RESERVE, Ordering::Relaxed) + RESERVE
                            > limits.max_entries
                        {
                            release(reserved);
                            return Outcome::GaveUp {
                                timeout: false,
                                visited: cache.len(),
                            };
                        }
                    }
                    stack.push((cur, state));
                    state = next_state;
                    fingerprint = next_fp;
                    if ops[op].ret.is_some() {
                        determinate_left -= 1;
                    }
                    // Lift the call and its return out of the list.
                    let ret = entry.partner as usize;
                    entries[entry.prev as usize].next = entry.next;
                    entries[entry.next as usize].prev = entry.prev;
                    let r = entries[ret];
                    entries[r.prev as usize].next = r.next;
                    entries[r.next as usize].prev = r.prev;
                    if stack.len() > deepest.depth {
                        deepest.depth = stack.len();
                        let from = stack.len().saturating_sub(TAIL);
                        deepest.tail = stack[from..]
                            .iter()
                            .map(|&(e, _)| entries[e as usize].op as usize)
                            .collect();
                        deepest.state = state;
                        deepest.blocker = None;
                    }
                    cur = entries[HEAD as usize].next;
                    continue;
                }
            }
            cur = entry.next;
        } else {
            if deepest.blocker.is_none() && stack.len() == deepest.depth {
                deepest.blocker = Some(entry.op as usize);
            }
            let Some((call, previous)) = stack.pop() else {
                release(reserved);
                return Outcome::NotLinearizable(deepest);
            };
            let e = entries[call as usize];
            let op = e.op as usize;
            state = previous;
            fingerprint ^= op_keys[op];
            if ops[op].ret.is_some() {
                determinate_left += 1;
            }
            // Unlift: the return first, then the call (reverse of lifting).
            let r = entries[e.partner as usize];
            entries[r.prev as usize].next = e.partner;
            entries[r.next as usize].prev = e.partner;
            entries[e.prev as usize].next = call;
            entries[e.next as usize].prev = call;
            cur = e.next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Model;
    use serde_json::json;

    static NO: AtomicBool = AtomicBool::new(false);

    fn limits(used: &AtomicUsize) -> Limits<'_> {
        Limits {
            deadline: Instant::now() + std::time::Duration::from_secs(10),
            time: std::time::Duration::from_secs(10),
            max_entries: 1 << 20,
            used,
            cancel: &NO,
        }
    }

    fn op(step: CompiledOp, call: u64, ret: Option<u64>) -> SearchOp {
        SearchOp { step, call, ret }
    }

    #[test]
    fn sequential_register_histories() {
        let used = AtomicUsize::new(0);
        let mut m = Machine::new(Model::CasRegister);
        let a = m.intern(&json!(1));
        let b = m.intern(&json!(2));
        let ok = [
            op(CompiledOp::Write { v: a }, 0, Some(1)),
            op(CompiledOp::Read { out: a }, 2, Some(3)),
        ];
        assert_eq!(search(&mut m, &ok, &limits(&used)), Outcome::Linearizable);
        let stale = [
            op(CompiledOp::Write { v: a }, 0, Some(1)),
            op(CompiledOp::Write { v: b }, 2, Some(3)),
            op(CompiledOp::Read { out: a }, 4, Some(5)),
        ];
        match search(&mut m, &stale, &limits(&used)) {
            Outcome::NotLinearizable(d) => {
                assert_eq!(d.depth, 2);
                assert_eq!(d.tail, vec![0, 1]);
                assert_eq!(d.state, b);
                assert_eq!(d.blocker, Some(2));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(used.load(Ordering::Relaxed), 0, "budget released");
    }

    #[test]
    fn touching_intervals_are_concurrent() {
        // The read's invocation has the write's completion time: concurrent,
        // so the read may go first.
        let used = AtomicUsize::new(0);
        let mut m = Machine::new(Model::Register);
        let a = m.intern(&json!(1));
        let h = [
            op(CompiledOp::Write { v: a }, 0, Some(5)),
            op(CompiledOp::Read { out: 0 }, 5, Some(6)),
        ];
        assert_eq!(search(&mut m, &h, &limits(&used)), Outcome::Linearizable);
        let h = [
            op(CompiledOp::Write { v: a }, 0, Some(5)),
            op(CompiledOp::Read { out: 0 }, 6, Some(7)),
        ];
        assert!(matches!(
            search(&mut m, &h, &limits(&used)),
            Outcome::NotLinearizable(_)
        ));
    }

    #[test]
    fn bounds_give_up_instead_of_hanging() {
        // Many concurrent writes and an impossible read: exponential search.
        let used = AtomicUsize::new(0);
        let mut m = Machine::new(Model::Register);
        let mut h: Vec<SearchOp> = (0..40)
            .map(|i| {
                op(
                    CompiledOp::Write {
                        v: m.intern(&json!(i)),
                    },
                    i,
                    Some(1000),
                )
            })
            .collect();
        let never = m.intern(&json!("never"));
        h.push(op(CompiledOp::Read { out: never }, 100, Some(1000)));
        let tight = Limits {
            deadline: Instant::now() + std::time::Duration::from_secs(10),
            time: std::time::Duration::from_secs(10),
            max_entries: 10_000,
            used: &used,
            cancel: &NO,
        };
        assert!(matches!(
            search(&mut m, &h, &tight),
            Outcome::GaveUp { timeout: false, .. }
        ));
        let late = Limits {
            deadline: Instant::now(),
            time: std::time::Duration::ZERO,
            max_entries: usize::MAX / 2,
            used: &used,
            cancel: &NO,
        };
        assert!(matches!(
            search(&mut m, &h, &late),
            Outcome::GaveUp { timeout: true, .. }
        ));
        assert_eq!(used.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn fingerprints_differ() {
        let keys: HashSet<u128> = (0..100_000).map(|i| key128(i, OP_SALT)).collect();
        assert_eq!(keys.len(), 100_000);
        assert_ne!(key128(5, OP_SALT), key128(5, STATE_SALT));
    }
}
