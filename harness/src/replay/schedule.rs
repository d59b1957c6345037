//! A stored run's schedule: what each node processed, in the order it
//! processed it, and when nodes died and came back. Pure: built from the run
//! folder's records.
//!
//! # Which exchanges reached a node
//!
//! Fates `ok`, `dropped-response` and `duplicated` reached the node; so did
//! a `timeout` that recorded the node's answer. A `timeout` without an
//! answer *may* have been processed: the order search ([`super::order`])
//! decides whether it was (it is then replayed, its reply not compared) or
//! not (it is left out). `refused`, `cut` and `dropped-request` never
//! reached a node and are skipped.
//!
//! # Epochs
//!
//! Faults come from `nemesis.jsonl`: `kill`, `crash` and `power-fail`
//! starts kill their nodes, their stops restart them; pauses change no
//! state and are not replayed (a paused node serves its queue on resume). A
//! node's kills split its exchanges into epochs. A restart's record is
//! written after the node is healthy (and after its restart snapshot), so a
//! client may reach the node just before the record's time: a restart is
//! placed at its record's time or at the first answered exchange to that
//! node after the kill, whichever is earlier. An exchange delivered while
//! its node was down is replayed to the down node (a divergence if the run
//! recorded an answer).
//!
//! # Order
//!
//! Each node's order is searched per key ([`super::order::find_order`]): an
//! order real time allows (A before B whenever A's reply reached the proxy
//! before B was forwarded) that explains every recorded reply and snapshot,
//! simulating the acceptor with the run's node bugs (a foreign
//! `--node-cmd` node runs no bug flags: it is held to the correct acceptor).
//!
//! The per-key orders are then merged into one global order consistent
//! with real time across all nodes (an exchange whose request was sent
//! after another's reply arrived comes after it): each item gets a
//! *schedule time* τ, the largest `delivered` among it and the items before
//! it in its own key's order, and items are sorted by τ. If
//! `A.replied < B.delivered`, then τ(A) <= A.replied < B.delivered <= τ(B),
//! because every item placed before A in its key order was delivered before
//! A's reply (the order respects real time); so the sort keeps real time,
//! and within a key τ never decreases, so the sort keeps the found order.
//! Kills, restarts, restart snapshots and history events take their own
//! times.

use std::collections::BTreeMap;

use ballot_core::bugs::BugSet;
use ballot_core::protocol::InstanceState;
use ballot_core::records::{Event, Exchange, NemesisRecord, Process, Snapshot, SnapshotReason};
use serde_json::{json, Value};

use ballot_checker::spec::order::{budget_for, find_order, Found, What};
use ballot_checker::spec::steps::{run_steps, Down, RunSteps};

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
    /// Take the node's state over the side channel, where the run took its
    /// restart snapshot (after every exchange whose reply came before it).
    Snapshot {
        /// The node.
        node: usize,
        /// Index in `snapshots.jsonl` of the recorded snapshot.
        snapshot: usize,
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
    /// Order of items with the same schedule time.
    pub fn rank(self) -> u8 {
        match self {
            Item::Kill { .. } => 0,
            Item::Restart { .. } => 1,
            Item::Snapshot { .. } => 2,
            Item::Deliver { .. } => 3,
            Item::Event { .. } => 4,
        }
    }
}

/// A scheduled item and its schedule time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timed {
    /// Schedule time (ns since the run began): the recorded time of a
    /// fault, snapshot or event; for a delivery, τ (see the module doc).
    /// Never decreases along a schedule.
    pub time: u64,
    /// What happens.
    pub item: Item,
}

/// A recorded reply (or snapshot) that no processing order explains.
#[derive(Clone, Debug, PartialEq)]
pub struct Unfit {
    /// The exchange (index in `messages.jsonl`), if the step is one.
    pub exchange: Option<usize>,
    /// The snapshot (index in `snapshots.jsonl`), if the step is one.
    pub snapshot: Option<usize>,
    /// What the run recorded.
    pub recorded: Value,
    /// What the simulated acceptor answers (or holds) at that point.
    pub simulated: Value,
}

/// Where a node's recorded replies stop being explained by any order.
#[derive(Clone, Debug, PartialEq)]
pub struct Unexplained {
    /// The node.
    pub node: u64,
    /// The key.
    pub key: String,
    /// The last exchange of the longest explained prefix (index in `messages.jsonl`).
    pub after: Option<usize>,
    /// The steps that could come next; none fits.
    pub candidates: Vec<Unfit>,
    /// True when the search budget ran out before every order was tried.
    pub exhausted: bool,
}

