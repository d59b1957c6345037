//! Operations: invocations paired with their completions, and the two
//! reductions that keep large runs readable (a window of operations for the
//! timeline, min-max downsampling for the plots).
//!
//! Pairing follows Jepsen: a client process has at most one operation in
//! flight, so a completion (`ok`/`fail`/`info`) closes the open invocation of
//! the same process. An invocation never completed (the run was killed) is
//! `Pending`; a completion with no open invocation is an orphan.

use std::collections::BTreeMap;
use std::ops::Range;

use ballot_core::records::{Event, EventType, Process};
use serde_json::Value;

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpState {
    /// It took effect.
    Ok,
    /// It definitely had no effect.
    Fail,
    /// Indeterminate.
    Info,
    /// No completion was recorded.
    Pending,
}

impl OpState {
    /// Lower-case name, also the CSS class.
    pub fn as_str(self) -> &'static str {
        match self {
            OpState::Ok => "ok",
            OpState::Fail => "fail",
            OpState::Info => "info",
            OpState::Pending => "pending",
        }
    }
}

/// One client operation: an invocation and its completion, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct OpSpan {
    /// Client process.
    pub process: u64,
    /// Function, e.g. `propose` or `read`.
    pub f: String,
    /// Key (Paxos instance), if any.
    pub key: Option<String>,
    /// History index of the invocation.
    pub index: u64,
    /// History index of the completion, if any.
    pub completion_index: Option<u64>,
    /// Invocation time (ns since the test began).
    pub start: u64,
    /// Completion time, if completed.
    pub end: Option<u64>,
    /// How it ended.
    pub outcome: OpState,
    /// The invocation's value.
    pub input: Value,
    /// The completion's value.
    pub output: Value,
    /// The completion's error, if any.
    pub error: Option<String>,
}

impl OpSpan {
    /// Completion time minus invocation time, if completed.
    pub fn latency(&self) -> Option<u64> {
        self.end.map(|end| end.saturating_sub(self.start))
    }

    /// One line for a tooltip or a table.
    pub fn describe(&self) -> String {
        let key = self
            .key
            .as_deref()
            .map(|k| format!(" {k}"))
            .unwrap_or_default();
        let mut text = format!(
            "p{} {}{} {} → {}",
            self.process,
            self.f,
            key,
            super::escape::value(&self.input),
            self.outcome.as_str()
        );
        if !self.output.is_null() {
            text.push(' ');
            text.push_str(&super::escape::value(&self.output));
        }
        if let Some(error) = &self.error {
            text.push_str(&format!(" ({error})"));
        }
        if let Some(latency) = self.latency() {
            text.push_str(&format!(" in {}", super::escape::duration(latency)));
        }
        text
    }
}

/// The operations of a history, sorted by invocation time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pairing {
    /// Operations in invocation order.
    pub ops: Vec<OpSpan>,
    /// Completions with no open invocation of their process.
    pub orphans: usize,
}

/// Pairs client invocations with completions; nemesis events are skipped.
pub fn pair(history: &[Event]) -> Pairing {
    let mut pairing = Pairing::default();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    for event in history {
        let Process::Client(process) = event.process else {
            continue;
        };
        let outcome = match event.kind {
            EventType::Invoke => {
                // A second invoke on a busy process leaves the first pending.
                open.insert(process, pairing.ops.len());
                pairing.ops.push(OpSpan {
                    process,
                    f: event.f.clone(),
                    key: event.key.clone(),
                    index: event.index,
                    completion_index: None,
                    start: event.time,
                    end: None,
                    outcome: OpState::Pending,
                    input: event.value.clone(),
                    output: Value::Null,
                    error: None,
                });
                continue;
            }
            EventType::Ok => OpState::Ok,
            EventType::Fail => OpState::Fail,
            EventType::Info => OpState::Info,
        };
        match open.remove(&process) {
            Some(i) => {
                let op = &mut pairing.ops[i];
                op.end = Some(event.time.max(op.start));
                op.completion_index = Some(event.index);
                op.outcome = outcome;
                op.output = event.value.clone();
                op.error = event.error.clone();
            }
            None => pairing.orphans += 1,
        }
    }
    pairing.ops.sort_by_key(|op| (op.start, op.index));
    pairing
}

/// Operation counts by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// All operations.
    pub total: usize,
    /// Ended ok.
    pub ok: usize,
    /// Ended fail.
    pub fail: usize,
    /// Ended info.
    pub info: usize,
    /// Never completed.
    pub pending: usize,
}

/// Counts operations by outcome.
pub fn counts(ops: &[OpSpan]) -> Counts {
    let mut c = Counts {
        total: ops.len(),
        ..Counts::default()
    };
    for op in ops {
        match op.outcome {
            OpState::Ok => c.ok += 1,
            OpState::Fail => c.fail += 1,
            OpState::Info => c.info += 1,
            OpState::Pending => c.pending += 1,
        }
    }
    c
}

