//! One recorded exchange run through the pure acceptor
//! (`ballot_core::acceptor`), the protocol's executable spec: what the node
//! should have answered in a given state, and whether that is what the run
//! recorded. Pure: no I/O.
//!
//! The node checks its input before the acceptor sees it (`400`, no state
//! change) and answers a learn of a second value with `409`; the same
//! checks are made here, so every status a correct node sends is predicted.
//! A request that is not a protocol request (unknown path) never touches
//! the state and is not predicted.

use ballot_core::acceptor::Acceptor;
use ballot_core::protocol::{
    self, AcceptReply, AcceptRequest, LearnRequest, PrepareReply, PrepareRequest, RequestKind,
};
use ballot_core::records::Exchange;
use serde_json::{json, Value};

/// A recorded request, parsed as the node parses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `POST /v1/prepare`.
    Prepare(PrepareRequest),
    /// `POST /v1/accept`.
    Accept(AcceptRequest),
    /// `POST /v1/learn`.
    Learn(LearnRequest),
    /// A protocol path whose body the node rejects with `400` (no state change).
    Invalid,
    /// Not a protocol request: its answer does not depend on any state.
    Other,
}

impl Request {
    /// Parses the exchange's request with the node's own parser
    /// ([`protocol::Request::from_json`]): a body the node rejects is `Invalid`.
    pub fn of(ex: &Exchange) -> Request {
        let Some(kind) = RequestKind::from_path(&ex.path) else {
            return Request::Other;
        };
        match protocol::Request::from_json(kind, &ex.request) {
            Ok(protocol::Request::Prepare(r)) => Request::Prepare(r),
            Ok(protocol::Request::Accept(r)) => Request::Accept(r),
            Ok(protocol::Request::Learn(r)) => Request::Learn(r),
            Err(_) => Request::Invalid,
        }
    }

    /// The Paxos instance a valid request is about.
    pub fn key(&self) -> Option<&str> {
        match self {
            Request::Prepare(r) => Some(&r.key),
            Request::Accept(r) => Some(&r.key),
            Request::Learn(r) => Some(&r.key),
            Request::Invalid | Request::Other => None,
        }
    }
}

/// What the acceptor answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `200` to a prepare.
    Prepare(PrepareReply),
    /// `200` to an accept.
    Accept(AcceptReply),
    /// `200 {"ok": true}` to a learn.
    Learned,
    /// `409`: the learn named a second value.
    Conflict,
    /// `400`: bad input.
    BadRequest,
    /// Not predicted (not a protocol request).
    Unknown,
}

impl Reply {
    /// The reply as `{"status", "response"}`, for people (the body of a
    /// `400`/`409` is the node's own wording and is not predicted).
    pub fn to_json(&self) -> Value {
        match self {
            Reply::Prepare(r) => json!({"status": 200, "response": r}),
            Reply::Accept(r) => json!({"status": 200, "response": r}),
            Reply::Learned => json!({"status": 200, "response": {"ok": true}}),
            Reply::Conflict => json!({"status": 409}),
            Reply::BadRequest => json!({"status": 400}),
            Reply::Unknown => json!("not predicted"),
        }
    }
}

/// Runs `req` on the acceptor (changing its state) and returns its reply.
pub fn apply(acceptor: &mut Acceptor, req: &Request) -> Reply {
    match req {
        Request::Prepare(r) => Reply::Prepare(acceptor.prepare(r).0),
        Request::Accept(r) => Reply::Accept(acceptor.accept(r).0),
        Request::Learn(r) => match acceptor.learn(r) {
            Ok(_) => Reply::Learned,
            Err(_) => Reply::Conflict,
        },
        Request::Invalid => Reply::BadRequest,
        Request::Other => Reply::Unknown,
    }
}

/// The recorded answer to an exchange, parsed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The node's answer never reached the proxy: any reply fits.
    Nothing,
    /// A `5xx`: the node failed (e.g. could not persist); any reply fits,
    /// since the acceptor's answer was never sent.
    ServerError,
    /// A status, and the body parsed as the reply type of the request, if it parses.
    Reply(u16, Option<Reply>),
}

