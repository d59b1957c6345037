//! The harness's one error type: why a command produced no verdict, and the
//! exit code that says so ([`Error::exit_code`]).

use ballot_workloads::ConfigError;

use crate::clients::ClientsError;
use crate::cluster::ClusterError;
use crate::exit::{EXIT_BAD_ARGS, EXIT_HARNESS_FAILURE};
use crate::nemesis::NemesisError;
use crate::store::StoreError;

/// Why a command could not produce a verdict.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter, a run folder or a scenario is unusable as given (254).
    #[error("{0}")]
    Input(String),
    /// A scenario step cannot be carried out as written (e.g. an accept
    /// before any quorum promised).
    #[error("step {} `{line}`: {message}", step + 1)]
    Script {
        /// Position of the step, from 0.
        step: usize,
        /// The step.
        line: String,
        /// Why.
        message: String,
    },
    /// The store could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Nodes could not be started, signalled or snapshotted.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The proxy mesh could not start.
    #[error("cannot start the proxy mesh: {0}")]
    Mesh(std::io::Error),
    /// The nemesis could not apply or heal a fault.
    #[error("nemesis: {0}")]
    Nemesis(#[from] NemesisError),
    /// The clients could not run.
    #[error(transparent)]
    Clients(#[from] ClientsError),
    /// The checker could not read the run.
    #[error("checker: {0}")]
    Check(String),
    /// The async runtime, the HTTP client or signal handlers could not be set up.
    #[error("cannot set up the runtime: {0}")]
    Runtime(std::io::Error),
    /// The harness cannot set itself up (a binary or client it needs is missing).
    #[error("{0}")]
    Setup(String),
    /// An I/O step outside the store failed (listening, writing an output file).
    #[error("{what}: {source}")]
    Io {
        /// What was being done, e.g. "cannot listen on 127.0.0.1:8080".
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// `--nemesis power-fail` needs lazyfs mounts, and this machine cannot make them.
    #[error(
        "--nemesis power-fail needs a lazyfs (FUSE) mount, and this machine cannot make one: {0}"
    )]
    LazyFsUnavailable(String),
}

impl From<ballot_core::run_folder::RunFolderError> for Error {
    /// A run-folder file that could not be written is a store failure.
    fn from(e: ballot_core::run_folder::RunFolderError) -> Self {
        Error::Store(StoreError::from(e))
    }
}

impl Error {
    /// The exit code: 254 for unusable input, else 255 (never a verdict's 0, 1 or 2).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => EXIT_BAD_ARGS,
            _ => EXIT_HARNESS_FAILURE,
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Input(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unusable_input_is_a_bad_argument() {
        assert_eq!(Error::Input("x".into()).exit_code(), 254);
        assert_eq!(Error::Check("x".into()).exit_code(), 255);
        let script = Error::Script {
            step: 0,
            line: "accept".into(),
            message: "no quorum".into(),
        };
        assert_eq!(script.exit_code(), 255);
        assert_eq!(script.to_string(), "step 1 `accept`: no quorum");
    }
}
