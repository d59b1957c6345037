//! Protocol v1.1, the proposer role: what a client asks a node that
//! proposes (`/v1/propose`, `/v1/read`) and what it answers.
//!
//! A v1.1 node runs Basic Paxos itself against its peers' acceptor
//! endpoints; the client only learns the outcome. An answer that is not a
//! success says whether the outcome is *definite* (nothing this request sent
//! can ever be chosen) or not (some accept may have landed: Jepsen's `info`).

use serde::{Deserialize, Serialize};

use crate::proposer::Outcome;

/// Path of a client's propose (v1.1, nodes with the proposer role).
pub const PROPOSE_PATH: &str = "/v1/propose";
/// Path of a client's linearizable read (v1.1, nodes with the proposer role).
pub const READ_PATH: &str = "/v1/read";

/// A role a node serves, as `/v1/health` lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `/v1/prepare`, `/v1/accept`, `/v1/learn` (protocol v1).
    Acceptor,
    /// `/v1/propose`, `/v1/read` (protocol v1.1).
    Proposer,
}

/// The roles of a node whose `/v1/health` lists none: a v1 acceptor.
pub fn acceptor_only() -> Vec<Role> {
    vec![Role::Acceptor]
}

/// Body of `POST /v1/propose`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposeRequest {
    /// The Paxos instance.
    pub key: String,
    /// The value to propose; the chosen value may be another one.
    pub value: String,
}

/// Body of `POST /v1/read`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// The Paxos instance.
    pub key: String,
}

/// Reply to a propose or a read: `200 {"ok":true,"value":V}` (V the chosen
/// value, `null` for a read of a key with none), or `503
/// {"ok":false,"definite":D,"error":WHY}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientReply {
    /// Whether the operation took effect.
    pub ok: bool,
    /// The chosen value (success only; `null` for a read that found none).
    #[serde(default)]
    pub value: Option<String>,
    /// On failure: `true` when nothing the request sent can ever be chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definite: Option<bool>,
    /// On failure: why, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ClientReply {
    /// The reply a node sends for a proposer's outcome.
    pub fn of(outcome: &Outcome) -> ClientReply {
        match outcome {
            Outcome::Ok(value) => ClientReply {
                ok: true,
                value: value.clone(),
                definite: None,
                error: None,
            },
            Outcome::Fail(why) | Outcome::Info(why) => ClientReply {
                ok: false,
                value: None,
                definite: Some(matches!(outcome, Outcome::Fail(_))),
                error: Some(why.clone()),
            },
        }
    }

    /// The outcome a client records for this reply. A failure that does not
    /// say `"definite": true` is indefinite: only a node can know.
    pub fn outcome(&self) -> Outcome {
        let why = || {
            self.error
                .clone()
                .unwrap_or_else(|| "no reason given".into())
        };
        match (self.ok, self.definite) {
            (true, _) => Outcome::Ok(self.value.clone()),
            (false, Some(true)) => Outcome::Fail(why()),
            (false, _) => Outcome::Info(why()),
        }
    }
}

/// Whether `path` is a client's request to a node's proposer role
/// (`/v1/propose`, `/v1/read`) rather than a Paxos message.
pub fn is_client_path(path: &str) -> bool {
    path == PROPOSE_PATH || path == READ_PATH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_through_the_reply() {
        for outcome in [
            Outcome::Ok(Some("v".into())),
            Outcome::Ok(None),
            Outcome::Fail("no majority promised".into()),
            Outcome::Info("timeout after an accept".into()),
        ] {
            let reply = ClientReply::of(&outcome);
            let text = serde_json::to_string(&reply).unwrap();
            let back: ClientReply = serde_json::from_str(&text).unwrap();
            assert_eq!(back.outcome(), outcome, "{text}");
        }
    }

    #[test]
    fn a_failure_that_does_not_say_definite_is_indefinite() {
        let reply: ClientReply = serde_json::from_str(r#"{"ok":false}"#).unwrap();
        assert!(matches!(reply.outcome(), Outcome::Info(_)));
        let read: ClientReply = serde_json::from_str(r#"{"ok":true,"value":null}"#).unwrap();
        assert_eq!(read.outcome(), Outcome::Ok(None));
    }

    #[test]
    fn health_without_roles_is_an_acceptor() {
        let h: super::super::HealthReply = serde_json::from_str(r#"{"node":3,"ok":true}"#).unwrap();
        assert_eq!(h.roles, vec![Role::Acceptor]);
        let both = r#"{"node":3,"ok":true,"roles":["acceptor","proposer"]}"#;
        let h: super::super::HealthReply = serde_json::from_str(both).unwrap();
        assert_eq!(h.roles, vec![Role::Acceptor, Role::Proposer]);
    }
}
