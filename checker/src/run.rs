//! Checks a whole run folder, or a single history file, and produces
//! `results.json`.
//!
//! A run folder holds `test.json` (with the cluster size `nodes`),
//! `history.jsonl`, and, when the harness recorded them, `messages.jsonl`,
//! `nemesis.jsonl` and `snapshots.jsonl`. Checkers, in this fixed order:
//!
//! 1. `linearizable`: the history against the model ([`crate::linear`]);
//! 2. `paxos`: the message-log invariants ([`crate::invariants`]);
//! 3. `learners`: learned and returned values were chosen, and agree;
//! 4. `stats`: availability, latency, counts (always valid).
//!
//! Evidence that is missing makes the checkers that need it `unknown`, with
//! the reason; a file that is present but corrupt is an error naming the
//! file and line, never a verdict.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::import::Format;
use crate::invariants::{check_learners, check_paxos, Evidence};
use crate::linear::Bounds;
use crate::messages::{MessageLog, ReadError};
use crate::models::{Model, Spec};
use ballot_core::records::{
    Event, EventType, Exchange, FaultPhase, NemesisRecord, Process, Snapshot, HISTORY_FILE,
    MESSAGES_FILE, NEMESIS_FILE, SNAPSHOTS_FILE, TEST_FILE,
};
use ballot_core::run_folder::{RunFolderError, TestParams};
use ballot_core::verdict::{CheckerResult, Results, Validity};

/// How to check a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckOptions {
    /// The model the history is checked against (`write-once` for ballot runs).
    pub model: Model,
    /// Limits on the linearizability search.
    pub bounds: Bounds,
}

/// Why a run could not be checked (a harness failure, never a verdict).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A file every run folder has is missing.
    #[error("{}: missing (is this a ballot run folder?)", path.display())]
    Missing {
        /// The missing file.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        cause: std::io::Error,
    },
    /// A line of a file is not a valid record.
    #[error("{}: line {line}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A file is not valid as a whole.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

fn io_error(path: &Path, cause: std::io::Error) -> CheckError {
    if cause.kind() == std::io::ErrorKind::NotFound {
        CheckError::Missing {
            path: path.to_path_buf(),
        }
    } else {
        CheckError::Io {
            path: path.to_path_buf(),
            cause,
        }
    }
}

/// Opens a file that may be absent.
fn open_optional(path: &Path) -> Result<Option<File>, CheckError> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}

