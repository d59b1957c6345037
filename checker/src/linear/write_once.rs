//! The write-once fast path: an exact, linear-time linearizability check for
//! one key of the write-once model (our Paxos histories).
//!
//! # The condition, derived
//!
//! Sequentially, the register is empty until the first propose that takes
//! effect, which chooses its own value `c`; after that every propose and
//! every read returns `c`. Let `V` be the values returned by ok ops (an ok
//! propose always returns a value; an ok read returns a value or nothing).
//!
//! 1. An ok propose that returned nothing is illegal: a propose leaves a
//!    value chosen.
//! 2. If `V` is empty, every ok op is a read of nothing: linearize them all
//!    first and let every indeterminate propose happen at the end (or
//!    never). Linearizable.
//! 3. If `V` holds two values, no order works: the register holds one
//!    value forever.
//! 4. If `V = {c}`, the first effective propose must be a propose `P` of `c`
//!    that is ok or info (a failed propose had no effect), at a point `t`
//!    inside `P`'s interval. Every read of nothing must fit before `t`, and
//!    every op that returned `c` after `t`. Points lie strictly inside
//!    intervals, so this works iff
//!    `max(inv(P), inv(r) for reads r of nothing) < t < min(ret(o) for ok ops o returning c)`,
//!    (`ret(P)` itself is in the min when `P` is ok; an info `P` ends at
//!    +infinity). Everything else fits around `t`: other proposes and reads
//!    of `c` go just after `max(t, their invocation)`, other info proposes
//!    change nothing after `t`. Picking `P` with the earliest invocation
//!    makes the left side smallest, so the key is linearizable iff
//!    `max(min inv(P of c), max inv(read of nothing)) < min ret(ok op returning c)`.
//!
//! "<" between an invocation at time `a` and a completion at time `b` holds
//! iff `a <= b`: the search orders calls before returns on equal times, so
//! touching intervals count as concurrent, and the two paths agree (the
//! tests cross-check them on random histories).

use std::collections::HashMap;

use crate::history::HistoryOp;
use crate::models::{CompiledOp, Machine};
use ballot_core::records::Event;
use ballot_core::verdict::Violation;

use super::describe_call;

/// Source cited for the real-time rule.
const REAL_TIME: &str = "Herlihy & Wing 1990, linearizability: an operation takes effect between its invocation and its completion";

/// One compiled op of the key: the history op and its step.
pub(crate) struct KeyOp<'a> {
    /// The history op.
    pub op: &'a HistoryOp,
    /// Its step (failed proposes and reads, info reads are not here).
    pub step: CompiledOp,
}

