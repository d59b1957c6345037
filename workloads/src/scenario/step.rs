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

use std::fmt;

use ballot_core::protocol::Ballot;

use crate::op::F;

/// The three protocol requests a scenario sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// `POST /v1/prepare`.
    Prepare,
    /// `POST /v1/accept`.
    Accept,
    /// `POST /v1/learn`.
    Learn,
}

impl Phase {
    /// The word used in steps.
    pub const fn name(self) -> &'static str {
        match self {
            Phase::Prepare => "prepare",
            Phase::Accept => "accept",
            Phase::Learn => "learn",
        }
    }

    /// The request path.
    pub const fn path(self) -> &'static str {
        use ballot_core::protocol::{ACCEPT_PATH, LEARN_PATH, PREPARE_PATH};
        match self {
            Phase::Prepare => PREPARE_PATH,
            Phase::Accept => ACCEPT_PATH,
            Phase::Learn => LEARN_PATH,
        }
    }

    /// The phase of a request path, if it is one of the three.
    pub fn from_path(path: &str) -> Option<Phase> {
        [Phase::Prepare, Phase::Accept, Phase::Learn]
            .into_iter()
            .find(|p| p.path() == path)
    }

    fn parse(word: &str) -> Option<Phase> {
        [Phase::Prepare, Phase::Accept, Phase::Learn]
            .into_iter()
            .find(|p| p.name() == word)
    }
}

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
    pub phase: Phase,
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
        phase: Phase,
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

/// A lexical token of a step line.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    /// A bare word.
    Word(String),
    /// A JSON string literal, decoded.
    Str(String),
    /// `->`.
    Arrow,
}

impl Tok {
    fn word(&self) -> Option<&str> {
        match self {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }
}

/// Splits a line into words, JSON strings and arrows; commas separate like spaces.
fn tokenize(line: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let bytes: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_whitespace() || c == ',' {
            i += 1;
        } else if c == '"' {
            let start = i;
            i += 1;
            let mut closed = false;
            while i < bytes.len() {
                match bytes[i] {
                    '\\' => i += 2,
                    '"' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    _ => i += 1,
                }
            }
            if !closed {
                return Err("unterminated string".to_string());
            }
            let text: String = bytes[start..i.min(bytes.len())].iter().collect();
            let s: String =
                serde_json::from_str(&text).map_err(|e| format!("bad string {text}: {e}"))?;
            toks.push(Tok::Str(s));
        } else {
            let start = i;
            while i < bytes.len() && !bytes[i].is_whitespace() && bytes[i] != ',' && bytes[i] != '"'
            {
                i += 1;
            }
            let word: String = bytes[start..i].iter().collect();
            if word == "->" {
                toks.push(Tok::Arrow);
            } else {
                toks.push(Tok::Word(word));
            }
        }
    }
    Ok(toks)
}

/// A cursor over a line's tokens.
struct Cursor {
    toks: Vec<Tok>,
    pos: usize,
}

impl Cursor {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn word(&mut self, what: &str) -> Result<String, String> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w),
            Some(other) => Err(format!("expected {what}, found {other:?}")),
            None => Err(format!("expected {what} at the end")),
        }
    }

    fn expect_word(&mut self, word: &str) -> Result<(), String> {
        match self.next() {
            Some(Tok::Word(w)) if w == word => Ok(()),
            _ => Err(format!("expected `{word}`")),
        }
    }

    /// A value: a JSON string or a bare word (`none` is `None` when allowed).
    fn value(&mut self, none_allowed: bool) -> Result<Option<String>, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Some(s)),
            Some(Tok::Word(w)) if none_allowed && w == "none" => Ok(None),
            Some(Tok::Word(w)) => Ok(Some(w)),
            Some(Tok::Arrow) => Err("expected a value, found `->`".to_string()),
            None => Err("expected a value at the end".to_string()),
        }
    }

    /// An optional JSON string that an outcome's reason must contain.
    fn reason(&mut self) -> Result<Option<String>, String> {
        match self.peek() {
            None => Ok(None),
            Some(Tok::Str(s)) if s.is_empty() => {
                Err("the reason to look for must not be empty".to_string())
            }
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(Some(s))
            }
            Some(other) => Err(format!(
                "expected a reason as a JSON string (\"...\"), found {other:?}"
            )),
        }
    }

    fn some_value(&mut self) -> Result<String, String> {
        self.value(false).map(|v| v.unwrap_or_default())
    }

    fn nodes(&mut self) -> Result<Vec<usize>, String> {
        let mut nodes = Vec::new();
        while let Some(id) = self.peek().and_then(Tok::word).and_then(node_id) {
            nodes.push(id);
            self.pos += 1;
        }
        if nodes.is_empty() {
            return Err("expected node letters (A, B, ...)".to_string());
        }
        Ok(nodes)
    }

    fn node(&mut self) -> Result<usize, String> {
        let w = self.word("a node letter")?;
        node_id(&w).ok_or_else(|| format!("{w:?} is not a node letter (A, B, ...)"))
    }

    fn done(&self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(format!("unexpected {t:?}")),
        }
    }

    /// Trailing `by N` and `key=K` modifiers.
    fn modifiers(&mut self) -> Result<(Option<u64>, Option<String>), String> {
        let (mut by, mut key) = (None, None);
        while let Some(Tok::Word(w)) = self.peek().cloned() {
            if w == "by" {
                self.pos += 1;
                let n = self.word("a process number")?;
                by = Some(
                    n.parse()
                        .map_err(|_| format!("{n:?} is not a process number"))?,
                );
            } else if let Some(rest) = w.strip_prefix("key=") {
                self.pos += 1;
                if rest.is_empty() {
                    match self.next() {
                        Some(Tok::Str(s)) => key = Some(s),
                        _ => return Err("expected a key after `key=`".to_string()),
                    }
                } else {
                    key = Some(rest.to_string());
                }
            } else {
                break;
            }
        }
        Ok((by, key))
    }
}

