//! ballot-checker: decides whether a ballot run was consistent.
//!
//! # Layout
//!
//! The record formats it reads and the verdict it writes are in
//! [`ballot_core::records`] and [`ballot_core::verdict`].
//!
//! - [`history`]: pairing invocations with completions into operations.
//! - [`import`]: readers for Jepsen (etcd) and Porcupine (kv) logs.
//! - [`models`]: sequential specifications (write-once, register, cas-register, kv).
//! - [`linear`]: the linearizability checkers (fast write-once path, general WGL search).
//! - [`messages`]: the message log parsed once into compact typed records, indexed by key and node.
//! - [`invariants`]: Paxos safety invariants on the message log, one module each.
//! - [`run`]: checks a whole run folder and produces `results.json`.

pub mod history;
pub mod import;
pub mod invariants;
pub mod linear;
pub mod messages;
pub mod models;
pub mod run;
