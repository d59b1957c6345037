//! Starting a run's nodes and proxy mesh: who proposes, the nodes' extra
//! flags, and (when the nodes propose) each node's `{peers}`, the mesh's
//! listeners for the links from that node.

use std::net::SocketAddr;

use ballot_core::records::{Exchange, Snapshot};

use super::{DataDirs, TestArgs, TestPlan};
use crate::clients::ProposerMode;
use crate::clock::Clock;
use crate::cluster::{self, Cluster, ClusterSpec};
use crate::proxy::Mesh;
use crate::store::{JsonlWriter, RunDir};
use crate::Error;

/// How many times the mesh is started before its listeners leave every
/// node's port free (a clash is rare: the system rarely reuses a port at once).
const MESH_ATTEMPTS: u32 = 5;

/// Whether the nodes are given their peers: `--proposers nodes`, or a node
/// command that asks for `{peers}` (then `/v1/health` says who proposes).
pub(super) fn offers_peers(args: &TestArgs, node_cmd: &str) -> bool {
    args.proposers == Some(ProposerMode::Nodes) || node_cmd.contains("{peers}")
}

/// Who proposes in this run: `--proposers` when given; else the nodes when
/// they were given peers and every one lists the proposer role in its
/// `/v1/health` (`all_propose`), else ballot's clients.
pub(super) fn proposer_mode(
    args: &TestArgs,
    offered_peers: bool,
    all_propose: bool,
) -> ProposerMode {
    match args.proposers {
        Some(mode) => mode,
        None if offered_peers && all_propose => ProposerMode::Nodes,
        None => ProposerMode::Clients,
    }
}

/// Words appended to every node's command: `--bug` for each node bug; when
/// the nodes are given peers, `--peers {peers}` (unless the template has it)
/// and, unless `--proposers clients`, `--proposer-bug` for each proposer bug.
pub(super) fn node_args(args: &TestArgs, node_cmd: &str) -> Vec<String> {
    let mut words: Vec<String> = args
        .bugs
        .iter()
        .flat_map(|b| ["--bug".to_string(), b.to_string()])
        .collect();
    if offers_peers(args, node_cmd) {
        if !node_cmd.contains("{peers}") {
            words.extend(["--peers".to_string(), "{peers}".to_string()]);
        }
        if args.proposers != Some(ProposerMode::Clients) {
            for bug in &args.client_bugs {
                words.extend(["--proposer-bug".to_string(), bug.to_string()]);
            }
        }
    }
    words
}

