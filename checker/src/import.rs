//! Readers for other checkers' history logs: Jepsen's etcd console logs (as
//! Porcupine and Knossos use them), Porcupine's kv logs, and Jepsen's and
//! Knossos's EDN histories (`history.edn`, read by [`read_jepsen_edn`] with
//! the EDN reader in [`edn`]). The grammars are in
//! `shared/anchors/porcupine/README.md` and `docs/formats.md` ("Jepsen EDN
//! histories").
//!
//! The etcd and kv logs carry no timestamps: line order is the only time
//! there is, so an event's `time` is its 1-based line number and its `index`
//! its position. Process ids are kept.
//!
//! | source line | event |
//! |---|---|
//! | `P :invoke :read nil` | invoke `read`, value null |
//! | `P :ok :read V` | ok `read`, value V (`nil` = null) |
//! | `P :fail :read :timed-out` | fail `read`, error `timed-out` |
//! | `P :invoke :write V` / `P :ok :write V` | invoke / ok `write`, value V |
//! | `P :invoke :cas [A B]` | invoke `cas`, value `[A, B]` |
//! | `P :info :write :timed-out` | info, value null, error `timed-out` |
//! | `{:process P, :type T, :f F, :key "K", :value V}` | the same fields, `key` K |

use std::collections::BTreeSet;

use serde_json::Value;
use thiserror::Error;

use crate::models::{Model, Reading};
use ballot_core::records::{Event, EventType, Process};

pub mod edn;

use edn::{Edn, EdnError, Pos};

/// A line that does not follow the format.
#[derive(Debug, Error)]
pub enum ImportError {
    /// A line does not follow the grammar.
    #[error("line {line}: {message}: {text:?}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
        /// The line (cut to 120 characters).
        text: String,
    },
    /// The content matches none of the known formats.
    #[error("unrecognised history format (expected ballot history.jsonl, a Jepsen etcd log, a Porcupine kv log or a Jepsen EDN history)")]
    Unrecognised,
    /// Malformed EDN.
    #[error(transparent)]
    Edn(#[from] EdnError),
    /// An EDN form that is not a history op.
    #[error("{at}: {message}: {op}")]
    Op {
        /// Where the op starts.
        at: Pos,
        /// What is wrong.
        message: String,
        /// The op as EDN (cut to 120 characters).
        op: String,
    },
    /// A ballot `history.jsonl` that does not parse.
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
}

fn syntax(line: usize, message: &str, text: &str) -> ImportError {
    ImportError::Syntax {
        line,
        message: message.to_string(),
        text: text.chars().take(120).collect(),
    }
}

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Our `history.jsonl`.
    Ballot,
    /// A Jepsen etcd console log (`INFO  jepsen.util - ...`).
    JepsenEtcd,
    /// A Porcupine kv log (`{:process 0, :type :invoke, ...}`).
    PorcupineKv,
    /// A Jepsen or Knossos EDN history (`history.edn`): one vector of op
    /// maps, or one op map after another.
    JepsenEdn,
}

impl Format {
    /// The model such a file is normally checked against.
    pub fn default_model(self) -> Model {
        match self {
            Format::Ballot => Model::WriteOnce,
            Format::JepsenEtcd => Model::CasRegister,
            Format::PorcupineKv => Model::Kv,
            Format::JepsenEdn => Model::CasRegister,
        }
    }

    /// The model for a history of this format: [`Self::default_model`],
    /// except that a Jepsen EDN history whose client ops are all `get`,
    /// `put` and `append` is `kv`, and one with a `propose` is `write-once`.
    pub fn model_for(self, events: &[Event]) -> Model {
        if self != Format::JepsenEdn {
            return self.default_model();
        }
        let functions: BTreeSet<&str> = events
            .iter()
            .filter(|e| e.kind == EventType::Invoke && matches!(e.process, Process::Client(_)))
            .map(|e| e.f.as_str())
            .collect();
        if !functions.is_empty() && functions.iter().all(|f| Model::Kv.functions().contains(f)) {
            Model::Kv
        } else if functions.contains("propose") {
            Model::WriteOnce
        } else {
            Model::CasRegister
        }
    }

    /// How the format's outcomes are read: Knossos's for Jepsen EDN
    /// histories, ours (Porcupine's) for the rest.
    pub fn reading(self) -> Reading {
        match self {
            Format::JepsenEdn => Reading::Knossos,
            _ => Reading::Porcupine,
        }
    }
}

