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
//! [`NodeId`].

pub mod children;
pub mod command;
pub mod disks;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ballot_core::protocol::{HealthReply, NodeId, StateReply, HEALTH_PATH, STATE_PATH};
use ballot_core::records::{Snapshot, SnapshotReason};
use nix::sys::signal::Signal;

pub use children::{kill_all_children, live_children};
pub use command::TemplateError;
pub use disks::{detach_all_mounts, DataDirs};

use crate::clock::Clock;
use crate::store::{JsonlWriter, StoreError};

/// Placeholder arguments of the default node command, after the binary path.
pub const DEFAULT_NODE_ARGS: &str = "--id {id} --listen 127.0.0.1:{port} --data-dir {data_dir}";
/// Default time a node gets to answer `/v1/health` after it is started.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `shutdown` waits after SIGTERM before it sends SIGKILL.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Timeout of one side-channel request (health or state).
const SIDE_CHANNEL_TIMEOUT: Duration = Duration::from_secs(5);

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
        /// The command line.
        command: String,
        /// The last lines it wrote to stderr.
        stderr_tail: String,
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
        crate::shell::quote(&bin.to_string_lossy())
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
            .map(|w| crate::shell::quote(w))
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
fn free_ports(n: usize) -> io::Result<Vec<u16>> {
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
            let argv = command::render(&template, id, port, &data_dir.to_string_lossy());
            nodes.push(NodeProc {
                port,
                dir,
                data_dir,
                argv,
                child: None,
                paused: false,
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

    /// Starts node `id`'s process (not waiting for health).
    fn spawn(&mut self, id: usize) -> Result<u32, ClusterError> {
        self.node(id)?;
        if self.disks.is_lazy() && !self.disks.is_mounted(id) {
            return Err(ClusterError::LazyFs {
                node: id,
                reason: "unmounted at shutdown; the node cannot start again".into(),
            });
        }
        let node = self.node_mut(id)?;
        if node.child.is_some() {
            return Err(ClusterError::AlreadyRunning { node: id });
        }
        let port = node.port;
        match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            Ok(probe) => drop(probe),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                return Err(ClusterError::PortInUse { node: id, port })
            }
            Err(_) => {}
        }
        let open = |name: &str| {
            let path = node.dir.join(name);
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|source| ClusterError::Io { path, source })
        };
        let stdout = open("stdout.log")?;
        let mut stderr = open("stderr.log")?;
        let command_line = node.command_line();
        let _ = writeln!(stderr, "--- ballot: starting node {id}: {command_line}");
        node.stderr_start = stderr.metadata().map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(&node.argv[0]);
        cmd.args(&node.argv[1..])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let child = children::spawn(cmd).map_err(|source| ClusterError::Spawn {
            node: id,
            command: command_line,
            source,
        })?;
        let pid = child.id();
        node.child = Some(child);
        node.paused = false;
        Ok(pid)
    }

    /// Polls `/v1/health` until the node answers with its id, it exits, or
    /// the health timeout passes (then it is killed).
    async fn wait_healthy(&mut self, id: usize) -> Result<(), ClusterError> {
        let addr = self.addr(id);
        let timeout = self.spec.health_timeout;
        let deadline = Instant::now() + timeout;
        let url = format!("http://{addr}{HEALTH_PATH}");
        let mut last_error: String;
        loop {
            let node = self.node_mut(id)?;
            let child = node
                .child
                .as_mut()
                .ok_or(ClusterError::NotRunning { node: id })?;
            let exited = children::try_reap(child).map_err(|source| ClusterError::Process {
                node: id,
                action: "waitpid",
                source,
            })?;
            if let Some(status) = exited {
                node.child = None;
                return Err(ClusterError::Exited {
                    node: id,
                    status: status.to_string(),
                    command: node.command_line(),
                    stderr_tail: node.stderr_tail(),
                });
            }
            let per_try = deadline
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(50), Duration::from_millis(500));
            match self.http.get(&url).timeout(per_try).send().await {
                Ok(resp) if resp.status().is_success() => match resp.json::<HealthReply>().await {
                    Ok(reply) if reply.node == id as NodeId => return Ok(()),
                    Ok(reply) => {
                        let port = self.nodes[id].port;
                        self.kill_quietly(id).await;
                        return Err(ClusterError::WrongNode {
                            node: id,
                            port,
                            answered: reply.node,
                        });
                    }
                    Err(e) => last_error = format!("bad health reply: {e}"),
                },
                Ok(resp) => last_error = format!("health answered {}", resp.status()),
                Err(e) => last_error = error_chain(&e),
            }
            if Instant::now() >= deadline {
                self.kill_quietly(id).await;
                let node = &self.nodes[id];
                return Err(ClusterError::Unhealthy {
                    node: id,
                    timeout,
                    last_error,
                    command: node.command_line(),
                    stderr_tail: node.stderr_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn kill_quietly(&mut self, id: usize) {
        if let Some(mut child) = self.nodes[id].child.take() {
            let _ = children::kill_and_reap_async(&mut child).await;
        }
        self.nodes[id].paused = false;
    }

    /// SIGKILLs the node's process group and reaps it. Returns the killed pid.
    pub async fn kill(&mut self, id: usize) -> Result<u32, ClusterError> {
        let node = self.node_mut(id)?;
        let mut child = node
            .child
            .take()
            .ok_or(ClusterError::NotRunning { node: id })?;
        node.paused = false;
        let pid = child.id();
        children::kill_and_reap_async(&mut child)
            .await
            .map_err(|source| ClusterError::Process {
                node: id,
                action: "kill",
                source,
            })?;
        Ok(pid)
    }

    /// A power failure of one node: SIGKILLs its process group, reaps it,
    /// then drops every byte it wrote to its data dir but did not fsync.
    /// Needs [`DataDirs::LazyFs`]; restart the node with [`Cluster::restart`].
    pub async fn power_fail(&mut self, id: usize) -> Result<PowerFail, ClusterError> {
        self.node(id)?;
        if !self.disks.is_mounted(id) {
            return Err(ClusterError::LazyFs {
                node: id,
                reason: "not on a lazyfs mount: a power failure needs the cluster \
                         started with DataDirs::LazyFs"
                    .into(),
            });
        }
        let pid = self.kill(id).await?;
        let report = self
            .disks
            .power_fail(id)
            .expect("checked above: the node has a mount");
        Ok(PowerFail {
            node: id,
            pid,
            files: report.files,
            bytes_lost: report.bytes_lost,
        })
    }

    fn signal(&mut self, id: usize, signal: Signal, paused: bool) -> Result<u32, ClusterError> {
        let node = self.node_mut(id)?;
        let child = node
            .child
            .as_ref()
            .ok_or(ClusterError::NotRunning { node: id })?;
        children::signal_group(child, signal).map_err(|e| ClusterError::Process {
            node: id,
            action: if paused { "SIGSTOP" } else { "SIGCONT" },
            source: io::Error::from(e),
        })?;
        node.paused = paused;
        Ok(child.id())
    }

    /// SIGSTOPs the node's process group: it keeps its sockets (the kernel
    /// still accepts connections) but answers nothing until resumed.
    pub fn pause(&mut self, id: usize) -> Result<u32, ClusterError> {
        self.signal(id, Signal::SIGSTOP, true)
    }

    /// SIGCONTs the node's process group; it then serves what queued up.
    pub fn resume(&mut self, id: usize) -> Result<u32, ClusterError> {
        self.signal(id, Signal::SIGCONT, false)
    }

    /// Starts a stopped (killed or exited) node again with the same port and
    /// data dir, waits until it is healthy, then records a `restart`
    /// snapshot of its state. Returns the new pid.
    pub async fn restart(&mut self, id: usize) -> Result<u32, ClusterError> {
        let pid = self.spawn(id)?;
        self.wait_healthy(id).await?;
        self.snapshot(id, SnapshotReason::Restart).await?;
        Ok(pid)
    }

    /// Fetches the node's `/v1/state` over the side channel and writes it to
    /// the snapshot log; `time` is when the request was sent, `replied` when
    /// the answer had been read.
    pub async fn snapshot(
        &self,
        id: usize,
        reason: SnapshotReason,
    ) -> Result<Snapshot, ClusterError> {
        self.node(id)?;
        let url = format!("http://{}{STATE_PATH}", self.addr(id));
        let fail = |reason: String| ClusterError::Snapshot { node: id, reason };
        let time = self.clock.now();
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| fail(error_chain(&e)))?;
        if !resp.status().is_success() {
            return Err(fail(format!("{url} answered {}", resp.status())));
        }
        let state: StateReply = resp.json().await.map_err(|e| fail(error_chain(&e)))?;
        let snapshot = Snapshot {
            time,
            replied: Some(self.clock.now()),
            node: id as NodeId,
            reason,
            state,
        };
        self.snapshots.write(&snapshot)?;
        Ok(snapshot)
    }

    /// Snapshots every running node (paused ones would not answer: resume them first).
    pub async fn snapshot_all(
        &self,
        reason: SnapshotReason,
    ) -> Result<Vec<Snapshot>, ClusterError> {
        let mut all = Vec::new();
        for id in 0..self.nodes.len() {
            if self.is_running(id) {
                all.push(self.snapshot(id, reason).await?);
            }
        }
        Ok(all)
    }

    /// Reaps nodes that exited without the harness killing them, and reports
    /// them; they count as stopped afterwards (so they can be restarted).
    pub fn check_exits(&mut self) -> Vec<NodeExit> {
        let mut exits = Vec::new();
        for (id, node) in self.nodes.iter_mut().enumerate() {
            let Some(child) = node.child.as_mut() else {
                continue;
            };
            if let Ok(Some(status)) = children::try_reap(child) {
                let pid = child.id();
                node.child = None;
                node.paused = false;
                exits.push(NodeExit {
                    node: id,
                    pid,
                    status: status.to_string(),
                    stderr_tail: node.stderr_tail(),
                });
            }
        }
        exits
    }

    /// Stops every node: SIGCONT the paused, SIGTERM all, wait up to
    /// [`SHUTDOWN_GRACE`], then SIGKILL what is left, and reap everything.
    /// Then unmounts lazyfs data dirs (their files end up in
    /// `nodes/<id>/data`, see [`disks`]); after that the nodes cannot start
    /// again.
    pub async fn shutdown(&mut self) -> Result<(), ClusterError> {
        let stopped = self.stop_nodes().await;
        // Nodes first, then the mounts they used (even if a stop failed:
        // the survivors were SIGKILLed and reaped, or keep the lazy mount
        // alive until they die).
        let unmounted = self.disks.unmount_all();
        stopped.and(unmounted)
    }

    async fn stop_nodes(&mut self) -> Result<(), ClusterError> {
        for node in &mut self.nodes {
            if let Some(child) = &node.child {
                if node.paused {
                    let _ = children::signal_group(child, Signal::SIGCONT);
                    node.paused = false;
                }
                let _ = children::signal_group(child, Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let mut first_error = None;
        for (id, node) in self.nodes.iter_mut().enumerate() {
            let Some(mut child) = node.child.take() else {
                continue;
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let reaped = children::reap_within(&mut child, left).await;
            let result = match reaped {
                Ok(Some(_)) => Ok(()),
                _ => children::kill_and_reap_async(&mut child).await.map(drop),
            };
            if let Err(source) = result {
                first_error.get_or_insert(ClusterError::Process {
                    node: id,
                    action: "shutdown",
                    source,
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }

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

/// An error with its sources, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

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
