//! Linearizability checkers: is there a total order of the operations,
//! consistent with real time, that the model's sequential specification
//! accepts?
//!
//! The check is P-compositional (Herlihy & Wing: a history is linearizable
//! iff each object's sub-history is), so ops are partitioned by `key` (ops
//! without a key form one partition) and keys are checked in parallel on a
//! shared work queue, biggest first. Each key is checked by:
//!
//! - the write-once fast path (`write_once`) for the `write-once` model:
//!   exact and linear time;
//! - the general search (`search`) for every other model (and for
//!   write-once on request, to cross-check the fast path).
//!
//! Semantics of outcomes are in [`crate::models`]. The verdict is invalid if
//! any key is, else unknown if any key hit a bound (time, cache entries) or
//! does not fit the model, else valid. With the general search, the first
//! violation found stops the other keys' searches (as Porcupine does): the
//! verdict is the same, but when several keys are invalid, which of them are
//! reported may vary from run to run. The fast path checks every key.

mod search;
mod write_once;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::history::{self, HistoryOp, OpType};
use crate::models::{Machine, Model, Reading, Spec};
use ballot_core::records::Event;
use ballot_core::verdict::{CheckerResult, Validity, Violation};

use search::{Deepest, Limits, SearchOp};
use write_once::KeyOp;

/// The checker's name in `results.json`.
pub const NAME: &str = "linearizable";

/// At most this many violations (one per key, in key order) are reported.
pub const MAX_VIOLATIONS: usize = 10;

/// Limits on the general search; hitting one gives `valid: "unknown"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Wall-clock time for the whole check.
    pub time: Duration,
    /// Visited configurations that all concurrently running key searches
    /// may remember together; each costs about 16-40 bytes.
    pub max_cache_entries: usize,
}

impl Default for Bounds {
    /// 30 s and 8 million cache entries (at most about 400 MiB).
    fn default() -> Self {
        Bounds {
            time: Duration::from_secs(30),
            max_cache_entries: 8_000_000,
        }
    }
}

/// Checks `events` (a whole history) against `model`, per key.
pub fn check(events: &[Event], model: Model, bounds: &Bounds) -> CheckerResult {
    run(events, &Spec::from(model), bounds, Method::Auto)
}

/// Like [`check`], with the reading of outcomes and the initial value
/// `spec` gives (Knossos's reading for Jepsen EDN histories).
pub fn check_spec(events: &[Event], spec: &Spec, bounds: &Bounds) -> CheckerResult {
    run(events, spec, bounds, Method::Auto)
}

/// Like [`check`], but always with the general search, even for the
/// write-once model (to cross-check the fast path).
pub fn check_by_search(events: &[Event], model: Model, bounds: &Bounds) -> CheckerResult {
    run(events, &Spec::from(model), bounds, Method::Search)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Auto,
    Search,
}

/// The answer for one key.
enum KeyVerdict {
    Valid,
    Invalid(Box<Violation>),
    Unknown(String),
    /// Not checked: another key was already found invalid.
    Skipped,
}

/// The ops of one key: the key and the positions of its ops in `ops`.
type Partition<'a> = (Option<&'a str>, Vec<usize>);

fn run(events: &[Event], spec: &Spec, bounds: &Bounds, method: Method) -> CheckerResult {
    let model = spec.model;
    let ops = match history::pair(events) {
        Ok(ops) => ops,
        Err(e) => {
            return CheckerResult {
                name: NAME.into(),
                valid: Validity::Unknown,
                reason: Some(format!("malformed history: {e}")),
                violations: Vec::new(),
                stats: json!({ "model": model.name() }),
            }
        }
    };
    let keys = partition(&ops, events);
    let fast = model == Model::WriteOnce && method == Method::Auto;
    let verdicts = check_keys(&keys, &ops, events, spec, fast, bounds);
    let mut result = assemble(&keys, verdicts);
    let count = |o: OpType| ops.iter().filter(|op| op.outcome == o).count();
    let stats = result
        .stats
        .as_object_mut()
        .expect("assemble makes an object");
    for (name, value) in [
        ("model", json!(model.name())),
        (
            "method",
            json!(if fast {
                "write-once fast path"
            } else {
                "search"
            }),
        ),
        ("ops", json!(ops.len())),
        ("ok", json!(count(OpType::Ok))),
        ("failed", json!(count(OpType::Fail))),
        ("indeterminate", json!(count(OpType::Info))),
    ] {
        stats.insert(name.into(), value);
    }
    if spec.reading == Reading::Knossos {
        stats.insert("reading".into(), json!("knossos"));
    }
    if !spec.initial.is_null() {
        stats.insert("initial".into(), spec.initial.clone());
    }
    result
}

