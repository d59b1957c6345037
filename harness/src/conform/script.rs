//! A check's script as data: the requests to send and the signals to give,
//! in order, each with what must come back. Pure: [`super::run`] carries
//! it out against real processes, the unit tests against our pure acceptor.

use ballot_core::protocol::health::cut;
use ballot_core::protocol::{
    Ballot, ACCEPT_PATH, HEALTH_PATH, LEARN_PATH, PREPARE_PATH, PROCESS_HEADER, PROPOSE_PATH,
    READ_PATH, STATE_PATH,
};
use serde_json::Value;

use super::expect::Expect;

/// How many characters of a request body a description shows.
const BODY_CHARS: usize = 160;

/// An HTTP method the protocol uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
}

/// One HTTP request to a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The path, e.g. `/v1/prepare`.
    pub path: &'static str,
    /// The body as sent (deliberately not always JSON); `None` for a GET.
    pub body: Option<String>,
    /// One extra header, e.g. `x-ballot-process: 12`.
    pub header: Option<(&'static str, String)>,
}

/// A ballot as JSON text, fields in the protocol's order: `{"round":R,"proposer":P}`.
pub fn ballot_text(b: Ballot) -> String {
    format!(r#"{{"round":{},"proposer":{}}}"#, b.round, b.proposer)
}

/// A string as a JSON literal (quoted and escaped).
pub fn string(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// A JSON object with its fields in the order given; the values are JSON text.
pub fn object(fields: &[(&str, String)]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("{}:{value}", string(name)))
        .collect();
    format!("{{{}}}", fields.join(","))
}

impl Request {
    /// `GET path`.
    pub fn get(path: &'static str) -> Request {
        Request {
            method: Method::Get,
            path,
            body: None,
            header: None,
        }
    }

    /// `POST path` with `text` exactly as given (JSON, or malformed on purpose, or padded).
    pub fn post(path: &'static str, text: impl Into<String>) -> Request {
        Request {
            method: Method::Post,
            path,
            body: Some(text.into()),
            header: None,
        }
    }

    /// `GET /v1/health`.
    pub fn health() -> Request {
        Request::get(HEALTH_PATH)
    }

    /// `GET /v1/state`.
    pub fn state() -> Request {
        Request::get(STATE_PATH)
    }

    /// `POST /v1/prepare` for `key` at `ballot`.
    pub fn prepare(key: &str, ballot: Ballot) -> Request {
        let body = object(&[("key", string(key)), ("ballot", ballot_text(ballot))]);
        Request::post(PREPARE_PATH, body)
    }

    /// `POST /v1/accept` of `value` for `key` at `ballot`.
    pub fn accept(key: &str, ballot: Ballot, value: &str) -> Request {
        Request::post(ACCEPT_PATH, proposal(key, ballot, value))
    }

    /// `POST /v1/learn` of `value` for `key` at `ballot`.
    pub fn learn(key: &str, ballot: Ballot, value: &str) -> Request {
        Request::post(LEARN_PATH, proposal(key, ballot, value))
    }

    /// `POST /v1/propose` of `value` for `key` (protocol v1.1).
    pub fn propose(key: &str, value: &str) -> Request {
        let body = object(&[("key", string(key)), ("value", string(value))]);
        Request::post(PROPOSE_PATH, body)
    }

    /// `POST /v1/read` of `key` (protocol v1.1).
    pub fn read(key: &str) -> Request {
        Request::post(READ_PATH, object(&[("key", string(key))]))
    }

    /// The same request with the `x-ballot-process` header.
    pub fn with_process_header(mut self, process: u64) -> Request {
        self.header = Some((PROCESS_HEADER, process.to_string()));
        self
    }

    /// One line for a person: `POST /v1/prepare {"key":"x",...}`, a long body cut.
    pub fn describe(&self) -> String {
        let method = match self.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        let mut line = format!("{method} {}", self.path);
        if let Some((name, value)) = &self.header {
            line.push_str(&format!(" ({name}: {value})"));
        }
        match self.body.as_deref() {
            None => {}
            Some("") => line.push_str(" (an empty body)"),
            Some(body) => {
                line.push(' ');
                line.push_str(&cut(body.trim_end(), BODY_CHARS));
                if body.len() > BODY_CHARS && body.trim_end().len() <= BODY_CHARS {
                    line.push_str(&format!(" (padded with spaces to {} bytes)", body.len()));
                }
            }
        }
        line
    }
}

/// The body of an accept or a learn.
fn proposal(key: &str, ballot: Ballot, value: &str) -> String {
    object(&[
        ("key", string(key)),
        ("ballot", ballot_text(ballot)),
        ("value", string(value)),
    ])
}

/// What one step does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send a request and judge the reply.
    Send {
        /// The request.
        request: Request,
        /// What must come back.
        expect: Expect,
    },
    /// SIGKILL the node at once (right after the previous reply).
    Kill,
    /// Start the stopped node again with the same port and data dir; it
    /// must answer `/v1/health` with 200 in time.
    Restart,
    /// SIGTERM the node, SIGKILL it if it still runs after the grace
    /// period: how a run ends. Never fails.
    Stop,
    /// SIGTERM the node; it must exit within the grace period.
    Terminate,
}

