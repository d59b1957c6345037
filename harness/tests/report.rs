//! Reports: `report.html`, plots, `junit.xml`, the step summary, `ballot serve`,
//! and an end-to-end render of the page in headless Chromium.
//!
//! Every test builds synthetic run folders in a temp dir with [`write_run`]:
//! a valid run, a failing run whose violation cites messages, an unknown run
//! and a partial (killed) run.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ballot_core::fault::FaultKind;
use ballot_core::protocol::StateReply;
use ballot_core::records::{
    Event, EventType, Exchange, Fate, FaultPhase, NemesisRecord, Process, Snapshot, SnapshotReason,
};
use ballot_core::verdict::{CheckerResult, Results, Validity, Violation};
use ballot_report as report;
use ballot_report::serve;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Valid,
    Invalid,
    Unknown,
    /// Killed mid-run: torn history, no results.
    Partial,
}

const EXPLANATION: &str = "Two different values, '1-1' and '2-1', were accepted at ballot 5.1 by a majority: <b>both</b> were chosen.";

fn ev(index: u64, time_ms: u64, process: u64, kind: EventType, f: &str, value: Value) -> Event {
    Event {
        index,
        time: time_ms * 1_000_000,
        process: Process::Client(process),
        kind,
        f: f.into(),
        key: Some("x".into()),
        value,
        error: (kind == EventType::Info).then(|| "timeout".to_string()),
    }
}

fn exchange(
    id: u64,
    to: u64,
    process: u64,
    path: &str,
    sent_ms: u64,
    fate: Fate,
    value: Option<&str>,
) -> Exchange {
    let sent = sent_ms * 1_000_000;
    let delivered = fate.may_have_reached_node().then_some(sent + 200_000);
    let mut request = json!({"key": "x", "ballot": {"round": 5, "proposer": 1}});
    if let Some(v) = value {
        request["value"] = json!(v);
    }
    Exchange {
        id,
        from: process % 2,
        to,
        process: Some(process),
        path: path.into(),
        request,
        status: delivered.map(|_| 200),
        response: delivered.map(
            |_| json!({"ok": true, "promised": {"round": 5, "proposer": 1}, "accepted": null}),
        ),
        sent,
        delivered,
        replied: delivered.map(|d| d + 300_000),
        fate,
        duplicate_of: (fate == Fate::Duplicated).then_some(1),
    }
}

fn jsonl<T: serde::Serialize>(records: &[T]) -> String {
    records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect()
}

