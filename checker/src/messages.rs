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

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;
use std::sync::{mpsc, Arc, Mutex};

use ballot_core::protocol::{Ballot, NodeId, ACCEPT_PATH, LEARN_PATH, PREPARE_PATH};
use serde::Deserialize;
use serde_json::{json, Value};

use ballot_core::records::{Exchange, Fate};

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

// ---- interning ------------------------------------------------------------

/// A fast, non-cryptographic hasher (FxHash) for interning.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        for &b in chunks.remainder() {
            self.add(b as u64);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Strings numbered in order of first appearance.
#[derive(Default, Debug)]
struct Interner {
    ids: FxMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        let name: Arc<str> = Arc::from(s);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }
    fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }
}

/// A block's strings, borrowed from its text where possible.
#[derive(Default)]
struct LocalInterner<'a> {
    ids: FxMap<Cow<'a, str>, u32>,
    names: Vec<Cow<'a, str>>,
}

impl<'a> LocalInterner<'a> {
    fn intern(&mut self, s: Cow<'a, str>) -> u32 {
        if let Some(&id) = self.ids.get(s.as_ref()) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.clone());
        self.ids.insert(s, id);
        id
    }
    fn into_owned(self) -> Vec<Box<str>> {
        self.names.into_iter().map(|s| s.into()).collect()
    }
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
}

/// One parsed block, with block-local ids.
#[derive(Default)]
struct Block {
    msgs: Vec<Msg>,
    keys: Vec<Box<str>>,
    values: Vec<Box<str>>,
    ballots: Vec<Ballot>,
    whole: Vec<(u32, Box<Exchange>)>,
    duplicate_of: Vec<(u32, u64)>,
    lines: usize,
    /// A corrupt line: (1-based line within the block, message).
    error: Option<(usize, String)>,
}

/// Builds a [`Block`] one record at a time.
#[derive(Default)]
struct BlockBuilder<'a> {
    msgs: Vec<Msg>,
    keys: LocalInterner<'a>,
    values: LocalInterner<'a>,
    ballot_ids: FxMap<Ballot, u32>,
    ballots: Vec<Ballot>,
    whole: Vec<(u32, Box<Exchange>)>,
    duplicate_of: Vec<(u32, u64)>,
}

impl MessageLog {
    /// Reads `messages.jsonl` (blank lines are skipped), parsing blocks of
    /// lines on every core, and builds the index. A line that is not an
    /// exchange record is an error naming its 1-based line number.
    pub fn read<R: Read>(reader: R) -> Result<MessageLog, ReadError> {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut log = MessageLog::default();
        log.read_blocks(reader, workers)?;
        log.finish();
        Ok(log)
    }

