//! Node processes: start, health, kill, pause, resume, restart, reap.
//!
//! A [`Cluster`] owns `n` real node processes (ids `0..n`), each started from
//! the `--node-cmd` template with its own port and data dir under
//! `nodes/<id>/` of the run folder, with stdout and stderr appended to
//! `nodes/<id>/stdout.log` and `stderr.log`. A restart reuses the same port
//! and data dir. Health and state requests go straight to the node (never
//! through the proxy): that side channel is untouched by every fault.
//!
//! No node process outlives the harness: see [`children`] for how (process
//! groups, parent-death signal from a dedicated spawner thread, a registry
//! for [`kill_all_children`], and a `Drop` that kills and reaps).
//!
//! Started with [`DataDirs::LazyFs`] ([`Cluster::start_with`]), every
//! node's data dir is a lazyfs mount (see [`disks`]), which makes
//! [`Cluster::power_fail`] possible: SIGKILL the node and drop every byte
//! it wrote but did not fsync. The mounts go after the nodes, in
//! [`Cluster::shutdown`] or on drop.
//!
//! Node ids here are indices `0..n` (`usize`); records carry them as
//! [`NodeId`](ballot_core::protocol::NodeId).

pub mod children;
pub mod command;
pub mod disks;

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use ballot_core::records::Snapshot;

pub use children::{kill_all_children, live_children};
pub use command::TemplateError;
pub use disks::{detach_all_mounts, DataDirs};

use crate::clock::Clock;
use crate::store::JsonlWriter;

/// Placeholder arguments of the default node command, after the binary path.
pub const DEFAULT_NODE_ARGS: &str = "--id {id} --listen 127.0.0.1:{port} --data-dir {data_dir}";
/// Default time a node gets to answer `/v1/health` after it is started.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `shutdown` waits after SIGTERM before it sends SIGKILL.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Timeout of one side-channel request (health or state).
const SIDE_CHANNEL_TIMEOUT: Duration = Duration::from_secs(5);

mod error;
mod process;

pub(crate) use error::error_chain;
pub use error::ClusterError;

/// What to start: how many nodes, with which command, where.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// Number of nodes (ids `0..nodes`).
    pub nodes: usize,
    /// Command template with `{id}`, `{port}` and `{data_dir}`, split with
    /// shell quoting rules and run directly (no shell).
    pub node_cmd: String,
    /// Words appended to every node's command (e.g. `--bug NAME`); placeholders work here too.
    pub extra_args: Vec<String>,
    /// The run folder; node `i` lives in `run_dir/nodes/i/`.
    pub run_dir: PathBuf,
    /// How long a node may take to answer `/v1/health` after a (re)start.
    pub health_timeout: Duration,
    /// Fixed ports, one per node; empty = pick free loopback ports.
    pub ports: Vec<u16>,
    /// Node `i`'s `{peers}` (protocol v1.1), one per node; empty when the
    /// nodes do not propose. A template with `{peers}` needs them.
    pub peers: Vec<String>,
    /// Fail the start when a node given peers does not list the proposer
    /// role in `/v1/health` (`--proposers nodes`).
    pub require_proposer: bool,
    /// Count any `200` reply to `/v1/health` as ready, whatever its body
    /// (`ballot conform` judges the body itself, as a check that can fail).
    pub lenient_health: bool,
}

impl ClusterSpec {
    /// A spec with the default node command ([`default_node_cmd`]) and health timeout.
    pub fn new(nodes: usize, run_dir: &Path) -> Result<Self, ClusterError> {
        Ok(ClusterSpec {
            nodes,
            node_cmd: default_node_cmd()?,
            extra_args: Vec::new(),
            run_dir: run_dir.to_path_buf(),
            health_timeout: DEFAULT_HEALTH_TIMEOUT,
            ports: Vec::new(),
            peers: Vec::new(),
            require_proposer: false,
            lenient_health: false,
        })
    }
}

/// The `ballot-node` binary next to the current executable (or one folder
/// up, for test binaries in `target/<profile>/deps/`).
pub fn default_node_binary() -> Result<PathBuf, ClusterError> {
    let exe = std::env::current_exe().ok();
    let dir = exe.as_deref().and_then(Path::parent);
    let candidates: Vec<PathBuf> = dir
        .into_iter()
        .flat_map(|d| [Some(d), d.parent()])
        .flatten()
        .map(|d| d.join("ballot-node"))
        .collect();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(ClusterError::NodeBinaryNotFound {
            searched: candidates,
        })
}

/// The default `--node-cmd`: the quoted [`default_node_binary`] path followed by [`DEFAULT_NODE_ARGS`].
pub fn default_node_cmd() -> Result<String, ClusterError> {
    let bin = default_node_binary()?;
    Ok(format!(
        "{} {DEFAULT_NODE_ARGS}",
        ballot_core::shell::quote(&bin.to_string_lossy())
    ))
}

/// A node that exited without the harness asking it to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeExit {
    /// The node.
    pub node: usize,
    /// Its pid.
    pub pid: u32,
    /// Exit status, as the OS reports it.
    pub status: String,
    /// The last lines it wrote to stderr.
    pub stderr_tail: String,
}