/// Writes a synthetic run folder of the given kind into `dir`.
fn write_run(dir: &Path, kind: Kind) {
    std::fs::create_dir_all(dir).unwrap();
    let test = json!({"workload": "write-once", "nodes": 3, "seed": 42, "time_limit": 10,
        "concurrency": 3, "nemesis": ["kill", "partition"]});
    std::fs::write(dir.join("test.json"), test.to_string()).unwrap();
    use EventType::*;
    let history = vec![
        ev(0, 10, 1, Invoke, "propose", json!("1-1")),
        ev(1, 12, 2, Invoke, "propose", json!("2-1")),
        ev(2, 30, 1, Ok, "propose", json!("1-1")),
        ev(
            3,
            45,
            2,
            Ok,
            "propose",
            json!(if kind == Kind::Invalid { "2-1" } else { "1-1" }),
        ),
        ev(4, 50, 3, Invoke, "read", Value::Null),
        ev(5, 400, 3, Info, "read", Value::Null),
        ev(6, 500, 4, Invoke, "propose", json!("4-1")),
        ev(7, 520, 4, Fail, "propose", Value::Null),
    ];
    let mut text = jsonl(&history);
    if kind == Kind::Partial {
        text.push_str(r#"{"index":8,"time":600000000,"process":5,"type":"inv"#);
    }
    std::fs::write(dir.join("history.jsonl"), text).unwrap();
    if kind == Kind::Partial {
        return;
    }
    let messages = vec![
        exchange(1, 0, 1, "/v1/prepare", 11, Fate::Ok, None),
        exchange(2, 1, 1, "/v1/prepare", 11, Fate::Cut, None),
        exchange(3, 2, 2, "/v1/prepare", 13, Fate::DroppedResponse, None),
        exchange(4, 0, 1, "/v1/accept", 20, Fate::Ok, Some("1-1")),
        exchange(5, 2, 2, "/v1/accept", 25, Fate::Ok, Some("2-1")),
        exchange(6, 1, 2, "/v1/accept", 26, Fate::Duplicated, Some("2-1")),
        exchange(7, 1, 3, "/v1/prepare", 60, Fate::Refused, None),
    ];
    std::fs::write(dir.join("messages.jsonl"), jsonl(&messages)).unwrap();
    let nemesis = vec![
        NemesisRecord {
            time: 5_000_000,
            phase: FaultPhase::Start,
            fault: FaultKind::Partition,
            nodes: vec![1],
            detail: json!({"shape": "isolate"}),
        },
        NemesisRecord {
            time: 35_000_000,
            phase: FaultPhase::Stop,
            fault: FaultKind::Partition,
            nodes: vec![1],
            detail: Value::Null,
        },
        NemesisRecord {
            time: 55_000_000,
            phase: FaultPhase::Start,
            fault: FaultKind::Kill,
            nodes: vec![1],
            detail: Value::Null,
        },
        NemesisRecord {
            time: 300_000_000,
            phase: FaultPhase::Stop,
            fault: FaultKind::Kill,
            nodes: vec![1],
            detail: Value::Null,
        },
    ];
    std::fs::write(dir.join("nemesis.jsonl"), jsonl(&nemesis)).unwrap();
    let snapshots = vec![Snapshot {
        time: 310_000_000,
        replied: Some(310_500_000),
        node: 1,
        reason: SnapshotReason::Restart,
        state: StateReply {
            node: 1,
            ..StateReply::default()
        },
    }];
    std::fs::write(dir.join("snapshots.jsonl"), jsonl(&snapshots)).unwrap();
    let mut checkers = vec![
        CheckerResult::from_violations("linearizable", vec![]),
        CheckerResult::from_violations("paxos", vec![]),
        CheckerResult {
            stats: json!({"availability": 0.5}),
            ..CheckerResult::from_violations("stats", vec![])
        },
    ];
    match kind {
        Kind::Invalid => {
            checkers[1] = CheckerResult::from_violations(
                "paxos",
                vec![Violation {
                    property: "one-value-per-ballot".into(),
                    source: "Lamport, Paxos Made Simple, P2".into(),
                    key: Some("x".into()),
                    explanation: EXPLANATION.into(),
                    ops: vec![history[2].clone(), history[3].clone()],
                    messages: vec![messages[3].clone(), messages[4].clone()],
                }],
            );
        }
        Kind::Unknown => {
            checkers[0].valid = Validity::Unknown;
            checkers[0].reason = Some("search bound of 1000000 states hit".into());
        }
        _ => {}
    }
    let results = Results::new(checkers);
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&results).unwrap(),
    )
    .unwrap();
}

