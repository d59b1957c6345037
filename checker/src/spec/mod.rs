//! The `acceptor-spec` check: every recorded reply of every acceptor is
//! explained by the acceptor specification, with state durable across
//! restarts. Pure: reads the run's records, no I/O.
//!
//! The specification is the pure acceptor of `ballot_core::acceptor` (the
//! rules of `docs/protocol.md`: Lamport, *Paxos Made Simple*, §2.2 and
//! §2.3), which also predicts the `400` a malformed request gets and the
//! `409` of a second learned value ([`sim`]). A node serves several
//! requests at once, so the check searches, per (node, key), for a
//! processing order real time allows in which the spec gives every
//! recorded reply and every state snapshot ([`order`], over the histories
//! [`steps`] builds). Keys are independent Paxos instances.
//!
//! Unlike the nine invariants, which each look for one shape of mistake,
//! this catches any acceptor deviation the records show: a reply the spec
//! would not give in any allowed order, or a snapshot (after a restart, or
//! at the end) holding a state the spec would not hold.
//!
//! # Verdict
//!
//! - **invalid**: some (node, key) history is explained by no order, every
//!   order real time allows having been tried. The violation names the
//!   first unexplained step and, as evidence, the exchanges that last set
//!   the promise, the accepted proposal and the learned value the step
//!   contradicts.
//! - **unknown**: no history was found unexplained, but the search budget
//!   ran out on some (an order may exist); never a false alarm.
//! - **valid**: every history is explained.
//!
//! A foreign node is held to the correct acceptor; our own node's bug flags
//! play no part here (replay uses them to reproduce a buggy run).

use std::sync::atomic::{AtomicUsize, Ordering};

use ballot_core::bugs::BugSet;
use ballot_core::protocol::InstanceState;
use ballot_core::records::{Exchange, NemesisRecord, Snapshot, SnapshotReason};
use ballot_core::verdict::{CheckerResult, Validity, Violation};
use serde_json::{json, Value};

pub mod order;
pub mod sim;
pub mod steps;

use order::{budget_for, find_order, stuck_state, Found, OrderStep, What};
use sim::{Recorded, Request};
use steps::{run_steps, RunSteps};

/// The checker's name in `results.json`.
pub const NAME: &str = "acceptor-spec";
/// The property its violations name.
pub const PROPERTY: &str = "acceptor-spec";
/// Where the specification comes from.
pub const SOURCE: &str = "docs/protocol.md, Rules and Durability (Lamport, Paxos Made Simple, \
                          2.2-2.3: an acceptor never answers against its promise or forgets \
                          what it acknowledged)";
/// How a violation whose first unexplained step is a state snapshot says so.
const NEXT_IS_SNAPSHOT: &str = "the next step could be the ";

/// Whether an `acceptor-spec` violation is shown by a state snapshot (what
/// a node held after a restart, or at the end) rather than by a reply: its
/// evidence is complete only when that snapshot was taken.
pub fn shown_by_snapshot(v: &Violation) -> bool {
    v.property == PROPERTY
        && v.explanation.contains(NEXT_IS_SNAPSHOT)
        && v.explanation.contains(" snapshot of node ")
}

/// At most this many violations are kept; all are counted.
pub const MAX_VIOLATIONS: usize = 20;

/// One (node, key) history the search could not settle.
#[derive(Clone, Debug)]
enum Finding {
    /// No order explains it: when its first unexplained step began, and the violation.
    Unexplained(u64, Violation),
    /// The budget ran out: (node, key, steps tried).
    OutOfBudget(u64, String, usize),
}

