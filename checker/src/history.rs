//! The history model: `history.jsonl` parsed into events, and events paired
//! into operations.
//!
//! # Outcomes (Jepsen's taxonomy)
//!
//! An operation is an `invoke` event and the next event of the same process,
//! its completion:
//!
//! - `ok`: it took effect, with the output the completion carries;
//! - `fail`: it definitely had no effect;
//! - `info`: indeterminate. It may take effect at any time after its
//!   invocation, or never, so its completion is treated as happening at
//!   +infinity. An invocation with no completion at all (the harness was
//!   killed) is treated the same way.
//!
//! A process has at most one operation outstanding. A process whose
//! operation ended `info` is retired: its client continues under a new
//! process id, so a retired id that appears again makes the history
//! malformed. Nemesis events (process `"nemesis"`) are not operations.
//!
//! # Line numbers
//!
//! [`parse_history`] accepts no blank lines (the harness never writes one),
//! so event position `i` in the parsed vector is line `i + 1` of the file,
//! and every error here names that line.

use std::collections::HashMap;
use std::io::Read;

use serde_json::Value;
use thiserror::Error;

use ballot_core::records::{Event, EventType, Process};

/// Why a history could not be read or paired.
#[derive(Debug, Error)]
pub enum HistoryError {
    /// A line is not a valid history event.
    #[error("line {line}: not a history event: {message}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What serde_json said.
        message: String,
    },
    /// The file's last line has no newline and does not parse: the writer
    /// was probably killed while writing it.
    #[error("line {line}: torn last line (no newline at the end, the writer was probably killed mid-write): {message}; remove that line to check the rest")]
    TornLastLine {
        /// 1-based line number.
        line: usize,
        /// What serde_json said.
        message: String,
    },
    /// A line is empty.
    #[error("line {line}: blank line (every line must be one JSON event)")]
    BlankLine {
        /// 1-based line number.
        line: usize,
    },
    /// The bytes are not UTF-8.
    #[error("line {line}: not valid UTF-8")]
    Utf8 {
        /// 1-based line number.
        line: usize,
    },
    /// Reading the input failed.
    #[error("reading the history: {0}")]
    Io(#[from] std::io::Error),
    /// A process name other than `"nemesis"`.
    #[error("line {line}: process {name:?} is neither a client id nor \"nemesis\"")]
    UnknownProcess {
        /// 1-based line number.
        line: usize,
        /// The name found.
        name: String,
    },
    /// A completion (`ok`, `fail`, `info`) with no open invocation.
    #[error("line {line}: process {process} completes an operation it never invoked")]
    CompletionWithoutInvoke {
        /// 1-based line number.
        line: usize,
        /// The client process.
        process: u64,
    },
    /// An invocation while the process still has one open.
    #[error("line {line}: process {process} invokes an operation while its operation from line {open_line} is still open (a process has at most one)")]
    AlreadyOpen {
        /// 1-based line number of the second invocation.
        line: usize,
        /// The client process.
        process: u64,
        /// 1-based line of the open invocation.
        open_line: usize,
    },
    /// A process appears again after an operation of it ended `info`.
    #[error("line {line}: process {process} appears again after its operation ended info at line {info_line} (an indeterminate process is retired; its client must continue under a new id)")]
    ReusedAfterInfo {
        /// 1-based line number of the reappearance.
        line: usize,
        /// The client process.
        process: u64,
        /// 1-based line of the `info` completion.
        info_line: usize,
    },
    /// A completion timed before its invocation.
    #[error("line {line}: process {process}'s completion at time {time} is before its invocation at time {invoke_time} (line {invoke_line}); times must not go backwards")]
    TimeBackwards {
        /// 1-based line number of the completion.
        line: usize,
        /// The client process.
        process: u64,
        /// The completion's time.
        time: u64,
        /// The invocation's time.
        invoke_time: u64,
        /// 1-based line of the invocation.
        invoke_line: usize,
    },
    /// A completion whose `f` or `key` differs from its invocation's.
    #[error("line {line}: process {process} completes {what} but invoked {invoked} at line {invoke_line}")]
    Mismatch {
        /// 1-based line number of the completion.
        line: usize,
        /// The client process.
        process: u64,
        /// The completion's `f`/`key`.
        what: String,
        /// The invocation's `f`/`key`.
        invoked: String,
        /// 1-based line of the invocation.
        invoke_line: usize,
    },
}

/// What became of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpType {
    /// It took effect with the completion's output.
    Ok,
    /// It definitely had no effect.
    Fail,
    /// Indeterminate (`info`, or no completion at all).
    Info,
}

