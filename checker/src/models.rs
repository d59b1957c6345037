//! Sequential specifications: what each model's operations do to its state,
//! and which outputs are legal.
//!
//! Every model here is a single register per key (P-compositionality lets
//! the checker take keys one at a time), so an operation is first compiled
//! into a [`Step`] on interned values and the state is one `u32`:
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
use std::str::FromStr;

use serde_json::Value;
use thiserror::Error;

use crate::format::Event;
use crate::history::{Op, Outcome};

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
pub enum Step {
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

/// A model's state machine for one key: interned values plus the
/// transition function.
#[derive(Clone, Debug)]
pub struct Machine {
    model: Model,
    values: Vec<Value>,
    ids: HashMap<Value, u32>,
    appended: HashMap<(u32, u32), u32>,
}

impl Machine {
    /// A fresh machine whose state 0 is the model's initial value.
    pub fn new(model: Model) -> Self {
        let initial = match model {
            Model::Kv => Value::String(String::new()),
            _ => Value::Null,
        };
        let mut ids = HashMap::new();
        ids.insert(initial.clone(), 0);
        Machine {
            model,
            values: vec![initial],
            ids,
            appended: HashMap::new(),
        }
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

    /// The state after `step` from `state`, or `None` if the step is illegal there.
    pub fn step(&mut self, state: u32, step: &Step) -> Option<u32> {
        match *step {
            Step::Read { out } => (state == out).then_some(state),
            Step::Write { v } => Some(v),
            Step::Cas { from, to } => (state == from).then_some(to),
            Step::CasFailed { from } => (state != from).then_some(state),
            Step::CasMaybe { from, to } => Some(if state == from { to } else { state }),
            Step::Propose { v, out } if state == 0 => (out == v).then_some(v),
            Step::Propose { out, .. } => (out == state).then_some(state),
            Step::ProposeMaybe { v } => Some(if state == 0 { v } else { state }),
            Step::Append { piece } => {
                if let Some(&next) = self.appended.get(&(state, piece)) {
                    return Some(next);
                }
                let text = format!(
                    "{}{}",
                    self.values[state as usize].as_str().unwrap_or_default(),
                    self.values[piece as usize].as_str().unwrap_or_default()
                );
                let next = self.intern(&Value::String(text));
                self.appended.insert((state, piece), next);
                Some(next)
            }
        }
    }

    /// Why `step` is illegal in `state`, in words (for explanations).
    pub fn why_illegal(&self, state: u32, step: &Step) -> String {
        let now = self.held(state);
        match *step {
            Step::Read { out } => format!("it returned {}, but {now}", self.describe(out)),
            Step::Cas { from, .. } => {
                format!("its compare expected {}, but {now}", self.describe(from))
            }
            Step::CasFailed { .. } => {
                format!("it reported \"compare failed\", but {now}, the value it expected")
            }
            Step::Propose { v, out } if state == 0 => format!(
                "nothing was chosen yet, so it would choose its own value {}, but it returned {}",
                self.describe(v),
                self.describe(out)
            ),
            Step::Propose { out, .. } => format!("it returned {}, but {now}", self.describe(out)),
            _ => "it is always legal there, but every order that continues from there fails".into(),
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

    /// A value in words: `nil`, `no value`, or its JSON.
    pub fn describe(&self, id: u32) -> String {
        match (self.model, id) {
            (Model::WriteOnce, 0) => "no value".into(),
            (Model::Register | Model::CasRegister, 0) => "nil".into(),
            _ => self.values[id as usize].to_string(),
        }
    }

    /// Compiles one operation into a step, or `None` when it cannot have
    /// had an effect (failed ops other than cas, info reads).
    pub fn compile(&mut self, op: &Op, events: &[Event]) -> Result<Option<Step>, CompileError> {
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
                    (Outcome::Ok, Some(out)) => Some(Step::Propose {
                        v,
                        out: self.intern(out),
                    }),
                    (Outcome::Info, _) => Some(Step::ProposeMaybe { v }),
                    _ => None,
                }
            }
            (Model::WriteOnce | Model::Register | Model::CasRegister, "read") => {
                output.map(|out| Step::Read {
                    out: self.intern(out),
                })
            }
            (Model::Register | Model::CasRegister, "write") => match outcome {
                Outcome::Fail => None,
                _ => Some(Step::Write {
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
                    Outcome::Ok => Step::Cas { from, to },
                    Outcome::Fail => Step::CasFailed { from },
                    Outcome::Info => Step::CasMaybe { from, to },
                })
            }
            (Model::Kv, "get") => match output {
                Some(out) => Some(Step::Read {
                    out: self
                        .intern_string(out)
                        .map_err(|m| err(format!("get returned {m}")))?,
                }),
                None => None,
            },
            (Model::Kv, "put" | "append") => {
                if outcome == Outcome::Fail {
                    None
                } else {
                    let id = self
                        .intern_string(input)
                        .map_err(|m| err(format!("{f} of {m}")))?;
                    Some(if f == "put" {
                        Step::Write { v: id }
                    } else {
                        Step::Append { piece: id }
                    })
                }
            }
            _ => {
                return Err(err(format!(
                    "operation {f:?} is not part of the {model} model (it knows {})",
                    model.functions().join(", ")
                )))
            }
        };
        Ok(step)
    }

    /// Interns a kv string (null reads as `""`); anything else is an error.
    fn intern_string(&mut self, value: &Value) -> Result<u32, String> {
        match value {
            Value::Null => Ok(0),
            Value::String(_) => Ok(self.intern(value)),
            other => Err(format!("{other} (kv values are strings)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{EventType, Process};
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
        use Step::*;
        let table: &[(&str, Step, u32, Option<u32>)] = &[
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
        let s1 = m.step(0, &Step::Append { piece: x }).unwrap();
        let s2 = m.step(s1, &Step::Append { piece: x }).unwrap();
        assert_eq!(m.value(s2), &json!("x 1 yx 1 y"));
        assert_eq!(m.step(s1, &Step::Append { piece: x }), Some(s2));
        let seen = m.intern(&json!("x 1 yx 1 y"));
        assert_eq!(m.step(s2, &Step::Read { out: seen }), Some(s2));
        assert_eq!(m.step(s1, &Step::Read { out: seen }), None);
    }

    fn op_events(f: &str, input: Value, kind: EventType, output: Value) -> (Op, Vec<Event>) {
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
        use EventType::*;
        use Step::*;
        type Case = (Model, &'static str, Value, EventType, Value, Option<Step>);
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
