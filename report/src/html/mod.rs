//! `report.html`: one self-contained page (inline CSS, inline SVG, a few
//! lines of JS, a Content-Security-Policy that forbids any network fetch).
//!
//! Reading order: the verdict and the first violation with its evidence;
//! warnings and missing files; how to rerun; key figures and checkers; the
//! operations timeline with faults; the latency and throughput plots; the
//! message diagram around the violation; per-node faults and per-link fault
//! effects. Every piece of text from the run folder is escaped.

use std::collections::BTreeSet;
use std::fmt::Write;

use ballot_core::records::{Event, Exchange, Process};
use ballot_core::verdict::{CheckerResult, Validity, Violation};

use super::analysis::Analysis;
use super::diagram::{self, fate_label, reply_label, request_label};
use super::escape::{self, duration, html as esc, secs, truncate};
use super::load::{Run, Verdict};
use super::ops;
use super::timeline;
use super::{JUNIT_FILE, LATENCY_FILE, RATE_FILE, REPORT_FILE};

/// At most this many operations appear on the timeline.
pub const MAX_TIMELINE_OPS: usize = 300;
/// At most this many exchanges appear in the message diagram.
pub const MAX_DIAGRAM_EXCHANGES: usize = 24;
/// At most this many rows in any evidence or listing table.
pub const MAX_TABLE_ROWS: usize = 60;

/// The page's style sheet, inlined in `<style>`.
const CSS: &str = include_str!("page.css");

/// The page's only script (the rerun command's copy button), inlined in `<script>`.
const SCRIPT: &str = include_str!("page.js");

/// Renders the whole page; `latency_svg` and `rate_svg` are embedded inline.
pub fn render(run: &Run, analysis: &Analysis, latency_svg: &str, rate_svg: &str) -> String {
    let verdict = run.verdict();
    let mut page = String::with_capacity(64 * 1024);
    let _ = writeln!(
        page,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} — ballot {}</title><style>{CSS}</style></head><body>"#,
        verdict.as_str().to_uppercase(),
        esc(&run.name)
    );
    header(&mut page, run, verdict);
    page.push_str("<main>\n");
    first_problem(&mut page, run, verdict);
    warnings(&mut page, run, analysis);
    rerun_section(&mut page, run);
    figures(&mut page, analysis);
    checkers(&mut page, run);
    timeline_section(&mut page, run, analysis);
    plots(&mut page, latency_svg, rate_svg);
    diagram_section(&mut page, run, analysis);
    nodes(&mut page, analysis);
    links(&mut page, analysis);
    fault_list(&mut page, analysis);
    more_violations(&mut page, run);
    files(&mut page, run);
    let _ = write!(page, "</main>\n<script>{SCRIPT}</script>\n</body></html>\n");
    page
}

fn header(page: &mut String, run: &Run, verdict: Verdict) {
    let detail = match (&run.results, verdict) {
        (Some(results), _) => {
            let bad = results
                .checkers
                .iter()
                .filter(|c| c.valid == Validity::Invalid)
                .count();
            let unknown = results
                .checkers
                .iter()
                .filter(|c| c.valid == Validity::Unknown)
                .count();
            format!(
                "{} checker(s): {bad} invalid, {unknown} unknown",
                results.checkers.len()
            )
        }
        (None, _) => "no results.json: the run did not finish checking".to_string(),
    };
    let _ = writeln!(
        page,
        r#"<header class="verdict verdict-{v}" id="verdict" data-verdict="{v}"><div class="word">{word}</div><div class="run">{name} · {detail}</div></header>"#,
        v = verdict.as_str(),
        word = verdict.as_str().to_uppercase(),
        name = esc(&run.name),
        detail = esc(&detail)
    );
}

