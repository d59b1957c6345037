//! The Lamport space-time diagram of the messages around the first violation.
//!
//! Each client process (or client host, when the process is unknown) and
//! each node is a vertical line; time flows down. A request is an arrow from
//! its process to its node, a reply an arrow back. Time is *ordinal*: every
//! recorded event (a send, a delivery, a reply) gets its own row, in time
//! order (ties broken by exchange id), so a burst of messages stays readable
//! however close in time it was, and the real time of each row is printed in
//! the margin. A request that never
//! reached its node (cut, dropped, refused) or a reply that never reached its
//! client (dropped response) stops half-way at a cross; a duplicate delivery
//! is dashed and its reply goes nowhere (a small circle). The violation's own
//! evidence is red; the surrounding traffic is grey. Faults that start or
//! end within the drawn span (kill, restart, pause, partition, power-fail)
//! get their own rows, drawn across the lifelines of the nodes they hit.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use ballot_core::fault::FaultKind;
use ballot_core::records::{Exchange, Fate};
use ballot_core::verdict::Violation;
use serde_json::Value;

use super::escape::{html as esc, truncate};
use super::faults::Interval;

/// A fault's start or end, drawn as a row across the lifelines it hits.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// When (ns since the run began).
    pub time: u64,
    /// The nodes it acts on; empty: every node drawn.
    pub nodes: Vec<u64>,
    /// What happened, e.g. `kill n1` or `kill n1 healed`.
    pub label: String,
}

/// The starts and ends of `faults` that lie within `[lo, hi]`.
pub fn marks(faults: &[Interval], lo: u64, hi: u64) -> Vec<Mark> {
    let mut out = Vec::new();
    for f in faults {
        if (lo..=hi).contains(&f.start) {
            out.push(Mark {
                time: f.start,
                nodes: f.nodes.clone(),
                label: f.label(),
            });
        }
        if let Some(end) = f.end.filter(|e| (lo..=hi).contains(e)) {
            out.push(Mark {
                time: end,
                nodes: f.nodes.clone(),
                label: format!("{} {}", f.label(), ended(&f.fault)),
            });
        }
    }
    out.sort_by_key(|m| m.time);
    out
}

/// Whether a recorded fault name takes its nodes down (a kill of any kind).
fn takes_node_down(fault: &str) -> bool {
    FaultKind::recorded(fault).is_some_and(FaultKind::takes_node_down)
}

/// How a fault's end reads: a killed node is restarted, a paused one resumed.
fn ended(fault: &str) -> &'static str {
    match fault {
        _ if takes_node_down(fault) => "restarted",
        "pause" => "resumed",
        _ => "healed",
    }
}

/// The time span `[lo, hi]` the drawn items cover (sends to replies).
pub fn span(items: &[Item]) -> Option<(u64, u64)> {
    let times = items.iter().flat_map(|i| {
        let ex = &i.exchange;
        [Some(ex.sent), ex.delivered, ex.replied]
            .into_iter()
            .flatten()
    });
    let (mut lo, mut hi) = (u64::MAX, 0);
    for t in times {
        lo = lo.min(t);
        hi = hi.max(t);
    }
    (lo <= hi).then_some((lo, hi))
}

