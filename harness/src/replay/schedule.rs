//! A stored run's schedule: what each node processed, in order, and when
//! nodes died and came back. Pure: built from the run folder's records.
//!
//! # Which exchanges reached a node
//!
//! Fates `ok`, `dropped-response` and `duplicated` reached the node; so did
//! a `timeout` that recorded the node's answer. A `timeout` without an
//! answer *may* have been processed: it is replayed (the node was reachable
//! when it was forwarded) and its reply is not compared. `refused`, `cut`
//! and `dropped-request` never reached a node and are skipped.
//!
//! # Order
//!
//! Nodes share no state, so only each node's own order matters. A node
//! serves one exchange at a time in the order they were forwarded to it, so
//! exchanges are ordered by `delivered` (ties by id), which keeps the order
//! of overlapping exchanges as recorded. Faults come from `nemesis.jsonl`:
//! `kill`, `crash` and `power-fail` starts kill their nodes, their stops
//! restart them; pauses change no state and are not replayed (a paused
//! node's queued exchanges are already in `delivered` order).
//!
//! A restart's record is written after the node is healthy, so a client may
//! reach the node just before the record's time. A restart is therefore
//! placed at its record's time or at the first processed exchange to that
//! node after the kill, whichever is earlier.

use std::collections::BTreeMap;

use ballot_checker::format::{
    Event, Exchange, Fate, NemesisRecord, Phase as FaultPhase, Snapshot, SnapshotReason,
};

/// One thing to do, in schedule order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// SIGKILL a node.
    Kill {
        /// The node.
        node: usize,
    },
    /// Start a killed node again.
    Restart {
        /// The node.
        node: usize,
        /// Index in `snapshots.jsonl` of the state recorded right after this restart.
        snapshot: Option<usize>,
    },
    /// Send a recorded exchange to its node.
    Deliver {
        /// Index in `messages.jsonl` (file order).
        exchange: usize,
    },
    /// A history event (used by shrink; replay copies the history as is).
    Event {
        /// Index in `history.jsonl`.
        event: usize,
    },
}

impl Item {
    fn rank(self) -> u8 {
        match self {
            Item::Kill { .. } => 0,
            Item::Restart { .. } => 1,
            Item::Deliver { .. } => 2,
            Item::Event { .. } => 3,
        }
    }
}

/// A scheduled item and its time (ns since the run began).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timed {
    /// When it happens in the original run.
    pub time: u64,
    /// What happens.
    pub item: Item,
}

/// Whether an exchange reached its node (see the module doc).
pub fn reached_node(ex: &Exchange) -> bool {
    match ex.fate {
        Fate::Ok | Fate::DroppedResponse | Fate::Duplicated => ex.delivered.is_some(),
        Fate::Timeout => ex.delivered.is_some(),
        Fate::Refused | Fate::Cut | Fate::DroppedRequest => false,
    }
}

/// True for the faults that kill nodes (start) and restart them (stop).
pub fn is_process_fault(fault: &str) -> bool {
    matches!(fault, "kill" | "crash" | "power-fail")
}

