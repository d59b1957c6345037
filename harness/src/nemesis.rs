//! The nemesis: a seeded fault schedule, and the code that applies and heals it.
//!
//! [`Schedule::generate`] is pure: from the config, the cluster size, the
//! seed and the time limit it lays out the faults, so the same `--seed`
//! always gives the same schedule (which fault, on which nodes, with which
//! partition or link parameters, when and for how long). Faults alternate
//! with quiet periods, one fault at a time, Jepsen-style:
//!
//! ```text
//! quiet ~interval | fault ~interval | quiet ~interval | fault ~interval | ...
//! ```
//!
//! where each "~interval" is drawn uniformly from `[0.5, 1.5] * interval`.
//!
//! [`Nemesis`] carries a schedule out against a [`Cluster`] and a [`Mesh`].
//! Every start and stop becomes a history event (process `"nemesis"`, type
//! `info`, `f` = `start-kill`, `stop-kill`...) and a line of `nemesis.jsonl`,
//! both stamped with the same time, taken once the fault is in force (or
//! healed). A kill's stop restarts the node (which waits for health and
//! takes a restart snapshot); a pause's stop resumes it; link faults' stops
//! set their links back to pass.
//!
//! A power failure (`power-fail`, opt-in: not part of `all`) is a kill that
//! also loses every byte the node wrote but did not fsync: the cluster's
//! data dirs are then lazyfs mounts (see [`crate::lazyfs`] and
//! [`crate::cluster::DataDirs`]). Its start SIGKILLs and reaps the node and
//! discards the unsynced data (the detail records how many files and bytes
//! each node lost); its stop restarts the node, like a kill's.
//!
//! Targets bound how many nodes a kill, pause or link fault touches:
//! `one` = 1, `minority` = `(n - 1) / 2` (at least 1), `majority` =
//! `n / 2 + 1`, `all` = `n`. For `n >= 3`, `one` and `minority` always leave
//! a majority untouched. Partitions take their shape from
//! [`NemesisConfig::partitions`] instead.

use std::str::FromStr;
use std::time::Duration;

pub use ballot_core::fault::FaultKind;
use ballot_core::protocol::NodeId;
use ballot_core::records::{NemesisRecord, Phase};
use rand::rngs::ChaCha8Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cluster::{Cluster, ClusterError, PowerFail};
use crate::links::{Link, LinkBehaviour, LinkError};
use crate::partition::{Partition, PartitionKind};
use crate::proxy::Mesh;
use crate::store::{HistoryWriter, JsonlWriter, StoreError};

/// How many nodes a kill, pause or link fault touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Targets {
    /// One node.
    One,
    /// The largest minority that leaves a quorum: `(n - 1) / 2` nodes, at least 1.
    Minority,
    /// A bare majority: `n / 2 + 1` nodes.
    Majority,
    /// Every node.
    All,
}

impl Targets {
    /// Every choice, in a fixed order.
    pub const ALL: [Targets; 4] = [
        Targets::One,
        Targets::Minority,
        Targets::Majority,
        Targets::All,
    ];

    /// The name in flags and records.
    pub fn name(self) -> &'static str {
        match self {
            Targets::One => "one",
            Targets::Minority => "minority",
            Targets::Majority => "majority",
            Targets::All => "all",
        }
    }

    /// How many of `n` nodes this means (never more than `n`).
    pub fn count(self, n: usize) -> usize {
        let k = match self {
            Targets::One => 1,
            Targets::Minority => ((n.saturating_sub(1)) / 2).max(1),
            Targets::Majority => n / 2 + 1,
            Targets::All => n,
        };
        k.min(n)
    }
}

impl FromStr for Targets {
    type Err = NemesisError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Targets::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                NemesisError::Parse(format!(
                    "unknown targets {s:?}; known: one, minority, majority, all"
                ))
            })
    }
}

