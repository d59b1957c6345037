//! The kv model's string states: hash-consed, so an append finds its state
//! in O(1) and equal strings share one id.

use serde_json::Value;

use super::FastMap;

/// The kv model's string states, hash-consed. A state is a base string
/// (state 0 is `""`; a put's or get's value) or (parent state, appended
/// piece). Each state carries a fingerprint (length and two polynomial
/// hashes modulo 2^61 - 1), so the state after an append is found in O(1)
/// without building its string. A fingerprint match is confirmed by
/// comparing the strings, so equal strings get the same id (the cache
/// prunes them together) and a get is legal exactly when the ids match.
#[derive(Clone, Debug, Default)]
pub(super) struct Strings {
    nodes: Vec<StrNode>,
    index: FastMap<Fingerprint, u32>,
    appended: FastMap<(u32, u32), u32>,
    pieces: Vec<Option<Piece>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Fingerprint {
    len: u64,
    h1: u64,
    h2: u64,
}

/// An appended value's fingerprint and the powers that shift a prefix past it.
#[derive(Clone, Copy, Debug)]
struct Piece {
    fp: Fingerprint,
    pow1: u64,
    pow2: u64,
}

#[derive(Clone, Copy, Debug)]
struct StrNode {
    /// The state this one appends to; `NO_PARENT` for a base string.
    parent: u32,
    /// The value id of the base string or of the appended piece.
    piece: u32,
    fp: Fingerprint,
}

const NO_PARENT: u32 = u32::MAX;
const MODULUS: u64 = (1 << 61) - 1;
const BASE1: u64 = 0x0A3B_5C7D_9E1F_2B4D;
const BASE2: u64 = 0x1C6E_8A2F_4B7D_3E59;

fn mul_mod(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    let s = (r as u64 & MODULUS) + (r >> 61) as u64;
    if s >= MODULUS {
        s - MODULUS
    } else {
        s
    }
}

fn add_mod(a: u64, b: u64) -> u64 {
    let s = a + b;
    if s >= MODULUS {
        s - MODULUS
    } else {
        s
    }
}

fn piece_of(text: &str) -> Piece {
    let (mut h1, mut h2, mut pow1, mut pow2) = (0, 0, 1, 1);
    for &b in text.as_bytes() {
        h1 = add_mod(mul_mod(h1, BASE1), u64::from(b) + 1);
        h2 = add_mod(mul_mod(h2, BASE2), u64::from(b) + 1);
        pow1 = mul_mod(pow1, BASE1);
        pow2 = mul_mod(pow2, BASE2);
    }
    Piece {
        fp: Fingerprint {
            len: text.len() as u64,
            h1,
            h2,
        },
        pow1,
        pow2,
    }
}

impl Strings {
    /// The state of the base string `text` (value id `value`).
    pub(super) fn base(&mut self, value: u32, values: &[Value]) -> u32 {
        let text = values[value as usize].as_str().unwrap_or_default();
        let fp = self.piece(value, text).fp;
        if let Some(&id) = self.index.get(&fp) {
            if self.equals(id, text.as_bytes(), values) {
                return id;
            }
        }
        self.push(StrNode {
            parent: NO_PARENT,
            piece: value,
            fp,
        })
    }

    /// The state after appending value `piece` to `state`.
    pub(super) fn append(&mut self, state: u32, piece: u32, values: &[Value]) -> u32 {
        if let Some(&next) = self.appended.get(&(state, piece)) {
            return next;
        }
        let text = values[piece as usize].as_str().unwrap_or_default();
        let p = self.piece(piece, text);
        let a = self.nodes[state as usize].fp;
        let fp = Fingerprint {
            len: a.len + p.fp.len,
            h1: add_mod(mul_mod(a.h1, p.pow1), p.fp.h1),
            h2: add_mod(mul_mod(a.h2, p.pow2), p.fp.h2),
        };
        let mut next = None;
        if let Some(&id) = self.index.get(&fp) {
            let mut whole = self.text(state, values).into_bytes();
            whole.extend_from_slice(text.as_bytes());
            if self.equals(id, &whole, values) {
                next = Some(id);
            }
        }
        let next = next.unwrap_or_else(|| {
            self.push(StrNode {
                parent: state,
                piece,
                fp,
            })
        });
        self.appended.insert((state, piece), next);
        next
    }

    fn piece(&mut self, value: u32, text: &str) -> Piece {
        let i = value as usize;
        if self.pieces.len() <= i {
            self.pieces.resize(i + 1, None);
        }
        *self.pieces[i].get_or_insert_with(|| piece_of(text))
    }

    /// Adds a node; registers it unless its fingerprint is taken by a
    /// different string (then it stays a distinct, unshared state).
    fn push(&mut self, node: StrNode) -> u32 {
        let id = self.nodes.len() as u32;
        self.nodes.push(node);
        self.index.entry(node.fp).or_insert(id);
        id
    }

    /// The string of a state.
    pub(super) fn text(&self, state: u32, values: &[Value]) -> String {
        let mut parts = Vec::new();
        let mut s = state;
        loop {
            let node = self.nodes[s as usize];
            parts.push(values[node.piece as usize].as_str().unwrap_or_default());
            if node.parent == NO_PARENT {
                break;
            }
            s = node.parent;
        }
        parts.reverse();
        parts.concat()
    }

    /// Whether state `id`'s string is `bytes` (comparing from the end).
    fn equals(&self, id: u32, bytes: &[u8], values: &[Value]) -> bool {
        if self.nodes[id as usize].fp.len != bytes.len() as u64 {
            return false;
        }
        let mut rest = bytes;
        let mut s = id;
        loop {
            let node = self.nodes[s as usize];
            let piece = values[node.piece as usize]
                .as_str()
                .unwrap_or_default()
                .as_bytes();
            let Some(head) = rest.strip_suffix(piece) else {
                return false;
            };
            rest = head;
            if node.parent == NO_PARENT {
                return rest.is_empty();
            }
            s = node.parent;
        }
    }
}