    /// Builds a log from records already in memory (tests, replay).
    /// Every record rebuilds exactly as given.
    pub fn from_exchanges<'e>(exchanges: impl IntoIterator<Item = &'e Exchange>) -> MessageLog {
        let exchanges: Vec<&Exchange> = exchanges.into_iter().collect();
        let mut builder = BlockBuilder::default();
        for ex in &exchanges {
            builder.push_exchange(ex);
        }
        let mut log = MessageLog::default();
        log.merge(builder.finish())
            .expect("records already in memory fit the compact form");
        log.finish();
        for (i, ex) in exchanges.into_iter().enumerate() {
            let i = i as u32;
            if !log.whole.contains_key(&i) && log.exchange(i) != *ex {
                log.whole.insert(i, Box::new(ex.clone()));
            }
        }
        log
    }

    fn read_blocks<R: Read>(&mut self, mut reader: R, workers: usize) -> Result<(), ReadError> {
        let (work_tx, work_rx) = mpsc::sync_channel::<(usize, Vec<u8>)>(workers * 2);
        let work_rx = Mutex::new(work_rx);
        let (done_tx, done_rx) = mpsc::channel::<(usize, Block)>();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let done_tx = done_tx.clone();
                let work_rx = &work_rx;
                scope.spawn(move || loop {
                    let job = work_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((seq, text))) = job else {
                        break;
                    };
                    if done_tx.send((seq, parse_block(&text))).is_err() {
                        break;
                    }
                });
            }
            drop(done_tx);
            let mut merger = Merger::default();
            let result = (|| {
                let mut carry: Vec<u8> = Vec::new();
                let mut seq = 0;
                loop {
                    let (text, eof) = next_block(&mut reader, &mut carry)?;
                    if !text.is_empty() {
                        let mut job = (seq, text);
                        seq += 1;
                        loop {
                            match work_tx.try_send(job) {
                                Ok(()) => break,
                                Err(mpsc::TrySendError::Full(j)) => {
                                    job = j;
                                    let done = done_rx.recv().expect("workers outlive the queue");
                                    merger.take(self, done)?;
                                }
                                Err(mpsc::TrySendError::Disconnected(_)) => {
                                    unreachable!("workers only stop when the queue closes")
                                }
                            }
                        }
                    }
                    while let Ok(done) = done_rx.try_recv() {
                        merger.take(self, done)?;
                    }
                    if eof {
                        break;
                    }
                }
                drop(work_tx);
                for done in done_rx.iter() {
                    merger.take(self, done)?;
                }
                Ok(())
            })();
            // On error the queue closes when `work_tx` drops with the closure,
            // so the workers stop after their current block.
            result
        })
    }

    /// Adds a block's records, mapping its local ids to global ones.
    fn merge(&mut self, block: Block) -> Result<(), ReadError> {
        let base = self.len as u32;
        if self.len + block.msgs.len() >= NO_ID as usize {
            return Err(ReadError::TooLarge);
        }
        let keys: Vec<u32> = block.keys.iter().map(|k| self.keys.intern(k)).collect();
        let values: Vec<u32> = block.values.iter().map(|v| self.values.intern(v)).collect();
        let ballots: Vec<u32> = block
            .ballots
            .iter()
            .map(|b| {
                let next = self.ballots.len() as u32;
                *self.ballot_ids.entry(*b).or_insert_with(|| {
                    self.ballots.push(*b);
                    next
                })
            })
            .collect();
        let map = |table: &[u32], id: u32| {
            if id == NO_ID {
                NO_ID
            } else {
                table[id as usize]
            }
        };
        for mut m in block.msgs {
            m.key = map(&keys, m.key);
            m.value = map(&values, m.value);
            m.accepted_value = map(&values, m.accepted_value);
            if m.kind != Kind::Other {
                m.ballot = ballots[m.ballot as usize];
            }
            if m.flags & HAS_PROMISED != 0 {
                m.promised = ballots[m.promised as usize];
            }
            if m.flags & HAS_ACCEPTED != 0 {
                m.accepted_ballot = ballots[m.accepted_ballot as usize];
            }
            if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
                self.chunks.push(Vec::with_capacity(CHUNK));
            }
            self.chunks.last_mut().expect("just pushed").push(m);
            self.len += 1;
        }
        self.whole
            .extend(block.whole.into_iter().map(|(i, ex)| (base + i, ex)));
        self.duplicate_of
            .extend(block.duplicate_of.into_iter().map(|(i, d)| (base + i, d)));
        Ok(())
    }

    /// Ranks the ballots and builds the index: exchanges grouped by key
    /// (counting sort, so log order is kept), then by node (stable).
    fn finish(&mut self) {
        let mut order: Vec<u32> = (0..self.ballots.len() as u32).collect();
        order.sort_unstable_by_key(|&id| self.ballots[id as usize]);
        let mut rank = vec![0u32; order.len()];
        for (r, &id) in order.iter().enumerate() {
            rank[id as usize] = r as u32;
        }
        self.ballots = order.iter().map(|&id| self.ballots[id as usize]).collect();
        self.ballot_ids = FxMap::default();
        for chunk in &mut self.chunks {
            for m in chunk {
                if m.kind != Kind::Other {
                    m.ballot = rank[m.ballot as usize];
                }
                if m.flags & HAS_PROMISED != 0 {
                    m.promised = rank[m.promised as usize];
                }
                if m.flags & HAS_ACCEPTED != 0 {
                    m.accepted_ballot = rank[m.accepted_ballot as usize];
                }
            }
        }

        let nkeys = self.keys.names.len();
        let mut start = vec![0u32; nkeys + 1];
        for m in self.chunks.iter().flatten() {
            if m.key != NO_ID {
                start[m.key as usize + 1] += 1;
            }
        }
        for k in 0..nkeys {
            start[k + 1] += start[k];
        }
        let mut fill = start.clone();
        let mut by_key = vec![0u32; start[nkeys] as usize];
        for (i, m) in self.chunks.iter().flatten().enumerate() {
            if m.key != NO_ID {
                let slot = &mut fill[m.key as usize];
                by_key[*slot as usize] = i as u32;
                *slot += 1;
            }
        }
        for k in 0..nkeys {
            let slice = &mut by_key[start[k] as usize..start[k + 1] as usize];
            slice.sort_by_key(|&i| self.msg(i).to);
        }
        self.by_key = by_key;
        self.key_start = start;
    }

    // ---- access ---------------------------------------------------------

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

