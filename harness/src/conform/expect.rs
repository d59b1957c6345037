//! What a check expects of each reply, and the pure judgement of a reply
//! against it: the first field that differs, named, with what the protocol
//! wants there ("promised is null; expected {"round":5,"proposer":2}").
//!
//! A check pins only the fields its rule is about ([`Want::Any`] leaves
//! the others to their own rules), so one mistake fails one rule.

use std::collections::BTreeMap;

use ballot_core::protocol::health::{self, cut, describe};
use ballot_core::protocol::{Accepted, Ballot, InstanceState, NodeId, Role};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::script::{ballot_text, string};

/// How many characters of a long expected value a description shows.
const SHOW_CHARS: usize = 120;

/// A field a check pins, or leaves to another rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Want<T> {
    /// Not this rule's business.
    Any,
    /// Must be exactly this.
    Is(T),
}

/// A reply as it came back: status and body bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body, as sent.
    pub body: Vec<u8>,
}

impl Reply {
    /// A reply from a status and a body text.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            body: body.into(),
        }
    }

    /// `200 {"ok":true,...}`, a long body cut.
    pub fn describe(&self) -> String {
        format!("{} {}", self.status, health::describe_body(&self.body))
    }
}

/// What a reply must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `200`, a health body with `node` the number `node` and `ok` true.
    Health {
        /// The id the node was started with.
        node: NodeId,
    },
    /// `200`, a health body whose `roles`, if present, are known roles
    /// that include `"acceptor"`.
    Roles {
        /// The id the node was started with (for messages).
        node: NodeId,
    },
    /// `200`, a prepare reply.
    Prepare {
        /// Granted or refused.
        ok: bool,
        /// The promise it must report.
        promised: Want<Ballot>,
        /// The accepted proposal it must report.
        accepted: Want<Option<Accepted>>,
    },
    /// `200`, an accept reply.
    Accept {
        /// Granted or refused.
        ok: bool,
        /// The promise it must report.
        promised: Want<Ballot>,
    },
    /// `200 {"ok": true}`: a learn recorded (or already known).
    Learned,
    /// This status, with an `{"error": "..."}` body.
    Error {
        /// The status.
        status: u16,
    },
    /// `200`, a state body from node `node` with exactly these instances.
    State {
        /// The id the node was started with.
        node: NodeId,
        /// Every key, with its state.
        instances: BTreeMap<String, InstanceState>,
    },
    /// `200`, a state body holding `key` with these fields.
    StateHas {
        /// The key.
        key: String,
        /// Its promise.
        promised: Want<Option<Ballot>>,
        /// Its accepted proposal.
        accepted: Want<Option<Accepted>>,
        /// Its learned value.
        learned: Want<Option<String>>,
    },
    /// `200`, a state body holding none of these keys (refused requests left nothing).
    StateLacks {
        /// The keys.
        keys: Vec<String>,
    },
    /// `200 {"ok": true, "value": V}`: a propose or read reply (v1.1).
    Chosen {
        /// The chosen value; `None` for a read of a key with none.
        value: Option<String>,
    },
}

impl Expect {
    /// A granted prepare reporting `promised` (the accepted proposal is another rule's).
    pub fn granted(promised: Ballot) -> Expect {
        Expect::Prepare {
            ok: true,
            promised: Want::Is(promised),
            accepted: Want::Any,
        }
    }

    /// A granted prepare reporting `promised` and exactly `accepted`.
    pub fn promise(promised: Ballot, accepted: Option<Accepted>) -> Expect {
        Expect::Prepare {
            ok: true,
            promised: Want::Is(promised),
            accepted: Want::Is(accepted),
        }
    }

    /// A refused prepare (what it reports is another rule's).
    pub fn refused() -> Expect {
        Expect::Prepare {
            ok: false,
            promised: Want::Any,
            accepted: Want::Any,
        }
    }

    /// A granted accept reporting `promised`.
    pub fn accepted(promised: Ballot) -> Expect {
        Expect::Accept {
            ok: true,
            promised: Want::Is(promised),
        }
    }

    /// A granted accept (the promise it reports is another rule's).
    pub fn accepted_any() -> Expect {
        Expect::Accept {
            ok: true,
            promised: Want::Any,
        }
    }

