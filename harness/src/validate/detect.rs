//! Did a run catch the bug, and when? A pure reading of `results.json`.
//!
//! A run *catches* a bug when its verdict is invalid and a violation names
//! one of the properties the catalogue expects for that bug (a violation
//! of some other property alone is reported, but is not a catch).
//!
//! # Detection time
//!
//! A violation is *evident* at the moment its last piece of evidence
//! exists: the latest `time` among its ops and the latest `replied` (else
//! `delivered`, else `sent`) among its messages. A `durability` violation
//! shows only in the state snapshot taken after the node's restart (or at
//! the end), so it becomes evident at the first snapshot of that node taken
//! after its evidence; so does an `acceptor-spec` violation that a snapshot
//! shows. The run's detection time is the earliest moment any
//! expected violation became evident, counted from the start of the test
//! (the history's clock). It is a property of the history, not of when the
//! checker ran.

use std::collections::BTreeSet;
use std::time::Duration;

use ballot_core::protocol::NodeId;
use ballot_core::records::Exchange;
use ballot_core::verdict::{Results, Validity, Violation};

/// The property whose evidence is completed by a state snapshot.
const DURABILITY: &str = "durability";

/// When a node's state snapshot was taken (from `snapshots.jsonl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotTime {
    /// The node.
    pub node: NodeId,
    /// Nanoseconds since the test began.
    pub time: u64,
}

/// What one run's verdict says about the bug it ran with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    /// The run's overall verdict.
    pub verdict: Validity,
    /// Expected properties that were violated, in the catalogue's order.
    pub caught_by: Vec<String>,
    /// Other violated properties, sorted.
    pub others: Vec<String>,
    /// When the first expected violation became evident.
    pub at: Option<Duration>,
}

impl Detection {
    /// Whether the run caught the bug: invalid, by an expected property.
    pub fn caught(&self) -> bool {
        self.verdict == Validity::Invalid && !self.caught_by.is_empty()
    }

    /// Every violated property, expected ones first.
    pub fn violated(&self) -> Vec<String> {
        self.caught_by.iter().chain(&self.others).cloned().collect()
    }
}

/// Reads a verdict against the properties `expect`ed to catch the bug.
pub fn detect(results: &Results, expect: &[&str], snapshots: &[SnapshotTime]) -> Detection {
    let violations: Vec<&Violation> = results
        .checkers
        .iter()
        .flat_map(|c| c.violations.iter())
        .collect();
    let violated: BTreeSet<&str> = violations.iter().map(|v| v.property.as_str()).collect();
    let caught_by = expect
        .iter()
        .filter(|p| violated.contains(*p))
        .map(|p| p.to_string())
        .collect();
    let others = violated
        .iter()
        .filter(|p| !expect.contains(p))
        .map(|p| p.to_string())
        .collect();
    let at = violations
        .iter()
        .filter(|v| expect.contains(&v.property.as_str()))
        .filter_map(|v| evident_at(v, snapshots))
        .min()
        .map(Duration::from_nanos);
    Detection {
        verdict: results.valid,
        caught_by,
        others,
        at,
    }
}

/// When an exchange's evidence was complete: its reply, else its delivery,
/// else its sending.
fn exchange_time(m: &Exchange) -> u64 {
    m.replied.or(m.delivered).unwrap_or(m.sent)
}