/// One step of a check: an action on one node, and why its outcome is the expected one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The node (`0` unless the check starts several).
    pub node: usize,
    /// What to do.
    pub action: Action,
    /// Why the expected outcome is right, for the failure report ("" when obvious).
    pub why: &'static str,
}

impl Step {
    /// The same step, with the reason its expectation holds.
    pub fn because(mut self, why: &'static str) -> Step {
        self.why = why;
        self
    }

    /// The same step, on another node.
    pub fn on(mut self, node: usize) -> Step {
        self.node = node;
        self
    }

    /// One line for a person: the request, or the signal and node.
    pub fn describe(&self) -> String {
        let node = self.node;
        match &self.action {
            Action::Send { request, .. } => request.describe(),
            Action::Kill => format!("SIGKILL node {node}, right after the last reply"),
            Action::Restart => {
                format!("start node {node} again with the same port and data dir")
            }
            Action::Stop => format!("SIGTERM node {node} (SIGKILL if it still runs 2 s later)"),
            Action::Terminate => format!("SIGTERM node {node}"),
        }
    }
}

/// Sends `request` to node 0 and expects `expect`.
pub fn send(request: Request, expect: Expect) -> Step {
    step(Action::Send { request, expect })
}

/// SIGKILLs node 0.
pub fn kill() -> Step {
    step(Action::Kill)
}

/// Starts node 0 again on its data dir.
pub fn restart() -> Step {
    step(Action::Restart)
}

/// Stops node 0 as a run's end does.
pub fn stop() -> Step {
    step(Action::Stop)
}

/// SIGTERMs node 0, which must exit in time.
pub fn terminate() -> Step {
    step(Action::Terminate)
}

fn step(action: Action) -> Step {
    Step {
        node: 0,
        action,
        why: "",
    }
}

/// Shorthand for a ballot in the rule table.
pub const fn b(round: u64, proposer: u64) -> Ballot {
    Ballot::new(round, proposer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_describe_themselves_on_one_line() {
        assert_eq!(
            Request::prepare("x", b(2, 1)).describe(),
            r#"POST /v1/prepare {"key":"x","ballot":{"round":2,"proposer":1}}"#
        );
        assert_eq!(Request::state().describe(), "GET /v1/state");
        assert_eq!(
            Request::prepare("x", b(1, 1))
                .with_process_header(12)
                .describe(),
            r#"POST /v1/prepare (x-ballot-process: 12) {"key":"x","ballot":{"round":1,"proposer":1}}"#
        );
        assert_eq!(
            Request::post(LEARN_PATH, "").describe(),
            "POST /v1/learn (an empty body)"
        );
        let padded = format!("{{}}{}", " ".repeat(300));
        assert_eq!(
            Request::post(PREPARE_PATH, padded).describe(),
            "POST /v1/prepare {} (padded with spaces to 302 bytes)"
        );
        let long = Request::accept("k", b(1, 1), &"v".repeat(1000)).describe();
        assert!(long.ends_with("… (1056 bytes in all)"), "{long}");
    }

    #[test]
    fn signal_steps_name_their_node() {
        assert_eq!(
            kill().on(2).describe(),
            "SIGKILL node 2, right after the last reply"
        );
        assert_eq!(terminate().describe(), "SIGTERM node 0");
    }
}