/// What the nemesis does during a run.
#[derive(Clone, Debug, PartialEq)]
pub struct NemesisConfig {
    /// Faults to choose from (uniformly); empty = no faults.
    pub faults: Vec<FaultKind>,
    /// Mean length of each fault and of each quiet period between faults.
    pub interval: Duration,
    /// How many nodes a kill, pause or link fault touches.
    pub targets: Targets,
    /// Partition shapes to choose from (uniformly); empty = all shapes.
    pub partitions: Vec<PartitionKind>,
}

impl NemesisConfig {
    /// Whether some fault needs the nodes' data dirs on lazyfs mounts.
    pub fn needs_lazyfs(&self) -> bool {
        self.faults.iter().any(|f| f.needs_lazyfs())
    }
}

impl Default for NemesisConfig {
    /// Kill and partition, every 5 s, on a minority (the `ballot test` defaults).
    fn default() -> Self {
        NemesisConfig {
            faults: vec![FaultKind::Kill, FaultKind::Partition],
            interval: Duration::from_secs(5),
            targets: Targets::Minority,
            partitions: PartitionKind::ALL.to_vec(),
        }
    }
}

/// A fault's parameters beyond its nodes.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultParams {
    /// Kill, pause and power failure need nothing more.
    None,
    /// The partition to install.
    Partition(Partition),
    /// The behaviour to give every link into the target nodes.
    Links(LinkBehaviour),
}

/// One fault of a schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// When it starts, from the start of the nemesis.
    pub start: Duration,
    /// How long it lasts before it is healed.
    pub duration: Duration,
    /// What it is.
    pub fault: FaultKind,
    /// The nodes it acts on (for link faults: the nodes whose links it touches), sorted.
    pub nodes: Vec<usize>,
    /// Its parameters.
    pub params: FaultParams,
}

impl Step {
    /// The links this step changes, with the behaviour it gives them (empty
    /// for kill, pause and power failure).
    pub fn link_changes(&self, hosts: usize) -> (Vec<Link>, LinkBehaviour) {
        match &self.params {
            FaultParams::None => (Vec::new(), LinkBehaviour::PASS),
            FaultParams::Partition(p) => (p.cut.iter().copied().collect(), LinkBehaviour::cut()),
            FaultParams::Links(b) => {
                let links = (0..hosts)
                    .flat_map(|h| self.nodes.iter().map(move |&j| Link::new(h, j)))
                    .collect();
                (links, *b)
            }
        }
    }

    /// The step's details as JSON (for `test.json`, history values and nemesis records).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "fault": self.fault.name(),
            "start_ms": self.start.as_millis() as u64,
            "duration_ms": self.duration.as_millis() as u64,
            "nodes": self.nodes,
        });
        match &self.params {
            FaultParams::None => {}
            FaultParams::Partition(p) => v["partition"] = p.to_json(),
            FaultParams::Links(b) => {
                v["links"] = json!({
                    "drop_request": b.drop_request,
                    "drop_response": b.drop_response,
                    "delay_ms": b.delay.as_secs_f64() * 1e3,
                    "jitter_ms": b.jitter.as_secs_f64() * 1e3,
                    "duplicate": b.duplicate,
                })
            }
        }
        v
    }
}

/// A whole run's faults, in start order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schedule {
    /// The faults.
    pub steps: Vec<Step>,
}

/// Mixed into the seed so the schedule's RNG stream differs from the proxy's.
const SCHEDULE_SALT: u64 = 0x6E65_6D65_7369_7321;

/// `interval` scaled by a factor drawn from `[0.5, 1.5)`.
fn around(interval: Duration, rng: &mut ChaCha8Rng) -> Duration {
    interval.mul_f64(rng.random_range(0.5..1.5))
}

/// `k` distinct random nodes of `0..n`, sorted.
fn pick(n: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut nodes: Vec<usize> = (0..n).collect();
    nodes.shuffle(rng);
    nodes.truncate(k);
    nodes.sort_unstable();
    nodes
}