/// Guesses the format from the first non-blank line.
///
/// A line that starts with `{:process ` is a Porcupine kv log unless it is a
/// whole EDN map that the kv grammar rejects (then it is EDN, e.g. a Knossos
/// history written one op a line); a line that starts with `[`, `(`, `;`,
/// `#` or `{:` is EDN; any other `{` is our JSON; a `jepsen.util - ` line is
/// an etcd log.
pub fn detect_format(text: &str) -> Option<Format> {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let edn_map = first
        .strip_prefix('{')
        .is_some_and(|rest| rest.trim_start().starts_with(':'));
    if first.starts_with("{:process ") {
        let kv = read_porcupine_kv(first).is_ok();
        let edn = edn::read_one(first).is_ok();
        if kv || !edn {
            return Some(Format::PorcupineKv);
        }
        Some(Format::JepsenEdn)
    } else if edn_map || first.starts_with(['[', '(', ';', '#']) {
        Some(Format::JepsenEdn)
    } else if first.starts_with('{') {
        Some(Format::Ballot)
    } else if first.contains("jepsen.util - ") {
        Some(Format::JepsenEtcd)
    } else {
        None
    }
}

/// Reads a Jepsen etcd log (cas-register operations, no key).
pub fn read_jepsen_etcd(text: &str) -> Result<Vec<Event>, ImportError> {
    let mut events = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let rest = raw
            .find("jepsen.util - ")
            .map(|at| &raw[at + "jepsen.util - ".len()..])
            .ok_or_else(|| {
                syntax(
                    line,
                    "expected `INFO  jepsen.util - <process> <type> <f> <value>`",
                    raw,
                )
            })?;
        let mut fields = rest.split_whitespace();
        let (Some(process), Some(kind), Some(f)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(syntax(line, "expected `<process> <type> <f> <value>`", raw));
        };
        let value_text = fields.collect::<Vec<_>>().join(" ");
        let process: u64 = process
            .parse()
            .map_err(|_| syntax(line, "the process is not a number", raw))?;
        let kind = keyword_type(kind).ok_or_else(|| syntax(line, "unknown type", raw))?;
        let f = match f {
            ":read" | ":write" | ":cas" => &f[1..],
            _ => {
                return Err(syntax(
                    line,
                    "unknown function (expected :read, :write or :cas)",
                    raw,
                ))
            }
        };
        let (value, error) = match value_text.as_str() {
            "nil" => (Value::Null, None),
            ":timed-out" => (Value::Null, Some("timed-out".to_string())),
            v if v.starts_with('[') => {
                let inner = v
                    .strip_prefix('[')
                    .and_then(|v| v.strip_suffix(']'))
                    .ok_or_else(|| syntax(line, "unterminated [A B]", raw))?;
                let items: Result<Vec<Value>, _> = inner
                    .split_whitespace()
                    .map(|n| n.parse::<i64>().map(Value::from))
                    .collect();
                match items {
                    Ok(items) if items.len() == 2 => (Value::Array(items), None),
                    _ => return Err(syntax(line, "a cas value must be [<int> <int>]", raw)),
                }
            }
            v => (
                Value::from(v.parse::<i64>().map_err(|_| {
                    syntax(
                        line,
                        "the value is not nil, an integer, [A B] or :timed-out",
                        raw,
                    )
                })?),
                None,
            ),
        };
        events.push(Event {
            index: events.len() as u64,
            time: line as u64,
            process: Process::Client(process),
            kind,
            f: f.to_string(),
            key: None,
            value,
            error,
        });
    }
    Ok(events)
}

fn keyword_type(kind: &str) -> Option<EventType> {
    match kind {
        ":invoke" => Some(EventType::Invoke),
        ":ok" => Some(EventType::Ok),
        ":fail" => Some(EventType::Fail),
        ":info" => Some(EventType::Info),
        _ => None,
    }
}