/// Node `i`'s `{peers}`: `j=ADDR` for every node `j`, where `endpoint(i, j)`
/// is the address node `i` reaches node `j` at.
pub(super) fn peer_lists(n: usize, endpoint: impl Fn(usize, usize) -> SocketAddr) -> Vec<String> {
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| format!("{j}={}", endpoint(i, j)))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// Starts the mesh (it only needs the nodes' ports), then the nodes, and
/// says who proposes; nodes given peers get the mesh's listeners for their
/// links (or, with no mesh hosts, the nodes themselves). On failure nothing
/// is left running.
pub(super) async fn start_nodes(
    plan: &TestPlan,
    dir: &RunDir,
    clock: Clock,
    snapshots: JsonlWriter<Snapshot>,
    (mesh_hosts, mesh_log): (usize, JsonlWriter<Exchange>),
) -> Result<(Cluster, Mesh, ProposerMode), Error> {
    let args = &plan.args;
    let offered = offers_peers(args, &plan.node_cmd);
    let n = args.nodes as usize;
    // The mesh binds its listeners on ports the system picks, after the
    // nodes' ports were picked and released: it may get one of them. Such a
    // mesh is dropped and another one started (bounded).
    let mut attempt = 0;
    let (ports, node_addrs, mesh) = loop {
        attempt += 1;
        let ports: Vec<u16> = match args.base_port {
            Some(base) => (0..n as u16).map(|i| base + i).collect(),
            None => cluster::free_ports(n).map_err(|source| Error::Io {
                what: "picking free ports for the nodes".into(),
                source,
            })?,
        };
        let node_addrs: Vec<SocketAddr> = ports
            .iter()
            .map(|&port| SocketAddr::from(([127, 0, 0, 1], port)))
            .collect();
        let mesh = Mesh::start(
            mesh_hosts,
            node_addrs.clone(),
            clock,
            mesh_log.clone(),
            plan.seed,
        )
        .await
        .map_err(Error::Mesh)?;
        let taken = (0..mesh_hosts)
            .flat_map(|h| mesh.endpoints_for(h))
            .any(|e| ports.contains(&e.port()));
        if !taken || attempt == MESH_ATTEMPTS {
            break (ports, node_addrs, mesh);
        }
        tracing::debug!(
            attempt,
            "a proxy listener took a node's port; starting the mesh again"
        );
    };
    let peers = if !offered {
        Vec::new()
    } else if mesh_hosts >= n {
        peer_lists(n, |i, j| mesh.endpoint(i, j))
    } else {
        peer_lists(n, |_, j| node_addrs[j])
    };
    let spec = ClusterSpec {
        nodes: n,
        node_cmd: plan.node_cmd.clone(),
        extra_args: node_args(args, &plan.node_cmd),
        run_dir: dir.path().to_path_buf(),
        health_timeout: cluster::DEFAULT_HEALTH_TIMEOUT,
        ports,
        peers,
        require_proposer: args.proposers == Some(ProposerMode::Nodes),
        lenient_health: false,
    };
    let data_dirs = if plan.nemesis.needs_lazyfs() {
        DataDirs::LazyFs
    } else {
        DataDirs::Plain
    };
    // On a start failure the mesh is dropped, which stops it.
    let cluster = Cluster::start_with(spec, clock, snapshots, data_dirs).await?;
    let mode = proposer_mode(args, offered, cluster.all_propose());
    if offered && mode == ProposerMode::Clients && args.proposers.is_none() {
        super::output::say(
            "note: the nodes were given {peers} but their /v1/health does not list the \
             proposer role; ballot's clients propose (protocol v1)\n",
        );
    }
    Ok((cluster, mesh, mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::default_test_args;

    #[test]
    fn nodes_that_propose_get_peers_and_the_proposer_bugs() {
        let mut args = default_test_args();
        args.client_bugs = vec![ballot_core::proposer::ClientBug::OwnValue];
        let cmd = "ballot-node --id {id} --listen 127.0.0.1:{port} --data-dir {data_dir}";
        let own = format!("{cmd} --peers={{peers}}");
        assert!(!offers_peers(&args, cmd));
        assert!(offers_peers(&args, &own));
        assert!(node_args(&args, cmd).is_empty());
        assert_eq!(node_args(&args, &own), ["--proposer-bug", "own-value"]);
        // Nodes given peers propose only when their health says so.
        assert_eq!(proposer_mode(&args, true, true), ProposerMode::Nodes);
        assert_eq!(proposer_mode(&args, true, false), ProposerMode::Clients);
        assert_eq!(proposer_mode(&args, false, true), ProposerMode::Clients);
        args.proposers = Some(ProposerMode::Nodes);
        assert!(offers_peers(&args, cmd));
        assert_eq!(
            node_args(&args, cmd),
            ["--peers", "{peers}", "--proposer-bug", "own-value"]
        );
        assert_eq!(proposer_mode(&args, true, false), ProposerMode::Nodes);
        // Forced clients: the nodes still get their peers, not the bugs.
        args.proposers = Some(ProposerMode::Clients);
        assert_eq!(node_args(&args, &own), Vec::<String>::new());
        assert_eq!(proposer_mode(&args, true, true), ProposerMode::Clients);
    }

    #[test]
    fn each_node_lists_every_node_at_its_own_link() {
        let addr =
            |i: usize, j: usize| SocketAddr::from(([127, 0, 0, 1], (9000 + 10 * i + j) as u16));
        assert_eq!(
            peer_lists(2, addr),
            [
                "0=127.0.0.1:9000,1=127.0.0.1:9001",
                "0=127.0.0.1:9010,1=127.0.0.1:9011"
            ]
        );
    }
}
