//! State-triggered faults: the proxy watches the exchanges it carries and
//! fires when the cluster reaches a state worth breaking (as CoFI and
//! Legolas do), instead of waiting for the clock.
//!
//! - [`Watch::AckFrom`]: the next prepare or accept one of the watched nodes
//!   acknowledges (`200`, `ok: true`); the nemesis kills that node at once.
//! - [`Watch::Disagreement`]: the next accept ack whose value differs from
//!   the value another node last acked for the same key (both seen since the
//!   watch was armed); the nemesis isolates the node that just acked.
//! - minimal quorum: while on, each accept round (key, ballot) reaches only
//!   the first majority of nodes it is sent to; the rest are dropped.
//!
//! A watch fires once and is then disarmed. The decisions are pure
//! functions of what was observed ([`disagreeing_node`], [`Rounds::admit`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use ballot_core::protocol::{ACCEPT_PATH, PREPARE_PATH};
use ballot_core::records::Exchange;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;

/// What a watch waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Watch {
    /// An acked prepare or accept from one of these nodes.
    AckFrom(Vec<usize>),
    /// An accept ack from one of these nodes whose value differs from
    /// another node's last acked value for the key.
    Disagreement(Vec<usize>),
}

/// What made a watch fire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fired {
    /// The node whose reply fired it.
    pub node: usize,
    /// The exchange id of that reply.
    pub exchange: u64,
    /// Its path.
    pub path: String,
    /// Its key.
    pub key: String,
    /// When the reply reached the proxy (run clock, ns).
    pub replied: u64,
    /// For a disagreement: the node that holds the other value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<usize>,
}

/// The key and value of an acked accept, or `None`.
fn acked_accept(ex: &Exchange) -> Option<(&str, &str)> {
    (ex.path == ACCEPT_PATH && acked(ex)).then_some(())?;
    Some((
        ex.request.get("key")?.as_str()?,
        ex.request.get("value")?.as_str()?,
    ))
}

/// Whether the node answered `200` with `ok: true`.
fn acked(ex: &Exchange) -> bool {
    ex.status == Some(200)
        && ex
            .response
            .as_ref()
            .and_then(|r| r.get("ok"))
            .and_then(Value::as_bool)
            == Some(true)
}

/// Another node whose last acked value for the key differs from `value`.
pub fn disagreeing_node(last: &HashMap<usize, String>, node: usize, value: &str) -> Option<usize> {
    let mut others: Vec<usize> = last
        .iter()
        .filter(|(&n, v)| n != node && v.as_str() != value)
        .map(|(&n, _)| n)
        .collect();
    others.sort_unstable();
    others.first().copied()
}

/// Accepts delivered per round, for the minimal-quorum fault.
#[derive(Debug, Default)]
pub struct Rounds {
    sent: HashMap<(String, String), usize>,
}

impl Rounds {
    /// Whether an accept of `key` at `ballot` may still be delivered: the
    /// first `majority` of each round are, the rest are not.
    pub fn admit(&mut self, key: &str, ballot: &Value, majority: usize) -> bool {
        let count = self
            .sent
            .entry((key.to_string(), ballot.to_string()))
            .or_default();
        *count += 1;
        *count <= majority
    }
}

/// The mesh's triggers (shared by every exchange).
#[derive(Debug, Default)]
pub(crate) struct Triggers {
    armed: AtomicBool,
    watch: Mutex<Option<(Watch, oneshot::Sender<Fired>)>>,
    /// Per key, each node's last acked accept value (while a disagreement
    /// watch is armed).
    accepted: Mutex<HashMap<String, HashMap<usize, String>>>,
    minimal: AtomicBool,
    rounds: Mutex<Rounds>,
}

impl Triggers {
    /// Arms `watch`, replacing any armed one; the receiver gets what fired it.
    pub(crate) fn arm(&self, watch: Watch) -> oneshot::Receiver<Fired> {
        let (tx, rx) = oneshot::channel();
        lock(&self.accepted).clear();
        *lock(&self.watch) = Some((watch, tx));
        self.armed.store(true, Ordering::Release);
        rx
    }

    /// Disarms the watch, if any.
    pub(crate) fn disarm(&self) {
        self.armed.store(false, Ordering::Release);
        *lock(&self.watch) = None;
        lock(&self.accepted).clear();
    }

    /// Switches the minimal-quorum fault on or off.
    pub(crate) fn set_minimal_quorum(&self, on: bool) {
        *lock(&self.rounds) = Rounds::default();
        self.minimal.store(on, Ordering::Release);
    }

    /// Whether this request may go on to the node (always, unless it is an
    /// accept beyond its round's minimal quorum).
    pub(crate) fn admit(&self, ex: &Exchange, majority: usize) -> bool {
        if !self.minimal.load(Ordering::Acquire) || ex.path != ACCEPT_PATH {
            return true;
        }
        let (Some(key), Some(ballot)) = (
            ex.request.get("key").and_then(Value::as_str),
            ex.request.get("ballot"),
        ) else {
            return true;
        };
        lock(&self.rounds).admit(key, ballot, majority)
    }

