//! The steps of every (node, key) history of a run: the exchanges each node
//! served for the key and the state snapshots the run took of it, split into
//! epochs by the node's kills. Pure: built from the run folder's records.
//!
//! # Which exchanges reached a node
//!
//! Fates `ok`, `dropped-response` and `duplicated` reached the node; so did
//! a `timeout` that recorded the node's answer. A `timeout` without an
//! answer *may* have been processed: the order search ([`super::order`])
//! decides whether it was. `refused`, `cut` and `dropped-request` never
//! reached a node and are left out.
//!
//! # Epochs
//!
//! Faults come from `nemesis.jsonl`: `kill`, `kill-on-ack`, `crash` and
//! `power-fail` starts kill their nodes, their stops restart them; pauses
//! change no state. A restart's record is written after the node is healthy
//! (and after its restart snapshot), so a client may reach the node just
//! before the record's time: a restart is placed at its record's time or at
//! the first answered exchange to that node after the kill, whichever is
//! earlier. An exchange delivered while its node was down belongs to no
//! epoch and stands alone.

use std::collections::BTreeMap;

use ballot_core::records::{Exchange, Fate, FaultPhase, NemesisRecord, Snapshot, SnapshotReason};

use super::order::{OrderStep, What};
use super::sim::{Recorded, Request};

/// Whether an exchange reached its node (see the module doc).
pub fn reached_node(ex: &Exchange) -> bool {
    match ex.fate {
        Fate::Ok | Fate::DroppedResponse | Fate::Duplicated | Fate::Timeout => {
            ex.delivered.is_some()
        }
        Fate::Refused | Fate::Cut | Fate::DroppedRequest => false,
    }
}

/// One kill of a node and the restart that followed, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Down {
    /// When the kill was recorded (ns).
    pub kill: u64,
    /// Placed restart time, the stop record's time, and the restart snapshot
    /// (index in `snapshots.jsonl`); `None` while the node stayed down.
    pub restart: Option<(u64, u64, Option<usize>)>,
}

/// Every node's kills and restarts, in time order.
pub fn lives(
    messages: &[Exchange],
    nemesis: &[NemesisRecord],
    snapshots: &[Snapshot],
) -> BTreeMap<u64, Vec<Down>> {
    let mut restart_snaps: BTreeMap<u64, Vec<(u64, usize)>> = BTreeMap::new();
    for (i, s) in snapshots.iter().enumerate() {
        if s.reason == SnapshotReason::Restart {
            restart_snaps.entry(s.node).or_default().push((s.time, i));
        }
    }
    for list in restart_snaps.values_mut() {
        list.sort_unstable();
    }
    // Answered deliveries per node, sorted, for the first contact after a kill.
    let mut contacts: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for ex in messages {
        if ex.status.is_some() && reached_node(ex) {
            if let Some(d) = ex.delivered {
                contacts.entry(ex.to).or_default().push(d);
            }
        }
    }
    for list in contacts.values_mut() {
        list.sort_unstable();
    }
    let mut faults: Vec<&NemesisRecord> = nemesis
        .iter()
        .filter(|r| r.fault.takes_node_down())
        .collect();
    faults.sort_by_key(|r| r.time);
    let mut out: BTreeMap<u64, Vec<Down>> = BTreeMap::new();
    for r in faults {
        for &node in &r.nodes {
            let downs = out.entry(node).or_default();
            let down = downs.last().is_some_and(|d| d.restart.is_none());
            match r.phase {
                FaultPhase::Start if !down => downs.push(Down {
                    kill: r.time,
                    restart: None,
                }),
                FaultPhase::Stop if down => {
                    let last = downs.last_mut().expect("down");
                    let since = last.kill;
                    let first_contact = contacts.get(&node).and_then(|l| {
                        let at = l.partition_point(|&d| d <= since);
                        l.get(at).copied()
                    });
                    let time = first_contact.map_or(r.time, |d| d.min(r.time));
                    let snapshot = restart_snaps
                        .get(&node)
                        .and_then(|l| l.iter().find(|(t, _)| *t >= since && *t <= r.time))
                        .map(|&(_, i)| i);
                    last.restart = Some((time, r.time, snapshot));
                }
                // A second start while down, or a stop for a node that is up: no change.
                _ => {}
            }
        }
    }
    out
}

/// The epoch of time `t` on a node with these kills, or `None` while it was down.
pub fn epoch_at(downs: &[Down], t: u64) -> Option<usize> {
    let mut epoch = 0;
    for d in downs {
        if t < d.kill {
            return Some(epoch);
        }
        match d.restart {
            Some((r, _, _)) if t >= r => epoch += 1,
            _ => return None,
        }
    }
    Some(epoch)
}

