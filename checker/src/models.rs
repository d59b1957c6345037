//! Sequential specifications: what each model's operations do to its state,
//! and which outputs are legal.
//!
//! Every model here is a single register per key (P-compositionality lets
//! the checker take keys one at a time), so an operation is first compiled
//! into a [`CompiledOp`] on interned values and the state is one `u32`:
//!
//! | model | ops (`f`) | state | id 0 |
//! |---|---|---|---|
//! | `write-once` | `propose(v)` returns the chosen value; `read` returns it or null | the chosen value | nothing chosen |
//! | `register` | `read`, `write(v)` | the value | nil |
//! | `cas-register` | `read`, `write(v)`, `cas([A, B])` | the value | nil |
//! | `kv` | `get`, `put(s)`, `append(s)` (one string per key) | the string | `""` |
//!
//! Outcomes (see [`crate::history`]): an `ok` op must be legal with its
//! output. A `fail` op had no effect, so it is dropped, except a failed cas,
//! which is an observation: "compare failed", i.e. the register was not `A`
//! at some point in its interval (Porcupine's and lt.cc's reading). An
//! `info` op may take effect at any time after its invocation, or never; its
//! output is unknown, so it is always legal: an info write writes, an info
//! cas sets `B` only if the register holds `A` (otherwise it is a no-op), an
//! info propose chooses its value only if nothing is chosen yet. Info and
//! failed reads have no effect and are dropped.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;

use serde_json::Value;
use thiserror::Error;

use crate::history::{HistoryOp, OpType};
use ballot_core::records::Event;

/// The sequential specification a history is checked against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Model {
    /// A write-once register per key (Basic Paxos): `propose`, `read`.
    #[default]
    WriteOnce,
    /// A read/write register: `read`, `write`.
    Register,
    /// A register with compare-and-set: `read`, `write`, `cas`.
    CasRegister,
    /// A string per key: `get`, `put`, `append`.
    Kv,
}

impl Model {
    /// The model's name, as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Model::WriteOnce => "write-once",
            Model::Register => "register",
            Model::CasRegister => "cas-register",
            Model::Kv => "kv",
        }
    }

    /// The operations (`f`) the model knows.
    pub fn functions(self) -> &'static [&'static str] {
        match self {
            Model::WriteOnce => &["propose", "read"],
            Model::Register => &["read", "write"],
            Model::CasRegister => &["read", "write", "cas"],
            Model::Kv => &["get", "put", "append"],
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A model name that is not one of ours.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("unknown model {0:?} (expected write-once, register, cas-register or kv)")]
pub struct UnknownModel(pub String);

impl FromStr for Model {
    type Err = UnknownModel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "write-once" => Ok(Model::WriteOnce),
            "register" => Ok(Model::Register),
            "cas-register" => Ok(Model::CasRegister),
            "kv" => Ok(Model::Kv),
            other => Err(UnknownModel(other.to_string())),
        }
    }
}

/// An operation that does not fit the model.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct CompileError {
    /// 1-based line of the invocation.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// One operation as the search sees it: its effect on the state, with
/// values interned (0 is the model's initial value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompiledOp {
    /// An ok read/get: legal iff the state is `out`; no change.
    Read {
        /// The value read.
        out: u32,
    },
    /// A write/put (ok or info): always legal; state := `v`.
    Write {
        /// The value written.
        v: u32,
    },
    /// An ok cas: legal iff the state is `from`; state := `to`.
    Cas {
        /// Expected value.
        from: u32,
        /// New value.
        to: u32,
    },
    /// A failed cas ("compare failed"): legal iff the state is not `from`; no change.
    CasFailed {
        /// Expected value.
        from: u32,
    },
    /// An info cas: always legal; state := `to` if it is `from`, else unchanged.
    CasMaybe {
        /// Expected value.
        from: u32,
        /// New value.
        to: u32,
    },
    /// An ok propose of `v` that returned `out`: if nothing is chosen, legal
    /// iff `out` is `v` and then `v` is chosen; otherwise legal iff `out` is
    /// the chosen value.
    Propose {
        /// The proposed value.
        v: u32,
        /// The value it returned.
        out: u32,
    },
    /// An info propose: always legal; chooses `v` if nothing is chosen yet.
    ProposeMaybe {
        /// The proposed value.
        v: u32,
    },
    /// A kv append (ok or info): always legal; state := state + `piece`.
    Append {
        /// The appended string (interned as a value).
        piece: u32,
    },
}