fn run_dir(tmp: &tempfile::TempDir, kind: Kind) -> PathBuf {
    let dir = tmp
        .path()
        .join(format!("write-once-{kind:?}").to_lowercase());
    write_run(&dir, kind);
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn failing_run_report_shows_the_violation_and_the_message_diagram() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp, Kind::Invalid);
    let files = report::write_all(&dir).unwrap();
    assert_eq!(files.html, dir.join("report.html"));
    let html = read(&files.html);
    for needle in [
        r#"data-verdict="invalid""#,
        r#"<div class="word">INVALID</div>"#,
        r#"id="first-violation""#,
        "property: one-value-per-ballot",
        "key: x",
        // The explanation, escaped: the <b> from the file is text, not markup.
        "were accepted at ballot 5.1 by a majority: &lt;b&gt;both&lt;/b&gt; were chosen.",
        // The message diagram: lifelines, evidence arrows, lost and duplicated messages.
        r#"class="message-diagram""#,
        "process p1",
        "process p2",
        "node n0",
        "node n2",
        r#"class="exchange evidence fate-ok""#,
        "#4 accept 5.1 &#39;1-1&#39;",
        "✕ cut",
        "✕ reply dropped",
        "fate-duplicated",
        // Rerun, timeline with faults, plots inline, per-node and per-link tables.
        "ballot test --workload write-once --nodes 3 --time-limit 10 --concurrency 3 --nemesis kill,partition --seed 42",
        r#"class="timeline""#,
        "partition n1 from 0.005 s (healed at 0.035 s)",
        r#"id="latency-plot"><svg"#,
        r#"id="rate-plot"><svg"#,
        "<td>n1</td><td class=\"num\">1 × (245.0 ms)</td>",
        "<td>h1 → n1</td>",
    ] {
        assert!(html.contains(needle), "report.html lacks {needle:?}");
    }
    assert!(
        !html.contains("<b>both</b>"),
        "unescaped text from results.json"
    );
    assert!(
        !html.contains("WARNING"),
        "this run had successes and effective faults"
    );
    // Self-contained: no external resource of any kind.
    for external in ["http://", "https://", "src=\"", "<link"] {
        let hits: Vec<&str> = html.matches(external).collect();
        let allowed = html.matches("http://www.w3.org/2000/svg").count();
        assert!(
            external != "http://" && hits.is_empty()
                || external == "http://" && hits.len() == allowed,
            "report.html references {external}"
        );
    }
    let latency = read(&files.latency_svg);
    let rate = read(&files.rate_svg);
    assert!(
        latency.contains("<svg") && latency.contains("<circle"),
        "latency.svg has no points"
    );
    assert!(latency.contains("Latency by outcome"));
    assert!(rate.contains("<polyline"), "rate.svg has no lines");
    assert!(rate.contains("Throughput by outcome"));
}