impl Unexplained {
    /// A few lines for people: where the explained prefix ends, then at most
    /// `shown` of the steps that could come next (each with what was recorded
    /// and what the acceptor answers), and how many more there are.
    pub fn brief(
        &self,
        messages: &[Exchange],
        snapshots: &[Snapshot],
        shown: usize,
    ) -> Vec<String> {
        let after = match self.after {
            Some(i) => format!("after exchange {}", messages[i].id),
            None => "before any explained exchange".to_string(),
        };
        let mut lines = vec![format!(
            "no processing order explains node {}'s replies on key {:?} {after}{}",
            self.node,
            self.key,
            if self.exhausted {
                " (search budget spent; an order may exist)"
            } else {
                ""
            }
        )];
        for (n, c) in self.candidates.iter().take(shown).enumerate() {
            lines.push(format!(
                "  {} {}",
                if n == 0 { "next could be" } else { "or" },
                self.name(c, messages, snapshots)
            ));
        }
        if self.candidates.len() > shown {
            lines.push(format!(
                "  and {} more alternative(s)",
                self.candidates.len() - shown
            ));
        }
        lines
    }

    fn name(&self, c: &Unfit, messages: &[Exchange], snapshots: &[Snapshot]) -> String {
        match (c.exchange, c.snapshot) {
            (Some(i), _) => format!(
                "exchange {} ({} recorded {}, the acceptor answers {})",
                messages[i].id, messages[i].path, c.recorded, c.simulated
            ),
            (None, Some(s)) => format!(
                "the {} snapshot at {:.3} s (recorded {}, the acceptor holds {})",
                match snapshots[s].reason {
                    SnapshotReason::Restart => "restart",
                    SnapshotReason::Final => "final",
                },
                snapshots[s].time as f64 / 1e9,
                c.recorded,
                c.simulated
            ),
            (None, None) => "?".to_string(),
        }
    }

    /// One paragraph for people, naming the exchanges by id and the
    /// snapshots by kind and time.
    pub fn describe(&self, messages: &[Exchange], snapshots: &[Snapshot]) -> String {
        let after = match self.after {
            Some(i) => format!("after exchange {}", messages[i].id),
            None => "before any explained exchange".to_string(),
        };
        let names: Vec<String> = self
            .candidates
            .iter()
            .map(|c| self.name(c, messages, snapshots))
            .collect();
        format!(
            "no processing order explains node {}'s replies on key {:?}{}: {after}, the next \
             step could be {}",
            self.node,
            self.key,
            if self.exhausted {
                " (search budget spent; an order may exist)"
            } else {
                ""
            },
            names.join("; or ")
        )
    }
}

/// The schedule of a run and what the order search found.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ReplayPlan {
    /// Deliveries, kills, restarts, restart snapshots and history events, in order.
    pub items: Vec<Timed>,
    /// For each `Restart` (by position in `items`): every key's state the
    /// node came back with, as the search found it (default states left out).
    pub restart_states: BTreeMap<usize, BTreeMap<String, InstanceState>>,
    /// Unreplied exchanges the node never processed (indices in `messages.jsonl`).
    pub skipped: Vec<usize>,
    /// Exchanges processed in a different place than `delivered` order puts them.
    pub reordered: usize,
    /// Where no order explains the replies, by node and key.
    pub unexplained: Vec<Unexplained>,
}

pub use ballot_checker::spec::steps::reached_node;

/// The schedule of a run, simulating the correct acceptor (see [`plan`]).
pub fn schedule(
    messages: &[Exchange],
    nemesis: &[NemesisRecord],
    snapshots: &[Snapshot],
    history: &[Event],
) -> Vec<Timed> {
    plan(messages, nemesis, snapshots, history, BugSet::NONE).items
}

/// The recorded answer of a step, for people.
fn recorded_json(ex: &Exchange) -> Value {
    json!({"status": ex.status, "response": ex.response})
}

