//! Faults: when they were active, and what they did.
//!
//! Intervals come from `nemesis.jsonl` start/stop pairs (or, when that file
//! is missing, from the nemesis's `start-*`/`stop-*` events in the history).
//! A stop closes the open start of the same fault on the same nodes, else the
//! oldest open start of that fault; a start never stopped lasts to the end of
//! the run. Effects come from the message log: the fate of every exchange
//! per link, plus "delayed" exchanges, which the proxy held for at least
//! [`DELAY_THRESHOLD_NS`] before forwarding.

use std::collections::BTreeMap;

use ballot_core::fault::FaultKind;
use ballot_core::protocol::NodeId;
use ballot_core::records::{
    Event, Exchange, Fate, FaultPhase, NemesisRecord, Process, Snapshot, SnapshotReason,
};
use serde_json::Value;

use super::ops::Counts;

/// An exchange the proxy held at least this long (sent to delivered) counts as delayed.
pub const DELAY_THRESHOLD_NS: u64 = 5_000_000;

/// One fault, from its start to its stop.
#[derive(Clone, Debug, PartialEq)]
pub struct Interval {
    /// Fault name, e.g. `kill`, `partition`.
    pub fault: String,
    /// Nodes it acted on.
    pub nodes: Vec<NodeId>,
    /// When it was installed.
    pub start: u64,
    /// When it was healed; `None` if never (it lasts to the end of the run).
    pub end: Option<u64>,
    /// The start record's details.
    pub detail: Value,
}

impl Interval {
    /// The end, or `run_end` for a fault never healed.
    pub fn end_or(&self, run_end: u64) -> u64 {
        self.end.unwrap_or(run_end).max(self.start)
    }

    /// Short label, e.g. `kill n1,n2`.
    pub fn label(&self) -> String {
        if self.nodes.is_empty() {
            self.fault.clone()
        } else {
            let nodes: Vec<String> = self.nodes.iter().map(|n| format!("n{n}")).collect();
            format!("{} {}", self.fault, nodes.join(","))
        }
    }
}

/// Pairs start and stop records into intervals, in start order.
pub fn intervals(records: &[NemesisRecord]) -> Vec<Interval> {
    let mut sorted: Vec<&NemesisRecord> = records.iter().collect();
    sorted.sort_by_key(|r| r.time);
    let mut out: Vec<Interval> = Vec::new();
    for record in sorted {
        match record.phase {
            FaultPhase::Start => out.push(Interval {
                fault: record.fault.name().to_string(),
                nodes: record.nodes.clone(),
                start: record.time,
                end: None,
                detail: record.detail.clone(),
            }),
            FaultPhase::Stop => {
                let open = |i: &Interval| i.end.is_none() && i.fault == record.fault.name();
                let exact = out.iter().position(|i| open(i) && i.nodes == record.nodes);
                if let Some(i) = exact.or_else(|| out.iter().position(open)) {
                    out[i].end = Some(record.time.max(out[i].start));
                }
            }
        }
    }
    out
}

/// Nemesis records rebuilt from the history's `start-*`/`stop-*` nemesis events.
pub fn records_from_history(history: &[Event]) -> Vec<NemesisRecord> {
    history
        .iter()
        .filter(|e| e.process == Process::nemesis())
        .filter_map(|e| {
            let (phase, fault) = if let Some(f) = e.f.strip_prefix("start-") {
                (FaultPhase::Start, f)
            } else if let Some(f) = e.f.strip_prefix("stop-") {
                (FaultPhase::Stop, f)
            } else {
                return None;
            };
            let fault = FaultKind::recorded(fault)?;
            let nodes = e
                .value
                .get("nodes")
                .and_then(|n| serde_json::from_value(n.clone()).ok())
                .unwrap_or_default();
            Some(NemesisRecord {
                time: e.time,
                phase,
                fault,
                nodes,
                detail: e.value.clone(),
            })
        })
        .collect()
}

/// What happened to the exchanges of one link (or of all links).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Exchanges carried.
    pub total: usize,
    /// Delivered and answered normally.
    pub ok: usize,
    /// Cut by a partition.
    pub cut: usize,
    /// Request dropped before the node.
    pub dropped_request: usize,
    /// Response dropped after the node.
    pub dropped_response: usize,
    /// Held at least [`DELAY_THRESHOLD_NS`] before forwarding.
    pub delayed: usize,
    /// Extra deliveries.
    pub duplicated: usize,
    /// Connection refused (node down).
    pub refused: usize,
    /// No answer in time (paused or slow node).
    pub timeout: usize,
}