#[test]
fn valid_run_report_says_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp, Kind::Valid);
    let html = read(&report::write_all(&dir).unwrap().html);
    assert!(html.contains(r#"data-verdict="valid""#));
    assert!(html.contains(r#"<div class="word">VALID</div>"#));
    assert!(html.contains("3 checker(s): 0 invalid, 0 unknown"));
    assert!(!html.contains("first-violation"));
    assert!(!html.contains("message-diagram"));
}

/// (tests, failures, errors, skipped) of junit.xml, after checking that the
/// `<testsuites>` totals equal the one `<testsuite>`'s and that each count
/// matches the test cases' children.
fn junit_counts(xml: &str) -> (usize, usize, usize, usize, Vec<(String, String)>) {
    let doc = roxmltree::Document::parse(xml).expect("junit.xml is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 1, "one testsuite");
    let suite = suites[0];
    let attr = |n: roxmltree::Node, a: &str| n.attribute(a).unwrap().parse::<usize>().unwrap();
    for a in ["tests", "failures", "errors", "skipped"] {
        assert_eq!(attr(root, a), attr(suite, a), "testsuites/@{a}");
    }
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let with = |tag: &str| {
        cases
            .iter()
            .filter(|c| c.children().any(|k| k.has_tag_name(tag)))
            .count()
    };
    assert_eq!(attr(suite, "tests"), cases.len());
    assert_eq!(attr(suite, "failures"), with("failure"));
    assert_eq!(attr(suite, "errors"), with("error"));
    assert_eq!(attr(suite, "skipped"), with("skipped"));
    let messages = cases
        .iter()
        .flat_map(|c| {
            c.children().filter(|k| k.is_element()).map(|k| {
                (
                    c.attribute("name").unwrap().to_string(),
                    k.attribute("message").unwrap_or("").to_string(),
                )
            })
        })
        .collect();
    (
        cases.len(),
        with("failure"),
        with("error"),
        with("skipped"),
        messages,
    )
}

#[test]
fn junit_counts_are_right_for_every_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    // (run kind, (tests, failures, errors, skipped), the one non-passing case's (name, message))
    type Case = (
        Kind,
        (usize, usize, usize, usize),
        Option<(&'static str, &'static str)>,
    );
    let table: [Case; 4] = [
        (Kind::Valid, (3, 0, 0, 0), None),
        (
            Kind::Invalid,
            (3, 1, 0, 0),
            Some(("paxos", "one-value-per-ballot: Two different values, '1-1' and '2-1', were accepted at ballot 5.1 by a majority: <b>both</b> were chosen.")),
        ),
        (Kind::Unknown, (3, 0, 0, 1), Some(("linearizable", "unknown: search bound of 1000000 states hit"))),
        (Kind::Partial, (1, 0, 1, 0), Some(("results", "results.json is missing"))),
    ];
    for (kind, want, message) in table {
        let dir = run_dir(&tmp, kind);
        let files = report::write_all(&dir).unwrap();
        let (tests, failures, errors, skipped, messages) = junit_counts(&read(&files.junit));
        assert_eq!((tests, failures, errors, skipped), want, "{kind:?}");
        let want_messages: Vec<(String, String)> = message
            .iter()
            .map(|(n, m)| (n.to_string(), m.to_string()))
            .collect();
        assert_eq!(messages, want_messages, "{kind:?}");
    }
}

#[test]
fn summary_has_verdict_figures_violation_store_and_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp, Kind::Invalid);
    let md = report::summary_markdown(&dir).unwrap();
    assert!(
        md.starts_with("### ❌ ballot: INVALID — `write-once-invalid`"),
        "{md}"
    );
    assert!(md.contains("| 4 | 2 | 1 | 1 | 0 | 2 | 7 | 4 |"), "{md}");
    assert!(
        md.contains("**First violation** (`one-value-per-ballot`, key `x`): Two different values")
    );
    assert!(
        md.contains("&lt;b&gt;both&lt;/b&gt;"),
        "HTML in the explanation is escaped"
    );
    assert!(md.contains(&format!("Store: `{}`", dir.display())));
    assert!(md.contains("```sh\nballot test --workload write-once --nodes 3"));
    let valid = report::summary_markdown(&run_dir(&tmp, Kind::Valid)).unwrap();
    assert!(valid.starts_with("### ✅ ballot: VALID"), "{valid}");
}

#[test]
fn partial_and_missing_run_folders_still_render() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp, Kind::Partial);
    let html = read(&report::write_all(&dir).unwrap().html);
    for needle in [
        r#"data-verdict="incomplete""#,
        "no results.json: the run did not finish checking",
        "results.json is missing",
        "messages.jsonl is missing",
        "history.jsonl: its last line is cut short (the run was probably killed); 8 record(s) read",
        "WARNING: No fault was injected",
    ] {
        assert!(html.contains(needle), "partial report lacks {needle:?}");
    }
    let md = report::summary_markdown(&dir).unwrap();
    assert!(
        md.contains("INCOMPLETE") && md.contains("**No results.json**"),
        "{md}"
    );

    // An empty folder renders too, with warnings instead of figures.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let html = read(&report::write_all(&empty).unwrap().html);
    assert!(html.contains("WARNING: No operation was recorded"));
    assert!(html.contains("test.json is missing"));

    // Garbage in every file is a note, not a failure.
    let garbage = tmp.path().join("garbage");
    std::fs::create_dir(&garbage).unwrap();
    for f in [
        "test.json",
        "history.jsonl",
        "messages.jsonl",
        "nemesis.jsonl",
        "results.json",
    ] {
        std::fs::write(garbage.join(f), "\u{0}<not json>\n").unwrap();
    }
    let html = read(&report::write_all(&garbage).unwrap().html);
    assert!(html.contains("results.json is unreadable"));
    assert!(html.contains("history.jsonl: 1 unreadable line(s), the first at line 1"));

    // Only a folder that is not there is an error.
    let err = report::write_all(&tmp.path().join("nope")).unwrap_err();
    assert!(
        matches!(err, report::ReportError::NotARunFolder { .. }),
        "{err}"
    );
}