/// The moment a violation's evidence was complete (see the module doc);
/// `None` when it carries no timed evidence, or when a durability
/// violation has no later snapshot of its node.
pub fn evident_at(v: &Violation, snapshots: &[SnapshotTime]) -> Option<u64> {
    let ops = v.ops.iter().map(|e| e.time);
    let messages = v.messages.iter().map(exchange_time);
    let last = ops.chain(messages).max()?;
    if v.property != DURABILITY && !ballot_checker::spec::shown_by_snapshot(v) {
        return Some(last);
    }
    let node = v.messages.first()?.to;
    snapshots
        .iter()
        .filter(|s| s.node == node && s.time > last)
        .map(|s| s.time)
        .min()
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[Duration]) -> Option<Duration> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballot_core::verdict::CheckerResult;
    use serde_json::json;

    fn exchange(to: NodeId, sent: u64, delivered: Option<u64>, replied: Option<u64>) -> Exchange {
        serde_json::from_value(json!({
            "id": sent, "from": 0, "to": to, "path": "/v1/accept",
            "request": null, "sent": sent, "delivered": delivered, "replied": replied,
            "fate": "ok",
        }))
        .unwrap()
    }

    fn op_at(time: u64) -> ballot_core::records::Event {
        serde_json::from_value(json!({
            "index": 0, "time": time, "process": 1, "type": "ok", "f": "propose",
            "key": "x", "value": "v",
        }))
        .unwrap()
    }

    fn violation(property: &str, ops: Vec<u64>, messages: Vec<Exchange>) -> Violation {
        Violation {
            property: property.into(),
            source: String::new(),
            key: None,
            explanation: String::new(),
            ops: ops.into_iter().map(op_at).collect(),
            messages,
        }
    }

    fn results(checkers: Vec<(&str, Vec<Violation>)>) -> Results {
        Results::new(
            checkers
                .into_iter()
                .map(|(name, v)| CheckerResult::from_violations(name, v))
                .collect(),
        )
    }

    #[test]
    fn evidence_time_is_the_latest_reply_delivery_sending_or_op() {
        let none = &[];
        for (ops, messages, want) in [
            (vec![5, 9], vec![], Some(9)),
            (vec![], vec![exchange(0, 1, Some(2), Some(30))], Some(30)),
            (vec![], vec![exchange(0, 1, Some(20), None)], Some(20)),
            (vec![], vec![exchange(0, 7, None, None)], Some(7)),
            (vec![40], vec![exchange(0, 1, Some(2), Some(30))], Some(40)),
            (vec![], vec![], None),
        ] {
            let v = violation("single-value", ops.clone(), messages);
            assert_eq!(evident_at(&v, none), want, "ops {ops:?}");
        }
    }

    #[test]
    fn durability_is_evident_at_the_next_snapshot_of_its_node() {
        let snaps = [
            SnapshotTime { node: 1, time: 50 },
            SnapshotTime { node: 2, time: 60 },
            SnapshotTime { node: 1, time: 100 },
            SnapshotTime { node: 1, time: 300 },
        ];
        let v = violation(
            "durability",
            vec![],
            vec![exchange(1, 10, Some(20), Some(80))],
        );
        assert_eq!(evident_at(&v, &snaps), Some(100));
        let late = violation(
            "durability",
            vec![],
            vec![exchange(1, 10, Some(20), Some(400))],
        );
        assert_eq!(evident_at(&late, &snaps), None);
        let other = violation(
            "p1a-promise-order",
            vec![],
            vec![exchange(1, 10, None, Some(80))],
        );
        assert_eq!(evident_at(&other, &snaps), Some(80));
    }

    #[test]
    fn an_acceptor_spec_violation_a_snapshot_shows_is_evident_at_that_snapshot() {
        let snaps = [
            SnapshotTime { node: 1, time: 50 },
            SnapshotTime { node: 1, time: 100 },
        ];
        let mut by_snapshot = violation(
            ballot_checker::spec::PROPERTY,
            vec![],
            vec![exchange(1, 10, Some(20), Some(80))],
        );
        by_snapshot.explanation = "... and the next step could be the restart snapshot of \
                                   node 1 at 0.000 s holds {}, where the spec holds {}."
            .into();
        assert_eq!(evident_at(&by_snapshot, &snaps), Some(100));
        let mut by_reply = by_snapshot.clone();
        by_reply.explanation = "... and the next step could be exchange 4 (/v1/accept {}) \
                                was answered 200 {}, where the spec answers 200 {}."
            .into();
        assert_eq!(evident_at(&by_reply, &snaps), Some(80));
    }

    #[test]
    fn a_catch_needs_an_expected_property() {
        let r = results(vec![
            (
                "linearizable",
                vec![violation("single-value", vec![700], vec![])],
            ),
            (
                "paxos",
                vec![
                    violation(
                        "p2c-justified-accept",
                        vec![],
                        vec![exchange(0, 1, Some(2), Some(300))],
                    ),
                    violation(
                        "p2c-justified-accept",
                        vec![],
                        vec![exchange(0, 1, Some(2), Some(200))],
                    ),
                    violation(
                        "chosen-unique",
                        vec![],
                        vec![exchange(0, 1, Some(2), Some(100))],
                    ),
                ],
            ),
        ]);
        let d = detect(&r, &["p2c-justified-accept", "learners-agree"], &[]);
        assert!(d.caught());
        assert_eq!(d.caught_by, vec!["p2c-justified-accept"]);
        assert_eq!(d.others, vec!["chosen-unique", "single-value"]);
        assert_eq!(
            d.at,
            Some(Duration::from_nanos(200)),
            "earliest expected, not chosen-unique"
        );
        assert_eq!(
            d.violated(),
            vec!["p2c-justified-accept", "chosen-unique", "single-value"]
        );

        let missed = detect(&r, &["durability"], &[]);
        assert!(!missed.caught());
        assert_eq!(missed.verdict, Validity::Invalid);
        assert_eq!(missed.at, None);

        let valid = detect(&results(vec![("paxos", vec![])]), &["durability"], &[]);
        assert_eq!(valid.verdict, Validity::Valid);
        assert!(!valid.caught());
        assert!(valid.violated().is_empty());
    }

    #[test]
    fn medians() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[ms(3)]), Some(ms(3)));
        assert_eq!(median(&[ms(9), ms(1), ms(4)]), Some(ms(4)));
        assert_eq!(median(&[ms(9), ms(1), ms(4), ms(2)]), Some(ms(3)));
    }
}
