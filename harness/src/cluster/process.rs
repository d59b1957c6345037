//! Process control: spawning a node, waiting for its health, killing,
//! pausing, resuming, restarting and snapshotting it, and stopping them all.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ballot_core::protocol::{
    health, HealthError, NodeId, Role, StateReply, HEALTH_PATH, STATE_PATH,
};
use ballot_core::records::{Snapshot, SnapshotReason};
use nix::sys::signal::Signal;

use super::*;

/// Why a `200` health reply did not make the node ready.
enum HealthVerdict {
    /// Not yet: poll again (the text is the last error).
    Retry(String),
    /// The start failed.
    Fail(ClusterError),
}

impl Cluster {
    /// Starts node `id`'s process (not waiting for health).
    pub(super) fn spawn(&mut self, id: usize) -> Result<u32, ClusterError> {
        self.node(id)?;
        if self.disks.is_lazy() && !self.disks.is_mounted(id) {
            return Err(ClusterError::LazyFs {
                node: id,
                reason: "unmounted at shutdown; the node cannot start again".into(),
            });
        }
        let node = self.node_mut(id)?;
        if node.child.is_some() {
            return Err(ClusterError::AlreadyRunning { node: id });
        }
        let port = node.port;
        match probe_port(port) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                return Err(ClusterError::PortInUse { node: id, port })
            }
            Ok(()) | Err(_) => {}
        }
        let open = |name: &str| {
            let path = node.dir.join(name);
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|source| ClusterError::Io { path, source })
        };
        let stdout = open("stdout.log")?;
        let mut stderr = open("stderr.log")?;
        let command_line = node.command_line();
        let _ = writeln!(stderr, "--- ballot: starting node {id}: {command_line}");
        node.stderr_start = stderr.metadata().map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(&node.argv[0]);
        cmd.args(&node.argv[1..])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let child = children::spawn(cmd).map_err(|source| ClusterError::Spawn {
            node: id,
            command: command_line,
            source,
        })?;
        let pid = child.id();
        node.child = Some(child);
        node.paused = false;
        Ok(pid)
    }

    /// Polls `/v1/health` until the node answers with its id, it exits, or
    /// the health timeout passes (then it is killed). A `200` reply whose
    /// body breaks the protocol fails at once, naming the field
    /// ([`ClusterError::BadHealth`]); `"ok": false` is polled again. With
    /// [`ClusterSpec::lenient_health`] any `200` reply will do.
    pub(super) async fn wait_healthy(&mut self, id: usize) -> Result<(), ClusterError> {
        let addr = self.addr(id);
        let timeout = self.spec.health_timeout;
        let deadline = Instant::now() + timeout;
        let url = format!("http://{addr}{HEALTH_PATH}");
        let mut last_error: String;
        let mut last_status = None;
        loop {
            let node = self.node_mut(id)?;
            let child = node
                .child
                .as_mut()
                .ok_or(ClusterError::NotRunning { node: id })?;
            let exited = children::try_reap(child).map_err(|source| ClusterError::Process {
                node: id,
                action: "waitpid",
                source,
            })?;
            if let Some(status) = exited {
                node.child = None;
                return Err(ClusterError::Exited {
                    node: id,
                    status: status.to_string(),
                    command: node.command_line(),
                    stderr_tail: node.stderr_tail(),
                });
            }
            let per_try = deadline
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(50), Duration::from_millis(500));
            let reply = match self.http.get(&url).timeout(per_try).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    resp.bytes().await.map(|body| (status, body))
                }
                Err(e) => Err(e),
            };
            match reply {
                Ok((status, body)) if status.is_success() => {
                    last_status = Some(status.as_u16());
                    match self.judge_health(id, &body).await {
                        Ok(()) => return Ok(()),
                        Err(HealthVerdict::Retry(why)) => last_error = why,
                        Err(HealthVerdict::Fail(e)) => return Err(e),
                    }
                }
                Ok((status, _)) => {
                    last_status = Some(status.as_u16());
                    last_error = format!("health answered {status}");
                }
                Err(e) => last_error = error_chain(&e),
            }
            if Instant::now() >= deadline {
                self.kill_quietly(id).await;
                let node = &self.nodes[id];
                return Err(ClusterError::Unhealthy {
                    node: id,
                    timeout,
                    last_error,
                    last_status,
                    command: node.command_line(),
                    stderr_tail: node.stderr_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// What a `200` health body of node `id` means: ready (its roles are
    /// kept), not yet, or a failed start (the node is killed).
    async fn judge_health(&mut self, id: usize, body: &[u8]) -> Result<(), HealthVerdict> {
        if self.spec.lenient_health {
            let roles = health::parse_health(body, id as NodeId).map(|r| r.roles);
            self.nodes[id].roles = roles.unwrap_or_default();
            return Ok(());
        }
        let fail = |e| Err(HealthVerdict::Fail(e));
        match health::parse_health(body, id as NodeId) {
            Ok(reply)
                if reply.node == id as NodeId
                    && self.spec.require_proposer
                    && !self.spec.peers.is_empty()
                    && !reply.roles.contains(&Role::Proposer) =>
            {
                let command = self.nodes[id].command_line();
                self.kill_quietly(id).await;
                fail(ClusterError::NoProposerRole {
                    node: id,
                    roles: reply.roles,
                    command,
                })
            }
            Ok(reply) if reply.node == id as NodeId => {
                self.nodes[id].roles = reply.roles;
                Ok(())
            }
            Ok(reply) => {
                let port = self.nodes[id].port;
                self.kill_quietly(id).await;
                fail(ClusterError::WrongNode {
                    node: id,
                    port,
                    answered: reply.node,
                })
            }
            Err(HealthError::NotOk) => Err(HealthVerdict::Retry(HealthError::NotOk.to_string())),
            Err(reason) => {
                let command = self.nodes[id].command_line();
                self.kill_quietly(id).await;
                fail(ClusterError::BadHealth {
                    node: id,
                    reason: Box::new(reason),
                    body: health::describe_body(body),
                    command,
                })
            }
        }
    }

    pub(super) async fn kill_quietly(&mut self, id: usize) {
        if let Some(mut child) = self.nodes[id].child.take() {
            let _ = children::kill_and_reap_async(&mut child).await;
        }
        self.nodes[id].paused = false;
    }

    /// SIGKILLs the node's process group and reaps it. Returns the killed pid.
    pub async fn kill(&mut self, id: usize) -> Result<u32, ClusterError> {
        let node = self.node_mut(id)?;
        let mut child = node
            .child
            .take()
            .ok_or(ClusterError::NotRunning { node: id })?;
        node.paused = false;
        let pid = child.id();
        children::kill_and_reap_async(&mut child)
            .await
            .map_err(|source| ClusterError::Process {
                node: id,
                action: "kill",
                source,
            })?;
        Ok(pid)
    }

    /// A power failure of one node: SIGKILLs its process group, reaps it,
    /// then drops every byte it wrote to its data dir but did not fsync.
    /// Needs [`DataDirs::LazyFs`]; restart the node with [`Cluster::restart`].
    pub async fn power_fail(&mut self, id: usize) -> Result<PowerFail, ClusterError> {
        self.node(id)?;
        if !self.disks.is_mounted(id) {
            return Err(ClusterError::LazyFs {
                node: id,
                reason: "not on a lazyfs mount: a power failure needs the cluster \
                         started with DataDirs::LazyFs"
                    .into(),
            });
        }
        let pid = self.kill(id).await?;
        let report = self
            .disks
            .power_fail(id)
            .expect("checked above: the node has a mount");
        Ok(PowerFail {
            node: id,
            pid,
            files: report.files,
            bytes_lost: report.bytes_lost,
        })
    }

    pub(super) fn signal(
        &mut self,
        id: usize,
        signal: Signal,
        paused: bool,
    ) -> Result<u32, ClusterError> {
        let node = self.node_mut(id)?;
        let child = node
            .child
            .as_ref()
            .ok_or(ClusterError::NotRunning { node: id })?;
        children::signal_group(child, signal).map_err(|e| ClusterError::Process {
            node: id,
            action: if paused { "SIGSTOP" } else { "SIGCONT" },
            source: io::Error::from(e),
        })?;
        node.paused = paused;
        Ok(child.id())
    }

    /// SIGSTOPs the node's process group: it keeps its sockets (the kernel
    /// still accepts connections) but answers nothing until resumed.
    pub fn pause(&mut self, id: usize) -> Result<u32, ClusterError> {
        self.signal(id, Signal::SIGSTOP, true)
    }

    /// SIGCONTs the node's process group; it then serves what queued up.
    pub fn resume(&mut self, id: usize) -> Result<u32, ClusterError> {
        self.signal(id, Signal::SIGCONT, false)
    }

    /// Starts a stopped (killed or exited) node again with the same port and
    /// data dir, waits until it is healthy, then records a `restart`
    /// snapshot of its state. Returns the new pid.
    pub async fn restart(&mut self, id: usize) -> Result<u32, ClusterError> {
        let pid = self.relaunch(id).await?;
        self.snapshot(id, SnapshotReason::Restart).await?;
        Ok(pid)
    }

    /// Starts a stopped node again with the same port and data dir and waits
    /// until it is healthy, recording nothing. Returns the new pid.
    pub async fn relaunch(&mut self, id: usize) -> Result<u32, ClusterError> {
        let pid = self.spawn(id)?;
        self.wait_healthy(id).await?;
        Ok(pid)
    }

    /// SIGTERMs the node's process group (after a SIGCONT if it was paused)
    /// and waits up to `grace` for it to exit; one still running then is
    /// SIGKILLed. Either way it is reaped.
    pub async fn terminate(
        &mut self,
        id: usize,
        grace: Duration,
    ) -> Result<Termination, ClusterError> {
        let node = self.node_mut(id)?;
        let mut child = node
            .child
            .take()
            .ok_or(ClusterError::NotRunning { node: id })?;
        let pid = child.id();
        let fail = |action, source| ClusterError::Process {
            node: id,
            action,
            source,
        };
        if std::mem::take(&mut node.paused) {
            let _ = children::signal_group(&child, Signal::SIGCONT);
        }
        let sent = Instant::now();
        if let Err(e) = children::signal_group(&child, Signal::SIGTERM) {
            let _ = children::kill_and_reap_async(&mut child).await;
            return Err(fail("SIGTERM", io::Error::from(e)));
        }
        match children::reap_within(&mut child, grace).await {
            Ok(Some(status)) => Ok(Termination::Exited {
                pid,
                status: status.to_string(),
                after: sent.elapsed(),
            }),
            reaped => {
                let killed = children::kill_and_reap_async(&mut child).await;
                reaped.map_err(|e| fail("waitpid", e))?;
                killed.map_err(|e| fail("kill", e))?;
                Ok(Termination::Killed { pid })
            }
        }
    }

    /// Fetches the node's `/v1/state` over the side channel and writes it to
    /// the snapshot log; `time` is when the request was sent, `replied` when
    /// the answer had been read.
    pub async fn snapshot(
        &self,
        id: usize,
        reason: SnapshotReason,
    ) -> Result<Snapshot, ClusterError> {
        self.node(id)?;
        let url = format!("http://{}{STATE_PATH}", self.addr(id));
        let fail = |reason: String| ClusterError::Snapshot { node: id, reason };
        let time = self.clock.now();
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| fail(error_chain(&e)))?;
        if !resp.status().is_success() {
            return Err(fail(format!("{url} answered {}", resp.status())));
        }
        let state: StateReply = resp.json().await.map_err(|e| fail(error_chain(&e)))?;
        let snapshot = Snapshot {
            time,
            replied: Some(self.clock.now()),
            node: id as NodeId,
            reason,
            state,
        };
        self.snapshots.write(&snapshot)?;
        Ok(snapshot)
    }

    /// Snapshots every running node (paused ones would not answer: resume them first).
    pub async fn snapshot_all(
        &self,
        reason: SnapshotReason,
    ) -> Result<Vec<Snapshot>, ClusterError> {
        let mut all = Vec::new();
        for id in 0..self.nodes.len() {
            if self.is_running(id) {
                all.push(self.snapshot(id, reason).await?);
            }
        }
        Ok(all)
    }

    /// Reaps nodes that exited without the harness killing them, and reports
    /// them; they count as stopped afterwards (so they can be restarted).
    pub fn check_exits(&mut self) -> Vec<NodeExit> {
        let mut exits = Vec::new();
        for (id, node) in self.nodes.iter_mut().enumerate() {
            let Some(child) = node.child.as_mut() else {
                continue;
            };
            if let Ok(Some(status)) = children::try_reap(child) {
                let pid = child.id();
                node.child = None;
                node.paused = false;
                exits.push(NodeExit {
                    node: id,
                    pid,
                    status: status.to_string(),
                    stderr_tail: node.stderr_tail(),
                });
            }
        }
        exits
    }

    /// Stops every node: SIGCONT the paused, SIGTERM all, wait up to
    /// [`SHUTDOWN_GRACE`], then SIGKILL what is left, and reap everything.
    /// Then unmounts lazyfs data dirs (their files end up in
    /// `nodes/<id>/data`, see [`disks`]); after that the nodes cannot start
    /// again.
    pub async fn shutdown(&mut self) -> Result<(), ClusterError> {
        let stopped = self.stop_nodes().await;
        // Nodes first, then the mounts they used (even if a stop failed:
        // the survivors were SIGKILLed and reaped, or keep the lazy mount
        // alive until they die).
        let unmounted = self.disks.unmount_all();
        stopped.and(unmounted)
    }

    pub(super) async fn stop_nodes(&mut self) -> Result<(), ClusterError> {
        for node in &mut self.nodes {
            if let Some(child) = &node.child {
                if node.paused {
                    let _ = children::signal_group(child, Signal::SIGCONT);
                    node.paused = false;
                }
                let _ = children::signal_group(child, Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let mut first_error = None;
        for (id, node) in self.nodes.iter_mut().enumerate() {
            let Some(mut child) = node.child.take() else {
                continue;
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let reaped = children::reap_within(&mut child, left).await;
            let result = match reaped {
                Ok(Some(_)) => Ok(()),
                _ => children::kill_and_reap_async(&mut child).await.map(drop),
            };
            if let Err(source) = result {
                first_error.get_or_insert(ClusterError::Process {
                    node: id,
                    action: "shutdown",
                    source,
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Whether a listener could bind `127.0.0.1:port` now, as a node would:
/// with `SO_REUSEADDR`, which tokio, Python's `http.server` and Node.js all
/// set. Without it, the connections a stopped node closed (in `TIME_WAIT`
/// for a minute) make a free port look taken, and a restart on its port
/// fails (seen in CI after a SIGTERM).
fn probe_port(port: u16) -> io::Result<()> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())?;
    socket.listen(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn a_port_whose_closed_connections_wait_is_free_for_a_node() {
        // A server that closes its connection first leaves it in TIME_WAIT
        // on its own port, as a node stopped with SIGTERM does.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        let (served, _) = listener.accept().unwrap();
        drop(served);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap(); // the server's FIN
        drop(client);
        drop(listener);
        probe_port(port).expect("a node could bind it (SO_REUSEADDR)");
        // a port with a live listener is taken
        let live = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let taken = probe_port(live.local_addr().unwrap().port()).unwrap_err();
        assert_eq!(taken.kind(), io::ErrorKind::AddrInUse);
    }
}