/// The range of at most `max` operations (sorted by start) to show: centred on
/// the first operation that starts at or after `focus` when there is a focus
/// (the first violation's time), else the first `max` operations.
pub fn window(ops: &[OpSpan], focus: Option<u64>, max: usize) -> Range<usize> {
    if ops.len() <= max {
        return 0..ops.len();
    }
    let Some(focus) = focus else {
        return 0..max;
    };
    let centre = ops.partition_point(|op| op.start < focus);
    let start = centre.saturating_sub(max / 2).min(ops.len() - max);
    start..start + max
}

/// Reduces points (sorted or not by x) to at most about `max` by min-max
/// decimation: x is cut into `max / 2` equal buckets and each bucket keeps its
/// lowest and highest point, so outliers (the interesting latencies) survive.
pub fn downsample(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max || max < 2 {
        return points.to_vec();
    }
    let buckets = max / 2;
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.0), hi.max(p.0))
        });
    let width = (hi - lo) / buckets as f64;
    // Per bucket: its lowest and its highest point.
    type MinMax = ((f64, f64), (f64, f64));
    let mut kept: Vec<Option<MinMax>> = vec![None; buckets];
    for &p in points {
        let b = if width > 0.0 {
            (((p.0 - lo) / width) as usize).min(buckets - 1)
        } else {
            0
        };
        kept[b] = Some(match kept[b] {
            None => (p, p),
            Some((min, max)) => (
                if p.1 < min.1 { p } else { min },
                if p.1 > max.1 { p } else { max },
            ),
        });
    }
    let mut out = Vec::with_capacity(max);
    for (min, max) in kept.into_iter().flatten() {
        out.push(min);
        if max != min {
            out.push(max);
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(index: u64, time: u64, process: u64, kind: EventType, value: Value) -> Event {
        Event {
            index,
            time,
            process: Process::Client(process),
            kind,
            f: "propose".into(),
            key: Some("x".into()),
            value,
            error: None,
        }
    }

    #[test]
    fn pairs_completions_with_the_open_invocation_of_their_process() {
        use EventType::*;
        let mut nemesis = ev(2, 25, 0, Info, Value::Null);
        nemesis.process = Process::nemesis();
        let history = vec![
            ev(0, 10, 1, Invoke, "1-1".into()),
            ev(1, 20, 2, Invoke, "2-1".into()),
            nemesis,
            ev(3, 30, 2, Ok, "2-1".into()),
            ev(4, 40, 1, Info, Value::Null),
            ev(5, 50, 3, Fail, Value::Null),    // orphan
            ev(6, 60, 4, Invoke, "4-1".into()), // never completes
        ];
        let pairing = pair(&history);
        assert_eq!(pairing.orphans, 1);
        let got: Vec<(u64, OpState, Option<u64>)> = pairing
            .ops
            .iter()
            .map(|op| (op.process, op.outcome, op.latency()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, OpState::Info, Some(30)),
                (2, OpState::Ok, Some(10)),
                (4, OpState::Pending, None)
            ]
        );
        let c = counts(&pairing.ops);
        assert_eq!((c.total, c.ok, c.fail, c.info, c.pending), (3, 1, 0, 1, 1));
        assert_eq!(
            pairing.ops[1].describe(),
            "p2 propose x 2-1 → ok 2-1 in 0 µs"
        );
    }

    fn ops_at(starts: &[u64]) -> Vec<OpSpan> {
        starts
            .iter()
            .map(|&t| OpSpan {
                process: 0,
                f: "read".into(),
                key: None,
                index: t,
                completion_index: None,
                start: t,
                end: None,
                outcome: OpState::Pending,
                input: Value::Null,
                output: Value::Null,
                error: None,
            })
            .collect()
    }

    #[test]
    fn windows_centre_on_the_focus_and_stay_in_bounds() {
        let ops = ops_at(&(0..100).map(|i| i * 10).collect::<Vec<_>>());
        let table = [
            (None, 10, 0..10),
            (Some(500), 10, 45..55),
            (Some(0), 10, 0..10),
            (Some(995), 10, 90..100),
            (Some(5_000), 10, 90..100),
            (Some(500), 1000, 0..100),
        ];
        for (focus, max, want) in table {
            assert_eq!(window(&ops, focus, max), want, "focus {focus:?} max {max}");
        }
    }

    #[test]
    fn downsampling_keeps_extremes_and_bounds_the_count() {
        let mut points: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, 1.0)).collect();
        points[5_000].1 = 99.0;
        points[7_777].1 = -5.0;
        let out = downsample(&points, 2_000);
        assert!(out.len() <= 2_000, "{} points", out.len());
        assert!(out.contains(&(5_000.0, 99.0)));
        assert!(out.contains(&(7_777.0, -5.0)));
        assert!(out.windows(2).all(|w| w[0].0 <= w[1].0));
        // Small inputs and same-x inputs are untouched or bounded.
        assert_eq!(downsample(&points[..5], 2_000).len(), 5);
        let same_x: Vec<(f64, f64)> = (0..100).map(|i| (1.0, i as f64)).collect();
        assert_eq!(downsample(&same_x, 10), vec![(1.0, 0.0), (1.0, 99.0)]);
    }
}
