//! Shared helpers for the node crate's integration tests: real `ballot-node`
//! processes on loopback ports, with kill-on-drop guards.
//!
//! ```ignore
//! mod common;
//! use common::{http_client, NodeProcess};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut node = NodeProcess::start(0, dir.path(), &[]); // waits until it listens
//! let client = http_client();
//! let r = client.get(node.url("/v1/health")).send().await.unwrap();
//! node.kill();     // SIGKILL + reap
//! node.restart();  // same id, port, data dir and flags; waits until it listens
//! // dropping `node` kills and reaps the process, also when a test panics
//! ```
//!
//! Ports come from binding `127.0.0.1:0` and releasing it ([`free_port`]);
//! another process could grab the port in between, which is unlikely on a
//! test machine and shows up as a clear "cannot listen" start failure.

#![allow(dead_code)] // each test binary uses a different subset

use std::fs::{self, File, OpenOptions};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long a node may take to print `listening on`.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a node may take to exit after SIGTERM, or to fail at start-up.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Path of the `ballot-node` binary Cargo built for these tests.
pub fn node_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ballot-node")
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// An HTTP client for tests: no proxy, no retries, no pooled connections
/// (a connection pooled before a kill would fail the first request after the
/// restart, since nothing retries it), 10 s timeout.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .retry(reqwest::retry::never())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build reqwest client")
}

/// A running (or stopped) `ballot-node` child process; killed and reaped on drop.
pub struct NodeProcess {
    /// The node's `--id`.
    pub id: u64,
    /// The loopback port it listens on (kept across restarts).
    pub port: u16,
    /// Its `--data-dir` (kept across restarts).
    pub data_dir: PathBuf,
    /// Extra command-line arguments, e.g. `["--bug", "memory-only"]`.
    pub extra_args: Vec<String>,
    child: Option<Child>,
    stderr_path: PathBuf,
    _logs: tempfile::TempDir,
}

impl NodeProcess {
    /// Starts a node on a free port and waits until it listens; panics
    /// (with the node's stderr) if it does not.
    pub fn start(id: u64, data_dir: &Path, extra_args: &[&str]) -> NodeProcess {
        NodeProcess::start_on(id, free_port(), data_dir, extra_args)
    }

    /// Like [`NodeProcess::start`], on a given port.
    pub fn start_on(id: u64, port: u16, data_dir: &Path, extra_args: &[&str]) -> NodeProcess {
        let logs = tempfile::tempdir().expect("temp dir for node logs");
        let mut node = NodeProcess {
            id,
            port,
            data_dir: data_dir.to_owned(),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            child: None,
            stderr_path: logs.path().join(format!("node-{id}.stderr")),
            _logs: logs,
        };
        node.restart();
        node
    }

    /// Starts the process again with the same id, port, data dir and flags,
    /// and waits until it listens. Panics if it is still running.
    pub fn restart(&mut self) {
        assert!(!self.is_running(), "node {} is still running", self.id);
        self.child = None;
        let offset = fs::metadata(&self.stderr_path).map_or(0, |m| m.len());
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_path)
            .expect("open node stderr log");
        let child = Command::new(node_bin())
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn ballot-node");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = fs::read_to_string(&self.stderr_path).unwrap_or_default();
            if log
                .get(offset as usize..)
                .is_some_and(|new| new.contains("listening on "))
            {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "node {} exited at start-up ({status}); stderr:\n{log}",
                    self.id
                );
            }
            if Instant::now() > deadline {
                panic!("node {} did not start in time; stderr:\n{log}", self.id);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The command-line arguments the node runs with.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--id".to_owned(),
            self.id.to_string(),
            "--listen".to_owned(),
            format!("127.0.0.1:{}", self.port),
            "--data-dir".to_owned(),
            self.data_dir.display().to_string(),
        ];
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// The node's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running (not yet exited).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Everything the node wrote to stderr, across restarts.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGKILL and reap (a no-op if it is not running).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` to the running process.
    pub fn signal(&self, signal: Signal) {
        let pid = self.pid().expect("node is not running");
        kill(Pid::from_raw(pid as i32), signal).expect("send signal");
    }

    /// SIGSTOP: the process stays alive but stops serving (the kernel still
    /// accepts connections).
    pub fn pause(&self) {
        self.signal(Signal::SIGSTOP);
    }

    /// SIGCONT after [`NodeProcess::pause`].
    pub fn resume(&self) {
        self.signal(Signal::SIGCONT);
    }

    /// SIGTERM, then waits (bounded) for the exit and returns its status;
    /// panics if it does not exit in time.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        self.wait_exit(EXIT_TIMEOUT)
            .unwrap_or_else(|| panic!("node {} ignored SIGTERM", self.id))
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let status = wait_timeout(child, timeout)?;
        self.child = None;
        Some(status)
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `child` until it exits or `timeout` passes.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `ballot-node ARGS` expecting it to exit by itself (bad flags, port
/// in use, corrupt log): returns its status and stderr. Kills it and panics
/// if it is still running after [`EXIT_TIMEOUT`].
pub fn run_node_to_exit(args: &[&str]) -> (ExitStatus, String) {
    let logs = tempfile::tempdir().expect("temp dir");
    let path = logs.path().join("stderr");
    let stderr = File::create(&path).expect("create stderr file");
    let mut child = Command::new(node_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn ballot-node");
    let status = wait_timeout(&mut child, EXIT_TIMEOUT);
    let text = fs::read_to_string(&path).unwrap_or_default();
    match status {
        Some(status) => (status, text),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ballot-node {args:?} kept running; stderr:\n{text}");
        }
    }
}
