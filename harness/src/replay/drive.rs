//! Driving a replay plan: each recorded request goes straight to its node,
//! each reply is compared with the recorded one, and a node that came back
//! from a restart with another state than in the run is restored to it.

use super::*;

/// Carries out a replay plan against a live cluster and collects what differs.
pub(super) struct Replayer<'a> {
    pub(super) run: &'a RunData,
    pub(super) plan: &'a ReplayPlan,
    pub(super) http: reqwest::Client,
    pub(super) restore: bool,
    pub(super) messages: Vec<Exchange>,
    pub(super) snapshots: Vec<Snapshot>,
    pub(super) divergences: Vec<Divergence>,
    pub(super) restored: Vec<String>,
    pub(super) delivered: usize,
    pub(super) compared: usize,
}

impl Replayer<'_> {
    /// Delivers every item of the plan in order.
    pub(super) async fn run(&mut self, cluster: &mut Cluster) -> Result<(), Error> {
        let plan = self.plan;
        let mut last_time = 0;
        for (position, t) in plan.items.iter().enumerate() {
            last_time = last_time.max(t.time);
            match t.item {
                Item::Kill { node } => {
                    if cluster.is_running(node) {
                        cluster.kill(node).await?;
                    }
                }
                Item::Restart { node, snapshot } => {
                    if !cluster.is_running(node) {
                        cluster.restart(node).await?;
                    }
                    let expected = plan.restart_states.get(&position);
                    self.after_restart(cluster, node, t.time, expected).await?;
                    if snapshot.is_none() {
                        // No recorded snapshot to place: record the state here.
                        let mut snap = cluster.snapshot(node, SnapshotReason::Restart).await?;
                        snap.time = t.time;
                        snap.replied = Some(t.time);
                        self.snapshots.push(snap);
                    }
                }
                Item::Snapshot { node, snapshot } => {
                    let mut snap = cluster.snapshot(node, SnapshotReason::Restart).await?;
                    snap.time = self.run.snapshots[snapshot].time;
                    snap.replied = self.run.snapshots[snapshot].replied;
                    self.snapshots.push(snap);
                }
                Item::Deliver { exchange } => self.deliver(cluster, exchange).await?,
                Item::Event { .. } => {}
            }
        }
        // The final phase: every node up, then its state.
        for node in 0..cluster.len() {
            if !cluster.is_running(node) {
                cluster.restart(node).await?;
            }
        }
        for node in 0..cluster.len() {
            let recorded = self
                .run
                .snapshots
                .iter()
                .find(|s| s.node == node as u64 && s.reason == SnapshotReason::Final);
            let mut snap = cluster.snapshot(node, SnapshotReason::Final).await?;
            snap.time = recorded.map_or(last_time + 1, |s| s.time);
            snap.replied = recorded.map_or(Some(snap.time), |s| s.replied);
            self.snapshots.push(snap);
        }
        Ok(())
    }

    async fn deliver(&mut self, cluster: &Cluster, index: usize) -> Result<(), Error> {
        let ex = &self.run.messages[index];
        let node = ex.to as usize;
        let expected = json!({"status": ex.status, "response": ex.response});
        if !cluster.is_running(node) {
            if ex.status.is_some() {
                self.divergences.push(Divergence {
                    exchange: ex.id,
                    node: ex.to,
                    path: ex.path.clone(),
                    expected,
                    got: json!("the node is down in the replay"),
                });
            }
            return Ok(());
        }
        let url = format!("http://{}{}", cluster.addr(node), ex.path);
        let mut req = self.http.post(&url).json(&ex.request);
        if let Some(p) = ex.process {
            req = req.header(PROCESS_HEADER, p.to_string());
        }
        self.delivered += 1;
        let got = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let bytes = resp.bytes().await.unwrap_or_default();
                let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&bytes).into_owned())
                });
                Some((status, body))
            }
            Err(_) => None,
        };
        let record = &mut self.messages[index];
        if let Some((status, body)) = &got {
            record.status = Some(*status);
            record.response = Some(body.clone());
        } else {
            record.status = None;
            record.response = None;
        }
        if ex.status.is_some() {
            self.compared += 1;
            let same = got
                .as_ref()
                .is_some_and(|(s, b)| Some(*s) == ex.status && Some(b) == ex.response.as_ref());
            if !same {
                self.divergences.push(Divergence {
                    exchange: ex.id,
                    node: ex.to,
                    path: ex.path.clone(),
                    expected,
                    got: match got {
                        Some((s, b)) => json!({"status": s, "response": b}),
                        None => json!("no reply"),
                    },
                });
            }
        }
        Ok(())
    }

    /// Compares the node's state right after a restart with the state the
    /// run shows it came back with, and restores that state if they differ.
    async fn after_restart(
        &mut self,
        cluster: &mut Cluster,
        node: usize,
        time: u64,
        expected: Option<&BTreeMap<String, InstanceState>>,
    ) -> Result<(), Error> {
        let Some(expected) = expected else {
            return Ok(());
        };
        let snap = cluster.snapshot(node, SnapshotReason::Restart).await?;
        let differ = differing_keys(&snap.state.instances, expected);
        if differ == 0 {
            return Ok(());
        }
        let note = format!(
            "node {node} after the restart at {:.3} s: {differ} key(s) differ from the recorded state",
            time as f64 / 1e9,
        );
        if !self.restore {
            self.restored
                .push(format!("{note}; not restored (--no-restore)"));
            return Ok(());
        }
        let state = StateReply {
            node: node as u64,
            instances: expected.clone(),
        };
        restore_state(cluster, &self.http, node, &state).await?;
        let again = cluster.snapshot(node, SnapshotReason::Restart).await?;
        let ok = differing_keys(&again.state.instances, expected) == 0;
        self.restored.push(format!(
            "{note}; {}",
            if ok {
                "restored the recorded state"
            } else {
                "could not restore the recorded state"
            }
        ));
        Ok(())
    }
}