struct NodeProc {
    port: u16,
    dir: PathBuf,
    data_dir: PathBuf,
    argv: Vec<String>,
    child: Option<Child>,
    paused: bool,
    /// The roles its last `/v1/health` reply listed.
    roles: Vec<ballot_core::protocol::Role>,
    /// Length of stderr.log when the current process started.
    stderr_start: u64,
}

impl NodeProc {
    fn stderr_path(&self) -> PathBuf {
        self.dir.join("stderr.log")
    }

    fn command_line(&self) -> String {
        self.argv
            .iter()
            .map(|w| ballot_core::shell::quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn stderr_tail(&self) -> String {
        tail_lines(&self.stderr_path(), self.stderr_start, 12)
    }
}

/// The last `lines` lines of `path` written after byte `from` (at most 4 KiB), indented.
fn tail_lines(path: &Path, from: u64, lines: usize) -> String {
    let read = || -> io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        let start = from.max(len.saturating_sub(4096));
        f.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match read() {
        Ok(text) if text.trim().is_empty() => "    (empty)".to_string(),
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..]
                .iter()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
        Err(e) => format!("    (cannot read {}: {e})", path.display()),
    }
}

/// How a node answered SIGTERM ([`Cluster::terminate`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Termination {
    /// It exited on its own within the grace period.
    Exited {
        /// Its pid.
        pid: u32,
        /// Exit status, as the OS reports it.
        status: String,
        /// How long after the SIGTERM it was reaped.
        after: Duration,
    },
    /// It was still running when the grace period ended, and was SIGKILLed.
    Killed {
        /// Its pid.
        pid: u32,
    },
}

/// What a power failure did to one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerFail {
    /// The node.
    pub node: usize,
    /// The pid that was SIGKILLed.
    pub pid: u32,
    /// Files that lost unsynced data.
    pub files: u64,
    /// Unsynced bytes dropped.
    pub bytes_lost: u64,
}

/// Picks `n` distinct free loopback ports (bound together, then released).
pub fn free_ports(n: usize) -> io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// A set of running node processes. Dropping it kills and reaps every one.
pub struct Cluster {
    spec: ClusterSpec,
    template: Vec<String>,
    clock: Clock,
    snapshots: JsonlWriter<Snapshot>,
    http: reqwest::Client,
    nodes: Vec<NodeProc>,
    /// Declared after `nodes`: dropped (unmounted) after `Drop` killed them.
    disks: disks::Disks,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("nodes", &self.spec.nodes)
            .field("pids", &self.pids())
            .finish()
    }
}

impl Cluster {
    /// Starts every node on plain data dirs and waits until each answers
    /// `/v1/health` (with its own id). On any failure every node started so
    /// far is killed.
    pub async fn start(
        spec: ClusterSpec,
        clock: Clock,
        snapshots: JsonlWriter<Snapshot>,
    ) -> Result<Cluster, ClusterError> {
        Cluster::start_with(spec, clock, snapshots, DataDirs::Plain).await
    }