/// Merges parsed blocks in order, whatever order they finish in.
#[derive(Default)]
struct Merger {
    next: usize,
    lines: usize,
    pending: BTreeMap<usize, Block>,
}

impl Merger {
    fn take(
        &mut self,
        log: &mut MessageLog,
        (seq, block): (usize, Block),
    ) -> Result<(), ReadError> {
        self.pending.insert(seq, block);
        while let Some(block) = self.pending.remove(&self.next) {
            if let Some((line, message)) = block.error {
                return Err(ReadError::Corrupt {
                    line: self.lines + line,
                    message,
                });
            }
            self.lines += block.lines;
            self.next += 1;
            log.merge(block)?;
        }
        Ok(())
    }
}

/// Reads the next block of whole lines; the partial last line waits in
/// `carry` for the next call. Returns the block and whether input ended.
fn next_block<R: Read>(reader: &mut R, carry: &mut Vec<u8>) -> std::io::Result<(Vec<u8>, bool)> {
    let mut buf = std::mem::take(carry);
    let mut want = BLOCK.max(buf.len() + 1);
    loop {
        let start = buf.len();
        buf.resize(want, 0);
        let mut filled = start;
        let mut eof = false;
        while filled < want {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(filled);
        if eof {
            return Ok((buf, true));
        }
        match buf.iter().rposition(|&b| b == b'\n') {
            Some(cut) => {
                *carry = buf.split_off(cut + 1);
                return Ok((buf, false));
            }
            // One line longer than the block: read more of it.
            None => want *= 2,
        }
    }
}

/// Parses every line of a block.
fn parse_block(text: &[u8]) -> Block {
    let mut builder = BlockBuilder::default();
    let mut lines = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let (line, tail) = match rest.iter().position(|&b| b == b'\n') {
            Some(n) => (&rest[..n], &rest[n + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = tail;
        lines += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Err(message) = builder.push_line(line) {
            return Block {
                error: Some((lines, message)),
                ..Block::default()
            };
        }
    }
    let mut block = builder.finish();
    block.lines = lines;
    block
}

// ---- typing one record ----------------------------------------------------

/// The fields of an exchange that are not bodies.
struct Head {
    id: u64,
    from: u64,
    to: u64,
    process: Option<u64>,
    sent: u64,
    delivered: Option<u64>,
    replied: Option<u64>,
    fate: Fate,
    duplicate_of: Option<u64>,
    status: Option<u16>,
}

/// A request body: the union of prepare, accept and learn.
#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    ballot: Ballot,
    #[serde(default, borrow)]
    value: Option<Cow<'a, str>>,
}

/// A response body: the union of the three replies.
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default)]
    promised: Option<Ballot>,
    #[serde(default, borrow)]
    accepted: Option<Proposal<'a>>,
    /// Whether the body had an `accepted` member at all (a prepare reply
    /// without one does not rebuild exactly).
    #[serde(skip)]
    accepted_key: bool,
}

#[derive(Deserialize)]
struct Proposal<'a> {
    ballot: Ballot,
    #[serde(borrow)]
    value: Cow<'a, str>,
}

/// A line as the scanner read it.
struct Parsed<'a> {
    head: Head,
    path: Cow<'a, str>,
    body: Option<Body<'a>>,
    answer: Option<Answer<'a>>,
}

fn kind_of(path: &str) -> Kind {
    match path {
        PREPARE_PATH => Kind::Prepare,
        ACCEPT_PATH => Kind::Accept,
        LEARN_PATH => Kind::Learn,
        _ => Kind::Other,
    }
}

fn path_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Prepare => PREPARE_PATH,
        Kind::Accept => ACCEPT_PATH,
        Kind::Learn => LEARN_PATH,
        Kind::Other => "",
    }
}

