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

pub mod generator;
pub mod kv;
pub mod op;
pub mod register;
pub mod scenario;

pub use generator::{ConfigError, Generator, WorkloadKind, WorkloadSpec};
pub use op::{Op, Outcome, F};