/// Reads a Porcupine kv log (get/put/append with string keys and values).
pub fn read_porcupine_kv(text: &str) -> Result<Vec<Event>, ImportError> {
    let mut events = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let mut c = Cursor {
            rest: raw.trim(),
            line,
            raw,
        };
        c.expect("{:process ")?;
        let process: u64 = c
            .until(",")?
            .parse()
            .map_err(|_| syntax(line, "the process is not a number", raw))?;
        c.expect(", :type ")?;
        let kind = keyword_type(c.until(",")?).ok_or_else(|| syntax(line, "unknown type", raw))?;
        c.expect(", :f :")?;
        let f = c.until(",")?;
        if !matches!(f, "get" | "put" | "append") {
            return Err(syntax(
                line,
                "unknown function (expected :get, :put or :append)",
                raw,
            ));
        }
        let f = f.to_string();
        c.expect(", :key \"")?;
        let key = c.until("\"")?.to_string();
        c.expect("\", :value ")?;
        let value = if c.rest == "nil}" {
            Value::Null
        } else {
            c.expect("\"")?;
            let s = c.until("\"")?.to_string();
            if c.rest != "\"}" {
                return Err(syntax(line, "expected `\"}` after the value", raw));
            }
            Value::String(s)
        };
        events.push(Event {
            index: events.len() as u64,
            time: line as u64,
            process: Process::Client(process),
            kind,
            f,
            key: Some(key),
            value,
            error: None,
        });
    }
    Ok(events)
}

/// A cursor over one kv line.
struct Cursor<'a> {
    rest: &'a str,
    line: usize,
    raw: &'a str,
}

impl<'a> Cursor<'a> {
    fn expect(&mut self, token: &str) -> Result<(), ImportError> {
        match self.rest.strip_prefix(token) {
            Some(rest) => {
                self.rest = rest;
                Ok(())
            }
            None => Err(syntax(self.line, &format!("expected `{token}`"), self.raw)),
        }
    }

    /// The text up to (not including) `end`, which stays in the input.
    fn until(&mut self, end: &str) -> Result<&'a str, ImportError> {
        let at = self
            .rest
            .find(end)
            .ok_or_else(|| syntax(self.line, &format!("expected `{end}`"), self.raw))?;
        let (taken, rest) = self.rest.split_at(at);
        self.rest = rest;
        Ok(taken)
    }
}

/// Reads a Jepsen or Knossos EDN history (`history.edn`).
///
/// The file is one vector (or list) of op maps, or op maps one after
/// another (as Knossos's `read-history` takes them). Each op is a map with
/// `:type` (`:invoke`, `:ok`, `:fail`, `:info`), `:process` (an integer for
/// a client; a keyword such as `:nemesis`, or any other non-integer, is not
/// a client and becomes the nemesis, and so does a client's `:info` that
/// completes no invocation, which Knossos skips), `:f` (a keyword), `:value`, and
/// optionally `:key` (as in Porcupine's kv logs), `:error`, `:index`; other
/// keys, `:time` among them, are ignored. An event's `time` is its position
/// (Knossos orders ops by their place in the history, not by `:time`), its
/// `index` the op's `:index` if it has one, else its position. Values are
/// [`Edn::to_json`]. When every client op's value is a pair `[k v]` (and
/// every cas's `v` is itself a pair), the history is `jepsen.independent`'s:
/// `k` becomes the key and `v` the value.
pub fn read_jepsen_edn(text: &str) -> Result<Vec<Event>, ImportError> {
    let mut reader = edn::Reader::new(text);
    let mut events = Vec::new();
    if let Some((close, opened)) = reader.enter_sequence()? {
        while let Some((at, form)) = reader.next_element(close, opened)? {
            events.push(edn_event(events.len(), at, &form)?);
        }
        if let Some((at, form)) = reader.next_form()? {
            return Err(op_error(
                at,
                "more EDN after the history's closing bracket (a history is one vector of ops, or one op map after another)",
                &form,
            ));
        }
    } else {
        while let Some((at, form)) = reader.next_form()? {
            events.push(edn_event(events.len(), at, &form)?);
        }
    }
    lone_infos_are_not_ops(&mut events);
    split_independent(&mut events);
    Ok(events)
}

/// A client's `:info` that completes no invocation is no operation (Knossos
/// skips such "random" infos): it is read as a nemesis event, so events and
/// ops keep their places.
fn lone_infos_are_not_ops(events: &mut [Event]) {
    let mut open = std::collections::HashSet::new();
    for e in events.iter_mut() {
        let Process::Client(p) = e.process else {
            continue;
        };
        match e.kind {
            EventType::Invoke => {
                open.insert(p);
            }
            EventType::Ok | EventType::Fail => {
                open.remove(&p);
            }
            EventType::Info => {
                if !open.remove(&p) {
                    e.process = Process::nemesis();
                }
            }
        }
    }
}