/// Types a request and response for `path`. Returns the kind, the typed
/// parts, and whether the record can be rebuilt exactly from them.
fn type_bodies<'a>(
    path: &str,
    body: Option<Body<'a>>,
    status: Option<u16>,
    answer: Option<Answer<'a>>,
) -> (Kind, Option<Body<'a>>, Option<Answer<'a>>, bool) {
    let kind = kind_of(path);
    let body = match (kind, body) {
        (Kind::Prepare, Some(b)) if b.value.is_none() => Some(b),
        (Kind::Accept | Kind::Learn, Some(b)) if b.value.is_some() => Some(b),
        _ => None,
    };
    let Some(body) = body else {
        return (Kind::Other, None, None, false);
    };
    let mut exact = true;
    let answer = answer.and_then(|mut a| {
        // Typed: what the invariants need is there. Exact: nothing else is.
        let typed =
            status == Some(200) && a.ok.is_some() && (kind == Kind::Learn || a.promised.is_some());
        let expected = match kind {
            Kind::Prepare => a.accepted_key,
            Kind::Accept => a.accepted.is_none(),
            _ => a.promised.is_none() && a.accepted.is_none(),
        };
        exact &= typed && expected;
        if kind != Kind::Prepare {
            a.accepted = None;
        }
        if kind == Kind::Learn {
            a.promised = None;
        }
        typed.then_some(a)
    });
    (kind, Some(body), answer, exact)
}

impl<'a> BlockBuilder<'a> {
    /// Parses one line: the scanner when the record has the usual shape
    /// (then it rebuilds exactly from the compact form), else the general
    /// record, kept whole.
    fn push_line(&mut self, line: &'a [u8]) -> Result<(), String> {
        if let Some(p) = scan_line(line) {
            let (kind, body, answer, exact) = type_bodies(&p.path, p.body, p.head.status, p.answer);
            if exact && self.push_typed(p.head, kind, body, answer).is_ok() {
                return Ok(());
            }
        }
        let ex: Exchange = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        self.push_owned(&ex);
        Ok(())
    }

    /// Adds a record from memory, typing what has the protocol's shape.
    fn push_exchange(&mut self, ex: &'a Exchange) {
        let body = Body::deserialize(&ex.request).ok();
        let answer = ex.response.as_ref().and_then(|r| {
            let mut a = Answer::deserialize(r).ok()?;
            a.accepted_key = r.get("accepted").is_some();
            Some(a)
        });
        let answer_lost = ex.response.is_some() && answer.is_none();
        let (kind, body, answer, exact) = type_bodies(&ex.path, body, ex.status, answer);
        let fits = self.push_typed(head_of(ex), kind, body, answer).is_ok();
        if !fits {
            self.push_untyped(ex);
        }
        let idx = self.msgs.len() as u32 - 1;
        if fits && (!exact || answer_lost) {
            self.whole.push((idx, Box::new(ex.clone())));
        }
    }

    /// Adds a general record parsed from a line, kept whole (its typed
    /// parts own their strings).
    fn push_owned(&mut self, ex: &Exchange) {
        let body = Body::deserialize(&ex.request).ok().map(|b| Body {
            key: Cow::Owned(b.key.into_owned()),
            ballot: b.ballot,
            value: b.value.map(|v| Cow::Owned(v.into_owned())),
        });
        let answer = ex
            .response
            .as_ref()
            .and_then(|r| Answer::deserialize(r).ok())
            .map(|a| Answer {
                ok: a.ok,
                promised: a.promised,
                accepted: a.accepted.map(|p| Proposal {
                    ballot: p.ballot,
                    value: Cow::Owned(p.value.into_owned()),
                }),
                accepted_key: true,
            });
        let (kind, body, answer, _) = type_bodies(&ex.path, body, ex.status, answer);
        if self.push_typed(head_of(ex), kind, body, answer).is_err() {
            self.push_untyped(ex);
            return;
        }
        let idx = self.msgs.len() as u32 - 1;
        self.whole.push((idx, Box::new(ex.clone())));
    }

    /// Keeps a record whose node or host id does not fit the compact form
    /// as an untyped one.
    fn push_untyped(&mut self, ex: &Exchange) {
        let mut head = head_of(ex);
        head.to = 0;
        head.from = 0;
        self.push_typed(head, Kind::Other, None, None)
            .expect("ids zeroed");
        let idx = self.msgs.len() as u32 - 1;
        self.whole.push((idx, Box::new(ex.clone())));
    }