/// A sentence naming the faults on the evidence's nodes that lie between
/// its messages (from the first send to the last reply), or, when none do,
/// the first node fault after the last of them (a loss the next step
/// showed): `None` when no such fault exists.
pub fn faults_between(violation: &Violation, faults: &[Interval]) -> Option<String> {
    let nodes: BTreeSet<u64> = violation.messages.iter().map(|m| m.to).collect();
    let times = violation
        .messages
        .iter()
        .flat_map(|m| [Some(m.sent), m.replied].into_iter().flatten());
    let lo = times.clone().min()?;
    let hi = times.max()?;
    let on_evidence = |f: &&Interval| f.nodes.iter().any(|n| nodes.contains(n));
    let secs = |t: u64| format!("{:.3} s", t as f64 / 1e9);
    let tell = |f: &Interval| {
        let nodes: Vec<String> = f.nodes.iter().map(|n| format!("n{n}")).collect();
        let what = match f.fault.as_str() {
            "power-fail" => "power-failed",
            fault if takes_node_down(fault) => "killed",
            "pause" => "paused",
            _ => "",
        };
        let start = if what.is_empty() {
            format!(
                "{} on {} began at {}",
                f.fault,
                nodes.join(","),
                secs(f.start)
            )
        } else {
            format!("{} was {what} at {}", nodes.join(","), secs(f.start))
        };
        match f.end {
            Some(e) => format!("{start} and {} at {}", ended(&f.fault), secs(e)),
            None => format!("{start} and stayed so to the end"),
        }
    };
    let between: Vec<String> = faults
        .iter()
        .filter(on_evidence)
        .filter(|f| f.start > lo && f.start < hi)
        .map(tell)
        .collect();
    if !between.is_empty() {
        return Some(format!(
            "Between these messages ({} to {}): {}.",
            secs(lo),
            secs(hi),
            between.join("; ")
        ));
    }
    let next = faults
        .iter()
        .filter(on_evidence)
        .filter(|f| takes_node_down(&f.fault))
        .find(|f| f.start >= hi)?;
    Some(format!(
        "After the last of these messages ({}): {}; what the node held before the kill had to survive it.",
        secs(hi),
        tell(next)
    ))
}

/// One exchange to draw, and whether it is part of the violation's evidence.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The exchange.
    pub exchange: Exchange,
    /// True when the violation cites it.
    pub evidence: bool,
}

/// Picks the exchanges to draw: the violation's own messages, plus the
/// nearest other exchanges in time on the same key, up to `max` in all,
/// ordered by time sent.
pub fn select(violation: &Violation, messages: &[Exchange], max: usize) -> Vec<Item> {
    let cited: BTreeSet<u64> = violation.messages.iter().map(|m| m.id).collect();
    let mut items: Vec<Item> = violation
        .messages
        .iter()
        .take(max)
        .map(|m| Item {
            // Prefer the logged copy (it is the full record); fall back to the cited one.
            exchange: messages
                .iter()
                .find(|l| l.id == m.id)
                .cloned()
                .unwrap_or_else(|| m.clone()),
            evidence: true,
        })
        .collect();
    let times: Vec<u64> = violation
        .messages
        .iter()
        .flat_map(|m| [Some(m.sent), m.replied])
        .flatten()
        .chain(violation.ops.iter().map(|e| e.time))
        .collect();
    let (Some(&lo), Some(&hi)) = (times.iter().min(), times.iter().max()) else {
        return items;
    };
    let distance = |t: u64| {
        if t < lo {
            lo - t
        } else {
            t.saturating_sub(hi)
        }
    };
    let mut context: Vec<&Exchange> = messages
        .iter()
        .filter(|m| !cited.contains(&m.id))
        .filter(|m| violation.key.is_none() || key_of(m) == violation.key.as_deref())
        .collect();
    context.sort_by_key(|m| (distance(m.sent), m.id));
    let room = max.saturating_sub(items.len());
    items.extend(context.into_iter().take(room).map(|m| Item {
        exchange: m.clone(),
        evidence: false,
    }));
    items.sort_by_key(|i| (i.exchange.sent, i.exchange.id));
    items
}

/// The key a request is about, if its body names one.
pub fn key_of(exchange: &Exchange) -> Option<&str> {
    exchange.request.get("key").and_then(Value::as_str)
}

fn ballot(v: Option<&Value>) -> Option<String> {
    let b = v?;
    Some(format!("{}.{}", b.get("round")?, b.get("proposer")?))
}

fn short_value(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(format!("'{}'", truncate(s, 12))),
        Value::Null => None,
        other => Some(truncate(&other.to_string(), 14)),
    }
}

