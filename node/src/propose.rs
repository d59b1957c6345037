//! The proposer role of protocol v1.1: `POST /v1/propose` and `POST
//! /v1/read` run Basic Paxos from this node, with ballot's own
//! [`ProposerClient`], against its peers' acceptor endpoints (in a harness
//! run, proxy listeners for the links from this node to each peer).
//!
//! Requests are served concurrently. Each operation is its own proposer:
//! its ballots carry the proposer id `node + peers * n` for the operation's
//! sequence number `n`, so two operations, on this node or another, never
//! share a ballot (the lesson's "unique ballots"). Every operation starts
//! above the highest round this node has used or seen.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use ballot_core::proposer::{ClientBug, Outcome};
use ballot_core::protocol::{
    ClientReply, NodeId, ProposeRequest, ReadRequest, PROCESS_HEADER, PROPOSE_PATH, READ_PATH,
};
use rand::rngs::ChaCha8Rng;
use rand::SeedableRng;

use crate::client::{http_client, ClientConfig, ClientError, ProposerClient};

/// How a node proposes: its peers' acceptor addresses and its proposer's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposerConfig {
    /// Every acceptor, this node's own included, in node-id order.
    pub peers: Vec<SocketAddr>,
    /// Deliberate proposer bugs (`--proposer-bug`); empty for the correct one.
    pub bugs: Vec<ClientBug>,
    /// Overall time limit of one propose or read.
    pub deadline: Duration,
    /// Time limit of each request to a peer.
    pub request_timeout: Duration,
}

impl ProposerConfig {
    /// The correct proposer over `peers`: 1.5 s per operation, 500 ms per request.
    pub fn new(peers: Vec<SocketAddr>) -> ProposerConfig {
        ProposerConfig {
            peers,
            bugs: Vec::new(),
            deadline: Duration::from_millis(1500),
            request_timeout: Duration::from_millis(500),
        }
    }
}

/// Why `--peers` is not a usable peer list.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeersError {
    /// An entry is not `ID=HOST:PORT`.
    #[error("peer {0:?} is not ID=HOST:PORT (e.g. 1=127.0.0.1:7001)")]
    Malformed(String),
    /// Two entries name one id.
    #[error("peer id {0} is listed twice")]
    Duplicate(NodeId),
    /// The list is empty.
    #[error("the peer list is empty")]
    Empty,
}

/// Parses `--peers`: a comma list of `ID=HOST:PORT`, in any order; returns
/// the addresses in id order.
pub fn parse_peers(list: &str) -> Result<Vec<SocketAddr>, PeersError> {
    let mut peers: Vec<(NodeId, SocketAddr)> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let malformed = || PeersError::Malformed(entry.to_string());
        let (id, addr) = entry.split_once('=').ok_or_else(malformed)?;
        let id: NodeId = id.trim().parse().map_err(|_| malformed())?;
        let addr: SocketAddr = addr.trim().parse().map_err(|_| malformed())?;
        if peers.iter().any(|(other, _)| *other == id) {
            return Err(PeersError::Duplicate(id));
        }
        peers.push((id, addr));
    }
    if peers.is_empty() {
        return Err(PeersError::Empty);
    }
    peers.sort_by_key(|(id, _)| *id);
    Ok(peers.into_iter().map(|(_, addr)| addr).collect())
}

/// What a client asked.
enum Op {
    Propose(ProposeRequest),
    Read(ReadRequest),
}

/// The proposer role's shared state.
struct Role {
    node: NodeId,
    config: ProposerConfig,
    http: reqwest::Client,
    /// Operations started so far (each one's proposer id comes from it).
    operations: AtomicU64,
    /// The highest round any operation used or saw.
    last_round: AtomicU64,
}

/// The `/v1/propose` and `/v1/read` routes of node `node`.
pub fn router(node: NodeId, config: ProposerConfig) -> Result<Router, ClientError> {
    if config.peers.is_empty() {
        return Err(ClientError::NoAcceptors);
    }
    let role = Arc::new(Role {
        node,
        config,
        http: http_client()?,
        operations: AtomicU64::new(0),
        last_round: AtomicU64::new(0),
    });
    Ok(Router::new()
        .route(PROPOSE_PATH, post(propose))
        .route(READ_PATH, post(read))
        .with_state(role))
}