    fn push_typed(
        &mut self,
        head: Head,
        kind: Kind,
        body: Option<Body<'a>>,
        answer: Option<Answer<'a>>,
    ) -> Result<(), String> {
        let small = |x: u64, what: &str| {
            u32::try_from(x)
                .ok()
                .filter(|&x| x != NO_ID)
                .ok_or_else(|| format!("{what} id {x} is too large (at most {})", NO_ID - 1))
        };
        let mut msg = Msg {
            id: head.id,
            sent: head.sent,
            delivered: head.delivered.unwrap_or(NONE),
            replied: head.replied.unwrap_or(NONE),
            process: head.process.unwrap_or(NONE),
            to: small(head.to, "node")?,
            from: small(head.from, "host")?,
            key: NO_ID,
            value: NO_ID,
            accepted_value: NO_ID,
            ballot: 0,
            promised: 0,
            accepted_ballot: 0,
            status: head.status.unwrap_or(0),
            kind,
            fate: head.fate,
            flags: 0,
        };
        if let Some(body) = body {
            msg.key = self.keys.intern(body.key);
            msg.ballot = self.ballot_id(body.ballot);
            if let Some(v) = body.value {
                msg.value = self.values.intern(v);
            }
        }
        if let Some(a) = answer {
            msg.flags |= HAS_REPLY;
            if a.ok == Some(true) {
                msg.flags |= REPLY_OK;
            }
            if let Some(p) = a.promised {
                msg.flags |= HAS_PROMISED;
                msg.promised = self.ballot_id(p);
            }
            if let Some(acc) = a.accepted {
                msg.flags |= HAS_ACCEPTED;
                msg.accepted_ballot = self.ballot_id(acc.ballot);
                msg.accepted_value = self.values.intern(acc.value);
            }
        }
        if let Some(d) = head.duplicate_of {
            self.duplicate_of.push((self.msgs.len() as u32, d));
        }
        self.msgs.push(msg);
        Ok(())
    }

    fn ballot_id(&mut self, b: Ballot) -> u32 {
        let next = self.ballots.len() as u32;
        *self.ballot_ids.entry(b).or_insert_with(|| {
            self.ballots.push(b);
            next
        })
    }

    fn finish(self) -> Block {
        Block {
            msgs: self.msgs,
            keys: self.keys.into_owned(),
            values: self.values.into_owned(),
            ballots: self.ballots,
            whole: self.whole,
            duplicate_of: self.duplicate_of,
            lines: 0,
            error: None,
        }
    }
}

fn head_of(ex: &Exchange) -> Head {
    Head {
        id: ex.id,
        from: ex.from,
        to: ex.to,
        process: ex.process,
        sent: ex.sent,
        delivered: ex.delivered,
        replied: ex.replied,
        fate: ex.fate,
        duplicate_of: ex.duplicate_of,
        status: ex.status,
    }
}

// ---- the scanner ------------------------------------------------------------

/// A minimal JSON reader for exchange lines: objects with known members in
/// any order, unsigned integers, `null`, booleans, and strings without
/// escapes. Anything else makes it decline (`None`), and serde takes over.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

