//! The Paxos acceptor as a pure state machine (no I/O).
//!
//! # The algorithm
//!
//! Every key is an independent Basic Paxos instance, a write-once register.
//! Per key the acceptor remembers three things ([`InstanceState`]):
//! `promised`, the highest ballot it has promised (or accepted), `accepted`,
//! the proposal it accepted last (which, under the rules below, is the
//! highest-ballot proposal it ever accepted), and `learned`, a value some
//! proposer told it was chosen.
//!
//! - **Prepare(b)** (phase 1b): granted iff `b >= promised`; then
//!   `promised := b`. The reply carries the promise and the accepted
//!   proposal, so the proposer can adopt the highest-ballot value (P2c).
//! - **Accept(b, v)** (phase 2b): granted iff `b >= promised`; then
//!   `promised := b` and `accepted := (b, v)`.
//! - **Learn(b, v)**: records the chosen value; the same value again is a
//!   no-op, a different value is a [`LearnConflict`].
//!
//! A rejection carries the current promise so a proposer can pick a higher
//! round at once. Every handler returns the reply *and* the [`Change`] that
//! must be made durable before the reply is sent (or `None` when the state
//! did not change). The caller (the server) persists the change, and only then
//! replies; this module never touches a disk.
//!
//! The deliberately broken variants from [`crate::bugs`] are honoured at the
//! exact comparisons a real implementer would get wrong; with
//! [`BugSet::NONE`] the code below is the correct acceptor.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bugs::{BugSet, NodeBug};
use crate::protocol::{
    AcceptReply, AcceptRequest, Accepted, Ballot, InstanceState, LearnRequest, PrepareReply,
    PrepareRequest,
};

/// A state change to persist: the fields of one key's instance that a
/// request set. `None` means "unchanged", not "cleared" (nothing is ever
/// cleared). Replaying changes in order with [`apply_change`] rebuilds the
/// state exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// The Paxos instance the change belongs to.
    pub key: String,
    /// New promise, if it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promised: Option<Ballot>,
    /// New accepted proposal, if it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Accepted>,
    /// Newly learned value, if it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned: Option<String>,
}

impl Change {
    /// The change that recreates a whole instance from nothing (used when
    /// the log is compacted into a snapshot).
    pub fn snapshot(key: &str, state: &InstanceState) -> Change {
        Change {
            key: key.to_owned(),
            promised: state.promised,
            accepted: state.accepted.clone(),
            learned: state.learned.clone(),
        }
    }

    /// Whether the change sets nothing at all.
    pub fn is_empty(&self) -> bool {
        self.promised.is_none() && self.accepted.is_none() && self.learned.is_none()
    }
}

/// Applies a persisted change to a map of instances (replay at start-up).
pub fn apply_change(instances: &mut BTreeMap<String, InstanceState>, change: &Change) {
    let state = instances.entry(change.key.clone()).or_default();
    if let Some(promised) = change.promised {
        state.promised = Some(promised);
    }
    if let Some(accepted) = &change.accepted {
        state.accepted = Some(accepted.clone());
    }
    if let Some(learned) = &change.learned {
        state.learned = Some(learned.clone());
    }
}

/// A learn request named a value different from the one already learned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("key {key:?} already learned value {learned:?}, refusing different value {offered:?}")]
pub struct LearnConflict {
    /// The key.
    pub key: String,
    /// The value learned earlier.
    pub learned: String,
    /// The different value the request offered.
    pub offered: String,
}

/// The acceptor: every key's instance state, plus the bugs it runs with.
#[derive(Clone, Debug, Default)]
pub struct Acceptor {
    instances: BTreeMap<String, InstanceState>,
    bugs: BugSet,
}

impl Acceptor {
    /// An acceptor with recovered state (empty for a fresh node).
    pub fn new(instances: BTreeMap<String, InstanceState>, bugs: BugSet) -> Acceptor {
        Acceptor { instances, bugs }
    }

    /// Every key's current state.
    pub fn instances(&self) -> &BTreeMap<String, InstanceState> {
        &self.instances
    }