fn first_problem(page: &mut String, run: &Run, verdict: Verdict) {
    let Some(results) = &run.results else {
        return;
    };
    if let Some(v) = results.first_violation() {
        page.push_str(r#"<section class="violation" id="first-violation"><h2 style="margin-top:4px;border:0">First violation</h2>"#);
        violation_body(page, v);
        page.push_str("</section>\n");
    } else if verdict == Verdict::Unknown {
        page.push_str(r#"<section class="violation" id="unknown" style="border-color:#d68910"><h2 style="margin-top:4px;border:0">Why unknown</h2><ul>"#);
        for c in results
            .checkers
            .iter()
            .filter(|c| c.valid == Validity::Unknown)
        {
            let _ = write!(
                page,
                "<li><b>{}</b>: {}</li>",
                esc(&c.name),
                esc(c.reason.as_deref().unwrap_or("no reason given"))
            );
        }
        page.push_str("</ul></section>\n");
    }
}

fn violation_body(page: &mut String, v: &Violation) {
    let _ = writeln!(
        page,
        r#"<div><span class="tag">property: {}</span>{}<span class="tag">source: {}</span></div><p class="explanation">{}</p>"#,
        esc(&v.property),
        v.key
            .as_ref()
            .map(|k| format!(r#"<span class="tag">key: {}</span>"#, esc(k)))
            .unwrap_or_default(),
        esc(&v.source),
        esc(&v.explanation)
    );
    if !v.ops.is_empty() {
        let _ = write!(page, "<h3>Evidence: operations ({})</h3>", v.ops.len());
        ops_table(page, &v.ops);
    }
    if !v.messages.is_empty() {
        let _ = write!(page, "<h3>Evidence: messages ({})</h3>", v.messages.len());
        messages_table(page, &v.messages, &BTreeSet::new());
    }
}

fn ops_table(page: &mut String, events: &[Event]) {
    page.push_str("<table class=\"ops\"><tr><th>index</th><th>time</th><th>process</th><th>type</th><th>f</th><th>key</th><th>value</th><th>error</th></tr>");
    for e in events.iter().take(MAX_TABLE_ROWS) {
        let process = match &e.process {
            Process::Client(p) => format!("p{p}"),
            Process::Named(n) => n.clone(),
        };
        let kind = serde_json::to_value(e.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = write!(
            page,
            r#"<tr><td class="num">{}</td><td class="num">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>"#,
            e.index,
            secs(e.time),
            esc(&process),
            esc(&kind),
            esc(&e.f),
            esc(e.key.as_deref().unwrap_or("")),
            esc(&truncate(&escape::value(&e.value), 120)),
            esc(e.error.as_deref().unwrap_or(""))
        );
    }
    page.push_str("</table>");
    omitted(page, events.len(), MAX_TABLE_ROWS, "events");
}

fn messages_table(page: &mut String, messages: &[Exchange], evidence: &BTreeSet<u64>) {
    page.push_str("<table class=\"messages\"><tr><th>id</th><th>link</th><th>process</th><th>sent</th><th>request</th><th>reply</th><th>fate</th></tr>");
    for m in messages.iter().take(MAX_TABLE_ROWS) {
        let class = if evidence.contains(&m.id) {
            r#" class="evidence""#
        } else {
            ""
        };
        let _ = write!(
            page,
            r#"<tr{class}><td class="num">{}</td><td>h{} → n{}</td><td>{}</td><td class="num">{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>"#,
            m.id,
            m.from,
            m.to,
            m.process.map(|p| format!("p{p}")).unwrap_or_default(),
            secs(m.sent),
            esc(&request_label(m)),
            esc(&reply_label(m)),
            esc(fate_label(m.fate))
        );
    }
    page.push_str("</table>");
    omitted(page, messages.len(), MAX_TABLE_ROWS, "messages");
}

fn omitted(page: &mut String, total: usize, shown: usize, what: &str) {
    if total > shown {
        let _ = write!(
            page,
            r#"<p class="note">{} more {what} left out (see the run folder).</p>"#,
            total - shown
        );
    }
}

fn warnings(page: &mut String, run: &Run, analysis: &Analysis) {
    for w in &analysis.warnings {
        let _ = writeln!(page, r#"<div class="warning">WARNING: {}</div>"#, esc(w));
    }
    let mut notes = run.notes.clone();
    if analysis.orphans > 0 {
        notes.push(format!(
            "history.jsonl: {} completion(s) without an invocation were ignored",
            analysis.orphans
        ));
    }
    if analysis.counts.pending > 0 {
        notes.push(format!(
            "{} operation(s) never completed (drawn grey to the end of the run)",
            analysis.counts.pending
        ));
    }
    if !notes.is_empty() {
        page.push_str(r#"<div class="notes" id="missing"><b>Missing or partial:</b><ul>"#);
        for n in notes {
            let _ = write!(page, "<li>{}</li>", esc(&n));
        }
        page.push_str("</ul></div>\n");
    }
}

fn rerun_section(page: &mut String, run: &Run) {
    page.push_str(r#"<h2 id="rerun">Rerun</h2>"#);
    match run.rerun_command() {
        Some(cmd) => {
            let _ = write!(
                page,
                r#"<pre><code id="rerun-command">{}</code></pre><button id="copy-rerun" type="button">copy</button> <span class="note">Re-check offline: <code>ballot check {}</code></span>"#,
                esc(&cmd),
                esc(&ballot_core::shell::quote(&run.dir.display().to_string()))
            );
        }
        None => page.push_str(
            r#"<p class="note">No test.json: the parameters and seed of this run are unknown.</p>"#,
        ),
    }
    if let Some(test) = &run.test {
        page.push_str(r#"<table class="params"><tr><th>parameter</th><th>value</th></tr>"#);
        if let Some(seed) = run.param("seed") {
            let _ = write!(
                page,
                r#"<tr><td><b>seed</b></td><td><b>{}</b></td></tr>"#,
                esc(&escape::value(&seed))
            );
        }
        for (name, value) in test.to_map().iter().filter(|(k, _)| k.as_str() != "seed") {
            let _ = write!(
                page,
                "<tr><td>{}</td><td><code>{}</code></td></tr>",
                esc(name),
                esc(&truncate(&escape::value(value), 200))
            );
        }
        page.push_str("</table>\n");
    }
}

fn figures(page: &mut String, analysis: &Analysis) {
    let c = &analysis.counts;
    let e = &analysis.effects;
    let _ = write!(
        page,
        r#"<h2>Key figures</h2><table class="figures"><tr><th>operations</th><th>ok</th><th>fail</th><th>info</th><th>never completed</th><th>faults injected</th><th>messages</th><th>messages a fault touched</th><th>duration</th></tr><tr><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr></table>"#,
        c.total,
        c.ok,
        c.fail,
        c.info,
        c.pending,
        analysis.intervals.len(),
        e.total,
        e.affected(),
        secs(analysis.end)
    );
}

fn validity_pill(v: Validity) -> &'static str {
    match v {
        Validity::Valid => r#"<span class="pill valid">valid</span>"#,
        Validity::Invalid => r#"<span class="pill invalid">invalid</span>"#,
        Validity::Unknown => r#"<span class="pill unknown">unknown</span>"#,
    }
}

fn checkers(page: &mut String, run: &Run) {
    let Some(results) = &run.results else {
        return;
    };
    page.push_str(r#"<h2 id="checkers">Checkers</h2><table class="checkers"><tr><th>checker</th><th>verdict</th><th>violations</th><th>reason / first explanation</th><th>stats</th></tr>"#);
    for c in &results.checkers {
        checker_row(page, c);
    }
    page.push_str("</table>\n");
    if !results.coverage.is_empty() {
        page.push_str(
            r#"<h3 id="coverage">Coverage</h3><p>How often this run reached each Paxos situation the bug catalogue needs (a bug that only shows in a situation the run never reached cannot have been caught).</p><table class="checkers"><tr><th>situation</th><th>count</th></tr>"#,
        );
        for (name, n) in &results.coverage {
            let _ = write!(
                page,
                r#"<tr><td>{}</td><td class="num">{n}</td></tr>"#,
                esc(name)
            );
        }
        page.push_str("</table>\n");
    }
}

fn checker_row(page: &mut String, c: &CheckerResult) {
    let why = c
        .reason
        .clone()
        .or_else(|| c.violations.first().map(|v| v.explanation.clone()))
        .unwrap_or_default();
    let stats = if c.stats.is_null() {
        String::new()
    } else {
        let pretty = serde_json::to_string_pretty(&c.stats).unwrap_or_default();
        format!(
            "<details><summary>stats</summary><pre>{}</pre></details>",
            esc(&truncate(&pretty, 4000))
        )
    };
    let _ = writeln!(
        page,
        r#"<tr><td><b>{}</b></td><td>{}</td><td class="num">{}</td><td>{}</td><td>{stats}</td></tr>"#,
        esc(&c.name),
        validity_pill(c.valid),
        c.violations.len(),
        esc(&truncate(&why, 300))
    );
}

fn timeline_section(page: &mut String, run: &Run, analysis: &Analysis) {
    page.push_str(r#"<h2 id="timeline">Operations timeline</h2>"#);
    let all = &analysis.ops;
    if all.is_empty() && analysis.intervals.is_empty() {
        page.push_str(r#"<p class="note">No operations and no faults recorded.</p>"#);
        return;
    }
    let range = ops::window(all, analysis.focus, MAX_TIMELINE_OPS);
    let shown = &all[range.clone()];
    let (t0, t1) = if shown.len() == all.len() {
        (0, analysis.end)
    } else {
        let t0 = shown.iter().map(|o| o.start).min().unwrap_or(0);
        let t1 = shown
            .iter()
            .map(|o| o.end.unwrap_or(analysis.end).max(o.start))
            .max()
            .unwrap_or(analysis.end);
        (t0, t1)
    };
    let highlight: BTreeSet<u64> = run
        .results
        .as_ref()
        .and_then(|r| r.first_violation())
        .map(|v| v.ops.iter().map(|e| e.index).collect())
        .unwrap_or_default();
    let _ = write!(
        page,
        r#"<p class="legend note">One lane per client process; bars run from invocation to completion.<span style="background:{}"></span>ok<span style="background:{}"></span>fail<span style="background:{}"></span>info (indeterminate)<span style="background:{}"></span>never completed · shaded bands: faults · black outline: the first violation's operations · hover for details</p>"#,
        timeline::outcome_colour(ops::OpState::Ok),
        timeline::outcome_colour(ops::OpState::Fail),
        timeline::outcome_colour(ops::OpState::Info),
        timeline::outcome_colour(ops::OpState::Pending),
    );
    if shown.len() < all.len() {
        let why = match analysis.focus {
            Some(f) => format!("around the first violation at {}", secs(f)),
            None => "the first ones".to_string(),
        };
        let _ = write!(
            page,
            r#"<p class="note" id="timeline-window">Showing operations {}–{} of {} ({why}, {} to {}); {} left out.</p>"#,
            range.start + 1,
            range.end,
            all.len(),
            secs(t0),
            secs(t1),
            all.len() - shown.len()
        );
    }
    let _ = write!(
        page,
        r#"<div class="figure">{}</div>"#,
        timeline::render(shown, &analysis.intervals, t0, t1, analysis.end, &highlight)
    );
}

fn plots(page: &mut String, latency_svg: &str, rate_svg: &str) {
    let _ = write!(
        page,
        r#"<h2 id="plots">Latency and throughput</h2><div class="figure" id="latency-plot">{}</div><div class="figure" id="rate-plot">{}</div><p class="note">Also as files: <a href="latency.svg">latency.svg</a>, <a href="rate.svg">rate.svg</a>.</p>"#,
        strip_xml_declaration(latency_svg),
        strip_xml_declaration(rate_svg)
    );
}

fn strip_xml_declaration(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

fn diagram_section(page: &mut String, run: &Run, analysis: &Analysis) {
    let Some(v) = run.results.as_ref().and_then(|r| r.first_violation()) else {
        return;
    };
    page.push_str(r#"<h2 id="messages">Messages around the first violation</h2>"#);
    let items = diagram::select(v, &run.messages, MAX_DIAGRAM_EXCHANGES);
    if items.is_empty() {
        page.push_str(r#"<p class="note">The violation cites no messages and none were logged near its operations.</p>"#);
        return;
    }
    let evidence: BTreeSet<u64> = items
        .iter()
        .filter(|i| i.evidence)
        .map(|i| i.exchange.id)
        .collect();
    let faults = &analysis.intervals;
    if let Some(sentence) = diagram::faults_between(v, faults) {
        let _ = writeln!(page, r#"<p class="fault-cause">{}</p>"#, esc(&sentence));
    }
    let marks = diagram::span(&items)
        .map(|(lo, hi)| diagram::marks(faults, lo, hi))
        .unwrap_or_default();
    let _ = writeln!(
        page,
        r#"<div class="figure">{}</div>"#,
        diagram::render(&items, &marks)
    );
    let exchanges: Vec<Exchange> = items.into_iter().map(|i| i.exchange).collect();
    messages_table(page, &exchanges, &evidence);
}

fn nodes(page: &mut String, analysis: &Analysis) {
    page.push_str(r#"<h2 id="nodes">Faults per node</h2>"#);
    if analysis.per_node.is_empty() {
        page.push_str(r#"<p class="note">No fault acted on a particular node.</p>"#);
        return;
    }
    let kinds: BTreeSet<&str> = analysis
        .per_node
        .values()
        .flat_map(|n| n.by_fault.keys().map(String::as_str))
        .collect();
    page.push_str(r#"<table class="nodes"><tr><th>node</th>"#);
    for k in &kinds {
        let _ = write!(page, "<th>{}</th>", esc(k));
    }
    page.push_str("<th>restarts seen (snapshots)</th></tr>");
    for (node, faults) in &analysis.per_node {
        let _ = write!(page, "<tr><td>n{node}</td>");
        for k in &kinds {
            match faults.by_fault.get(*k) {
                Some((count, total)) => {
                    let _ = write!(
                        page,
                        r#"<td class="num">{count} × ({})</td>"#,
                        duration(*total)
                    );
                }
                None => page.push_str(r#"<td class="num">0</td>"#),
            }
        }
        let _ = write!(
            page,
            r#"<td class="num">{}</td></tr>"#,
            faults.restarts_seen
        );
    }
    page.push_str(
        "</table><p class=\"note\">Each cell: how many times, and for how long in total.</p>\n",
    );
}

fn links(page: &mut String, analysis: &Analysis) {
    page.push_str(r#"<h2 id="effects">Fault effects per link</h2>"#);
    if analysis.per_link.is_empty() {
        page.push_str(r#"<p class="note">No messages were logged.</p>"#);
        return;
    }
    page.push_str(r#"<table class="links"><tr><th>link</th><th>messages</th><th>cut</th><th>request dropped</th><th>reply dropped</th><th>delayed</th><th>duplicated</th><th>refused</th><th>timeout</th></tr>"#);
    let row = |page: &mut String, name: &str, e: &super::faults::Effects| {
        let _ = write!(
            page,
            r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            esc(name),
            e.total,
            e.cut,
            e.dropped_request,
            e.dropped_response,
            e.delayed,
            e.duplicated,
            e.refused,
            e.timeout
        );
    };
    for ((from, to), e) in &analysis.per_link {
        row(page, &format!("h{from} → n{to}"), e);
    }
    row(page, "all links", &analysis.effects);
    let _ = write!(
        page,
        r#"</table><p class="note">Delayed: held by the proxy at least {} before forwarding.</p>"#,
        duration(super::faults::DELAY_THRESHOLD_NS)
    );
}

fn fault_list(page: &mut String, analysis: &Analysis) {
    if analysis.intervals.is_empty() {
        return;
    }
    page.push_str(r#"<h2 id="faults">Faults</h2><table class="faults"><tr><th>fault</th><th>nodes</th><th>from</th><th>to</th><th>detail</th></tr>"#);
    for i in analysis.intervals.iter().take(MAX_TABLE_ROWS) {
        let nodes: Vec<String> = i.nodes.iter().map(|n| format!("n{n}")).collect();
        let detail = if i.detail.is_null() {
            String::new()
        } else {
            truncate(&escape::value(&i.detail), 160)
        };
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td><code>{}</code></td></tr>",
            esc(&i.fault),
            esc(&nodes.join(",")),
            secs(i.start),
            i.end.map(secs).unwrap_or_else(|| "never healed".to_string()),
            esc(&detail)
        );
    }
    page.push_str("</table>");
    omitted(page, analysis.intervals.len(), MAX_TABLE_ROWS, "faults");
}

fn more_violations(page: &mut String, run: &Run) {
    let Some(results) = &run.results else {
        return;
    };
    let rest: Vec<(&str, &Violation)> = results
        .checkers
        .iter()
        .flat_map(|c| c.violations.iter().map(move |v| (c.name.as_str(), v)))
        .skip(1)
        .collect();
    if rest.is_empty() {
        return;
    }
    let _ = write!(
        page,
        r#"<h2 id="more-violations">Other violations ({})</h2>"#,
        rest.len()
    );
    for (checker, v) in rest.iter().take(20) {
        let _ = write!(
            page,
            "<details><summary><b>{}</b> · {} · {}</summary>",
            esc(checker),
            esc(&v.property),
            esc(&truncate(&v.explanation, 140))
        );
        violation_body(page, v);
        page.push_str("</details>");
    }
    omitted(page, rest.len(), 20, "violations");
}

fn files(page: &mut String, run: &Run) {
    page.push_str(r#"<h2 id="files">Files</h2><p class="note">"#);
    let _ = write!(
        page,
        "Run folder: <code>{}</code><br>",
        esc(&run.dir.display().to_string())
    );
    // The report's own files are written after the run folder was read.
    let mut names: BTreeSet<&str> = run.files.iter().map(String::as_str).collect();
    names.extend([REPORT_FILE, LATENCY_FILE, RATE_FILE, JUNIT_FILE]);
    let links: Vec<String> = names
        .iter()
        .map(|f| format!(r#"<a href="{0}">{0}</a>"#, esc(f)))
        .collect();
    page.push_str(&links.join(" · "));
    page.push_str("</p>\n");
}