/// A fast non-cryptographic hasher (the Fx hash of rustc) for the
/// checker's internal tables, whose keys are not attacker-chosen in a way
/// that matters: a slow table only makes a check slower.
#[derive(Clone, Copy, Default)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    const K: u64 = 0xf135_7aea_2e62_a9c5;

    fn add(&mut self, x: u64) {
        self.0 = self.0.wrapping_add(x).wrapping_mul(Self::K);
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

/// A hash map with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A model's state machine for one key: interned values plus the
/// transition function.
///
/// For the register models and write-once, a state id is a value id. For
/// kv, states are strings kept in [`Strings`] (a value id is interned there
/// when a put or get uses it), so an append costs O(1) time and memory.
#[derive(Clone, Debug)]
pub struct Machine {
    model: Model,
    values: Vec<Value>,
    ids: FastMap<Value, u32>,
    strings: Strings,
}

impl Machine {
    /// A fresh machine whose state 0 is the model's initial value.
    pub fn new(model: Model) -> Self {
        let initial = match model {
            Model::Kv => Value::String(String::new()),
            _ => Value::Null,
        };
        let mut ids = FastMap::default();
        ids.insert(initial.clone(), 0);
        let mut machine = Machine {
            model,
            values: vec![initial],
            ids,
            strings: Strings::default(),
        };
        if model == Model::Kv {
            let empty = machine.strings.base(0, &machine.values);
            debug_assert_eq!(empty, 0);
        }
        machine
    }

    /// The model.
    pub fn model(&self) -> Model {
        self.model
    }

    /// The initial state.
    pub fn initial(&self) -> u32 {
        0
    }

    /// The value an id stands for.
    pub fn value(&self, id: u32) -> &Value {
        &self.values[id as usize]
    }

    /// The value a state stands for.
    pub fn state_value(&self, state: u32) -> Value {
        match self.model {
            Model::Kv => Value::String(self.strings.text(state, &self.values)),
            _ => self.values[state as usize].clone(),
        }
    }

    /// The id of a value, interning it.
    pub fn intern(&mut self, value: &Value) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(value.clone());
        self.ids.insert(value.clone(), id);
        id
    }

    /// The kv state of a string value (null reads as `""`).
    fn kv_state(&mut self, value: &Value) -> Result<u32, String> {
        let value = match value {
            Value::Null => return Ok(0),
            Value::String(_) => value,
            other => return Err(format!("{other} (kv values are strings)")),
        };
        let id = self.intern(value);
        Ok(self.strings.base(id, &self.values))
    }

    /// The state after `step` from `state`, or `None` if the step is illegal there.
    pub fn step(&mut self, state: u32, step: &CompiledOp) -> Option<u32> {
        match *step {
            CompiledOp::Read { out } => (state == out).then_some(state),
            CompiledOp::Write { v } => Some(v),
            CompiledOp::Cas { from, to } => (state == from).then_some(to),
            CompiledOp::CasFailed { from } => (state != from).then_some(state),
            CompiledOp::CasMaybe { from, to } => Some(if state == from { to } else { state }),
            CompiledOp::Propose { v, out } if state == 0 => (out == v).then_some(v),
            CompiledOp::Propose { out, .. } => (out == state).then_some(state),
            CompiledOp::ProposeMaybe { v } => Some(if state == 0 { v } else { state }),
            CompiledOp::Append { piece } => Some(self.strings.append(state, piece, &self.values)),
        }
    }

    /// Why `step` is illegal in `state`, in words (for explanations).
    pub fn why_illegal(&self, state: u32, step: &CompiledOp) -> String {
        let now = self.held(state);
        match *step {
            CompiledOp::Read { out } => format!("it returned {} while {now}", self.describe(out)),
            CompiledOp::Cas { from, .. } => {
                format!("its compare expected {} while {now}", self.describe(from))
            }
            CompiledOp::CasFailed { .. } => {
                format!("it reported \"compare failed\" while {now}, the value it expected")
            }
            CompiledOp::Propose { v, out } if state == 0 => format!(
                "nothing was chosen yet, so it would choose its own value {}, yet it returned {}",
                self.describe(v),
                self.describe(out)
            ),
            CompiledOp::Propose { out, .. } => {
                format!("it returned {} while {now}", self.describe(out))
            }
            _ => "every order that continues with it fails later".into(),
        }
    }

    /// The state in words: "the register held 3", "nothing was chosen yet".
    pub fn held(&self, state: u32) -> String {
        match (self.model, state) {
            (Model::WriteOnce, 0) => "nothing was chosen yet".into(),
            (Model::WriteOnce, _) => format!("the chosen value was {}", self.describe(state)),
            (Model::Kv, _) => format!("the key held {}", self.describe(state)),
            _ => format!("the register held {}", self.describe(state)),
        }
    }

    /// A state in words: `nil`, `no value`, or its JSON (long values keep
    /// their start and end; the evidence ops carry them whole).
    pub fn describe(&self, state: u32) -> String {
        match (self.model, state) {
            (Model::WriteOnce, 0) => "no value".into(),
            (Model::Register | Model::CasRegister, 0) => "nil".into(),
            _ => shorten(&self.state_value(state).to_string()),
        }
    }

    /// Compiles one operation into a step, or `None` when it cannot have
    /// had an effect (failed ops other than cas, info reads).
    pub fn compile(
        &mut self,
        op: &HistoryOp,
        events: &[Event],
    ) -> Result<Option<CompiledOp>, CompileError> {
        let f = op.f(events);
        let line = op.invoke + 1;
        let err = |message: String| CompileError { line, message };
        let input = op.input(events);
        let output = op.output(events);
        let outcome = op.outcome;
        let model = self.model;
        let step = match (model, f) {
            (Model::WriteOnce, "propose") => {
                if input.is_null() {
                    return Err(err("a propose of null (nothing to propose)".into()));
                }
                let v = self.intern(input);
                match (outcome, output) {
                    (OpType::Ok, Some(out)) => Some(CompiledOp::Propose {
                        v,
                        out: self.intern(out),
                    }),
                    (OpType::Info, _) => Some(CompiledOp::ProposeMaybe { v }),
                    _ => None,
                }
            }
            (Model::WriteOnce | Model::Register | Model::CasRegister, "read") => {
                output.map(|out| CompiledOp::Read {
                    out: self.intern(out),
                })
            }
            (Model::Register | Model::CasRegister, "write") => match outcome {
                OpType::Fail => None,
                _ => Some(CompiledOp::Write {
                    v: self.intern(input),
                }),
            },
            (Model::CasRegister, "cas") => {
                let (a, b) = match input.as_array().map(Vec::as_slice) {
                    Some([a, b]) => (a, b),
                    _ => {
                        return Err(err(format!(
                            "a cas needs a value [expected, new], not {input}"
                        )))
                    }
                };
                let (from, to) = (self.intern(a), self.intern(b));
                Some(match outcome {
                    OpType::Ok => CompiledOp::Cas { from, to },
                    OpType::Fail => CompiledOp::CasFailed { from },
                    OpType::Info => CompiledOp::CasMaybe { from, to },
                })
            }
            (Model::Kv, "get") => match output {
                Some(out) => Some(CompiledOp::Read {
                    out: self
                        .kv_state(out)
                        .map_err(|m| err(format!("get returned {m}")))?,
                }),
                None => None,
            },
            (Model::Kv, "put") if outcome != OpType::Fail => Some(CompiledOp::Write {
                v: self
                    .kv_state(input)
                    .map_err(|m| err(format!("put of {m}")))?,
            }),
            (Model::Kv, "append") if outcome != OpType::Fail => match input {
                Value::String(_) => Some(CompiledOp::Append {
                    piece: self.intern(input),
                }),
                other => return Err(err(format!("append of {other} (kv values are strings)"))),
            },
            (Model::Kv, "put" | "append") => None,
            _ => {
                return Err(err(format!(
                    "operation {f:?} is not part of the {model} model (it knows {})",
                    model.functions().join(", ")
                )))
            }
        };
        Ok(step)
    }
}

