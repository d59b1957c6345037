//! Shared helpers for the harness's integration tests: the real
//! `ballot-node` binary, run folders in temp dirs, pid checks, and a lock
//! that runs process-heavy tests one at a time (two cores; and
//! `kill_all_children` must not hit another test's nodes).

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use ballot::clock::Clock;
use ballot::cluster::{Cluster, ClusterSpec};
use ballot::store::{HistoryWriter, JsonlWriter, RunDir};
use ballot_core::records::{Exchange, NemesisRecord, Snapshot};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use serde::de::DeserializeOwned;

/// Builds `ballot-node` (once per test binary) so the default node command finds it.
pub fn ensure_node_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "-p", "ballot-node", "--bin", "ballot-node"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo build -p ballot-node");
        assert!(
            out.status.success(),
            "cargo build -p ballot-node failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// Builds `ballot-node` (once) and returns its path in the workspace's target dir.
pub fn node_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        ensure_node_built();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let bin = target.join("debug/ballot-node");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
}

/// Runs process-heavy tests one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs process-heavy async tests one at a time (an async lock: it is held
/// across awaits). A test binary uses either this or [`serial`], not both.
pub async fn serial_async() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// Whether lazyfs can mount here; skips (printing why) unless `CI` is set,
/// where a failure to mount panics.
pub fn can_mount() -> bool {
    match ballot_lazyfs::available() {
        Ok(()) => true,
        Err(reason) if std::env::var_os("CI").is_some() => {
            panic!("lazyfs must be available under CI: {reason}")
        }
        Err(reason) => {
            eprintln!("SKIPPED: lazyfs cannot mount on this machine: {reason}");
            false
        }
    }
}

/// True when no process with this pid exists any more (reaped; not a zombie).
pub fn pid_gone(pid: u32) -> bool {
    kill(Pid::from_raw(pid as i32), None) == Err(Errno::ESRCH)
}

/// Pids of live processes whose command line mentions `needle` (a test's
/// own temp folder) and not `except` (the harness binary itself).
pub fn processes_mentioning(needle: &str, except: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) && !cmdline.contains(except) && !pid_gone(pid) {
            found.push(pid);
        }
    }
    found
}

/// SIGKILLs processes a test left behind (only ones found under its own
/// temp folder), then fails the test unless it is already failing.
pub fn kill_leftovers(left: &[u32]) {
    if left.is_empty() {
        return;
    }
    for &pid in left {
        let _ = kill(Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
    }
    if !std::thread::panicking() {
        panic!("node processes survived the test: {left:?}");
    }
}
/// Asserts every pid is gone.
pub fn assert_gone(pids: &[u32]) {
    for &pid in pids {
        assert!(pid_gone(pid), "process {pid} is still there");
    }
}

/// A temp store with one run folder and its writers.
pub struct Run {
    pub store: tempfile::TempDir,
    pub dir: RunDir,
    pub clock: Clock,
    pub history: HistoryWriter,
    pub messages: JsonlWriter<Exchange>,
    pub nemesis: JsonlWriter<NemesisRecord>,
    pub snapshots: JsonlWriter<Snapshot>,
}

impl Run {
    pub fn new() -> Run {
        ensure_node_built();
        let store = tempfile::tempdir().unwrap();
        let dir = RunDir::create(store.path(), "infra").unwrap();
        let clock = Clock::start();
        let history = HistoryWriter::create(&dir.file("history.jsonl"), clock).unwrap();
        let messages = JsonlWriter::create(&dir.file("messages.jsonl")).unwrap();
        let nemesis = JsonlWriter::create(&dir.file("nemesis.jsonl")).unwrap();
        let snapshots = JsonlWriter::create(&dir.file("snapshots.jsonl")).unwrap();
        Run {
            store,
            dir,
            clock,
            history,
            messages,
            nemesis,
            snapshots,
        }
    }

    /// A spec for `n` nodes with the default command and a short health timeout.
    pub fn spec(&self, n: usize) -> ClusterSpec {
        let mut spec = ClusterSpec::new(n, self.dir.path()).unwrap();
        spec.health_timeout = Duration::from_secs(20);
        spec
    }

    /// Starts `n` default nodes.
    pub async fn cluster(&self, n: usize) -> Cluster {
        Cluster::start(self.spec(n), self.clock, self.snapshots.clone())
            .await
            .unwrap()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.file(name)
    }
}

/// Every record of a JSONL file.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Vec<T> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// Polls a JSONL file until `done` holds for its records (records are
/// written by background tasks right after the client got its answer).
pub async fn wait_for_records<T: DeserializeOwned>(
    path: &Path,
    done: impl Fn(&[T]) -> bool,
) -> Vec<T> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let records: Vec<T> = read_jsonl(path);
        if done(&records) {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "records never arrived in {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An HTTP client that neither retries nor pools (so a fault is never hidden).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .retry(reqwest::retry::never())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Shuts the cluster down and asserts none of its node processes remains.
pub async fn stop(mut cluster: Cluster) {
    let pids: Vec<u32> = cluster.pids().into_iter().map(|(_, p)| p).collect();
    cluster.shutdown().await.unwrap();
    drop(cluster);
    assert_gone(&pids);
}
