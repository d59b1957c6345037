//! ballot-node: the Basic Paxos implementation under test.
//!
//! # Layout
//!
//! - [`protocol`]: wire types of acceptor protocol v1 (`Ballot`, requests, replies).
//! - [`acceptor`]: the acceptor as a pure state machine (Lamport's P1a, P2b).
//! - [`storage`]: the durable, checksummed, group-committed log behind it.
//! - [`server`]: the axum HTTP server that serves the acceptor endpoints.
//! - [`bugs`]: the catalogue of deliberately broken node variants (`--bug`).
//! - [`proposer`]: the proposer as pure logic (ballots, quorums, value choice).
//! - [`client`]: the async HTTP driver that runs a proposer against acceptors.

pub mod acceptor;
pub mod bugs;
pub mod client;
pub mod proposer;
pub mod protocol;
pub mod server;
pub mod storage;
