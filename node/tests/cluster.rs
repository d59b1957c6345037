//! Proposers ([`ProposerClient`]) against real acceptor processes on loopback.
//!
//! # Layout
//!
//! - agreement: many concurrent proposers on one key (3 and 5 nodes), and
//!   many keys at once, all agree on one proposed value per key.
//! - availability: a minority down does not stop a quorum, a paused node
//!   does not delay one; a 4-node cluster needs 3.
//! - reads: nothing on a fresh key, the chosen value after a propose, and
//!   never an unchosen leftover.
//! - restart: kill -9 and restart keeps promises and acceptances, seen
//!   through proposers using a different quorum; the memory-only node bug
//!   loses the value in the same script (so the check has teeth).
//! - foreign acceptor: the same checks against `examples/python-acceptor`.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ballot_core::proposer::Outcome;
use ballot_core::protocol::{AcceptRequest, Ballot, StateReply, ACCEPT_PATH, STATE_PATH};
use ballot_node::client::{http_client, ClientConfig, ProposerClient};
use common::{free_port, NodeProcess, START_TIMEOUT};
use rand::rngs::ChaCha8Rng;
use rand::SeedableRng;
use tempfile::TempDir;

/// Something that serves the acceptor protocol and can be killed and restarted.
trait Acceptor {
    fn addr(&self) -> SocketAddr;
    fn kill(&mut self);
    fn restart(&mut self);
}

impl Acceptor for NodeProcess {
    fn addr(&self) -> SocketAddr {
        NodeProcess::addr(self)
    }
    fn kill(&mut self) {
        NodeProcess::kill(self)
    }
    fn restart(&mut self) {
        NodeProcess::restart(self)
    }
}

/// A cluster of acceptor processes with their data dirs; dropping it kills
/// and reaps every process (fields drop in order: processes, then dirs).
struct Cluster<A: Acceptor> {
    nodes: Vec<A>,
    _dirs: Vec<TempDir>,
}

impl Cluster<NodeProcess> {
    /// `n` ballot-node processes, ids `0..n`, each with `node_args`.
    fn ballot_nodes(n: u64, node_args: &[&str]) -> Self {
        let dirs: Vec<TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let nodes = dirs
            .iter()
            .enumerate()
            .map(|(id, dir)| NodeProcess::start(id as u64, dir.path(), node_args))
            .collect();
        Cluster { nodes, _dirs: dirs }
    }
}

impl<A: Acceptor> Cluster<A> {
    fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(A::addr).collect()
    }

    /// A correct proposer with a generous budget (contention needs rounds).
    fn proposer(&self, http: &reqwest::Client, id: u64) -> ProposerClient {
        let mut config = ClientConfig::new(self.addrs(), id, id);
        config.request_timeout = Duration::from_secs(2);
        config.max_attempts = 100;
        config.deadline = Duration::from_secs(30);
        ProposerClient::with_http(http.clone(), config, ChaCha8Rng::seed_from_u64(id)).unwrap()
    }
}

/// Runs one propose per `(proposer id, key, value)` concurrently.
async fn propose_all<A: Acceptor>(
    cluster: &Cluster<A>,
    http: &reqwest::Client,
    ops: Vec<(u64, String, String)>,
) -> Vec<(String, String, Outcome)> {
    let mut tasks = tokio::task::JoinSet::new();
    for (id, key, value) in ops {
        let mut proposer = cluster.proposer(http, id);
        tasks.spawn(async move {
            let outcome = proposer.propose(&key, &value).await;
            (key, value, outcome)
        });
    }
    let mut results = Vec::new();
    while let Some(result) = tasks.join_next().await {
        results.push(result.expect("proposer task"));
    }
    results
}