/// Short request label, e.g. `#12 accept 3.1 '7'`.
pub fn request_label(ex: &Exchange) -> String {
    let verb = ex.path.rsplit('/').next().unwrap_or(&ex.path);
    let mut label = format!("#{} {verb}", ex.id);
    if let Some(b) = ballot(ex.request.get("ballot")) {
        label.push(' ');
        label.push_str(&b);
    }
    if let Some(v) = short_value(ex.request.get("value")) {
        label.push(' ');
        label.push_str(&v);
    }
    if let Some(original) = ex.duplicate_of {
        label.push_str(&format!(" (dup of #{original})"));
    }
    label
}

/// Short reply label, e.g. `ok promised 3.1 acc 1.1 '3'`, or the HTTP status.
pub fn reply_label(ex: &Exchange) -> String {
    let Some(status) = ex.status else {
        return String::new();
    };
    let Some(body) = ex.response.as_ref().filter(|_| status == 200) else {
        return format!("HTTP {status}");
    };
    let mut parts = Vec::new();
    match body.get("ok").and_then(Value::as_bool) {
        Some(true) => parts.push("ok".to_string()),
        Some(false) => parts.push("rejected".to_string()),
        None => parts.push("200".to_string()),
    }
    if let Some(p) = ballot(body.get("promised")) {
        parts.push(format!("promised {p}"));
    }
    if let Some(acc) = body.get("accepted").filter(|a| !a.is_null()) {
        let b = ballot(acc.get("ballot")).unwrap_or_default();
        let v = short_value(acc.get("value")).unwrap_or_default();
        parts.push(format!("acc {b} {v}"));
    }
    parts.join(" ")
}

