//! Carrying a schedule out: applying each fault to the cluster and the
//! mesh, healing it, and recording both.

pub use ballot_core::fault::FaultKind;
use ballot_core::protocol::NodeId;
use ballot_core::records::{FaultPhase, NemesisRecord};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cluster::{Cluster, PowerFail};
use crate::links::LinkBehaviour;
use crate::proxy::{Mesh, Watch};
use crate::store::{HistoryWriter, JsonlWriter};

use super::*;

/// A fault in force, and what is needed to heal it.
#[derive(Clone, Debug)]
pub(super) struct Active {
    pub(super) step: FaultStep,
}

/// Where the nemesis writes.
#[derive(Clone, Copy)]
pub struct Recorders<'a> {
    /// The run's history (nemesis events go here too).
    pub history: &'a HistoryWriter,
    /// `nemesis.jsonl`.
    pub log: &'a JsonlWriter<NemesisRecord>,
}

/// Applies and heals faults; remembers the fault in force between calls.
#[derive(Debug, Default)]
pub struct Nemesis {
    pub(super) active: Option<Active>,
}

impl Nemesis {
    /// A nemesis with no fault in force.
    pub fn new() -> Self {
        Nemesis::default()
    }

    /// The fault currently in force, if any.
    pub fn active(&self) -> Option<&FaultStep> {
        self.active.as_ref().map(|a| &a.step)
    }

    /// Carries out `schedule` (times counted from this call) until it ends
    /// or `cancel` becomes `true`. On cancel it returns at once, leaving the
    /// fault in force for [`Nemesis::heal_everything`]. A dropped `cancel`
    /// sender just means "never cancelled". Returns how many faults started.
    pub async fn run(
        &mut self,
        schedule: &Schedule,
        cluster: &mut Cluster,
        mesh: &Mesh,
        out: Recorders<'_>,
        mut cancel: watch::Receiver<bool>,
    ) -> Result<usize, NemesisError> {
        let base = Instant::now();
        let mut started = 0;
        for step in &schedule.steps {
            if wait_until(base + step.start, &mut cancel).await {
                return Ok(started);
            }
            self.start(step, cluster, mesh, out).await?;
            started += 1;
            if wait_until(base + step.start + step.duration, &mut cancel).await {
                return Ok(started);
            }
            self.stop(cluster, mesh, out).await?;
        }
        Ok(started)
    }