/// Groups ops by key (P-compositionality), in key order.
fn partition<'a>(ops: &[HistoryOp], events: &'a [Event]) -> Vec<Partition<'a>> {
    let mut groups: HashMap<Option<&str>, Vec<usize>> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        groups.entry(op.key(events)).or_default().push(i);
    }
    let mut keys: Vec<Partition> = groups.into_iter().collect();
    keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    keys
}

/// Checks every key on `available_parallelism()` threads sharing a work
/// queue (biggest keys first); `None` for a key no thread reached.
fn check_keys(
    keys: &[Partition],
    ops: &[HistoryOp],
    events: &[Event],
    spec: &Spec,
    fast: bool,
    bounds: &Bounds,
) -> Vec<Option<KeyVerdict>> {
    let mut queue: Vec<usize> = (0..keys.len()).collect();
    queue.sort_by_key(|&k| std::cmp::Reverse(keys[k].1.len()));
    let used = AtomicUsize::new(0);
    let cancel = AtomicBool::new(false);
    let limits = Limits {
        deadline: Instant::now() + bounds.time,
        time: bounds.time,
        max_entries: bounds.max_cache_entries,
        used: &used,
        cancel: &cancel,
    };
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let slot = next.fetch_add(1, Ordering::Relaxed);
            let Some(&k) = queue.get(slot) else { break };
            let (key, members) = &keys[k];
            if cancel.load(Ordering::Relaxed) {
                done.push((k, KeyVerdict::Skipped));
                continue;
            }
            let verdict = catch_unwind(AssertUnwindSafe(|| {
                check_key(*key, members, ops, events, spec, fast, &limits)
            }))
            .unwrap_or_else(|_| {
                KeyVerdict::Unknown(format!(
                    "{}: internal error: the checker panicked (please report this history)",
                    key_name(*key)
                ))
            });
            // A violation settles the verdict: stop the other searches
            // (the fast path is cheap and deterministic, so it checks every key).
            if !fast && matches!(verdict, KeyVerdict::Invalid(_)) {
                cancel.store(true, Ordering::Relaxed);
            }
            done.push((k, verdict));
        }
        done
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(keys.len())
        .max(1);
    let finished: Vec<(usize, KeyVerdict)> = if threads == 1 {
        work()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    let mut verdicts: Vec<Option<KeyVerdict>> = (0..keys.len()).map(|_| None).collect();
    for (k, v) in finished {
        verdicts[k] = Some(v);
    }
    verdicts
}

/// Combines the keys' answers: invalid if any key is (violations in key
/// order, at most [`MAX_VIOLATIONS`]), else unknown if any key is, else valid.
fn assemble(keys: &[Partition], verdicts: Vec<Option<KeyVerdict>>) -> CheckerResult {
    let mut violations = Vec::new();
    let mut invalid_keys = 0;
    let mut skipped = 0;
    let mut unknown = Vec::new();
    for (k, verdict) in verdicts.into_iter().enumerate() {
        match verdict {
            Some(KeyVerdict::Valid) => {}
            Some(KeyVerdict::Invalid(v)) => {
                invalid_keys += 1;
                if violations.len() < MAX_VIOLATIONS {
                    violations.push(*v);
                }
            }
            Some(KeyVerdict::Unknown(why)) => unknown.push(why),
            Some(KeyVerdict::Skipped) => skipped += 1,
            None => unknown.push(format!("{}: not checked", key_name(keys[k].0))),
        }
    }
    let mut result = CheckerResult::from_violations(NAME, violations);
    result.stats = json!({
        "keys": keys.len(),
        "invalid_keys": invalid_keys,
        "unknown_keys": unknown.len(),
        "unchecked_keys": skipped,
    });
    if result.valid == Validity::Valid && !unknown.is_empty() {
        result.valid = Validity::Unknown;
        let shown: Vec<&str> = unknown.iter().take(3).map(String::as_str).collect();
        let more = if unknown.len() > 3 {
            format!("; and {} more", unknown.len() - 3)
        } else {
            String::new()
        };
        result.reason = Some(format!(
            "{} of {} keys undecided: {}{more}",
            unknown.len(),
            keys.len(),
            shown.join("; ")
        ));
    }
    result
}

/// `key "x"`, or `the history` for ops without a key.
fn key_name(key: Option<&str>) -> String {
    match key {
        Some(k) => format!("key {k:?}"),
        None => "the history".into(),
    }
}