impl Recorded {
    /// The recorded status and body of `ex`, parsed for `req`.
    pub fn of(ex: &Exchange, req: &Request) -> Recorded {
        let Some(status) = ex.status else {
            return Recorded::Nothing;
        };
        if status >= 500 {
            return Recorded::ServerError;
        }
        let body = ex.response.as_ref();
        let parsed = match (status, req) {
            (200, Request::Prepare(_)) => body
                .and_then(|b| serde_json::from_value(b.clone()).ok())
                .map(Reply::Prepare),
            (200, Request::Accept(_)) => body
                .and_then(|b| serde_json::from_value(b.clone()).ok())
                .map(Reply::Accept),
            (200, Request::Learn(_)) => Some(Reply::Learned),
            (409, Request::Learn(_)) => Some(Reply::Conflict),
            (400, _) => Some(Reply::BadRequest),
            _ => None,
        };
        Recorded::Reply(status, parsed)
    }

    /// Whether the recorded answer is a reply at all.
    pub fn is_nothing(&self) -> bool {
        matches!(self, Recorded::Nothing)
    }

    /// Whether the node may never have applied the request: no answer
    /// reached the proxy, or the node failed (`5xx`) while handling it.
    pub fn may_be_unprocessed(&self) -> bool {
        matches!(self, Recorded::Nothing | Recorded::ServerError)
    }