    /// Looks at an answered exchange; fires the armed watch if it matches.
    pub(crate) fn observe(&self, ex: &Exchange) {
        if !self.armed.load(Ordering::Acquire) {
            return;
        }
        let node = ex.to as usize;
        let mut slot = lock(&self.watch);
        let Some((watch, _)) = slot.as_ref() else {
            return;
        };
        let fired = match watch {
            Watch::AckFrom(nodes) => (nodes.contains(&node)
                && (ex.path == PREPARE_PATH || ex.path == ACCEPT_PATH)
                && acked(ex))
            .then(|| fired(ex, None)),
            Watch::Disagreement(nodes) => {
                let Some((key, value)) = acked_accept(ex) else {
                    return;
                };
                let mut accepted = lock(&self.accepted);
                let last = accepted.entry(key.to_string()).or_default();
                let other = disagreeing_node(last, node, value);
                last.insert(node, value.to_string());
                other
                    .filter(|_| nodes.contains(&node))
                    .map(|other| fired(ex, Some(other)))
            }
        };
        if let Some(f) = fired {
            self.armed.store(false, Ordering::Release);
            if let Some((_, tx)) = slot.take() {
                let _ = tx.send(f);
            }
        }
    }
}

fn fired(ex: &Exchange, other: Option<usize>) -> Fired {
    Fired {
        node: ex.to as usize,
        exchange: ex.id,
        path: ex.path.clone(),
        key: ex
            .request
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        replied: ex.replied.unwrap_or(ex.sent),
        other,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballot_core::records::Fate;
    use serde_json::json;

    fn reply(id: u64, to: u64, path: &str, key: &str, value: Option<&str>, ok: bool) -> Exchange {
        let mut request = json!({"key": key, "ballot": {"round": 1, "proposer": 0}});
        if let Some(v) = value {
            request["value"] = json!(v);
        }
        Exchange {
            id,
            from: 0,
            to,
            process: Some(1),
            path: path.into(),
            request,
            status: Some(200),
            response: Some(json!({"ok": ok})),
            sent: 10 * id,
            delivered: Some(10 * id + 1),
            replied: Some(10 * id + 2),
            fate: Fate::Ok,
            duplicate_of: None,
        }
    }

    #[tokio::test]
    async fn an_ack_watch_fires_on_the_first_ack_of_a_watched_node_only() {
        let t = Triggers::default();
        let rx = t.arm(Watch::AckFrom(vec![2]));
        t.observe(&reply(1, 1, PREPARE_PATH, "k", None, true)); // not watched
        t.observe(&reply(2, 2, PREPARE_PATH, "k", None, false)); // rejected
        t.observe(&reply(3, 2, ACCEPT_PATH, "k", Some("v"), true));
        t.observe(&reply(4, 2, ACCEPT_PATH, "k", Some("v"), true)); // already fired
        let f = rx.await.unwrap();
        assert_eq!((f.node, f.exchange, f.replied), (2, 3, 32));
        assert!(!t.armed.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn a_disagreement_watch_fires_when_two_nodes_hold_different_values() {
        let t = Triggers::default();
        let rx = t.arm(Watch::Disagreement(vec![0, 1, 2]));
        t.observe(&reply(1, 0, ACCEPT_PATH, "k", Some("a"), true));
        t.observe(&reply(2, 1, ACCEPT_PATH, "k", Some("a"), true));
        t.observe(&reply(3, 1, ACCEPT_PATH, "j", Some("b"), true)); // another key
        t.observe(&reply(4, 2, ACCEPT_PATH, "k", Some("b"), false)); // not acked
        t.observe(&reply(5, 2, ACCEPT_PATH, "k", Some("b"), true));
        let f = rx.await.unwrap();
        assert_eq!((f.node, f.exchange, f.other), (2, 5, Some(0)));
    }

    #[test]
    fn a_minimal_quorum_lets_only_a_majority_of_each_round_through() {
        let t = Triggers::default();
        let accept = |id, to| reply(id, to, ACCEPT_PATH, "k", Some("v"), true);
        assert!(t.admit(&accept(1, 0), 2), "off: everything passes");
        t.set_minimal_quorum(true);
        let admitted: Vec<bool> = (0..3).map(|n| t.admit(&accept(n + 2, n), 2)).collect();
        assert_eq!(admitted, [true, true, false]);
        let mut other_round = accept(9, 2);
        other_round.request["ballot"] = json!({"round": 2, "proposer": 0});
        assert!(t.admit(&other_round, 2));
        assert!(t.admit(&reply(10, 2, PREPARE_PATH, "k", None, true), 2));
        t.set_minimal_quorum(false);
        assert!(t.admit(&accept(11, 2), 2));
    }

    #[test]
    fn disagreement_is_with_the_lowest_other_node() {
        let last: HashMap<usize, String> =
            [(0, "a".into()), (3, "b".into()), (1, "b".into())].into();
        assert_eq!(disagreeing_node(&last, 3, "b"), Some(0));
        assert_eq!(disagreeing_node(&last, 0, "a"), Some(1));
        assert_eq!(disagreeing_node(&last, 5, "c"), Some(0));
        let agree: HashMap<usize, String> = [(0, "a".into())].into();
        assert_eq!(disagreeing_node(&agree, 0, "b"), None);
    }
}
