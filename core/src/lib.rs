//! ballot-core: the vocabulary every other ballot crate shares, with no I/O
//! runtime (no tokio, no HTTP): what the wire carries, what the pure Paxos
//! roles decide, and what a run folder holds.
//!
//! # Layout
//!
//! - [`protocol`]: wire types of the acceptor protocol (`Ballot`, requests, replies, limits).
//! - [`acceptor`]: the acceptor as a pure state machine (Lamport's P1a, P2b).
//! - [`proposer`]: the proposer as a pure state machine (ballots, quorums, value choice).
//! - [`bugs`]: the catalogue of deliberately broken node variants (`--bug`).
//! - [`fault`]: the kinds of fault a run records (`kill`, `partition`, ... `crash`).
//! - [`records`]: the run folder's record formats (history, messages, nemesis, snapshots).
//! - [`run_folder`]: `test.json`, typed ([`run_folder::TestParams`]): its one reader, its one writer, the rerun command.
//! - [`shell`]: POSIX shell words: splitting a command line and quoting a word.
//! - [`utc`]: UTC dates from Unix time (run-folder names, the store page).
//! - [`verdict`]: `results.json`: validity, per-checker results, violations with evidence.
//!
//! # Example
//!
//! An acceptor promises a ballot, then refuses an accept below it:
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use ballot_core::acceptor::Acceptor;
//! use ballot_core::bugs::BugSet;
//! use ballot_core::protocol::{AcceptRequest, Ballot, PrepareRequest};
//!
//! let mut a = Acceptor::new(BTreeMap::new(), BugSet::NONE);
//! let key = "x".to_string();
//! let (promise, _) = a.prepare(&PrepareRequest { key: key.clone(), ballot: Ballot::new(2, 1) });
//! assert!(promise.ok);
//! let low = AcceptRequest { key, ballot: Ballot::new(1, 9), value: "v".into() };
//! let (reply, change) = a.accept(&low);
//! assert!(!reply.ok && change.is_none());
//! assert_eq!(reply.promised, Ballot::new(2, 1));
//! ```

pub mod acceptor;
pub mod bugs;
pub mod fault;
pub mod proposer;
pub mod protocol;
pub mod records;
pub mod run_folder;
pub mod shell;
pub mod utc;
pub mod verdict;

pub use acceptor::Acceptor;
pub use bugs::{BugSet, NodeBug};
pub use fault::FaultKind;
pub use protocol::{Ballot, NodeId, Request, RequestKind};
pub use run_folder::{RunFolderError, TestParams};
pub use verdict::{Results, Validity};