/// Parses `ROUND.PROPOSER`.
pub fn parse_ballot(word: &str) -> Option<Ballot> {
    let (round, proposer) = word.split_once('.')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(round) || !all_digits(proposer) {
        return None;
    }
    Some(Ballot::new(round.parse().ok()?, proposer.parse().ok()?))
}

/// Whether `word` may name a proposer: a letter, then letters, digits, `_` or `-`,
/// and not a single capital letter (those are nodes) or a reserved word.
pub fn is_proposer_name(word: &str) -> bool {
    let mut chars = word.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    first_ok
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && node_id(word).is_none()
        && !RESERVED.contains(&word)
}

const RESERVED: [&str; 12] = [
    "none", "by", "via", "chosen", "valid", "invalid", "ok", "fail", "info", "run", "expect",
    "send",
];

/// Parses one step line.
pub fn parse_step(line: &str) -> Result<Step, StepError> {
    let err = |message: String| StepError {
        line: line.to_string(),
        message,
    };
    let toks = tokenize(line).map_err(err)?;
    let mut c = Cursor { toks, pos: 0 };
    let step = parse_tokens(&mut c).map_err(err)?;
    c.done().map_err(err)?;
    Ok(step)
}

fn parse_tokens(c: &mut Cursor) -> Result<Step, String> {
    let first = c.word("a step")?;
    if let Some(fault) = Fault::parse(&first) {
        return Ok(Step::Fault {
            fault,
            nodes: c.nodes()?,
        });
    }
    if first == "run" {
        let proposer = c.word("a proposer")?;
        c.expect_word("via")?;
        return Ok(Step::Run {
            proposer,
            nodes: c.nodes()?,
        });
    }
    if first == "expect" {
        return parse_expect(c).map(Step::Expect);
    }
    if first == "invoke" || Completion::parse(&first).is_some() {
        return parse_history(c, &first);
    }
    let (verb, phase_word) = match Verb::parse(&first) {
        Some(verb) => (verb, c.word("prepare, accept or learn")?),
        None => (Verb::Deliver, first),
    };
    let phase = Phase::parse(&phase_word).ok_or_else(|| {
        format!("unknown step {phase_word:?}; a step starts with a message verb or phase, run, kill, restart, pause, resume, invoke, ok, fail, info or expect")
    })?;
    let sender_word = c.word("a proposer or a ballot")?;
    let sender = if let Some(ballot) = parse_ballot(&sender_word) {
        let value = match c.peek() {
            Some(Tok::Arrow) | None => None,
            _ => Some(c.some_value()?),
        };
        Sender::Raw {
            ballot,
            value,
            process: None,
        }
    } else {
        Sender::Proposer(sender_word)
    };
    match c.next() {
        Some(Tok::Arrow) => {}
        _ => return Err("expected `->` before the nodes".to_string()),
    }
    let nodes = c.nodes()?;
    let (by, key) = c.modifiers()?;
    let sender = match (sender, by) {
        (Sender::Raw { ballot, value, .. }, process) => Sender::Raw {
            ballot,
            value,
            process,
        },
        (Sender::Proposer(_), Some(_)) => {
            return Err("`by N` is only for raw messages (a proposer sends as itself)".to_string())
        }
        (sender, None) => sender,
    };
    if matches!(sender, Sender::Raw { ref value, .. } if value.is_none() != (phase == Phase::Prepare))
    {
        return Err(format!(
            "a raw {} needs {}",
            phase.name(),
            if phase == Phase::Prepare {
                "only a ballot"
            } else {
                "a ballot and a value"
            }
        ));
    }
    Ok(Step::Message(MessageStep {
        verb,
        phase,
        sender,
        nodes,
        key,
    }))
}

