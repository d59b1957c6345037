//! The parser: one line of text into a [`Step`], with an error that says
//! what it expected and where.

use ballot_core::protocol::Ballot;

use crate::op::F;

use super::*;

/// A lexical token of a step line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Tok {
    /// A bare word.
    Word(String),
    /// A JSON string literal, decoded.
    Str(String),
    /// `->`.
    Arrow,
}

impl Tok {
    pub(super) fn word(&self) -> Option<&str> {
        match self {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }
}

/// Splits a line into words, JSON strings and arrows; commas separate like spaces.
pub(super) fn tokenize(line: &str) -> Result<Vec<Tok>, String> {
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
pub(super) struct Cursor {
    pub(super) toks: Vec<Tok>,
    pub(super) pos: usize,
}

impl Cursor {
    pub(super) fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    pub(super) fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    pub(super) fn word(&mut self, what: &str) -> Result<String, String> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w),
            Some(other) => Err(format!("expected {what}, found {other:?}")),
            None => Err(format!("expected {what} at the end")),
        }
    }

    pub(super) fn expect_word(&mut self, word: &str) -> Result<(), String> {
        match self.next() {
            Some(Tok::Word(w)) if w == word => Ok(()),
            _ => Err(format!("expected `{word}`")),
        }
    }

    /// A value: a JSON string or a bare word (`none` is `None` when allowed).
    pub(super) fn value(&mut self, none_allowed: bool) -> Result<Option<String>, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Some(s)),
            Some(Tok::Word(w)) if none_allowed && w == "none" => Ok(None),
            Some(Tok::Word(w)) => Ok(Some(w)),
            Some(Tok::Arrow) => Err("expected a value, found `->`".to_string()),
            None => Err("expected a value at the end".to_string()),
        }
    }

    /// An optional JSON string that an outcome's reason must contain.
    pub(super) fn reason(&mut self) -> Result<Option<String>, String> {
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

    pub(super) fn some_value(&mut self) -> Result<String, String> {
        self.value(false).map(|v| v.unwrap_or_default())
    }

    pub(super) fn nodes(&mut self) -> Result<Vec<usize>, String> {
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

    pub(super) fn node(&mut self) -> Result<usize, String> {
        let w = self.word("a node letter")?;
        node_id(&w).ok_or_else(|| format!("{w:?} is not a node letter (A, B, ...)"))
    }

    pub(super) fn done(&self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(format!("unexpected {t:?}")),
        }
    }

    /// Trailing `by N` and `key=K` modifiers.
    pub(super) fn modifiers(&mut self) -> Result<(Option<u64>, Option<String>), String> {
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

pub(super) const RESERVED: [&str; 12] = [
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

pub(super) fn parse_tokens(c: &mut Cursor) -> Result<Step, String> {
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
    let phase = RequestKind::parse(&phase_word).ok_or_else(|| {
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
    if matches!(sender, Sender::Raw { ref value, .. } if value.is_none() != (phase == RequestKind::Prepare))
    {
        return Err(format!(
            "a raw {} needs {}",
            phase.name(),
            if phase == RequestKind::Prepare {
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

pub(super) fn parse_history(c: &mut Cursor, first: &str) -> Result<Step, String> {
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

pub(super) fn ballot_ref(word: String) -> Result<BallotRef, String> {
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

pub(super) fn parse_expect(c: &mut Cursor) -> Result<Expect, String> {
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
    if let Some(phase) = RequestKind::parse(&subject) {
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
