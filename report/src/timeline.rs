//! The operations timeline: one lane per client process, one bar per
//! operation from invocation to completion, coloured by outcome, with the
//! fault intervals drawn as shaded bands across all lanes (and labelled in
//! rows above them, packed so overlapping faults do not hide each other).
//!
//! Hand-written SVG: it is a layout of rectangles, not a chart.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::escape::{html as esc, secs};
use super::faults::Interval;
use super::ops::{OpSpan, OpState};

const WIDTH: f64 = 1100.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const LANE: f64 = 14.0;
const BAR: f64 = 10.0;
const FAULT_ROW: f64 = 15.0;
const AXIS: f64 = 26.0;

/// Fill colour of an outcome.
pub fn outcome_colour(outcome: OpState) -> &'static str {
    match outcome {
        OpState::Ok => "#2e9e44",
        OpState::Fail => "#d23c3c",
        OpState::Info => "#e8a317",
        OpState::Pending => "#9a9a9a",
    }
}

/// Fill colour of a fault kind.
pub fn fault_colour(fault: &str) -> &'static str {
    match fault {
        "kill" | "restart" | "power-fail" => "#7b3fa0",
        "pause" => "#a0522d",
        "partition" => "#1f6fb4",
        "drop" => "#178a8a",
        "delay" => "#7a7a1f",
        "duplicate" => "#c0458a",
        _ => "#555555",
    }
}

