//! `latency.svg` (each operation's latency against its invocation time, by
//! outcome, log scale) and `rate.svg` (completions per time bucket, by
//! outcome), drawn with plotters' SVG backend. Fault intervals are shaded
//! behind the data. Large runs are reduced to at most [`MAX_POINTS`] points
//! by min-max decimation, so outliers survive.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::faults::Interval;
use super::ops::{downsample, OpSpan, OpState};
use super::ReportError;

/// Upper bound on points drawn in one plot.
pub const MAX_POINTS: usize = 2_000;
/// Plot size in pixels.
pub const SIZE: (u32, u32) = (1000, 340);

const OUTCOMES: [OpState; 3] = [OpState::Ok, OpState::Fail, OpState::Info];

fn colour(outcome: OpState) -> RGBColor {
    match outcome {
        OpState::Ok => RGBColor(0x2e, 0x9e, 0x44),
        OpState::Fail => RGBColor(0xd2, 0x3c, 0x3c),
        OpState::Info => RGBColor(0xe8, 0xa3, 0x17),
        OpState::Pending => RGBColor(0x9a, 0x9a, 0x9a),
    }
}

fn fault_rgb(fault: &str) -> RGBColor {
    let hex = super::timeline::fault_colour(fault).trim_start_matches('#');
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("55"), 16).unwrap_or(0x55);
    RGBColor(byte(0), byte(2), byte(4))
}

fn plot_error(what: &'static str) -> impl Fn(String) -> ReportError {
    move |message| ReportError::Plot { what, message }
}

/// Seconds from nanoseconds.
fn s(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Fault intervals grouped by kind, as (start, end) in seconds.
fn fault_spans(intervals: &[Interval], run_end: u64) -> BTreeMap<&str, Vec<(f64, f64)>> {
    let mut spans: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for i in intervals {
        spans
            .entry(i.fault.as_str())
            .or_default()
            .push((s(i.start), s(i.end_or(run_end))));
    }
    spans
}

/// Latency points (invocation s, latency ms) per outcome, downsampled so the
/// total stays within [`MAX_POINTS`] (each outcome gets its share).
pub fn latency_points(ops: &[OpSpan]) -> BTreeMap<OpState, Vec<(f64, f64)>> {
    let mut by: BTreeMap<OpState, Vec<(f64, f64)>> = BTreeMap::new();
    for op in ops {
        if let Some(latency) = op.latency() {
            by.entry(op.outcome)
                .or_default()
                .push((s(op.start), latency as f64 / 1e6));
        }
    }
    let total: usize = by.values().map(Vec::len).sum();
    for points in by.values_mut() {
        let share = (MAX_POINTS * points.len() / total.max(1)).max(2);
        *points = downsample(points, share);
    }
    by
}

/// Draws `latency.svg`.
pub fn latency_svg(
    ops: &[OpSpan],
    intervals: &[Interval],
    run_end: u64,
) -> Result<String, ReportError> {
    let points = latency_points(ops);
    let (mut lo, mut hi) = points
        .values()
        .flatten()
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
    // Log scale needs a positive, non-empty range; whole decades get labelled ticks.
    lo = if lo.is_finite() { lo.max(0.001) } else { 0.1 };
    lo = 10f64.powf(lo.log10().floor());
    hi = 10f64.powf(hi.max(lo).log10().ceil()).max(lo * 10.0);
    let x_end = s(run_end).max(0.001);
    let empty = points.values().all(Vec::is_empty);

    let mut svg = String::new();
    {
        let err = plot_error("latency.svg");
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let caption = if empty {
            "Latency by outcome (no completed operations)"
        } else {
            "Latency by outcome (shaded: faults)"
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_end, (lo..hi).log_scale())
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .y_desc("latency (ms)")
            .y_label_formatter(&|v| format!("{}", (v * 1000.0).round() / 1000.0))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        for (fault, spans) in fault_spans(intervals, run_end) {
            let c = fault_rgb(fault);
            chart
                .draw_series(spans.into_iter().map(move |(a, b)| {
                    Rectangle::new([(a, lo), (b.max(a), hi)], c.mix(0.15).filled())
                }))
                .map_err(|e| err(e.to_string()))?
                .label(fault.to_string())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.mix(0.4).filled())
                });
        }
        for outcome in OUTCOMES {
            let Some(series) = points.get(&outcome).filter(|p| !p.is_empty()) else {
                continue;
            };
            let c = colour(outcome);
            chart
                .draw_series(
                    series
                        .iter()
                        .map(move |&(x, y)| Circle::new((x, y.max(lo)), 2, c.mix(0.8).filled())),
                )
                .map_err(|e| err(e.to_string()))?
                .label(format!("{} ({})", outcome.as_str(), series.len()))
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, c.filled()));
        }
        if !empty || !intervals.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .draw()
                .map_err(|e| err(e.to_string()))?;
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// Bucket width in seconds for a run of `secs`: 1 s for runs of 20 s or more
/// (wider for very long runs, so there are at most [`MAX_POINTS`] buckets);
/// for shorter runs a round width (1, 2 or 5 times a power of ten) that gives
/// about 20 buckets, so a short run still shows a curve.
pub fn bucket_width(secs: f64) -> f64 {
    if secs >= 20.0 {
        return (secs / MAX_POINTS as f64).ceil().max(1.0);
    }
    let target = (secs / 20.0).max(0.001);
    let mut step = 0.001;
    loop {
        for m in [1.0, 2.0, 5.0] {
            if step * m >= target {
                return step * m;
            }
        }
        step *= 10.0;
    }
}

