//! Runs one seeded `ballot test` as a child process and reads its verdict.
//!
//! Each run is the exact command a user would type (plus `--store`), so
//! "caught" means what docs/scenarios.md says: `ballot test` exited 1 and its
//! `results.json` names the property. The child's output goes to
//! `output.txt` beside its store; a child that outlives its wall-clock
//! budget is killed (it is ours) and the run is reported as a harness
//! failure, never as a verdict.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ballot_core::records::SNAPSHOTS_FILE;
use ballot_core::run_folder::read_results;
use ballot_core::verdict::Results;

use super::detect::SnapshotTime;
use ballot_core::shell::quote as shell_quote;

/// How often a running child is polled for its exit.
const POLL: Duration = Duration::from_millis(100);

/// What one `ballot test` run left behind.
#[derive(Clone, Debug)]
pub struct RunRecord {
    /// The `ballot test` flags (without `--seed` and `--store`).
    pub args: Vec<String>,
    /// The seed.
    pub seed: u64,
    /// The exit code; `None` when the child was killed (over its budget) or
    /// could not be started.
    pub exit: Option<i32>,
    /// Wall-clock time of the whole run (start to verdict).
    pub wall: Duration,
    /// The run folder, when one was made.
    pub dir: Option<PathBuf>,
    /// Its verdict, when `results.json` was written.
    pub results: Option<Results>,
    /// When each node's state snapshots were taken.
    pub snapshots: Vec<SnapshotTime>,
    /// What went wrong with the run itself, if anything.
    pub error: Option<String>,
}

impl RunRecord {
    /// The command that reruns this run.
    pub fn rerun_command(&self) -> String {
        rerun_command(&self.args, self.seed)
    }
}

/// `ballot test ARGS --seed SEED`, quoted for a POSIX shell.
pub fn rerun_command(args: &[String], seed: u64) -> String {
    std::iter::once("ballot test".to_string())
        .chain(args.iter().map(|a| shell_quote(a)))
        .chain(["--seed".to_string(), seed.to_string()])
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `ballot test ARGS --seed SEED --store STORE` with the `ballot`
/// binary at `ballot`, waiting at most `budget`, and reads its verdict.
pub fn run_test(
    ballot: &Path,
    args: &[String],
    seed: u64,
    store: &Path,
    budget: Duration,
) -> RunRecord {
    let began = Instant::now();
    let mut record = RunRecord {
        args: args.to_vec(),
        seed,
        exit: None,
        wall: Duration::ZERO,
        dir: None,
        results: None,
        snapshots: Vec::new(),
        error: None,
    };
    match spawn_and_wait(ballot, args, seed, store, budget) {
        Ok(code) => record.exit = code,
        Err(e) => record.error = Some(e),
    }
    record.wall = began.elapsed();
    if record.exit.is_none() && record.error.is_none() {
        record.error = Some(format!(
            "killed after {:.0} s without a verdict (see {})",
            budget.as_secs_f64(),
            store.join("output.txt").display()
        ));
    }
    if let Ok(dir) = std::fs::canonicalize(store.join("latest")) {
        match read_results(&dir).map_err(|e| e.to_string()) {
            Ok(results) => record.results = Some(results),
            Err(e) if record.error.is_none() && matches!(record.exit, Some(0..=2)) => {
                record.error = Some(e);
            }
            Err(_) => {}
        }
        record.snapshots = read_snapshot_times(&dir.join(SNAPSHOTS_FILE));
        record.dir = Some(dir);
    }
    if record.error.is_none() && !matches!(record.exit, Some(0..=2)) {
        record.error = Some(format!(
            "ballot test exited {:?}, not a verdict (see {})",
            record.exit,
            store.join("output.txt").display()
        ));
    }
    record
}

/// Starts the child with its output in `STORE/output.txt` and waits for it;
/// `Ok(None)` when it had to be killed.
fn spawn_and_wait(
    ballot: &Path,
    args: &[String],
    seed: u64,
    store: &Path,
    budget: Duration,
) -> Result<Option<i32>, String> {
    std::fs::create_dir_all(store).map_err(|e| format!("{}: {e}", store.display()))?;
    // A `latest` left by an earlier run in a reused store must not be read
    // as this run's verdict if this run makes no folder.
    let latest = store.join("latest");
    if latest.symlink_metadata().is_ok() {
        std::fs::remove_file(&latest).map_err(|e| format!("{}: {e}", latest.display()))?;
    }
    let output_path = store.join("output.txt");
    let output =
        File::create(&output_path).map_err(|e| format!("{}: {e}", output_path.display()))?;
    let errors = output
        .try_clone()
        .map_err(|e| format!("{}: {e}", output_path.display()))?;
    let mut child = Command::new(ballot)
        .arg("test")
        .args(args)
        .arg("--seed")
        .arg(seed.to_string())
        .arg("--store")
        .arg(store)
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", ballot.display()))?;
    let deadline = Instant::now() + budget;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status.code()),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("waiting for ballot test: {e}"));
            }
        }
    }
}

/// The (node, time) of every snapshot in `snapshots.jsonl`; unreadable
/// lines are skipped (they only make a durability detection time unknown).
fn read_snapshot_times(path: &Path) -> Vec<SnapshotTime> {
    let Ok(file) = File::open(path) else {
        return Vec::new();
    };
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| parse_snapshot_time(&line))
        .collect()
}

/// The node and time of one `snapshots.jsonl` line.
fn parse_snapshot_time(line: &str) -> Option<SnapshotTime> {
    #[derive(serde::Deserialize)]
    struct Head {
        node: u64,
        time: u64,
    }
    let head: Head = serde_json::from_str(line).ok()?;
    Some(SnapshotTime {
        node: head.node,
        time: head.time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rerun_commands_quote_and_end_with_the_seed() {
        let args = vec![
            "--bug".to_string(),
            "memory-only".to_string(),
            "--node-cmd".to_string(),
            "a b".to_string(),
        ];
        assert_eq!(
            rerun_command(&args, 7),
            "ballot test --bug memory-only --node-cmd 'a b' --seed 7"
        );
    }

    #[test]
    fn snapshot_lines_give_node_and_time() {
        let line = r#"{"time":42,"node":2,"reason":"restart","state":{"node":2,"instances":{}}}"#;
        assert_eq!(
            parse_snapshot_time(line),
            Some(SnapshotTime { node: 2, time: 42 })
        );
        assert_eq!(parse_snapshot_time("{"), None);
        assert_eq!(parse_snapshot_time(r#"{"node":1}"#), None);
    }

    #[test]
    fn a_missing_binary_is_a_harness_error_not_a_verdict() {
        let store =
            std::env::temp_dir().join(format!("ballot-validate-exec-{}", std::process::id()));
        // An earlier run's verdict in a reused store must not be taken for this run's.
        let old = store.join("old-run");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(
            old.join(ballot_core::records::RESULTS_FILE),
            r#"{"valid":false,"checkers":[]}"#,
        )
        .unwrap();
        std::os::unix::fs::symlink("old-run", store.join("latest")).unwrap();
        let r = run_test(
            Path::new("/nonexistent/ballot"),
            &[],
            1,
            &store,
            Duration::from_secs(5),
        );
        let _ = std::fs::remove_dir_all(&store);
        assert_eq!(r.exit, None);
        assert!(r.results.is_none(), "read a stale verdict");
        assert!(r.dir.is_none());
        assert!(r
            .error
            .unwrap()
            .contains("cannot start /nonexistent/ballot"));
    }
}