    /// [`Cluster::start`], with the data dirs backed as `data_dirs` says
    /// (lazyfs mounts are made before any node starts; on failure every
    /// node is killed and every mount made so far is unmounted).
    pub async fn start_with(
        spec: ClusterSpec,
        clock: Clock,
        snapshots: JsonlWriter<Snapshot>,
        data_dirs: DataDirs,
    ) -> Result<Cluster, ClusterError> {
        let template =
            command::parse_template(&spec.node_cmd, &spec.extra_args).map_err(|source| {
                ClusterError::BadCommand {
                    template: spec.node_cmd.clone(),
                    source,
                }
            })?;
        if command::wants_peers(&template) && spec.peers.len() != spec.nodes {
            return Err(ClusterError::BadSpec(
                "the node command has {peers}, but this command gives the nodes no peers \
                 (`ballot test` does)"
                    .into(),
            ));
        }
        let ports = if spec.ports.is_empty() {
            free_ports(spec.nodes).map_err(|source| ClusterError::Io {
                path: PathBuf::from("127.0.0.1:0"),
                source,
            })?
        } else if spec.ports.len() == spec.nodes {
            spec.ports.clone()
        } else {
            return Err(ClusterError::BadSpec(format!(
                "{} ports given for {} nodes",
                spec.ports.len(),
                spec.nodes
            )));
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .retry(reqwest::retry::never())
            .pool_max_idle_per_host(0)
            .timeout(SIDE_CHANNEL_TIMEOUT)
            .build()
            .map_err(|e| ClusterError::Io {
                path: PathBuf::from("http client"),
                source: io::Error::other(e),
            })?;
        let mut nodes = Vec::with_capacity(spec.nodes);
        let mut disks = match data_dirs {
            DataDirs::Plain => disks::Disks::plain(),
            DataDirs::LazyFs => disks::Disks::lazy(),
        };
        for (id, port) in ports.into_iter().enumerate() {
            let dir = spec.run_dir.join("nodes").join(id.to_string());
            let data_dir = dir.join("data");
            fs::create_dir_all(&data_dir).map_err(|source| ClusterError::Io {
                path: data_dir.clone(),
                source,
            })?;
            if disks.is_lazy() {
                disks.mount(&dir, &data_dir)?;
            }
            let peers = spec.peers.get(id).map_or("", String::as_str);
            let argv = command::render(&template, id, port, &data_dir.to_string_lossy(), peers);
            nodes.push(NodeProc {
                port,
                dir,
                data_dir,
                argv,
                child: None,
                paused: false,
                roles: Vec::new(),
                stderr_start: 0,
            });
        }
        let mut cluster = Cluster {
            spec,
            template,
            clock,
            snapshots,
            http,
            nodes,
            disks,
        };
        // Spawn everything first, then wait: start-up overlaps.
        for id in 0..cluster.nodes.len() {
            cluster.spawn(id)?;
        }
        for id in 0..cluster.nodes.len() {
            cluster.wait_healthy(id).await?;
        }
        Ok(cluster)
    }

    /// Whether every node's last `/v1/health` listed the proposer role.
    pub fn all_propose(&self) -> bool {
        self.nodes
            .iter()
            .all(|n| n.roles.contains(&ballot_core::protocol::Role::Proposer))
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True for a cluster of zero nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The clock records are timed with.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    fn node(&self, id: usize) -> Result<&NodeProc, ClusterError> {
        self.nodes.get(id).ok_or(ClusterError::NoSuchNode {
            node: id,
            nodes: self.nodes.len(),
        })
    }

    fn node_mut(&mut self, id: usize) -> Result<&mut NodeProc, ClusterError> {
        let nodes = self.nodes.len();
        self.nodes
            .get_mut(id)
            .ok_or(ClusterError::NoSuchNode { node: id, nodes })
    }

    /// The node's direct address (not through the proxy). Panics on an id outside `0..len()`.
    pub fn addr(&self, id: usize) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.nodes[id].port))
    }

    /// Every node's direct address, by id.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        (0..self.nodes.len()).map(|id| self.addr(id)).collect()
    }

    /// The node's folder, `run_dir/nodes/<id>/`.
    pub fn node_dir(&self, id: usize) -> Result<&Path, ClusterError> {
        Ok(&self.node(id)?.dir)
    }

    /// The node's data dir, `run_dir/nodes/<id>/data` (a lazyfs mount over
    /// `nodes/<id>/disk` until shutdown, when started with [`DataDirs::LazyFs`]).
    pub fn data_dir(&self, id: usize) -> Result<&Path, ClusterError> {
        Ok(&self.node(id)?.data_dir)
    }

    /// How the node data dirs are backed.
    pub fn data_dirs(&self) -> DataDirs {
        if self.disks.is_lazy() {
            DataDirs::LazyFs
        } else {
            DataDirs::Plain
        }
    }

    /// The node's command line, quoted for a shell.
    pub fn command_line(&self, id: usize) -> Result<String, ClusterError> {
        Ok(self.node(id)?.command_line())
    }

    /// True when the node has a process the harness has not killed or seen
    /// exit (a paused node is running; an unnoticed crash shows up only
    /// after [`Cluster::check_exits`]).
    pub fn is_running(&self, id: usize) -> bool {
        self.nodes.get(id).is_some_and(|n| n.child.is_some())
    }

    /// True when the node is paused (SIGSTOP) and not yet resumed.
    pub fn is_paused(&self, id: usize) -> bool {
        self.nodes.get(id).is_some_and(|n| n.paused)
    }

    /// The node's current pid, if it runs.
    pub fn pid(&self, id: usize) -> Option<u32> {
        self.nodes.get(id)?.child.as_ref().map(Child::id)
    }

    /// `(id, pid)` of every running node.
    pub fn pids(&self) -> Vec<(usize, u32)> {
        (0..self.nodes.len())
            .filter_map(|id| Some((id, self.pid(id)?)))
            .collect()
    }
}

impl Cluster {
    /// The parsed command template (words with placeholders), for diagnostics.
    pub fn template(&self) -> &[String] {
        &self.template
    }
}

impl Drop for Cluster {
    /// Kills and reaps every node synchronously (also while unwinding from
    /// a panic); then the `disks` field drops and unmounts their data dirs.
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                children::kill_and_reap(&mut child);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;

    #[test]
    fn free_ports_are_distinct() {
        let ports = free_ports(8).unwrap();
        let set: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(set.len(), 8);
    }

    #[test]
    fn tails_show_only_the_latest_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stderr.log");
        fs::write(&path, "old run\nmore old\n").unwrap();
        let from = fs::metadata(&path).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        writeln!(f, "error: address in use").unwrap();
        assert_eq!(tail_lines(&path, from, 12), "    error: address in use");
        assert_eq!(tail_lines(&path, 1_000, 12), "    (empty)");
        assert!(tail_lines(&dir.path().join("none"), 0, 3).contains("cannot read"));
    }
}