/// One operation: an invocation paired with its completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryOp {
    /// The client process.
    pub process: u64,
    /// Position of the invoke event in the event slice.
    pub invoke: usize,
    /// Position of the completion event, if there is one.
    pub completion: Option<usize>,
    /// ok, fail or info.
    pub outcome: OpType,
    /// The invoke event's time.
    pub invoke_time: u64,
    /// The completion's time for `ok` and `fail`; `None` (+infinity) for `info`.
    pub return_time: Option<u64>,
}

impl HistoryOp {
    /// The invoke event.
    pub fn invocation<'a>(&self, events: &'a [Event]) -> &'a Event {
        &events[self.invoke]
    }

    /// The completion event, if any.
    pub fn completion_event<'a>(&self, events: &'a [Event]) -> Option<&'a Event> {
        self.completion.map(|i| &events[i])
    }

    /// The function (`propose`, `read`, ...).
    pub fn f<'a>(&self, events: &'a [Event]) -> &'a str {
        &events[self.invoke].f
    }

    /// The key, if the operation has one.
    pub fn key<'a>(&self, events: &'a [Event]) -> Option<&'a str> {
        events[self.invoke].key.as_deref()
    }

    /// The invocation's value (the argument).
    pub fn input<'a>(&self, events: &'a [Event]) -> &'a Value {
        &events[self.invoke].value
    }

    /// The completion's value (the output), for an `ok` operation.
    pub fn output<'a>(&self, events: &'a [Event]) -> Option<&'a Value> {
        match self.outcome {
            OpType::Ok => self.completion.map(|i| &events[i].value),
            _ => None,
        }
    }

    /// The invoke event and, if any, the completion event, cloned (evidence).
    pub fn events(&self, events: &[Event]) -> Vec<Event> {
        let mut out = vec![events[self.invoke].clone()];
        if let Some(c) = self.completion {
            out.push(events[c].clone());
        }
        out
    }
}

/// Pairs invocations with completions into operations, in invocation order.
///
/// Nemesis events are skipped. Fails on malformed histories (see
/// [`HistoryError`]); line numbers are event positions + 1.
pub fn pair(events: &[Event]) -> Result<Vec<HistoryOp>, HistoryError> {
    /// Per process: its open op (index into `ops`) or the line of its `info`.
    enum Slot {
        Open(usize),
        Idle,
        Retired(usize),
    }
    let mut ops: Vec<HistoryOp> = Vec::with_capacity(events.len() / 2 + 1);
    let mut slots: HashMap<u64, Slot> = HashMap::new();
    for (pos, event) in events.iter().enumerate() {
        let line = pos + 1;
        let process = match &event.process {
            Process::Client(p) => *p,
            Process::Named(name) if name == "nemesis" => continue,
            Process::Named(name) => {
                return Err(HistoryError::UnknownProcess {
                    line,
                    name: name.clone(),
                })
            }
        };
        let slot = slots.entry(process).or_insert(Slot::Idle);
        match (event.kind, &*slot) {
            (_, Slot::Retired(info_pos)) => {
                return Err(HistoryError::ReusedAfterInfo {
                    line,
                    process,
                    info_line: info_pos + 1,
                })
            }
            (EventType::Invoke, Slot::Open(i)) => {
                return Err(HistoryError::AlreadyOpen {
                    line,
                    process,
                    open_line: ops[*i].invoke + 1,
                })
            }
            (EventType::Invoke, Slot::Idle) => {
                *slot = Slot::Open(ops.len());
                ops.push(HistoryOp {
                    process,
                    invoke: pos,
                    completion: None,
                    outcome: OpType::Info,
                    invoke_time: event.time,
                    return_time: None,
                });
            }
            (_, Slot::Idle) => return Err(HistoryError::CompletionWithoutInvoke { line, process }),
            (kind, Slot::Open(i)) => {
                let op = &mut ops[*i];
                let invoked = &events[op.invoke];
                if invoked.f != event.f || invoked.key != event.key {
                    return Err(HistoryError::Mismatch {
                        line,
                        process,
                        what: describe_call(event),
                        invoked: describe_call(invoked),
                        invoke_line: op.invoke + 1,
                    });
                }
                if event.time < invoked.time {
                    return Err(HistoryError::TimeBackwards {
                        line,
                        process,
                        time: event.time,
                        invoke_time: invoked.time,
                        invoke_line: op.invoke + 1,
                    });
                }
                op.completion = Some(pos);
                match kind {
                    EventType::Ok | EventType::Fail => {
                        op.outcome = if kind == EventType::Ok {
                            OpType::Ok
                        } else {
                            OpType::Fail
                        };
                        op.return_time = Some(event.time);
                        *slot = Slot::Idle;
                    }
                    _ => *slot = Slot::Retired(pos),
                }
            }
        }
    }
    Ok(ops)
}

