//! The proposer of one operation as a state machine driven by events.
//!
//! The driver ([`crate::client`]) performs the [`Action`]s it returns
//! (send prepare or accept to every acceptor, back off, send learn) and
//! feeds back every reply or missing reply as an [`Event`]. Nothing here
//! does I/O or reads a clock, so tests drive it through any interleaving.

use std::collections::BTreeMap;

use crate::protocol::{AcceptReply, Accepted, Ballot, NodeId, PrepareReply};

use super::rules::{choose_value, next_ballot, quorum_size, Choice};
use super::{ClientBug, Outcome};

/// What the proposer is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Get this value chosen (or learn which value already is).
    Propose(String),
    /// Learn the chosen value, if any, without proposing one.
    Read,
}

/// Fixed parameters of a proposer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposerConfig {
    /// This proposer's id, the `proposer` half of its ballots.
    pub id: u64,
    /// Number of acceptors, numbered `0..acceptors`.
    pub acceptors: usize,
    /// Attempts (rounds, each with a fresh ballot) before giving up; at least 1 is used.
    pub max_attempts: u32,
    /// Deliberate bugs; empty for the correct proposer.
    pub bugs: Vec<ClientBug>,
}

/// Which request a missing reply belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// A prepare request.
    Prepare,
    /// An accept request.
    Accept,
}

/// What is known about a request that got no usable reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// It certainly never reached the acceptor (the connection could not be made).
    NotSent,
    /// It may have reached the acceptor: timeout, error status, garbled
    /// reply, connection lost after sending.
    Unknown,
}

/// Something that happened to a request the driver sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An acceptor answered a prepare sent at `ballot`.
    Prepare {
        /// The acceptor.
        from: NodeId,
        /// The ballot of the request this answers.
        ballot: Ballot,
        /// Its reply.
        reply: PrepareReply,
    },
    /// An acceptor answered an accept sent at `ballot`.
    Accept {
        /// The acceptor.
        from: NodeId,
        /// The ballot of the request this answers.
        ballot: Ballot,
        /// Its reply.
        reply: AcceptReply,
    },
    /// A request got no usable reply.
    NoReply {
        /// The acceptor.
        from: NodeId,
        /// The ballot of the request.
        ballot: Ballot,
        /// Which phase the request was.
        phase: Phase,
        /// Whether it may have reached the acceptor.
        delivery: Delivery,
    },
}

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send prepare at this ballot to every acceptor.
    SendPrepare(Ballot),
    /// Send accept at this ballot with this value to every acceptor.
    SendAccept {
        /// The proposal's ballot (the one just promised).
        ballot: Ballot,
        /// The value P2c dictates.
        value: String,
    },
    /// Nothing to do until the next event.
    Wait,
    /// This attempt cannot succeed: back off, then call [`Proposer::begin_attempt`]
    /// (or [`Proposer::give_up`] when no attempts are left).
    AttemptFailed,
    /// `value` is chosen at `ballot`: send learn to every acceptor, then
    /// return `Outcome::Ok(Some(value))`.
    Chosen {
        /// The ballot at which a quorum accepted it.
        ballot: Ballot,
        /// The chosen value.
        value: String,
    },
    /// The operation is over with this outcome and nothing to learn.
    Done(Outcome),
}

/// One acceptor's answer to a prepare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PrepareAnswer {
    Promised,
    Rejected,
    Lost,
}

/// Phase 1 of the current attempt.
#[derive(Clone, Debug)]
struct PrepareTally {
    ballot: Ballot,
    answers: BTreeMap<NodeId, PrepareAnswer>,
    /// Each promise's accepted proposal, in arrival order.
    promises: Vec<Option<Accepted>>,
}

/// One acceptor's answer to an accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AcceptAnswer {
    Acked,
    Rejected,
    Lost(Delivery),
}

/// Phase 2 at one ballot; kept after the attempt ends, since late acks can
/// still complete a quorum and late answers decide fail versus info.
#[derive(Clone, Debug)]
struct AcceptTally {
    value: String,
    answers: BTreeMap<NodeId, AcceptAnswer>,
}

impl AcceptTally {
    fn count(&self, answer: AcceptAnswer) -> usize {
        self.answers.values().filter(|a| **a == answer).count()
    }

    fn pending(&self, n: usize) -> usize {
        n - self.answers.len()
    }

    /// Whether some acceptor may have accepted: an ack, an answer we never
    /// got from a request that may have arrived, or no answer yet.
    fn may_have_effect(&self, n: usize) -> bool {
        self.pending(n) > 0
            || self.answers.values().any(|a| {
                matches!(
                    a,
                    AcceptAnswer::Acked | AcceptAnswer::Lost(Delivery::Unknown)
                )
            })
    }
}