/// `text` if short, else its first and last 60 characters and its length.
fn shorten(text: &str) -> String {
    const KEEP: usize = 60;
    let chars = text.chars().count();
    if chars <= 3 * KEEP {
        return text.to_string();
    }
    let head: String = text.chars().take(KEEP).collect();
    let tail: String = text.chars().skip(chars - KEEP).collect();
    format!("{head}...{tail} ({chars} characters)")
}

/// The kv model's string states, hash-consed. A state is a base string
/// (state 0 is `""`; a put's or get's value) or (parent state, appended
/// piece). Each state carries a fingerprint (length and two polynomial
/// hashes modulo 2^61 - 1), so the state after an append is found in O(1)
/// without building its string. A fingerprint match is confirmed by
/// comparing the strings, so equal strings get the same id (the cache
/// prunes them together) and a get is legal exactly when the ids match.
#[derive(Clone, Debug, Default)]
struct Strings {
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
    fn base(&mut self, value: u32, values: &[Value]) -> u32 {
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
    fn append(&mut self, state: u32, piece: u32, values: &[Value]) -> u32 {
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
    fn text(&self, state: u32, values: &[Value]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use ballot_core::records::{EventType, Process};
    use serde_json::json;

    #[test]
    fn model_names_round_trip() {
        for m in [
            Model::WriteOnce,
            Model::Register,
            Model::CasRegister,
            Model::Kv,
        ] {
            assert_eq!(m.name().parse::<Model>(), Ok(m));
            assert_eq!(m.to_string(), m.name());
        }
        assert_eq!(Model::default(), Model::WriteOnce);
        assert_eq!(
            "cas".parse::<Model>().unwrap_err().to_string(),
            "unknown model \"cas\" (expected write-once, register, cas-register or kv)"
        );
    }

    /// (description, step, state before, state after or None = illegal), on
    /// values 0 = initial, 1 = A, 2 = B.
    #[test]
    fn step_semantics() {
        use CompiledOp::*;
        let table: &[(&str, CompiledOp, u32, Option<u32>)] = &[
            ("read sees the state", Read { out: 1 }, 1, Some(1)),
            ("read of another value is illegal", Read { out: 2 }, 1, None),
            ("read of nil before any write", Read { out: 0 }, 0, Some(0)),
            ("write always legal", Write { v: 2 }, 1, Some(2)),
            (
                "ok cas needs the expected value",
                Cas { from: 1, to: 2 },
                1,
                Some(2),
            ),
            (
                "ok cas on another value is illegal",
                Cas { from: 1, to: 2 },
                2,
                None,
            ),
            (
                "failed cas = observation register != A",
                CasFailed { from: 1 },
                2,
                Some(2),
            ),
            (
                "failed cas when register == A is illegal",
                CasFailed { from: 1 },
                1,
                None,
            ),
            (
                "failed cas on nil register",
                CasFailed { from: 1 },
                0,
                Some(0),
            ),
            (
                "timed-out cas with register == A sets B",
                CasMaybe { from: 1, to: 2 },
                1,
                Some(2),
            ),
            (
                "timed-out cas with register != A is a no-op",
                CasMaybe { from: 1, to: 2 },
                0,
                Some(0),
            ),
            (
                "propose on empty chooses its value",
                Propose { v: 1, out: 1 },
                0,
                Some(1),
            ),
            (
                "propose on empty returning another value is illegal",
                Propose { v: 1, out: 2 },
                0,
                None,
            ),
            (
                "propose after a choice returns the chosen value",
                Propose { v: 1, out: 2 },
                2,
                Some(2),
            ),
            (
                "propose after a choice returning its own value is illegal",
                Propose { v: 1, out: 1 },
                2,
                None,
            ),
            (
                "info propose on empty chooses",
                ProposeMaybe { v: 1 },
                0,
                Some(1),
            ),
            (
                "info propose after a choice changes nothing",
                ProposeMaybe { v: 1 },
                2,
                Some(2),
            ),
            (
                "read of nothing once chosen is illegal",
                Read { out: 0 },
                2,
                None,
            ),
        ];
        for &(what, step, before, after) in table {
            let mut m = Machine::new(Model::CasRegister);
            m.intern(&json!("A"));
            m.intern(&json!("B"));
            assert_eq!(m.step(before, &step), after, "{what}");
        }
    }

    #[test]
    fn kv_appends_concatenate() {
        let mut m = Machine::new(Model::Kv);
        let x = m.intern(&json!("x 1 y"));
        let s1 = m.step(0, &CompiledOp::Append { piece: x }).unwrap();
        let s2 = m.step(s1, &CompiledOp::Append { piece: x }).unwrap();
        assert_eq!(m.state_value(s2), json!("x 1 yx 1 y"));
        assert_eq!(m.step(s1, &CompiledOp::Append { piece: x }), Some(s2));
        // The same string reached by a put, or by other pieces, is the same state.
        let seen = m.kv_state(&json!("x 1 yx 1 y")).unwrap();
        assert_eq!(seen, s2);
        let xx = m.intern(&json!("x 1 yx 1 y"));
        assert_eq!(m.step(0, &CompiledOp::Append { piece: xx }), Some(s2));
        let y = m.intern(&json!(" y"));
        let x1 = m.intern(&json!("x 1"));
        let s3 = m.step(0, &CompiledOp::Append { piece: x1 }).unwrap();
        assert_eq!(m.step(s3, &CompiledOp::Append { piece: y }), Some(s1));
        assert_eq!(m.step(s2, &CompiledOp::Read { out: seen }), Some(s2));
        assert_eq!(m.step(s1, &CompiledOp::Read { out: seen }), None);
        assert_eq!(m.kv_state(&Value::Null), Ok(0));
        assert_eq!(m.state_value(0), json!(""));
        assert_eq!(m.describe(s1), "\"x 1 y\"");
        let long = m.kv_state(&json!("ab".repeat(100))).unwrap();
        assert_eq!(
            m.describe(long),
            format!(
                "\"{}...{}\" (202 characters)",
                &"ab".repeat(30)[..59],
                &"ab".repeat(30)[1..]
            )
        );
    }

    fn op_events(f: &str, input: Value, kind: EventType, output: Value) -> (HistoryOp, Vec<Event>) {
        let event = |index: u64, kind, value| Event {
            index,
            time: index,
            process: Process::Client(0),
            kind,
            f: f.to_string(),
            key: Some("k".into()),
            value,
            error: None,
        };
        let events = vec![event(0, EventType::Invoke, input), event(1, kind, output)];
        let ops = crate::history::pair(&events).unwrap();
        (ops[0], events)
    }

    /// Which outcomes compile to which steps (values: A = 1, B = 2).
    #[test]
    fn compile_table() {
        use CompiledOp::*;
        use EventType::*;
        type Case = (
            Model,
            &'static str,
            Value,
            EventType,
            Value,
            Option<CompiledOp>,
        );
        let cases: &[Case] = &[
            (
                Model::CasRegister,
                "cas",
                json!(["A", "B"]),
                Ok,
                json!(["A", "B"]),
                Some(Cas { from: 1, to: 2 }),
            ),
            (
                Model::CasRegister,
                "cas",
                json!(["A", "B"]),
                Fail,
                json!(["A", "B"]),
                Some(CasFailed { from: 1 }),
            ),
            (
                Model::CasRegister,
                "cas",
                json!(["A", "B"]),
                Info,
                Value::Null,
                Some(CasMaybe { from: 1, to: 2 }),
            ),
            (
                Model::CasRegister,
                "read",
                Value::Null,
                Fail,
                Value::Null,
                None,
            ),
            (
                Model::CasRegister,
                "read",
                Value::Null,
                Info,
                Value::Null,
                None,
            ),
            (
                Model::CasRegister,
                "read",
                Value::Null,
                Ok,
                Value::Null,
                Some(Read { out: 0 }),
            ),
            (
                Model::Register,
                "write",
                json!("A"),
                Info,
                Value::Null,
                Some(Write { v: 1 }),
            ),
            (
                Model::Register,
                "write",
                json!("A"),
                Fail,
                Value::Null,
                None,
            ),
            (
                Model::WriteOnce,
                "propose",
                json!("A"),
                Ok,
                json!("A"),
                Some(Propose { v: 1, out: 1 }),
            ),
            (
                Model::WriteOnce,
                "propose",
                json!("A"),
                Info,
                Value::Null,
                Some(ProposeMaybe { v: 1 }),
            ),
            (
                Model::WriteOnce,
                "propose",
                json!("A"),
                Fail,
                Value::Null,
                None,
            ),
            (
                Model::WriteOnce,
                "read",
                Value::Null,
                Ok,
                Value::Null,
                Some(Read { out: 0 }),
            ),
            (
                Model::Kv,
                "get",
                Value::Null,
                Ok,
                json!(""),
                Some(Read { out: 0 }),
            ),
            (
                Model::Kv,
                "append",
                json!("A"),
                Info,
                Value::Null,
                Some(Append { piece: 1 }),
            ),
            (Model::Kv, "put", json!("A"), Fail, json!("A"), None),
        ];
        for (model, f, input, kind, output, want) in cases {
            let (op, events) = op_events(f, input.clone(), *kind, output.clone());
            let mut m = Machine::new(*model);
            m.intern(&json!("A"));
            m.intern(&json!("B"));
            assert_eq!(
                m.compile(&op, &events),
                Result::Ok(*want),
                "{model} {f} {kind:?}"
            );
        }
    }

    #[test]
    fn compile_rejects_what_the_model_does_not_know() {
        let cases = [
            (Model::WriteOnce, "cas", json!(["A", "B"]), "line 1: operation \"cas\" is not part of the write-once model (it knows propose, read)"),
            (Model::CasRegister, "cas", json!("A"), "line 1: a cas needs a value [expected, new], not \"A\""),
            (Model::Kv, "put", json!(3), "line 1: put of 3 (kv values are strings)"),
            (Model::WriteOnce, "propose", Value::Null, "line 1: a propose of null (nothing to propose)"),
        ];
        for (model, f, input, want) in cases {
            let (op, events) = op_events(f, input, EventType::Ok, Value::Null);
            let err = Machine::new(model).compile(&op, &events).unwrap_err();
            assert_eq!(err.to_string(), want);
        }
    }
}
