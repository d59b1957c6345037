//! The kv workload: many write-once keys through a rolling window of hot keys.
//!
//! Keys are `k0`, `k1`, `k2`, ...; each is an independent Basic Paxos
//! instance. At any moment `window` consecutive keys are hot and every step
//! proposes to (or reads) one of them at random, so each key sees
//! contention from several processes; then the window slides on, the lowest
//! key retires for good, and a fresh one joins.
//!
//! The window is a pure function of the worker's step, so the op at each
//! step does not depend on timing. Paced clients keep every worker on one
//! step grid (a worker stalled by a fault skips the steps it missed, see
//! the harness's `clients` module), so the workers hit the same hot keys at
//! the same time. With `c` workers advancing at the same pace, the window
//! slides by one key every `r = ops_per_key / c` steps of a
//! worker. During those steps the workers run `c * r` ops spread over
//! `window` keys, and a key stays hot for `window` slides, so each key
//! receives about `c * r = ops_per_key` ops in total:
//!
//! ```text
//! low(step) = step * c / ops_per_key        hot keys: low .. low + window
//! ```

use rand::RngExt;

use crate::generator::{check_fraction, ConfigError, Generator};
use crate::op::{step_rng, unique_value, Op};

/// The default number of hot keys.
pub const DEFAULT_WINDOW: u64 = 4;
/// The default number of ops (over all workers) a key receives before it retires.
pub const DEFAULT_OPS_PER_KEY: u64 = 40;

/// The kv workload's generator.
#[derive(Clone, Debug, PartialEq)]
pub struct Kv {
    seed: u64,
    read_fraction: f64,
    window: u64,
    ops_per_key: u64,
    concurrency: u64,
}

impl Kv {
    /// A kv workload: `window` hot keys, each retiring after about
    /// `ops_per_key` ops shared by `concurrency` workers.
    pub fn new(
        seed: u64,
        read_fraction: f64,
        window: u64,
        ops_per_key: u64,
        concurrency: u64,
    ) -> Result<Self, ConfigError> {
        check_fraction(read_fraction)?;
        for (name, value) in [
            ("window", window),
            ("ops-per-key", ops_per_key),
            ("concurrency", concurrency),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        Ok(Kv {
            seed,
            read_fraction,
            window,
            ops_per_key,
            concurrency,
        })
    }

    /// The lowest hot key's number at a worker's step `step`.
    pub fn low(&self, step: u64) -> u64 {
        (u128::from(step) * u128::from(self.concurrency) / u128::from(self.ops_per_key)) as u64
    }

    /// The name of key number `n`.
    pub fn key_name(n: u64) -> String {
        format!("k{n}")
    }
}

impl Generator for Kv {
    fn name(&self) -> &'static str {
        "kv"
    }

    fn op(&self, worker: u64, step: u64, process: u64) -> Op {
        let mut rng = step_rng(self.seed, worker, step);
        let key = Kv::key_name(self.low(step) + rng.random_range(0..self.window));
        if rng.random_bool(self.read_fraction) {
            Op::read(key)
        } else {
            Op::propose(key, unique_value(process, step))
        }
    }

    fn initial_keys(&self) -> Vec<String> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::op::F;

    fn key_number(op: &Op) -> u64 {
        op.key.strip_prefix('k').unwrap().parse().unwrap()
    }

    #[test]
    fn window_slides_every_ops_per_key_over_concurrency_steps() {
        let kv = Kv::new(0, 0.0, 4, 40, 8).unwrap();
        // Table: step -> low; the window slides every 40 / 8 = 5 steps.
        for (step, low) in [(0, 0), (4, 0), (5, 1), (9, 1), (10, 2), (500, 100)] {
            assert_eq!(kv.low(step), low, "step {step}");
        }
        let huge = Kv::new(0, 0.0, 4, 1, u64::MAX).unwrap();
        assert_eq!(huge.low(1), u64::MAX);
    }

    #[test]
    fn every_op_targets_a_hot_key() {
        let kv = Kv::new(9, 0.3, 4, 40, 6).unwrap();
        for worker in 0..6 {
            for step in 0..300 {
                let n = key_number(&kv.op(worker, step, worker));
                let low = kv.low(step);
                assert!((low..low + 4).contains(&n), "step {step}: key {n}");
            }
        }
    }

    #[test]
    fn each_key_sees_contention_then_retires() {
        let (workers, steps) = (6, 400);
        let kv = Kv::new(11, 0.0, 4, 40, workers).unwrap();
        let mut per_key: BTreeMap<u64, (usize, std::collections::BTreeSet<u64>)> = BTreeMap::new();
        for worker in 0..workers {
            for step in 0..steps {
                let entry = per_key
                    .entry(key_number(&kv.op(worker, step, worker)))
                    .or_default();
                entry.0 += 1;
                entry.1.insert(worker);
            }
        }
        // Keys fully inside the run (not the first or last few) get about
        // ops_per_key ops from several workers.
        let last_low = kv.low(steps - 1);
        for (&key, (ops, writers)) in per_key.range(4..last_low) {
            assert!((20..=60).contains(ops), "key {key}: {ops} ops");
            assert!(writers.len() >= 3, "key {key}: only {writers:?}");
        }
        assert!(per_key.len() as u64 >= last_low);
    }

    #[test]
    fn proposes_carry_the_unique_value_and_reads_happen() {
        let kv = Kv::new(2, 0.0, 4, 40, 6).unwrap();
        let op = kv.op(1, 7, 13);
        assert_eq!((op.f, op.value.as_deref()), (F::Propose, Some("13-7")));
        let reads_only = Kv::new(2, 1.0, 4, 40, 6).unwrap();
        assert_eq!(reads_only.op(1, 7, 13).f, F::Read);
        assert!(kv.initial_keys().is_empty());
    }

    #[test]
    fn same_seed_same_schedule() {
        let plan = |seed| {
            let kv = Kv::new(seed, 0.2, 4, 40, 6).unwrap();
            (0..100).map(|s| kv.op(3, s, 3)).collect::<Vec<_>>()
        };
        assert_eq!(plan(5), plan(5));
        assert_ne!(plan(5), plan(6));
    }

    #[test]
    fn zero_parameters_are_refused() {
        assert_eq!(Kv::new(0, 0.2, 0, 40, 6), Err(ConfigError::Zero("window")));
        assert_eq!(
            Kv::new(0, 0.2, 4, 0, 6),
            Err(ConfigError::Zero("ops-per-key"))
        );
        assert_eq!(
            Kv::new(0, 0.2, 4, 40, 0),
            Err(ConfigError::Zero("concurrency"))
        );
        assert_eq!(Kv::new(0, 2.0, 4, 40, 6), Err(ConfigError::Fraction(2.0)));
    }
}