#[derive(Clone, Debug)]
enum Stage {
    /// Between attempts (before the first, or after one failed).
    Idle,
    /// Phase 1 of the current attempt.
    Preparing(PrepareTally),
    /// Phase 2 of the current attempt, at this ballot.
    Accepting(Ballot),
    /// The operation ended; later events are ignored.
    Done,
}

/// The proposer of one operation (see the module doc of [`super`]).
#[derive(Clone, Debug)]
pub struct Proposer {
    config: ProposerConfig,
    quorum: usize,
    op: Op,
    last_round: u64,
    seen: Option<Ballot>,
    attempts: u32,
    stage: Stage,
    accepts: BTreeMap<Ballot, AcceptTally>,
    last_failure: String,
}

impl Proposer {
    /// A proposer for `op` whose ballots start above `last_round` (the
    /// highest round this proposer used or saw in earlier operations).
    pub fn new(config: ProposerConfig, op: Op, last_round: u64) -> Self {
        let quorum = quorum_size(config.acceptors, &config.bugs);
        Proposer {
            config,
            quorum,
            op,
            last_round,
            seen: None,
            attempts: 0,
            stage: Stage::Idle,
            accepts: BTreeMap::new(),
            last_failure: "no attempt made".to_string(),
        }
    }

    /// Number of distinct acceptors that make a quorum.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// Attempts begun so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether another attempt may begin.
    pub fn attempts_left(&self) -> bool {
        !matches!(self.stage, Stage::Done) && self.attempts < self.config.max_attempts.max(1)
    }

    /// The highest round this proposer used or saw; the next operation of
    /// the same client should start above it.
    pub fn round_floor(&self) -> u64 {
        self.last_round.max(self.seen.map_or(0, |b| b.round))
    }

    /// Why the latest attempt failed, for a person.
    pub fn last_failure(&self) -> &str {
        &self.last_failure
    }

    /// Starts a new attempt with a fresh ballot: send prepare at it to every
    /// acceptor. `None` when the operation is over or out of attempts.
    pub fn begin_attempt(&mut self) -> Option<Ballot> {
        if !self.attempts_left() {
            return None;
        }
        let ballot = next_ballot(
            self.last_round,
            self.seen,
            self.config.id,
            &self.config.bugs,
        );
        self.attempts += 1;
        self.last_round = ballot.round;
        self.stage = Stage::Preparing(PrepareTally {
            ballot,
            answers: BTreeMap::new(),
            promises: Vec::new(),
        });
        Some(ballot)
    }

    /// Takes in one event and says what to do next.
    pub fn handle(&mut self, event: Event) -> Action {
        match event {
            Event::Prepare {
                from,
                ballot,
                reply,
            } => {
                self.see(reply.promised);
                let answer = if reply.ok {
                    PrepareAnswer::Promised
                } else {
                    PrepareAnswer::Rejected
                };
                self.on_prepare(from, ballot, answer, reply.accepted)
            }
            Event::Accept {
                from,
                ballot,
                reply,
            } => {
                self.see(reply.promised);
                let answer = if reply.ok {
                    AcceptAnswer::Acked
                } else {
                    AcceptAnswer::Rejected
                };
                self.on_accept(from, ballot, answer)
            }
            Event::NoReply {
                from,
                ballot,
                phase: Phase::Prepare,
                ..
            } => self.on_prepare(from, ballot, PrepareAnswer::Lost, None),
            Event::NoReply {
                from,
                ballot,
                phase: Phase::Accept,
                delivery,
            } => self.on_accept(from, ballot, AcceptAnswer::Lost(delivery)),
        }
    }

    /// Ends the operation without a chosen value and classifies it:
    /// `Fail` only when no accept can have taken effect, else `Indeterminate`.
    pub fn give_up(&mut self, why: &str) -> Outcome {
        self.stage = Stage::Done;
        let n = self.config.acceptors;
        let sent_any = !self.accepts.is_empty();
        let effect = self.accepts.values().any(|t| t.may_have_effect(n));
        let minority_acked = self.accepts.values().any(|t| {
            let acks = t.count(AcceptAnswer::Acked);
            acks > 0 && acks < self.quorum
        });
        if minority_acked && self.config.bugs.contains(&ClientBug::MinorityFail) {
            // BUG(minority-fail): "only a minority accepted, so it failed".
            // But those acceptors keep the proposal, and a later proposer
            // adopts it (P2c): the value can still be chosen.
            return Outcome::Fail(format!("{why}; accepted by a minority only"));
        }
        if effect {
            // Some acceptor accepted, or may have: a later proposer may adopt
            // the value and get it chosen at any time. Not knowing is `info`.
            Outcome::Indeterminate(format!("{why}; an accept may have taken effect"))
        } else if sent_any {
            // Every acceptor explicitly refused every accept we sent (or
            // certainly never got it): nothing holds our proposal.
            Outcome::Fail(format!("{why}; every accept was rejected"))
        } else {
            // No accept ever left: prepares change no value.
            Outcome::Fail(format!("{why}; no accept was sent"))
        }
    }

