//! One scenario step, written as one line of text, and its parser.
//!
//! The grammar (full reference with examples in `docs/scenarios.md`):
//!
//! ```text
//! [VERB] PHASE SENDER -> NODES [by N] [key=K]   one message per node, in order
//!     VERB   = deliver (default) | hold | release | drop-request | drop-response
//!            | duplicate | cut
//!     PHASE  = prepare | accept | learn
//!     SENDER = a proposer's name (its current request), or a raw message:
//!              BALLOT [VALUE] with BALLOT = ROUND.PROPOSER, e.g. `accept 5.2 "7"`
//! run P via NODES                               drive P to the end against NODES
//! kill|restart|pause|resume NODES               process faults
//! invoke N propose V | invoke N read            a raw history invocation of process N
//! ok|fail|info N propose|read [V|none]          a raw history completion
//! expect ...                                    an assertion (see [`Expect`])
//! ```
//!
//! Nodes are letters `A`, `B`, ... (node ids 0, 1, ...), separated by commas
//! or spaces. A value is a bare word or a JSON string (`"two words"`); the
//! bare word `none` means "no value" where that makes sense.

use ballot_core::protocol::Ballot;

use crate::op::F;

mod parse;
mod print;
#[cfg(test)]
mod tests;

/// The request a message step sends (the protocol's own vocabulary).
pub use ballot_core::protocol::RequestKind;
pub use parse::{is_proposer_name, parse_ballot, parse_step};
pub use print::quote_value;

/// What happens to a message (the proxy's fates, chosen by the script).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Send now; the reply goes to the proposer.
    Deliver,
    /// Build the message now (with the proposer's current ballot and value)
    /// but do not send it: it is in flight until `release`.
    Hold,
    /// Send a held message now; the reply goes to the proposer.
    Release,
    /// Never send it; the proposer sees no reply (a timeout).
    DropRequest,
    /// Send it; the node acts on it, but the proposer sees no reply.
    DropResponse,
    /// Send it twice; the first reply goes to the proposer, the second nowhere.
    Duplicate,
    /// Like `drop-request`, recorded as a partition (`cut`).
    Cut,
}

impl Verb {
    /// The word used in steps.
    pub const fn name(self) -> &'static str {
        match self {
            Verb::Deliver => "deliver",
            Verb::Hold => "hold",
            Verb::Release => "release",
            Verb::DropRequest => "drop-request",
            Verb::DropResponse => "drop-response",
            Verb::Duplicate => "duplicate",
            Verb::Cut => "cut",
        }
    }

    const ALL: [Verb; 7] = [
        Verb::Deliver,
        Verb::Hold,
        Verb::Release,
        Verb::DropRequest,
        Verb::DropResponse,
        Verb::Duplicate,
        Verb::Cut,
    ];

    fn parse(word: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.name() == word)
    }
}

/// Who a message comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sender {
    /// A declared proposer: its current request (ballot and value from its state machine).
    Proposer(String),
    /// A literal message, not tied to a proposer state machine (replay and shrink write these).
    Raw {
        /// The ballot.
        ballot: Ballot,
        /// The value (accept and learn).
        value: Option<String>,
        /// The client process recorded as its sender (`by N`).
        process: Option<u64>,
    },
}

/// A message step: one message per node, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageStep {
    /// What happens to the messages.
    pub verb: Verb,
    /// Which request.
    pub phase: RequestKind,
    /// Whose request.
    pub sender: Sender,
    /// The target nodes, in the order the messages are sent.
    pub nodes: Vec<usize>,
    /// The key, when not the scenario's key (`key=K`).
    pub key: Option<String>,
}

/// A process fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// SIGKILL (kill -9).
    Kill,
    /// Start a killed node again (same port and data dir).
    Restart,
    /// SIGSTOP: messages sent to it wait until `resume`.
    Pause,
    /// SIGCONT: the waiting messages are processed, in the order they were sent.
    Resume,
}

impl Fault {
    /// The word used in steps.
    pub const fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Restart => "restart",
            Fault::Pause => "pause",
            Fault::Resume => "resume",
        }
    }

    fn parse(word: &str) -> Option<Fault> {
        [Fault::Kill, Fault::Restart, Fault::Pause, Fault::Resume]
            .into_iter()
            .find(|f| f.name() == word)
    }
}

/// How a raw history operation completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Completion {
    /// `ok`.
    Ok,
    /// `fail`.
    Fail,
    /// `info` (indeterminate).
    Info,
}

impl Completion {
    /// The history's word.
    pub const fn name(self) -> &'static str {
        match self {
            Completion::Ok => "ok",
            Completion::Fail => "fail",
            Completion::Info => "info",
        }
    }

    fn parse(word: &str) -> Option<Completion> {
        [Completion::Ok, Completion::Fail, Completion::Info]
            .into_iter()
            .find(|c| c.name() == word)
    }
}

/// A raw history event (replay and shrink write these; scripted proposers
/// record their own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryStep {
    /// `None` for an invocation, else how it completed.
    pub completion: Option<Completion>,
    /// The client process.
    pub process: u64,
    /// propose or read.
    pub f: F,
    /// The value: proposed (invoke), chosen (ok); `None` is JSON null.
    pub value: Option<String>,
    /// The key, when not the scenario's key.
    pub key: Option<String>,
}