    /// A refused accept (what it reports is another rule's).
    pub fn rejected() -> Expect {
        Expect::Accept {
            ok: false,
            promised: Want::Any,
        }
    }

    /// `400` with an error body.
    pub fn bad_request() -> Expect {
        Expect::Error { status: 400 }
    }

    /// The status the reply must have.
    pub fn status(&self) -> u16 {
        match self {
            Expect::Error { status } => *status,
            _ => 200,
        }
    }

    /// What must come back, for a person: JSON with `…` for the fields
    /// this rule leaves to others.
    pub fn describe(&self) -> String {
        let body = match self {
            Expect::Health { node } => format!(r#"{{"node":{node},"ok":true}}"#),
            Expect::Roles { .. } => r#"{"roles": absent, or a list of "acceptor" and "proposer" that includes "acceptor"}"#.into(),
            Expect::Prepare {
                ok,
                promised,
                accepted,
            } => format!(
                r#"{{"ok":{ok},"promised":{},"accepted":{}}}"#,
                want_text(promised, |b| ballot_text(*b)),
                want_text(accepted, accepted_text)
            ),
            Expect::Accept { ok, promised } => format!(
                r#"{{"ok":{ok},"promised":{}}}"#,
                want_text(promised, |b| ballot_text(*b))
            ),
            Expect::Learned => r#"{"ok":true}"#.into(),
            Expect::Error { .. } => r#"{"error":"…"}"#.into(),
            Expect::State { node, instances } => {
                let keys: Vec<String> = instances
                    .iter()
                    .map(|(k, s)| format!("{}:{}", string(k), instance_text(s)))
                    .collect();
                format!(r#"{{"node":{node},"instances":{{{}}}}}"#, keys.join(","))
            }
            Expect::StateHas {
                key,
                promised,
                accepted,
                learned,
            } => format!(
                r#"{{"node":…,"instances":{{{}:{{"promised":{},"accepted":{},"learned":{}}},…}}}}"#,
                string(key),
                want_text(promised, |p| option_text(p, |b| ballot_text(*b))),
                want_text(accepted, accepted_text),
                want_text(learned, |l| option_text(l, |v| string(v)))
            ),
            Expect::StateLacks { keys } => {
                let keys: Vec<String> = keys.iter().map(|k| string(k)).collect();
                format!(r#"{{"node":…,"instances":{{…}}}} without the keys {}"#, keys.join(", "))
            }
            Expect::Chosen { value } => format!(
                r#"{{"ok":true,"value":{}}}"#,
                option_text(value, |v| string(v))
            ),
        };
        cut_each(&format!("{} {body}", self.status()))
    }
}

/// Cuts a description made of long values down to something readable.
fn cut_each(text: &str) -> String {
    cut(text, SHOW_CHARS * 4)
}

fn want_text<T>(want: &Want<T>, text: impl Fn(&T) -> String) -> String {
    match want {
        Want::Any => "…".into(),
        Want::Is(v) => text(v),
    }
}

fn option_text<T>(value: &Option<T>, text: impl Fn(&T) -> String) -> String {
    value.as_ref().map_or("null".into(), text)
}

fn accepted_text(accepted: &Option<Accepted>) -> String {
    option_text(accepted, |a| {
        format!(
            r#"{{"ballot":{},"value":{}}}"#,
            ballot_text(a.ballot),
            cut(&string(&a.value), SHOW_CHARS)
        )
    })
}

fn instance_text(s: &InstanceState) -> String {
    format!(
        r#"{{"promised":{},"accepted":{},"learned":{}}}"#,
        option_text(&s.promised, |b| ballot_text(*b)),
        accepted_text(&s.accepted),
        option_text(&s.learned, |v| cut(&string(v), SHOW_CHARS))
    )
}

/// Judges a reply: `Err` names the first thing that is not as expected.
pub fn judge(expect: &Expect, reply: &Reply) -> Result<(), String> {
    let status = expect.status();
    if reply.status != status {
        return Err(format!("the status is {}; expected {status}", reply.status));
    }
    match expect {
        Expect::Health { node } => {
            let obj = health::health_object(&reply.body, *node).map_err(|e| e.to_string())?;
            let got = health::health_node(&obj, *node).map_err(|e| e.to_string())?;
            if got != *node {
                return Err(format!(
                    "health reply's node is {got}; expected {node}, the {{id}} this node was started with"
                ));
            }
            health::health_ok(&obj, *node).map_err(|e| e.to_string())
        }
        Expect::Roles { node } => {
            let obj = health::health_object(&reply.body, *node).map_err(|e| e.to_string())?;
            let roles = health::health_roles(&obj).map_err(|e| e.to_string())?;
            if roles.contains(&Role::Acceptor) {
                Ok(())
            } else {
                Err(format!(
                    "health reply's roles is {}; expected a list that includes \"acceptor\" \
                     (every node serves the acceptor endpoints of v1)",
                    describe(&obj["roles"])
                ))
            }
        }
        Expect::Prepare {
            ok,
            promised,
            accepted,
        } => {
            let obj = object(&reply.body)?;
            check_ok(&obj, *ok)?;
            check(&obj, "promised", promised, |b| ballot_text(*b), BALLOT)?;
            check(&obj, "accepted", accepted, accepted_text, ACCEPTED)
        }
        Expect::Accept { ok, promised } => {
            let obj = object(&reply.body)?;
            check_ok(&obj, *ok)?;
            check(&obj, "promised", promised, |b| ballot_text(*b), BALLOT)
        }
        Expect::Learned => check_ok(&object(&reply.body)?, true),
        Expect::Error { .. } => {
            let obj = object(&reply.body)?;
            match obj.get("error") {
                Some(Value::String(_)) => Ok(()),
                Some(other) => Err(format!(
                    "error is {}; expected a string saying what was wrong",
                    describe(other)
                )),
                None => Err(r#"the body has no field `error`; expected {"error":"…"}"#.into()),
            }
        }
        Expect::State { node, instances } => {
            let got = state(&reply.body, *node)?;
            for (key, want) in instances {
                let Some(have) = got.get(key) else {
                    return Err(format!(
                        "instances has no key {}; expected {}",
                        string(key),
                        instance_text(want)
                    ));
                };
                compare_instance(key, have, want)?;
            }
            match got.keys().find(|k| !instances.contains_key(*k)) {
                Some(extra) => Err(format!(
                    "instances has the key {}, which no request of this check touched",
                    string(extra)
                )),
                None => Ok(()),
            }
        }
        Expect::StateHas {
            key,
            promised,
            accepted,
            learned,
        } => {
            let got = state_instances(&reply.body)?;
            let Some(have) = got.get(key) else {
                return Err(format!("instances has no key {}", string(key)));
            };
            let have: InstanceState =
                field_as(have, &format!("instances[{}]", string(key)), INSTANCE)?;
            let field = |name: &str| format!("instances[{}].{name}", string(key));
            compare(&field("promised"), &have.promised, promised, |p| {
                option_text(p, |b| ballot_text(*b))
            })?;
            compare(&field("accepted"), &have.accepted, accepted, accepted_text)?;
            compare(&field("learned"), &have.learned, learned, |l| {
                option_text(l, |v| cut(&string(v), SHOW_CHARS))
            })
        }
        Expect::StateLacks { keys } => {
            let got = state_instances(&reply.body)?;
            match keys.iter().find(|k| got.contains_key(*k)) {
                Some(key) => Err(format!(
                    "instances has the key {}; expected none: every request for it was refused",
                    cut(&string(key), SHOW_CHARS)
                )),
                None => Ok(()),
            }
        }
        Expect::Chosen { value } => {
            let obj = object(&reply.body)?;
            check_ok(&obj, true)?;
            let got = obj.get("value").ok_or("the body has no field `value`")?;
            let got: Option<String> = field_as(got, "value", "a string or null")?;
            if got == *value {
                Ok(())
            } else {
                Err(format!(
                    "value is {}; expected {}",
                    option_text(&got, |v| string(v)),
                    option_text(value, |v| string(v))
                ))
            }
        }
    }
}

const BALLOT: &str = r#"a ballot {"round":R,"proposer":P}"#;
const ACCEPTED: &str = r#"null or {"ballot":{"round":R,"proposer":P},"value":"…"}"#;
const INSTANCE: &str = r#"{"promised":…,"accepted":…,"learned":…}"#;

/// The body as a JSON object.
fn object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "the body is {}; expected a JSON object",
            describe(&other)
        )),
        Err(e) => Err(format!("the body is not JSON ({e})")),
    }
}