/// Searches every (node, key) order and merges them into one schedule
/// (see the module doc). `bugs` are the node bugs the run used.
pub fn plan(
    messages: &[Exchange],
    nemesis: &[NemesisRecord],
    snapshots: &[Snapshot],
    history: &[Event],
    bugs: BugSet,
) -> ReplayPlan {
    let RunSteps {
        by_key,
        alone,
        lives,
    } = run_steps(messages, nemesis, snapshots);
    let no_downs: Vec<Down> = Vec::new();
    let downs_of = |node: u64| lives.get(&node).unwrap_or(&no_downs);

    let mut plan = ReplayPlan::default();
    // (node, restart ordinal) -> key -> state
    let mut restarts: BTreeMap<(u64, usize), BTreeMap<String, InstanceState>> = BTreeMap::new();
    let mut chains: Vec<Vec<usize>> = Vec::new();
    for ((node, key), steps) in &by_key {
        let epochs = downs_of(*node)
            .iter()
            .filter(|d| d.restart.is_some())
            .count()
            + 1;
        let found: Found = find_order(steps, epochs, key, bugs, budget_for(steps.len()));
        let exchange_of = |p: usize| match steps[p].what {
            What::Exchange { index, .. } => Some(index),
            What::Read { .. } => None,
        };
        let chain: Vec<usize> = found.order.iter().filter_map(|&p| exchange_of(p)).collect();
        let mut in_delivered_order = chain.clone();
        in_delivered_order.sort_by_key(|&i| (messages[i].delivered, messages[i].id));
        plan.reordered += chain
            .iter()
            .zip(&in_delivered_order)
            .filter(|(a, b)| a != b)
            .count();
        plan.skipped
            .extend(found.skipped.iter().filter_map(|&p| exchange_of(p)));
        for (r, state) in found.restarts.iter().enumerate() {
            let states = restarts.entry((*node, r)).or_default();
            if *state != InstanceState::default() {
                states.insert(key.clone(), state.clone());
            }
        }
        if let Some(stuck) = found.stuck {
            plan.unexplained.push(Unexplained {
                node: *node,
                key: key.clone(),
                after: stuck.after.and_then(|p| {
                    let n = found.order.iter().position(|&q| q == p)? + 1;
                    found.order[..n].iter().rev().find_map(|&q| exchange_of(q))
                }),
                candidates: stuck
                    .candidates
                    .iter()
                    .map(|c| match &steps[c.step].what {
                        What::Exchange { index, .. } => Unfit {
                            exchange: Some(*index),
                            snapshot: None,
                            recorded: recorded_json(&messages[*index]),
                            simulated: c.simulated.clone(),
                        },
                        What::Read { snapshot, state } => Unfit {
                            exchange: None,
                            snapshot: Some(*snapshot),
                            recorded: json!(state),
                            simulated: c.simulated.clone(),
                        },
                    })
                    .collect(),
                exhausted: stuck.exhausted,
            });
        }
        chains.push(chain);
    }
    plan.skipped.sort_unstable();
    chains.extend(alone.into_iter().map(|i| vec![i]));

    // Merge: (τ, rank, chain, position) per item.
    let mut out: Vec<(u64, u8, usize, usize, Item)> = Vec::new();
    for (c, chain) in chains.iter().enumerate() {
        let mut tau = 0;
        for (pos, &i) in chain.iter().enumerate() {
            tau = tau.max(messages[i].delivered.unwrap_or(messages[i].sent));
            let item = Item::Deliver { exchange: i };
            out.push((tau, item.rank(), c, pos, item));
        }
    }
    for (&node, downs) in &lives {
        let n = node as usize;
        let mut ordinal = 0;
        for d in downs {
            out.push((d.kill, 0, n, 0, Item::Kill { node: n }));
            if let Some((time, _, snapshot)) = d.restart {
                // (node, ordinal) in the tie-break fields name the restart below.
                let item = Item::Restart { node: n, snapshot };
                out.push((time, item.rank(), n, ordinal, item));
                if let Some(s) = snapshot {
                    let item = Item::Snapshot {
                        node: n,
                        snapshot: s,
                    };
                    out.push((snapshots[s].time.max(time), item.rank(), n, 0, item));
                }
                ordinal += 1;
            }
        }
    }
    for (i, e) in history.iter().enumerate() {
        if matches!(e.process, Process::Client(_)) {
            out.push((e.time, 4, e.index as usize, 0, Item::Event { event: i }));
        }
    }
    out.sort_by_key(|&(time, rank, chain, pos, _)| (time, rank, chain, pos));
    for (position, &(_, _, node, ordinal, item)) in out.iter().enumerate() {
        if let Item::Restart { .. } = item {
            let states = restarts.remove(&(node as u64, ordinal));
            plan.restart_states
                .insert(position, states.unwrap_or_default());
        }
    }
    plan.items = out
        .into_iter()
        .map(|(time, _, _, _, item)| Timed { time, item })
        .collect();
    plan
}

#[cfg(test)]
mod tests;
