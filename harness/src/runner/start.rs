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

/// Who proposes in this run: `--proposers`, else nodes when the node command
/// asks for `{peers}`, else the clients.
pub(super) fn proposer_mode(args: &TestArgs, node_cmd: &str) -> ProposerMode {
    args.proposers.unwrap_or(if node_cmd.contains("{peers}") {
        ProposerMode::Nodes
    } else {
        ProposerMode::Clients
    })
}

/// Words appended to every node's command: `--bug` for each node bug; when
/// the nodes propose, `--peers {peers}` (unless the template has it) and
/// `--proposer-bug` for each proposer bug.
pub(super) fn node_args(args: &TestArgs, node_cmd: &str, mode: ProposerMode) -> Vec<String> {
    let mut words: Vec<String> = args
        .bugs
        .iter()
        .flat_map(|b| ["--bug".to_string(), b.to_string()])
        .collect();
    if mode == ProposerMode::Nodes {
        if !node_cmd.contains("{peers}") {
            words.extend(["--peers".to_string(), "{peers}".to_string()]);
        }
        for bug in &args.client_bugs {
            words.extend(["--proposer-bug".to_string(), bug.to_string()]);
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

/// Starts the mesh (it only needs the nodes' ports), then the nodes; with
/// node proposers each node's peers are the mesh's listeners for its links
/// (or, with no mesh hosts, the nodes themselves). On failure nothing is
/// left running.
pub(super) async fn start_nodes(
    plan: &TestPlan,
    dir: &RunDir,
    clock: Clock,
    snapshots: JsonlWriter<Snapshot>,
    (mesh_hosts, mesh_log): (usize, JsonlWriter<Exchange>),
    mode: ProposerMode,
) -> Result<(Cluster, Mesh), Error> {
    let args = &plan.args;
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
    let peers = match mode {
        ProposerMode::Clients => Vec::new(),
        ProposerMode::Nodes if mesh_hosts >= n => peer_lists(n, |i, j| mesh.endpoint(i, j)),
        ProposerMode::Nodes => peer_lists(n, |_, j| node_addrs[j]),
    };
    let spec = ClusterSpec {
        nodes: n,
        node_cmd: plan.node_cmd.clone(),
        extra_args: node_args(args, &plan.node_cmd, mode),
        run_dir: dir.path().to_path_buf(),
        health_timeout: cluster::DEFAULT_HEALTH_TIMEOUT,
        ports,
        peers,
    };
    let data_dirs = if plan.nemesis.needs_lazyfs() {
        DataDirs::LazyFs
    } else {
        DataDirs::Plain
    };
    // On a start failure the mesh is dropped, which stops it.
    let cluster = Cluster::start_with(spec, clock, snapshots, data_dirs).await?;
    Ok((cluster, mesh))
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
        assert_eq!(proposer_mode(&args, cmd), ProposerMode::Clients);
        assert_eq!(
            proposer_mode(&args, &format!("{cmd} --peers {{peers}}")),
            ProposerMode::Nodes
        );
        assert!(node_args(&args, cmd, ProposerMode::Clients).is_empty());
        assert_eq!(
            node_args(&args, cmd, ProposerMode::Nodes),
            ["--peers", "{peers}", "--proposer-bug", "own-value"]
        );
        let own = format!("{cmd} --peers={{peers}}");
        assert_eq!(
            node_args(&args, &own, ProposerMode::Nodes),
            ["--proposer-bug", "own-value"]
        );
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