/// Completions per bucket and outcome: bucket width in seconds (1 s, or
/// wider so there are at most [`MAX_POINTS`] buckets) and the counts,
/// indexed by bucket.
pub fn rate_series(ops: &[OpSpan], run_end: u64) -> (f64, BTreeMap<OpState, Vec<u64>>) {
    let end_s = s(run_end).max(1e-9);
    let width = bucket_width(end_s);
    let buckets = (end_s / width).floor() as usize + 1;
    let mut by: BTreeMap<OpState, Vec<u64>> =
        OUTCOMES.iter().map(|&o| (o, vec![0; buckets])).collect();
    for op in ops {
        if let (Some(end), Some(counts)) = (op.end, by.get_mut(&op.outcome)) {
            let b = ((s(end) / width) as usize).min(buckets - 1);
            counts[b] += 1;
        }
    }
    (width, by)
}

/// Draws `rate.svg`.
pub fn rate_svg(
    ops: &[OpSpan],
    intervals: &[Interval],
    run_end: u64,
) -> Result<String, ReportError> {
    let (width, series) = rate_series(ops, run_end);
    let peak = series.values().flatten().copied().max().unwrap_or(0) as f64 / width;
    let y_hi = (peak * 1.15).max(1.0);
    let x_end = s(run_end).max(width);

    let mut svg = String::new();
    {
        let err = plot_error("rate.svg");
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Throughput by outcome (shaded: faults)", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_end, 0f64..y_hi)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .y_desc("completions per second")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        for (fault, spans) in fault_spans(intervals, run_end) {
            let c = fault_rgb(fault);
            chart
                .draw_series(spans.into_iter().map(move |(a, b)| {
                    Rectangle::new([(a, 0.0), (b.max(a), y_hi)], c.mix(0.15).filled())
                }))
                .map_err(|e| err(e.to_string()))?
                .label(fault.to_string())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.mix(0.4).filled())
                });
        }
        for (outcome, counts) in &series {
            let c = colour(*outcome);
            let line = counts
                .iter()
                .enumerate()
                .map(|(i, &n)| (i as f64 * width, n as f64 / width));
            let total: u64 = counts.iter().sum();
            chart
                .draw_series(LineSeries::new(line, c.stroke_width(2)))
                .map_err(|e| err(e.to_string()))?
                .label(format!("{} ({total})", outcome.as_str()))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 12, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn op(start: u64, end: Option<u64>, outcome: OpState) -> OpSpan {
        OpSpan {
            process: 0,
            f: "read".into(),
            key: None,
            index: 0,
            completion_index: None,
            start,
            end,
            outcome,
            input: Value::Null,
            output: Value::Null,
            error: None,
        }
    }

    #[test]
    fn rate_buckets_count_completions_per_second() {
        let ops = vec![
            op(0, Some(100_000_000), OpState::Ok),
            op(0, Some(1_500_000_000), OpState::Ok),
            op(0, Some(1_600_000_000), OpState::Fail),
            op(0, None, OpState::Pending),
        ];
        let (width, series) = rate_series(&ops, 2_000_000_000);
        assert_eq!(width, 0.1);
        assert_eq!(series[&OpState::Ok].len(), 21);
        assert_eq!(series[&OpState::Ok][1], 1);
        assert_eq!(series[&OpState::Ok][15], 1);
        assert_eq!(series[&OpState::Fail][16], 1);
        let (width, series) = rate_series(&ops, 30_000_000_000);
        assert_eq!(width, 1.0);
        assert_eq!(&series[&OpState::Ok][..3], &[1, 1, 0]);
        // A long run gets wider buckets, never more than MAX_POINTS.
        let (width, series) = rate_series(&ops, 3 * 3600 * 1_000_000_000);
        assert_eq!(width, 6.0);
        assert!(series[&OpState::Ok].len() <= MAX_POINTS + 1);
    }

    #[test]
    fn bucket_widths_are_round() {
        let table = [
            (0.0, 0.001),
            (0.5, 0.05),
            (2.0, 0.1),
            (19.0, 1.0),
            (30.0, 1.0),
            (10_000.0, 5.0),
        ];
        for (secs, want) in table {
            let got = bucket_width(secs);
            assert!((got - want).abs() < 1e-9, "{secs} s: {got}");
        }
    }

    #[test]
    fn latency_points_are_bounded() {
        let ops: Vec<OpSpan> = (0..50_000u64)
            .map(|i| op(i * 1_000, Some(i * 1_000 + 500 + i % 7), OpState::Ok))
            .chain((0..100u64).map(|i| op(i, Some(i + 5), OpState::Fail)))
            .collect();
        let points = latency_points(&ops);
        let total: usize = points.values().map(Vec::len).sum();
        assert!(total <= MAX_POINTS + 4, "{total} points");
        assert!(!points[&OpState::Fail].is_empty());
    }

    #[test]
    fn latency_axis_labels_every_decade() {
        let ops = vec![
            op(0, Some(20_000_000), OpState::Ok),
            op(0, Some(350_000_000), OpState::Info),
        ];
        let svg = latency_svg(&ops, &[], 1_000_000_000).unwrap();
        for label in ["\n10\n", "\n100\n", "\n1000\n"] {
            assert!(svg.contains(label), "no {label} tick label");
        }
    }

    #[test]
    fn plots_render_for_empty_tiny_and_faulty_runs() {
        let fault = Interval {
            fault: "kill".into(),
            nodes: vec![1],
            start: 10,
            end: None,
            detail: Value::Null,
        };
        let cases: [(Vec<OpSpan>, Vec<Interval>, u64); 3] = [
            (vec![], vec![], 0),
            (vec![op(5, Some(5), OpState::Info)], vec![], 5),
            (
                vec![
                    op(0, Some(2_000_000), OpState::Ok),
                    op(1, None, OpState::Pending),
                ],
                vec![fault],
                3_000_000_000,
            ),
        ];
        for (ops, faults, end) in cases {
            let latency = latency_svg(&ops, &faults, end).unwrap();
            let rate = rate_svg(&ops, &faults, end).unwrap();
            for svg in [&latency, &rate] {
                assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
                assert!(svg.trim_end().ends_with("</svg>"));
            }
        }
    }
}