/// Sets a member once; a repeated member makes the scanner decline.
fn set<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn word(&mut self, w: &[u8]) -> bool {
        self.ws();
        let hit = self.b[self.i..].starts_with(w);
        if hit {
            self.i += w.len();
        }
        hit
    }

    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' | 0..0x20 => return None,
                _ => self.i += 1,
            }
        }
        let s = std::str::from_utf8(&self.b[start..self.i]).ok()?;
        self.i += 1;
        Some(s)
    }

    fn uint(&mut self) -> Option<u64> {
        self.ws();
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(&c @ b'0'..=b'9') = self.b.get(self.i) {
            n = n.checked_mul(10)?.checked_add((c - b'0') as u64)?;
            self.i += 1;
        }
        let len = self.i - start;
        let bad_zero = len > 1 && self.b[start] == b'0';
        let fraction = matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E'));
        (len > 0 && !bad_zero && !fraction).then_some(n)
    }

    fn opt_uint(&mut self) -> Option<Option<u64>> {
        if self.word(b"null") {
            Some(None)
        } else {
            self.uint().map(Some)
        }
    }

    fn boolean(&mut self) -> Option<bool> {
        if self.word(b"true") {
            Some(true)
        } else if self.word(b"false") {
            Some(false)
        } else {
            None
        }
    }

    /// Calls `member` for each member of an object; it must consume the value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let name = self.string()?;
            self.eat(b':')?;
            member(self, name)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn ballot(&mut self) -> Option<Ballot> {
        let (mut round, mut proposer) = (None, None);
        self.object(|s, name| match name {
            "round" => set(&mut round, s.uint()?),
            "proposer" => set(&mut proposer, s.uint()?),
            _ => None,
        })?;
        Some(Ballot::new(round?, proposer?))
    }

    fn body(&mut self) -> Option<Body<'a>> {
        let (mut key, mut ballot, mut value) = (None, None, None);
        self.object(|s, name| match name {
            "key" => set(&mut key, s.string()?),
            "ballot" => set(&mut ballot, s.ballot()?),
            "value" => set(&mut value, s.string()?),
            _ => None,
        })?;
        Some(Body {
            key: Cow::Borrowed(key?),
            ballot: ballot?,
            value: value.map(Cow::Borrowed),
        })
    }

    fn answer(&mut self) -> Option<Answer<'a>> {
        let (mut ok, mut promised, mut accepted) = (None, None, None);
        self.object(|s, name| match name {
            "ok" => set(&mut ok, s.boolean()?),
            "promised" => set(
                &mut promised,
                if s.word(b"null") {
                    None
                } else {
                    Some(s.ballot()?)
                },
            ),
            "accepted" => set(
                &mut accepted,
                if s.word(b"null") {
                    None
                } else {
                    Some(s.proposal()?)
                },
            ),
            _ => None,
        })?;
        Some(Answer {
            ok,
            promised: promised.flatten(),
            accepted_key: accepted.is_some(),
            accepted: accepted.flatten(),
        })
    }

    fn proposal(&mut self) -> Option<Proposal<'a>> {
        let (mut ballot, mut value) = (None, None);
        self.object(|s, name| match name {
            "ballot" => set(&mut ballot, s.ballot()?),
            "value" => set(&mut value, s.string()?),
            _ => None,
        })?;
        Some(Proposal {
            ballot: ballot?,
            value: Cow::Borrowed(value?),
        })
    }
}

fn fate_of(s: &str) -> Option<Fate> {
    Some(match s {
        "ok" => Fate::Ok,
        "dropped-request" => Fate::DroppedRequest,
        "dropped-response" => Fate::DroppedResponse,
        "cut" => Fate::Cut,
        "refused" => Fate::Refused,
        "timeout" => Fate::Timeout,
        "duplicated" => Fate::Duplicated,
        _ => return None,
    })
}

/// Reads a line with the scanner, or declines.
fn scan_line(line: &[u8]) -> Option<Parsed<'_>> {
    let mut s = Scan { b: line, i: 0 };
    let (mut id, mut from, mut to, mut process, mut path) = (None, None, None, None, None);
    let (mut request, mut status, mut response, mut sent) = (None, None, None, None);
    let (mut delivered, mut replied, mut fate, mut duplicate_of) = (None, None, None, None);
    s.object(|s, name| match name {
        "id" => set(&mut id, s.uint()?),
        "from" => set(&mut from, s.uint()?),
        "to" => set(&mut to, s.uint()?),
        "process" => set(&mut process, s.opt_uint()?),
        "path" => set(&mut path, s.string()?),
        "request" => set(
            &mut request,
            if s.word(b"null") {
                None
            } else {
                Some(s.body()?)
            },
        ),
        "status" => set(
            &mut status,
            match s.opt_uint()? {
                None => None,
                Some(x) => Some(u16::try_from(x).ok()?),
            },
        ),
        "response" => set(
            &mut response,
            if s.word(b"null") {
                None
            } else {
                Some(s.answer()?)
            },
        ),
        "sent" => set(&mut sent, s.uint()?),
        "delivered" => set(&mut delivered, s.opt_uint()?),
        "replied" => set(&mut replied, s.opt_uint()?),
        "fate" => set(&mut fate, fate_of(s.string()?)?),
        "duplicate_of" => set(&mut duplicate_of, s.opt_uint()?),
        _ => None,
    })?;
    s.ws();
    if s.i != line.len() {
        return None;
    }
    Some(Parsed {
        head: Head {
            id: id?,
            from: from?,
            to: to?,
            process: process.flatten(),
            sent: sent?,
            delivered: delivered.flatten(),
            replied: replied.flatten(),
            fate: fate?,
            duplicate_of: duplicate_of.flatten(),
            status: status.flatten(),
        },
        path: Cow::Borrowed(path?),
        body: request.flatten(),
        answer: response.flatten(),
    })
}

/// Iterator over one key's exchanges, one slice per node.
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

#[cfg(test)]
mod tests {
    use super::*;

