//! Only a value some client proposed is ever accepted.
//!
//! Source: Lamport, *Paxos Made Simple*, §2.1 (safety: "only a value that
//! has been proposed may be chosen"); TLA+ `Consensus`: nontriviality.
//!
//! Every value in an acked accept, and every accepted proposal in a state
//! snapshot, must be the `value` of a `propose` invocation for the same key
//! in the history. Histories without any `propose` (other workloads) are
//! not checked.

use std::collections::HashSet;

use super::{Evidence, Property, Sink};
use crate::messages::{KeyId, Kind, ValueId};
use ballot_core::records::EventType;
use ballot_core::verdict::Violation;

/// Stable name of the property.
pub const PROPERTY: &str = "accepted-value-proposed";
/// Where it comes from.
pub const SOURCE: &str = "Lamport, Paxos Made Simple, §2.1 (only a value that has been proposed \
                          may be chosen); TLA+ Consensus, nontriviality";

/// Every (key, value) accepted but never proposed.
pub fn check(ev: &Evidence<'_>) -> Vec<Violation> {
    Property::AcceptedValueProposed.check(ev)
}

/// True when some ack in the log accepted `value` for `key`.
fn acked(ev: &Evidence<'_>, key: KeyId, value: ValueId) -> bool {
    ev.log.by_key(key).iter().any(|&i| {
        let m = ev.log.msg(i);
        m.kind == Kind::Accept && m.ack() && m.value() == Some(value)
    })
}

/// One violation per (key, value) acked but never proposed: its first ack
/// (by id).
pub fn check_key(ev: &Evidence<'_>, key: KeyId, sink: &mut Sink) {
    let mut first: Vec<(ValueId, u64, u32)> = Vec::new();
    for &i in ev.log.by_key(key) {
        let m = ev.log.msg(i);
        if m.kind != Kind::Accept || !m.ack() {
            continue;
        }
        let v = m.value().expect("accept");
        if ev.proposed(key, v) != Some(false) {
            continue;
        }
        match first.iter_mut().find(|f| f.0 == v) {
            Some(f) if (m.id, i) < (f.1, f.2) => *f = (v, m.id, i),
            Some(_) => {}
            None => first.push((v, m.id, i)),
        }
    }
    first.sort_unstable();
    for (v, _, i) in first {
        sink.report(|| {
            let m = ev.log.msg(i);
            let explanation = format!(
                "Node {} acked accept({}, {}) (exchange {}), but no client ever proposed {} for \
                 this key. Paxos may only choose a value some proposer proposed.",
                m.to(),
                ev.b(m.ballot().expect("accept")),
                ev.quote(v),
                m.id,
                ev.quote(v),
            );
            ev.violation(
                Property::AcceptedValueProposed,
                Some(ev.log.key_name(key)),
                explanation,
                [i],
                Vec::new(),
            )
        });
    }
}

/// One violation per (key, value) held as accepted in a snapshot, never
/// proposed, and not already shown by an ack.
pub fn check_global(ev: &Evidence<'_>, sink: &mut Sink) {
    let proposed: HashSet<(&str, &str)> = ev
        .history
        .iter()
        .filter(|e| e.kind == EventType::Invoke && e.f == "propose")
        .filter_map(|e| Some((e.key.as_deref()?, e.value.as_str()?)))
        .collect();
    if proposed.is_empty() {
        return;
    }
    let mut flagged: HashSet<(&str, &str)> = HashSet::new();
    for s in ev.snapshots {
        for (key, state) in &s.state.instances {
            let Some(acc) = &state.accepted else {
                continue;
            };
            let pair = (key.as_str(), acc.value.as_str());
            if proposed.contains(&pair) || !flagged.insert(pair) {
                continue;
            }
            let ids = ev.log.key_id(key).zip(ev.log.value_id(&acc.value));
            if ids.is_some_and(|(k, v)| acked(ev, k, v)) {
                continue;
            }
            sink.report(|| {
                let explanation = format!(
                    "Node {}'s state at time {} holds accepted proposal ({}, {:?}), but no \
                     client ever proposed {:?} for this key. Paxos may only choose a value some \
                     proposer proposed.",
                    s.node, s.time, acc.ballot, acc.value, acc.value,
                );
                ev.violation(
                    Property::AcceptedValueProposed,
                    Some(key),
                    explanation,
                    [],
                    Vec::new(),
                )
            });
        }
    }
}