/// A ballot in an assertion: literal, or a proposer's current ballot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BallotRef {
    /// `ROUND.PROPOSER`.
    Literal(Ballot),
    /// The ballot of this proposer's latest attempt.
    Of(String),
}

/// The outcome an assertion expects of a proposer's operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectedOutcome {
    /// `ok V` (or `ok none` for a read that found nothing).
    Ok(Option<String>),
    /// `fail`, or `fail "TEXT"`: certainly no effect (and the reason contains TEXT).
    Fail(Option<String>),
    /// `info` or `indeterminate`, optionally with `"TEXT"`: may take effect
    /// (and the reason contains TEXT).
    Info(Option<String>),
    /// Not finished yet.
    Pending,
}

/// What the last reply to a proposer's message said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    /// `ok: true`.
    Acked,
    /// `ok: false`.
    Rejected,
    /// No reply reached the proposer.
    NoReply,
}

impl ReplyKind {
    /// The word used in steps.
    pub const fn name(self) -> &'static str {
        match self {
            ReplyKind::Acked => "acked",
            ReplyKind::Rejected => "rejected",
            ReplyKind::NoReply => "no-reply",
        }
    }
}

/// An assertion, checked when the step is reached (`valid`/`invalid`: at the end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `expect chosen V|none`: the value chosen for the scenario's key so far
    /// (a majority of acceptors acked accepts of one ballot, per the message log).
    Chosen(Option<String>),
    /// `expect P ok V|ok none|fail|info|pending`; `fail` and `info` may add
    /// a JSON string that the operation's reason must contain.
    Outcome {
        /// The proposer.
        proposer: String,
        /// What it must have returned.
        outcome: ExpectedOutcome,
    },
    /// `expect P proposes V`: P sent at least one accept, and every one carried V.
    Proposes {
        /// The proposer.
        proposer: String,
        /// The value.
        value: String,
    },
    /// `expect NODE promised BALLOT|none` (from `/v1/state`).
    Promised {
        /// The node.
        node: usize,
        /// The promise.
        ballot: Option<BallotRef>,
    },
    /// `expect NODE accepted BALLOT V|none` (from `/v1/state`).
    Accepted {
        /// The node.
        node: usize,
        /// The accepted proposal.
        proposal: Option<(BallotRef, String)>,
    },
    /// `expect NODE learned V|none` (from `/v1/state`).
    Learned {
        /// The node.
        node: usize,
        /// The learned value.
        value: Option<String>,
    },
    /// `expect PHASE P -> NODE acked|rejected|no-reply`: the latest such message.
    Reply {
        /// Which request.
        phase: RequestKind,
        /// Whose.
        proposer: String,
        /// To which node.
        node: usize,
        /// What its reply said.
        reply: ReplyKind,
    },
    /// `expect valid`: the checker finds no violation.
    Valid,
    /// `expect invalid [PROPERTY]`: the checker finds a violation (of PROPERTY,
    /// a property name such as `chosen-unique` or a checker name such as `linearizable`).
    Invalid(Option<String>),
}

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Messages.
    Message(MessageStep),
    /// `run P via NODES`: send every request P makes to NODES, in order, until it finishes.
    Run {
        /// The proposer.
        proposer: String,
        /// The nodes it reaches.
        nodes: Vec<usize>,
    },
    /// A process fault on each node, in order.
    Fault {
        /// Which fault.
        fault: Fault,
        /// The nodes.
        nodes: Vec<usize>,
    },
    /// A raw history event.
    History(HistoryStep),
    /// An assertion.
    Expect(Expect),
}

impl Step {
    /// The proposer this step drives, if any (assertions drive nothing).
    pub fn proposer(&self) -> Option<&str> {
        match self {
            Step::Message(MessageStep {
                sender: Sender::Proposer(p),
                ..
            })
            | Step::Run { proposer: p, .. } => Some(p),
            _ => None,
        }
    }

    /// The nodes this step names.
    pub fn nodes(&self) -> Vec<usize> {
        match self {
            Step::Message(m) => m.nodes.clone(),
            Step::Run { nodes, .. } | Step::Fault { nodes, .. } => nodes.clone(),
            Step::Expect(Expect::Promised { node, .. })
            | Step::Expect(Expect::Accepted { node, .. })
            | Step::Expect(Expect::Learned { node, .. })
            | Step::Expect(Expect::Reply { node, .. }) => vec![*node],
            _ => Vec::new(),
        }
    }
}

/// Why a step line does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (in {line:?})")]
pub struct StepError {
    /// The line.
    pub line: String,
    /// What is wrong.
    pub message: String,
}

/// The letter of node `id` (`A` for 0).
pub fn node_name(id: usize) -> String {
    if id < 26 {
        char::from(b'A' + id as u8).to_string()
    } else {
        format!("N{id}")
    }
}

/// The node id of a letter (`A` is 0).
pub fn node_id(name: &str) -> Option<usize> {
    let mut chars = name.chars();
    match (chars.next(), chars.next()) {
        (Some(c @ 'A'..='Z'), None) => Some(c as usize - 'A' as usize),
        _ => None,
    }
}
