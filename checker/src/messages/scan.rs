//! The line scanner: a `messages.jsonl` record in its usual shape read
//! without serde, and the serde fallback for any other line.

use std::borrow::Cow;

use ballot_core::protocol::{Ballot, ACCEPT_PATH, LEARN_PATH, PREPARE_PATH};
use serde::Deserialize;

use ballot_core::records::{Exchange, Fate};

use super::*;

/// The fields of an exchange that are not bodies.
pub(super) struct Head {
    pub(super) id: u64,
    pub(super) from: u64,
    pub(super) to: u64,
    pub(super) process: Option<u64>,
    pub(super) sent: u64,
    pub(super) delivered: Option<u64>,
    pub(super) replied: Option<u64>,
    pub(super) fate: Fate,
    pub(super) duplicate_of: Option<u64>,
    pub(super) status: Option<u16>,
}

/// A request body: the union of prepare, accept and learn.
#[derive(Deserialize)]
pub(super) struct Body<'a> {
    #[serde(borrow)]
    pub(super) key: Cow<'a, str>,
    pub(super) ballot: Ballot,
    #[serde(default, borrow)]
    pub(super) value: Option<Cow<'a, str>>,
}

/// A response body: the union of the three replies.
#[derive(Deserialize)]
pub(super) struct Answer<'a> {
    #[serde(default)]
    pub(super) ok: Option<bool>,
    #[serde(default)]
    pub(super) promised: Option<Ballot>,
    #[serde(default, borrow)]
    pub(super) accepted: Option<Proposal<'a>>,
    /// Whether the body had an `accepted` member at all (a prepare reply
    /// without one does not rebuild exactly).
    #[serde(skip)]
    pub(super) accepted_key: bool,
}

#[derive(Deserialize)]
pub(super) struct Proposal<'a> {
    pub(super) ballot: Ballot,
    #[serde(borrow)]
    pub(super) value: Cow<'a, str>,
}

/// A line as the scanner read it.
pub(super) struct Parsed<'a> {
    pub(super) head: Head,
    pub(super) path: Cow<'a, str>,
    pub(super) body: Option<Body<'a>>,
    pub(super) answer: Option<Answer<'a>>,
}

pub(super) fn kind_of(path: &str) -> Kind {
    match path {
        PREPARE_PATH => Kind::Prepare,
        ACCEPT_PATH => Kind::Accept,
        LEARN_PATH => Kind::Learn,
        _ => Kind::Other,
    }
}

pub(super) fn path_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Prepare => PREPARE_PATH,
        Kind::Accept => ACCEPT_PATH,
        Kind::Learn => LEARN_PATH,
        Kind::Other => "",
    }
}

/// Types a request and response for `path`. Returns the kind, the typed
/// parts, and whether the record can be rebuilt exactly from them.
pub(super) fn type_bodies<'a>(
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

pub(super) fn head_of(ex: &Exchange) -> Head {
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
pub(super) struct Scan<'a> {
    pub(super) b: &'a [u8],
    pub(super) i: usize,
}

/// Sets a member once; a repeated member makes the scanner decline.
pub(super) fn set<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

impl<'a> Scan<'a> {
    pub(super) fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    pub(super) fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    pub(super) fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    pub(super) fn word(&mut self, w: &[u8]) -> bool {
        self.ws();
        let hit = self.b[self.i..].starts_with(w);
        if hit {
            self.i += w.len();
        }
        hit
    }

    pub(super) fn string(&mut self) -> Option<&'a str> {
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

    pub(super) fn uint(&mut self) -> Option<u64> {
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

    pub(super) fn opt_uint(&mut self) -> Option<Option<u64>> {
        if self.word(b"null") {
            Some(None)
        } else {
            self.uint().map(Some)
        }
    }

    pub(super) fn boolean(&mut self) -> Option<bool> {
        if self.word(b"true") {
            Some(true)
        } else if self.word(b"false") {
            Some(false)
        } else {
            None
        }
    }

    /// Calls `member` for each member of an object; it must consume the value.
    pub(super) fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
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

    pub(super) fn ballot(&mut self) -> Option<Ballot> {
        let (mut round, mut proposer) = (None, None);
        self.object(|s, name| match name {
            "round" => set(&mut round, s.uint()?),
            "proposer" => set(&mut proposer, s.uint()?),
            _ => None,
        })?;
        Some(Ballot::new(round?, proposer?))
    }

    pub(super) fn body(&mut self) -> Option<Body<'a>> {
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

    pub(super) fn answer(&mut self) -> Option<Answer<'a>> {
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

    pub(super) fn proposal(&mut self) -> Option<Proposal<'a>> {
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

pub(super) fn fate_of(s: &str) -> Option<Fate> {
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
pub(super) fn scan_line(line: &[u8]) -> Option<Parsed<'_>> {
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
