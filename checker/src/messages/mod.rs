//! The proxy's message log (`messages.jsonl`), parsed once into compact typed
//! records and indexed by key and by node for the invariant checks.
//!
//! A long run logs millions of exchanges, so each line is read once: its
//! request and response go straight into typed fields and its key, values
//! and ballots are interned to `u32`s. Ballots are replaced by their
//! [`Rank`] among all ballots in the log, which orders exactly as the
//! ballots do, so the invariants compare small integers and never touch
//! JSON again. [`MessageLog::exchange`] rebuilds a full [`Exchange`] for
//! evidence.
//!
//! # Parsing
//!
//! The file is cut into blocks of whole lines, parsed on every core, and
//! merged in order (block-local interned ids are mapped to global ones).
//! Each line goes through a small scanner that knows the record's usual
//! shape (known members in any order, no escapes). A line it declines (an
//! escape, an unknown member, an error reply, a malformed request...) is
//! parsed by serde and also kept whole beside its compact record, so every
//! record rebuilds exactly and nothing is lost. A request stays typed even
//! when the node answered 400: it was still sent.

use std::collections::HashMap;

use ballot_core::protocol::{Ballot, NodeId};
use serde_json::{json, Value};

use ballot_core::records::{Exchange, Fate};

mod hash;
mod read;
mod scan;
#[cfg(test)]
mod tests;

use hash::{FxMap, Interner};
use scan::path_of;

/// Index of an interned key in a [`MessageLog`].
pub type KeyId = u32;
/// Index of an interned value in a [`MessageLog`].
pub type ValueId = u32;

/// A ballot's position among all ballots in the log; ranks compare exactly
/// as the ballots do. [`MessageLog::ballot`] gives the ballot back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rank(u32);

/// Sentinel for "absent" in the compact record's integer fields.
const NONE: u64 = u64::MAX;
const NO_ID: u32 = u32::MAX;
/// Bytes per parsing block.
const BLOCK: usize = 4 << 20;
/// Records per storage chunk (a power of two).
const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;

/// Which protocol request an exchange carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `POST /v1/prepare` with a well-formed body.
    Prepare,
    /// `POST /v1/accept` with a well-formed body.
    Accept,
    /// `POST /v1/learn` with a well-formed body.
    Learn,
    /// Anything else (unknown path, malformed request); kept whole.
    Other,
}

/// A node's well-formed `200` answer to a prepare, accept or learn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The `ok` flag: granted (prepare, accept) or recorded (learn).
    pub ok: bool,
    /// The promise after handling the request (none for learn).
    pub promised: Option<Rank>,
    /// The accepted proposal a prepare reply reports, if any.
    pub accepted: Option<(Rank, ValueId)>,
}

const HAS_REPLY: u8 = 1;
const REPLY_OK: u8 = 2;
const HAS_PROMISED: u8 = 4;
const HAS_ACCEPTED: u8 = 8;

/// One exchange in compact form (80 bytes, no heap).
#[derive(Clone, Debug)]
pub struct Msg {
    /// Unique id of the exchange within the run.
    pub id: u64,
    /// When the proxy received the request from the client.
    pub sent: u64,
    delivered: u64,
    replied: u64,
    process: u64,
    to: u32,
    from: u32,
    key: u32,
    value: u32,
    accepted_value: u32,
    ballot: u32,
    promised: u32,
    accepted_ballot: u32,
    status: u16,
    /// Which request it carried.
    pub kind: Kind,
    /// What became of it.
    pub fate: Fate,
    flags: u8,
}

fn opt(x: u64) -> Option<u64> {
    (x != NONE).then_some(x)
}

