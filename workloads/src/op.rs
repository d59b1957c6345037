//! The operations a client performs, their outcomes, and the seeded source
//! of randomness every generator draws from.
//!
//! A client worker runs steps 0, 1, 2, ... Step `s` of worker `w` is planned
//! by a generator as a pure function of `(seed, w, s)`: the random stream of
//! that step is a ChaCha8 generator seeded from a mix of the three numbers
//! ([`step_rng`]). So the same `--seed` gives the same op schedule whatever
//! the timing, and two runs can be compared step by step.
//!
//! A worker acts as client *process* `p`; after an indeterminate (`info`)
//! outcome the process is retired and the worker continues as a new process
//! (Jepsen's rule). Proposed values are `"<process>-<step>"`, unique in the
//! run because a worker's steps never repeat and a process belongs to one
//! worker ([`unique_value`]).

use rand::rngs::ChaCha8Rng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// The function of an operation, as written in `history.jsonl`'s `f`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum F {
    /// Run Basic Paxos to choose a value for the key (the invoke carries the proposed value).
    Propose,
    /// Learn the key's chosen value, or that none is chosen yet.
    Read,
}

impl F {
    /// The history's name for this function.
    pub const fn as_str(self) -> &'static str {
        match self {
            F::Propose => "propose",
            F::Read => "read",
        }
    }
}

impl std::fmt::Display for F {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One operation: a propose of `value` to `key`, or a read of `key`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Op {
    /// Propose or read.
    pub f: F,
    /// The Paxos instance.
    pub key: String,
    /// The proposed value (propose); `None` for a read.
    pub value: Option<String>,
}

impl Op {
    /// A propose of `value` to `key`.
    pub fn propose(key: impl Into<String>, value: impl Into<String>) -> Self {
        Op {
            f: F::Propose,
            key: key.into(),
            value: Some(value.into()),
        }
    }

    /// A read of `key`.
    pub fn read(key: impl Into<String>) -> Self {
        Op {
            f: F::Read,
            key: key.into(),
            value: None,
        }
    }
}

/// How an operation ended, in Jepsen's taxonomy: the proposer's own type.
pub use ballot_core::proposer::Outcome;

/// The value process `process` proposes at its worker's step `step`:
/// `"<process>-<step>"`, unique within a run.
pub fn unique_value(process: u64, step: u64) -> String {
    format!("{process}-{step}")
}

/// The process id a worker takes after its `retirements`-th retirement:
/// worker `w` starts as process `w`, then becomes `w + c`, `w + 2c`, ... for
/// `c` workers, so process ids are never reused and `process % c` is the worker.
pub fn process_for(worker: u64, concurrency: u64, retirements: u64) -> u64 {
    worker + concurrency * retirements
}

/// The random stream of step `step` of worker `worker` under `seed`: a pure
/// function of the three numbers.
pub fn step_rng(seed: u64, worker: u64, step: u64) -> ChaCha8Rng {
    let mixed = splitmix64(splitmix64(splitmix64(seed) ^ worker) ^ step);
    ChaCha8Rng::seed_from_u64(mixed)
}

/// SplitMix64's finaliser: a bijection on u64 that spreads every input bit
/// over the output, so nearby (seed, worker, step) triples get unrelated seeds.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn functions_are_named_as_in_the_history() {
        assert_eq!(F::Propose.as_str(), "propose");
        assert_eq!(F::Read.to_string(), "read");
        assert_eq!(serde_json::to_string(&F::Propose).unwrap(), r#""propose""#);
    }

    #[test]
    fn constructors_fill_the_fields() {
        assert_eq!(
            Op::propose("x", "3-17"),
            Op {
                f: F::Propose,
                key: "x".into(),
                value: Some("3-17".into())
            }
        );
        assert_eq!(Op::read("k2").value, None);
    }

    #[test]
    fn only_info_retires() {
        assert!(!Outcome::Ok(None).retires_process());
        assert!(!Outcome::Fail("rejected".into()).retires_process());
        assert!(Outcome::Info("timeout".into()).retires_process());
    }

    #[test]
    fn values_and_processes_never_collide() {
        assert_eq!(unique_value(3, 17), "3-17");
        // Table: (worker, concurrency, retirements) -> process.
        for (w, c, r, p) in [(0, 6, 0, 0), (5, 6, 0, 5), (2, 6, 1, 8), (2, 6, 3, 20)] {
            assert_eq!(process_for(w, c, r), p);
            assert_eq!(process_for(w, c, r) % c, w);
        }
        let mut seen = std::collections::HashSet::new();
        for w in 0..4 {
            for r in 0..4 {
                for s in 0..10 {
                    assert!(seen.insert(unique_value(process_for(w, 4, r), s * 4 + r)));
                }
            }
        }
    }

    #[test]
    fn step_streams_are_pure_and_distinct() {
        let draw = |seed, w, s| step_rng(seed, w, s).random_range(0..u64::MAX);
        assert_eq!(draw(7, 1, 2), draw(7, 1, 2));
        assert_ne!(draw(7, 1, 2), draw(7, 2, 1));
        assert_ne!(draw(7, 1, 2), draw(8, 1, 2));
        assert_ne!(draw(7, 0, 0), draw(7, 0, 1));
    }
}