/// Fate as a word for people.
pub fn fate_label(fate: Fate) -> &'static str {
    match fate {
        Fate::Ok => "ok",
        Fate::DroppedRequest => "request dropped",
        Fate::DroppedResponse => "reply dropped",
        Fate::Cut => "cut",
        Fate::Refused => "refused",
        Fate::Timeout => "timeout",
        Fate::Duplicated => "duplicated",
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Column {
    Process(u64),
    Host(u64),
    Node(u64),
}

fn client_column(ex: &Exchange) -> Column {
    match ex.process {
        Some(p) => Column::Process(p),
        None => Column::Host(ex.from),
    }
}

const LEFT: f64 = 80.0;
const SPACING: f64 = 190.0;
const TOP: f64 = 40.0;
const ROW: f64 = 22.0;

/// Renders the diagram as inline SVG (`class="message-diagram"`), with
/// `marks` (faults) as rows of their own.
pub fn render(items: &[Item], marks: &[Mark]) -> String {
    let columns: BTreeSet<Column> = items
        .iter()
        .flat_map(|i| [client_column(&i.exchange), Column::Node(i.exchange.to)])
        .collect();
    let x_of: BTreeMap<Column, f64> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| (*c, LEFT + i as f64 * SPACING))
        .collect();
    // One row per event: (time, exchange id, phase) with phase 0 send, 1 delivery, 2 reply.
    let events: BTreeSet<(u64, u64, u8)> = items
        .iter()
        .flat_map(|i| {
            let ex = &i.exchange;
            [
                Some((ex.sent, 0)),
                ex.delivered.map(|t| (t, 1)),
                ex.replied.map(|t| (t, 2)),
            ]
            .into_iter()
            .flatten()
            .map(move |(t, phase)| (t, ex.id, phase))
        })
        .collect();
    // Fault marks: phase 3, numbered in place of an exchange id.
    let events: BTreeSet<(u64, u64, u8)> = events
        .into_iter()
        .chain(marks.iter().enumerate().map(|(i, m)| (m.time, i as u64, 3)))
        .collect();
    let rank: BTreeMap<(u64, u64, u8), usize> =
        events.iter().enumerate().map(|(r, e)| (*e, r)).collect();
    let y = |t: u64, id: u64, phase: u8| {
        TOP + rank.get(&(t, id, phase)).copied().unwrap_or(0) as f64 * ROW + ROW / 2.0
    };
    let width = LEFT + columns.len().saturating_sub(1) as f64 * SPACING + 110.0;
    let height = TOP + (events.len() as f64 + 1.0) * ROW + 24.0;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="message-diagram" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11"><defs><marker id="ballot-arrow-context" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker><marker id="ballot-arrow-evidence" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c0392b"/></marker></defs>"##
    );
    // Lifelines.
    for (column, x) in &x_of {
        let (label, colour) = match column {
            Column::Process(p) => (format!("process p{p}"), "#1f4e79"),
            Column::Host(h) => (format!("host h{h}"), "#1f4e79"),
            Column::Node(n) => (format!("node n{n}"), "#333"),
        };
        let _ = write!(
            svg,
            r##"<text x="{x}" y="{}" text-anchor="middle" font-weight="bold" fill="{colour}">{label}</text><line class="lifeline" x1="{x}" y1="{TOP}" x2="{x}" y2="{}" stroke="{colour}" stroke-dasharray="4 3"/>"##,
            TOP - 14.0,
            height - 20.0
        );
    }
    // Real time of each row, in the margin.
    let mut last_time = None;
    for (r, (t, _, _)) in events.iter().enumerate() {
        if last_time == Some(*t) {
            continue;
        }
        last_time = Some(*t);
        let _ = write!(
            svg,
            r##"<text x="6" y="{:.1}" fill="#888" font-size="9">{:.3} ms</text>"##,
            TOP + r as f64 * ROW + ROW / 2.0 + 3.0,
            *t as f64 / 1e6
        );
    }
    // Faults, across the lifelines of the nodes they hit.
    let node_xs: Vec<(u64, f64)> = x_of
        .iter()
        .filter_map(|(c, x)| match c {
            Column::Node(n) => Some((*n, *x)),
            _ => None,
        })
        .collect();
    for (i, m) in marks.iter().enumerate() {
        let xs: Vec<f64> = node_xs
            .iter()
            .filter(|(n, _)| m.nodes.is_empty() || m.nodes.contains(n))
            .map(|(_, x)| *x)
            .collect();
        let my = y(m.time, i as u64, 3);
        let _ = write!(
            svg,
            r##"<g class="fault"><title>{} at {:.3} s</title>"##,
            esc(&m.label),
            m.time as f64 / 1e9
        );
        for x in &xs {
            let _ = write!(
                svg,
                r##"<line x1="{:.1}" y1="{my:.1}" x2="{:.1}" y2="{my:.1}" stroke="#d35400" stroke-width="4"/>"##,
                x - 18.0,
                x + 18.0
            );
        }
        let tx = xs.first().copied().unwrap_or(LEFT) + 22.0;
        let _ = write!(
            svg,
            r##"<text x="{tx:.1}" y="{:.1}" fill="#d35400" font-weight="bold" paint-order="stroke" stroke="white" stroke-width="3">⚡ {}</text></g>"##,
            my + 4.0,
            esc(&m.label)
        );
    }
    for item in items {
        let ex = &item.exchange;
        let (colour, marker, width_px, class) = if item.evidence {
            ("#c0392b", "ballot-arrow-evidence", 2.0, "evidence")
        } else {
            ("#666", "ballot-arrow-context", 1.0, "context")
        };
        let cx = x_of[&client_column(ex)];
        let nx = x_of[&Column::Node(ex.to)];
        // Where a lost message stops: short of the next lifeline, so never
        // on another column (halfway between two columns two apart is the
        // column between them).
        let toward = |from: f64, to: f64| {
            if (to - from).abs() < 1.0 {
                from + SPACING * 0.4
            } else {
                from + (to - from).signum() * SPACING * 0.4
            }
        };
        let request_stop = toward(cx, nx);
        let reply_stop = toward(nx, cx);
        let sy = y(ex.sent, ex.id, 0);
        let dash = if ex.fate == Fate::Duplicated {
            r#" stroke-dasharray="6 3""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r#"<g class="exchange {class} fate-{}"><title>{}</title>"#,
            esc(&fate_css(ex.fate)),
            esc(&format!(
                "{} → {} [{}]",
                request_label(ex),
                reply_label(ex),
                fate_label(ex.fate)
            ))
        );
        // The request.
        let (rx, ry, lost) = match ex.delivered {
            Some(d) => (nx, y(d, ex.id, 1), false),
            None => (request_stop, sy + ROW / 2.0, true),
        };
        let _ = write!(
            svg,
            r#"<line x1="{cx}" y1="{sy:.1}" x2="{rx:.1}" y2="{ry:.1}" stroke="{colour}" stroke-width="{width_px}"{dash}{}/>"#,
            if lost {
                String::new()
            } else {
                format!(r#" marker-end="url(#{marker})""#)
            }
        );
        let mut request_text = esc(&request_label(ex));
        if lost || ex.fate == Fate::Timeout {
            request_text.push_str(&format!(" ✕ {}", fate_label(ex.fate)));
        }
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{colour}" paint-order="stroke" stroke="white" stroke-width="3">{request_text}</text>"#,
            (cx + rx) / 2.0,
            (sy + ry) / 2.0 - 4.0
        );
        if lost {
            svg.push_str(&cross(rx, ry, colour));
        }
        // The reply.
        if let Some(r) = ex.replied {
            let ry = y(r, ex.id, 2);
            let arrive = ry + ROW * 0.6;
            let (ax, ay, end) = match ex.fate {
                Fate::DroppedResponse | Fate::Timeout => (reply_stop, ry + ROW * 0.3, "cross"),
                Fate::Duplicated => (reply_stop, ry + ROW * 0.3, "nowhere"),
                _ => (cx, arrive, "arrow"),
            };
            let _ = write!(
                svg,
                r#"<line x1="{nx}" y1="{ry:.1}" x2="{ax:.1}" y2="{ay:.1}" stroke="{colour}" stroke-width="{width_px}"{}/>"#,
                if end == "arrow" {
                    format!(r#" marker-end="url(#{marker})""#)
                } else {
                    String::new()
                }
            );
            let mut reply_text = esc(&reply_label(ex));
            match end {
                "cross" => {
                    svg.push_str(&cross(ax, ay, colour));
                    reply_text.push_str(&format!(" ✕ {}", fate_label(ex.fate)));
                }
                "nowhere" => {
                    let _ = write!(
                        svg,
                        r#"<circle cx="{ax:.1}" cy="{ay:.1}" r="3" fill="none" stroke="{colour}"/>"#
                    );
                }
                _ => {}
            }
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{colour}" font-style="italic" paint-order="stroke" stroke="white" stroke-width="3">{reply_text}</text>"#,
                (nx + ax) / 2.0,
                (ry + ay) / 2.0 + 12.0
            );
        }
        svg.push_str("</g>");
    }
    let _ = write!(
        svg,
        r##"<text x="6" y="{}" fill="#555" font-size="10">red: the violation's evidence · grey: nearby traffic on the same key · ✕ lost (cut, dropped, refused, timeout) · dashed: duplicate delivery · orange ⚡: a fault starts or ends · one row per event in time order, not to scale</text></svg>"##,
        height - 6.0
    );
    svg
}

