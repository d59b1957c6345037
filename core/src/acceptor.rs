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
mod tests {
    use super::*;

    fn b(round: u64, proposer: u64) -> Ballot {
        Ballot::new(round, proposer)
    }

    fn acc(ballot: Ballot, value: &str) -> Accepted {
        Accepted {
            ballot,
            value: value.into(),
        }
    }

    /// A fresh acceptor with key "k" in the given state.
    fn with_state(promised: Option<Ballot>, accepted: Option<Accepted>, bugs: BugSet) -> Acceptor {
        let mut instances = BTreeMap::new();
        if promised.is_some() || accepted.is_some() {
            instances.insert(
                "k".to_owned(),
                InstanceState {
                    promised,
                    accepted,
                    learned: None,
                },
            );
        }
        Acceptor::new(instances, bugs)
    }

    fn prepare(a: &mut Acceptor, ballot: Ballot) -> (PrepareReply, Option<Change>) {
        a.prepare(&PrepareRequest {
            key: "k".into(),
            ballot,
        })
    }

    fn accept(a: &mut Acceptor, ballot: Ballot, value: &str) -> (AcceptReply, Option<Change>) {
        a.accept(&AcceptRequest {
            key: "k".into(),
            ballot,
            value: value.into(),
        })
    }

    fn state(a: &Acceptor) -> InstanceState {
        a.instances().get("k").cloned().unwrap_or_default()
    }

    fn change(promised: Option<Ballot>, accepted: Option<Accepted>) -> Option<Change> {
        Some(Change {
            key: "k".into(),
            promised,
            accepted,
            learned: None,
        })
    }

    /// promised, accepted, request ballot; expected ok, promised, accepted, whether it records.
    type PrepareRow = (
        Option<Ballot>,
        Option<Accepted>,
        Ballot,
        bool,
        Ballot,
        Option<Accepted>,
        bool,
    );
    /// promised, accepted, request ballot; expected ok, promised, accepted afterwards.
    type AcceptRow = (
        Option<Ballot>,
        Option<Accepted>,
        Ballot,
        bool,
        Ballot,
        Option<Accepted>,
    );

    #[test]
    fn prepare_rules() {
        // (promised, accepted, request) -> (ok, reply.promised, reply.accepted, new promise, record?)
        let a37 = Some(acc(b(3, 7), "x"));
        #[rustfmt::skip]
        let table: Vec<PrepareRow> = vec![
            // no ballot yet: granted, recorded
            (None, None, b(1, 1), true, b(1, 1), None, true),
            // higher ballot: granted, reports the accepted proposal
            (Some(b(3, 7)), a37.clone(), b(4, 1), true, b(4, 1), a37.clone(), true),
            // same round, higher proposer id: granted
            (Some(b(3, 7)), None, b(3, 8), true, b(3, 8), None, true),
            // equal ballot (duplicate prepare): same answer, nothing to persist
            (Some(b(3, 7)), a37.clone(), b(3, 7), true, b(3, 7), a37.clone(), false),
            // lower round: rejected, carries the current promise and accepted
            (Some(b(3, 7)), a37.clone(), b(2, 9), false, b(3, 7), a37.clone(), false),
            // same round, lower proposer id: rejected
            (Some(b(3, 7)), None, b(3, 6), false, b(3, 7), None, false),
        ];
        for (i, (promised, accepted, ballot, ok, reply_promised, reply_accepted, records)) in
            table.into_iter().enumerate()
        {
            let mut a = with_state(promised, accepted.clone(), BugSet::NONE);
            let (reply, ch) = prepare(&mut a, ballot);
            assert_eq!(
                reply,
                PrepareReply {
                    ok,
                    promised: reply_promised,
                    accepted: reply_accepted
                },
                "row {i}"
            );
            assert_eq!(
                ch,
                if records {
                    change(Some(ballot), None)
                } else {
                    None
                },
                "row {i}"
            );
            assert_eq!(state(&a).promised, Some(reply_promised), "row {i}");
            assert_eq!(
                state(&a).accepted,
                accepted,
                "row {i}: prepare never changes accepted"
            );
        }
    }