/// Every (node, key) history of a run, ready for the order search.
#[derive(Clone, Debug, Default)]
pub struct RunSteps {
    /// Each (node, key)'s steps, sorted by epoch, then start.
    pub by_key: BTreeMap<(u64, String), Vec<OrderStep>>,
    /// Exchanges that reached a node but belong to no key history: requests
    /// that are not about a key (malformed, unknown path) or that reached
    /// the node while it was down (indices in `messages.jsonl`).
    pub alone: Vec<usize>,
    /// Each node's kills and restarts.
    pub lives: BTreeMap<u64, Vec<Down>>,
}

impl RunSteps {
    /// A node's kills and restarts (none when it was never killed).
    pub fn downs(&self, node: u64) -> &[Down] {
        self.lives.get(&node).map_or(&[], |v| v.as_slice())
    }

    /// How many epochs a node's history has: its restarts + 1.
    pub fn epochs(&self, node: u64) -> usize {
        self.downs(node)
            .iter()
            .filter(|d| d.restart.is_some())
            .count()
            + 1
    }
}

/// Splits a run's records into (node, key) histories (see the module doc).
///
/// Snapshots become observations of each key: restart ones in the epoch
/// they open, the final one in the last epoch of a node that is up at the end.
pub fn run_steps(
    messages: &[Exchange],
    nemesis: &[NemesisRecord],
    snapshots: &[Snapshot],
) -> RunSteps {
    let mut run = RunSteps {
        lives: lives(messages, nemesis, snapshots),
        ..RunSteps::default()
    };
    for (i, ex) in messages.iter().enumerate() {
        if !reached_node(ex) {
            continue;
        }
        let delivered = ex.delivered.unwrap_or(ex.sent);
        let request = Request::of(ex);
        let (Some(epoch), Some(key)) = (epoch_at(run.downs(ex.to), delivered), request.key())
        else {
            run.alone.push(i);
            continue;
        };
        let recorded = Recorded::of(ex, &request);
        run.by_key
            .entry((ex.to, key.to_string()))
            .or_default()
            .push(OrderStep {
                epoch,
                start: delivered,
                end: ex.replied.unwrap_or(u64::MAX).max(delivered),
                what: What::Exchange {
                    index: i,
                    request,
                    recorded,
                },
            });
    }
    let mut by_key = std::mem::take(&mut run.by_key);
    for ((node, key), steps) in by_key.iter_mut() {
        add_snapshots(steps, run.downs(*node), snapshots, *node, key);
        steps.sort_by_key(|s| {
            let tie = match s.what {
                What::Exchange { index, .. } => (0, messages[index].id),
                What::Read { snapshot, .. } => (1, snapshot as u64),
            };
            (s.epoch, s.start, tie)
        });
    }
    run.by_key = by_key;
    run
}

/// Adds a (node, key)'s restart snapshots and its final snapshot as steps.
fn add_snapshots(
    steps: &mut Vec<OrderStep>,
    downs: &[Down],
    snapshots: &[Snapshot],
    node: u64,
    key: &str,
) {
    let state_of = |s: &Snapshot| s.state.instances.get(key).cloned().unwrap_or_default();
    for (e, d) in downs.iter().enumerate() {
        if let Some((_, record, Some(s))) = d.restart {
            steps.push(OrderStep {
                epoch: e + 1,
                start: snapshots[s].time,
                end: record.max(snapshots[s].time),
                what: What::Read {
                    snapshot: s,
                    state: state_of(&snapshots[s]),
                },
            });
        }
    }
    let up_at_end = downs.last().is_none_or(|d| d.restart.is_some());
    if !up_at_end {
        return;
    }
    let last = snapshots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.node == node && s.reason == SnapshotReason::Final)
        .max_by_key(|(_, s)| s.time);
    let Some((s, snap)) = last else { return };
    // What was never answered was served before the final snapshot or
    // never: end its interval where the snapshot starts.
    for step in steps.iter_mut() {
        let unanswered = matches!(
            &step.what,
            What::Exchange { recorded, .. } if recorded.is_nothing()
        );
        if unanswered && step.epoch == downs.len() && step.start < snap.time {
            step.end = snap.time - 1;
        }
    }
    steps.push(OrderStep {
        epoch: downs.len(),
        start: snap.time,
        end: u64::MAX,
        what: What::Read {
            snapshot: s,
            state: state_of(snap),
        },
    });
}