impl Msg {
    /// The node (acceptor) the request was for.
    pub fn to(&self) -> NodeId {
        self.to as NodeId
    }
    /// The client host the request came from.
    pub fn from(&self) -> u64 {
        self.from as u64
    }
    /// The client process that sent it, if known.
    pub fn process(&self) -> Option<u64> {
        opt(self.process)
    }
    /// When the proxy forwarded it to the node, if it did.
    pub fn delivered(&self) -> Option<u64> {
        opt(self.delivered)
    }
    /// When the node's response reached the proxy, if it did.
    pub fn replied(&self) -> Option<u64> {
        opt(self.replied)
    }
    /// HTTP status of the node's answer, if it answered.
    pub fn status(&self) -> Option<u16> {
        (self.status != 0).then_some(self.status)
    }
    /// The key of a prepare, accept or learn.
    pub fn key(&self) -> Option<KeyId> {
        (self.key != NO_ID).then_some(self.key)
    }
    /// The request's ballot (prepare, accept, learn).
    pub fn ballot(&self) -> Option<Rank> {
        (self.kind != Kind::Other).then_some(Rank(self.ballot))
    }
    /// The request's value (accept, learn).
    pub fn value(&self) -> Option<ValueId> {
        (self.value != NO_ID).then_some(self.value)
    }
    /// The node's well-formed `200` reply, if there is one.
    pub fn reply(&self) -> Option<Reply> {
        if self.flags & HAS_REPLY == 0 {
            return None;
        }
        Some(Reply {
            ok: self.flags & REPLY_OK != 0,
            promised: self.reply_promised(),
            accepted: self.reply_accepted(),
        })
    }
    /// True when the node acknowledged: status 200 with `ok: true`.
    pub fn ack(&self) -> bool {
        self.flags & (HAS_REPLY | REPLY_OK) == HAS_REPLY | REPLY_OK
    }
    /// The promise in the reply, if there is a well-formed reply.
    pub fn reply_promised(&self) -> Option<Rank> {
        (self.flags & (HAS_REPLY | HAS_PROMISED) == HAS_REPLY | HAS_PROMISED)
            .then_some(Rank(self.promised))
    }
    /// The accepted proposal a prepare reply reports, if any.
    pub fn reply_accepted(&self) -> Option<(Rank, ValueId)> {
        (self.flags & (HAS_REPLY | HAS_ACCEPTED) == HAS_REPLY | HAS_ACCEPTED)
            .then_some((Rank(self.accepted_ballot), self.accepted_value))
    }
}

/// Why `messages.jsonl` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Reading the file failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not a valid exchange record.
    #[error("line {line}: {message}")]
    Corrupt {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// More exchanges than the compact index can address.
    #[error("more than {} exchanges; the log is too large to check", u32::MAX - 1)]
    TooLarge,
}

// ---- the log ----------------------------------------------------------------

/// The whole message log: compact records, interned keys, values and
/// ballots, and an index grouping exchanges by key, then by node, each
/// group in log order.
#[derive(Default, Debug)]
pub struct MessageLog {
    chunks: Vec<Vec<Msg>>,
    len: usize,
    keys: Interner,
    values: Interner,
    /// Ballot by id while merging, by rank once finished.
    ballots: Vec<Ballot>,
    ballot_ids: FxMap<Ballot, u32>,
    /// Records that cannot be rebuilt from the compact form, whole.
    whole: HashMap<u32, Box<Exchange>>,
    duplicate_of: HashMap<u32, u64>,
    by_key: Vec<u32>,
    key_start: Vec<u32>,
    /// Whether clients asked nodes to propose (protocol v1.1): then the
    /// sender of a prepare or accept is a node.
    nodes_propose: bool,
}

impl MessageLog {
    // ---- access ---------------------------------------------------------

    /// Whether the log has a client's `/v1/propose` or `/v1/read`: the
    /// nodes proposed, so a prepare's or accept's `from` is a node.
    pub fn nodes_propose(&self) -> bool {
        self.nodes_propose
    }

    /// Number of exchanges.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the log holds no exchange.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The exchange at a handle (its position in the log, from 0).
    pub fn msg(&self, idx: u32) -> &Msg {
        &self.chunks[(idx >> CHUNK_BITS) as usize][idx as usize & (CHUNK - 1)]
    }