impl Schedule {
    /// Lays out the faults for `n` nodes over `time_limit`, from `seed` alone.
    /// A fault that would outlast the time limit is cut short to end at it.
    pub fn generate(config: &NemesisConfig, n: usize, seed: u64, time_limit: Duration) -> Schedule {
        let mut steps = Vec::new();
        if config.faults.is_empty() || n == 0 || config.interval.is_zero() {
            return Schedule { steps };
        }
        let shapes: &[PartitionKind] = if config.partitions.is_empty() {
            &PartitionKind::ALL
        } else {
            &config.partitions
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ SCHEDULE_SALT);
        let mut t = around(config.interval, &mut rng);
        while t < time_limit {
            let fault = *config.faults.choose(&mut rng).expect("faults is not empty");
            let duration = around(config.interval, &mut rng).min(time_limit - t);
            let k = config.targets.count(n);
            let (nodes, params) = match fault {
                FaultKind::Kill
                | FaultKind::Pause
                | FaultKind::PowerFail
                | FaultKind::Crash
                | FaultKind::Links => (pick(n, k, &mut rng), FaultParams::None),
                FaultKind::Partition => {
                    let shape = *shapes.choose(&mut rng).expect("shapes is not empty");
                    let p = Partition::generate(shape, n, &mut rng);
                    (p.touched_nodes(), FaultParams::Partition(p))
                }
                FaultKind::Drop => {
                    let b = LinkBehaviour {
                        drop_request: rng.random_range(0.1..0.4),
                        drop_response: rng.random_range(0.1..0.4),
                        ..LinkBehaviour::PASS
                    };
                    (pick(n, k, &mut rng), FaultParams::Links(b))
                }
                FaultKind::Delay => {
                    let delay = Duration::from_millis(rng.random_range(10..=100));
                    let b = LinkBehaviour {
                        delay,
                        jitter: delay / 2,
                        ..LinkBehaviour::PASS
                    };
                    (pick(n, k, &mut rng), FaultParams::Links(b))
                }
                FaultKind::Duplicate => {
                    let b = LinkBehaviour {
                        duplicate: rng.random_range(0.2..0.6),
                        ..LinkBehaviour::PASS
                    };
                    (pick(n, k, &mut rng), FaultParams::Links(b))
                }
            };
            steps.push(Step {
                start: t,
                duration,
                fault,
                nodes,
                params,
            });
            t += duration + around(config.interval, &mut rng);
        }
        Schedule { steps }
    }

    /// The schedule as a JSON array of [`Step::to_json`].
    pub fn to_json(&self) -> Value {
        Value::Array(self.steps.iter().map(Step::to_json).collect())
    }
}

