//! A client of a node that proposes (protocol v1.1): the op goes to the
//! node's `/v1/propose` or `/v1/read` and the node runs Basic Paxos; the
//! client records the outcome the node's answer gives.
//!
//! | what the client sees | outcome |
//! |---|---|
//! | a `ClientReply` body (200, 503, 400) | as the reply says (`definite: true` is `fail`, otherwise `info`) |
//! | `502` from the proxy, or the connection refused | `fail`: the node never got the request |
//! | `504`, a timeout, a closed connection, any other answer | `info`: the node may have acted |

use std::net::SocketAddr;
use std::time::Duration;

use ballot_core::proposer::Outcome;
use ballot_core::protocol::{ClientReply, PROCESS_HEADER, PROPOSE_PATH, READ_PATH};
use serde_json::json;

/// Sends one client's ops to one node's proposer role.
#[derive(Clone, Debug)]
pub struct NodeProposer {
    http: reqwest::Client,
    base: String,
    process: u64,
    timeout: Duration,
}

impl NodeProposer {
    /// A client of the node at `addr` (a proxy endpoint in a run) for `process`;
    /// each op waits at most `timeout`.
    pub fn new(http: reqwest::Client, addr: SocketAddr, process: u64, timeout: Duration) -> Self {
        NodeProposer {
            http,
            base: format!("http://{addr}"),
            process,
            timeout,
        }
    }

    /// Continues under a new client process id (after an indeterminate op).
    pub fn set_process(&mut self, process: u64) {
        self.process = process;
    }

    /// Asks the node to propose `value` for `key`.
    pub async fn propose(&self, key: &str, value: &str) -> Outcome {
        self.call(PROPOSE_PATH, json!({"key": key, "value": value}))
            .await
    }

    /// Asks the node for the value chosen for `key`.
    pub async fn read(&self, key: &str) -> Outcome {
        self.call(READ_PATH, json!({"key": key})).await
    }

    async fn call(&self, path: &str, body: serde_json::Value) -> Outcome {
        let sent = self
            .http
            .post(format!("{}{path}", self.base))
            .header(PROCESS_HEADER, self.process.to_string())
            .timeout(self.timeout)
            .json(&body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_connect() => {
                return Outcome::Fail(format!("node proposer: cannot connect: {e}"))
            }
            Err(e) => return Outcome::Info(format!("node proposer: no answer: {e}")),
        };
        let status = response.status().as_u16();
        let text = match response.text().await {
            Ok(text) => text,
            Err(e) => {
                return Outcome::Info(format!("node proposer: broken answer ({status}): {e}"))
            }
        };
        outcome_of(status, &text)
    }
}

/// The outcome of one answer of a node's proposer role (pure; see the module table).
pub fn outcome_of(status: u16, body: &str) -> Outcome {
    if status == 502 {
        return Outcome::Fail("node proposer: the node is down (502 from the proxy)".into());
    }
    match serde_json::from_str::<ClientReply>(body) {
        Ok(reply) if matches!(status, 200 | 400 | 503) && reply.ok == (status == 200) => {
            reply.outcome()
        }
        _ => Outcome::Info(format!(
            "node proposer: unexpected answer {status}: {}",
            body.chars().take(200).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_outcomes() {
        assert_eq!(
            outcome_of(200, r#"{"ok":true,"value":"a"}"#),
            Outcome::Ok(Some("a".into()))
        );
        assert_eq!(
            outcome_of(200, r#"{"ok":true,"value":null}"#),
            Outcome::Ok(None)
        );
        assert_eq!(
            outcome_of(503, r#"{"ok":false,"definite":true,"error":"no quorum"}"#),
            Outcome::Fail("no quorum".into())
        );
        assert!(matches!(
            outcome_of(503, r#"{"ok":false,"definite":false,"error":"timeout"}"#),
            Outcome::Info(_)
        ));
        assert!(matches!(outcome_of(502, ""), Outcome::Fail(_)));
        assert!(matches!(outcome_of(504, ""), Outcome::Info(_)));
        // A success status with a failure body, or garbage, is not trusted.
        assert!(matches!(
            outcome_of(200, r#"{"ok":false,"definite":true}"#),
            Outcome::Info(_)
        ));
        assert!(matches!(outcome_of(200, "not json"), Outcome::Info(_)));
    }
}