impl Effects {
    /// Exchanges a fault touched in any way.
    pub fn affected(&self) -> usize {
        self.cut
            + self.dropped_request
            + self.dropped_response
            + self.delayed
            + self.duplicated
            + self.refused
            + self.timeout
    }

    fn add(&mut self, exchange: &Exchange) {
        self.total += 1;
        match exchange.fate {
            Fate::Ok => self.ok += 1,
            Fate::Cut => self.cut += 1,
            Fate::DroppedRequest => self.dropped_request += 1,
            Fate::DroppedResponse => self.dropped_response += 1,
            Fate::Duplicated => self.duplicated += 1,
            Fate::Refused => self.refused += 1,
            Fate::Timeout => self.timeout += 1,
        }
        if exchange
            .delivered
            .is_some_and(|d| d.saturating_sub(exchange.sent) >= DELAY_THRESHOLD_NS)
        {
            self.delayed += 1;
        }
    }
}

/// Fault effects per link (client host, node), and in total.
pub fn effects(messages: &[Exchange]) -> (BTreeMap<(u64, NodeId), Effects>, Effects) {
    let mut per_link: BTreeMap<(u64, NodeId), Effects> = BTreeMap::new();
    let mut total = Effects::default();
    for exchange in messages {
        per_link
            .entry((exchange.from, exchange.to))
            .or_default()
            .add(exchange);
        total.add(exchange);
    }
    (per_link, total)
}

/// Faults that acted on one node: count and total time per fault kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeFaults {
    /// Per fault kind (e.g. `kill`, `pause`): how many times, and for how long in total (ns).
    pub by_fault: BTreeMap<String, (usize, u64)>,
    /// Snapshots taken right after a restart.
    pub restarts_seen: usize,
}

/// Faults per node, from the intervals and the restart snapshots.
pub fn per_node(
    intervals: &[Interval],
    snapshots: &[Snapshot],
    run_end: u64,
) -> BTreeMap<NodeId, NodeFaults> {
    let mut out: BTreeMap<NodeId, NodeFaults> = BTreeMap::new();
    for interval in intervals {
        for &node in &interval.nodes {
            let entry = out
                .entry(node)
                .or_default()
                .by_fault
                .entry(interval.fault.clone())
                .or_default();
            entry.0 += 1;
            entry.1 += interval.end_or(run_end) - interval.start;
        }
    }
    for snapshot in snapshots {
        if snapshot.reason == SnapshotReason::Restart {
            out.entry(snapshot.node).or_default().restarts_seen += 1;
        }
    }
    out
}

