//! `ballot-node`: serves acceptor protocol v1 over HTTP, and with `--peers`
//! the proposer role of v1.1 (see `docs/protocol.md`).
//!
//! Thin wrapper: parses flags, sets up logging to stderr, binds the listener,
//! recovers the log, prints `listening on ADDR` to stderr and serves until
//! SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ballot_core::bugs::{BugSet, NodeBug};
use ballot_core::proposer::ClientBug;
use ballot_node::propose::{parse_peers, ProposerConfig};
use ballot_node::server::{Node, ServerConfig};
use ballot_node::storage::DEFAULT_COMPACT_BYTES;
use clap::Parser;

/// A durable Basic Paxos acceptor over HTTP (protocol v1); with --peers also
/// a proposer (protocol v1.1: /v1/propose, /v1/read).
#[derive(Debug, Parser)]
#[command(name = "ballot-node", version)]
struct Args {
    /// This node's id, reported by /v1/state and /v1/health.
    #[arg(long)]
    id: u64,
    /// Address to listen on (use loopback).
    #[arg(long, default_value = "127.0.0.1:7000")]
    listen: SocketAddr,
    /// Directory of the durable log; created if missing. Reuse it on restart.
    #[arg(long)]
    data_dir: PathBuf,
    /// Run with a deliberate bug (repeatable or comma-separated). One of:
    /// reply-before-durable, memory-only, promise-only, accept-below-promise,
    /// accept-keeps-promise, prepare-reports-first.
    #[arg(long = "bug", value_name = "NAME", value_delimiter = ',')]
    bugs: Vec<NodeBug>,
    /// Serve the proposer role against these acceptors: a comma list of
    /// ID=HOST:PORT, this node included (the harness's {peers}).
    #[arg(long, value_name = "LIST", value_parser = parse_peers)]
    peers: Option<std::vec::Vec<SocketAddr>>,
    /// Give the proposer role a deliberate bug (repeatable or comma-separated):
    /// own-value, most-frequent, same-ballot, half-quorum, minority-fail,
    /// read-no-phase2, learn-first-accept.
    #[arg(
        long = "proposer-bug",
        value_name = "NAME",
        value_delimiter = ',',
        requires = "peers"
    )]
    proposer_bugs: Vec<ClientBug>,
    /// Time limit of one propose or read, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1500, requires = "peers")]
    propose_timeout_ms: u64,
    /// Compact the log once it grows past this many bytes.
    #[arg(long, default_value_t = DEFAULT_COMPACT_BYTES, hide = true)]
    compact_bytes: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ballot-node: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ballot-node: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let config = ServerConfig {
        node_id: args.id,
        data_dir: args.data_dir,
        bugs: BugSet::of(&args.bugs),
        compact_bytes: args.compact_bytes,
        proposer: args.peers.map(|peers| {
            let mut p = ProposerConfig::new(peers);
            p.bugs = args.proposer_bugs;
            p.deadline = std::time::Duration::from_millis(args.propose_timeout_ms);
            p.request_timeout = p.request_timeout.min(p.deadline);
            p
        }),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    if let Some(p) = &config.proposer {
        tracing::info!(peers = ?p.peers, bugs = ?p.bugs, deadline = ?p.deadline, "proposer role");
    }
    let node = Node::open(config)?;
    let addr = listener.local_addr().context("reading the bound address")?;
    eprintln!("listening on {addr}");
    node.serve(listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot handle SIGTERM");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
    }
}
