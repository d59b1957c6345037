//! Wire types of the acceptor protocol v1 and of the proposer role of v1.1
//! (see `docs/protocol.md`).
//!
//! Every request and reply body that crosses HTTP between a proposer and an
//! acceptor is one of these types. They are shared by the node, the
//! proposer, the harness's proxy and the checker, so the format lives in
//! exactly one place.

mod client;
pub mod health;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

pub use client::{
    acceptor_only, is_client_path, ClientReply, ProposeRequest, ReadRequest, Role, PROPOSE_PATH,
    READ_PATH,
};
pub use health::{parse_health, HealthError};

/// Largest key accepted, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 256;
/// Largest value accepted, in bytes of UTF-8.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Largest request body the node reads before answering 400.
pub const MAX_BODY_BYTES: usize = MAX_VALUE_BYTES + MAX_KEY_BYTES + 1024;

/// Path of the phase-1 request.
pub const PREPARE_PATH: &str = "/v1/prepare";
/// Path of the phase-2 request.
pub const ACCEPT_PATH: &str = "/v1/accept";
/// Path of the learner notification.
pub const LEARN_PATH: &str = "/v1/learn";
/// Path of the state dump (read-only, used by the harness's side channel).
pub const STATE_PATH: &str = "/v1/state";
/// Path of the liveness probe.
pub const HEALTH_PATH: &str = "/v1/health";

/// Header a ballot client puts on every request: its process id, so the
/// proxy can attribute each message to the operation that caused it.
pub const PROCESS_HEADER: &str = "x-ballot-process";

/// Node identifier, as given by `--id`. The harness numbers nodes 0..n.
pub type NodeId = u64;

/// A proposal number: ordered by `round`, then by `proposer`.
///
/// The derived `Ord` compares fields in declaration order, which is exactly
/// the protocol's order. `Option<Ballot>` orders `None` ("no ballot") below
/// every real ballot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ballot {
    /// Round number; every real ballot has `round >= 1`.
    pub round: u64,
    /// Proposer id, unique per client process, so ballots are unique.
    pub proposer: u64,
}

impl Ballot {
    /// Builds a ballot from its round and proposer id.
    pub const fn new(round: u64, proposer: u64) -> Self {
        Ballot { round, proposer }
    }
}

impl std::fmt::Display for Ballot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.round, self.proposer)
    }
}

/// A request's ballot, read strictly: a field other than `round` and
/// `proposer` is a malformed request (`400`), as for the body itself.
/// Replies and logs read ballots leniently ([`Ballot`]'s own serde).
#[derive(Serialize, Deserialize)]
#[serde(remote = "Ballot", deny_unknown_fields)]
struct StrictBallot {
    round: u64,
    proposer: u64,
}

/// Reads a request's ballot strictly, and only from a JSON object: serde
/// would also read a struct from an array (`[1, 1]`), which the protocol
/// does not allow.
fn strict_ballot<'de, D: Deserializer<'de>>(d: D) -> Result<Ballot, D::Error> {
    use serde::de::Error;
    let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
    StrictBallot::deserialize(serde_json::Value::Object(map)).map_err(D::Error::custom)
}

/// A proposal an acceptor has accepted: the ballot and its value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Accepted {
    /// Ballot of the accepted proposal.
    pub ballot: Ballot,
    /// Value of the accepted proposal.
    pub value: String,
}

/// Body of `POST /v1/prepare`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepareRequest {
    /// The Paxos instance.
    pub key: String,
    /// The ballot the proposer asks the acceptor to promise.
    #[serde(
        serialize_with = "StrictBallot::serialize",
        deserialize_with = "strict_ballot"
    )]
    pub ballot: Ballot,
}

/// Reply to a prepare: granted or not, the current promise, and the
/// highest-ballot proposal this acceptor has accepted for the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepareReply {
    /// Whether the promise was given.
    pub ok: bool,
    /// The acceptor's promise after handling the request.
    pub promised: Ballot,
    /// The highest-ballot proposal accepted so far, if any.
    pub accepted: Option<Accepted>,
}

/// Body of `POST /v1/accept`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The Paxos instance.
    pub key: String,
    /// The proposal's ballot.
    #[serde(
        serialize_with = "StrictBallot::serialize",
        deserialize_with = "strict_ballot"
    )]
    pub ballot: Ballot,
    /// The proposal's value.
    pub value: String,
}

