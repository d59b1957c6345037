//! Learners learn only the chosen value, and agree on it.
//!
//! Source: Lamport, *Paxos Made Simple*, §2.1 (safety: "a process never
//! learns that a value has been chosen unless it actually has been") and
//! §2.3 (Learning a Chosen Value); TLA+ `Consensus`: a learned value is in
//! `chosen`.
//!
//! # The check
//!
//! Evidence that acceptor j accepted (b, v) by time t: j acked accept (b, v)
//! with `replied <= t`, or j reported (b, v) as accepted in a prepare reply
//! with `replied <= t` (see [`super::SeenChosen`]). A value is chosen by t
//! when a majority of distinct acceptors show evidence for one (b, v) by t.
//! Then:
//! 1. every learn request carries a value chosen no later than it was sent;
//! 2. the `learned` values in all state snapshots agree per key, and each
//!    was chosen no later than its snapshot's answer was read (`replied`:
//!    the node may have learned it while the state request was on its
//!    way; a snapshot without `replied` only shows the value was chosen
//!    at some time);
//! 3. every `ok` propose or read in the history that returned a value
//!    returned one chosen no later than the op completed.

use std::collections::{BTreeMap, HashMap};

use ballot_core::protocol::NodeId;

use super::{capitalised, proposer_name, Evidence, Property, Sink};
use crate::messages::{KeyId, Kind, ValueId};
use ballot_core::records::{EventType, Process};
use ballot_core::verdict::Violation;

/// Stable name of the property.
pub const PROPERTY: &str = "learners-agree";
/// Where it comes from.
pub const SOURCE: &str = "Lamport, Paxos Made Simple, §2.1 (a process never learns that a value \
                          has been chosen unless it actually has been) and §2.3";

/// Every learn request, learned value and returned value that was not chosen.
pub fn check(ev: &Evidence<'_>) -> Vec<Violation> {
    Property::LearnersAgree.check(ev)
}

/// What was chosen for a key, for explanations about `value` at `time`:
/// whether it was chosen only later, or what was chosen instead.
fn chosen_text(ev: &Evidence<'_>, key: Option<KeyId>, value: Option<ValueId>, time: u64) -> String {
    let Some(key) = key else {
        return "no value was chosen for this key".to_string();
    };
    let later = ev
        .seen_chosen(key)
        .iter()
        .find(|s| Some(s.value) == value && s.at > time);
    if let Some(s) = later {
        return format!(
            "{} was chosen only later (a majority had accepted it at ballot {} by time {})",
            ev.quote(s.value),
            ev.b(s.ballot),
            s.at
        );
    }
    match ev.chosen(key) {
        [] => "no value was chosen for this key".to_string(),
        [c, ..] => format!(
            "the chosen value is {} (ballot {}, accepted by {})",
            ev.quote(c.value),
            ev.b(c.ballot),
            ev.nodes_of(&c.acks)
        ),
    }
}

/// The learn requests for `key` sent before their value was chosen, by
/// send time.
fn early_learns(ev: &Evidence<'_>, key: KeyId) -> Vec<(u64, u64, u32)> {
    let mut learns: Vec<(u64, u64, u32)> = ev
        .log
        .by_key(key)
        .iter()
        .filter_map(|&i| {
            let m = ev.log.msg(i);
            let early =
                m.kind == Kind::Learn && !ev.chosen_by(key, m.value().expect("learn"), m.sent);
            early.then_some((m.sent, m.id, i))
        })
        .collect();
    learns.sort_unstable();
    learns
}

/// Part 1: one violation per (key, value) carried by a learn request sent
/// before the value was chosen: the first such request, with the acks its
/// own proposal had by then.
pub fn check_key(ev: &Evidence<'_>, key: KeyId, sink: &mut Sink) {
    let mut flagged: Vec<ValueId> = Vec::new();
    for (sent, _, i) in early_learns(ev, key) {
        let m = ev.log.msg(i);
        let (b, v) = (m.ballot().expect("learn"), m.value().expect("learn"));
        if flagged.contains(&v) {
            continue;
        }
        flagged.push(v);
        sink.report(|| {
            let acks: Vec<u32> = ev
                .log
                .by_key(key)
                .iter()
                .copied()
                .filter(|&a| {
                    let am = ev.log.msg(a);
                    am.kind == Kind::Accept
                        && am.ack()
                        && am.ballot() == Some(b)
                        && am.value() == Some(v)
                        && am.replied().is_some_and(|r| r <= sent)
                })
                .collect();
            let explanation = format!(
                "{} told node {} that {} was chosen at ballot {} (exchange {}), but by then \
                 only {} had accepted that proposal, fewer than a majority of {}; {}. A learner \
                 may only learn a value once a majority accepted it.",
                capitalised(&proposer_name(ev.log, m)),
                m.to(),
                ev.quote(v),
                ev.b(b),
                m.id,
                ev.nodes_of(&acks),
                ev.majority(),
                chosen_text(ev, Some(key), Some(v), sent),
            );
            ev.violation(
                Property::LearnersAgree,
                Some(ev.log.key_name(key)),
                explanation,
                acks.into_iter().chain([i]),
                Vec::new(),
            )
        });
    }
}

/// Parts 2 and 3: snapshots' learned values and returned values.
pub fn check_global(ev: &Evidence<'_>, sink: &mut Sink) {
    snapshots(ev, sink);
    returned_values(ev, sink);
}