fn parse_history(c: &mut Cursor, first: &str) -> Result<Step, String> {
    let completion = Completion::parse(first);
    let n = c.word("a process number")?;
    let process = n
        .parse()
        .map_err(|_| format!("{n:?} is not a process number"))?;
    let f = match c.word("propose or read")?.as_str() {
        "propose" => F::Propose,
        "read" => F::Read,
        other => return Err(format!("{other:?}: expected propose or read")),
    };
    let takes_value = match (completion, f) {
        (None, F::Read) => false,
        (None, F::Propose) | (Some(_), _) => true,
    };
    let value = match c.peek() {
        Some(Tok::Word(w)) if w.starts_with("key=") => None,
        Some(_) if takes_value => c.value(true)?,
        _ => None,
    };
    let (by, key) = c.modifiers()?;
    if by.is_some() {
        return Err("`by` does not apply to history events".to_string());
    }
    Ok(Step::History(HistoryStep {
        completion,
        process,
        f,
        value,
        key,
    }))
}

fn ballot_ref(word: String) -> Result<BallotRef, String> {
    if let Some(b) = parse_ballot(&word) {
        Ok(BallotRef::Literal(b))
    } else if is_proposer_name(&word) {
        Ok(BallotRef::Of(word))
    } else {
        Err(format!(
            "{word:?} is neither a ballot (ROUND.PROPOSER) nor a proposer"
        ))
    }
}

fn parse_expect(c: &mut Cursor) -> Result<Expect, String> {
    let subject = c.word("what to expect")?;
    match subject.as_str() {
        "chosen" => return Ok(Expect::Chosen(c.value(true)?)),
        "valid" => return Ok(Expect::Valid),
        "invalid" => {
            return Ok(Expect::Invalid(match c.peek() {
                Some(_) => Some(c.word("a property")?),
                None => None,
            }))
        }
        _ => {}
    }
    if let Some(phase) = Phase::parse(&subject) {
        let proposer = c.word("a proposer")?;
        match c.next() {
            Some(Tok::Arrow) => {}
            _ => return Err("expected `->`".to_string()),
        }
        let node = c.node()?;
        let reply = match c.word("acked, rejected or no-reply")?.as_str() {
            "acked" | "granted" => ReplyKind::Acked,
            "rejected" => ReplyKind::Rejected,
            "no-reply" => ReplyKind::NoReply,
            other => return Err(format!("{other:?}: expected acked, rejected or no-reply")),
        };
        return Ok(Expect::Reply {
            phase,
            proposer,
            node,
            reply,
        });
    }
    if let Some(node) = node_id(&subject) {
        let what = c.word("promised, accepted or learned")?;
        return match what.as_str() {
            "promised" => {
                let w = c.word("a ballot, a proposer or none")?;
                Ok(Expect::Promised {
                    node,
                    ballot: if w == "none" {
                        None
                    } else {
                        Some(ballot_ref(w)?)
                    },
                })
            }
            "accepted" => {
                let w = c.word("a ballot, a proposer or none")?;
                let proposal = if w == "none" {
                    None
                } else {
                    Some((ballot_ref(w)?, c.some_value()?))
                };
                Ok(Expect::Accepted { node, proposal })
            }
            "learned" => Ok(Expect::Learned {
                node,
                value: c.value(true)?,
            }),
            other => Err(format!("{other:?}: expected promised, accepted or learned")),
        };
    }
    if !is_proposer_name(&subject) {
        return Err(format!(
            "{subject:?}: expected chosen, valid, invalid, a node, a phase or a proposer"
        ));
    }
    let proposer = subject;
    let outcome = match c.word("ok, fail, info, pending or proposes")?.as_str() {
        "ok" => ExpectedOutcome::Ok(c.value(true)?),
        "fail" => ExpectedOutcome::Fail(c.reason()?),
        "info" | "indeterminate" => ExpectedOutcome::Info(c.reason()?),
        "pending" => ExpectedOutcome::Pending,
        "proposes" => {
            return Ok(Expect::Proposes {
                proposer,
                value: c.some_value()?,
            })
        }
        other => {
            return Err(format!(
                "{other:?}: expected ok, fail, info, pending or proposes"
            ))
        }
    };
    Ok(Expect::Outcome { proposer, outcome })
}