/// Renders the timeline of `ops` (already windowed) between `t0` and `t1` ns.
/// Ops whose history index is in `highlight` get a black outline.
pub fn render(
    ops: &[OpSpan],
    intervals: &[Interval],
    t0: u64,
    t1: u64,
    run_end: u64,
    highlight: &BTreeSet<u64>,
) -> String {
    let t1 = t1.max(t0 + 1);
    let x =
        |t: u64| LEFT + (t.clamp(t0, t1) - t0) as f64 / (t1 - t0) as f64 * (WIDTH - LEFT - RIGHT);
    let lanes: BTreeMap<u64, usize> = ops
        .iter()
        .map(|op| op.process)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(i, p)| (p, i))
        .collect();
    let shown: Vec<&Interval> = intervals
        .iter()
        .filter(|i| i.start <= t1 && i.end_or(run_end) >= t0)
        .collect();
    let rows = pack_rows(&shown, run_end, x);
    let fault_rows = rows.iter().copied().max().map_or(0, |r| r + 1);
    let top = 4.0 + fault_rows as f64 * FAULT_ROW;
    let lanes_height = lanes.len().max(1) as f64 * LANE;
    let height = top + lanes_height + AXIS;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="10">"#
    );
    // Lane stripes and labels.
    for (process, lane) in &lanes {
        let y = top + *lane as f64 * LANE;
        if lane % 2 == 0 {
            let _ = write!(
                svg,
                r##"<rect x="{LEFT}" y="{y}" width="{}" height="{LANE}" fill="#f3f3f3"/>"##,
                WIDTH - LEFT - RIGHT
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">p{process}</text>"#,
            LEFT - 4.0,
            y + LANE - 3.0
        );
    }
    // Fault bands across the lanes, with labels in packed rows above.
    for (interval, row) in shown.iter().zip(&rows) {
        let (xa, xb) = (x(interval.start), x(interval.end_or(run_end)));
        let w = (xb - xa).max(2.0);
        let colour = fault_colour(&interval.fault);
        let healed = match interval.end {
            Some(end) => format!("healed at {}", secs(end)),
            None => "never healed".to_string(),
        };
        let title = esc(&format!(
            "{} from {} ({healed})",
            interval.label(),
            secs(interval.start)
        ));
        let ly = 4.0 + *row as f64 * FAULT_ROW;
        let _ = write!(
            svg,
            r#"<g class="fault"><title>{title}</title><rect x="{xa:.1}" y="{top}" width="{w:.1}" height="{lanes_height}" fill="{colour}" fill-opacity="0.13"/><rect x="{xa:.1}" y="{ly}" width="{w:.1}" height="{}" fill="{colour}" fill-opacity="0.85" rx="2"/><text x="{:.1}" y="{}" fill="white">{}</text></g>"#,
            FAULT_ROW - 3.0,
            xa + 3.0,
            ly + FAULT_ROW - 6.0,
            esc(&fit(&interval.label(), w))
        );
    }
    // Operation bars.
    for op in ops {
        let lane = lanes[&op.process];
        let y = top + lane as f64 * LANE + (LANE - BAR) / 2.0;
        let xa = x(op.start);
        let xb = x(op.end.unwrap_or(run_end));
        let w = (xb - xa).max(2.0);
        let marked = highlight.contains(&op.index)
            || op.completion_index.is_some_and(|i| highlight.contains(&i));
        let stroke = if marked {
            r#" stroke="black" stroke-width="2""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r#"<rect class="op {}" x="{xa:.1}" y="{y:.1}" width="{w:.1}" height="{BAR}" fill="{}"{stroke}><title>{}</title></rect>"#,
            op.outcome.as_str(),
            outcome_colour(op.outcome),
            esc(&format!("#{} {}", op.index, op.describe()))
        );
    }
    // Time axis.
    let axis_y = top + lanes_height;
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="#444"/>"##,
        WIDTH - RIGHT
    );
    for tick in ticks(t0, t1) {
        let tx = x(tick);
        let _ = write!(
            svg,
            r##"<line x1="{tx:.1}" y1="{axis_y}" x2="{tx:.1}" y2="{}" stroke="#444"/><text x="{tx:.1}" y="{}" text-anchor="middle">{}</text>"##,
            axis_y + 4.0,
            axis_y + 15.0,
            tick_label(tick, t1 - t0)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Assigns each interval the first label row where it overlaps no earlier
/// label (greedy interval colouring in pixel space, labels need ~70 px).
fn pack_rows(shown: &[&Interval], run_end: u64, x: impl Fn(u64) -> f64) -> Vec<usize> {
    let mut row_ends: Vec<f64> = Vec::new();
    shown
        .iter()
        .map(|i| {
            let start = x(i.start);
            let end = x(i.end_or(run_end)).max(start + 70.0);
            match row_ends.iter().position(|&e| e <= start) {
                Some(row) => {
                    row_ends[row] = end;
                    row
                }
                None => {
                    row_ends.push(end);
                    row_ends.len() - 1
                }
            }
        })
        .collect()
}

/// Cuts a label to what fits in `width` pixels (about 6 px a character).
fn fit(label: &str, width: f64) -> String {
    let chars = ((width - 4.0) / 6.0).max(0.0) as usize;
    if label.chars().count() <= chars {
        label.to_string()
    } else {
        label.chars().take(chars).collect()
    }
}

/// Round tick positions (ns) between `t0` and `t1`: at most about 10.
pub fn ticks(t0: u64, t1: u64) -> Vec<u64> {
    let span = t1.saturating_sub(t0).max(1);
    let mut step: u64 = 1_000; // 1 µs
    'search: loop {
        for m in [1, 2, 5] {
            if span / (step * m) <= 10 {
                step *= m;
                break 'search;
            }
        }
        step *= 10;
    }
    let first = t0.div_ceil(step) * step;
    (0..)
        .map(|i| first + i * step)
        .take_while(|&t| t <= t1)
        .collect()
}

fn tick_label(t: u64, span: u64) -> String {
    let s = t as f64 / 1e9;
    if span >= 10_000_000_000 {
        format!("{s:.0}s")
    } else if span >= 1_000_000_000 {
        format!("{s:.1}s")
    } else if span >= 10_000_000 {
        format!("{s:.2}s")
    } else {
        format!("{s:.4}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn ticks_are_round_and_few() {
        assert_eq!(
            ticks(0, 30_000_000_000),
            (0..=6).map(|i| i * 5_000_000_000).collect::<Vec<_>>()
        );
        assert_eq!(ticks(1_500_000_000, 2_600_000_000).len(), 6);
        for (a, b) in [(0, 1), (0, 7_777), (123, 987_654_321), (5, 5)] {
            let t = ticks(a, b);
            assert!(t.len() <= 11, "{a}..{b}: {t:?}");
            assert!(t.iter().all(|&x| x >= a && x <= b.max(a + 1)));
        }
    }

    fn op(process: u64, start: u64, end: Option<u64>, outcome: OpState) -> OpSpan {
        OpSpan {
            process,
            f: "propose".into(),
            key: Some("<k>".into()),
            index: start,
            completion_index: end,
            start,
            end,
            outcome,
            input: Value::from("v"),
            output: Value::Null,
            error: None,
        }
    }

    #[test]
    fn renders_lanes_bars_faults_and_escapes_text() {
        let ops = vec![
            op(1, 0, Some(500), OpState::Ok),
            op(2, 100, Some(900), OpState::Info),
            op(1, 600, None, OpState::Pending),
        ];
        let faults = vec![Interval {
            fault: "partition".into(),
            nodes: vec![0, 1],
            start: 200,
            end: None,
            detail: Value::Null,
        }];
        let svg = render(&ops, &faults, 0, 1_000, 1_000, &BTreeSet::from([100]));
        assert_eq!(svg.matches("<rect class=\"op ").count(), 3);
        assert!(svg.contains(">p1</text>") && svg.contains(">p2</text>"));
        assert!(svg.contains("partition n0,n1 from 0.000 s (never healed)"));
        assert!(svg.contains("&lt;k&gt;") && !svg.contains("<k>"));
        assert_eq!(svg.matches("stroke=\"black\"").count(), 1);
    }

    #[test]
    fn overlapping_fault_labels_get_separate_rows() {
        let iv = |start, end| Interval {
            fault: "kill".into(),
            nodes: vec![],
            start,
            end: Some(end),
            detail: Value::Null,
        };
        let a = iv(0, 500);
        let b = iv(100, 200);
        let c = iv(600, 700);
        let rows = pack_rows(&[&a, &b, &c], 1_000, |t| t as f64);
        assert_eq!(rows, vec![0, 1, 0]);
    }
}