/// The schedule of a run: deliveries, kills, restarts and history events,
/// in the order to replay them.
pub fn schedule(
    messages: &[Exchange],
    nemesis: &[NemesisRecord],
    snapshots: &[Snapshot],
    history: &[Event],
) -> Vec<Timed> {
    let mut out: Vec<(u64, u8, u64, Item)> = Vec::new();
    for (i, ex) in messages.iter().enumerate() {
        if reached_node(ex) {
            let time = ex.delivered.unwrap_or(ex.sent);
            out.push((time, 2, ex.id, Item::Deliver { exchange: i }));
        }
    }
    // Restart snapshots of each node, in time order.
    let mut restart_snaps: BTreeMap<u64, Vec<(u64, usize)>> = BTreeMap::new();
    for (i, s) in snapshots.iter().enumerate() {
        if s.reason == SnapshotReason::Restart {
            restart_snaps.entry(s.node).or_default().push((s.time, i));
        }
    }
    for list in restart_snaps.values_mut() {
        list.sort_unstable();
    }
    let mut faults: Vec<&NemesisRecord> = nemesis
        .iter()
        .filter(|r| is_process_fault(&r.fault))
        .collect();
    faults.sort_by_key(|r| r.time);
    let mut down_since: BTreeMap<u64, u64> = BTreeMap::new();
    for r in faults {
        for &node in &r.nodes {
            match r.phase {
                FaultPhase::Start => {
                    if down_since.contains_key(&node) {
                        continue; // already down: a second start changes nothing
                    }
                    down_since.insert(node, r.time);
                    out.push((
                        r.time,
                        0,
                        0,
                        Item::Kill {
                            node: node as usize,
                        },
                    ));
                }
                FaultPhase::Stop => {
                    let Some(since) = down_since.remove(&node) else {
                        continue; // a stop for a node that never went down
                    };
                    let first_contact = messages
                        .iter()
                        .filter(|ex| ex.to == node && ex.status.is_some() && reached_node(ex))
                        .filter_map(|ex| ex.delivered)
                        .filter(|&d| d > since)
                        .min();
                    let time = first_contact.map_or(r.time, |d| d.min(r.time));
                    let snapshot = restart_snaps
                        .get(&node)
                        .and_then(|l| l.iter().find(|(t, _)| *t >= since).copied())
                        .map(|(_, i)| i);
                    out.push((
                        time,
                        1,
                        0,
                        Item::Restart {
                            node: node as usize,
                            snapshot,
                        },
                    ));
                }
            }
        }
    }
    for (i, e) in history.iter().enumerate() {
        if matches!(e.process, ballot_checker::format::Process::Client(_)) {
            out.push((e.time, 3, e.index, Item::Event { event: i }));
        }
    }
    out.sort_by_key(|&(time, rank, id, _)| (time, rank, id));
    debug_assert!(out.iter().all(|(_, r, _, item)| *r == item.rank()));
    out.into_iter()
        .map(|(time, _, _, item)| Timed { time, item })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballot_checker::format::{EventType, Process};
    use ballot_node::protocol::StateReply;
    use serde_json::json;

    fn ex(id: u64, to: u64, delivered: Option<u64>, fate: Fate, status: Option<u16>) -> Exchange {
        Exchange {
            id,
            from: 0,
            to,
            process: Some(1),
            path: "/v1/prepare".into(),
            request: json!({"key": "x", "ballot": {"round": 1, "proposer": 1}}),
            status,
            response: status.map(|_| json!({"ok": true})),
            sent: delivered.unwrap_or(1),
            delivered,
            replied: delivered.map(|d| d + 1),
            fate,
            duplicate_of: None,
        }
    }

    fn fault(time: u64, phase: FaultPhase, fault: &str, node: u64) -> NemesisRecord {
        NemesisRecord {
            time,
            phase,
            fault: fault.into(),
            nodes: vec![node],
            detail: json!({}),
        }
    }

    #[test]
    fn fates_decide_what_reached_a_node() {
        // (fate, delivered, status, reached)
        let table = [
            (Fate::Ok, Some(5), Some(200), true),
            (Fate::DroppedResponse, Some(5), Some(200), true),
            (Fate::Duplicated, Some(5), Some(200), true),
            (Fate::Timeout, Some(5), None, true),
            (Fate::Timeout, None, None, false),
            (Fate::Refused, None, None, false),
            (Fate::Cut, None, None, false),
            (Fate::DroppedRequest, None, None, false),
        ];
        for (fate, delivered, status, reached) in table {
            assert_eq!(
                reached_node(&ex(1, 0, delivered, fate, status)),
                reached,
                "{fate:?}"
            );
        }
    }

    #[test]
    fn deliveries_sort_by_delivered_and_restarts_move_up_to_first_contact() {
        let messages = vec![
            ex(1, 0, Some(30), Fate::Ok, Some(200)),
            ex(2, 1, Some(10), Fate::Ok, Some(200)),
            ex(3, 1, Some(25), Fate::Refused, None),
            // Reached node 1 after the kill, before the restart was recorded.
            ex(4, 1, Some(45), Fate::Ok, Some(200)),
            ex(5, 1, Some(10), Fate::Ok, Some(200)),
        ];
        let nemesis = vec![
            fault(20, FaultPhase::Start, "kill", 1),
            fault(50, FaultPhase::Stop, "kill", 1),
            fault(60, FaultPhase::Start, "pause", 0),
        ];
        let snapshots = vec![Snapshot {
            time: 48,
            node: 1,
            reason: SnapshotReason::Restart,
            state: StateReply::default(),
        }];
        let history = vec![Event {
            index: 0,
            time: 5,
            process: Process::Client(1),
            kind: EventType::Invoke,
            f: "propose".into(),
            key: Some("x".into()),
            value: json!("1"),
            error: None,
        }];
        let got = schedule(&messages, &nemesis, &snapshots, &history);
        let items: Vec<(u64, Item)> = got.iter().map(|t| (t.time, t.item)).collect();
        assert_eq!(
            items,
            vec![
                (5, Item::Event { event: 0 }),
                (10, Item::Deliver { exchange: 1 }),
                (10, Item::Deliver { exchange: 4 }),
                (20, Item::Kill { node: 1 }),
                (30, Item::Deliver { exchange: 0 }),
                (
                    45,
                    Item::Restart {
                        node: 1,
                        snapshot: Some(0)
                    }
                ),
                (45, Item::Deliver { exchange: 3 }),
            ]
        );
    }
}