/// Checks a run's records against the acceptor specification.
pub fn check(
    messages: &[Exchange],
    nemesis: &[NemesisRecord],
    snapshots: &[Snapshot],
) -> CheckerResult {
    let run = run_steps(messages, nemesis, snapshots);
    let histories: Vec<(&(u64, String), &Vec<OrderStep>)> = run.by_key.iter().collect();
    let tried = AtomicUsize::new(0);
    let mut findings: Vec<(usize, Finding)> = crate::par::par_map(histories.len(), |h| {
        let ((node, key), steps) = histories[h];
        let found = find_order(
            steps,
            run.epochs(*node),
            key,
            BugSet::NONE,
            budget_for(steps.len()),
        );
        tried.fetch_add(found.tried, Ordering::Relaxed);
        let stuck = found.stuck.as_ref()?;
        Some(match stuck.exhausted {
            true => Finding::OutOfBudget(*node, key.clone(), found.tried),
            false => Finding::Unexplained(
                stuck.candidates.first().map_or(0, |c| steps[c.step].start),
                violation(messages, snapshots, &run, *node, key, steps, &found),
            ),
        })
    });
    findings.sort_by_key(|(h, _)| *h);
    let mut violations = Vec::new();
    let mut out_of_budget = Vec::new();
    for (_, f) in findings {
        match f {
            Finding::Unexplained(at, v) => violations.push((at, v)),
            Finding::OutOfBudget(node, key, tried) => out_of_budget.push((node, key, tried)),
        }
    }
    // Earliest first: the first deviation is usually the cause of the rest.
    violations.sort_by_key(|(at, _)| *at);
    let mut violations: Vec<Violation> = violations.into_iter().map(|(_, v)| v).collect();
    violations.extend(malformed_answers(messages, &run));
    let found = violations.len();
    violations.truncate(MAX_VIOLATIONS);
    let stats = json!({
        "histories": run.by_key.len(),
        "exchanges": run.by_key.values().map(|s| s.iter().filter(|s| matches!(s.what, What::Exchange { .. })).count()).sum::<usize>(),
        "steps_tried": tried.load(Ordering::Relaxed),
        "unexplained": found,
        "out_of_budget": out_of_budget.len(),
    });
    let (valid, reason) = match (found, out_of_budget.first()) {
        (0, None) => (Validity::Valid, None),
        (0, Some((node, key, tried))) => (
            Validity::Unknown,
            Some(format!(
                "the order search ran out of budget on {} (node, key) histor{} (first: node \
                 {node}, key {key:?}, {tried} steps tried); none of the others deviates from \
                 the acceptor specification",
                out_of_budget.len(),
                if out_of_budget.len() == 1 { "y" } else { "ies" },
            )),
        ),
        _ => (Validity::Invalid, None),
    };
    CheckerResult {
        name: NAME.to_string(),
        valid,
        reason,
        violations,
        stats,
    }
}

/// A protocol request the node must reject with `400` (malformed) that got
/// another answer below `500`.
fn malformed_answers(messages: &[Exchange], run: &RunSteps) -> Vec<Violation> {
    run.alone
        .iter()
        .filter_map(|&i| {
            let ex = &messages[i];
            let request = Request::of(ex);
            let status = ex.status?;
            (request == Request::Invalid && status != 400 && status < 500).then(|| Violation {
                property: PROPERTY.to_string(),
                source: "docs/protocol.md, Values and Errors: a malformed request is a 400"
                    .to_string(),
                key: None,
                explanation: format!(
                    "Exchange {} sent node {} a malformed {} request ({}); the node answered \
                     {status}, where the protocol says 400 and no change of state.",
                    ex.id, ex.to, ex.path, ex.request
                ),
                ops: Vec::new(),
                messages: vec![ex.clone()],
            })
        })
        .collect()
}

