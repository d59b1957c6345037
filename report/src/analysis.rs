//! The figures every report shares, derived once from a loaded run:
//! operations, counts, fault intervals, fault effects, per-node faults,
//! warnings, the run's end and the first violation's time.

use std::collections::BTreeMap;

use ballot_core::protocol::NodeId;
use ballot_core::verdict::Violation;

use super::faults::{self, Effects, Interval, NodeFaults};
use super::load::Run;
use super::ops::{self, Counts, OpSpan};

/// Derived figures of one run.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// Operations in invocation order.
    pub ops: Vec<OpSpan>,
    /// Completions with no invocation.
    pub orphans: usize,
    /// Operation counts by outcome.
    pub counts: Counts,
    /// Fault intervals in start order.
    pub intervals: Vec<Interval>,
    /// Fault effects per link (client host, node).
    pub per_link: BTreeMap<(u64, NodeId), Effects>,
    /// Fault effects on all links.
    pub effects: Effects,
    /// Faults per node.
    pub per_node: BTreeMap<NodeId, NodeFaults>,
    /// Warnings a reader must not miss.
    pub warnings: Vec<String>,
    /// The last time recorded anywhere in the run (ns).
    pub end: u64,
    /// When the first violation's evidence begins, if there is a violation with times.
    pub focus: Option<u64>,
}

impl Analysis {
    /// Derives the figures of `run`.
    pub fn of(run: &Run) -> Analysis {
        let pairing = ops::pair(&run.history);
        let counts = ops::counts(&pairing.ops);
        let records = if run.nemesis.is_empty() {
            faults::records_from_history(&run.history)
        } else {
            run.nemesis.clone()
        };
        let intervals = faults::intervals(&records);
        let (per_link, effects) = faults::effects(&run.messages);
        let end = run_end(run);
        let per_node = faults::per_node(&intervals, &run.snapshots, end);
        let warnings = faults::warnings(&counts, &intervals, &effects);
        let focus = run
            .results
            .as_ref()
            .and_then(|r| r.first_violation())
            .and_then(violation_start);
        Analysis {
            ops: pairing.ops,
            orphans: pairing.orphans,
            counts,
            intervals,
            per_link,
            effects,
            per_node,
            warnings,
            end,
            focus,
        }
    }
}

/// The earliest time in a violation's evidence.
pub fn violation_start(v: &Violation) -> Option<u64> {
    let ops = v.ops.iter().map(|e| e.time);
    let messages = v.messages.iter().map(|m| m.sent);
    ops.chain(messages).min()
}

fn run_end(run: &Run) -> u64 {
    let history = run.history.iter().map(|e| e.time);
    let messages = run
        .messages
        .iter()
        .map(|m| m.replied.or(m.delivered).unwrap_or(m.sent).max(m.sent));
    let nemesis = run.nemesis.iter().map(|r| r.time);
    let snapshots = run.snapshots.iter().map(|s| s.time);
    history
        .chain(messages)
        .chain(nemesis)
        .chain(snapshots)
        .max()
        .unwrap_or(0)
}