    /// True while some accept is unanswered and every answer so far was a
    /// refusal: waiting for the rest can turn an `info` into a `fail` (or
    /// into a chosen value), so a driver that is giving up may wait for them.
    pub fn awaiting_decisive_accepts(&self) -> bool {
        let n = self.config.acceptors;
        !matches!(self.stage, Stage::Done)
            && self.accepts.values().any(|t| t.pending(n) > 0)
            && !self.accepts.values().any(|t| {
                t.answers.values().any(|a| {
                    matches!(
                        a,
                        AcceptAnswer::Acked | AcceptAnswer::Lost(Delivery::Unknown)
                    )
                })
            })
    }

    fn see(&mut self, promised: Ballot) {
        self.seen = self.seen.max(Some(promised));
    }

    fn on_prepare(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        answer: PrepareAnswer,
        accepted: Option<Accepted>,
    ) -> Action {
        let n = self.config.acceptors;
        let Stage::Preparing(tally) = &mut self.stage else {
            return Action::Wait; // a straggler of a finished phase 1
        };
        if tally.ballot != ballot || from as usize >= n || tally.answers.contains_key(&from) {
            // Another attempt's reply, an unknown acceptor, or a duplicate:
            // each acceptor counts once.
            return Action::Wait;
        }
        tally.answers.insert(from, answer);
        if answer == PrepareAnswer::Promised {
            tally.promises.push(accepted);
        }
        let promised = tally.promises.len();
        if promised >= self.quorum {
            let reports: Vec<Option<&Accepted>> =
                tally.promises.iter().map(Option::as_ref).collect();
            let own = match &self.op {
                Op::Propose(value) => Some(value.as_str()),
                Op::Read => None,
            };
            return match choose_value(&reports, own, &self.config.bugs) {
                Choice::NothingAccepted => {
                    self.stage = Stage::Done;
                    Action::Done(Outcome::Ok(None))
                }
                Choice::Propose(value)
                    if self.op == Op::Read
                        && self.config.bugs.contains(&ClientBug::ReadNoPhase2) =>
                {
                    // BUG(read-no-phase2): the highest accepted value may be
                    // a leftover that is never chosen (S10), and another
                    // value may be chosen later.
                    self.stage = Stage::Done;
                    Action::Done(Outcome::Ok(Some(value)))
                }
                Choice::Propose(value) => {
                    // A read that saw an accepted value completes phase 2 for
                    // it: only a quorum of acks proves it is chosen.
                    self.stage = Stage::Accepting(ballot);
                    self.accepts.insert(
                        ballot,
                        AcceptTally {
                            value: value.clone(),
                            answers: BTreeMap::new(),
                        },
                    );
                    Action::SendAccept { ballot, value }
                }
            };
        }
        let pending = n - tally.answers.len();
        if promised + pending < self.quorum {
            let count = |a| tally.answers.values().filter(|x| **x == a).count();
            self.last_failure = format!(
                "prepare {ballot}: {promised} promised, {} rejected, {} no answer of {n} (quorum {})",
                count(PrepareAnswer::Rejected),
                count(PrepareAnswer::Lost),
                self.quorum
            );
            self.stage = Stage::Idle;
            return Action::AttemptFailed;
        }
        Action::Wait
    }

    fn on_accept(&mut self, from: NodeId, ballot: Ballot, answer: AcceptAnswer) -> Action {
        let n = self.config.acceptors;
        if matches!(self.stage, Stage::Done) || from as usize >= n {
            return Action::Wait;
        }
        let Some(tally) = self.accepts.get_mut(&ballot) else {
            return Action::Wait; // we never sent accept at that ballot
        };
        if tally.answers.contains_key(&from) {
            return Action::Wait; // a duplicate: each acceptor counts once
        }
        tally.answers.insert(from, answer);
        let acks = tally.count(AcceptAnswer::Acked);
        let needed = if self.config.bugs.contains(&ClientBug::LearnFirstAccept) {
            // BUG(learn-first-accept): one acceptor's ack proves nothing; a
            // higher ballot can still get another value chosen.
            1
        } else {
            self.quorum
        };
        if acks >= needed {
            // A quorum accepted the same proposal (same ballot): chosen. This
            // holds even for an older attempt's ballot whose acks arrive late.
            let value = tally.value.clone();
            self.stage = Stage::Done;
            return Action::Chosen { ballot, value };
        }
        let current = matches!(self.stage, Stage::Accepting(b) if b == ballot);
        if current && acks + tally.pending(n) < self.quorum {
            self.last_failure = format!(
                "accept {ballot}: {acks} accepted, {} rejected, {} no answer of {n} (quorum {})",
                tally.count(AcceptAnswer::Rejected),
                n - tally.pending(n) - acks - tally.count(AcceptAnswer::Rejected),
                self.quorum
            );
            self.stage = Stage::Idle;
            return Action::AttemptFailed;
        }
        Action::Wait
    }
}