    /// Every exchange, in log order.
    pub fn msgs(&self) -> impl Iterator<Item = &Msg> {
        self.chunks.iter().flatten()
    }

    /// Number of distinct keys.
    pub fn key_count(&self) -> usize {
        self.keys.names.len()
    }

    /// A key's name.
    pub fn key_name(&self, key: KeyId) -> &str {
        &self.keys.names[key as usize]
    }

    /// A value's text.
    pub fn value_name(&self, value: ValueId) -> &str {
        &self.values.names[value as usize]
    }

    /// The ballot of a rank.
    pub fn ballot(&self, rank: Rank) -> Ballot {
        self.ballots[rank.0 as usize]
    }

    /// The rank of a ballot, if any exchange carried it.
    pub fn rank(&self, ballot: Ballot) -> Option<Rank> {
        self.ballots
            .binary_search(&ballot)
            .ok()
            .map(|r| Rank(r as u32))
    }

    /// The id of a key, if any exchange carried it.
    pub fn key_id(&self, key: &str) -> Option<KeyId> {
        self.keys.get(key)
    }

    /// The id of a value, if any exchange carried it.
    pub fn value_id(&self, value: &str) -> Option<ValueId> {
        self.values.get(value)
    }

    /// Handles of every exchange about `key`, grouped by node, each group in
    /// log order.
    pub fn by_key(&self, key: KeyId) -> &[u32] {
        let k = key as usize;
        &self.by_key[self.key_start[k] as usize..self.key_start[k + 1] as usize]
    }

    /// The exchanges about `key`, one slice per node, in node order.
    pub fn by_key_node(&self, key: KeyId) -> NodeGroups<'_> {
        NodeGroups {
            log: self,
            rest: self.by_key(key),
        }
    }

    /// Rebuilds the full record of the exchange at a handle.
    pub fn exchange(&self, idx: u32) -> Exchange {
        if let Some(whole) = self.whole.get(&idx) {
            return (**whole).clone();
        }
        let m = self.msg(idx);
        Exchange {
            id: m.id,
            from: m.from(),
            to: m.to(),
            process: m.process(),
            path: path_of(m.kind).to_string(),
            request: self.request_json(m),
            status: m.status(),
            response: self.response_json(m),
            sent: m.sent,
            delivered: m.delivered(),
            replied: m.replied(),
            fate: m.fate,
            duplicate_of: self.duplicate_of.get(&idx).copied(),
        }
    }

    fn request_json(&self, m: &Msg) -> Value {
        let (Some(key), Some(ballot)) = (m.key(), m.ballot()) else {
            return Value::Null;
        };
        let mut body = json!({"key": self.key_name(key), "ballot": self.ballot(ballot)});
        if let Some(v) = m.value() {
            body["value"] = Value::from(self.value_name(v));
        }
        body
    }

    fn response_json(&self, m: &Msg) -> Option<Value> {
        let reply = m.reply()?;
        let mut body = json!({"ok": reply.ok});
        if m.kind != Kind::Learn {
            body["promised"] = json!(reply.promised.map(|r| self.ballot(r)));
        }
        if m.kind == Kind::Prepare {
            body["accepted"] = match reply.accepted {
                Some((b, v)) => json!({"ballot": self.ballot(b), "value": self.value_name(v)}),
                None => Value::Null,
            };
        }
        Some(body)
    }
}

pub struct NodeGroups<'a> {
    log: &'a MessageLog,
    rest: &'a [u32],
}

impl<'a> Iterator for NodeGroups<'a> {
    type Item = (NodeId, &'a [u32]);

    fn next(&mut self) -> Option<Self::Item> {
        let first = *self.rest.first()?;
        let node = self.log.msg(first).to;
        let len = self
            .rest
            .iter()
            .position(|&i| self.log.msg(i).to != node)
            .unwrap_or(self.rest.len());
        let (group, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some((node as NodeId, group))
    }
}