fn describe_call(event: &Event) -> String {
    match &event.key {
        Some(k) => format!("{} on key {k:?}", event.f),
        None => format!("{} (no key)", event.f),
    }
}

/// Parses a whole `history.jsonl` text, in parallel over the available cores.
///
/// A final newline is optional; a blank line is an error, so event `i` is
/// line `i + 1`.
pub fn parse_history(text: &str) -> Result<Vec<Event>, HistoryError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    parse_block(text, 0, threads, true)
}

/// Reads and parses a `history.jsonl` stream, a block at a time (bounded
/// extra memory), each block in parallel.
pub fn read_history<R: Read>(mut reader: R) -> Result<Vec<Event>, HistoryError> {
    const BLOCK: usize = 16 << 20;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut events = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK + 4096);
    let mut eof = false;
    let mut want = BLOCK;
    while !eof {
        // Fill to at least `want` bytes or the end.
        while buf.len() < want {
            let start = buf.len();
            buf.resize(want, 0);
            let n = loop {
                match reader.read(&mut buf[start..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            buf.truncate(start + n);
            if n == 0 {
                eof = true;
                break;
            }
        }
        // Parse the complete lines; keep a partial last line for later.
        let cut = if eof {
            buf.len()
        } else {
            match buf.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                None => {
                    // One line longer than a block: read more of it.
                    want = buf.len() * 2;
                    continue;
                }
            }
        };
        want = BLOCK;
        let base = events.len();
        let text = std::str::from_utf8(&buf[..cut]).map_err(|e| HistoryError::Utf8 {
            line: base
                + 1
                + buf[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count(),
        })?;
        events.extend(parse_block(text, base, threads, eof)?);
        buf.drain(..cut);
    }
    Ok(events)
}

/// Parses complete lines (`text` starts a line; lines before it: `base`).
/// `last` says whether `text` ends the input (so a missing final newline is
/// the end of the file, not a cut).
fn parse_block(
    text: &str,
    base: usize,
    threads: usize,
    last: bool,
) -> Result<Vec<Event>, HistoryError> {
    // Split into about `threads` chunks at line boundaries.
    let bytes = text.as_bytes();
    let mut chunks = Vec::new();
    let mut start = 0;
    let target = (text.len() / threads.max(1)).max(1 << 16);
    while start < text.len() {
        let mut end = (start + target).min(text.len());
        while end < text.len() && bytes[end - 1] != b'\n' {
            end += 1;
        }
        chunks.push(&text[start..end]);
        start = end;
    }
    let results: Vec<Result<Vec<Event>, (usize, HistoryError)>> = if chunks.len() <= 1 {
        chunks.iter().map(|c| parse_lines(c)).collect()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|c| s.spawn(move || parse_lines(c)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("history parser thread panicked"))
                .collect()
        })
    };
    let mut events =
        Vec::with_capacity(results.iter().map(|r| r.as_ref().map_or(0, Vec::len)).sum());
    let ends_with_newline = text.ends_with('\n');
    let mut line = base;
    for result in results {
        match result {
            Ok(chunk) => {
                line += chunk.len();
                events.extend(chunk);
            }
            Err((local, err)) => {
                let line = line + local;
                // Each chunk counts lines from 1: shift into file lines.
                let total_lines = base + text.lines().count();
                return Err(match err {
                    HistoryError::Parse { message, .. }
                        if last && !ends_with_newline && line == total_lines =>
                    {
                        HistoryError::TornLastLine { line, message }
                    }
                    HistoryError::Parse { message, .. } => HistoryError::Parse { line, message },
                    HistoryError::BlankLine { .. } => HistoryError::BlankLine { line },
                    other => other,
                });
            }
        }
    }
    Ok(events)
}

/// Parses the lines of one chunk; an error carries its 1-based line within the chunk.
fn parse_lines(chunk: &str) -> Result<Vec<Event>, (usize, HistoryError)> {
    let mut events = Vec::with_capacity(chunk.len() / 96 + 1);
    for (i, raw) in chunk.split_terminator('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            return Err((i + 1, HistoryError::BlankLine { line: i + 1 }));
        }
        match serde_json::from_str::<Event>(line) {
            Ok(event) => events.push(event),
            Err(e) => {
                return Err((
                    i + 1,
                    HistoryError::Parse {
                        line: i + 1,
                        message: e.to_string(),
                    },
                ))
            }
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests;