impl Role {
    /// A fresh proposer for one operation, asked by client process `process`.
    fn proposer(&self, process: u64) -> Result<ProposerClient, ClientError> {
        let n = self.operations.fetch_add(1, Ordering::Relaxed);
        let peers = self.config.peers.len() as u64;
        let proposer_id = self.node + peers * n;
        let mut config = ClientConfig::new(self.config.peers.clone(), proposer_id, process);
        config.bugs = self.config.bugs.clone();
        config.deadline = self.config.deadline;
        config.request_timeout = self.config.request_timeout;
        let rng = ChaCha8Rng::seed_from_u64(proposer_id);
        let mut client = ProposerClient::with_http(self.http.clone(), config, rng)?;
        client.set_last_round(self.last_round.load(Ordering::Relaxed));
        Ok(client)
    }

    /// Runs one operation and answers with its outcome.
    async fn answer(&self, headers: &HeaderMap, op: Op) -> Response {
        let process = headers
            .get(PROCESS_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut client = match self.proposer(process) {
            Ok(client) => client,
            Err(e) => return reply(&Outcome::Fail(e.to_string())),
        };
        let outcome = match &op {
            Op::Propose(req) => client.propose(&req.key, &req.value).await,
            Op::Read(req) => client.read(&req.key).await,
        };
        self.last_round
            .fetch_max(client.last_round(), Ordering::Relaxed);
        reply(&outcome)
    }
}

/// `200` with the value, or `503` saying whether the failure is definite.
fn reply(outcome: &Outcome) -> Response {
    let status = match outcome {
        Outcome::Ok(_) => StatusCode::OK,
        Outcome::Fail(_) | Outcome::Info(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(ClientReply::of(outcome))).into_response()
}

/// A body that does not parse: `400`, definitely without effect.
fn bad_request(e: &serde_json::Error) -> Response {
    let outcome = Outcome::Fail(format!("invalid request body: {e}"));
    (StatusCode::BAD_REQUEST, Json(ClientReply::of(&outcome))).into_response()
}

async fn propose(
    State(role): State<Arc<Role>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let req: ProposeRequest = match serde_json::from_slice(&body) {
        Ok(req) => req,
        Err(e) => return bad_request(&e),
    };
    role.answer(&headers, Op::Propose(req)).await
}

async fn read(
    State(role): State<Arc<Role>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let req: ReadRequest = match serde_json::from_slice(&body) {
        Ok(req) => req,
        Err(e) => return bad_request(&e),
    };
    role.answer(&headers, Op::Read(req)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_in_id_order() {
        let peers = parse_peers("2=127.0.0.1:7002, 0=127.0.0.1:7000,1=127.0.0.1:7001").unwrap();
        let ports: Vec<u16> = peers.iter().map(SocketAddr::port).collect();
        assert_eq!(ports, vec![7000, 7001, 7002]);
        assert_eq!(
            parse_peers("0=127.0.0.1:1,0=127.0.0.1:2"),
            Err(PeersError::Duplicate(0))
        );
        assert_eq!(
            parse_peers("0=localhost"),
            Err(PeersError::Malformed("0=localhost".into()))
        );
        assert_eq!(parse_peers(" , "), Err(PeersError::Empty));
    }

    #[test]
    fn operations_never_share_a_proposer_id() {
        let peers = parse_peers("0=127.0.0.1:1,1=127.0.0.1:2,2=127.0.0.1:3").unwrap();
        let roles: Vec<Role> = (0..3)
            .map(|node| Role {
                node,
                config: ProposerConfig::new(peers.clone()),
                http: http_client().unwrap(),
                operations: AtomicU64::new(0),
                last_round: AtomicU64::new(0),
            })
            .collect();
        let mut ids = std::collections::BTreeSet::new();
        for _ in 0..10 {
            for role in &roles {
                assert!(ids.insert(role.proposer(1).unwrap().config().proposer_id));
            }
        }
        assert_eq!(ids.len(), 30);
    }
}