/// Reply to an accept: granted or not, and the current promise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptReply {
    /// Whether the proposal was accepted.
    pub ok: bool,
    /// The acceptor's promise after handling the request.
    pub promised: Ballot,
}

/// Body of `POST /v1/learn`: a proposer tells the node a value was chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnRequest {
    /// The Paxos instance.
    pub key: String,
    /// The ballot at which the value was chosen.
    #[serde(
        serialize_with = "StrictBallot::serialize",
        deserialize_with = "strict_ballot"
    )]
    pub ballot: Ballot,
    /// The chosen value.
    pub value: String,
}

/// Reply to a learn that was recorded (or was already known).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnReply {
    /// Always `true` on status 200.
    pub ok: bool,
}

/// One key's acceptor state, as `GET /v1/state` reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceState {
    /// Highest ballot promised (or accepted), if any.
    pub promised: Option<Ballot>,
    /// Highest-ballot proposal accepted, if any.
    pub accepted: Option<Accepted>,
    /// Value a learn request told this node was chosen, if any.
    pub learned: Option<String>,
}

/// Body of `GET /v1/state`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateReply {
    /// The node's `--id`.
    pub node: NodeId,
    /// Every key the node has state for.
    pub instances: BTreeMap<String, InstanceState>,
}

/// Body of `GET /v1/health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReply {
    /// The node's `--id`.
    pub node: NodeId,
    /// Always `true` when the node serves.
    pub ok: bool,
    /// The roles it serves (v1.1); a v1 node omits this and is an acceptor.
    #[serde(default = "acceptor_only")]
    pub roles: Vec<Role>,
}

/// Body of every 4xx/5xx reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What was wrong, for a person.
    pub error: String,
}

/// Why a key or value is not acceptable on the wire.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The key is the empty string.
    #[error("key must not be empty")]
    EmptyKey,
    /// The key is longer than [`MAX_KEY_BYTES`].
    #[error("key is {0} bytes, more than the limit of {MAX_KEY_BYTES}")]
    KeyTooLong(usize),
    /// The value is longer than [`MAX_VALUE_BYTES`].
    #[error("value is {0} bytes, more than the limit of {MAX_VALUE_BYTES}")]
    ValueTooLong(usize),
    /// The ballot has round 0, which no real ballot has.
    #[error("ballot round must be at least 1")]
    ZeroRound,
}

/// Checks a key against the protocol's limits.
pub fn validate_key(key: &str) -> Result<(), InputError> {
    if key.is_empty() {
        return Err(InputError::EmptyKey);
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(InputError::KeyTooLong(key.len()));
    }
    Ok(())
}

/// Checks a value against the protocol's limits.
pub fn validate_value(value: &str) -> Result<(), InputError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(InputError::ValueTooLong(value.len()));
    }
    Ok(())
}

/// Checks that a ballot is a real one (round >= 1).
pub fn validate_ballot(ballot: Ballot) -> Result<(), InputError> {
    if ballot.round == 0 {
        return Err(InputError::ZeroRound);
    }
    Ok(())
}

/// The three requests of the protocol's Paxos rounds, by role: what a
/// scenario sends, and what a proposer's missing reply belonged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestKind {
    /// `POST /v1/prepare`.
    Prepare,
    /// `POST /v1/accept`.
    Accept,
    /// `POST /v1/learn`.
    Learn,
}

impl RequestKind {
    /// The word used in steps.
    pub const fn name(self) -> &'static str {
        match self {
            RequestKind::Prepare => "prepare",
            RequestKind::Accept => "accept",
            RequestKind::Learn => "learn",
        }
    }

    /// The request path.
    pub const fn path(self) -> &'static str {
        match self {
            RequestKind::Prepare => PREPARE_PATH,
            RequestKind::Accept => ACCEPT_PATH,
            RequestKind::Learn => LEARN_PATH,
        }
    }

    /// The kind of a request path, if it is one of the three.
    pub fn from_path(path: &str) -> Option<RequestKind> {
        [
            RequestKind::Prepare,
            RequestKind::Accept,
            RequestKind::Learn,
        ]
        .into_iter()
        .find(|p| p.path() == path)
    }

    /// The kind named by its step word (`prepare`, `accept`, `learn`).
    pub fn parse(word: &str) -> Option<RequestKind> {
        [
            RequestKind::Prepare,
            RequestKind::Accept,
            RequestKind::Learn,
        ]
        .into_iter()
        .find(|p| p.name() == word)
    }
}

