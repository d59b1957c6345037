//! The proposer role of protocol v1.1 on real `ballot-node` processes that
//! talk to each other directly on loopback (`--peers`).
//!
//! - agreement: proposes through different nodes choose one value, and
//!   reads through any node return it; health lists both roles.
//! - concurrency: many concurrent proposes through all nodes agree.
//! - v1: a node without `--peers` has no proposer endpoints and says so.
//! - teeth: `--proposer-bug own-value` makes two nodes choose two values.

mod common;

use ballot_core::protocol::{ClientReply, HealthReply, Role, HEALTH_PATH, PROPOSE_PATH, READ_PATH};
use common::{free_port, http_client, NodeProcess};
use serde_json::json;
use tempfile::TempDir;

/// `n` nodes on fixed ports, each given every node (itself included) as peers.
struct Peers {
    nodes: Vec<NodeProcess>,
    _dirs: Vec<TempDir>,
}

impl Peers {
    fn start(n: u64, args_of: impl Fn(u64) -> Vec<String>) -> Peers {
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let peers = ports
            .iter()
            .enumerate()
            .map(|(id, port)| format!("{id}=127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",");
        let dirs: Vec<TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let nodes = (0..n)
            .map(|id| {
                let mut args = vec!["--peers".to_string(), peers.clone()];
                args.extend(args_of(id));
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                NodeProcess::start_on(id, ports[id as usize], dirs[id as usize].path(), &args)
            })
            .collect();
        Peers { nodes, _dirs: dirs }
    }

    async fn call(&self, node: usize, path: &str, body: serde_json::Value) -> (u16, ClientReply) {
        let response = http_client()
            .post(self.nodes[node].url(path))
            .json(&body)
            .send()
            .await
            .expect("the node answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a ClientReply body"))
    }

    async fn propose(&self, node: usize, key: &str, value: &str) -> (u16, ClientReply) {
        self.call(node, PROPOSE_PATH, json!({"key": key, "value": value}))
            .await
    }

    async fn read(&self, node: usize, key: &str) -> (u16, ClientReply) {
        self.call(node, READ_PATH, json!({"key": key})).await
    }
}

fn chosen(value: &str) -> ClientReply {
    ClientReply {
        ok: true,
        value: Some(value.into()),
        definite: None,
        error: None,
    }
}

#[tokio::test]
async fn proposes_through_any_node_choose_one_value() {
    let cluster = Peers::start(3, |_| Vec::new());
    let health: HealthReply = http_client()
        .get(cluster.nodes[1].url(HEALTH_PATH))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health.roles, vec![Role::Acceptor, Role::Proposer]);

    let (status, none) = cluster.read(2, "x").await;
    assert_eq!((status, none.ok, none.value), (200, true, None));
    assert_eq!(cluster.propose(0, "x", "a").await, (200, chosen("a")));
    // A later propose through another node adopts the chosen value.
    assert_eq!(cluster.propose(1, "x", "b").await, (200, chosen("a")));
    for node in 0..3 {
        assert_eq!(cluster.read(node, "x").await, (200, chosen("a")));
    }
}

#[tokio::test]
async fn concurrent_proposes_through_every_node_agree() {
    let cluster = std::sync::Arc::new(Peers::start(3, |_| Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..12usize {
        let cluster = cluster.clone();
        tasks.push(tokio::spawn(async move {
            cluster.propose(i % 3, "k", &format!("v{i}")).await
        }));
    }
    let mut values = std::collections::BTreeSet::new();
    for task in tasks {
        let (status, reply) = task.await.unwrap();
        if status == 200 {
            values.insert(reply.value.unwrap());
        } else {
            assert_eq!(status, 503, "{reply:?}");
            assert!(!reply.ok && reply.definite.is_some(), "{reply:?}");
        }
    }
    assert_eq!(
        values.len(),
        1,
        "every successful propose returns one value: {values:?}"
    );
    let (_, read) = cluster.read(0, "k").await;
    assert_eq!(read.value.as_ref(), values.first());
}

#[tokio::test]
async fn a_v1_node_has_no_proposer_role() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::start(0, dir.path(), &[]);
    let http = http_client();
    let health: HealthReply = http
        .get(node.url(HEALTH_PATH))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health.roles, vec![Role::Acceptor]);
    let propose = http
        .post(node.url(PROPOSE_PATH))
        .json(&json!({"key": "x", "value": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(propose.status().as_u16(), 404);
}

#[tokio::test]
async fn a_malformed_propose_is_a_definite_400() {
    let cluster = Peers::start(1, |_| Vec::new());
    let (status, reply) = cluster.call(0, PROPOSE_PATH, json!({"key": "x"})).await;
    assert_eq!((status, reply.ok, reply.definite), (400, false, Some(true)));
}

#[tokio::test]
async fn the_own_value_bug_chooses_two_values() {
    // Node 1 proposes its own value whatever the promises report.
    let cluster = Peers::start(3, |id| {
        if id == 1 {
            vec!["--proposer-bug".into(), "own-value".into()]
        } else {
            Vec::new()
        }
    });
    assert_eq!(cluster.propose(0, "x", "a").await, (200, chosen("a")));
    assert_eq!(cluster.propose(1, "x", "b").await, (200, chosen("b")));
}