    /// Whether `reply` (the acceptor's) is what the run recorded.
    ///
    /// A recorded `200` must parse as the request's reply type and equal
    /// it field for field; `400` and `409` must match by status. A request
    /// that is not a protocol request fits any answer below `500`.
    pub fn fits(&self, reply: &Reply) -> bool {
        match (self, reply) {
            (Recorded::Nothing | Recorded::ServerError, _) => true,
            (Recorded::Reply(_, _), Reply::Unknown) => true,
            (Recorded::Reply(_, Some(recorded)), reply) => recorded == reply,
            (Recorded::Reply(_, None), _) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballot_core::bugs::BugSet;
    use ballot_core::protocol::Ballot;
    use ballot_core::protocol::{ACCEPT_PATH, LEARN_PATH, PREPARE_PATH};
    use ballot_core::records::Fate;

    fn ex(path: &str, request: Value, status: Option<u16>, response: Option<Value>) -> Exchange {
        Exchange {
            id: 1,
            from: 0,
            to: 0,
            process: Some(1),
            path: path.into(),
            request,
            status,
            response,
            sent: 1,
            delivered: Some(2),
            replied: status.map(|_| 3),
            fate: if status.is_some() {
                Fate::Ok
            } else {
                Fate::Timeout
            },
            duplicate_of: None,
        }
    }

    fn b(round: u64, proposer: u64) -> Value {
        json!({"round": round, "proposer": proposer})
    }

    #[test]
    fn requests_parse_with_the_nodes_input_checks() {
        // (path, body, parsed as)
        let long_key = "k".repeat(protocol::MAX_KEY_BYTES + 1);
        let table: Vec<(&str, Value, &str)> = vec![
            (
                PREPARE_PATH,
                json!({"key": "x", "ballot": b(1, 1)}),
                "prepare",
            ),
            (
                ACCEPT_PATH,
                json!({"key": "x", "ballot": b(1, 1), "value": "v"}),
                "accept",
            ),
            (
                LEARN_PATH,
                json!({"key": "x", "ballot": b(1, 1), "value": "v"}),
                "learn",
            ),
            (
                PREPARE_PATH,
                json!({"key": "", "ballot": b(1, 1)}),
                "invalid",
            ),
            (
                PREPARE_PATH,
                json!({"key": "x", "ballot": b(0, 1)}),
                "invalid",
            ),
            (
                PREPARE_PATH,
                json!({"key": long_key, "ballot": b(1, 1)}),
                "invalid",
            ),
            (
                ACCEPT_PATH,
                json!({"key": "x", "ballot": b(1, 1)}),
                "invalid",
            ),
            (PREPARE_PATH, Value::Null, "invalid"),
            (
                PREPARE_PATH,
                json!({"key": "x", "ballot": b(1, 1), "extra": 1}),
                "invalid",
            ),
            ("/v1/nothing", json!({"key": "x"}), "other"),
        ];
        for (path, request, kind) in table {
            let got = Request::of(&ex(path, request.clone(), None, None));
            let name = match got {
                Request::Prepare(_) => "prepare",
                Request::Accept(_) => "accept",
                Request::Learn(_) => "learn",
                Request::Invalid => "invalid",
                Request::Other => "other",
            };
            assert_eq!(name, kind, "{path} {request}");
        }
    }

    #[test]
    fn recorded_replies_fit_only_the_same_answer() {
        let prepare = ex(
            PREPARE_PATH,
            json!({"key": "x", "ballot": b(2, 1)}),
            Some(200),
            Some(json!({"ok": true, "promised": b(2, 1), "accepted": null})),
        );
        let req = Request::of(&prepare);
        let recorded = Recorded::of(&prepare, &req);
        let mut fresh = Acceptor::new(Default::default(), BugSet::NONE);
        assert!(recorded.fits(&apply(&mut fresh, &req)));
        // the same prepare on a node that promised more is a rejection
        let mut ahead = Acceptor::new(Default::default(), BugSet::NONE);
        apply(
            &mut ahead,
            &Request::Prepare(PrepareRequest {
                key: "x".into(),
                ballot: Ballot::new(3, 1),
            }),
        );
        assert!(!recorded.fits(&apply(&mut ahead, &req)));
        // a foreign node may leave out a null field or add one
        let foreign = ex(
            PREPARE_PATH,
            json!({"key": "x", "ballot": b(2, 1)}),
            Some(200),
            Some(json!({"ok": true, "promised": b(2, 1), "extra": 7})),
        );
        let mut fresh = Acceptor::new(Default::default(), BugSet::NONE);
        assert!(Recorded::of(&foreign, &req).fits(&apply(&mut fresh, &req)));
        // nothing recorded, or a 5xx: anything fits
        assert!(Recorded::Nothing.fits(&Reply::Conflict));
        assert!(Recorded::ServerError.fits(&Reply::Learned));
        // a 200 whose body is not a reply fits nothing
        let garbled = ex(
            PREPARE_PATH,
            json!({"key": "x", "ballot": b(2, 1)}),
            Some(200),
            Some(json!("?")),
        );
        assert!(
            !Recorded::of(&garbled, &req).fits(&Reply::Prepare(PrepareReply {
                ok: true,
                promised: Ballot::new(2, 1),
                accepted: None
            }))
        );
    }

    #[test]
    fn learn_conflicts_are_409_and_bad_input_is_400() {
        let learn = |value: &str, status: u16| {
            ex(
                LEARN_PATH,
                json!({"key": "x", "ballot": b(1, 1), "value": value}),
                Some(status),
                Some(json!({"ok": true})),
            )
        };
        let mut a = Acceptor::new(Default::default(), BugSet::NONE);
        let first = learn("v", 200);
        let req = Request::of(&first);
        assert!(Recorded::of(&first, &req).fits(&apply(&mut a, &req)));
        let second = learn("w", 409);
        let req = Request::of(&second);
        assert!(Recorded::of(&second, &req).fits(&apply(&mut a, &req)));
        let bad = ex(
            PREPARE_PATH,
            json!({"key": "", "ballot": b(1, 1)}),
            Some(400),
            Some(json!({"error": "key must not be empty"})),
        );
        let req = Request::of(&bad);
        assert!(Recorded::of(&bad, &req).fits(&apply(&mut a, &req)));
        assert!(a.instances().get("").is_none());
    }
}
