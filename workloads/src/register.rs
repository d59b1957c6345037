//! The register workload: one key, every client proposes, some reads.
//!
//! This is the lesson's `SET X`: every client process races to choose its
//! own value for the single key (`"x"` by default), so every propose after
//! the first must discover and adopt the chosen value. Contention is as high
//! as it gets. A fraction of the steps are reads, which must return nothing
//! before a value is chosen and the chosen value after.

use rand::RngExt;

use crate::generator::{ConfigError, Generator};
use crate::op::{step_rng, unique_value, Op};

/// The default key of the register workload.
pub const DEFAULT_KEY: &str = "x";
/// The default fraction of steps that are reads.
pub const DEFAULT_READ_FRACTION: f64 = 0.2;

/// The register workload's generator.
#[derive(Clone, Debug, PartialEq)]
pub struct Register {
    seed: u64,
    key: String,
    read_fraction: f64,
}

impl Register {
    /// A register workload on `key` whose steps are reads with probability `read_fraction`.
    pub fn new(seed: u64, key: &str, read_fraction: f64) -> Result<Self, ConfigError> {
        ballot_core::protocol::validate_key(key).map_err(ConfigError::Key)?;
        crate::generator::check_fraction(read_fraction)?;
        Ok(Register {
            seed,
            key: key.to_string(),
            read_fraction,
        })
    }
}

impl Generator for Register {
    fn name(&self) -> &'static str {
        "register"
    }

    fn op(&self, worker: u64, step: u64, process: u64) -> Op {
        let mut rng = step_rng(self.seed, worker, step);
        if rng.random_bool(self.read_fraction) {
            Op::read(self.key.clone())
        } else {
            Op::propose(self.key.clone(), unique_value(process, step))
        }
    }

    fn initial_keys(&self) -> Vec<String> {
        vec![self.key.clone()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::F;

    #[test]
    fn every_op_is_on_the_one_key() {
        let g = Register::new(1, "x", 0.5).unwrap();
        for step in 0..200 {
            assert_eq!(g.op(step % 3, step, step % 3).key, "x");
        }
        assert_eq!(g.initial_keys(), vec!["x".to_string()]);
    }

    #[test]
    fn proposes_carry_the_unique_value() {
        let g = Register::new(1, "x", 0.0).unwrap();
        assert_eq!(g.op(2, 9, 14), Op::propose("x", "14-9"));
    }

    #[test]
    fn read_fraction_is_respected() {
        let all_reads = Register::new(5, "x", 1.0).unwrap();
        assert!((0..100).all(|s| all_reads.op(0, s, 0).f == F::Read));
        let some = Register::new(5, "x", 0.2).unwrap();
        let reads = (0..1000).filter(|&s| some.op(0, s, 0).f == F::Read).count();
        assert!((120..280).contains(&reads), "{reads} reads in 1000 steps");
    }

    #[test]
    fn same_seed_same_schedule_other_seed_other_schedule() {
        let plan = |seed| {
            let g = Register::new(seed, "x", 0.5).unwrap();
            (0..64).map(|s| g.op(1, s, 1).f).collect::<Vec<_>>()
        };
        assert_eq!(plan(42), plan(42));
        assert_ne!(plan(42), plan(43));
    }

    #[test]
    fn bad_configuration_is_refused() {
        assert!(matches!(
            Register::new(0, "", 0.2),
            Err(ConfigError::Key(_))
        ));
        assert!(matches!(
            Register::new(0, "x", 1.5),
            Err(ConfigError::Fraction(_))
        ));
        assert!(matches!(
            Register::new(0, "x", f64::NAN),
            Err(ConfigError::Fraction(_))
        ));
    }
}