/// Keys whose state differs (a missing key and an empty state are the same).
fn differing_keys(
    a: &BTreeMap<String, InstanceState>,
    b: &BTreeMap<String, InstanceState>,
) -> usize {
    let empty = InstanceState::default();
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k).unwrap_or(&empty) != b.get(*k).unwrap_or(&empty))
        .count()
}

/// Kills the node, empties its data dir, starts it, and rebuilds `state`
/// key by key: accept (ballot, value), then prepare at the promise if it is
/// higher, then learn.
pub async fn restore_state(
    cluster: &mut Cluster,
    http: &reqwest::Client,
    node: usize,
    state: &StateReply,
) -> Result<(), Error> {
    if cluster.is_running(node) {
        cluster.kill(node).await?;
    }
    let data = cluster.data_dir(node)?.to_path_buf();
    let io = |e: std::io::Error| Error::Input(format!("{}: {e}", data.display()));
    std::fs::remove_dir_all(&data).map_err(io)?;
    std::fs::create_dir_all(&data).map_err(io)?;
    cluster.restart(node).await?;
    let base = format!("http://{}", cluster.addr(node));
    let mut requests: Vec<(&str, Value)> = Vec::new();
    let mut by_key: BTreeMap<&String, _> = BTreeMap::new();
    by_key.extend(state.instances.iter());
    for (key, inst) in by_key {
        let accepted_ballot = inst.accepted.as_ref().map(|a| a.ballot);
        if let Some(a) = &inst.accepted {
            requests.push((
                ACCEPT_PATH,
                json!({"key": key, "ballot": a.ballot, "value": a.value}),
            ));
        }
        if let Some(p) = inst.promised {
            if Some(p) > accepted_ballot {
                requests.push((PREPARE_PATH, json!({"key": key, "ballot": p})));
            }
        }
        if let Some(v) = &inst.learned {
            let ballot = accepted_ballot
                .or(inst.promised)
                .unwrap_or(Ballot::new(1, 0));
            requests.push((
                LEARN_PATH,
                json!({"key": key, "ballot": ballot, "value": v}),
            ));
        }
    }
    for (path, body) in requests {
        http.post(format!("{base}{path}"))
            .json(&body)
            .send()
            .await
            .map_err(|e| Error::Input(format!("restoring node {node}: {path}: {e}")))?;
    }
    Ok(())
}
