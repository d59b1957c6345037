//! The proposer of one operation as a state machine driven by events.
//!
//! The driver (`ballot_node::client`) performs the [`Action`]s it returns
//! (send prepare or accept to every acceptor, back off, send learn) and
//! feeds back every reply or missing reply as an [`Event`]. Nothing here
//! does I/O or reads a clock, so tests drive it through any interleaving.

use std::collections::BTreeMap;

use crate::protocol::{AcceptReply, Accepted, Ballot, NodeId, PrepareReply, RequestKind};

use super::outcome::{reason, AcceptSummary};
use super::rules::{choose_value, next_ballot, quorum_size, Choice};
use super::{ClientBug, Outcome};

/// What the proposer is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Goal {
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

/// Why a request certainly never reached its acceptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Undelivered {
    /// It was never put on the wire: the driver stopped before sending it
    /// (a scripted run that ends before delivering an accept it was asked for).
    NotSent,
    /// It was sent but could not reach the acceptor: the connection was
    /// refused, or the harness proxy answered `502` (node down, not forwarded).
    Refused,
}

/// Something that happened to a request the driver sent (or was asked to).
///
/// Every request the proposer asks for counts as *possibly delivered* until
/// an event says otherwise. That default is the safe one: a driver that
/// never reports a request can only turn a `fail` into an `info`, never
/// claim "no effect" for a request that reached an acceptor.
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
    /// A request was sent but no usable answer came back (timeout, connection
    /// closed with no answer, an error status such as `504`, a garbled body):
    /// it may have reached the acceptor and taken effect.
    NoReply {
        /// The acceptor.
        from: NodeId,
        /// The ballot of the request.
        ballot: Ballot,
        /// Which phase the request was.
        phase: RequestKind,
    },
    /// A request certainly never reached the acceptor, so it had no effect
    /// there. Only for certainty; when in doubt a driver reports `NoReply`.
    NotDelivered {
        /// The acceptor.
        from: NodeId,
        /// The ballot of the request.
        ballot: Ballot,
        /// Which phase the request was.
        phase: RequestKind,
        /// Never sent, or refused on the way.
        cause: Undelivered,
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
    NoReply,
    NotDelivered,
}

/// RequestKind 1 of the current attempt.
#[derive(Clone, Debug)]
struct PrepareTally {
    ballot: Ballot,
    answers: BTreeMap<NodeId, PrepareAnswer>,
    /// Each promise's accepted proposal, in arrival order.
    promises: Vec<Option<Accepted>>,
}

impl PrepareTally {
    fn count(&self, answer: PrepareAnswer) -> usize {
        self.answers.values().filter(|a| **a == answer).count()
    }
}

/// One acceptor's answer to an accept (or what is certain about it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AcceptAnswer {
    Acked,
    Rejected,
    NoReply,
    NotDelivered(Undelivered),
}

/// RequestKind 2 at one ballot; kept after the attempt ends, since late acks can
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

    /// Adds this ballot's accept requests to `sum`; unanswered ones count
    /// as possibly delivered.
    fn add_to(&self, sum: &mut AcceptSummary, n: usize) {
        sum.unanswered += self.pending(n);
        for answer in self.answers.values() {
            match answer {
                AcceptAnswer::Acked => sum.acked += 1,
                AcceptAnswer::Rejected => sum.rejected += 1,
                AcceptAnswer::NoReply => sum.no_reply += 1,
                AcceptAnswer::NotDelivered(Undelivered::Refused) => sum.refused += 1,
                AcceptAnswer::NotDelivered(Undelivered::NotSent) => sum.not_sent += 1,
            }
        }
    }

    /// Answers that certainly did not take effect and are not rejections.
    fn not_delivered(&self) -> usize {
        self.answers
            .values()
            .filter(|a| matches!(a, AcceptAnswer::NotDelivered(_)))
            .count()
    }
}