    #[test]
    fn accept_rules() {
        // (promised, accepted, request ballot) -> (ok, reply.promised, new accepted)
        let a37 = Some(acc(b(3, 7), "x"));
        #[rustfmt::skip]
        let table: Vec<AcceptRow> = vec![
            // no ballot yet: granted, and accepting raises the promise
            (None, None, b(1, 1), true, b(1, 1), Some(acc(b(1, 1), "v"))),
            // equal to the promise (accept after its own prepare): granted
            (Some(b(3, 7)), None, b(3, 7), true, b(3, 7), Some(acc(b(3, 7), "v"))),
            // above the promise: granted, replaces the lower accepted proposal
            (Some(b(3, 7)), a37.clone(), b(5, 1), true, b(5, 1), Some(acc(b(5, 1), "v"))),
            // below the promise: rejected with the promise, state unchanged
            (Some(b(3, 7)), None, b(2, 9), false, b(3, 7), None),
            (Some(b(4, 1)), a37.clone(), b(3, 7), false, b(4, 1), a37.clone()),
        ];
        for (i, (promised, accepted, ballot, ok, reply_promised, new_accepted)) in
            table.into_iter().enumerate()
        {
            let mut a = with_state(promised, accepted.clone(), BugSet::NONE);
            let (reply, ch) = accept(&mut a, ballot, "v");
            assert_eq!(
                reply,
                AcceptReply {
                    ok,
                    promised: reply_promised
                },
                "row {i}"
            );
            assert_eq!(state(&a).promised, Some(reply_promised), "row {i}");
            assert_eq!(state(&a).accepted, new_accepted, "row {i}");
            if ok {
                let expected_promise = (promised != Some(ballot)).then_some(ballot);
                assert_eq!(ch, change(expected_promise, new_accepted), "row {i}");
            } else {
                assert_eq!(ch, None, "row {i}");
            }
        }
    }

    #[test]
    fn duplicate_accept_is_granted_without_a_record() {
        let mut a = with_state(None, None, BugSet::NONE);
        assert!(accept(&mut a, b(2, 1), "v").1.is_some());
        let (reply, ch) = accept(&mut a, b(2, 1), "v");
        assert_eq!(
            reply,
            AcceptReply {
                ok: true,
                promised: b(2, 1)
            }
        );
        assert_eq!(ch, None);
    }

    #[test]
    fn accept_raises_the_promise_so_later_prepares_see_it() {
        let mut a = with_state(Some(b(1, 1)), None, BugSet::NONE);
        accept(&mut a, b(5, 2), "v");
        let (reply, _) = prepare(&mut a, b(4, 9));
        assert!(!reply.ok);
        assert_eq!(reply.promised, b(5, 2));
        assert_eq!(reply.accepted, Some(acc(b(5, 2), "v")));
    }

    #[test]
    fn keys_are_independent() {
        let mut a = Acceptor::default();
        prepare(&mut a, b(9, 9));
        let (reply, _) = a.prepare(&PrepareRequest {
            key: "other".into(),
            ballot: b(1, 1),
        });
        assert!(reply.ok);
    }

    #[test]
    fn learn_rules() {
        let mut a = Acceptor::default();
        let learn = |value: &str| LearnRequest {
            key: "k".into(),
            ballot: b(1, 1),
            value: value.into(),
        };
        assert_eq!(
            a.learn(&learn("v")),
            Ok(Some(Change {
                key: "k".into(),
                promised: None,
                accepted: None,
                learned: Some("v".into())
            }))
        );
        // the same value again: fine, nothing new to persist
        assert_eq!(a.learn(&learn("v")), Ok(None));
        // a different value: conflict, the first one stays
        assert_eq!(
            a.learn(&learn("w")),
            Err(LearnConflict {
                key: "k".into(),
                learned: "v".into(),
                offered: "w".into()
            })
        );
        assert_eq!(state(&a).learned.as_deref(), Some("v"));
        // learning touches neither promise nor acceptance
        assert_eq!(state(&a).promised, None);
        assert_eq!(state(&a).accepted, None);
    }