/// Checks one key; `Err` carries the violation.
///
/// `all_ops` are every op of the key (failed ones included, for evidence);
/// `ops` the compiled ones.
pub(crate) fn check_key(
    key: Option<&str>,
    machine: &Machine,
    events: &[Event],
    all_ops: &[&HistoryOp],
    ops: &[KeyOp],
) -> Result<(), Box<Violation>> {
    let show = |op: &HistoryOp| describe_call(events, op);
    let value = |id: u32| machine.describe(id);
    let violation = |property: &str, source: &str, explanation: String, evidence: &[&HistoryOp]| {
        let mut ops: Vec<Event> = Vec::new();
        for op in evidence {
            ops.extend(op.events(events));
        }
        Box::new(Violation {
            property: property.into(),
            source: source.into(),
            key: key.map(str::to_string),
            explanation,
            ops,
            messages: Vec::new(),
        })
    };

    // Rule 1 and the returned values: for each value, the earliest-ending op returning it.
    let mut first_return: HashMap<u32, &HistoryOp> = HashMap::new();
    for k in ops {
        let out = match k.step {
            CompiledOp::Propose { out: 0, .. } => {
                return Err(violation(
                    "propose-returns-value",
                    "write-once register: a propose leaves a value chosen and returns it",
                    format!(
                        "{} completed ok but returned no value. Once a propose takes effect a value is chosen, so it must return that value.",
                        show(k.op)
                    ),
                    &[k.op],
                ))
            }
            CompiledOp::Propose { out, .. } | CompiledOp::Read { out } if out != 0 => out,
            _ => continue,
        };
        let slot = first_return.entry(out).or_insert(k.op);
        if ends_before(k.op, slot) {
            *slot = k.op;
        }
    }
    // Rule 2.
    if first_return.is_empty() {
        return Ok(());
    }
    // Rule 3: two values. Show the op that returned a value first, and the
    // first op that returned another one.
    let mut by_end: Vec<(u32, &HistoryOp)> = first_return.iter().map(|(&v, &o)| (v, o)).collect();
    by_end.sort_by_key(|(_, o)| (o.return_time, o.invoke));
    if by_end.len() > 1 {
        let (a, b) = (by_end[0].1, by_end[1].1);
        return Err(violation(
            "single-value",
            "Lamport, Paxos Made Simple, 2.1: only a single value is chosen",
            format!(
                "{} returned {} but {} returned {}. A write-once register holds one value forever, so every operation that returns a value must return the same one.",
                show(a),
                value(by_end[0].0),
                show(b),
                value(by_end[1].0)
            ),
            &[a, b],
        ));
    }
    // Rule 4.
    let (c, first) = by_end[0];
    let proposer = ops
        .iter()
        .filter(|k| matches!(k.step, CompiledOp::Propose { v, .. } | CompiledOp::ProposeMaybe { v } if v == c))
        .map(|k| k.op)
        .min_by_key(|o| (o.invoke_time, o.invoke));
    let Some(proposer) = proposer else {
        let failed: Vec<&HistoryOp> = all_ops
            .iter()
            .filter(|o| {
                o.outcome == crate::history::OpType::Fail
                    && o.f(events) == "propose"
                    && o.input(events) == machine.value(c)
            })
            .take(3)
            .copied()
            .collect();
        let mut evidence = vec![first];
        evidence.extend(&failed);
        let why = match failed.len() {
            0 => "but no operation proposed it".to_string(),
            1 => format!(
                "but the only propose of it, {}, failed, so it had no effect",
                show(failed[0])
            ),
            _ => format!(
                "but every propose of it failed (e.g. {}), so none had an effect",
                show(failed[0])
            ),
        };
        return Err(violation(
            "value-was-proposed",
            "Lamport, Paxos Made Simple, 2.1: only a value that has been proposed may be chosen",
            format!(
                "{} returned {}, {why}. A chosen value must come from a propose that took effect (ok or indeterminate).",
                show(first),
                value(c)
            ),
            &evidence,
        ));
    };
    // `first` has the minimal return time among ops returning c.
    let bound = first.return_time.unwrap_or(u64::MAX);
    if proposer.invoke_time > bound {
        return Err(violation(
            "real-time-order",
            REAL_TIME,
            format!(
                "{} returned {} before anyone proposed it: the first propose of it, {}, began only after that. A value can only be returned once a propose of it has begun.",
                show(first),
                value(c),
                show(proposer)
            ),
            &[first, proposer],
        ));
    }
    let late_empty_read = ops
        .iter()
        .filter(|k| matches!(k.step, CompiledOp::Read { out: 0 }))
        .map(|k| k.op)
        .filter(|o| o.invoke_time > bound)
        .min_by_key(|o| (o.invoke_time, o.invoke));
    if let Some(read) = late_empty_read {
        return Err(violation(
            "real-time-order",
            REAL_TIME,
            format!(
                "{} returned no value, but it began after {} had returned {}. Once an operation has returned the chosen value, every later read must return it too.",
                show(read),
                show(first),
                value(c)
            ),
            &[first, read],
        ));
    }
    Ok(())
}

/// Whether `a` completed before `b` (ties broken by invocation line).
fn ends_before(a: &HistoryOp, b: &HistoryOp) -> bool {
    (a.return_time, a.invoke) < (b.return_time, b.invoke)
}