    /// Installs one fault and records its start.
    pub async fn start(
        &mut self,
        step: &FaultStep,
        cluster: &mut Cluster,
        mesh: &Mesh,
        out: Recorders<'_>,
    ) -> Result<(), NemesisError> {
        if self.active.is_some() {
            self.stop(cluster, mesh, out).await?;
        }
        let mut detail = step.to_json();
        // A triggered fault records the nodes the trigger chose.
        let mut step = step.clone();
        match step.fault {
            FaultKind::KillOnAck => {
                let watch = mesh.arm(Watch::AckFrom(step.nodes.clone()));
                let fired = wait_fired(watch, step.duration.min(ACK_WAIT)).await;
                mesh.disarm();
                step.nodes = Vec::new();
                let mut pids = Vec::new();
                if let Some(f) = &fired {
                    if cluster.is_running(f.node) {
                        pids.push(cluster.kill(f.node).await?);
                        step.nodes = vec![f.node];
                    }
                }
                detail["trigger"] = json!(fired);
                detail["pids"] = json!(pids);
                detail["nodes"] = json!(step.nodes);
            }
            FaultKind::MinimalQuorum => mesh.set_minimal_quorum(true),
            FaultKind::SplitOnDisagreement => {
                let watch = mesh.arm(Watch::Disagreement(step.nodes.clone()));
                let fired = wait_fired(watch, step.duration).await;
                mesh.disarm();
                step.nodes = Vec::new();
                if let Some(f) = &fired {
                    let p = crate::partition::isolate(f.node, mesh.nodes());
                    step.nodes = vec![f.node];
                    detail["partition"] = p.to_json();
                    step.params = FaultParams::Partition(p);
                    let (links, behaviour) = step.link_changes(mesh.hosts());
                    mesh.set_links(links, behaviour)?;
                }
                detail["trigger"] = json!(fired);
                detail["nodes"] = json!(step.nodes);
            }
            // A crash is never drawn by the schedule; asked for, it is a kill.
            FaultKind::Kill | FaultKind::Crash => {
                let mut pids = Vec::new();
                for &id in &step.nodes {
                    if cluster.is_running(id) {
                        pids.push(cluster.kill(id).await?);
                    }
                }
                detail["pids"] = json!(pids);
            }
            FaultKind::Pause => {
                let mut pids = Vec::new();
                for &id in &step.nodes {
                    if cluster.is_running(id) && !cluster.is_paused(id) {
                        pids.push(cluster.pause(id)?);
                    }
                }
                detail["pids"] = json!(pids);
            }
            FaultKind::PowerFail => {
                let mut failed = Vec::new();
                for &id in &step.nodes {
                    if cluster.is_running(id) {
                        failed.push(cluster.power_fail(id).await?);
                    }
                }
                power_fail_detail(&mut detail, &failed);
            }
            FaultKind::Partition | FaultKind::Drop | FaultKind::Delay | FaultKind::Duplicate => {
                let (links, behaviour) = step.link_changes(mesh.hosts());
                mesh.set_links(links, behaviour)?;
            }
            // Never drawn: the final heal's record of links left faulty.
            FaultKind::Links => {}
        }
        self.active = Some(Active { step: step.clone() });
        record(out, FaultPhase::Start, step.fault, &step.nodes, detail)
    }