/// Why a request body is not a protocol request: the node answers `400`.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The body is not the request's JSON shape.
    #[error("invalid request body: {0}")]
    Body(#[from] serde_json::Error),
    /// The body is well formed but breaks a protocol limit.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The body is JSON, but not an object (serde would read a struct
    /// from an array, which the protocol does not allow).
    #[error("invalid request body: expected a JSON object")]
    NotObject,
}

/// A prepare, accept or learn, parsed and checked exactly as a node must:
/// the one parser the node's server and replay's simulator share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `POST /v1/prepare`.
    Prepare(PrepareRequest),
    /// `POST /v1/accept`.
    Accept(AcceptRequest),
    /// `POST /v1/learn`.
    Learn(LearnRequest),
}

impl Request {
    /// Parses a request body of `kind` from the bytes on the wire and checks
    /// its key, ballot and value against the protocol's limits.
    pub fn parse(kind: RequestKind, body: &[u8]) -> Result<Request, RequestError> {
        let first = body
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        if first.is_some_and(|&b| b != b'{')
            && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
        {
            return Err(RequestError::NotObject);
        }
        let request = match kind {
            RequestKind::Prepare => Request::Prepare(serde_json::from_slice(body)?),
            RequestKind::Accept => Request::Accept(serde_json::from_slice(body)?),
            RequestKind::Learn => Request::Learn(serde_json::from_slice(body)?),
        };
        request.check()?;
        Ok(request)
    }

    /// [`Request::parse`] for a body already read as JSON (a recorded request).
    pub fn from_json(kind: RequestKind, body: &serde_json::Value) -> Result<Request, RequestError> {
        if !body.is_object() {
            return Err(RequestError::NotObject);
        }
        let request = match kind {
            RequestKind::Prepare => Request::Prepare(PrepareRequest::deserialize(body)?),
            RequestKind::Accept => Request::Accept(AcceptRequest::deserialize(body)?),
            RequestKind::Learn => Request::Learn(LearnRequest::deserialize(body)?),
        };
        request.check()?;
        Ok(request)
    }

    /// Checks the key, the ballot and (accept, learn) the value.
    pub fn check(&self) -> Result<(), InputError> {
        validate_key(self.key())?;
        validate_ballot(self.ballot())?;
        match self {
            Request::Prepare(_) => Ok(()),
            Request::Accept(r) => validate_value(&r.value),
            Request::Learn(r) => validate_value(&r.value),
        }
    }

    /// Which of the three requests this is.
    pub fn kind(&self) -> RequestKind {
        match self {
            Request::Prepare(_) => RequestKind::Prepare,
            Request::Accept(_) => RequestKind::Accept,
            Request::Learn(_) => RequestKind::Learn,
        }
    }

    /// The Paxos instance the request is about.
    pub fn key(&self) -> &str {
        match self {
            Request::Prepare(r) => &r.key,
            Request::Accept(r) => &r.key,
            Request::Learn(r) => &r.key,
        }
    }

