//! ballot: the harness library behind the `ballot` command.
//!
//! # Layout
//!
//! - [`clock`]: the run's monotonic clock (nanoseconds since the test began).
//! - [`cluster`]: node processes: start, health, kill, pause, resume, restart, reap.
//! - [`links`]: link behaviours (pass, cut, drop, delay, duplicate) as pure data.
//! - [`partition`]: partition shapes (halves, isolate one, ring, bridge, one-way) as pure functions.
//! - [`proxy`]: the proxy mesh: one listener per directed link, recording `messages.jsonl`.
//! - [`nemesis`]: the seeded fault schedule and the code that applies and heals faults.
//! - [`store`]: run folders, JSONL writers, `test.json`, `store/latest`.
//! - [`node_proposer`]: the client of a node that proposes (protocol v1.1).
//! - [`clients`]: client processes that run workload ops as proposers and record the history.
//! - [`runner`]: one whole `ballot test` run, from start to verdict.
//! - [`cli`]: flags and subcommands.
//! - [`scenario`]: runs scripted, message-level scenarios against real nodes.
//! - [`conform`]: `ballot conform`: one deterministic check per rule of `docs/protocol.md`, for a node of your own.
//! - [`replay`]: re-drives a stored run's message schedule against fresh nodes.
//! - [`shrink`]: cuts a failing run down to a small scenario.
//! - [`validate`]: runs the bug catalogue and the false-alarm sweep (`ballot validate`).
//! - [`bench`](mod@bench): `ballot bench`: ops/s and latency through the proxy and direct, and the proxy's cost.
//!
//! Every command returns `Result<Validity, Error>`; [`exit::code`] maps it to
//! Jepsen's exit codes (0 valid, 1 invalid, 2 unknown, 254 bad input, 255
//! harness failure).
//!
//! # Example
//!
//! The nemesis's partitions are pure data drawn from a seeded stream, so a
//! rerun with the same seed cuts the same links:
//!
//! ```
//! use ballot::{exit, Error, Partition, PartitionKind};
//! use ballot_core::verdict::Validity;
//! use rand::SeedableRng;
//!
//! let draw = || {
//!     let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(42);
//!     Partition::generate(PartitionKind::IsolateOne, 5, &mut rng)
//! };
//! let p = draw();
//! assert_eq!(p.cut, draw().cut);
//! let alone = (0..5).find(|&h| p.reachable(h).len() == 1).unwrap();
//! assert_eq!(p.reachable(alone), vec![alone]);
//!
//! assert_eq!(exit::code(Ok(Validity::Invalid)), 1);
//! assert_eq!(exit::code(Err(Error::Input("no such flag".into()))), 254);
//! ```

/// Prints a line on stdout like `println!`, except that a closed stdout
/// (`ballot ... | head -1`) is ignored instead of panicking: the command
/// still finishes, heals, reaps its nodes and exits with its verdict.
#[macro_export]
macro_rules! say {
    () => {
        $crate::say!("")
    };
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Prints on stdout like `print!`, ignoring a closed stdout (see [`say!`]).
#[macro_export]
macro_rules! put {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

pub mod bench;
pub mod cli;
pub mod clients;
pub mod clock;
pub mod cluster;
pub mod conform;
pub mod error;
pub mod exit;
pub mod links;
pub mod merge;
pub mod nemesis;
pub mod node_proposer;
pub mod partition;
pub mod proxy;
pub mod replay;
pub mod runner;
pub mod runtime;
pub mod scenario;
pub mod serve;
pub mod shrink;
pub mod store;
pub mod validate;

pub use cluster::Cluster;
pub use error::Error;
pub use partition::{Partition, PartitionKind};
pub use runner::{run_test, test_command, TestArgs};
