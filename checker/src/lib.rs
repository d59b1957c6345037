//! ballot-checker: decides whether a ballot run was consistent.
//!
//! # Layout
//!
//! The record formats it reads and the verdict it writes are in
//! [`ballot_core::records`] and [`ballot_core::verdict`].
//!
//! - [`history`]: pairing invocations with completions into operations.
//! - [`import`]: readers for Jepsen (etcd) and Porcupine (kv) logs, and Jepsen/Knossos EDN histories.
//! - [`models`]: sequential specifications (write-once, register, cas-register, kv) and how outcomes are read.
//! - [`linear`]: the linearizability checkers (fast write-once path, general WGL search).
//! - [`messages`]: the message log parsed once into compact typed records, indexed by key and node.
//! - [`invariants`]: Paxos safety invariants on the message log, one module each.
//! - [`spec`]: the acceptor-spec check: every acceptor reply explained by the pure acceptor.
//! - [`run`]: checks a whole run folder and produces `results.json`.
//!
//! # Example
//!
//! Two clients propose on one write-once key; a read that saw the loser's
//! value cannot be linearized:
//!
//! ```
//! use ballot_checker::{check_linearizable, parse_history, Bounds, Model};
//! use ballot_core::verdict::Validity;
//!
//! let history = |read: &str| format!(
//!     r#"{{"index":0,"time":0,"process":1,"type":"invoke","f":"propose","key":"x","value":"a"}}
//! {{"index":1,"time":1,"process":1,"type":"ok","f":"propose","key":"x","value":"a"}}
//! {{"index":2,"time":2,"process":2,"type":"invoke","f":"read","key":"x","value":null}}
//! {{"index":3,"time":3,"process":2,"type":"ok","f":"read","key":"x","value":"{read}"}}
//! "#);
//! let good = parse_history(&history("a")).unwrap();
//! assert_eq!(check_linearizable(&good, Model::WriteOnce, &Bounds::default()).valid, Validity::Valid);
//! let bad = parse_history(&history("b")).unwrap();
//! assert_eq!(check_linearizable(&bad, Model::WriteOnce, &Bounds::default()).valid, Validity::Invalid);
//! ```

pub mod coverage;
pub mod history;
pub mod import;
pub mod invariants;
pub mod linear;
pub mod messages;
pub mod models;
mod par;
pub mod run;
pub mod spec;

pub use history::{pair, parse_history, read_history, HistoryError, HistoryOp};
pub use linear::{check as check_linearizable, Bounds};
pub use models::Model;
pub use run::{check_run, CheckError, CheckOptions};
