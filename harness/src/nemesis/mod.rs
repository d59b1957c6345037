//! The nemesis: a seeded fault schedule, and the code that applies and heals it.
//!
//! [`Schedule::generate`] is pure: from the config, the cluster size, the
//! seed and the time limit it lays out the faults, so the same `--seed`
//! always gives the same schedule (which fault, on which nodes, with which
//! partition or link parameters, when and for how long). Faults alternate
//! with quiet periods, one fault at a time, Jepsen-style:
//!
//! ```text
//! quiet ~interval | fault ~interval | quiet ~interval | fault ~interval | ...
//! ```
//!
//! where each "~interval" is drawn uniformly from `[0.5, 1.5] * interval`.
//!
//! [`Nemesis`] carries a schedule out against a [`Cluster`](crate::cluster::Cluster) and a [`Mesh`](crate::proxy::Mesh).
//! Every start and stop becomes a history event (process `"nemesis"`, type
//! `info`, `f` = `start-kill`, `stop-kill`...) and a line of `nemesis.jsonl`,
//! both stamped with the same time, taken once the fault is in force (or
//! healed). A kill's stop restarts the node (which waits for health and
//! takes a restart snapshot); a pause's stop resumes it; link faults' stops
//! set their links back to pass.
//!
//! A power failure (`power-fail`, opt-in: not part of `all`) is a kill that
//! also loses every byte the node wrote but did not fsync: the cluster's
//! data dirs are then lazyfs mounts (see [`ballot_lazyfs`] and
//! [`crate::cluster::DataDirs`]). Its start SIGKILLs and reaps the node and
//! discards the unsynced data (the detail records how many files and bytes
//! each node lost); its stop restarts the node, like a kill's.
//!
//! Targets bound how many nodes a kill, pause or link fault touches:
//! `one` = 1, `minority` = `(n - 1) / 2` (at least 1), `majority` =
//! `n / 2 + 1`, `all` = `n`. For `n >= 3`, `one` and `minority` always leave
//! a majority untouched. Partitions take their shape from
//! [`NemesisConfig::partitions`] instead.

mod apply;
mod fault;
mod schedule;
#[cfg(test)]
mod tests;

pub use apply::{Nemesis, Recorders};
pub use ballot_core::fault::FaultKind;
pub use fault::{FaultParams, FaultStep, NemesisConfig, Targets};
pub use schedule::Schedule;

use crate::cluster::ClusterError;
use crate::links::LinkError;
use crate::store::StoreError;

/// Why the nemesis failed.
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    /// A `--nemesis` or targets value is not understood.
    #[error("{0}")]
    Parse(String),
    /// Killing, pausing, resuming or restarting a node failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Changing links failed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// Recording failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ballot_core::run_folder::RunFolderError> for NemesisError {
    /// A run-folder file that could not be written is a store failure.
    fn from(e: ballot_core::run_folder::RunFolderError) -> Self {
        NemesisError::Store(StoreError::from(e))
    }
}
