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
//!
//! That is the [`Reading::Porcupine`] of outcomes (our histories, Jepsen's
//! etcd logs, Porcupine's kv logs). Jepsen's EDN histories are read as
//! Knossos reads them ([`Reading::Knossos`], `knossos.model` and
//! `knossos.history/preprocess`): for `register` and `cas-register`, every
//! `fail` op is dropped, a failed cas too (it had no effect and says
//! nothing), and an ok read of nil constrains nothing (Knossos: "we don't
//! know what the read was"). A [`Spec`] may also give the register models
//! an initial value other than nil (Knossos's tests start them at 0).

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;

use serde_json::Value;
use thiserror::Error;

use crate::history::{HistoryOp, OpType};
use ballot_core::records::Event;
use strings::Strings;

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

/// How `fail` outcomes and nil reads are read (see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Reading {
    /// Ours and Porcupine's: a failed cas observed "compare failed"; an ok
    /// read of nil saw nil.
    #[default]
    Porcupine,
    /// Knossos's, for the register models: every failed op had no effect
    /// and is dropped; an ok read of nil is unknown and is dropped.
    Knossos,
}

/// What a history is checked against: the model, how outcomes are read,
/// and the register models' initial value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spec {
    /// The sequential specification.
    pub model: Model,
    /// How `fail` outcomes and nil reads are read.
    pub reading: Reading,
    /// The initial value of `register` and `cas-register` (`null`: nil);
    /// the other models ignore it and start from their own empty value.
    pub initial: Value,
}

impl From<Model> for Spec {
    /// `model` read as ours, starting from its empty value.
    fn from(model: Model) -> Self {
        Spec {
            model,
            ..Spec::default()
        }
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
/// kv, states are strings kept in `Strings` (a value id is interned there
/// when a put or get uses it), so an append costs O(1) time and memory.
#[derive(Clone, Debug)]
pub struct Machine {
    model: Model,
    reading: Reading,
    values: Vec<Value>,
    ids: FastMap<Value, u32>,
    strings: Strings,
}

impl Machine {
    /// A fresh machine whose state 0 is the model's initial value.
    pub fn new(model: Model) -> Self {
        Machine::for_spec(&Spec::from(model))
    }

    /// A fresh machine for `spec`: its model and reading, and state 0 its
    /// initial value (`spec.initial` for the register models).
    pub fn for_spec(spec: &Spec) -> Self {
        let model = spec.model;
        let initial = match model {
            Model::Kv => Value::String(String::new()),
            Model::Register | Model::CasRegister => spec.initial.clone(),
            Model::WriteOnce => Value::Null,
        };
        let mut ids = FastMap::default();
        ids.insert(initial.clone(), 0);
        let mut machine = Machine {
            model,
            reading: spec.reading,
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
            (Model::Register | Model::CasRegister, _) if self.values[state as usize].is_null() => {
                "nil".into()
            }
            _ => shorten(&self.state_value(state).to_string()),
        }
    }

    /// Compiles one operation into a step, or `None` when it cannot have
    /// had an effect and constrains nothing (failed ops other than cas,
    /// info reads; with [`Reading::Knossos`], every failed op and ok reads
    /// of nil).
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
        let knossos = self.reading == Reading::Knossos
            && matches!(model, Model::Register | Model::CasRegister);
        if knossos && outcome == OpType::Fail {
            return Ok(None);
        }
        let step = match (model, f) {
            (Model::Register | Model::CasRegister, "read")
                if knossos && output.is_some_and(Value::is_null) =>
            {
                None
            }
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

mod strings;

#[cfg(test)]
mod tests;