/// Reads a JSON Lines file of `T` (blank lines skipped).
fn read_lines<T: DeserializeOwned>(path: &Path, file: File) -> Result<Vec<T>, CheckError> {
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| io_error(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line).map_err(|e| CheckError::Corrupt {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?;
        out.push(record);
    }
    Ok(out)
}

/// The number of acceptors from `test.json`, or why it is not usable.
fn read_nodes(dir: &Path) -> Result<Result<usize, String>, CheckError> {
    let test = TestParams::read(dir).map_err(|e| match e {
        RunFolderError::Io { path, source } => io_error(&path, source),
        RunFolderError::NotAnObject { path, message } => CheckError::Invalid { path, message },
        RunFolderError::Corrupt {
            path,
            line,
            message,
        } => CheckError::Corrupt {
            path,
            line,
            message,
        },
        // Only writers fail these ways.
        e @ (RunFolderError::Serialize { .. } | RunFolderError::Closed { .. }) => {
            CheckError::Invalid {
                path: dir.join(TEST_FILE),
                message: e.to_string(),
            }
        }
    })?;
    Ok(match test.nodes {
        Some(n) if n >= 1 => Ok(n as usize),
        _ => Err(format!(
            "{TEST_FILE} has no positive integer `nodes`, so majorities cannot be counted"
        )),
    })
}

fn unknown(name: &str, reason: String) -> CheckerResult {
    CheckerResult {
        name: name.to_string(),
        valid: Validity::Unknown,
        reason: Some(reason),
        violations: Vec::new(),
        stats: Value::Null,
    }
}

/// A valid result becomes unknown when part of its evidence was missing.
fn partly_unchecked(mut result: CheckerResult, missing: Option<String>) -> CheckerResult {
    if let (Validity::Valid, Some(reason)) = (result.valid, missing) {
        result.valid = Validity::Unknown;
        result.reason = Some(reason);
    }
    result
}

/// Checks a run folder: reads every file once, runs every checker.
pub fn check_run(dir: &Path, opts: &CheckOptions) -> Result<Results, CheckError> {
    let nodes = read_nodes(dir)?;

    let history_path = dir.join(HISTORY_FILE);
    let file = File::open(&history_path).map_err(|e| io_error(&history_path, e))?;
    let history =
        crate::history::read_history(BufReader::new(file)).map_err(|e| CheckError::Invalid {
            path: history_path.clone(),
            message: e.to_string(),
        })?;

    let messages_path = dir.join(MESSAGES_FILE);
    let log = match open_optional(&messages_path)? {
        None => None,
        Some(file) => Some(MessageLog::read(file).map_err(|e| match e {
            ReadError::Io(cause) => io_error(&messages_path, cause),
            ReadError::Corrupt { line, message } => CheckError::Corrupt {
                path: messages_path.clone(),
                line,
                message,
            },
            ReadError::TooLarge => CheckError::Invalid {
                path: messages_path.clone(),
                message: e.to_string(),
            },
        })?),
    };

    let nemesis_path = dir.join(NEMESIS_FILE);
    let nemesis: Vec<NemesisRecord> = match open_optional(&nemesis_path)? {
        None => Vec::new(),
        Some(file) => read_lines(&nemesis_path, file)?,
    };

    let snapshots_path = dir.join(SNAPSHOTS_FILE);
    let snapshots: Option<Vec<Snapshot>> = match open_optional(&snapshots_path)? {
        None => None,
        Some(file) => Some(read_lines(&snapshots_path, file)?),
    };

    let linearizable = crate::linear::check(&history, opts.model, &opts.bounds);
    let (paxos, learners) = match (&log, nodes) {
        (None, _) => {
            let reason = format!(
                "{MESSAGES_FILE} is missing; the Paxos checks need the proxy's message log"
            );
            (
                unknown("paxos", reason.clone()),
                unknown("learners", reason),
            )
        }
        (Some(_), Err(reason)) => (
            unknown("paxos", reason.clone()),
            unknown("learners", reason),
        ),
        (Some(log), Ok(n)) => {
            let no_snapshots = Vec::new();
            let (paxos, learners) = safety(
                log,
                snapshots.as_ref().unwrap_or(&no_snapshots),
                &history,
                n,
            );
            let missing = |what: &str| {
                snapshots
                    .is_none()
                    .then(|| format!("{SNAPSHOTS_FILE} is missing, so {what} were not checked"))
            };
            (
                partly_unchecked(paxos, missing("acknowledgements across restarts")),
                partly_unchecked(learners, missing("the nodes' learned values")),
            )
        }
    };
    let acceptor_spec = match &log {
        None => unknown(
            crate::spec::NAME,
            format!(
                "{MESSAGES_FILE} is missing; the acceptor-spec check needs the proxy's message log"
            ),
        ),
        Some(log) => {
            let exchanges: Vec<Exchange> = (0..log.len() as u32).map(|i| log.exchange(i)).collect();
            let no_snapshots = Vec::new();
            let result = crate::spec::check(
                &exchanges,
                &nemesis,
                snapshots.as_ref().unwrap_or(&no_snapshots),
            );
            partly_unchecked(
                result,
                snapshots.is_none().then(|| {
                    format!("{SNAPSHOTS_FILE} is missing, so no state was compared with the spec's")
                }),
            )
        }
    };
    let stats = stats(&history, log.as_ref(), &nemesis);
    let mut results = Results::new(vec![linearizable, paxos, learners, acceptor_spec, stats]);
    if let Some(log) = &log {
        let no_snapshots = Vec::new();
        results.coverage =
            crate::coverage::count(log, &history, snapshots.as_ref().unwrap_or(&no_snapshots));
    }
    Ok(results)
}

/// Checks records already in memory with the same checkers as [`check_run`]
/// (but no `stats`): a shrink candidate is judged without touching the disk.
pub fn check_records(
    history: &[Event],
    messages: &[Exchange],
    nemesis: &[NemesisRecord],
    snapshots: &[Snapshot],
    nodes: usize,
    opts: &CheckOptions,
) -> Results {
    let log = MessageLog::from_exchanges(messages);
    let linearizable = crate::linear::check(history, opts.model, &opts.bounds);
    let (paxos, learners) = safety(&log, snapshots, history, nodes);
    let acceptor_spec = crate::spec::check(messages, nemesis, snapshots);
    Results::new(vec![linearizable, paxos, learners, acceptor_spec])
}

/// The Paxos safety checkers (`paxos`, `learners`) over one run's evidence.
fn safety(
    log: &MessageLog,
    snapshots: &[Snapshot],
    history: &[Event],
    nodes: usize,
) -> (CheckerResult, CheckerResult) {
    let ev = Evidence::new(log, snapshots, history, nodes);
    (check_paxos(&ev), check_learners(&ev))
}

/// Writes `results.json` into a run folder, whole (the run folder's one writer).
pub use ballot_core::run_folder::write_results;

/// Checks a single history file (ours, a Jepsen etcd log, a Porcupine kv
/// log or a Jepsen EDN history): `linearizable` and `stats`. `format` `None`
/// detects it from the content; `model` `None` takes the format's usual
/// model ([`Format::model_for`]); outcomes are read as the format's
/// [`Format::reading`] says. An empty file is a valid empty history.
pub fn check_history_file(
    path: &Path,
    model: Option<Model>,
    format: Option<Format>,
    bounds: &Bounds,
) -> Result<Results, CheckError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_error(path, e))?;
    let invalid = |message: String| CheckError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let (format, history) =
        crate::import::read_as(&text, format).map_err(|e| invalid(e.to_string()))?;
    let spec = Spec {
        model: model.unwrap_or_else(|| format.model_for(&history)),
        reading: format.reading(),
        initial: Value::Null,
    };
    let linearizable = crate::linear::check_spec(&history, &spec, bounds);
    Ok(Results::new(vec![linearizable, stats(&history, None, &[])]))
}