/// The `ok` field is the boolean `want`.
fn check_ok(obj: &Map<String, Value>, want: bool) -> Result<(), String> {
    match obj.get("ok") {
        Some(Value::Bool(got)) if *got == want => Ok(()),
        Some(Value::Bool(got)) => {
            let error = obj
                .get("error")
                .and_then(Value::as_str)
                .map(|e| format!(" (its error: {})", cut(e, SHOW_CHARS)))
                .unwrap_or_default();
            Err(format!("ok is {got}; expected {want}{error}"))
        }
        Some(other) => Err(format!("ok is {}; expected {want}", describe(other))),
        None => Err(format!("the body has no field `ok`; expected {want}")),
    }
}

/// Reads `value` as a `T`, or says what it is instead of `shape`.
fn field_as<T: DeserializeOwned>(value: &Value, name: &str, shape: &str) -> Result<T, String> {
    serde_json::from_value(value.clone())
        .map_err(|_| format!("{name} is {}; expected {shape}", describe(value)))
}

/// A pinned field of a reply object: present, of the right shape, equal.
fn check<T: DeserializeOwned + PartialEq>(
    obj: &Map<String, Value>,
    name: &str,
    want: &Want<T>,
    text: impl Fn(&T) -> String,
    shape: &str,
) -> Result<(), String> {
    let Want::Is(expected) = want else {
        return Ok(());
    };
    let value = obj.get(name).ok_or_else(|| {
        format!(
            "the body has no field `{name}`; expected {}",
            text(expected)
        )
    })?;
    let got: T = field_as(value, name, &format!("{} ({shape})", text(expected)))?;
    compare(name, &got, want, text)
}