    /// Phase 1b: answers a prepare and returns the change to persist.
    pub fn prepare(&mut self, req: &PrepareRequest) -> (PrepareReply, Option<Change>) {
        let state = self.instances.entry(req.key.clone()).or_default();
        // P1a: an acceptor never acts on a ballot below its promise; that is
        // what makes the promise mean anything to the proposer holding it.
        // `>=`, not `>`: an equal ballot is the same proposer asking again (a
        // duplicated or retried message) and must get the same answer.
        if Some(req.ballot) < state.promised {
            let promised = state.promised.expect("a ballot is below it, so it is Some");
            return (
                PrepareReply {
                    ok: false,
                    promised,
                    accepted: state.accepted.clone(),
                },
                None,
            );
        }
        // Promise: from now on refuse every ballot below `req.ballot`. The
        // reply reports the highest-ballot proposal accepted so far; the
        // proposer needs exactly that one to obey P2c.
        let change = (state.promised != Some(req.ballot)).then(|| Change {
            key: req.key.clone(),
            promised: Some(req.ballot),
            accepted: None,
            learned: None,
        });
        state.promised = Some(req.ballot);
        (
            PrepareReply {
                ok: true,
                promised: req.ballot,
                accepted: state.accepted.clone(),
            },
            change,
        )
    }

    /// Phase 2b: answers an accept and returns the change to persist.
    pub fn accept(&mut self, req: &AcceptRequest) -> (AcceptReply, Option<Change>) {
        let bugs = self.bugs;
        let state = self.instances.entry(req.key.clone()).or_default();
        let granted = if bugs.has(NodeBug::AcceptBelowPromise) {
            // BUG accept-below-promise: checks the ballot against the last
            // accepted proposal instead of the promise.
            Some(req.ballot) >= state.accepted.as_ref().map(|a| a.ballot)
        } else {
            // P1a again: accepting below a promise would break the promise a
            // proposer with a higher ballot is relying on: it may already
            // have picked its value from a quorum that included us, without
            // seeing this proposal (P2b fails).
            Some(req.ballot) >= state.promised
        };
        if !granted {
            // Some(ballot) < Some(promise) made us refuse, so the promise is
            // set; the fallbacks only matter when bugs are combined.
            let promised = state
                .promised
                .or(state.accepted.as_ref().map(|a| a.ballot))
                .unwrap_or(req.ballot);
            return (
                AcceptReply {
                    ok: false,
                    promised,
                },
                None,
            );
        }
        let old = state.clone();
        if !bugs.has(NodeBug::AcceptKeepsPromise) {
            // Accepting b is also a promise not to accept anything below b:
            // without it a delayed accept from a lower ballot could overwrite
            // this higher proposal, and prepare would then report the lower
            // one, so a proposer could miss a chosen value (P2c).
            state.promised = Some(req.ballot);
        }
        // BUG accept-keeps-promise leaves the promise as it was.
        let accepted = Accepted {
            ballot: req.ballot,
            value: req.value.clone(),
        };
        if !(bugs.has(NodeBug::PrepareReportsFirst) && state.accepted.is_some()) {
            // The new proposal replaces the old one: its ballot is >= the
            // promise >= the old accepted ballot, so `accepted` stays the
            // highest-ballot proposal ever accepted.
            state.accepted = Some(accepted);
        }
        // BUG prepare-reports-first keeps the first accepted proposal forever.
        let change = Change {
            key: req.key.clone(),
            promised: (state.promised != old.promised)
                .then_some(state.promised)
                .flatten(),
            accepted: (state.accepted != old.accepted)
                .then(|| state.accepted.clone())
                .flatten(),
            learned: None,
        };
        let reply = AcceptReply {
            ok: true,
            // Without the bug `promised` is `req.ballot` here; with
            // accept-keeps-promise on a fresh key there is no promise yet.
            promised: state.promised.unwrap_or(req.ballot),
        };
        (reply, (!change.is_empty()).then_some(change))
    }

    /// Records a chosen value; the same value twice is fine, a different
    /// one is a conflict (two values chosen for one key, or a buggy client).
    pub fn learn(&mut self, req: &LearnRequest) -> Result<Option<Change>, LearnConflict> {
        let state = self.instances.entry(req.key.clone()).or_default();
        match &state.learned {
            Some(learned) if *learned == req.value => Ok(None),
            Some(learned) => Err(LearnConflict {
                key: req.key.clone(),
                learned: learned.clone(),
                offered: req.value.clone(),
            }),
            None => {
                state.learned = Some(req.value.clone());
                Ok(Some(Change {
                    key: req.key.clone(),
                    promised: None,
                    accepted: None,
                    learned: Some(req.value.clone()),
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests;