fn op_error(at: Pos, message: &str, form: &Edn) -> ImportError {
    ImportError::Op {
        at,
        message: message.to_string(),
        op: form.to_string().chars().take(120).collect(),
    }
}

/// One op map as an event (`position` from 0).
fn edn_event(position: usize, at: Pos, form: &Edn) -> Result<Event, ImportError> {
    let fail = |message: &str| op_error(at, message, form);
    if !matches!(form, Edn::Map(_)) {
        return Err(fail(
            "an op must be a map such as {:type :invoke, :f :read, :value nil, :process 0}",
        ));
    }
    let kind = match form.get("type") {
        Some(Edn::Keyword(k)) => match k.as_str() {
            "invoke" => EventType::Invoke,
            "ok" => EventType::Ok,
            "fail" => EventType::Fail,
            "info" => EventType::Info,
            _ => return Err(fail(":type must be :invoke, :ok, :fail or :info")),
        },
        Some(_) => return Err(fail(":type must be :invoke, :ok, :fail or :info")),
        None => return Err(fail("the op has no :type")),
    };
    let process = match form.get("process") {
        Some(Edn::Int(p)) => match u64::try_from(*p) {
            Ok(p) => Process::Client(p),
            Err(_) => return Err(fail("a client :process must not be negative")),
        },
        Some(Edn::Keyword(_) | Edn::Symbol(_) | Edn::Str(_)) => Process::nemesis(),
        Some(_) => {
            return Err(fail(
                ":process must be an integer (a client) or a keyword such as :nemesis",
            ))
        }
        None => return Err(fail("the op has no :process")),
    };
    let client = matches!(process, Process::Client(_));
    let f = match form.get("f") {
        Some(Edn::Keyword(f) | Edn::Symbol(f) | Edn::Str(f)) => f.clone(),
        Some(other) if !client => other.to_string(),
        None if !client => String::new(),
        Some(_) => return Err(fail(":f must be a keyword such as :read")),
        None => return Err(fail("the op has no :f")),
    };
    let text = |e: &Edn| match e {
        Edn::Str(s) => s.clone(),
        other => other.to_string(),
    };
    let key = match form.get("key") {
        None | Some(Edn::Nil) => None,
        Some(k) => Some(text(k)),
    };
    let error = match form.get("error") {
        None | Some(Edn::Nil) => None,
        Some(e) => Some(text(e)),
    };
    let index = match form.get("index") {
        Some(Edn::Int(i)) if *i >= 0 => *i as u64,
        _ => position as u64,
    };
    Ok(Event {
        index,
        time: position as u64,
        process,
        kind,
        f,
        key,
        value: form.get("value").map_or(Value::Null, Edn::to_json),
        error,
    })
}

/// `jepsen.independent` histories: when every client event's value is a
/// pair `[k v]` (and every cas's `v` is a pair too, which tells `[k [a b]]`
/// from a plain cas's `[a b]`), `k` becomes the key and `v` the value.
fn split_independent(events: &mut [Event]) {
    let client = |e: &&mut Event| matches!(e.process, Process::Client(_));
    let pair = |v: &Value| v.as_array().is_some_and(|a| a.len() == 2);
    let mut clients = events.iter_mut().filter(client).peekable();
    if clients.peek().is_none() {
        return;
    }
    let independent = clients.all(|e| {
        e.key.is_none()
            && pair(&e.value)
            && (e.f != "cas" || e.value.as_array().is_some_and(|kv| pair(&kv[1])))
    });
    if !independent {
        return;
    }
    for e in events.iter_mut().filter(client) {
        if let Value::Array(kv) = std::mem::take(&mut e.value) {
            let [k, v]: [Value; 2] = kv.try_into().expect("checked: a pair");
            e.key = Some(match k {
                Value::String(s) => s,
                other => other.to_string(),
            });
            e.value = v;
        }
    }
}