/// The violation for one unexplained (node, key) history.
fn violation(
    messages: &[Exchange],
    snapshots: &[Snapshot],
    run: &RunSteps,
    node: u64,
    key: &str,
    steps: &[OrderStep],
    found: &Found,
) -> Violation {
    let stuck = found.stuck.as_ref().expect("stuck");
    let (state, setters) =
        stuck_state(steps, found, key, BugSet::NONE).unwrap_or((InstanceState::default(), vec![]));
    let exchange_of = |p: usize| match &steps[p].what {
        What::Exchange { index, .. } => Some(*index),
        What::Read { .. } => None,
    };
    let step_name = |p: usize| match &steps[p].what {
        What::Exchange { index, .. } => format!("exchange {}", messages[*index].id),
        What::Read { snapshot, .. } => snapshot_name(&snapshots[*snapshot]),
    };
    let after = match stuck.after {
        Some(p) => format!("after {}", step_name(p)),
        None => "from the start".to_string(),
    };
    let restarts = run.epochs(node) - 1;
    let epoch = match (stuck.epoch, restarts) {
        (_, 0) => String::new(),
        (0, _) => " (before its first restart)".to_string(),
        (e, _) => format!(" (after restart {e} of {restarts})"),
    };
    let describe = |c: &order::Candidate| match &steps[c.step].what {
        What::Exchange {
            index, recorded, ..
        } => {
            let ex = &messages[*index];
            format!(
                "exchange {} ({} {}) was answered {}, where the spec answers {}",
                ex.id,
                ex.path,
                compact(&ex.request),
                recorded_text(ex, recorded),
                reply_text(&c.simulated)
            )
        }
        What::Read { snapshot, state } => format!(
            "the {} holds {}, where the spec holds {}",
            snapshot_name(&snapshots[*snapshot]),
            compact(&json!(state)),
            compact(&c.simulated)
        ),
    };
    // The earliest step that could come next, in full; the others by name.
    let next = stuck.candidates.first().map_or_else(
        || "no step could come next".to_string(),
        |c| match steps[c.step].what {
            What::Read { .. } => format!("{NEXT_IS_SNAPSHOT}{}", describe(c)),
            What::Exchange { .. } => format!("the next step could be {}", describe(c)),
        },
    );
    let others: Vec<String> = stuck
        .candidates
        .iter()
        .skip(1)
        .map(|c| step_name(c.step))
        .collect();
    let others = match others.len() {
        0 => String::new(),
        _ => format!(
            "; nor does any other step that could come next ({}) fit",
            others.join(", ")
        ),
    };
    let set_by: Vec<String> = setters.iter().map(|&p| step_name(p)).collect();
    let explanation = format!(
        "No order of node {node}'s exchanges on key {key:?} that real time allows is \
         explained by the acceptor specification{epoch}: {after}, the spec's state is {}{}, \
         and {next}{others}.",
        compact(&json!(state)),
        match set_by.is_empty() {
            true => String::new(),
            false => format!(" (set by {})", set_by.join(", ")),
        },
    );
    let mut handles: Vec<usize> = setters.iter().filter_map(|&p| exchange_of(p)).collect();
    handles.extend(stuck.candidates.first().and_then(|c| exchange_of(c.step)));
    handles.sort_by_key(|&i| messages[i].id);
    handles.dedup();
    Violation {
        property: PROPERTY.to_string(),
        source: SOURCE.to_string(),
        key: Some(key.to_string()),
        explanation,
        ops: Vec::new(),
        messages: handles.into_iter().map(|i| messages[i].clone()).collect(),
    }
}

/// "the restart snapshot of node 1 at 3.210 s".
fn snapshot_name(s: &Snapshot) -> String {
    format!(
        "{} snapshot of node {} at {:.3} s",
        match s.reason {
            SnapshotReason::Restart => "restart",
            SnapshotReason::Final => "final",
        },
        s.node,
        s.time as f64 / 1e9
    )
}

/// A recorded answer for people: `200 {...}`.
fn recorded_text(ex: &Exchange, recorded: &Recorded) -> String {
    match (recorded, &ex.response) {
        (Recorded::Nothing, _) => "nothing".to_string(),
        (_, Some(body)) => format!("{} {}", ex.status.unwrap_or(0), compact(body)),
        (_, None) => format!("{}", ex.status.unwrap_or(0)),
    }
}

/// A simulated reply for people: `200 {...}`, or `409`.
fn reply_text(simulated: &Value) -> String {
    match (simulated.get("status"), simulated.get("response")) {
        (Some(status), Some(body)) => format!("{status} {}", compact(body)),
        (Some(status), None) => status.to_string(),
        _ => compact(simulated),
    }
}

/// JSON on one line.
fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

#[cfg(test)]
mod tests;