#[derive(Clone, Debug)]
enum Stage {
    /// Between attempts (before the first, or after one failed).
    Idle,
    /// RequestKind 1 of the current attempt.
    Preparing(PrepareTally),
    /// RequestKind 2 of the current attempt, at this ballot.
    Accepting(Ballot),
    /// The operation ended; later events are ignored.
    Done,
}

/// The proposer of one operation (see the module doc of [`super`]).
#[derive(Clone, Debug)]
pub struct Proposer {
    config: ProposerConfig,
    quorum: usize,
    op: Goal,
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
    pub fn new(config: ProposerConfig, op: Goal, last_round: u64) -> Self {
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
                phase,
            } => match phase {
                RequestKind::Prepare => self.on_prepare(from, ballot, PrepareAnswer::NoReply, None),
                RequestKind::Accept => self.on_accept(from, ballot, AcceptAnswer::NoReply),
                // A proposer sends no learns, so it waits for no learn reply.
                RequestKind::Learn => Action::Wait,
            },
            Event::NotDelivered {
                from,
                ballot,
                phase,
                cause,
            } => match phase {
                RequestKind::Prepare => {
                    self.on_prepare(from, ballot, PrepareAnswer::NotDelivered, None)
                }
                RequestKind::Accept => {
                    self.on_accept(from, ballot, AcceptAnswer::NotDelivered(cause))
                }
                RequestKind::Learn => Action::Wait,
            },
        }
    }

    /// What every accept request of this operation came to so far.
    pub fn accept_summary(&self) -> AcceptSummary {
        let mut sum = AcceptSummary::default();
        for tally in self.accepts.values() {
            tally.add_to(&mut sum, self.config.acceptors);
        }
        sum
    }

    /// Ends the operation without a chosen value and classifies it, `why`
    /// being the cause: `Fail` only when no accept can have taken effect,
    /// else `Indeterminate` (the rule: [`AcceptSummary::outcome`]).
    pub fn give_up(&mut self, why: &str) -> Outcome {
        self.stage = Stage::Done;
        let minority_acked = self.accepts.values().any(|t| {
            let acks = t.count(AcceptAnswer::Acked);
            acks > 0 && acks < self.quorum
        });
        if minority_acked && self.config.bugs.contains(&ClientBug::MinorityFail) {
            // BUG(minority-fail): "only a minority accepted, so it failed".
            // But those acceptors keep the proposal, and a later proposer
            // adopts it (P2c): the value can still be chosen.
            return Outcome::Fail(format!("{why}; {}", reason::MINORITY_FAIL_BUG));
        }
        self.accept_summary().outcome(why)
    }

    /// True while some accept is unanswered and every answer so far was a
    /// refusal or certainly undelivered: waiting for the rest can turn an
    /// `info` into a `fail` (or into a chosen value), so a driver that is
    /// giving up may wait for them.
    pub fn awaiting_decisive_accepts(&self) -> bool {
        let sum = self.accept_summary();
        !matches!(self.stage, Stage::Done)
            && sum.unanswered > 0
            && sum.acked == 0
            && sum.no_reply == 0
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
                Goal::Propose(value) => Some(value.as_str()),
                Goal::Read => None,
            };
            return match choose_value(&reports, own, &self.config.bugs) {
                Choice::NothingAccepted => {
                    self.stage = Stage::Done;
                    Action::Done(Outcome::Ok(None))
                }
                Choice::Propose(value)
                    if self.op == Goal::Read
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
            self.last_failure = format!(
                "prepare {ballot}: {promised} promised, {} rejected, {} no answer, \
                 {} not delivered of {n} (quorum {})",
                tally.count(PrepareAnswer::Rejected),
                tally.count(PrepareAnswer::NoReply),
                tally.count(PrepareAnswer::NotDelivered),
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
                "accept {ballot}: {acks} accepted, {} rejected, {} no answer, \
                 {} not delivered of {n} (quorum {})",
                tally.count(AcceptAnswer::Rejected),
                tally.count(AcceptAnswer::NoReply),
                tally.not_delivered(),
                self.quorum
            );
            self.stage = Stage::Idle;
            return Action::AttemptFailed;
        }
        Action::Wait
    }
}