    #[test]
    fn replaying_changes_rebuilds_the_state() {
        let mut a = Acceptor::default();
        let mut log = Vec::new();
        let mut step = |ch: Option<Change>| log.extend(ch);
        step(prepare(&mut a, b(1, 1)).1);
        step(accept(&mut a, b(1, 1), "x").1);
        step(prepare(&mut a, b(3, 2)).1);
        step(prepare(&mut a, b(2, 2)).1);
        step(accept(&mut a, b(4, 4), "y").1);
        step(
            a.learn(&LearnRequest {
                key: "k".into(),
                ballot: b(4, 4),
                value: "y".into(),
            })
            .unwrap(),
        );
        let mut replayed = BTreeMap::new();
        for ch in &log {
            apply_change(&mut replayed, ch);
        }
        assert_eq!(&replayed, a.instances());
        let mut from_snapshot = BTreeMap::new();
        apply_change(&mut from_snapshot, &Change::snapshot("k", &state(&a)));
        assert_eq!(&from_snapshot, a.instances());
    }

    #[test]
    fn bug_accept_below_promise_grants_only_the_below_promise_case() {
        let bugs = BugSet::of(&[NodeBug::AcceptBelowPromise]);
        // below the promise, nothing accepted: granted (correct node rejects)
        let mut a = with_state(Some(b(3, 7)), None, bugs);
        assert!(accept(&mut a, b(2, 9), "v").0.ok);
        // below the promise but above the accepted ballot: granted too
        let mut a = with_state(Some(b(5, 1)), Some(acc(b(3, 7), "x")), bugs);
        assert!(accept(&mut a, b(4, 1), "v").0.ok);
        // below the accepted ballot: still rejected
        let mut a = with_state(Some(b(5, 1)), Some(acc(b(3, 7), "x")), bugs);
        assert_eq!(
            accept(&mut a, b(2, 1), "v").0,
            AcceptReply {
                ok: false,
                promised: b(5, 1)
            }
        );
        // prepare is unchanged
        let mut a = with_state(Some(b(3, 7)), None, bugs);
        assert!(!prepare(&mut a, b(2, 9)).0.ok);
    }

    #[test]
    fn bug_accept_keeps_promise_lets_a_lower_accept_overwrite() {
        let bugs = BugSet::of(&[NodeBug::AcceptKeepsPromise]);
        let mut a = with_state(Some(b(1, 1)), None, bugs);
        let (reply, ch) = accept(&mut a, b(5, 5), "high");
        assert_eq!(
            reply,
            AcceptReply {
                ok: true,
                promised: b(1, 1)
            }
        );
        assert_eq!(ch, change(None, Some(acc(b(5, 5), "high"))));
        assert_eq!(state(&a).promised, Some(b(1, 1)));
        // a delayed lower accept overwrites the higher proposal
        assert!(accept(&mut a, b(2, 2), "low").0.ok);
        assert_eq!(state(&a).accepted, Some(acc(b(2, 2), "low")));
        // accepts below the promise are still rejected, prepares unchanged
        assert!(!accept(&mut a, b(1, 0), "v").0.ok);
        assert!(prepare(&mut a, b(3, 3)).0.ok);
    }

    #[test]
    fn bug_prepare_reports_first_keeps_the_first_acceptance() {
        let bugs = BugSet::of(&[NodeBug::PrepareReportsFirst]);
        let mut a = with_state(None, None, bugs);
        assert!(accept(&mut a, b(1, 1), "first").0.ok);
        let (reply, ch) = accept(&mut a, b(4, 2), "second");
        // the accept is acknowledged and raises the promise ...
        assert_eq!(
            reply,
            AcceptReply {
                ok: true,
                promised: b(4, 2)
            }
        );
        assert_eq!(ch, change(Some(b(4, 2)), None));
        // ... but prepare reports the first proposal, not the highest
        let (reply, _) = prepare(&mut a, b(6, 1));
        assert_eq!(reply.accepted, Some(acc(b(1, 1), "first")));
        // below-promise accepts are still rejected
        assert!(!accept(&mut a, b(5, 1), "v").0.ok);
    }

    #[test]
    fn no_bug_flag_changes_the_correct_path_for_ordinary_rounds() {
        // One prepare + accept on a fresh key behaves identically under every bug.
        for bug in NodeBug::ALL {
            let mut a = with_state(None, None, BugSet::of(&[bug]));
            let mut correct = Acceptor::default();
            assert_eq!(
                prepare(&mut a, b(1, 1)),
                prepare(&mut correct, b(1, 1)),
                "{bug}"
            );
            assert_eq!(
                accept(&mut a, b(1, 1), "v"),
                accept(&mut correct, b(1, 1), "v"),
                "{bug}"
            );
        }
    }
}
