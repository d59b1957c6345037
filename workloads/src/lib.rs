//! ballot-workloads: operation generators and scripted scenarios.
//!
//! # Layout
//!
//! - [`op`]: the operations a client performs (propose, read) and their outcomes.
//! - [`register`]: one key, every client proposes, some reads (maximum contention).
//! - [`kv`]: many write-once keys with a rolling window of hot keys.

pub mod kv;
pub mod op;
pub mod register;