/// `got` equals a pinned `want`, or a message naming `name`.
fn compare<T: PartialEq>(
    name: &str,
    got: &T,
    want: &Want<T>,
    text: impl Fn(&T) -> String,
) -> Result<(), String> {
    match want {
        Want::Is(expected) if got != expected => Err(format!(
            "{name} is {}; expected {}",
            text(got),
            text(expected)
        )),
        _ => Ok(()),
    }
}

/// The `instances` object of a state body (any `node`).
fn state_instances(body: &[u8]) -> Result<Map<String, Value>, String> {
    let obj = object(body)?;
    match obj.get("instances") {
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(other) => Err(format!(
            "instances is {}; expected an object of keys",
            describe(other)
        )),
        None => Err("the body has no field `instances`".into()),
    }
}

/// A whole state body from node `node`, every instance read.
fn state(body: &[u8], node: NodeId) -> Result<BTreeMap<String, InstanceState>, String> {
    let obj = object(body)?;
    match obj.get("node") {
        Some(v) if v.as_u64() == Some(node) => {}
        Some(v) => {
            return Err(format!(
                "node is {}; expected the number {node}",
                describe(v)
            ))
        }
        None => return Err("the body has no field `node`".into()),
    }
    state_instances(body)?
        .iter()
        .map(|(key, value)| {
            let name = format!("instances[{}]", string(key));
            Ok((key.clone(), field_as(value, &name, INSTANCE)?))
        })
        .collect()
}

/// The first field of `key`'s instance that differs, named.
fn compare_instance(key: &str, have: &InstanceState, want: &InstanceState) -> Result<(), String> {
    let field = |name: &str| format!("instances[{}].{name}", string(key));
    compare(
        &field("promised"),
        &have.promised,
        &Want::Is(want.promised),
        |p| option_text(p, |b| ballot_text(*b)),
    )?;
    compare(
        &field("accepted"),
        &have.accepted,
        &Want::Is(want.accepted.clone()),
        accepted_text,
    )?;
    compare(
        &field("learned"),
        &have.learned,
        &Want::Is(want.learned.clone()),
        |l| option_text(l, |v| cut(&string(v), SHOW_CHARS)),
    )
}

#[cfg(test)]
mod tests;