/// A value as a step writes it: bare when that reads back the same, else a JSON string.
pub fn quote_value(value: &str) -> String {
    let bare = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:@+/".contains(c))
        && value != "none"
        && value != "->"
        && !value.starts_with("key=");
    if bare {
        value.to_string()
    } else {
        serde_json::to_string(value).unwrap_or_default()
    }
}

/// ` "TEXT"` after `fail`/`info`, always a JSON string so it reads back the same.
fn reason_suffix(why: &Option<String>) -> String {
    why.as_ref().map_or(String::new(), |w| {
        format!(" {}", serde_json::to_string(w).unwrap_or_default())
    })
}

fn opt_value(value: &Option<String>) -> String {
    value.as_deref().map_or("none".to_string(), quote_value)
}

fn node_list(nodes: &[usize]) -> String {
    nodes
        .iter()
        .map(|&n| node_name(n))
        .collect::<Vec<_>>()
        .join(", ")
}

fn key_suffix(key: &Option<String>) -> String {
    match key {
        None => String::new(),
        Some(k) if quote_value(k) == *k => format!(" key={k}"),
        Some(k) => format!(" key={}", quote_value(k)),
    }
}

fn ballot_text(b: &BallotRef) -> String {
    match b {
        BallotRef::Literal(b) => b.to_string(),
        BallotRef::Of(p) => p.clone(),
    }
}

