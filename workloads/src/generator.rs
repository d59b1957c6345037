//! The generator interface every workload implements, and workload selection.
//!
//! A generator plans step `step` of client worker `worker`, which currently
//! acts as process `process`, as a pure function of those numbers and the
//! generator's seed and parameters. It holds no mutable state, so workers
//! share one generator without locks and a run's schedule can be recomputed
//! from its `test.json`.

use std::fmt;
use std::str::FromStr;

use ballot_core::protocol::InputError;

use crate::kv::Kv;
use crate::op::Op;
use crate::register::Register;

/// Plans the operations of a workload.
pub trait Generator: Send + Sync {
    /// The workload's name, as given to `--workload`.
    fn name(&self) -> &'static str;

    /// The op worker `worker` runs at its step `step` while acting as process `process`.
    fn op(&self, worker: u64, step: u64, process: u64) -> Op;

    /// Keys the final phase reads even if no client touched them.
    fn initial_keys(&self) -> Vec<String>;
}

/// A workload parameter that cannot be used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The key is not a valid protocol key.
    #[error("invalid key: {0}")]
    Key(InputError),
    /// A fraction outside [0, 1] (or not a number).
    #[error("fraction {0} is not between 0 and 1")]
    Fraction(f64),
    /// A count that must be at least 1 was 0.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// An unknown workload name.
    #[error("unknown workload {0:?}; known workloads: register, kv")]
    UnknownWorkload(String),
}

/// Checks that `fraction` is a probability.
pub(crate) fn check_fraction(fraction: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&fraction) {
        Ok(())
    } else {
        Err(ConfigError::Fraction(fraction))
    }
}

/// The workloads `--workload` can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    /// One key, maximum contention ([`Register`]).
    Register,
    /// Many write-once keys through a rolling window ([`Kv`]).
    Kv,
}

impl WorkloadKind {
    /// Every workload, in the order `--help` lists them.
    pub const ALL: [WorkloadKind; 2] = [WorkloadKind::Register, WorkloadKind::Kv];

    /// The name used on the command line and in the store folder's name.
    pub const fn name(self) -> &'static str {
        match self {
            WorkloadKind::Register => "register",
            WorkloadKind::Kv => "kv",
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WorkloadKind {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WorkloadKind::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| ConfigError::UnknownWorkload(s.to_string()))
    }
}

/// Every parameter of a workload, as `ballot test` flags give them.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadSpec {
    /// Which workload.
    pub kind: WorkloadKind,
    /// The seed of the op schedule.
    pub seed: u64,
    /// Fraction of steps that are reads.
    pub read_fraction: f64,
    /// Register: the one key.
    pub key: String,
    /// Kv: how many keys are hot at once.
    pub window: u64,
    /// Kv: about how many ops (over all workers) each key receives before it retires.
    pub ops_per_key: u64,
    /// Number of client workers (kv spreads each key's ops over them).
    pub concurrency: u64,
}

impl WorkloadSpec {
    /// Builds the generator this spec describes.
    pub fn build(&self) -> Result<Box<dyn Generator>, ConfigError> {
        Ok(match self.kind {
            WorkloadKind::Register => {
                Box::new(Register::new(self.seed, &self.key, self.read_fraction)?)
            }
            WorkloadKind::Kv => Box::new(Kv::new(
                self.seed,
                self.read_fraction,
                self.window,
                self.ops_per_key,
                self.concurrency,
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: WorkloadKind) -> WorkloadSpec {
        WorkloadSpec {
            kind,
            seed: 3,
            read_fraction: 0.2,
            key: "x".into(),
            window: 4,
            ops_per_key: 40,
            concurrency: 6,
        }
    }

    #[test]
    fn names_round_trip() {
        for kind in WorkloadKind::ALL {
            assert_eq!(kind.name().parse::<WorkloadKind>(), Ok(kind));
        }
        assert_eq!(
            "bank".parse::<WorkloadKind>().unwrap_err().to_string(),
            "unknown workload \"bank\"; known workloads: register, kv"
        );
    }

    #[test]
    fn specs_build_their_generator() {
        assert_eq!(
            spec(WorkloadKind::Register).build().unwrap().name(),
            "register"
        );
        assert_eq!(spec(WorkloadKind::Kv).build().unwrap().name(), "kv");
        let mut bad = spec(WorkloadKind::Kv);
        bad.window = 0;
        assert_eq!(bad.build().err(), Some(ConfigError::Zero("window")));
    }

    #[test]
    fn fractions_are_probabilities() {
        for (f, ok) in [
            (0.0, true),
            (1.0, true),
            (0.5, true),
            (-0.1, false),
            (1.01, false),
        ] {
            assert_eq!(check_fraction(f).is_ok(), ok, "{f}");
        }
        assert!(check_fraction(f64::NAN).is_err());
    }
}
