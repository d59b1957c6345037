//! The kinds of fault a run can record, by name.
//!
//! The nemesis schedules the first seven; [`FaultKind::Crash`] is what the
//! harness records when it finds, at heal time, a node that died on its own
//! and restarts it, and [`FaultKind::Links`] the final heal of links left
//! faulty. Each kind is written in `nemesis.jsonl` and in flags by
//! its kebab-case [`FaultKind::name`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A kind of fault in `--nemesis` and in `nemesis.jsonl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGKILL nodes; the stop restarts them on the same port and data dir.
    Kill,
    /// SIGSTOP nodes; the stop SIGCONTs them.
    Pause,
    /// Cut links in one of the partition shapes.
    Partition,
    /// Drop requests and responses on the links to some nodes.
    Drop,
    /// Delay requests (with jitter) on the links to some nodes.
    Delay,
    /// Deliver requests twice on the links to some nodes.
    Duplicate,
    /// SIGKILL nodes and drop their unsynced writes (needs lazyfs mounts);
    /// the stop restarts them. Last of the scheduled kinds, so adding it
    /// changed no older schedule.
    PowerFail,
    /// Triggered by state: SIGKILL the first target node that acknowledges
    /// a prepare or accept after the fault starts, a few ms after its ack
    /// (CoFI, Legolas); the stop restarts it.
    KillOnAck,
    /// Triggered by state: deliver each accept round (key, ballot) to
    /// exactly a minimal quorum (a majority); its other accepts are dropped.
    MinimalQuorum,
    /// Triggered by state: when two acceptors' acknowledged accepts of one
    /// key carry different values, isolate the one that just acked (among
    /// the targets) until the stop, so the disagreement is what later
    /// rounds see.
    SplitOnDisagreement,
    /// Not scheduled: a node found dead when the harness healed the
    /// cluster; the stop records its restart.
    Crash,
    /// Not scheduled: links left faulty at the end of a run (a scenario's,
    /// or a step cut short), healed in one stop record.
    Links,
}

/// A fault name that is not one of [`FaultKind`]'s.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown fault {0:?}; known: kill, pause, partition, drop, delay, duplicate, \
     power-fail, kill-on-ack, minimal-quorum, split-on-disagreement, \
     all (kill to duplicate), none"
)]
pub struct UnknownFault(pub String);

impl FaultKind {
    /// What `--nemesis all` means: every fault that needs nothing special
    /// from the machine (so not [`FaultKind::PowerFail`]), in a fixed order.
    pub const ALL: [FaultKind; 6] = [
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Partition,
        FaultKind::Drop,
        FaultKind::Delay,
        FaultKind::Duplicate,
    ];

    /// The faults triggered by the cluster's state (opt-in, never in `all`).
    pub const TRIGGERED: [FaultKind; 3] = [
        FaultKind::KillOnAck,
        FaultKind::MinimalQuorum,
        FaultKind::SplitOnDisagreement,
    ];

    /// Every clock-scheduled fault, `all` plus power-fail, in a fixed order.
    pub const EVERY: [FaultKind; 7] = [
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Partition,
        FaultKind::Drop,
        FaultKind::Delay,
        FaultKind::Duplicate,
        FaultKind::PowerFail,
    ];

    /// The fault's name in flags and records.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Partition => "partition",
            FaultKind::Drop => "drop",
            FaultKind::Delay => "delay",
            FaultKind::Duplicate => "duplicate",
            FaultKind::PowerFail => "power-fail",
            FaultKind::KillOnAck => "kill-on-ack",
            FaultKind::MinimalQuorum => "minimal-quorum",
            FaultKind::SplitOnDisagreement => "split-on-disagreement",
            FaultKind::Crash => "crash",
            FaultKind::Links => "links",
        }
    }

    /// Whether the fault needs the nodes' data dirs on lazyfs mounts.
    pub fn needs_lazyfs(self) -> bool {
        self == FaultKind::PowerFail
    }

    /// Whether the fault acts on links, which only the proxy mesh can do.
    pub fn needs_proxy(self) -> bool {
        matches!(
            self,
            FaultKind::Partition
                | FaultKind::Drop
                | FaultKind::Delay
                | FaultKind::Duplicate
                | FaultKind::Links
                | FaultKind::KillOnAck
                | FaultKind::MinimalQuorum
                | FaultKind::SplitOnDisagreement
        )
    }

    /// Whether the fault takes a node down (its stop restarts it).
    pub fn takes_node_down(self) -> bool {
        matches!(
            self,
            FaultKind::Kill | FaultKind::PowerFail | FaultKind::Crash | FaultKind::KillOnAck
        )
    }

    /// The kind a record names, `crash` included; `None` for any other name.
    pub fn recorded(name: &str) -> Option<FaultKind> {
        FaultKind::EVERY
            .into_iter()
            .chain(FaultKind::TRIGGERED)
            .chain([FaultKind::Crash, FaultKind::Links])
            .find(|k| k.name() == name)
    }

    /// Parses a `--nemesis` list: comma-separated names, `all` or `none`.
    /// Duplicates are removed; the result is in [`FaultKind::EVERY`] order.
    pub fn parse_list(list: &str) -> Result<Vec<FaultKind>, UnknownFault> {
        let mut faults = Vec::new();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "all" => faults.extend(FaultKind::ALL),
                "none" => {}
                name => faults.push(name.parse()?),
            }
        }
        faults.sort();
        faults.dedup();
        Ok(faults)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FaultKind {
    type Err = UnknownFault;

    /// Any schedulable fault by name; `crash` is recorded, never asked for.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultKind::EVERY
            .into_iter()
            .chain(FaultKind::TRIGGERED)
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownFault(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_from_str() {
        for kind in FaultKind::EVERY {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.name()));
            assert_eq!(serde_json::from_str::<FaultKind>(&json).unwrap(), kind);
            assert_eq!(kind.name().parse::<FaultKind>().unwrap(), kind);
        }
        let crash: FaultKind = serde_json::from_str("\"crash\"").unwrap();
        assert_eq!(crash, FaultKind::Crash);
        assert!(
            "crash".parse::<FaultKind>().is_err(),
            "crash is never scheduled"
        );
        assert_eq!(FaultKind::recorded("crash"), Some(FaultKind::Crash));
        assert_eq!(
            FaultKind::recorded("power-fail"),
            Some(FaultKind::PowerFail)
        );
        assert_eq!(FaultKind::recorded("restart"), None);
    }

    #[test]
    fn lists_parse_in_a_fixed_order_without_duplicates() {
        use FaultKind::*;
        assert_eq!(
            FaultKind::parse_list("partition,kill,kill").unwrap(),
            [Kill, Partition]
        );
        assert_eq!(FaultKind::parse_list("all").unwrap(), FaultKind::ALL);
        assert_eq!(FaultKind::parse_list("none").unwrap(), []);
        assert_eq!(
            FaultKind::parse_list("all,power-fail").unwrap(),
            FaultKind::EVERY
        );
        assert_eq!(
            FaultKind::parse_list("split-on-disagreement,kill-on-ack,minimal-quorum").unwrap(),
            FaultKind::TRIGGERED
        );
        for kind in FaultKind::TRIGGERED {
            assert_eq!(FaultKind::recorded(kind.name()), Some(kind));
            assert!(kind.needs_proxy(), "{kind}");
        }
        let err = FaultKind::parse_list("kill,fire").unwrap_err();
        assert!(err.to_string().contains("unknown fault \"fire\""), "{err}");
    }
}