    /// The request's ballot.
    pub fn ballot(&self) -> Ballot {
        match self {
            Request::Prepare(r) => r.ballot,
            Request::Accept(r) => r.ballot,
            Request::Learn(r) => r.ballot,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_request_is_parsed_and_checked_like_the_node_does() {
        let prepare = Request::parse(
            RequestKind::Prepare,
            br#"{"key":"x","ballot":{"round":2,"proposer":1}}"#,
        )
        .unwrap();
        assert_eq!(prepare.kind(), RequestKind::Prepare);
        assert_eq!((prepare.key(), prepare.ballot()), ("x", Ballot::new(2, 1)));
        let zero = Request::parse(
            RequestKind::Prepare,
            br#"{"key":"x","ballot":{"round":0,"proposer":1}}"#,
        );
        assert!(matches!(
            zero,
            Err(RequestError::Input(InputError::ZeroRound))
        ));
        let extra = Request::parse(
            RequestKind::Prepare,
            br#"{"key":"x","ballot":{"round":1,"proposer":1},"value":"v"}"#,
        );
        let err = extra.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid request body: unknown field `value`"),
            "{err}"
        );
        // An unknown field inside the ballot is malformed too (the JS
        // example's author found our node took it); replies stay lenient.
        for kind in [
            RequestKind::Prepare,
            RequestKind::Accept,
            RequestKind::Learn,
        ] {
            let body = br#"{"key":"x","ballot":{"round":5,"proposer":1,"x":2},"value":"v"}"#;
            let body = if kind == RequestKind::Prepare {
                &br#"{"key":"x","ballot":{"round":5,"proposer":1,"x":2}}"#[..]
            } else {
                &body[..]
            };
            let err = Request::parse(kind, body).unwrap_err();
            assert!(
                err.to_string().contains("unknown field `x`"),
                "{kind:?}: {err}"
            );
        }
        // serde reads a struct from an array too; the protocol does not.
        for body in [
            &br#"["x",{"round":1,"proposer":1}]"#[..],
            br#" ["x",{"round":1,"proposer":1}]"#,
            br#"{"key":"x","ballot":[1,1]}"#,
        ] {
            let err = Request::parse(RequestKind::Prepare, body).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid request body: ")
                    && (err.to_string().contains("expected a JSON object")
                        || err.to_string().contains("expected a map")),
                "{}: {err}",
                String::from_utf8_lossy(body)
            );
        }
        let array = serde_json::json!(["k", {"round": 1, "proposer": 0}, "v"]);
        assert!(matches!(
            Request::from_json(RequestKind::Accept, &array),
            Err(RequestError::NotObject)
        ));
        let lenient: Ballot = serde_json::from_str(r#"{"round":5,"proposer":1,"x":2}"#).unwrap();
        assert_eq!(lenient, Ballot::new(5, 1));
        let long = serde_json::json!({"key": "k", "ballot": {"round": 1, "proposer": 0}, "value": "v".repeat(MAX_VALUE_BYTES + 1)});
        assert!(matches!(
            Request::from_json(RequestKind::Learn, &long),
            Err(RequestError::Input(InputError::ValueTooLong(_)))
        ));
        let accept =
            serde_json::json!({"key": "k", "ballot": {"round": 1, "proposer": 0}, "value": "v"});
        assert_eq!(
            Request::from_json(RequestKind::Accept, &accept)
                .unwrap()
                .kind(),
            RequestKind::Accept
        );
        assert!(matches!(
            Request::from_json(RequestKind::Prepare, &accept),
            Err(RequestError::Body(_))
        ));
    }

    use super::*;

    #[test]
    fn ballots_order_by_round_then_proposer() {
        assert!(Ballot::new(1, 9) < Ballot::new(2, 0));
        assert!(Ballot::new(2, 1) < Ballot::new(2, 2));
        assert_eq!(Ballot::new(3, 3), Ballot::new(3, 3));
        assert!(None < Some(Ballot::new(1, 0)));
    }

    #[test]
    fn wire_shapes_match_the_protocol() {
        let reply = PrepareReply {
            ok: true,
            promised: Ballot::new(5, 2),
            accepted: Some(Accepted {
                ballot: Ballot::new(1, 1),
                value: "v".into(),
            }),
        };
        assert_eq!(
            serde_json::to_string(&reply).unwrap(),
            r#"{"ok":true,"promised":{"round":5,"proposer":2},"accepted":{"ballot":{"round":1,"proposer":1},"value":"v"}}"#
        );
        let state = InstanceState::default();
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            r#"{"promised":null,"accepted":null,"learned":null}"#
        );
    }

    #[test]
    fn limits_are_enforced() {
        assert_eq!(validate_key(""), Err(InputError::EmptyKey));
        assert!(validate_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert_eq!(
            validate_key(&"k".repeat(MAX_KEY_BYTES + 1)),
            Err(InputError::KeyTooLong(MAX_KEY_BYTES + 1))
        );
        assert!(validate_value("").is_ok());
        assert!(validate_value(&"v".repeat(MAX_VALUE_BYTES)).is_ok());
        assert!(validate_value(&"v".repeat(MAX_VALUE_BYTES + 1)).is_err());
        assert_eq!(
            validate_ballot(Ballot::new(0, 1)),
            Err(InputError::ZeroRound)
        );
    }
}
