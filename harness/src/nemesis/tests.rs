//! Unit tests of the fault schedule and its records.

#![allow(unused_imports)]

use super::apply::power_fail_detail;
use super::*;
use std::str::FromStr;
use std::time::Duration;

pub use ballot_core::fault::FaultKind;
use ballot_core::protocol::NodeId;
use ballot_core::records::{FaultPhase, NemesisRecord};
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
    let kinds: std::collections::BTreeSet<FaultKind> = a.steps.iter().map(|s| s.fault).collect();
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
