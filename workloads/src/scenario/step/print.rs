//! The printer: a [`Step`] back into the one line that parses to it.

use std::fmt;

use crate::op::F;

use super::*;

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
pub(super) fn reason_suffix(why: &Option<String>) -> String {
    why.as_ref().map_or(String::new(), |w| {
        format!(" {}", serde_json::to_string(w).unwrap_or_default())
    })
}

pub(super) fn opt_value(value: &Option<String>) -> String {
    value.as_deref().map_or("none".to_string(), quote_value)
}

pub(super) fn node_list(nodes: &[usize]) -> String {
    nodes
        .iter()
        .map(|&n| node_name(n))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn key_suffix(key: &Option<String>) -> String {
    match key {
        None => String::new(),
        Some(k) if quote_value(k) == *k => format!(" key={k}"),
        Some(k) => format!(" key={}", quote_value(k)),
    }
}

pub(super) fn ballot_text(b: &BallotRef) -> String {
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
