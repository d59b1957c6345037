//! Reading the log: blocks of whole lines parsed on every core, merged in
//! order, their block-local ids mapped to the log's own.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{mpsc, Mutex};

use ballot_core::protocol::Ballot;
use serde::Deserialize;

use ballot_core::records::Exchange;

use super::hash::*;
use super::scan::*;
use super::*;

/// One parsed block, with block-local ids.
#[derive(Default)]
pub(super) struct Block {
    pub(super) msgs: Vec<Msg>,
    pub(super) keys: Vec<Box<str>>,
    pub(super) values: Vec<Box<str>>,
    pub(super) ballots: Vec<Ballot>,
    pub(super) whole: Vec<(u32, Box<Exchange>)>,
    pub(super) duplicate_of: Vec<(u32, u64)>,
    pub(super) lines: usize,
    /// A corrupt line: (1-based line within the block, message).
    pub(super) error: Option<(usize, String)>,
}

/// Builds a [`Block`] one record at a time.
#[derive(Default)]
pub(super) struct BlockBuilder<'a> {
    pub(super) msgs: Vec<Msg>,
    pub(super) keys: LocalInterner<'a>,
    pub(super) values: LocalInterner<'a>,
    pub(super) ballot_ids: FxMap<Ballot, u32>,
    pub(super) ballots: Vec<Ballot>,
    pub(super) whole: Vec<(u32, Box<Exchange>)>,
    pub(super) duplicate_of: Vec<(u32, u64)>,
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

    pub(super) fn read_blocks<R: Read>(
        &mut self,
        mut reader: R,
        workers: usize,
    ) -> Result<(), ReadError> {
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
    pub(super) fn merge(&mut self, block: Block) -> Result<(), ReadError> {
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
    pub(super) fn finish(&mut self) {
        self.nodes_propose = self
            .whole
            .values()
            .any(|ex| ballot_core::protocol::is_client_path(&ex.path));
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
}

/// Merges parsed blocks in order, whatever order they finish in.
#[derive(Default)]
pub(super) struct Merger {
    pub(super) next: usize,
    pub(super) lines: usize,
    pub(super) pending: BTreeMap<usize, Block>,
}

impl Merger {
    pub(super) fn take(
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
pub(super) fn next_block<R: Read>(
    reader: &mut R,
    carry: &mut Vec<u8>,
) -> std::io::Result<(Vec<u8>, bool)> {
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
pub(super) fn parse_block(text: &[u8]) -> Block {
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

impl<'a> BlockBuilder<'a> {
    /// Parses one line: the scanner when the record has the usual shape
    /// (then it rebuilds exactly from the compact form), else the general
    /// record, kept whole.
    pub(super) fn push_line(&mut self, line: &'a [u8]) -> Result<(), String> {
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
    pub(super) fn push_exchange(&mut self, ex: &'a Exchange) {
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
    pub(super) fn push_owned(&mut self, ex: &Exchange) {
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
    pub(super) fn push_untyped(&mut self, ex: &Exchange) {
        let mut head = head_of(ex);
        head.to = 0;
        head.from = 0;
        self.push_typed(head, Kind::Other, None, None)
            .expect("ids zeroed");
        let idx = self.msgs.len() as u32 - 1;
        self.whole.push((idx, Box::new(ex.clone())));
    }

    pub(super) fn push_typed(
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

    pub(super) fn ballot_id(&mut self, b: Ballot) -> u32 {
        let next = self.ballots.len() as u32;
        *self.ballot_ids.entry(b).or_insert_with(|| {
            self.ballots.push(b);
            next
        })
    }

    pub(super) fn finish(self) -> Block {
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
