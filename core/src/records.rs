//! Record formats of a run folder (see `docs/formats.md`).
//!
//! The harness writes these records and the checker reads them, so the
//! shapes live here once. Every file is JSON Lines: one record a line.
//! All `time` fields are nanoseconds since the test began, on one monotonic
//! clock shared by the history, the message log, the nemesis log and the
//! snapshots, so records from different files can be ordered against each
//! other.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fault::FaultKind;
use crate::protocol::{NodeId, StateReply};

/// File name of the operation history in a run folder.
pub const HISTORY_FILE: &str = "history.jsonl";
/// File name of the proxy's message log in a run folder.
pub const MESSAGES_FILE: &str = "messages.jsonl";
/// File name of the fault log in a run folder.
pub const NEMESIS_FILE: &str = "nemesis.jsonl";
/// File name of the side-channel state snapshots in a run folder.
pub const SNAPSHOTS_FILE: &str = "snapshots.jsonl";
/// File name of the run's parameters in a run folder.
pub const TEST_FILE: &str = "test.json";
/// File name of the verdict in a run folder.
pub const RESULTS_FILE: &str = "results.json";

/// Who caused a history event: a client process, or the nemesis.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Process {
    /// A client process; a retired client continues under a new id.
    Client(u64),
    /// The fault injector (serialised as the string `"nemesis"`).
    Named(String),
}

impl Process {
    /// The nemesis process.
    pub fn nemesis() -> Self {
        Process::Named("nemesis".to_string())
    }
}

/// Jepsen's event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// An operation began.
    Invoke,
    /// It completed and took effect.
    Ok,
    /// It definitely had no effect.
    Fail,
    /// Indeterminate: it may take effect at any time after its invocation, or never.
    Info,
}

/// One line of `history.jsonl`.
///
/// For `propose`, the invoke's `value` is the proposed value and the ok's
/// `value` the chosen one; a read's ok `value` is the chosen value or null.
/// Nemesis events use `f` = `start-<fault>` / `stop-<fault>` and put the
/// fault's details in `value`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the history, from 0, in the order events were recorded.
    pub index: u64,
    /// Nanoseconds since the test began.
    pub time: u64,
    /// Client process id or `"nemesis"`.
    pub process: Process,
    /// invoke, ok, fail or info.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// Function: `propose`, `read` (or `write`, `cas`, `get`, `put`, `append`, or a nemesis `start-*`/`stop-*`).
    pub f: String,
    /// The key (Paxos instance) the operation is about; absent for nemesis events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Argument (invoke) or result (ok); see the type's doc.
    #[serde(default)]
    pub value: Value,
    /// Why an operation failed or is indeterminate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What happened to one exchange the proxy carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fate {
    /// Delivered, and the response reached the client.
    Ok,
    /// The proxy dropped the request: the node never saw it.
    DroppedRequest,
    /// The node processed it, but the proxy dropped the response.
    DroppedResponse,
    /// The link was cut (partition): the node never saw it.
    Cut,
    /// The node refused the connection (down): it never saw it.
    Refused,
    /// The node did not answer in time (paused, slow): it may have processed it.
    Timeout,
    /// An extra delivery the proxy made of an earlier request; its response
    /// went nowhere. `duplicate_of` names the original exchange.
    Duplicated,
}

impl Fate {
    /// True when the node may have processed the request (so its state may
    /// have changed) even though the client might not know.
    pub fn may_have_reached_node(self) -> bool {
        matches!(
            self,
            Fate::Ok | Fate::DroppedResponse | Fate::Timeout | Fate::Duplicated
        )
    }
}

/// One line of `messages.jsonl`: a request the proxy carried on one link,
/// and what became of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// Unique id of the exchange within the run.
    pub id: u64,
    /// The client host the request came from.
    pub from: u64,
    /// The node the request was for.
    pub to: NodeId,
    /// The client process that sent it (from the `x-ballot-process` header), if known.
    #[serde(default)]
    pub process: Option<u64>,
    /// Request path, e.g. `/v1/prepare`.
    pub path: String,
    /// Request body as sent (JSON; `null` when the body was not JSON).
    #[serde(default)]
    pub request: Value,
    /// HTTP status the node answered, if it answered.
    #[serde(default)]
    pub status: Option<u16>,
    /// Response body as the node sent it, even when the proxy then dropped it.
    #[serde(default)]
    pub response: Option<Value>,
    /// When the proxy received the request from the client.
    pub sent: u64,
    /// When the proxy forwarded it to the node, if it did.
    #[serde(default)]
    pub delivered: Option<u64>,
    /// When the node's response reached the proxy, if it did.
    #[serde(default)]
    pub replied: Option<u64>,
    /// What became of it.
    pub fate: Fate,
    /// For a `duplicated` delivery: the id of the original exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<u64>,
}

/// Whether a nemesis record opens or closes a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultPhase {
    /// The fault was installed.
    Start,
    /// The fault was healed.
    Stop,
}

/// One line of `nemesis.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NemesisRecord {
    /// Nanoseconds since the test began.
    pub time: u64,
    /// start or stop.
    pub phase: FaultPhase,
    /// Which fault: `kill`, `pause`, `partition`, `drop`, `delay`, `duplicate`, `power-fail`, a triggered one (`kill-on-ack`, ...), `crash` or `links`.
    pub fault: FaultKind,
    /// Nodes the fault acts on (for link faults: the nodes whose links it touches).
    #[serde(default)]
    pub nodes: Vec<NodeId>,
    /// Details: partition shape, probabilities, delays, pids...
    #[serde(default)]
    pub detail: Value,
}

/// Why the harness took a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotReason {
    /// Right after the node was restarted and became healthy.
    Restart,
    /// At the end of the run, after every fault was healed.
    Final,
}

/// One line of `snapshots.jsonl`: a node's `/v1/state`, taken over a side
/// channel that no fault touches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When the state request was sent (nanoseconds since the test began).
    /// Everything the node acknowledged before this time is in `state`.
    pub time: u64,
    /// When the answer had been read (absent in older logs). Everything in
    /// `state` had happened by this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replied: Option<u64>,
    /// The node.
    pub node: NodeId,
    /// Why it was taken.
    pub reason: SnapshotReason,
    /// The node's answer.
    pub state: StateReply,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_lines_match_the_design() {
        let line = r#"{"index":0,"time":1200,"process":3,"type":"invoke","f":"propose","key":"x","value":"3-17"}"#;
        let event: Event = serde_json::from_str(line).unwrap();
        assert_eq!(event.process, Process::Client(3));
        assert_eq!(event.kind, EventType::Invoke);
        assert_eq!(serde_json::to_string(&event).unwrap(), line);
        let nemesis = r#"{"index":7,"time":9300,"process":"nemesis","type":"info","f":"start-partition","value":{"shape":"halves"}}"#;
        let event: Event = serde_json::from_str(nemesis).unwrap();
        assert_eq!(event.process, Process::nemesis());
        assert_eq!(event.key, None);
    }

    #[test]
    fn fates_are_kebab_case() {
        assert_eq!(
            serde_json::to_string(&Fate::DroppedResponse).unwrap(),
            r#""dropped-response""#
        );
        assert!(Fate::Timeout.may_have_reached_node());
        assert!(!Fate::Cut.may_have_reached_node());
    }
}
