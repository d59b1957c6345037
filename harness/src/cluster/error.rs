//! Why starting, signalling or reaching a node failed, each with what to do about it.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use ballot_core::protocol::NodeId;

pub use command::TemplateError;

use crate::store::StoreError;

use super::*;

/// Why a cluster operation failed. Messages name the node and, where a
/// process is involved, its command and the last lines of its stderr.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The default node binary is not next to the harness.
    #[error("cannot find the ballot-node binary (looked at {}); build it with `cargo build -p ballot-node` or pass --node-cmd", searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NodeBinaryNotFound {
        /// Paths tried.
        searched: Vec<PathBuf>,
    },
    /// The node command template is malformed.
    #[error("bad node command {template:?}: {source}")]
    BadCommand {
        /// The template.
        template: String,
        /// What is wrong with it.
        source: TemplateError,
    },
    /// The spec is inconsistent (e.g. a port list of the wrong length).
    #[error("bad cluster spec: {0}")]
    BadSpec(String),
    /// The program could not be started at all (missing, not executable...).
    #[error("cannot start node {node} with `{command}`: {source}")]
    Spawn {
        /// The node.
        node: usize,
        /// The command line.
        command: String,
        /// The OS error.
        source: io::Error,
    },
    /// Something else already listens on the node's port.
    #[error("cannot start node {node}: port 127.0.0.1:{port} is already in use")]
    PortInUse {
        /// The node.
        node: usize,
        /// The port.
        port: u16,
    },
    /// The node exited before it became healthy.
    #[error("node {node} exited with {status} before becoming healthy\n  command: {command}\n  last lines of its stderr:\n{stderr_tail}")]
    Exited {
        /// The node.
        node: usize,
        /// Exit status, as the OS reports it.
        status: String,
        /// The command line.
        command: String,
        /// The last lines it wrote to stderr.
        stderr_tail: String,
    },
    /// The node did not answer `/v1/health` in time (it was killed).
    #[error("node {node} did not become healthy within {timeout:?} (last error: {last_error})\n  command: {command}\n  last lines of its stderr:\n{stderr_tail}")]
    Unhealthy {
        /// The node.
        node: usize,
        /// How long it was given.
        timeout: Duration,
        /// The last health-check failure.
        last_error: String,
        /// The status of the last health reply, if the node answered at all.
        last_status: Option<u16>,
        /// The command line.
        command: String,
        /// The last lines it wrote to stderr.
        stderr_tail: String,
    },
    /// The node answered `/v1/health` with a body that breaks the protocol
    /// (it was killed); the reason names the field.
    #[error("node {node}'s /v1/health reply does not follow docs/protocol.md: {reason}\n  it answered: {body}\n  command: {command}")]
    BadHealth {
        /// The node.
        node: usize,
        /// The first wrong field.
        reason: Box<ballot_core::protocol::HealthError>,
        /// The body it sent (cut when long).
        body: String,
        /// The command line.
        command: String,
    },
    /// Node proposers were asked for, but the node has no proposer role (it was killed).
    #[error(
        "node {node} serves only {roles:?}, not the proposer role of protocol v1.1 \
         (its /v1/health lists \"roles\"): give it {{peers}} so it proposes, or run with --proposers clients\n  command: {command}"
    )]
    NoProposerRole {
        /// The node.
        node: usize,
        /// The roles its health reply listed.
        roles: Vec<ballot_core::protocol::Role>,
        /// The command line.
        command: String,
    },
    /// A process that is not the expected node answered on its port.
    #[error(
        "node {node}'s port {port} is answered by node id {answered}: is another cluster using it?"
    )]
    WrongNode {
        /// The node.
        node: usize,
        /// The port.
        port: u16,
        /// The id the health reply carried.
        answered: NodeId,
    },
    /// There is no node with this id.
    #[error("no node {node} (the cluster has {nodes})")]
    NoSuchNode {
        /// The id asked for.
        node: usize,
        /// Cluster size.
        nodes: usize,
    },
    /// The operation needs a running node, and this one is down.
    #[error("node {node} is not running")]
    NotRunning {
        /// The node.
        node: usize,
    },
    /// The operation needs a stopped node, and this one runs.
    #[error("node {node} is already running")]
    AlreadyRunning {
        /// The node.
        node: usize,
    },
    /// Signalling or reaping the node failed.
    #[error("node {node}: {action} failed: {source}")]
    Process {
        /// The node.
        node: usize,
        /// What was attempted.
        action: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The side-channel state request failed.
    #[error("snapshot of node {node} failed: {reason}")]
    Snapshot {
        /// The node.
        node: usize,
        /// Why.
        reason: String,
    },
    /// A log file or folder could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Writing a snapshot record failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Mounting, power-failing or unmounting a node's lazyfs data dir failed.
    #[error("node {node}'s lazyfs data dir: {reason}")]
    LazyFs {
        /// The node.
        node: usize,
        /// What went wrong.
        reason: String,
    },
}

impl From<ballot_core::run_folder::RunFolderError> for ClusterError {
    /// A run-folder file that could not be written is a store failure.
    fn from(e: ballot_core::run_folder::RunFolderError) -> Self {
        ClusterError::Store(StoreError::from(e))
    }
}

/// An error with its sources, on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