/// Checks the ops of one key.
fn check_key(
    key: Option<&str>,
    members: &[usize],
    ops: &[HistoryOp],
    events: &[Event],
    spec: &Spec,
    fast: bool,
    limits: &Limits,
) -> KeyVerdict {
    let model = spec.model;
    let mut machine = Machine::for_spec(spec);
    let all: Vec<&HistoryOp> = members.iter().map(|&i| &ops[i]).collect();
    let mut compiled: Vec<KeyOp> = Vec::with_capacity(all.len());
    for op in &all {
        match machine.compile(op, events) {
            Ok(Some(step)) => compiled.push(KeyOp { op, step }),
            Ok(None) => {}
            Err(e) => {
                return KeyVerdict::Unknown(format!(
                    "{}: cannot be checked with the {model} model: {e}",
                    key_name(key)
                ))
            }
        }
    }
    if fast {
        return match write_once::check_key(key, &machine, events, &all, &compiled) {
            Ok(()) => KeyVerdict::Valid,
            Err(v) => KeyVerdict::Invalid(v),
        };
    }
    let search_ops: Vec<SearchOp> = compiled
        .iter()
        .map(|k| SearchOp {
            step: k.step,
            call: k.op.invoke_time,
            ret: k.op.return_time,
        })
        .collect();
    match search::search(&mut machine, &search_ops, limits) {
        search::Outcome::Linearizable => KeyVerdict::Valid,
        search::Outcome::Cancelled => KeyVerdict::Skipped,
        search::Outcome::GaveUp { timeout, visited } => {
            let bound = if timeout {
                format!("the time bound of {:?} was reached", limits.time)
            } else {
                format!(
                    "the cache bound of {} entries was reached",
                    limits.max_entries
                )
            };
            KeyVerdict::Unknown(format!(
                "{}: {bound} after {visited} configurations ({} ops)",
                key_name(key),
                compiled.len()
            ))
        }
        search::Outcome::NotLinearizable(deepest) => {
            KeyVerdict::Invalid(search_violation(key, &machine, events, &compiled, &deepest))
        }
    }
}

/// The violation for a key the search could not linearize: the end of the
/// longest linearizable prefix it found, and the op that could not follow.
fn search_violation(
    key: Option<&str>,
    machine: &Machine,
    events: &[Event],
    compiled: &[KeyOp],
    deepest: &Deepest,
) -> Box<Violation> {
    let model = machine.model();
    let mut evidence: Vec<Event> = Vec::new();
    for &i in &deepest.tail {
        evidence.extend(compiled[i].op.events(events));
    }
    let intro = format!(
        "No order of the {} operations on {} is consistent with the {model} model and with real time.",
        compiled.len(),
        key_name(key)
    );
    let prefix = match deepest.depth {
        0 => "Nothing can take effect first".to_string(),
        d if d == deepest.tail.len() => format!(
            "The longest consistent order found places {d} operation{} (shown in that order), after which {}",
            if d == 1 { "" } else { "s" },
            machine.held(deepest.state)
        ),
        d => format!(
            "The longest consistent order found places {d} operations (the last {} are shown, in that order), after which {}",
            deepest.tail.len(),
            machine.held(deepest.state)
        ),
    };
    let stuck = match deepest.blocker {
        Some(b) => {
            evidence.extend(compiled[b].op.events(events));
            let mut scratch = machine.clone();
            let why = if scratch.step(deepest.state, &compiled[b].step).is_none() {
                machine.why_illegal(deepest.state, &compiled[b].step)
            } else {
                "every order that continues with it fails later".into()
            };
            format!(
                "{prefix}. Next, {} must take effect (it completed before any other remaining operation could be placed), but {why}.",
                describe_call(events, compiled[b].op)
            )
        }
        None => format!("{prefix}."),
    };
    Box::new(Violation {
        property: NAME.into(),
        source: "Herlihy & Wing 1990, linearizability (search: Wing & Gong 1993, Lowe 2017, as in Porcupine)".into(),
        key: key.map(str::to_string),
        explanation: format!("{intro} {stuck}"),
        ops: evidence,
        messages: Vec::new(),
    })
}

/// An op's call in words, e.g. `process 3's propose of "3-17" (lines 1-6)`.
pub(crate) fn describe_call(events: &[Event], op: &HistoryOp) -> String {
    let f = op.f(events);
    let input = op.input(events);
    let lines = match (op.completion, op.outcome) {
        (Some(c), OpType::Info) => format!("lines {}-{}, indeterminate", op.invoke + 1, c + 1),
        (Some(c), OpType::Fail) => format!("lines {}-{}, failed", op.invoke + 1, c + 1),
        (Some(c), OpType::Ok) => format!("lines {}-{}", op.invoke + 1, c + 1),
        (None, _) => format!("line {}, never completed", op.invoke + 1),
    };
    if input.is_null() {
        format!("process {}'s {f} ({lines})", op.process)
    } else {
        format!("process {}'s {f} of {input} ({lines})", op.process)
    }
}
