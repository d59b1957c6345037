//! Coverage: how often a run reached the Paxos situations the bug catalogue
//! needs, counted from its evidence (message log, history, snapshots).
//!
//! A run that never reached a situation cannot have caught a bug that only
//! shows there: a valid verdict with `promise-reported-accepted: 0` says
//! nothing about whether proposers adopt reported values. The counts are
//! facts about the run, never a verdict.
//!
//! | situation | counted as |
//! |---|---|
//! | `promise-reported-accepted` | granted prepares whose reply reports an accepted proposal |
//! | `accept-rejected` | accepts a node answered `ok: false` (a higher promise won) |
//! | `two-values-accepted` | keys with acked accepts of two different values (at different ballots) |
//! | `competing-proposers` | keys prepared at two or more ballots before any accept of them was acked |
//! | `restart-with-accepted` | restart snapshots holding at least one accepted proposal |
//! | `read-ran-phase-2` | reads whose process sent an accept while the read was open (it finished a leftover) |

use std::collections::{BTreeMap, HashMap, HashSet};

use ballot_core::records::{Event, EventType, Process, Snapshot, SnapshotReason};

use crate::messages::{Kind, MessageLog};

/// The situations, in print order.
pub const SITUATIONS: [&str; 6] = [
    "promise-reported-accepted",
    "accept-rejected",
    "two-values-accepted",
    "competing-proposers",
    "restart-with-accepted",
    "read-ran-phase-2",
];

/// Counts every situation (all six keys are present, zeros included).
pub fn count(log: &MessageLog, history: &[Event], snapshots: &[Snapshot]) -> BTreeMap<String, u64> {
    let mut counts: BTreeMap<String, u64> = SITUATIONS.iter().map(|s| (s.to_string(), 0)).collect();
    let mut bump = |name: &str, by: u64| *counts.get_mut(name).expect("known situation") += by;
    for m in log.msgs() {
        match m.kind {
            Kind::Prepare if m.ack() && m.reply_accepted().is_some() => {
                bump("promise-reported-accepted", 1)
            }
            Kind::Accept if m.reply().is_some_and(|r| !r.ok) => bump("accept-rejected", 1),
            _ => {}
        }
    }
    for key in 0..log.key_count() as u32 {
        let msgs: Vec<_> = log.by_key(key).iter().map(|&i| log.msg(i)).collect();
        let accepted: HashSet<_> = msgs
            .iter()
            .filter(|m| m.kind == Kind::Accept && m.ack())
            .filter_map(|m| m.ballot().zip(m.value()))
            .collect();
        let values: HashSet<_> = accepted.iter().map(|(_, v)| *v).collect();
        if values.len() >= 2 {
            bump("two-values-accepted", 1);
        }
        let first_ack = msgs
            .iter()
            .filter(|m| m.kind == Kind::Accept && m.ack())
            .filter_map(|m| m.replied())
            .min()
            .unwrap_or(u64::MAX);
        let early: HashSet<_> = msgs
            .iter()
            .filter(|m| m.kind == Kind::Prepare && m.sent < first_ack)
            .filter_map(|m| m.ballot())
            .collect();
        if early.len() >= 2 {
            bump("competing-proposers", 1);
        }
    }
    let restarts = snapshots
        .iter()
        .filter(|s| s.reason == SnapshotReason::Restart)
        .filter(|s| s.state.instances.values().any(|i| i.accepted.is_some()))
        .count();
    bump("restart-with-accepted", restarts as u64);
    bump("read-ran-phase-2", reads_with_phase_2(log, history));
    counts
}

/// Reads during which their process sent an accept for the read's key.
fn reads_with_phase_2(log: &MessageLog, history: &[Event]) -> u64 {
    // Each process's reads: (key, invoked, completed), completed = MAX if open.
    let mut open: HashMap<u64, (String, u64)> = HashMap::new();
    let mut reads: HashMap<u64, Vec<(String, u64, u64)>> = HashMap::new();
    for e in history {
        let Process::Client(p) = e.process else {
            continue;
        };
        if e.f != "read" {
            continue;
        }
        match (e.kind, &e.key) {
            (EventType::Invoke, Some(key)) => {
                open.insert(p, (key.clone(), e.time));
            }
            (_, _) => {
                if let Some((key, start)) = open.remove(&p) {
                    reads.entry(p).or_default().push((key, start, e.time));
                }
            }
        }
    }
    for (p, (key, start)) in open {
        reads.entry(p).or_default().push((key, start, u64::MAX));
    }
    // A process runs one op at a time, so its reads never overlap: the one
    // an accept may belong to is the last that started before it was sent.
    for list in reads.values_mut() {
        list.sort_unstable_by_key(|(_, start, _)| *start);
    }
    let mut hit: HashSet<(u64, u64)> = HashSet::new();
    for m in log.msgs().filter(|m| m.kind == Kind::Accept) {
        let (Some(p), Some(key)) = (m.process(), m.key()) else {
            continue;
        };
        let Some(list) = reads.get(&p) else {
            continue;
        };
        let name = log.key_name(key);
        let i = list.partition_point(|(_, start, _)| *start <= m.sent);
        if let Some((k, start, end)) = i.checked_sub(1).map(|i| &list[i]) {
            if k == name && m.sent <= *end {
                hit.insert((p, *start));
            }
        }
    }
    hit.len() as u64
}

/// "promise-reported-accepted 12, accept-rejected 0, ..." for a summary line.
pub fn describe(counts: &BTreeMap<String, u64>) -> String {
    SITUATIONS
        .iter()
        .filter_map(|s| counts.get(*s).map(|n| format!("{s} {n}")))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
