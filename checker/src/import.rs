//! Readers for other checkers' history logs: Jepsen's etcd console logs (as
//! Porcupine and Knossos use them) and Porcupine's kv logs. The grammars are
//! in `shared/anchors/porcupine/README.md` and `docs/formats.md`.
//!
//! Both files carry no timestamps: line order is the only time there is, so
//! an event's `time` is its 1-based line number and its `index` its position.
//! Process ids are kept.
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

use serde_json::Value;
use thiserror::Error;

use crate::models::Model;
use ballot_core::records::{Event, EventType, Process};

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
    #[error("unrecognised history format (expected ballot history.jsonl, a Jepsen etcd log or a Porcupine kv log)")]
    Unrecognised,
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
}

impl Format {
    /// The model such a file is normally checked against.
    pub fn default_model(self) -> Model {
        match self {
            Format::Ballot => Model::WriteOnce,
            Format::JepsenEtcd => Model::CasRegister,
            Format::PorcupineKv => Model::Kv,
        }
    }
}

/// Guesses the format from the first non-blank line.
pub fn detect_format(text: &str) -> Option<Format> {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    if first.starts_with("{:") {
        Some(Format::PorcupineKv)
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

/// Reads any known format, detected from the content.
pub fn read_any(text: &str) -> Result<(Format, Vec<Event>), ImportError> {
    match detect_format(text) {
        Some(Format::JepsenEtcd) => Ok((Format::JepsenEtcd, read_jepsen_etcd(text)?)),
        Some(Format::PorcupineKv) => Ok((Format::PorcupineKv, read_porcupine_kv(text)?)),
        Some(Format::Ballot) => Ok((Format::Ballot, crate::history::parse_history(text)?)),
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
}