/// Every proposer of `key` returned ok with one value, which one of them proposed.
fn assert_agreement(key: &str, results: &[(String, String, Outcome)]) -> String {
    let of_key: Vec<_> = results.iter().filter(|(k, _, _)| k == key).collect();
    assert!(!of_key.is_empty(), "no proposals for {key}");
    let chosen: Vec<&str> = of_key
        .iter()
        .map(|(_, _, outcome)| match outcome {
            Outcome::Ok(Some(value)) => value.as_str(),
            other => panic!("key {key}: a proposer did not succeed: {other:?}"),
        })
        .collect();
    assert!(
        chosen.iter().all(|v| *v == chosen[0]),
        "key {key}: proposers disagree: {chosen:?}"
    );
    assert!(
        of_key.iter().any(|(_, proposed, _)| proposed == chosen[0]),
        "key {key}: chosen {:?} was never proposed",
        chosen[0]
    );
    chosen[0].to_string()
}

fn one_key_ops(key: &str, proposers: u64) -> Vec<(u64, String, String)> {
    (1..=proposers)
        .map(|id| (id, key.to_string(), format!("v{id}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_twelve_concurrent_proposers_agree() {
    let cluster = Cluster::ballot_nodes(3, &[]);
    let http = http_client().unwrap();
    let results = propose_all(&cluster, &http, one_key_ops("x", 12)).await;
    let chosen = assert_agreement("x", &results);
    let mut reader = cluster.proposer(&http, 99);
    assert_eq!(reader.read("x").await, Outcome::Ok(Some(chosen)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_sixteen_concurrent_proposers_agree() {
    let cluster = Cluster::ballot_nodes(5, &[]);
    let http = http_client().unwrap();
    let results = propose_all(&cluster, &http, one_key_ops("x", 16)).await;
    let chosen = assert_agreement("x", &results);
    let mut reader = cluster.proposer(&http, 99);
    assert_eq!(reader.read("x").await, Outcome::Ok(Some(chosen)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_keys_at_once_each_key_agrees() {
    let cluster = Cluster::ballot_nodes(3, &[]);
    let http = http_client().unwrap();
    let keys: Vec<String> = (0..10).map(|k| format!("key-{k}")).collect();
    let ops = keys
        .iter()
        .enumerate()
        .flat_map(|(k, key)| {
            (1..=4u64).map(move |p| (k as u64 * 10 + p, key.clone(), format!("{key}/v{p}")))
        })
        .collect();
    let results = propose_all(&cluster, &http, ops).await;
    assert_eq!(results.len(), 40);
    for key in &keys {
        let chosen = assert_agreement(key, &results);
        assert!(
            chosen.starts_with(&format!("{key}/")),
            "{key} chose {chosen}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_down_does_not_stop_a_quorum() {
    let mut cluster = Cluster::ballot_nodes(5, &[]);
    cluster.nodes[1].kill();
    cluster.nodes[3].kill();
    let http = http_client().unwrap();
    let results = propose_all(&cluster, &http, one_key_ops("x", 8)).await;
    let chosen = assert_agreement("x", &results);
    let mut reader = cluster.proposer(&http, 99);
    assert_eq!(reader.read("x").await, Outcome::Ok(Some(chosen)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_node_does_not_delay_a_quorum() {
    let cluster = Cluster::ballot_nodes(3, &[]);
    // SIGSTOP: the kernel still accepts its connections, it never answers.
    cluster.nodes[2].pause();
    let http = http_client().unwrap();
    let mut config = ClientConfig::new(cluster.addrs(), 1, 1);
    config.request_timeout = Duration::from_secs(20);
    config.deadline = Duration::from_secs(60);
    let mut proposer =
        ProposerClient::with_http(http, config, ChaCha8Rng::seed_from_u64(1)).unwrap();
    let started = Instant::now();
    assert_eq!(
        proposer.propose("x", "a").await,
        Outcome::Ok(Some("a".into()))
    );
    assert_eq!(proposer.read("x").await, Outcome::Ok(Some("a".into())));
    // Waiting for the paused node would take a whole request timeout (20 s).
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited for a straggler: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_need_three() {
    let mut cluster = Cluster::ballot_nodes(4, &[]);
    let http = http_client().unwrap();
    cluster.nodes[2].kill();
    cluster.nodes[3].kill();
    let mut config = ClientConfig::new(cluster.addrs(), 1, 1);
    config.max_attempts = 3;
    let mut proposer =
        ProposerClient::with_http(http.clone(), config, ChaCha8Rng::seed_from_u64(1)).unwrap();
    // At most two of four can promise; the other two refuse connections
    // (certainly not delivered), so no accept is ever sent and the failure
    // is certain. (How many promises
    // arrived before the refusals ended each attempt depends on timing.)
    let outcome = proposer.propose("x", "a").await;
    let Outcome::Fail(why) = &outcome else {
        panic!("expected a definite failure, got {outcome:?}");
    };
    assert!(
        why.starts_with("no quorum in 3 attempts (prepare 3.1: ")
            && why.ends_with(
                " 0 rejected, 0 no answer, 2 not delivered of 4 (quorum 3)); \
                 no accept request was sent"
            ),
        "{why}"
    );
    cluster.nodes[2].restart();
    assert_eq!(
        proposer.propose("x", "b").await,
        Outcome::Ok(Some("b".into()))
    );
    assert_eq!(proposer.read("x").await, Outcome::Ok(Some("b".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_return_nothing_or_a_chosen_value() {
    let cluster = Cluster::ballot_nodes(3, &[]);
    let http = http_client().unwrap();
    let mut p = cluster.proposer(&http, 1);
    assert_eq!(p.read("fresh").await, Outcome::Ok(None));
    assert_eq!(p.propose("k", "v").await, Outcome::Ok(Some("v".into())));
    assert_eq!(p.read("k").await, Outcome::Ok(Some("v".into())));
    assert_eq!(p.propose("k", "w").await, Outcome::Ok(Some("v".into())));

    // S10: node 0 alone holds an unchosen leftover. A read may report it
    // only after getting it chosen; then every later op agrees.
    let leftover = AcceptRequest {
        key: "s10".into(),
        ballot: Ballot::new(1, 50),
        value: "leftover".into(),
    };
    let reply = http
        .post(format!("http://{}{ACCEPT_PATH}", cluster.nodes[0].addr()))
        .json(&leftover)
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success());
    let mut reader = cluster.proposer(&http, 2);
    let read = reader.read("s10").await;
    let chosen = p.propose("s10", "mine").await;
    match (&read, &chosen) {
        (Outcome::Ok(Some(r)), Outcome::Ok(Some(c))) => assert_eq!(r, c),
        (Outcome::Ok(None), Outcome::Ok(Some(c))) => {
            assert!(c == "leftover" || c == "mine", "{c}")
        }
        other => panic!("unexpected outcomes {other:?}"),
    }
    assert_eq!(reader.read("s10").await, chosen);
}

/// State of one node for one key: (promised, accepted).
async fn key_state(
    http: &reqwest::Client,
    addr: SocketAddr,
    key: &str,
) -> (Option<Ballot>, Option<(Ballot, String)>) {
    let state: StateReply = http
        .get(format!("http://{addr}{STATE_PATH}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let instance = state.instances.get(key).cloned().unwrap_or_default();
    (
        instance.promised,
        instance.accepted.map(|a| (a.ballot, a.value)),
    )
}

/// Chooses "before" on nodes {0,1} (2 down), kill -9 + restart node 0,
/// then proposes "after" through {0,2} (1 down, 2 empty). Returns the
/// second outcome and node 0's (promised, accepted) before and after.
async fn restart_script<A: Acceptor>(
    cluster: &mut Cluster<A>,
) -> (
    Outcome,
    (Option<Ballot>, Option<(Ballot, String)>),
    (Option<Ballot>, Option<(Ballot, String)>),
) {
    let http = http_client().unwrap();
    cluster.nodes[2].kill();
    let mut first = cluster.proposer(&http, 1);
    assert_eq!(
        first.propose("k", "before").await,
        Outcome::Ok(Some("before".into()))
    );
    let before = key_state(&http, cluster.nodes[0].addr(), "k").await;
    assert_eq!(before.1.as_ref().map(|a| a.1.as_str()), Some("before"));
    cluster.nodes[0].kill(); // SIGKILL
    cluster.nodes[0].restart();
    let after = key_state(&http, cluster.nodes[0].addr(), "k").await;
    cluster.nodes[1].kill();
    cluster.nodes[2].restart();
    // A fresh proposer (round floor 0) through the quorum {0, 2}.
    let mut second = cluster.proposer(&http, 2);
    (second.propose("k", "after").await, before, after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_restart_keeps_promises_and_acceptances() {
    let mut cluster = Cluster::ballot_nodes(3, &[]);
    let (outcome, before, after) = restart_script(&mut cluster).await;
    assert_eq!(after, before, "node 0 state changed across kill -9");
    assert_eq!(outcome, Outcome::Ok(Some("before".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restart_script_catches_a_memory_only_node() {
    let mut cluster = Cluster::ballot_nodes(3, &["--bug", "memory-only"]);
    let (outcome, before, after) = restart_script(&mut cluster).await;
    assert_ne!(after, before);
    assert_eq!(after, (None, None));
    // The chosen "before" is lost: a second value gets chosen.
    assert_eq!(outcome, Outcome::Ok(Some("after".into())));
}

// ----- the Python example acceptor ---------------------------------------

/// A `python3 examples/python-acceptor/acceptor.py` process; killed and
/// reaped on drop.
struct PythonAcceptor {
    id: u64,
    port: u16,
    data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl PythonAcceptor {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python-acceptor/acceptor.py")
    }

    fn available() -> bool {
        Command::new("python3")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn start(id: u64, data_dir: &Path, log: PathBuf) -> Self {
        let mut node = PythonAcceptor {
            id,
            port: free_port(),
            data_dir: data_dir.to_owned(),
            log,
            child: None,
        };
        node.restart();
        node
    }
}

impl Acceptor for PythonAcceptor {
    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "python acceptor {} is running",
            self.id
        );
        let offset = std::fs::metadata(&self.log).map_or(0, |m| m.len()) as usize;
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new("python3")
            .arg(Self::script())
            .args(["--id", &self.id.to_string()])
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn python3");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if log
                .get(offset..)
                .is_some_and(|new| new.contains("listening on "))
            {
                return;
            }
            let exited = self.child.as_mut().unwrap().try_wait().ok().flatten();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "python acceptor {} did not start ({exited:?}); stderr:\n{log}",
                self.id
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for PythonAcceptor {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Cluster<PythonAcceptor> {
    fn python(n: u64) -> Self {
        let dirs: Vec<TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let nodes = dirs
            .iter()
            .enumerate()
            .map(|(id, dir)| {
                let data = dir.path().join("data");
                PythonAcceptor::start(id as u64, &data, dir.path().join("stderr.log"))
            })
            .collect();
        Cluster { nodes, _dirs: dirs }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_acceptors_choose_one_value() {
    if !PythonAcceptor::available() {
        eprintln!("SKIPPED python_acceptors_choose_one_value: python3 is not on PATH");
        return;
    }
    let cluster = Cluster::python(3);
    let http = http_client().unwrap();
    let mut reader = cluster.proposer(&http, 99);
    assert_eq!(reader.read("x").await, Outcome::Ok(None));
    let results = propose_all(&cluster, &http, one_key_ops("x", 8)).await;
    let chosen = assert_agreement("x", &results);
    assert_eq!(reader.read("x").await, Outcome::Ok(Some(chosen)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_acceptor_survives_kill_9() {
    if !PythonAcceptor::available() {
        eprintln!("SKIPPED python_acceptor_survives_kill_9: python3 is not on PATH");
        return;
    }
    let mut cluster = Cluster::python(3);
    let (outcome, before, after) = restart_script(&mut cluster).await;
    assert_eq!(after, before, "python node 0 state changed across kill -9");
    assert_eq!(outcome, Outcome::Ok(Some("before".into())));
}
