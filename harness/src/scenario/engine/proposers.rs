//! Driving the scripted proposers: starting, completing and ending their
//! operations, feeding them replies and turning their actions into requests.

use ballot_core::proposer::{Action, Event, Outcome, Undelivered};
use ballot_core::protocol::{AcceptReply, Ballot, NodeId, PrepareReply};
use ballot_core::records::{EventType, Process};
use ballot_workloads::scenario::{ReplyKind, RequestKind};
use serde_json::{json, Value};

use crate::Error;

use super::*;

impl Engine<'_> {
    pub(super) fn key_of(&mut self, key: &Option<String>) -> String {
        let k = format!(
            "{}{}",
            key.as_deref().unwrap_or(&self.scenario.key),
            self.suffix
        );
        self.out.keys.insert(k.clone());
        k
    }

    // ---- proposers -------------------------------------------------------

    /// Invokes the operation on first use, and begins a new attempt when the last one failed.
    pub(super) fn ensure_started(&mut self, p: usize) {
        if !self.props[p].invoked {
            let st = &mut self.props[p];
            st.invoked = true;
            let (f, value) = match &st.spec.value {
                Some(v) => ("propose", json!(v)),
                None => ("read", Value::Null),
            };
            let key = st.key.clone();
            let process = st.spec.id;
            self.out.keys.insert(key.clone());
            self.out.records.event(
                Process::Client(process),
                EventType::Invoke,
                f,
                Some(&key),
                value,
                None,
            );
            self.begin(p);
        } else if self.props[p].needs_attempt && self.props[p].outcome.is_none() {
            self.begin(p);
        }
    }

    pub(super) fn begin(&mut self, p: usize) {
        let st = &mut self.props[p];
        st.needs_attempt = false;
        match st.machine.begin_attempt() {
            Some(b) => {
                st.ballot = Some(b);
                st.accept = None;
            }
            None => st.exhausted = true,
        }
    }

    /// Records the operation's completion (once).
    pub(super) fn complete(&mut self, p: usize, outcome: Outcome) {
        let st = &mut self.props[p];
        if st.outcome.is_some() {
            return;
        }
        let (f, proposed) = match &st.spec.value {
            Some(v) => ("propose", json!(v)),
            None => ("read", Value::Null),
        };
        let (kind, value, error) = match &outcome {
            Outcome::Ok(v) => (EventType::Ok, json!(v), None),
            Outcome::Fail(why) => (EventType::Fail, proposed, Some(why.clone())),
            Outcome::Info(why) => (EventType::Info, proposed, Some(why.clone())),
        };
        let key = st.key.clone();
        let process = st.spec.id;
        st.outcome = Some(outcome);
        self.out
            .records
            .event(Process::Client(process), kind, f, Some(&key), value, error);
    }

    /// Ends an undecided operation the way the client would: `give_up`.
    ///
    /// The state machine counts every accept it asked for as possibly
    /// delivered until told otherwise, and the engine knows which it never
    /// built: it reports each as [`Undelivered::NotSent`] first, so an
    /// operation that died before its accepts left ends `fail` with "no
    /// accept request was sent" (S05's P2). Held accepts stay in flight.
    /// These reports are not replies, so `replies` does not record them.
    pub(super) fn end_op(&mut self, p: usize, why: &str) {
        if self.props[p].outcome.is_some() || !self.props[p].invoked {
            return;
        }
        // An attempt that failed on its own says why; one that is merely
        // abandoned says why the scenario stopped driving it.
        let failed_before = self.props[p].exhausted || self.props[p].needs_attempt;
        let unsent: Vec<(Ballot, usize)> = self.props[p]
            .accept_targets
            .iter()
            .flat_map(|(ballot, built)| {
                (0..self.scenario.nodes)
                    .filter(|node| !built.contains(node))
                    .map(|node| (*ballot, node))
            })
            .collect();
        for (ballot, node) in unsent {
            let event = Event::NotDelivered {
                from: node as NodeId,
                ballot,
                phase: RequestKind::Accept,
                cause: Undelivered::NotSent,
            };
            let action = self.props[p].machine.handle(event);
            self.act(p, action);
        }
        let st = &mut self.props[p];
        if st.outcome.is_some() {
            return;
        }
        let reason = if failed_before {
            st.machine.last_failure().to_string()
        } else {
            why.to_string()
        };
        let outcome = st.machine.give_up(&reason);
        self.complete(p, outcome);
    }

    /// Feeds one reply (or its absence) to a proposer and acts on its answer.
    pub(super) fn feed(
        &mut self,
        p: usize,
        phase: RequestKind,
        node: usize,
        ballot: Ballot,
        sent: &Sent,
    ) {
        let from = node as NodeId;
        let event = match (phase, sent) {
            (RequestKind::Learn, _) => return,
            (RequestKind::Prepare, Sent::Reply { status: 200, body }) => {
                match serde_json::from_value::<PrepareReply>(body.clone()) {
                    Ok(reply) => Event::Prepare {
                        from,
                        ballot,
                        reply,
                    },
                    Err(_) => no_reply(from, ballot, phase),
                }
            }
            (RequestKind::Accept, Sent::Reply { status: 200, body }) => {
                match serde_json::from_value::<AcceptReply>(body.clone()) {
                    Ok(reply) => Event::Accept {
                        from,
                        ballot,
                        reply,
                    },
                    Err(_) => no_reply(from, ballot, phase),
                }
            }
            // The node is down: the request never reached it.
            (_, Sent::Refused) => Event::NotDelivered {
                from,
                ballot,
                phase: proposer_phase(phase),
                cause: Undelivered::Refused,
            },
            // An error status, a timeout, a dropped message: it may have arrived.
            _ => no_reply(from, ballot, phase),
        };
        let kind = match &event {
            Event::Prepare { reply, .. } if reply.ok => ReplyKind::Acked,
            Event::Accept { reply, .. } if reply.ok => ReplyKind::Acked,
            Event::Prepare { .. } | Event::Accept { .. } => ReplyKind::Rejected,
            Event::NoReply { .. } | Event::NotDelivered { .. } => ReplyKind::NoReply,
        };
        self.props[p].replies.insert((phase, node), kind);
        let action = self.props[p].machine.handle(event);
        self.act(p, action);
    }

    pub(super) fn act(&mut self, p: usize, action: Action) {
        let st = &mut self.props[p];
        match action {
            Action::Wait | Action::SendPrepare(_) => {}
            Action::SendAccept { ballot, value } => {
                st.accept_targets.entry(ballot).or_default();
                st.accept = Some((ballot, value));
            }
            Action::AttemptFailed => {
                if st.machine.attempts_left() {
                    st.needs_attempt = true;
                } else {
                    st.exhausted = true;
                }
            }
            Action::Chosen { ballot, value } => {
                st.chosen = Some((ballot, value.clone()));
                self.complete(p, Outcome::Ok(Some(value)));
            }
            Action::Done(outcome) => self.complete(p, outcome),
        }
    }

    /// The body, ballot and sender of proposer `p`'s current `phase` request.
    pub(super) fn proposer_request(
        &mut self,
        p: usize,
        phase: RequestKind,
    ) -> Result<(Value, Ballot, Option<String>), Error> {
        if phase == RequestKind::Prepare {
            self.ensure_started(p);
        }
        let st = &self.props[p];
        let name = &st.spec.name;
        let key = &st.key;
        match phase {
            RequestKind::Prepare => {
                let b = st.ballot.expect("a started proposer has a ballot");
                Ok((json!({"key": key, "ballot": b}), b, None))
            }
            RequestKind::Accept => match &st.accept {
                Some((b, v)) => Ok((
                    json!({"key": key, "ballot": b, "value": v}),
                    *b,
                    Some(v.clone()),
                )),
                None => Err(self.script_error(format!(
                    "{name} has no accept to send: no quorum has promised its current ballot"
                ))),
            },
            RequestKind::Learn => match &st.chosen {
                Some((b, v)) => Ok((json!({"key": key, "ballot": b, "value": v}), *b, None)),
                None => Err(self.script_error(format!(
                    "{name} has nothing to learn: it has not seen a value chosen"
                ))),
            },
        }
    }

    // ---- messages --------------------------------------------------------
}