fn fate_css(fate: Fate) -> String {
    serde_json::to_value(fate)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn cross(x: f64, y: f64, colour: &str) -> String {
    format!(
        r#"<path class="lost" d="M{:.1},{:.1} L{:.1},{:.1} M{:.1},{:.1} L{:.1},{:.1}" stroke="{colour}" stroke-width="2.5"/>"#,
        x - 5.0,
        y - 5.0,
        x + 5.0,
        y + 5.0,
        x - 5.0,
        y + 5.0,
        x + 5.0,
        y - 5.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ex(id: u64, to: u64, sent: u64, fate: Fate, key: &str) -> Exchange {
        let delivered = fate.may_have_reached_node().then_some(sent + 10);
        Exchange {
            id,
            from: 0,
            to,
            process: Some(3),
            path: "/v1/accept".into(),
            request: json!({"key": key, "ballot": {"round": 5, "proposer": 3}, "value": "<v>"}),
            status: delivered.map(|_| 200),
            response: delivered
                .map(|_| json!({"ok": true, "promised": {"round": 5, "proposer": 3}})),
            sent,
            delivered,
            replied: delivered.map(|d| d + 10),
            fate,
            duplicate_of: (fate == Fate::Duplicated).then_some(1),
        }
    }

    fn violation(messages: Vec<Exchange>) -> Violation {
        Violation {
            property: "one-value-per-ballot".into(),
            source: "P2".into(),
            key: Some("x".into()),
            explanation: "e".into(),
            ops: vec![],
            messages,
        }
    }

    #[test]
    fn selects_evidence_and_nearest_same_key_context() {
        let log = vec![
            ex(1, 0, 100, Fate::Ok, "x"),
            ex(2, 1, 1_000, Fate::Ok, "x"),
            ex(3, 2, 1_010, Fate::Ok, "other"),
            ex(4, 2, 1_020, Fate::Cut, "x"),
            ex(5, 0, 9_000, Fate::Ok, "x"),
        ];
        let v = violation(vec![log[1].clone()]);
        let picked: Vec<(u64, bool)> = select(&v, &log, 3)
            .iter()
            .map(|i| (i.exchange.id, i.evidence))
            .collect();
        assert_eq!(picked, vec![(1, false), (2, true), (4, false)]);
        assert!(select(&violation(vec![]), &log, 10).is_empty());
    }

    #[test]
    fn labels_read_like_the_protocol() {
        let ok = ex(7, 1, 0, Fate::Ok, "x");
        assert_eq!(request_label(&ok), "#7 accept 5.3 '<v>'");
        assert_eq!(reply_label(&ok), "ok promised 5.3");
        let mut prep = ok.clone();
        prep.path = "/v1/prepare".into();
        prep.request = json!({"key": "x", "ballot": {"round": 9, "proposer": 1}});
        prep.response = Some(
            json!({"ok": false, "promised": {"round": 12, "proposer": 2},
            "accepted": {"ballot": {"round": 4, "proposer": 1}, "value": "7"}}),
        );
        assert_eq!(request_label(&prep), "#7 prepare 9.1");
        assert_eq!(reply_label(&prep), "rejected promised 12.2 acc 4.1 '7'");
        prep.status = Some(409);
        assert_eq!(reply_label(&prep), "HTTP 409");
        assert_eq!(reply_label(&ex(1, 0, 0, Fate::Cut, "x")), "");
        assert_eq!(
            request_label(&ex(2, 0, 0, Fate::Duplicated, "x")),
            "#2 accept 5.3 '<v>' (dup of #1)"
        );
    }

    #[test]
    fn renders_lifelines_arrows_and_lost_messages() {
        let items: Vec<Item> = [
            (ex(1, 0, 100, Fate::Ok, "x"), true),
            (ex(2, 1, 100, Fate::Cut, "x"), false),
            (ex(3, 2, 120, Fate::DroppedResponse, "x"), true),
            (ex(4, 2, 130, Fate::Duplicated, "x"), false),
        ]
        .into_iter()
        .map(|(exchange, evidence)| Item { exchange, evidence })
        .collect();
        let svg = render(&items, &[]);
        for needle in [
            "process p3",
            "node n0",
            "node n1",
            "node n2",
            "fate-cut",
            "fate-dropped-response",
            "fate-duplicated",
            "✕ cut",
            "✕ reply dropped",
            "&#39;&lt;v&gt;&#39;",
        ] {
            assert!(svg.contains(needle), "missing {needle}");
        }
        assert_eq!(svg.matches(r#"class="exchange evidence"#).count(), 2);
        assert_eq!(svg.matches(r#"class="lost""#).count(), 2);
        assert!(!svg.contains("<v>"));
    }

    fn interval(fault: &str, node: u64, start: u64, end: Option<u64>) -> Interval {
        Interval {
            fault: fault.into(),
            nodes: vec![node],
            start,
            end,
            detail: serde_json::Value::Null,
        }
    }

    #[test]
    fn faults_within_the_span_get_rows_on_their_nodes_lifelines() {
        let items: Vec<Item> = [ex(1, 0, 100, Fate::Ok, "x"), ex(2, 1, 1_000, Fate::Ok, "x")]
            .into_iter()
            .map(|exchange| Item {
                exchange,
                evidence: true,
            })
            .collect();
        let (lo, hi) = span(&items).unwrap();
        assert_eq!((lo, hi), (100, 1_020));
        let faults = [
            interval("kill", 1, 500, Some(800)),
            interval("pause", 0, 50, Some(2_000)),
        ];
        let m = marks(&faults, lo, hi);
        let labels: Vec<&str> = m.iter().map(|m| m.label.as_str()).collect();
        assert_eq!(labels, vec!["kill n1", "kill n1 restarted"]);
        let svg = render(&items, &m);
        assert_eq!(svg.matches(r#"class="fault""#).count(), 2);
        assert!(svg.contains("⚡ kill n1 restarted"));
    }

    #[test]
    fn the_fault_between_the_evidence_is_named() {
        let v = violation(vec![
            ex(1, 1, 1_000_000_000, Fate::Ok, "x"),
            ex(2, 1, 4_000_000_000, Fate::Ok, "x"),
        ]);
        let faults = [
            interval("kill", 1, 2_000_000_000, Some(3_000_000_000)),
            interval("kill", 0, 2_500_000_000, None),
        ];
        assert_eq!(
            faults_between(&v, &faults).unwrap(),
            "Between these messages (1.000 s to 4.000 s): n1 was killed at 2.000 s and restarted at 3.000 s."
        );
        // a kill after the acknowledgements (a durability loss)
        let v = violation(vec![ex(1, 1, 1_000_000_000, Fate::Ok, "x")]);
        let s = faults_between(&v, &faults).unwrap();
        assert!(
            s.starts_with("After the last of these messages (1.000 s): n1 was killed at 2.000 s"),
            "{s}"
        );
        assert_eq!(faults_between(&v, &[interval("kill", 2, 2, None)]), None);
    }

    #[test]
    fn a_lost_message_stops_short_of_any_other_lifeline() {
        // process p3 and nodes n0..n2: columns at LEFT + k * SPACING. A cut
        // request to n1 (two columns away) stops short of n0's lifeline.
        let items: Vec<Item> = [
            ex(1, 0, 100, Fate::Ok, "x"),
            ex(2, 1, 200, Fate::Cut, "x"),
            ex(3, 2, 300, Fate::DroppedResponse, "x"),
        ]
        .into_iter()
        .map(|exchange| Item {
            exchange,
            evidence: false,
        })
        .collect();
        let svg = render(&items, &[]);
        let columns: Vec<f64> = (0..4).map(|k| LEFT + k as f64 * SPACING).collect();
        for cross in svg.match_indices(r#"class="lost" d="M"#) {
            let rest = &svg[cross.0 + r#"class="lost" d="M"#.len()..];
            let x: f64 = rest.split(',').next().unwrap().parse::<f64>().unwrap() + 5.0;
            assert!(
                columns.iter().all(|c| (c - x).abs() > 20.0),
                "cross at {x} on a lifeline"
            );
        }
        assert_eq!(svg.matches(r#"class="lost""#).count(), 2);
    }
}