#[test]
fn large_runs_are_windowed_and_downsampled() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("big");
    std::fs::create_dir(&dir).unwrap();
    let mut history = Vec::new();
    for i in 0..20_000u64 {
        let p = i % 8;
        history.push(ev(
            2 * i,
            i,
            p,
            EventType::Invoke,
            "propose",
            json!(format!("{p}-{i}")),
        ));
        history.push(ev(
            2 * i + 1,
            i + 1 + i % 5,
            p,
            EventType::Ok,
            "propose",
            json!("v"),
        ));
    }
    std::fs::write(dir.join("history.jsonl"), jsonl(&history)).unwrap();
    let files = report::write_all(&dir).unwrap();
    let html = read(&files.html);
    assert!(
        html.contains("Showing operations 1–300 of 20000 (the first ones, 0.000 s to 0.304 s); 19700 left out."),
        "no window note"
    );
    assert_eq!(html.matches(r#"<rect class="op "#).count(), 300);
    let points = read(&files.latency_svg).matches("<circle").count();
    assert!(points <= 2_000 + 10, "{points} points in latency.svg");
}

// ---------------------------------------------------------------- serve

struct Server {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start_server(store: PathBuf) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve::run(listener, store, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        task,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .retry(reqwest::retry::never())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Sends a raw request line, so the path reaches the server exactly as written.
async fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

fn set_mtime(path: &Path, secs: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

#[tokio::test]
async fn serve_lists_runs_serves_files_and_refuses_traversal() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let old = store.join("write-once-old");
    let new = store.join("write-once-new");
    write_run(&old, Kind::Valid);
    write_run(&new, Kind::Invalid);
    report::write_all(&new).unwrap();
    set_mtime(&old.join("test.json"), 1_600_000_000);
    set_mtime(&new.join("test.json"), 1_700_000_000);
    let partial = store.join("write-once-killed");
    write_run(&partial, Kind::Partial);
    set_mtime(&partial.join("test.json"), 1_500_000_000);
    std::os::unix::fs::symlink(&new, store.join("latest")).unwrap();
    // A secret outside the store, and a symlink in a run that points at it.
    let secret = tmp.path().join("secret.txt");
    std::fs::write(&secret, "TOP SECRET").unwrap();
    std::os::unix::fs::symlink(&secret, new.join("escape.txt")).unwrap();

    let mut server = start_server(store.clone()).await;
    let base = format!("http://{}", server.addr);
    let http = client();
    let get = |path: &str| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let r = http.get(&url).send().await.unwrap();
            let status = r.status().as_u16();
            let ctype = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            (status, ctype, r.text().await.unwrap())
        }
    };

    let (status, ctype, index) = get("/").await;
    assert_eq!((status, ctype.as_str()), (200, "text/html; charset=utf-8"));
    let at = |needle: &str| {
        index
            .find(needle)
            .unwrap_or_else(|| panic!("index lacks {needle:?}:\n{index}"))
    };
    let new_row =
        at(r#"<tr class="run invalid"><td><a href="/runs/write-once-new/">write-once-new</a>"#);
    let old_row =
        at(r#"<tr class="run valid"><td><a href="/runs/write-once-old/">write-once-old</a>"#);
    let killed_row = at(
        r#"<tr class="run incomplete"><td><a href="/runs/write-once-killed/">write-once-killed</a>"#,
    );
    assert!(
        new_row < old_row && old_row < killed_row,
        "runs are not newest first"
    );
    assert!(index.contains("one-value-per-ballot"));
    assert!(index.contains("2023-11-14 22:13:20"));
    assert!(
        !index.contains(">latest<"),
        "the latest symlink is not a run of its own"
    );

    let (status, _, page) = get("/runs/write-once-new/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"class="message-diagram""#),
        "the run page is its report"
    );
    let (status, _, page) = get("/runs/latest/").await;
    assert_eq!(status, 200, "store/latest resolves inside the store");
    assert!(page.contains(r#"data-verdict="invalid""#));
    let (status, _, listing) = get("/runs/write-once-old/").await;
    assert_eq!(status, 200);
    assert!(
        listing.contains(r#"<a href="history.jsonl">history.jsonl</a>"#),
        "{listing}"
    );
    let (status, ctype, body) = get("/runs/write-once-new/results.json").await;
    assert_eq!((status, ctype.as_str()), (200, "application/json"));
    assert!(serde_json::from_str::<Results>(&body).is_ok());
    let (status, ctype, _) = get("/runs/write-once-new/latency.svg").await;
    assert_eq!((status, ctype.as_str()), (200, "image/svg+xml"));
    let r = http
        .get(format!("{base}/runs/write-once-new"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 301);
    assert_eq!(r.headers()["location"], "/runs/write-once-new/");

    // Traversal attempts: encoded slashes and dots, absolute paths, escaping symlinks.
    for (path, want) in [
        ("/runs/write-once-new/..%2F..%2Fsecret.txt", 400),
        ("/runs/..%2F..%2Fsecret.txt/", 400),
        ("/runs/write-once-new/%2Fetc%2Fpasswd", 400),
        ("/runs/write-once-new/nodes%5C..%5C..%5Csecret.txt", 400),
        ("/runs/write-once-new/escape.txt", 404),
        ("/runs/no-such-run/", 404),
        ("/runs/write-once-new/no-such-file", 404),
    ] {
        let (status, _, body) = get(path).await;
        assert_eq!(status, want, "{path}");
        assert!(!body.contains("TOP SECRET"), "{path} leaked the secret");
    }
    for path in [
        "/runs/write-once-new/../../secret.txt",
        "/runs/../secret.txt",
        "/../secret.txt",
    ] {
        let response = raw_get(server.addr, path).await;
        let status_line = response.lines().next().unwrap_or_default().to_string();
        assert!(
            status_line.contains(" 400 ") || status_line.contains(" 404 "),
            "{path}: {status_line}"
        );
        assert!(!response.contains("TOP SECRET"), "{path} leaked the secret");
    }

    server.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), &mut server.task)
        .await
        .expect("server stops on shutdown")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn serve_refuses_non_loopback_listeners() {
    let Ok(listener) = tokio::net::TcpListener::bind("0.0.0.0:0").await else {
        return;
    };
    let err = serve::run(listener, PathBuf::from("."), async {})
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

// ---------------------------------------------------------------- Chromium

/// A child process group killed (and reaped) on drop, so Chromium's helpers never outlive the test.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.0.wait();
    }
}

fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium with `args` on `page`; returns (stdout, stderr).
fn chromium(bin: &Path, profile: &Path, args: &[&str], page: &Path) -> (String, String) {
    use std::os::unix::process::CommandExt;
    let out_path = profile.with_extension("stdout");
    let err_path = profile.with_extension("stderr");
    let child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .process_group(0)
        .spawn()
        .expect("chromium starts");
    let mut browser = Browser(child);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if browser.0.try_wait().unwrap().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "chromium did not finish in 90 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(browser);
    let mut stdout = String::new();
    std::fs::File::open(&out_path)
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let stderr = String::from_utf8_lossy(&std::fs::read(&err_path).unwrap()).into_owned();
    (stdout, stderr)
}

#[test]
fn report_renders_in_headless_chromium_without_errors() {
    let Some(bin) = find_chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium is not installed, and CI is set: the report rendering test must run in CI");
        }
        println!("skipping report_renders_in_headless_chromium_without_errors: chromium is not installed (apt-get install chromium)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp, Kind::Invalid);
    let page = report::write_all(&dir).unwrap().html;

    let (dom, stderr) = chromium(
        &bin,
        &tmp.path().join("profile-dom"),
        &["--dump-dom"],
        &page,
    );
    assert!(
        dom.contains(r#"data-report-ready="yes""#),
        "the page's script did not run:\n{stderr}"
    );
    assert!(
        dom.contains("message-diagram"),
        "the diagram is not in the rendered DOM"
    );
    for bad in ["Uncaught", "Refused to", "Failed to load"] {
        assert!(!stderr.contains(bad), "console reports {bad:?}:\n{stderr}");
    }

    let shot = tmp.path().join("report.png");
    let (_, stderr) = chromium(
        &bin,
        &tmp.path().join("profile-shot"),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2600",
            "--hide-scrollbars",
        ],
        &page,
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}):\n{stderr}"));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "screenshot is not a PNG"
    );
    assert!(
        png.len() > 20_000,
        "screenshot suspiciously small: {} bytes",
        png.len()
    );
    if let Some(keep) = std::env::var_os("BALLOT_KEEP_SCREENSHOT") {
        // Keep the screenshot and the self-contained page it shows, for a person to look at.
        std::fs::copy(&shot, &keep).unwrap();
        std::fs::copy(&page, PathBuf::from(&keep).with_extension("html")).unwrap();
        let mut note = std::io::stdout();
        let _ = writeln!(note, "screenshot kept at {}", PathBuf::from(keep).display());
    }
}