impl fmt::Display for Step {
    /// The canonical line, which [`parse_step`] reads back to the same step.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Message(m) => {
                if m.verb != Verb::Deliver {
                    write!(f, "{} ", m.verb.name())?;
                }
                write!(f, "{} ", m.phase.name())?;
                match &m.sender {
                    Sender::Proposer(p) => write!(f, "{p}")?,
                    Sender::Raw { ballot, value, .. } => {
                        write!(f, "{ballot}")?;
                        if let Some(v) = value {
                            write!(f, " {}", quote_value(v))?;
                        }
                    }
                }
                write!(f, " -> {}", node_list(&m.nodes))?;
                if let Sender::Raw {
                    process: Some(p), ..
                } = &m.sender
                {
                    write!(f, " by {p}")?;
                }
                write!(f, "{}", key_suffix(&m.key))
            }
            Step::Run { proposer, nodes } => write!(f, "run {proposer} via {}", node_list(nodes)),
            Step::Fault { fault, nodes } => write!(f, "{} {}", fault.name(), node_list(nodes)),
            Step::History(h) => {
                let head = h.completion.map_or("invoke", Completion::name);
                write!(f, "{head} {} {}", h.process, h.f.as_str())?;
                let show_value = !(h.completion.is_none() && h.f == F::Read);
                if show_value {
                    write!(f, " {}", opt_value(&h.value))?;
                }
                write!(f, "{}", key_suffix(&h.key))
            }
            Step::Expect(e) => {
                write!(f, "expect ")?;
                match e {
                    Expect::Chosen(v) => write!(f, "chosen {}", opt_value(v)),
                    Expect::Outcome { proposer, outcome } => match outcome {
                        ExpectedOutcome::Ok(v) => write!(f, "{proposer} ok {}", opt_value(v)),
                        ExpectedOutcome::Fail(why) => {
                            write!(f, "{proposer} fail{}", reason_suffix(why))
                        }
                        ExpectedOutcome::Info(why) => {
                            write!(f, "{proposer} info{}", reason_suffix(why))
                        }
                        ExpectedOutcome::Pending => write!(f, "{proposer} pending"),
                    },
                    Expect::Proposes { proposer, value } => {
                        write!(f, "{proposer} proposes {}", quote_value(value))
                    }
                    Expect::Promised { node, ballot } => write!(
                        f,
                        "{} promised {}",
                        node_name(*node),
                        ballot.as_ref().map_or("none".to_string(), ballot_text)
                    ),
                    Expect::Accepted { node, proposal } => match proposal {
                        None => write!(f, "{} accepted none", node_name(*node)),
                        Some((b, v)) => write!(
                            f,
                            "{} accepted {} {}",
                            node_name(*node),
                            ballot_text(b),
                            quote_value(v)
                        ),
                    },
                    Expect::Learned { node, value } => {
                        write!(f, "{} learned {}", node_name(*node), opt_value(value))
                    }
                    Expect::Reply {
                        phase,
                        proposer,
                        node,
                        reply,
                    } => write!(
                        f,
                        "{} {proposer} -> {} {}",
                        phase.name(),
                        node_name(*node),
                        reply.name()
                    ),
                    Expect::Valid => write!(f, "valid"),
                    Expect::Invalid(None) => write!(f, "invalid"),
                    Expect::Invalid(Some(p)) => write!(f, "invalid {p}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Step {
        parse_step(line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    #[test]
    fn message_steps() {
        assert_eq!(
            ok("prepare P1 -> A, B"),
            Step::Message(MessageStep {
                verb: Verb::Deliver,
                phase: Phase::Prepare,
                sender: Sender::Proposer("P1".into()),
                nodes: vec![0, 1],
                key: None,
            })
        );
        assert_eq!(ok("hold accept P2 -> B C"), ok("hold accept P2 -> B,C"));
        assert_eq!(
            ok(r#"drop-response accept 5.2 "seven 7" -> C by 4 key="k 1""#),
            Step::Message(MessageStep {
                verb: Verb::DropResponse,
                phase: Phase::Accept,
                sender: Sender::Raw {
                    ballot: Ballot::new(5, 2),
                    value: Some("seven 7".into()),
                    process: Some(4),
                },
                nodes: vec![2],
                key: Some("k 1".into()),
            })
        );
        assert_eq!(
            ok("prepare 9.0 -> E key=x"),
            Step::Message(MessageStep {
                verb: Verb::Deliver,
                phase: Phase::Prepare,
                sender: Sender::Raw {
                    ballot: Ballot::new(9, 0),
                    value: None,
                    process: None,
                },
                nodes: vec![4],
                key: Some("x".into()),
            })
        );
    }

    #[test]
    fn other_steps() {
        assert_eq!(
            ok("run P3 via B, C"),
            Step::Run {
                proposer: "P3".into(),
                nodes: vec![1, 2]
            }
        );
        assert_eq!(
            ok("kill B"),
            Step::Fault {
                fault: Fault::Kill,
                nodes: vec![1]
            }
        );
        assert_eq!(
            ok(r#"ok 3 propose "1-2""#),
            Step::History(HistoryStep {
                completion: Some(Completion::Ok),
                process: 3,
                f: F::Propose,
                value: Some("1-2".into()),
                key: None
            })
        );
        assert_eq!(
            ok("invoke 4 read key=y"),
            Step::History(HistoryStep {
                completion: None,
                process: 4,
                f: F::Read,
                value: None,
                key: Some("y".into())
            })
        );
        assert_eq!(
            ok("ok 4 read none"),
            Step::History(HistoryStep {
                completion: Some(Completion::Ok),
                process: 4,
                f: F::Read,
                value: None,
                key: None
            })
        );
    }

    #[test]
    fn expectations() {
        let table: Vec<(&str, Expect)> = vec![
            ("expect chosen 7", Expect::Chosen(Some("7".into()))),
            ("expect chosen none", Expect::Chosen(None)),
            (
                "expect P1 ok 7",
                Expect::Outcome {
                    proposer: "P1".into(),
                    outcome: ExpectedOutcome::Ok(Some("7".into())),
                },
            ),
            (
                "expect R1 ok none",
                Expect::Outcome {
                    proposer: "R1".into(),
                    outcome: ExpectedOutcome::Ok(None),
                },
            ),
            (
                "expect P1 indeterminate",
                Expect::Outcome {
                    proposer: "P1".into(),
                    outcome: ExpectedOutcome::Info(None),
                },
            ),
            (
                "expect P2 fail",
                Expect::Outcome {
                    proposer: "P2".into(),
                    outcome: ExpectedOutcome::Fail(None),
                },
            ),
            (
                r#"expect P2 fail "no accept request was sent""#,
                Expect::Outcome {
                    proposer: "P2".into(),
                    outcome: ExpectedOutcome::Fail(Some("no accept request was sent".into())),
                },
            ),
            (
                r#"expect P1 info "no quorum did""#,
                Expect::Outcome {
                    proposer: "P1".into(),
                    outcome: ExpectedOutcome::Info(Some("no quorum did".into())),
                },
            ),
            (
                "expect P2 proposes 3",
                Expect::Proposes {
                    proposer: "P2".into(),
                    value: "3".into(),
                },
            ),
            (
                "expect B promised P3",
                Expect::Promised {
                    node: 1,
                    ballot: Some(BallotRef::Of("P3".into())),
                },
            ),
            (
                "expect B accepted 5.2 7",
                Expect::Accepted {
                    node: 1,
                    proposal: Some((BallotRef::Literal(Ballot::new(5, 2)), "7".into())),
                },
            ),
            (
                "expect C accepted none",
                Expect::Accepted {
                    node: 2,
                    proposal: None,
                },
            ),
            (
                "expect A learned 7",
                Expect::Learned {
                    node: 0,
                    value: Some("7".into()),
                },
            ),
            (
                "expect accept P2 -> C rejected",
                Expect::Reply {
                    phase: Phase::Accept,
                    proposer: "P2".into(),
                    node: 2,
                    reply: ReplyKind::Rejected,
                },
            ),
            ("expect valid", Expect::Valid),
            (
                "expect invalid chosen-unique",
                Expect::Invalid(Some("chosen-unique".into())),
            ),
            ("expect invalid", Expect::Invalid(None)),
        ];
        for (line, want) in table {
            assert_eq!(ok(line), Step::Expect(want), "{line}");
        }
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let table = [
            ("", "expected a step"),
            ("propose P1 -> A", "unknown step \"propose\""),
            ("prepare P1 A", "expected `->`"),
            ("prepare P1 ->", "expected node letters"),
            ("prepare P1 -> a", "expected node letters"),
            ("accept 5.2 -> A", "a raw accept needs a ballot and a value"),
            ("prepare 5.2 7 -> A", "a raw prepare needs only a ballot"),
            ("prepare P1 -> A by 3", "only for raw messages"),
            ("run P1 A", "expected `via`"),
            ("kill", "expected node letters"),
            ("expect P1 maybe", "expected ok, fail, info"),
            ("expect P1 fail why", "expected a reason as a JSON string"),
            (r#"expect P1 info """#, "must not be empty"),
            (r#"expect P1 fail "a" "b""#, "unexpected"),
            ("expect 9 ok 1", "expected chosen, valid"),
            ("expect B promised 5", "neither a ballot"),
            (r#"accept 1.1 "open -> A"#, "unterminated string"),
            ("kill A extra", "unexpected"),
            ("invoke x propose 1", "not a process number"),
        ];
        for (line, needle) in table {
            let err = parse_step(line).unwrap_err().to_string();
            assert!(err.contains(needle), "{line:?}: {err}");
        }
    }

    #[test]
    fn display_round_trips() {
        let lines = [
            "prepare P1 -> A, B",
            "hold accept P2 -> B, C",
            "release accept P2 -> C",
            "drop-request accept P2 -> B",
            "duplicate prepare P1 -> A",
            "cut prepare P1 -> C, D",
            r#"drop-response accept 5.2 "two words" -> C by 4 key="k 1""#,
            "accept 5.2 none2 -> C",
            r#"accept 5.2 "none" -> C"#,
            "learn 5.2 7 -> A, B, C key=x",
            "prepare 9.0 -> E",
            "run P3 via B, C",
            "restart A, B",
            "invoke 3 propose 3-17",
            "invoke 4 read",
            "ok 4 read none",
            "info 3 propose 3-17 key=x",
            "expect chosen none",
            "expect B accepted P2 7",
            "expect accept P2 -> C no-reply",
            "expect invalid p2b-chosen-value-persists",
            "expect R1 ok none",
            r#"expect P1 proposes "a b""#,
            "expect P1 fail",
            "expect P1 info",
            r#"expect P2 fail "no accept request was sent""#,
            r#"expect P1 info "say \"why\"""#,
        ];
        for line in lines {
            let step = ok(line);
            assert_eq!(step.to_string(), line);
            assert_eq!(ok(&step.to_string()), step);
        }
    }

    #[test]
    fn names() {
        assert_eq!(node_name(0), "A");
        assert_eq!(node_id("C"), Some(2));
        assert_eq!(node_id("AB"), None);
        assert!(is_proposer_name("P1"));
        assert!(!is_proposer_name("甲"));
        assert!(!is_proposer_name("A"));
        assert!(!is_proposer_name("none"));
        assert_eq!(parse_ballot("5.2"), Some(Ballot::new(5, 2)));
        assert_eq!(parse_ballot("5"), None);
        assert_eq!(Phase::from_path("/v1/accept"), Some(Phase::Accept));
    }
}
