//! Reading a `/v1/health` reply field by field, so a reply that breaks the
//! protocol is refused with the field named ("health reply's node is the
//! string "0"; expected the number 0"), not with a decoder's generic error.
//!
//! The harness uses [`parse_health`] when it starts a node; `ballot
//! conform` uses the field checks one by one, so that a wrong `roles` and a
//! wrong `node` fail different rules.

use serde_json::{Map, Value};

use super::{HealthReply, NodeId, Role};

/// Longest JSON text [`describe`] quotes before it cuts the rest.
const QUOTE_CHARS: usize = 80;

/// Why a `/v1/health` body is not the protocol's `{"node": ID, "ok": true}`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HealthError {
    /// The body does not parse as JSON.
    #[error("health reply is not JSON ({reason}); expected {}", example(*id))]
    NotJson {
        /// The parser's complaint.
        reason: String,
        /// The id the node was started with.
        id: NodeId,
    },
    /// The body is JSON but not an object.
    #[error("health reply is {found}; expected an object like {}", example(*id))]
    NotObject {
        /// What it is instead ([`describe`]).
        found: String,
        /// The id the node was started with.
        id: NodeId,
    },
    /// A required field is absent.
    #[error("health reply has no field `{field}`; expected {}", example(*id))]
    Missing {
        /// The field.
        field: &'static str,
        /// The id the node was started with.
        id: NodeId,
    },
    /// A field holds the wrong type, or a value the protocol does not know.
    #[error("health reply's {field} is {found}; expected {expected}")]
    Wrong {
        /// The field (`node`, `ok`, `roles`, `roles[1]`).
        field: String,
        /// What it holds ([`describe`]).
        found: String,
        /// What the protocol wants there.
        expected: String,
    },
    /// `ok` is `false`: the node says it does not serve (yet).
    #[error("health reply's ok is false; expected true (the node says it is not serving)")]
    NotOk,
}

/// The health reply a node started with `--id id` gives, as JSON text.
fn example(id: NodeId) -> String {
    format!(r#"{{"node": {id}, "ok": true}}"#)
}

/// What a JSON value is, for a person: `the string "0"`, `the number 1.5`,
/// `null`, `false`, `the array [1,2]` (long text is cut).
pub fn describe(value: &Value) -> String {
    let text = quote(&value.to_string());
    match value {
        Value::Null | Value::Bool(_) => text,
        Value::Number(_) => format!("the number {text}"),
        Value::String(_) => format!("the string {text}"),
        Value::Array(_) => format!("the array {text}"),
        Value::Object(_) => format!("the object {text}"),
    }
}

/// `text` cut to [`QUOTE_CHARS`] characters, with `…` when cut.
fn quote(text: &str) -> String {
    cut(text, QUOTE_CHARS)
}

/// `text` cut to `max` characters, with `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}… ({} bytes in all)", &text[..end], text.len()),
        None => text.to_string(),
    }
}

/// A reply body as text for a message: UTF-8 (lossy), cut at 300
/// characters, `(an empty body)` when empty.
pub fn describe_body(body: &[u8]) -> String {
    if body.is_empty() {
        return "(an empty body)".into();
    }
    cut(&String::from_utf8_lossy(body), 300)
}

/// The health body as a JSON object.
pub fn health_object(body: &[u8], id: NodeId) -> Result<Map<String, Value>, HealthError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| HealthError::NotJson {
        reason: e.to_string(),
        id,
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(HealthError::NotObject {
            found: describe(&other),
            id,
        }),
    }
}

/// The `node` field: an unsigned integer. `id` (what the node was started
/// with) only words the error; comparing is the caller's job.
pub fn health_node(obj: &Map<String, Value>, id: NodeId) -> Result<NodeId, HealthError> {
    let node = obj
        .get("node")
        .ok_or(HealthError::Missing { field: "node", id })?;
    node.as_u64().ok_or_else(|| HealthError::Wrong {
        field: "node".into(),
        found: describe(node),
        expected: format!("the number {id}"),
    })
}

/// The `ok` field: `true`.
pub fn health_ok(obj: &Map<String, Value>, id: NodeId) -> Result<(), HealthError> {
    match obj.get("ok") {
        None => Err(HealthError::Missing { field: "ok", id }),
        Some(Value::Bool(true)) => Ok(()),
        Some(Value::Bool(false)) => Err(HealthError::NotOk),
        Some(other) => Err(HealthError::Wrong {
            field: "ok".into(),
            found: describe(other),
            expected: "true".into(),
        }),
    }
}