/// The warnings a reader must not miss: faults without effect, no success.
pub fn warnings(counts: &Counts, intervals: &[Interval], total: &Effects) -> Vec<String> {
    let mut out = Vec::new();
    if counts.total == 0 {
        out.push("No operation was recorded: the run tested nothing.".to_string());
    } else if counts.ok == 0 {
        out.push(format!(
            "No operation succeeded: all {} operations failed, were indeterminate or never completed.",
            counts.total
        ));
    }
    if intervals.is_empty() {
        out.push("No fault was injected: this run only tested the happy path.".to_string());
    } else if total.total > 0 && total.affected() == 0 {
        out.push(format!(
            "The faults had no effect: {} fault(s) were injected, but none of the {} messages was cut, dropped, delayed, duplicated, refused or timed out.",
            intervals.len(),
            total.total
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(time: u64, phase: FaultPhase, fault: &str, nodes: &[NodeId]) -> NemesisRecord {
        NemesisRecord {
            time,
            phase,
            fault: FaultKind::recorded(fault).expect("a fault name"),
            nodes: nodes.to_vec(),
            detail: Value::Null,
        }
    }

    #[test]
    fn stops_close_the_matching_start() {
        use FaultPhase::*;
        let records = vec![
            rec(10, Start, "kill", &[0]),
            rec(20, Start, "kill", &[1]),
            rec(30, Stop, "kill", &[1]),
            rec(40, Start, "partition", &[0, 1, 2]),
            rec(50, Stop, "kill", &[]),   // closes the oldest open kill
            rec(60, Stop, "pause", &[2]), // no start: ignored
        ];
        let got: Vec<(String, u64, Option<u64>)> = intervals(&records)
            .into_iter()
            .map(|i| (i.label(), i.start, i.end))
            .collect();
        assert_eq!(
            got,
            vec![
                ("kill n0".into(), 10, Some(50)),
                ("kill n1".into(), 20, Some(30)),
                ("partition n0,n1,n2".into(), 40, None),
            ]
        );
    }

    #[test]
    fn history_nemesis_events_become_records() {
        let event = |f: &str, value: Value| Event {
            index: 0,
            time: 5,
            process: Process::nemesis(),
            kind: ballot_core::records::EventType::Info,
            f: f.into(),
            key: None,
            value,
            error: None,
        };
        let history = vec![
            event("start-pause", serde_json::json!({"nodes": [2]})),
            event("stop-pause", Value::Null),
            event("something-else", Value::Null),
        ];
        let records = records_from_history(&history);
        assert_eq!(records.len(), 2);
        assert_eq!(
            (records[0].phase, records[0].nodes.clone()),
            (FaultPhase::Start, vec![2])
        );
        assert_eq!(
            (records[1].phase, records[1].fault.name()),
            (FaultPhase::Stop, "pause")
        );
    }

    fn ex(from: u64, to: NodeId, fate: Fate, sent: u64, delivered: Option<u64>) -> Exchange {
        Exchange {
            id: 0,
            from,
            to,
            process: None,
            path: "/v1/prepare".into(),
            request: Value::Null,
            status: None,
            response: None,
            sent,
            delivered,
            replied: None,
            fate,
            duplicate_of: None,
        }
    }

    #[test]
    fn effects_count_fates_and_delays_per_link() {
        let messages = vec![
            ex(0, 1, Fate::Ok, 0, Some(1_000)),
            ex(0, 1, Fate::Ok, 0, Some(DELAY_THRESHOLD_NS)),
            ex(0, 1, Fate::Cut, 0, None),
            ex(0, 2, Fate::DroppedResponse, 0, Some(10)),
            ex(1, 2, Fate::Duplicated, 0, Some(10)),
        ];
        let (per_link, total) = effects(&messages);
        let link = per_link[&(0, 1)];
        assert_eq!((link.total, link.ok, link.delayed, link.cut), (3, 2, 1, 1));
        assert_eq!(link.affected(), 2);
        assert_eq!(per_link[&(1, 2)].duplicated, 1);
        assert_eq!((total.total, total.affected()), (5, 4));
    }

    #[test]
    fn per_node_sums_counts_and_durations() {
        let ivs = intervals(&[
            rec(10, FaultPhase::Start, "pause", &[1]),
            rec(30, FaultPhase::Stop, "pause", &[1]),
            rec(40, FaultPhase::Start, "pause", &[1]),
        ]);
        let nodes = per_node(&ivs, &[], 100);
        assert_eq!(nodes[&1].by_fault["pause"], (2, 20 + 60));
    }

    #[test]
    fn warnings_table() {
        let c = |total, ok| Counts {
            total,
            ok,
            ..Counts::default()
        };
        let kill = intervals(&[rec(1, FaultPhase::Start, "kill", &[0])]);
        let quiet = Effects {
            total: 4,
            ok: 4,
            ..Effects::default()
        };
        let busy = Effects {
            total: 4,
            ok: 3,
            refused: 1,
            ..Effects::default()
        };
        let table: [(Counts, &[Interval], Effects, &[&str]); 4] = [
            (c(5, 5), &kill, busy, &[]),
            (c(5, 0), &kill, busy, &["No operation succeeded"]),
            (
                c(0, 0),
                &[],
                busy,
                &["No operation was recorded", "No fault was injected"],
            ),
            (c(5, 2), &kill, quiet, &["The faults had no effect"]),
        ];
        for (counts, ivs, effects, want) in table {
            let got = warnings(&counts, ivs, &effects);
            assert_eq!(got.len(), want.len(), "{got:?}");
            for (g, w) in got.iter().zip(want) {
                assert!(g.starts_with(w), "{g} should start with {w}");
            }
        }
    }
}