/// Reads `text` in `format`, or in the format detected from the content
/// when `None`. An empty text (or only blank lines) is an empty history, in
/// any format: nothing happened.
pub fn read_as(text: &str, format: Option<Format>) -> Result<(Format, Vec<Event>), ImportError> {
    let Some(format) = format else {
        return read_any(text);
    };
    if text.trim().is_empty() {
        return Ok((format, Vec::new()));
    }
    let events = match format {
        Format::Ballot => crate::history::parse_history(text)?,
        Format::JepsenEtcd => read_jepsen_etcd(text)?,
        Format::PorcupineKv => read_porcupine_kv(text)?,
        Format::JepsenEdn => read_jepsen_edn(text)?,
    };
    Ok((format, events))
}

/// Reads any known format, detected from the content. An empty text (or
/// only blank lines) is an empty history of ours: nothing happened.
pub fn read_any(text: &str) -> Result<(Format, Vec<Event>), ImportError> {
    if text.trim().is_empty() {
        return Ok((Format::Ballot, Vec::new()));
    }
    match detect_format(text) {
        Some(format) => read_as(text, Some(format)),
        None => Err(ImportError::Unrecognised),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn etcd_lines_become_events() {
        let text = "INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]\n\
                    INFO  jepsen.util - 2   :fail   :cas    [3 0]\n\
                    INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
                    INFO  jepsen.util - 0\t:fail\t:read\t:timed-out\n\
                    INFO  jepsen.util - 1\t:invoke\t:write\t4\n\
                    INFO  jepsen.util - 1\t:info\t:write\t:timed-out\n";
        let events = read_jepsen_etcd(text).unwrap();
        assert_eq!(events.len(), 6);
        assert_eq!(events[0].value, json!([3, 0]));
        assert_eq!(
            (events[1].kind, events[1].time, events[1].index),
            (EventType::Fail, 2, 1)
        );
        assert_eq!(events[3].error.as_deref(), Some("timed-out"));
        assert_eq!(events[4].value, json!(4));
        assert_eq!(events[5].kind, EventType::Info);
        assert_eq!(events[5].process, Process::Client(1));
        assert_eq!(events[5].key, None);
    }

    #[test]
    fn etcd_errors_name_the_line() {
        let cases = [
            (
                "garbage",
                "line 1: expected `INFO  jepsen.util - <process> <type> <f> <value>`",
            ),
            (
                "INFO  jepsen.util - x :ok :read nil",
                "line 1: the process is not a number",
            ),
            (
                "INFO  jepsen.util - 1 :okay :read nil",
                "line 1: unknown type",
            ),
            (
                "INFO  jepsen.util - 1 :ok :delete nil",
                "line 1: unknown function",
            ),
            (
                "INFO  jepsen.util - 1 :ok :cas [1 2 3]",
                "line 1: a cas value must be [<int> <int>]",
            ),
            (
                "INFO  jepsen.util - 1 :ok :read x",
                "line 1: the value is not nil",
            ),
            (
                "INFO  jepsen.util - 1 :ok",
                "line 1: expected `<process> <type> <f> <value>`",
            ),
        ];
        for (text, want) in cases {
            let err = read_jepsen_etcd(&format!("\n{text}"))
                .unwrap_err()
                .to_string();
            let want = want.replace("line 1", "line 2");
            assert!(err.starts_with(&want), "{err}");
        }
    }

    #[test]
    fn kv_lines_become_events() {
        let text = "{:process 0, :type :invoke, :f :get, :key \"3\", :value nil}\n\
                    {:process 0, :type :ok, :f :get, :key \"3\", :value \"x 0 0 yx 1 0 y\"}\n\
                    {:process 7, :type :invoke, :f :append, :key \"9\", :value \"x 7 0 y\"}\n";
        let events = read_porcupine_kv(text).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].value, Value::Null);
        assert_eq!(events[1].value, json!("x 0 0 yx 1 0 y"));
        assert_eq!(events[2].key.as_deref(), Some("9"));
        assert_eq!(events[2].f, "append");
        assert_eq!(events[2].time, 3);
    }

    #[test]
    fn kv_errors_name_the_line() {
        let cases = [
            (
                "{:process a, :type :ok, :f :get, :key \"3\", :value nil}",
                "line 1: the process is not a number",
            ),
            (
                "{:process 1, :type :ok, :f :del, :key \"3\", :value nil}",
                "line 1: unknown function",
            ),
            (
                "{:process 1, :type :ok, :f :get, :key \"3\", :value \"x}",
                "line 1: expected `\"`",
            ),
            (
                "{:process 1, :type :ok, :f :get, :key \"3\", :value \"x\"} junk",
                "line 1: expected `\"}` after the value",
            ),
            ("[1 2]", "line 1: expected `{:process `"),
        ];
        for (text, want) in cases {
            let err = read_porcupine_kv(text).unwrap_err().to_string();
            assert!(err.starts_with(want), "{err}");
        }
    }

    #[test]
    fn formats_are_detected() {
        assert_eq!(
            detect_format("\n{:process 0, :type"),
            Some(Format::PorcupineKv)
        );
        assert_eq!(detect_format("{\"index\":0}"), Some(Format::Ballot));
        assert_eq!(
            detect_format("INFO  jepsen.util - 0\t:invoke\t:read\tnil"),
            Some(Format::JepsenEtcd)
        );
        assert_eq!(detect_format("hello"), None);
        assert_eq!(detect_format(""), None);
        assert!(matches!(read_any("hello"), Err(ImportError::Unrecognised)));
        assert_eq!(Format::JepsenEtcd.default_model(), Model::CasRegister);
    }

    /// The fields of the events that matter to the checker.
    fn calls(events: &[Event]) -> Vec<(Process, EventType, &str, Option<&str>, &Value)> {
        events
            .iter()
            .map(|e| {
                (
                    e.process.clone(),
                    e.kind,
                    &e.f[..],
                    e.key.as_deref(),
                    &e.value,
                )
            })
            .collect()
    }

    #[test]
    fn edn_histories_become_events() {
        let vector = "; a Knossos history\n\
            [{:process 0, :type :invoke, :f :cas, :value [1 2], :time 5, :index 10}\n\
             {:process :nemesis, :type :info, :f :start, :value nil}\n\
             {:process 0, :type :fail, :f :cas, :value [1 2], :error [:timeout \"slow\"]}\n\
             {:process 1 :type :invoke :f :read} ; no value, no commas\n\
             {:process 1, :type :ok, :f :read, :value #{2 1}, :extra {:ignored true}}]\n";
        let events = read_jepsen_edn(vector).unwrap();
        assert_eq!(
            calls(&events),
            vec![
                (
                    Process::Client(0),
                    EventType::Invoke,
                    "cas",
                    None,
                    &json!([1, 2])
                ),
                (
                    Process::nemesis(),
                    EventType::Info,
                    "start",
                    None,
                    &Value::Null
                ),
                (
                    Process::Client(0),
                    EventType::Fail,
                    "cas",
                    None,
                    &json!([1, 2])
                ),
                (
                    Process::Client(1),
                    EventType::Invoke,
                    "read",
                    None,
                    &Value::Null
                ),
                (
                    Process::Client(1),
                    EventType::Ok,
                    "read",
                    None,
                    &json!([1, 2])
                ),
            ]
        );
        // Time is the position (Knossos orders by it); index is :index if given.
        let times: Vec<(u64, u64)> = events.iter().map(|e| (e.time, e.index)).collect();
        assert_eq!(times, vec![(0, 10), (1, 1), (2, 2), (3, 3), (4, 4)]);
        assert_eq!(events[2].error.as_deref(), Some("[:timeout \"slow\"]"));

        // The same ops one map after another (Jepsen's history.edn), and as a list.
        let lines: String = vector
            .lines()
            .skip(1)
            .map(|l| l.trim().trim_start_matches('[').trim_end_matches(']'))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(lines.starts_with("{:process 0"), "{lines}");
        assert_eq!(calls(&read_jepsen_edn(&lines).unwrap()), calls(&events));
        let list = vector.replacen("\n[", "\n(", 1).replacen("}]\n", "})\n", 1);
        assert_eq!(calls(&read_jepsen_edn(&list).unwrap()), calls(&events));
        assert_eq!(read_jepsen_edn("[]").unwrap().len(), 0);
        assert_eq!(read_jepsen_edn("; nothing\n").unwrap().len(), 0);
    }

    #[test]
    fn edn_keys_come_from_key_or_independent_tuples() {
        // A :key field, as in Porcupine's kv logs.
        let keyed =
            read_jepsen_edn("{:process 0, :type :invoke, :f :write, :key :x, :value 1}").unwrap();
        assert_eq!(keyed[0].key.as_deref(), Some(":x"));
        // jepsen.independent: every client value is [k v]; a cas's v is [a b].
        let independent = read_jepsen_edn(
            "[{:process 0, :type :invoke, :f :cas, :value [\"k1\" [1 2]]}\n\
              {:process 0, :type :ok, :f :cas, :value [\"k1\" [1 2]]}\n\
              {:process :nemesis, :type :info, :f :start, :value :all}\n\
              {:process 1, :type :invoke, :f :read, :value [7 nil]}\n\
              {:process 1, :type :ok, :f :read, :value [7 2]}]",
        )
        .unwrap();
        assert_eq!(
            calls(&independent),
            vec![
                (
                    Process::Client(0),
                    EventType::Invoke,
                    "cas",
                    Some("k1"),
                    &json!([1, 2])
                ),
                (
                    Process::Client(0),
                    EventType::Ok,
                    "cas",
                    Some("k1"),
                    &json!([1, 2])
                ),
                (
                    Process::nemesis(),
                    EventType::Info,
                    "start",
                    None,
                    &json!(":all")
                ),
                (
                    Process::Client(1),
                    EventType::Invoke,
                    "read",
                    Some("7"),
                    &Value::Null
                ),
                (
                    Process::Client(1),
                    EventType::Ok,
                    "read",
                    Some("7"),
                    &json!(2)
                ),
            ]
        );
        // A plain history of cas ops only is not split: its v's are not pairs.
        let plain = read_jepsen_edn(
            "{:process 0, :type :invoke, :f :cas, :value [1 2]}\n\
             {:process 0, :type :ok, :f :cas, :value [1 2]}",
        )
        .unwrap();
        assert_eq!(plain[1].key, None);
        assert_eq!(plain[1].value, json!([1, 2]));
        // One client value that is not a pair (a plain read) keeps it unsplit.
        let mixed = read_jepsen_edn(
            "{:process 0, :type :invoke, :f :write, :value [1 2]}\n\
             {:process 1, :type :invoke, :f :read, :value nil}",
        )
        .unwrap();
        assert_eq!(
            (mixed[0].key.as_deref(), &mixed[0].value),
            (None, &json!([1, 2]))
        );
    }

    #[test]
    fn edn_errors_name_the_line_and_column() {
        let cases = [
            ("[{:process 0, :type :invoke, :f :read}\n {:process 1", "line 2, column 2: `{` is never closed"),
            ("[{:process 0 :type :invoke :f :read}\n (1 2)]", "line 2, column 2: an op must be a map such as {:type :invoke, :f :read, :value nil, :process 0}: (1 2)"),
            ("\n\n  {:process 0, :f :read}", "line 3, column 3: the op has no :type: {:process 0, :f :read}"),
            ("{:process 0, :type :done, :f :read}", "line 1, column 1: :type must be :invoke, :ok, :fail or :info: {:process 0, :type :done, :f :read}"),
            ("{:process -1, :type :ok, :f :read}", "line 1, column 1: a client :process must not be negative"),
            ("{:process 1.5, :type :ok, :f :read}", "line 1, column 1: :process must be an integer (a client) or a keyword such as :nemesis"),
            ("{:type :ok, :f :read}", "line 1, column 1: the op has no :process"),
            ("{:process 2, :type :ok}", "line 1, column 1: the op has no :f"),
            ("{:process 2, :type :ok, :f 3}", "line 1, column 1: :f must be a keyword such as :read"),
            ("[{:process 0, :type :invoke, :f :read}]\n{:process 0, :type :ok, :f :read}", "line 2, column 1: more EDN after the history's closing bracket"),
            ("{:process 0, :type :invoke, :f :read, :value \"x}", "line 1, column 46: unterminated string"),
        ];
        for (text, want) in cases {
            let err = read_jepsen_edn(text).unwrap_err().to_string();
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
        // A client :info that completes nothing is no op (Knossos skips it).
        let lone = read_jepsen_edn(
            "{:process 3, :type :info, :f :crash}\n\
             {:process 3, :type :invoke, :f :read}\n\
             {:process 3, :type :info, :f :read}",
        )
        .unwrap();
        let processes: Vec<&Process> = lone.iter().map(|e| &e.process).collect();
        assert_eq!(
            processes,
            vec![
                &Process::nemesis(),
                &Process::Client(3),
                &Process::Client(3)
            ]
        );
        // A nemesis op needs no :f.
        assert_eq!(
            read_jepsen_edn("{:process :nemesis, :type :info}").unwrap()[0].f,
            ""
        );
    }

    #[test]
    fn the_edn_reader_reads_kv_logs_as_the_kv_reader_does() {
        let text = "{:process 0, :type :invoke, :f :get, :key \"3\", :value nil}\n\
                    {:process 0, :type :ok, :f :get, :key \"3\", :value \"x 0 0 yx 1 0 y\"}\n\
                    {:process 7, :type :invoke, :f :append, :key \"9\", :value \"x 7 0 y\"}\n\
                    {:process 7, :type :ok, :f :append, :key \"9\", :value \"x 7 0 y\"}\n";
        let edn = read_jepsen_edn(text).unwrap();
        let kv = read_porcupine_kv(text).unwrap();
        assert_eq!(calls(&edn), calls(&kv));
        assert_eq!(Format::JepsenEdn.model_for(&edn), Model::Kv);
    }

    #[test]
    fn edn_histories_default_to_cas_register_unless_the_ops_say_otherwise() {
        let history = |fs: &[&str]| -> Vec<Event> {
            let text: String = fs
                .iter()
                .enumerate()
                .map(|(p, f)| format!("{{:process {p}, :type :invoke, :f :{f}}}\n"))
                .collect();
            read_jepsen_edn(&format!(
                "{{:process :nemesis, :type :info, :f :kill}}\n{text}"
            ))
            .unwrap()
        };
        let cases: [(&[&str], Model); 6] = [
            (&["read", "write", "cas"], Model::CasRegister),
            (&["read", "write"], Model::CasRegister),
            (&[], Model::CasRegister),
            (&["get", "put", "append"], Model::Kv),
            (&["propose", "read"], Model::WriteOnce),
            (&["get", "read"], Model::CasRegister),
        ];
        for (fs, want) in cases {
            assert_eq!(Format::JepsenEdn.model_for(&history(fs)), want, "{fs:?}");
        }
        assert_eq!(
            Format::JepsenEtcd.model_for(&history(&["get"])),
            Model::CasRegister
        );
        assert_eq!(Format::JepsenEdn.reading(), Reading::Knossos);
        assert_eq!(Format::PorcupineKv.reading(), Reading::Porcupine);
    }

    #[test]
    fn edn_histories_are_detected() {
        let cases = [
            (
                "[{:process 7, :type :invoke, :f :cas, :value [2 3]}",
                Format::JepsenEdn,
            ),
            (
                "({:type :invoke, :f :cas, :value [1 4], :process 101, :time 9}",
                Format::JepsenEdn,
            ),
            (
                "; This used to expose a bug in Knossos\n[{:process 4",
                Format::JepsenEdn,
            ),
            (
                "{:process 7, :type :invoke, :f :cas, :value [2 3]}",
                Format::JepsenEdn,
            ),
            (
                "{:index 0, :time 0, :type :invoke, :process 0, :f :read, :value nil}",
                Format::JepsenEdn,
            ),
            ("{ :type :invoke, :process 0}", Format::JepsenEdn),
            ("#jepsen.history.Op{:index 0}", Format::JepsenEdn),
            (
                "{:process 0, :type :invoke, :f :get, :key \"3\", :value nil}",
                Format::PorcupineKv,
            ),
            (
                "{:process 1, :type :ok, :f :get, :key \"3\", :value \"x}",
                Format::PorcupineKv,
            ),
            ("{\"index\":0,\"time\":0}", Format::Ballot),
        ];
        for (text, want) in cases {
            assert_eq!(detect_format(text), Some(want), "{text}");
        }
    }

    #[test]
    fn empty_histories_read_as_empty_in_every_format() {
        for text in ["", "\n", "  \n\t\n"] {
            assert_eq!(read_any(text).unwrap(), (Format::Ballot, Vec::new()));
            for format in [
                Format::Ballot,
                Format::JepsenEtcd,
                Format::PorcupineKv,
                Format::JepsenEdn,
            ] {
                assert_eq!(read_as(text, Some(format)).unwrap(), (format, Vec::new()));
            }
        }
        assert!(matches!(
            read_as("\n{}", Some(Format::Ballot)),
            Err(ImportError::History(_))
        ));
    }
}
