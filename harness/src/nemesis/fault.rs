//! What a fault is: its kind, targets and parameters, and the nemesis's configuration.

use std::str::FromStr;
use std::time::Duration;

pub use ballot_core::fault::FaultKind;
use serde_json::{json, Value};

use crate::links::{Link, LinkBehaviour};
use crate::partition::{Partition, PartitionKind};

use super::*;

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
pub struct FaultStep {
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

impl FaultStep {
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
