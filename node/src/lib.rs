//! ballot-node: the Basic Paxos node under test, and the async driver of
//! ballot's proposer. The pure roles and the wire types live in
//! [`ballot_core`]; this crate adds the I/O around them.
//!
//! # Layout
//!
//! - [`storage`]: the durable, checksummed, group-committed log behind the acceptor.
//! - [`server`]: the axum HTTP server that serves the acceptor endpoints.
//! - [`client`]: the async HTTP driver that runs a proposer against acceptors.
//! - [`propose`]: the proposer role of protocol v1.1 (`/v1/propose`, `/v1/read` against `--peers`).
//!
//! # Example
//!
//! Three acceptors on loopback (each with its own durable log), and one
//! proposer that gets a value chosen and reads it back:
//!
//! ```
//! use ballot_core::proposer::Outcome;
//! use ballot_node::{run, ClientConfig, ProposerClient, ServerConfig};
//! use rand::SeedableRng;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let dir = tempfile::tempdir().unwrap();
//! let (stop, stopped) = tokio::sync::watch::channel(false);
//! let mut acceptors = Vec::new();
//! for id in 0..3 {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     acceptors.push(listener.local_addr().unwrap());
//!     let config = ServerConfig::new(id, dir.path().join(id.to_string()));
//!     let mut stopped = stopped.clone();
//!     let shutdown = async move { let _ = stopped.wait_for(|s| *s).await; };
//!     tokio::spawn(run(listener, config, shutdown));
//! }
//! let rng = rand::rngs::ChaCha8Rng::seed_from_u64(1);
//! let mut proposer = ProposerClient::new(ClientConfig::new(acceptors, 1, 1), rng).unwrap();
//! assert_eq!(proposer.propose("x", "v1").await, Outcome::Ok(Some("v1".into())));
//! assert_eq!(proposer.propose("x", "v2").await, Outcome::Ok(Some("v1".into())));
//! assert_eq!(proposer.read("x").await, Outcome::Ok(Some("v1".into())));
//! stop.send_replace(true);
//! # }
//! ```

pub mod client;
pub mod propose;
pub mod server;
pub mod storage;

pub use client::{http_client, ClientConfig, ClientError, ProposerClient};
pub use propose::{parse_peers, ProposerConfig};
pub use server::{run, Node, NodeError, ServerConfig};
pub use storage::{Storage, StorageConfig, StorageError};