/// When a snapshot's answer had been read, for explanations.
fn read_by(time: u64) -> String {
    if time == u64::MAX {
        "read at an unrecorded time".to_string()
    } else {
        format!("read by time {time}")
    }
}

/// Part 2: one violation per key whose snapshots learned different values,
/// and one per (key, value) learned but not chosen by its snapshot's time
/// (unless a learn request already showed it).
fn snapshots(ev: &Evidence<'_>, sink: &mut Sink) {
    // key -> (value, node, time by which the node had learned it) of every
    // snapshot that learned something.
    let mut learned: BTreeMap<&str, Vec<(&str, NodeId, u64)>> = BTreeMap::new();
    for s in ev.snapshots {
        for (key, state) in &s.state.instances {
            if let Some(v) = &state.learned {
                let by = s.replied.unwrap_or(u64::MAX);
                learned.entry(key).or_default().push((v, s.node, by));
            }
        }
    }
    for (key, list) in learned {
        let key_id = ev.log.key_id(key);
        if let Some(other) = list.iter().find(|l| l.0 != list[0].0) {
            sink.report(|| {
                let first = list[0];
                let explanation = format!(
                    "Node {} learned {:?} (state {}) but node {} learned {:?} (state {}); {}. All \
                     learners must learn the same value.",
                    first.1,
                    first.0,
                    read_by(first.2),
                    other.1,
                    other.0,
                    read_by(other.2),
                    chosen_text(ev, key_id, None, u64::MAX),
                );
                let shown = key_id
                    .map(|k| learns_of(ev, k, &[(first.0, first.1), (other.0, other.1)]))
                    .unwrap_or_default();
                ev.violation(
                    Property::LearnersAgree,
                    Some(key),
                    explanation,
                    shown,
                    Vec::new(),
                )
            });
        }
        let mut flagged: Vec<&str> = Vec::new();
        for &(v, node, t) in &list {
            let ids = key_id.zip(ev.log.value_id(v));
            if ids.is_some_and(|(k, vid)| ev.chosen_by(k, vid, t)) || flagged.contains(&v) {
                continue;
            }
            flagged.push(v);
            let shown_by_learn = ids.is_some_and(|(k, vid)| {
                early_learns(ev, k)
                    .iter()
                    .any(|&(_, _, i)| ev.log.msg(i).value() == Some(vid))
            });
            if shown_by_learn {
                continue;
            }
            sink.report(|| {
                let explanation = format!(
                    "Node {node}'s state ({}) says it learned {v:?}, but the message log does \
                     not show a majority accepting {v:?} by then; {}. A node must only learn a \
                     chosen value.",
                    read_by(t),
                    chosen_text(ev, key_id, ids.map(|i| i.1), t),
                );
                let shown = key_id
                    .map(|k| learns_of(ev, k, &[(v, node)]))
                    .unwrap_or_default();
                ev.violation(
                    Property::LearnersAgree,
                    Some(key),
                    explanation,
                    shown,
                    Vec::new(),
                )
            });
        }
    }
}

/// The first learn request (by id) that carried each (value, node) pair.
fn learns_of(ev: &Evidence<'_>, key: KeyId, pairs: &[(&str, NodeId)]) -> Vec<u32> {
    pairs
        .iter()
        .filter_map(|&(v, node)| {
            let vid = ev.log.value_id(v)?;
            ev.log
                .by_key(key)
                .iter()
                .copied()
                .filter(|&i| {
                    let m = ev.log.msg(i);
                    m.kind == Kind::Learn && m.to() == node && m.value() == Some(vid)
                })
                .min_by_key(|&i| ev.log.msg(i).id)
        })
        .collect()
}

/// Part 3: one violation per ok propose or read that returned a value not
/// chosen by the time it completed: its invocation and completion, and the
/// acks of what was chosen instead, if anything.
fn returned_values(ev: &Evidence<'_>, sink: &mut Sink) {
    let mut open: HashMap<&Process, usize> = HashMap::new();
    for (pos, e) in ev.history.iter().enumerate() {
        match e.kind {
            EventType::Invoke => {
                open.insert(&e.process, pos);
                continue;
            }
            EventType::Fail | EventType::Info => {
                open.remove(&e.process);
                continue;
            }
            EventType::Ok => {}
        }
        let invoke = open.remove(&e.process);
        if e.f != "propose" && e.f != "read" {
            continue;
        }
        let (Some(key), Some(v)) = (e.key.as_deref(), e.value.as_str()) else {
            continue;
        };
        let key_id = ev.log.key_id(key);
        let chosen = key_id
            .zip(ev.log.value_id(v))
            .is_some_and(|(k, vid)| ev.chosen_by(k, vid, e.time));
        if chosen {
            continue;
        }
        sink.report(|| {
            let who = match &e.process {
                Process::Client(p) => format!("process {p}"),
                Process::Named(n) => n.clone(),
            };
            let explanation = format!(
                "{} completed {} with value {v:?} at time {}, but the message log does not show \
                 a majority accepting {v:?} by then; {}. An operation may only return a chosen \
                 value.",
                capitalised(&who),
                e.f,
                e.time,
                chosen_text(ev, key_id, key_id.and(ev.log.value_id(v)), e.time),
            );
            let shown: Vec<u32> = key_id
                .and_then(|k| ev.chosen(k).first())
                .map(|c| c.acks.clone())
                .unwrap_or_default();
            let ops = invoke
                .map(|i| ev.history[i].clone())
                .into_iter()
                .chain([e.clone()])
                .collect();
            ev.violation(Property::LearnersAgree, Some(key), explanation, shown, ops)
        });
    }
}
