//! ballot-workloads: operation generators and scripted scenarios.
//!
//! # Layout
//!
//! - [`op`]: the operations a client performs (propose, read), their outcomes,
//!   unique values, process ids and the per-step seeded random stream.
//! - [`generator`]: the [`Generator`] trait every workload implements, and
//!   [`WorkloadSpec`] that builds one from `ballot test`'s flags.
//! - [`register`]: one key, every client proposes, some reads (maximum contention).
//! - [`kv`]: many write-once keys with a rolling window of hot keys.
//! - [`scenario`]: scripted, message-level scenarios (S01-S12) as data, and their validator.
//!
//! # Example
//!
//! The register workload: the op schedule is a pure function of the seed,
//! the worker and the step, so a rerun with the same seed asks the same:
//!
//! ```
//! use ballot_workloads::{WorkloadKind, WorkloadSpec, F};
//!
//! let spec = WorkloadSpec {
//!     kind: WorkloadKind::Register,
//!     seed: 7,
//!     read_fraction: 0.0,
//!     key: "x".into(),
//!     window: 1,
//!     ops_per_key: 1,
//!     concurrency: 2,
//! };
//! let generator = spec.build().unwrap();
//! let op = generator.op(0, 0, 1);
//! assert_eq!((op.f, op.key.as_str()), (F::Propose, "x"));
//! assert_eq!(spec.build().unwrap().op(0, 0, 1), op);
//! assert_eq!(generator.initial_keys(), vec!["x".to_string()]);
//! ```

pub mod generator;
pub mod kv;
pub mod op;
pub mod register;
pub mod scenario;

pub use generator::{ConfigError, Generator, WorkloadKind, WorkloadSpec};
pub use op::{Op, Outcome, F};