// ---- stats ------------------------------------------------------------------

/// The `stats` checker: always valid; availability (ok / client operations),
/// latency percentiles of ok operations per `f` (nanoseconds), event counts
/// by type, exchanges by fate, faults by kind.
pub fn stats(
    history: &[Event],
    log: Option<&MessageLog>,
    nemesis: &[NemesisRecord],
) -> CheckerResult {
    let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
    let mut open: BTreeMap<&Process, &Event> = BTreeMap::new();
    let mut latencies: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let (mut ops, mut ok) = (0u64, 0u64);
    for e in history {
        if e.process == Process::nemesis() {
            continue;
        }
        let kind = match e.kind {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        };
        *by_type.entry(kind).or_default() += 1;
        if e.kind == EventType::Invoke {
            ops += 1;
            open.insert(&e.process, e);
            continue;
        }
        let Some(invoke) = open.remove(&e.process) else {
            continue;
        };
        if e.kind == EventType::Ok {
            ok += 1;
            latencies
                .entry(invoke.f.as_str())
                .or_default()
                .push(e.time.saturating_sub(invoke.time));
        }
    }
    let latency: serde_json::Map<String, Value> = latencies
        .into_iter()
        .map(|(f, mut l)| {
            l.sort_unstable();
            (
                f.to_string(),
                json!({"count": l.len(), "p50": percentile(&l, 50), "p99": percentile(&l, 99)}),
            )
        })
        .collect();
    let mut fates: BTreeMap<String, u64> = BTreeMap::new();
    if let Some(log) = log {
        for m in log.msgs() {
            let name = serde_json::to_value(m.fate)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            *fates.entry(name).or_default() += 1;
        }
    }
    let mut faults: BTreeMap<&str, u64> = BTreeMap::new();
    for n in nemesis.iter().filter(|n| n.phase == FaultPhase::Start) {
        *faults.entry(n.fault.name()).or_default() += 1;
    }
    let mut result = CheckerResult::from_violations("stats", Vec::new());
    result.stats = json!({
        "operations": ops,
        "ok": ok,
        "availability": (ops > 0).then(|| ok as f64 / ops as f64),
        "latency-ns": latency,
        "events": by_type,
        "exchanges": log.map(|_| fates),
        "faults": faults,
    });
    result
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 99), Some(99));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[1, 2, 3], 50), Some(2));
    }

    #[test]
    fn stats_count_ops_and_latency() {
        let e = |index, time, process, kind, f: &str| Event {
            index,
            time,
            process: Process::Client(process),
            kind,
            f: f.into(),
            key: Some("x".into()),
            value: Value::Null,
            error: None,
        };
        let history = vec![
            e(0, 10, 1, EventType::Invoke, "propose"),
            e(1, 20, 2, EventType::Invoke, "read"),
            e(2, 40, 1, EventType::Ok, "propose"),
            e(3, 50, 2, EventType::Info, "read"),
        ];
        let s = stats(&history, None, &[]);
        assert_eq!(s.valid, Validity::Valid);
        assert_eq!(s.stats["operations"], json!(2));
        assert_eq!(s.stats["availability"], json!(0.5));
        assert_eq!(
            s.stats["latency-ns"]["propose"],
            json!({"count": 1, "p50": 30, "p99": 30})
        );
        assert_eq!(s.stats["events"]["info"], json!(1));
        assert_eq!(s.stats["exchanges"], Value::Null);
    }
}
