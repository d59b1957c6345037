//! Process faults (kill, restart, pause, resume), the final heal, state
//! snapshots and raw history steps.

use std::collections::BTreeMap;

use ballot_core::fault::FaultKind;
use ballot_core::protocol::InstanceState;
use ballot_core::records::{EventType, FaultPhase, Process, SnapshotReason};
use ballot_workloads::scenario::{step::node_name, Completion, Fault, HistoryStep};
use serde_json::json;

use crate::Error;

use super::*;

impl Engine<'_> {
    pub(super) async fn fault(&mut self, fault: Fault, node: usize) -> Result<(), Error> {
        match fault {
            Fault::Kill => {
                let pid = self.cluster.kill(node).await?;
                // Messages waiting at a paused node die with it, unprocessed.
                self.queued.remove(&node);
                self.out.records.fault(
                    FaultPhase::Start,
                    FaultKind::Kill,
                    node,
                    json!({"pids": [pid]}),
                );
            }
            Fault::Restart => {
                if self.cluster.is_running(node) {
                    return Err(self.script_error(format!(
                        "node {} is running; only a killed node can restart",
                        node_name(node)
                    )));
                }
                let pid = self.cluster.restart(node).await?;
                self.out.records.fault(
                    FaultPhase::Stop,
                    FaultKind::Kill,
                    node,
                    json!({"pids": [pid]}),
                );
                self.snapshot(node, SnapshotReason::Restart).await?;
            }
            Fault::Pause => {
                let pid = self.cluster.pause(node)?;
                self.out.records.fault(
                    FaultPhase::Start,
                    FaultKind::Pause,
                    node,
                    json!({"pids": [pid]}),
                );
            }
            Fault::Resume => {
                if !self.cluster.is_paused(node) {
                    return Err(
                        self.script_error(format!("node {} is not paused", node_name(node)))
                    );
                }
                let pid = self.cluster.resume(node)?;
                self.out.records.fault(
                    FaultPhase::Stop,
                    FaultKind::Pause,
                    node,
                    json!({"pids": [pid]}),
                );
                for ex in self.queued.remove(&node).unwrap_or_default() {
                    self.send_now(ex).await;
                }
            }
        }
        Ok(())
    }

    /// Resumes paused nodes and restarts killed ones, recording each.
    pub(super) async fn heal(&mut self) -> Result<(), Error> {
        for node in 0..self.cluster.len() {
            if self.cluster.is_paused(node) {
                let pid = self.cluster.resume(node)?;
                self.out.records.fault(
                    FaultPhase::Stop,
                    FaultKind::Pause,
                    node,
                    json!({"pids": [pid]}),
                );
                for ex in self.queued.remove(&node).unwrap_or_default() {
                    self.send_now(ex).await;
                }
            }
            if !self.cluster.is_running(node) {
                let pid = self.cluster.restart(node).await?;
                self.out.records.fault(
                    FaultPhase::Stop,
                    FaultKind::Kill,
                    node,
                    json!({"pids": [pid]}),
                );
                self.snapshot(node, SnapshotReason::Restart).await?;
            }
        }
        Ok(())
    }

    pub(super) async fn final_snapshots(&mut self) -> Result<(), Error> {
        for node in 0..self.cluster.len() {
            self.snapshot(node, SnapshotReason::Final).await?;
        }
        Ok(())
    }

    /// Records the node's state, keeping only this run's keys.
    pub(super) async fn snapshot(
        &mut self,
        node: usize,
        reason: SnapshotReason,
    ) -> Result<BTreeMap<String, InstanceState>, Error> {
        let mut snap = self.cluster.snapshot(node, reason).await?;
        snap.time = self.out.records.tick();
        snap.replied = Some(snap.time);
        let keys = &self.out.keys;
        snap.state.instances.retain(|k, _| keys.contains(k));
        let instances = snap.state.instances.clone();
        self.out.records.snapshots.push(snap);
        Ok(instances)
    }

    // ---- raw history -----------------------------------------------------

    pub(super) fn history(&mut self, h: &HistoryStep) {
        let key = self.key_of(&h.key);
        let (kind, error) = match h.completion {
            None => (EventType::Invoke, None),
            Some(Completion::Ok) => (EventType::Ok, None),
            Some(Completion::Fail) => (EventType::Fail, Some("recorded".to_string())),
            Some(Completion::Info) => (EventType::Info, Some("recorded".to_string())),
        };
        self.out.records.event(
            Process::Client(h.process),
            kind,
            h.f.as_str(),
            Some(&key),
            json!(h.value),
            error,
        );
    }

    // ---- assertions ------------------------------------------------------
}