    /// Heals the fault in force (if any) and records its stop.
    pub async fn stop(
        &mut self,
        cluster: &mut Cluster,
        mesh: &Mesh,
        out: Recorders<'_>,
    ) -> Result<(), NemesisError> {
        let Some(Active { step }) = self.active.take() else {
            return Ok(());
        };
        let mut detail = json!({ "fault": step.fault.name(), "nodes": step.nodes });
        let result: Result<(), NemesisError> = async {
            match step.fault {
                FaultKind::MinimalQuorum => mesh.set_minimal_quorum(false),
                FaultKind::Kill | FaultKind::PowerFail | FaultKind::KillOnAck => {
                    let mut pids = Vec::new();
                    for &id in &step.nodes {
                        if !cluster.is_running(id) {
                            pids.push(restart_fenced(cluster, mesh, id).await?);
                        }
                    }
                    detail["pids"] = json!(pids);
                }
                FaultKind::Pause => {
                    for &id in &step.nodes {
                        if cluster.is_paused(id) {
                            cluster.resume(id)?;
                        }
                    }
                }
                _ => {
                    let (links, _) = step.link_changes(mesh.hosts());
                    mesh.set_links(links, LinkBehaviour::PASS)?;
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = &result {
            detail["error"] = json!(e.to_string());
        }
        record(out, FaultPhase::Stop, step.fault, &step.nodes, detail)?;
        result
    }

    /// The final phase: heals the fault in force, sets every link back to
    /// pass, resumes paused nodes and restarts stopped ones (waiting for
    /// health), recording a stop for each. Nodes that exited on their own
    /// are recorded as a `crash` fault (start when found, stop on restart).
    pub async fn heal_everything(
        &mut self,
        cluster: &mut Cluster,
        mesh: &Mesh,
        out: Recorders<'_>,
    ) -> Result<(), NemesisError> {
        self.stop(cluster, mesh, out).await?;
        let faulty = mesh.faulty_links();
        if !faulty.is_empty() {
            mesh.heal_all();
            let links: Vec<[usize; 2]> = faulty.iter().map(|(l, _)| [l.host, l.node]).collect();
            let mut nodes: Vec<usize> = faulty.iter().map(|(l, _)| l.node).collect();
            nodes.sort_unstable();
            nodes.dedup();
            record(
                out,
                FaultPhase::Stop,
                FaultKind::Links,
                &nodes,
                json!({ "healed": links }),
            )?;
        }
        for exit in cluster.check_exits() {
            let nodes = [exit.node];
            let detail =
                json!({ "pid": exit.pid, "status": exit.status, "stderr": exit.stderr_tail });
            record(out, FaultPhase::Start, FaultKind::Crash, &nodes, detail)?;
        }
        for id in 0..cluster.len() {
            if cluster.is_paused(id) {
                let pid = cluster.resume(id)?;
                record(
                    out,
                    FaultPhase::Stop,
                    FaultKind::Pause,
                    &[id],
                    json!({ "pids": [pid] }),
                )?;
            }
            if !cluster.is_running(id) {
                let pid = restart_fenced(cluster, mesh, id).await?;
                record(
                    out,
                    FaultPhase::Stop,
                    FaultKind::Crash,
                    &[id],
                    json!({ "pids": [pid] }),
                )?;
            }
        }
        Ok(())
    }
}

/// The longest a kill-on-ack waits for an ack before it gives up (then
/// nothing is killed and the record says `"trigger": null`).
const ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What fired `watch`, or `None` when nothing did within `limit`.
async fn wait_fired(
    watch: tokio::sync::oneshot::Receiver<crate::proxy::Fired>,
    limit: std::time::Duration,
) -> Option<crate::proxy::Fired> {
    tokio::time::timeout(limit, watch).await.ok()?.ok()
}

/// Restarts a stopped node behind a fence: the mesh refuses every request
/// for it (as if it were still down) until its restart snapshot is
/// recorded, so the snapshot shows what the node kept, not what clients
/// wrote to it since. The fence is lifted on every path.
async fn restart_fenced(
    cluster: &mut Cluster,
    mesh: &Mesh,
    id: usize,
) -> Result<u32, crate::cluster::ClusterError> {
    mesh.fence(id, true);
    let restarted = cluster.restart(id).await;
    mesh.fence(id, false);
    restarted
}

/// Adds what a power failure did to a start record's detail: `pids` (as a
/// kill's), the totals `files` and `bytes_lost`, and per node `lost`.
pub(super) fn power_fail_detail(detail: &mut Value, failed: &[PowerFail]) {
    detail["pids"] = json!(failed.iter().map(|p| p.pid).collect::<Vec<_>>());
    detail["files"] = json!(failed.iter().map(|p| p.files).sum::<u64>());
    detail["bytes_lost"] = json!(failed.iter().map(|p| p.bytes_lost).sum::<u64>());
    detail["lost"] = json!(failed
        .iter()
        .map(|p| json!({
            "node": p.node,
            "pid": p.pid,
            "files": p.files,
            "bytes_lost": p.bytes_lost,
        }))
        .collect::<Vec<_>>());
}

/// Waits until `deadline`; returns true if cancelled first.
pub(super) async fn wait_until(deadline: Instant, cancel: &mut watch::Receiver<bool>) -> bool {
    if *cancel.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => false,
        changed = cancel.wait_for(|c| *c) => {
            if changed.is_ok() {
                return true;
            }
            // The sender is gone: nobody can cancel any more.
            tokio::time::sleep_until(deadline).await;
            false
        }
    }
}

/// Writes one fault event to the history and to `nemesis.jsonl`, with one time.
pub(super) fn record(
    out: Recorders<'_>,
    phase: FaultPhase,
    fault: FaultKind,
    nodes: &[usize],
    detail: Value,
) -> Result<(), NemesisError> {
    let f = match phase {
        FaultPhase::Start => format!("start-{fault}"),
        FaultPhase::Stop => format!("stop-{fault}"),
    };
    let event = out.history.nemesis(&f, detail.clone())?;
    out.log.write(&NemesisRecord {
        time: event.time,
        phase,
        fault,
        nodes: nodes.iter().map(|&n| n as NodeId).collect(),
        detail,
    })?;
    Ok(())
}