/// The `roles` field (protocol v1.1): absent means a v1 acceptor; else a
/// list of `"acceptor"` and `"proposer"`.
pub fn health_roles(obj: &Map<String, Value>) -> Result<Vec<Role>, HealthError> {
    let Some(roles) = obj.get("roles") else {
        return Ok(super::acceptor_only());
    };
    let list = roles.as_array().ok_or_else(|| HealthError::Wrong {
        field: "roles".into(),
        found: describe(roles),
        expected: r#"a list such as ["acceptor"] or ["acceptor", "proposer"]"#.into(),
    })?;
    list.iter()
        .enumerate()
        .map(|(i, role)| {
            serde_json::from_value::<Role>(role.clone()).map_err(|_| HealthError::Wrong {
                field: format!("roles[{i}]"),
                found: describe(role),
                expected: r#""acceptor" or "proposer""#.into(),
            })
        })
        .collect()
}

/// Reads a whole health body of a node started with `--id id`: every field
/// checked, the first wrong one named. A `node` that is a number other than
/// `id` is returned as it is (the caller says what that means).
pub fn parse_health(body: &[u8], id: NodeId) -> Result<HealthReply, HealthError> {
    let obj = health_object(body, id)?;
    let node = health_node(&obj, id)?;
    health_ok(&obj, id)?;
    let roles = health_roles(&obj)?;
    Ok(HealthReply {
        node,
        ok: true,
        roles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_wrong_field_is_named() {
        // Table: body -> the exact message.
        for (body, message) in [
            (
                r#"{"node": "0", "ok": true}"#,
                r#"health reply's node is the string "0"; expected the number 0"#,
            ),
            (
                r#"{"node": -1, "ok": true}"#,
                "health reply's node is the number -1; expected the number 0",
            ),
            (
                r#"{"ok": true}"#,
                r#"health reply has no field `node`; expected {"node": 0, "ok": true}"#,
            ),
            (
                r#"{"node": 0, "ok": "yes"}"#,
                r#"health reply's ok is the string "yes"; expected true"#,
            ),
            (
                r#"{"node": 0, "ok": false}"#,
                "health reply's ok is false; expected true (the node says it is not serving)",
            ),
            (
                r#"{"node": 0, "ok": true, "roles": "acceptor"}"#,
                r#"health reply's roles is the string "acceptor"; expected a list such as ["acceptor"] or ["acceptor", "proposer"]"#,
            ),
            (
                r#"{"node": 0, "ok": true, "roles": ["acceptor", "learner"]}"#,
                r#"health reply's roles[1] is the string "learner"; expected "acceptor" or "proposer""#,
            ),
            (
                "[0, true]",
                r#"health reply is the array [0,true]; expected an object like {"node": 0, "ok": true}"#,
            ),
        ] {
            let err = parse_health(body.as_bytes(), 0).unwrap_err();
            assert_eq!(err.to_string(), message, "{body}");
        }
        let err = parse_health(b"OK", 3).unwrap_err();
        assert!(
            matches!(&err, HealthError::NotJson { id: 3, .. }),
            "{err:?}"
        );
        assert!(err
            .to_string()
            .ends_with(r#"expected {"node": 3, "ok": true}"#));
    }

    #[test]
    fn good_replies_parse_and_extra_fields_are_ignored() {
        let reply = parse_health(br#"{"node": 2, "ok": true, "version": "x"}"#, 2).unwrap();
        assert_eq!(reply.node, 2);
        assert_eq!(reply.roles, vec![Role::Acceptor]);
        let both = parse_health(
            br#"{"node": 7, "ok": true, "roles": ["acceptor", "proposer"]}"#,
            2,
        )
        .unwrap();
        assert_eq!(both.node, 7, "another id is the caller's to judge");
        assert_eq!(both.roles, vec![Role::Acceptor, Role::Proposer]);
    }

    #[test]
    fn descriptions_say_the_type_and_cut_long_text() {
        assert_eq!(describe(&Value::Null), "null");
        assert_eq!(describe(&serde_json::json!(1.5)), "the number 1.5");
        let long = describe(&Value::String("v".repeat(500)));
        assert!(long.starts_with("the string \"vvv"), "{long}");
        assert!(long.ends_with("… (502 bytes in all)"), "{long}");
        assert!(long.chars().count() < 130, "{long}");
        assert_eq!(describe_body(b""), "(an empty body)");
        assert_eq!(describe_body(b"{\"ok\":1}"), "{\"ok\":1}");
    }
}