    const PREPARE_LINE: &str = r#"{"id":1,"from":0,"to":2,"process":7,"path":"/v1/prepare","request":{"ballot":{"proposer":7,"round":1},"key":"x"},"status":200,"response":{"accepted":{"ballot":{"proposer":3,"round":1},"value":"a"},"ok":true,"promised":{"proposer":7,"round":1}},"sent":10,"delivered":11,"replied":12,"fate":"ok"}"#;

    fn read(text: &str) -> Result<MessageLog, ReadError> {
        MessageLog::read(text.as_bytes())
    }

    #[test]
    fn a_prepare_line_is_typed_by_the_scanner() {
        assert!(scan_line(PREPARE_LINE.as_bytes()).is_some());
        let log = read(PREPARE_LINE).unwrap();
        let m = log.msg(0);
        assert_eq!(m.kind, Kind::Prepare);
        assert_eq!(log.key_name(m.key().unwrap()), "x");
        assert_eq!(log.ballot(m.ballot().unwrap()), Ballot::new(1, 7));
        assert_eq!(m.process(), Some(7));
        assert!(m.ack());
        let (b, v) = m.reply_accepted().unwrap();
        assert_eq!((log.ballot(b), log.value_name(v)), (Ballot::new(1, 3), "a"));
        assert!(log.whole.is_empty());
    }

    #[test]
    fn the_scanner_declines_what_it_does_not_know() {
        for line in [
            r#"{"id":1,"extra":2}"#,
            r#"{"id":01}"#,
            r#"{"id":1.5}"#,
            r#"{"id":1,"id":2}"#,
            r#"{"path":"a\"b"}"#,
            r#"{"id":1} x"#,
        ] {
            assert!(scan_line(line.as_bytes()).is_none(), "{line}");
        }
    }

    #[test]
    fn ranks_order_as_ballots() {
        let lines = [
            r#"{"id":1,"from":0,"to":0,"path":"/v1/prepare","request":{"key":"x","ballot":{"round":2,"proposer":1}},"sent":1,"fate":"cut"}"#,
            r#"{"id":2,"from":0,"to":0,"path":"/v1/prepare","request":{"key":"x","ballot":{"round":1,"proposer":9}},"sent":1,"fate":"cut"}"#,
            r#"{"id":3,"from":0,"to":0,"path":"/v1/prepare","request":{"key":"x","ballot":{"round":2,"proposer":0}},"sent":1,"fate":"cut"}"#,
        ];
        let log = read(&lines.join("\n")).unwrap();
        let r: Vec<Rank> = (0..3).map(|i| log.msg(i).ballot().unwrap()).collect();
        assert!(r[1] < r[2] && r[2] < r[0]);
        assert_eq!(log.rank(Ballot::new(2, 0)), Some(r[2]));
        assert_eq!(log.rank(Ballot::new(5, 5)), None);
    }

