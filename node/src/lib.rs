//! ballot-node: the Basic Paxos node under test, and the async driver of
//! ballot's proposer. The pure roles and the wire types live in
//! [`ballot_core`]; this crate adds the I/O around them.
//!
//! # Layout
//!
//! - [`storage`]: the durable, checksummed, group-committed log behind the acceptor.
//! - [`server`]: the axum HTTP server that serves the acceptor endpoints.
//! - [`client`]: the async HTTP driver that runs a proposer against acceptors.

pub mod client;
pub mod server;
pub mod storage;