/// Why the nemesis failed.
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    /// A `--nemesis` or targets value is not understood.
    #[error("{0}")]
    Parse(String),
    /// A `--nemesis` list names an unknown fault.
    #[error(transparent)]
    UnknownFault(#[from] ballot_core::fault::UnknownFault),
    /// Killing, pausing, resuming or restarting a node failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Changing links failed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// Recording failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A fault in force, and what is needed to heal it.
#[derive(Clone, Debug)]
struct Active {
    step: Step,
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
    active: Option<Active>,
}

impl Nemesis {
    /// A nemesis with no fault in force.
    pub fn new() -> Self {
        Nemesis::default()
    }

    /// The fault currently in force, if any.
    pub fn active(&self) -> Option<&Step> {
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
        step: &Step,
        cluster: &mut Cluster,
        mesh: &Mesh,
        out: Recorders<'_>,
    ) -> Result<(), NemesisError> {
        if self.active.is_some() {
            self.stop(cluster, mesh, out).await?;
        }
        let mut detail = step.to_json();
        match step.fault {
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
        record(out, Phase::Start, step.fault, &step.nodes, detail)
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
                FaultKind::Kill | FaultKind::PowerFail => {
                    let mut pids = Vec::new();
                    for &id in &step.nodes {
                        if !cluster.is_running(id) {
                            pids.push(cluster.restart(id).await?);
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
        record(out, Phase::Stop, step.fault, &step.nodes, detail)?;
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
                Phase::Stop,
                FaultKind::Links,
                &nodes,
                json!({ "healed": links }),
            )?;
        }
        for exit in cluster.check_exits() {
            let nodes = [exit.node];
            let detail =
                json!({ "pid": exit.pid, "status": exit.status, "stderr": exit.stderr_tail });
            record(out, Phase::Start, FaultKind::Crash, &nodes, detail)?;
        }
        for id in 0..cluster.len() {
            if cluster.is_paused(id) {
                let pid = cluster.resume(id)?;
                record(
                    out,
                    Phase::Stop,
                    FaultKind::Pause,
                    &[id],
                    json!({ "pids": [pid] }),
                )?;
            }
            if !cluster.is_running(id) {
                let pid = cluster.restart(id).await?;
                record(
                    out,
                    Phase::Stop,
                    FaultKind::Crash,
                    &[id],
                    json!({ "pids": [pid] }),
                )?;
            }
        }
        Ok(())
    }
}

/// Adds what a power failure did to a start record's detail: `pids` (as a
/// kill's), the totals `files` and `bytes_lost`, and per node `lost`.
fn power_fail_detail(detail: &mut Value, failed: &[PowerFail]) {
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
async fn wait_until(deadline: Instant, cancel: &mut watch::Receiver<bool>) -> bool {
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
fn record(
    out: Recorders<'_>,
    phase: Phase,
    fault: FaultKind,
    nodes: &[usize],
    detail: Value,
) -> Result<(), NemesisError> {
    let f = match phase {
        Phase::Start => format!("start-{fault}"),
        Phase::Stop => format!("stop-{fault}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(faults: &[FaultKind], targets: Targets) -> NemesisConfig {
        NemesisConfig {
            faults: faults.to_vec(),
            interval: Duration::from_secs(2),
            targets,
            partitions: Vec::new(),
        }
    }

    #[test]
    fn parses_fault_lists() {
        use FaultKind::*;
        let cases: &[(&str, &[FaultKind])] = &[
            ("kill", &[Kill]),
            ("partition,kill", &[Kill, Partition]),
            (" kill , kill ,pause", &[Kill, Pause]),
            ("all", &FaultKind::ALL),
            ("none", &[]),
            ("", &[]),
            ("none,delay", &[Delay]),
            ("all,drop", &FaultKind::ALL),
            // power-fail is opt-in: `all` keeps meaning the six faults above.
            ("power-fail", &[PowerFail]),
            ("power-fail,kill", &[Kill, PowerFail]),
            ("all,power-fail", &FaultKind::EVERY),
        ];
        for (text, want) in cases {
            assert_eq!(
                FaultKind::parse_list(text).unwrap(),
                want.to_vec(),
                "{text:?}"
            );
        }
        let err = FaultKind::parse_list("kill,explode")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"explode\"") && err.contains("partition") && err.contains("power-fail"),
            "{err}"
        );
        assert!(!FaultKind::ALL.contains(&PowerFail));
        for kind in FaultKind::EVERY {
            assert_eq!(kind.name().parse::<FaultKind>().unwrap(), kind);
            assert_eq!(kind.needs_lazyfs(), kind == PowerFail, "{kind}");
        }
        assert_eq!("majority".parse::<Targets>().unwrap(), Targets::Majority);
        assert!("most".parse::<Targets>().is_err());
    }

    #[test]
    fn only_power_fail_needs_lazyfs_mounts() {
        let mut c = NemesisConfig::default();
        assert!(!c.needs_lazyfs());
        c.faults = FaultKind::parse_list("all").unwrap();
        assert!(!c.needs_lazyfs());
        c.faults = FaultKind::parse_list("partition,power-fail").unwrap();
        assert!(c.needs_lazyfs());
    }

    #[test]
    fn adding_power_fail_changed_no_older_schedule() {
        // Seed 1, kill + partition, 3 nodes: the same schedule as before
        // power-fail existed (its code path did not change), pinned so a
        // later change of the fault order cannot silently move old seeds.
        let c = config(&[FaultKind::Kill, FaultKind::Partition], Targets::One);
        let s = Schedule::generate(&c, 3, 1, Duration::from_secs(20));
        let got: Vec<(u64, &str, Vec<usize>)> = s
            .steps
            .iter()
            .map(|st| {
                (
                    st.start.as_millis() as u64,
                    st.fault.name(),
                    st.nodes.clone(),
                )
            })
            .collect();
        let pinned: [(u64, &str, &[usize]); 5] = [
            (2633, "partition", &[0, 1, 2]),
            (6291, "kill", &[0]),
            (9875, "kill", &[2]),
            (14745, "kill", &[2]),
            (18341, "kill", &[0]),
        ];
        let want: Vec<(u64, &str, Vec<usize>)> =
            pinned.iter().map(|&(t, f, n)| (t, f, n.to_vec())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn power_failures_target_nodes_like_kills() {
        let c = config(&[FaultKind::PowerFail], Targets::Minority);
        let s = Schedule::generate(&c, 5, 8, Duration::from_secs(30));
        assert!(!s.steps.is_empty());
        for step in &s.steps {
            assert_eq!(step.fault, FaultKind::PowerFail);
            assert_eq!(step.params, FaultParams::None);
            assert_eq!(step.nodes.len(), 2);
            assert_eq!(step.link_changes(5).0, Vec::<Link>::new());
            assert_eq!(step.to_json()["fault"], "power-fail");
        }
    }

    #[test]
    fn power_fail_detail_has_pids_totals_and_each_node() {
        let failed = [
            PowerFail {
                node: 0,
                pid: 10,
                files: 1,
                bytes_lost: 100,
            },
            PowerFail {
                node: 2,
                pid: 12,
                files: 2,
                bytes_lost: 5,
            },
        ];
        let mut detail = json!({"fault": "power-fail"});
        power_fail_detail(&mut detail, &failed);
        assert_eq!(
            detail,
            json!({
                "fault": "power-fail",
                "pids": [10, 12],
                "files": 3,
                "bytes_lost": 105,
                "lost": [
                    {"node": 0, "pid": 10, "files": 1, "bytes_lost": 100},
                    {"node": 2, "pid": 12, "files": 2, "bytes_lost": 5},
                ],
            })
        );
        let mut none = json!({});
        power_fail_detail(&mut none, &[]);
        assert_eq!(
            none,
            json!({"pids": [], "files": 0, "bytes_lost": 0, "lost": []})
        );
    }

    #[test]
    fn target_counts() {
        // (n, one, minority, majority, all)
        let table = [
            (1, 1, 1, 1, 1),
            (2, 1, 1, 2, 2),
            (3, 1, 1, 2, 3),
            (4, 1, 1, 3, 4),
            (5, 1, 2, 3, 5),
            (6, 1, 2, 4, 6),
            (7, 1, 3, 4, 7),
            (9, 1, 4, 5, 9),
        ];
        for (n, one, minority, majority, all) in table {
            assert_eq!(Targets::One.count(n), one);
            assert_eq!(Targets::Minority.count(n), minority);
            assert_eq!(Targets::Majority.count(n), majority);
            assert_eq!(Targets::All.count(n), all);
        }
        for n in 3..=9 {
            let quorum = n / 2 + 1;
            assert!(n - Targets::Minority.count(n) >= quorum, "n={n}");
            assert!(n - Targets::One.count(n) >= quorum, "n={n}");
        }
    }

    #[test]
    fn same_seed_same_schedule() {
        let c = config(&FaultKind::ALL, Targets::Minority);
        let limit = Duration::from_secs(60);
        let a = Schedule::generate(&c, 5, 42, limit);
        assert_eq!(a, Schedule::generate(&c, 5, 42, limit));
        assert_ne!(a, Schedule::generate(&c, 5, 43, limit));
        assert!(a.steps.len() >= 5, "{}", a.steps.len());
        let kinds: std::collections::BTreeSet<FaultKind> =
            a.steps.iter().map(|s| s.fault).collect();
        assert!(kinds.len() >= 3, "{kinds:?}");
    }

    #[test]
    fn faults_alternate_with_quiet_periods_inside_the_time_limit() {
        let c = config(&FaultKind::ALL, Targets::One);
        for seed in 0..20 {
            let limit = Duration::from_secs(30);
            let s = Schedule::generate(&c, 3, seed, limit);
            let mut free_from = Duration::ZERO;
            for step in &s.steps {
                assert!(step.start >= free_from + c.interval / 2, "{step:?}");
                assert!(step.start + step.duration <= limit);
                assert!(step.duration <= c.interval * 3 / 2);
                free_from = step.start + step.duration;
            }
        }
    }

    #[test]
    fn targets_are_respected() {
        for targets in Targets::ALL {
            let c = config(
                &[
                    FaultKind::Kill,
                    FaultKind::Pause,
                    FaultKind::Drop,
                    FaultKind::Delay,
                    FaultKind::Duplicate,
                ],
                targets,
            );
            for n in 1..=7 {
                for seed in 0..10 {
                    for step in Schedule::generate(&c, n, seed, Duration::from_secs(40)).steps {
                        assert_eq!(step.nodes.len(), targets.count(n), "{targets:?} n={n}");
                        assert!(step.nodes.iter().all(|&j| j < n));
                        let mut sorted = step.nodes.clone();
                        sorted.dedup();
                        assert_eq!(sorted, step.nodes);
                    }
                }
            }
        }
    }

    #[test]
    fn one_and_minority_never_take_down_a_majority() {
        for targets in [Targets::One, Targets::Minority] {
            let c = config(&[FaultKind::Kill, FaultKind::Pause], targets);
            for n in 3..=7 {
                for seed in 0..20 {
                    for step in Schedule::generate(&c, n, seed, Duration::from_secs(40)).steps {
                        assert!(n - step.nodes.len() > n / 2, "{targets:?} n={n} {step:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn link_faults_touch_every_host_link_into_their_nodes() {
        let c = config(&[FaultKind::Drop], Targets::Majority);
        let s = Schedule::generate(&c, 5, 1, Duration::from_secs(20));
        let step = &s.steps[0];
        let (links, b) = step.link_changes(5);
        assert_eq!(links.len(), 5 * 3);
        assert!(links.iter().all(|l| step.nodes.contains(&l.node)));
        assert!(b.drop_request >= 0.1 && b.drop_request < 0.4);
        assert!(b.validate().is_ok());
    }

    #[test]
    fn partitions_use_the_configured_shapes() {
        let mut c = config(&[FaultKind::Partition], Targets::One);
        c.partitions = vec![PartitionKind::Ring];
        let s = Schedule::generate(&c, 5, 3, Duration::from_secs(30));
        assert!(!s.steps.is_empty());
        for step in &s.steps {
            let FaultParams::Partition(p) = &step.params else {
                panic!("{step:?}")
            };
            assert_eq!(p.kind, PartitionKind::Ring);
            let (links, b) = step.link_changes(5);
            assert_eq!(links.len(), p.cut.len());
            assert!(b.cut);
            assert_eq!(step.to_json()["partition"]["shape"], "ring");
        }
    }

    #[test]
    fn nothing_to_do_gives_an_empty_schedule() {
        let limit = Duration::from_secs(30);
        assert!(Schedule::generate(&config(&[], Targets::One), 3, 1, limit)
            .steps
            .is_empty());
        assert!(
            Schedule::generate(&config(&[FaultKind::Kill], Targets::One), 0, 1, limit)
                .steps
                .is_empty()
        );
        assert!(Schedule::generate(
            &config(&[FaultKind::Kill], Targets::One),
            3,
            1,
            Duration::ZERO
        )
        .steps
        .is_empty());
    }
}