    #[test]
    fn records_rebuild_to_the_original() {
        let lines = [
            PREPARE_LINE,
            r#"{"id":2,"from":0,"to":1,"process":null,"path":"/v1/accept","request":{"key":"x","ballot":{"round":1,"proposer":7},"value":"v"},"status":200,"response":{"ok":false,"promised":{"round":2,"proposer":1}},"sent":10,"delivered":11,"replied":12,"fate":"dropped-response"}"#,
            r#"{"id":3,"from":0,"to":1,"process":4,"path":"/v1/learn","request":{"key":"x","ballot":{"round":1,"proposer":7},"value":"v"},"status":409,"response":{"error":"conflict"},"sent":10,"delivered":11,"replied":12,"fate":"ok"}"#,
            r#"{"id":4,"from":0,"to":1,"process":4,"path":"/v1/accept","request":{"key":"x","ballot":"bad"},"sent":10,"fate":"cut"}"#,
            r#"{"id":5,"from":0,"to":1,"process":4,"path":"/v1/health","request":null,"sent":10,"fate":"refused"}"#,
            r#"{"id":6,"from":1,"to":0,"process":4,"path":"/v1/prepare","request":{"key":"y\u00e9","ballot":{"round":3,"proposer":4}},"status":null,"response":null,"sent":10,"delivered":11,"replied":null,"fate":"duplicated","duplicate_of":2}"#,
            r#"{"id":7,"from":1,"to":5000000000,"path":"/v1/prepare","request":{"key":"z","ballot":{"round":3,"proposer":4}},"sent":10,"fate":"cut"}"#,
            r#"{"id":8,"from":1,"to":0,"path":"/v1/prepare","request":{"key":"z","ballot":{"round":3,"proposer":4}},"status":200,"response":{"ok":true,"promised":{"round":3,"proposer":4}},"sent":10,"delivered":11,"replied":12,"fate":"ok"}"#,
            r#"{"id":9,"from":1,"to":0,"path":"/v1/accept","request":{"key":"z","ballot":{"round":3,"proposer":4},"value":"v","extra":1},"status":200,"response":{"ok":true,"promised":{"round":3,"proposer":4},"note":"hi"},"sent":10,"delivered":11,"replied":12,"fate":"ok"}"#,
        ];
        let log = read(&lines.join("\n")).unwrap();
        assert_eq!(log.len(), lines.len());
        for (i, line) in lines.iter().enumerate() {
            let original: Exchange = serde_json::from_str(line).unwrap();
            assert_eq!(log.exchange(i as u32), original, "line {}", i + 1);
        }
        assert_eq!(log.msg(2).kind, Kind::Learn);
        assert_eq!(log.msg(2).reply(), None, "a 409 is not a typed reply");
        assert_eq!(log.msg(3).kind, Kind::Other);
        assert_eq!(log.msg(4).kind, Kind::Other);
        assert_eq!(log.key_name(log.msg(5).key().unwrap()), "yé");
        assert_eq!(log.msg(6).kind, Kind::Other, "a huge node id is kept whole");
        assert!(
            log.msg(7).ack(),
            "a prepare reply without `accepted` is still typed"
        );
        assert!(log.msg(8).ack(), "unknown members do not hide an ack");
        assert_eq!(log.msg(8).kind, Kind::Accept);
        // The same records from memory give the same log.
        let exchanges: Vec<Exchange> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let again = MessageLog::from_exchanges(&exchanges);
        for i in 0..lines.len() as u32 {
            assert_eq!(again.exchange(i), exchanges[i as usize]);
        }
    }

    #[test]
    fn corrupt_lines_name_their_number() {
        let text = format!("{PREPARE_LINE}\n\n{{\"id\": 2\n");
        match read(&text) {
            Err(ReadError::Corrupt { line, message }) => {
                assert_eq!(line, 3);
                assert!(message.contains("EOF"), "{message}");
            }
            other => panic!("expected a corrupt line, got {other:?}"),
        }
    }

    #[test]
    fn blocks_split_lines_and_keep_line_numbers() {
        // Lines straddling many block boundaries, then a corrupt one.
        let mut text = String::new();
        let n = 3 * BLOCK / PREPARE_LINE.len() + 7;
        for i in 0..n {
            text.push_str(&PREPARE_LINE.replace("\"id\":1,", &format!("\"id\":{i},")));
            text.push('\n');
        }
        let log = read(&text).unwrap();
        assert_eq!(log.len(), n);
        assert_eq!(log.msg(n as u32 - 1).id, n as u64 - 1);
        text.push_str("not json\n");
        match read(&text) {
            Err(ReadError::Corrupt { line, .. }) => assert_eq!(line, n + 1),
            other => panic!("expected a corrupt line, got {other:?}"),
        }
    }

    #[test]
    fn the_index_groups_by_key_then_node_in_log_order() {
        let mk = |id: u64, to: u64, key: &str| Exchange {
            id,
            from: 0,
            to,
            process: Some(1),
            path: PREPARE_PATH.into(),
            request: json!({"key": key, "ballot": {"round": 1, "proposer": 1}}),
            status: None,
            response: None,
            sent: id,
            delivered: None,
            replied: None,
            fate: Fate::Cut,
            duplicate_of: None,
        };
        let exchanges = [
            mk(0, 2, "a"),
            mk(1, 0, "b"),
            mk(2, 0, "a"),
            mk(3, 2, "a"),
            mk(4, 1, "b"),
        ];
        let log = MessageLog::from_exchanges(&exchanges);
        let a = log.key_id("a").unwrap();
        let b = log.key_id("b").unwrap();
        let ids = |s: &[u32]| s.iter().map(|&i| log.msg(i).id).collect::<Vec<_>>();
        assert_eq!(ids(log.by_key(a)), vec![2, 0, 3]);
        let groups: Vec<_> = log.by_key_node(b).map(|(n, g)| (n, ids(g))).collect();
        assert_eq!(groups, vec![(0, vec![1]), (1, vec![4])]);
        assert_eq!(log.key_id("zzz"), None);
        assert_eq!(std::mem::size_of::<Msg>(), 80);
    }
}
