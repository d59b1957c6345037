//! `check_run` on run folders written to a temporary directory.
//!
//! - a correct run (docs/scenarios.md S01) is valid in every checker, with the
//!   expected stats, and `write_results` round-trips;
//! - a run with a proposer bug is invalid, naming the property and evidence;
//! - missing evidence gives `unknown` with the reason; corrupt lines are
//!   errors naming the file and line;
//! - a simulated run of a few thousand exchanges is valid end to end;
//! - a single history file is checked with `check_history_file`.

#[path = "../benches/messages/synth.rs"]
mod synth;

use std::path::Path;

use ballot_checker::import::Format;
use ballot_checker::linear::Bounds;
use ballot_checker::models::Model;
use ballot_checker::run::{check_history_file, check_run, write_results, CheckError, CheckOptions};
use ballot_core::records::RESULTS_FILE;
use ballot_core::verdict::{Results, Validity};
use serde_json::{json, Value};

fn ballot(b: (u64, u64)) -> Value {
    json!({"round": b.0, "proposer": b.1})
}

/// One exchange line: id, node, process, path, request, response (None:
/// none), all at `10 * id` + 0/1/2 ns.
fn exchange(
    id: u64,
    to: u64,
    process: u64,
    path: &str,
    request: Value,
    response: Option<Value>,
) -> Value {
    let t = 10 * id;
    json!({
        "id": id, "from": 0, "to": to, "process": process, "path": path,
        "request": request,
        "status": response.as_ref().map(|_| 200),
        "response": response,
        "sent": t, "delivered": t + 1,
        "replied": if response.is_some() { Some(t + 2) } else { None },
        "fate": "ok",
    })
}

fn prep(id: u64, to: u64, b: (u64, u64), ok: bool, promised: (u64, u64)) -> Value {
    exchange(
        id,
        to,
        b.1,
        "/v1/prepare",
        json!({"key": "x", "ballot": ballot(b)}),
        Some(json!({"ok": ok, "promised": ballot(promised), "accepted": null})),
    )
}

fn acc(id: u64, to: u64, b: (u64, u64), v: &str, ok: bool, promised: (u64, u64)) -> Value {
    exchange(
        id,
        to,
        b.1,
        "/v1/accept",
        json!({"key": "x", "ballot": ballot(b), "value": v}),
        Some(json!({"ok": ok, "promised": ballot(promised)})),
    )
}

fn learn(id: u64, to: u64, b: (u64, u64), v: &str) -> Value {
    exchange(
        id,
        to,
        b.1,
        "/v1/learn",
        json!({"key": "x", "ballot": ballot(b), "value": v}),
        Some(json!({"ok": true})),
    )
}

/// S01: P1 (1.1, "3") loses to P2 (5.2, `v2`). With `v2` = "7" it is the
/// lesson's correct run.
fn s01_messages(v2: &str) -> Vec<Value> {
    vec![
        prep(1, 0, (1, 1), true, (1, 1)),
        prep(2, 1, (1, 1), true, (1, 1)),
        prep(3, 2, (5, 2), true, (5, 2)),
        prep(4, 0, (5, 2), true, (5, 2)),
        prep(5, 1, (5, 2), true, (5, 2)),
        acc(7, 0, (1, 1), "3", false, (5, 2)),
        acc(8, 1, (1, 1), "3", false, (5, 2)),
        acc(10, 0, (5, 2), v2, true, (5, 2)),
        acc(11, 1, (5, 2), v2, true, (5, 2)),
        acc(12, 2, (5, 2), v2, true, (5, 2)),
        learn(13, 0, (5, 2), v2),
    ]
}

fn event(index: u64, time: u64, process: u64, kind: &str, value: &str) -> Value {
    json!({"index": index, "time": time, "process": process, "type": kind, "f": "propose", "key": "x", "value": value})
}

fn s01_history(returned: &str) -> Vec<Value> {
    vec![
        event(0, 1, 1, "invoke", "3"),
        event(1, 2, 2, "invoke", "7"),
        event(2, 500, 1, "fail", "3"),
        event(3, 501, 2, "ok", returned),
    ]
}

fn snapshots(v: &str) -> Vec<Value> {
    (0..3)
        .map(|n| {
            json!({"time": 1000, "node": n, "reason": "final", "state": {"node": n, "instances": {
                "x": {"promised": ballot((5, 2)), "accepted": {"ballot": ballot((5, 2)), "value": v},
                      "learned": if n == 0 { Some(v) } else { None }}
            }}})
        })
        .collect()
}

fn write_lines(dir: &Path, name: &str, lines: &[Value]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join(name), text).unwrap();
}

fn write_s01(dir: &Path, v2: &str) {
    std::fs::write(
        dir.join("test.json"),
        r#"{"workload":"register","nodes":3,"seed":1}"#,
    )
    .unwrap();
    write_lines(dir, "history.jsonl", &s01_history(v2));
    write_lines(dir, "messages.jsonl", &s01_messages(v2));
    write_lines(
        dir,
        "nemesis.jsonl",
        &[json!({"time": 3, "phase": "start", "fault": "partition", "nodes": [2]})],
    );
    write_lines(dir, "snapshots.jsonl", &snapshots(v2));
}

fn names(results: &Results) -> Vec<(&str, Validity)> {
    results
        .checkers
        .iter()
        .map(|c| (c.name.as_str(), c.valid))
        .collect()
}

#[test]
fn a_correct_run_is_valid_and_results_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    write_s01(dir.path(), "7");
    let results = check_run(dir.path(), &CheckOptions::default()).unwrap();
    assert_eq!(
        names(&results),
        vec![
            ("linearizable", Validity::Valid),
            ("paxos", Validity::Valid),
            ("learners", Validity::Valid),
            ("acceptor-spec", Validity::Valid),
            ("stats", Validity::Valid),
        ],
        "{results:#?}"
    );
    assert_eq!(results.valid, Validity::Valid);
    let paxos = &results.checkers[1];
    assert_eq!(paxos.stats["exchanges"], json!(11));
    assert_eq!(paxos.stats["chosen-keys"], json!(1));
    assert_eq!(paxos.stats["violations"]["p2c-justified-accept"], json!(0));
    let stats = &results.checkers[4].stats;
    assert_eq!(stats["operations"], json!(2));
    assert_eq!(stats["availability"], json!(0.5));
    assert_eq!(
        stats["latency-ns"]["propose"],
        json!({"count": 1, "p50": 499, "p99": 499})
    );
    assert_eq!(stats["exchanges"], json!({"ok": 11}));
    assert_eq!(stats["faults"], json!({"partition": 1}));

    write_results(dir.path(), &results).unwrap();
    let text = std::fs::read_to_string(dir.path().join(RESULTS_FILE)).unwrap();
    assert!(text.starts_with("{\n  \"valid\": true,"), "pretty: {text}");
    let back: Results = serde_json::from_str(&text).unwrap();
    assert_eq!(back, results);
    assert!(!dir.path().join("results.json.tmp").exists());
}

#[test]
fn a_proposer_bug_is_named_with_its_evidence() {
    // P1's accept reaches A and B first, so "3" is chosen and P2's
    // promises report it: P2 must adopt "3".
    let dir = tempfile::tempdir().unwrap();
    write_s01(dir.path(), "7");
    let mut messages = vec![
        prep(1, 0, (1, 1), true, (1, 1)),
        prep(2, 1, (1, 1), true, (1, 1)),
        acc(3, 0, (1, 1), "3", true, (1, 1)),
        acc(4, 1, (1, 1), "3", true, (1, 1)),
    ];
    let reported = |id, to| {
        exchange(
            id,
            to,
            2,
            "/v1/prepare",
            json!({"key": "x", "ballot": ballot((5, 2))}),
            Some(json!({"ok": true, "promised": ballot((5, 2)),
                        "accepted": {"ballot": ballot((1, 1)), "value": "3"}})),
        )
    };
    // P2 ignores the reported "3" and sends its own "7"; the link is cut.
    let mut own = acc(7, 0, (5, 2), "7", false, (5, 2));
    for field in ["delivered", "status", "response", "replied"] {
        own[field] = Value::Null;
    }
    own["fate"] = json!("cut");
    messages.extend([reported(5, 0), reported(6, 1), own]);
    write_lines(dir.path(), "messages.jsonl", &messages);
    write_lines(dir.path(), "history.jsonl", &s01_history("7")[..2]);
    let results = check_run(dir.path(), &CheckOptions::default()).unwrap();
    assert_eq!(results.valid, Validity::Invalid);
    let paxos = &results.checkers[1];
    assert_eq!(paxos.valid, Validity::Invalid);
    let props: Vec<&str> = paxos
        .violations
        .iter()
        .map(|v| v.property.as_str())
        .collect();
    assert_eq!(
        props,
        vec!["p2b-chosen-value-persists", "p2c-justified-accept"]
    );
    let p2c = &paxos.violations[1];
    assert_eq!(p2c.key.as_deref(), Some("x"));
    assert_eq!(
        p2c.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![5, 6, 7]
    );
    // The evidence is the records exactly as logged.
    let logged: ballot_core::records::Exchange =
        serde_json::from_value(messages[6].clone()).unwrap();
    assert_eq!(p2c.messages[2], logged);
    // The final snapshots say 7 was learned, but 7 was never chosen.
    assert_eq!(results.checkers[2].valid, Validity::Invalid);
}

#[test]
fn missing_evidence_is_unknown_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    write_s01(dir.path(), "7");
    std::fs::remove_file(dir.path().join("snapshots.jsonl")).unwrap();
    std::fs::remove_file(dir.path().join("nemesis.jsonl")).unwrap();
    let results = check_run(dir.path(), &CheckOptions::default()).unwrap();
    assert_eq!(results.valid, Validity::Unknown);
    let paxos = &results.checkers[1];
    assert_eq!(paxos.valid, Validity::Unknown);
    assert!(paxos
        .reason
        .as_deref()
        .unwrap()
        .contains("snapshots.jsonl is missing"));

    std::fs::remove_file(dir.path().join("messages.jsonl")).unwrap();
    let results = check_run(dir.path(), &CheckOptions::default()).unwrap();
    assert_eq!(
        names(&results),
        vec![
            ("linearizable", Validity::Valid),
            ("paxos", Validity::Unknown),
            ("learners", Validity::Unknown),
            ("acceptor-spec", Validity::Unknown),
            ("stats", Validity::Valid),
        ]
    );
    assert!(results.checkers[1]
        .reason
        .as_deref()
        .unwrap()
        .contains("messages.jsonl is missing"));

    std::fs::write(dir.path().join("test.json"), r#"{"workload":"register"}"#).unwrap();
    write_lines(dir.path(), "messages.jsonl", &s01_messages("7"));
    let results = check_run(dir.path(), &CheckOptions::default()).unwrap();
    assert!(results.checkers[1]
        .reason
        .as_deref()
        .unwrap()
        .contains("`nodes`"));
}

#[test]
fn corrupt_or_missing_files_are_errors_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write_s01(dir.path(), "7");
    let mut text = std::fs::read_to_string(dir.path().join("messages.jsonl")).unwrap();
    text.push_str("{\"id\": 99, \"to\":\n");
    std::fs::write(dir.path().join("messages.jsonl"), &text).unwrap();
    let err = check_run(dir.path(), &CheckOptions::default()).unwrap_err();
    assert!(
        matches!(err, CheckError::Corrupt { line: 12, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("messages.jsonl: line 12:"),
        "{err}"
    );

    write_s01(dir.path(), "7");
    std::fs::write(dir.path().join("snapshots.jsonl"), "{}\n").unwrap();
    let err = check_run(dir.path(), &CheckOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("snapshots.jsonl: line 1:"),
        "{err}"
    );

    write_s01(dir.path(), "7");
    std::fs::write(dir.path().join("history.jsonl"), "{\"index\":0}\n").unwrap();
    let err = check_run(dir.path(), &CheckOptions::default()).unwrap_err();
    assert!(err.to_string().contains("history.jsonl: line 1"), "{err}");

    std::fs::remove_file(dir.path().join("test.json")).unwrap();
    let err = check_run(dir.path(), &CheckOptions::default()).unwrap_err();
    assert!(matches!(err, CheckError::Missing { .. }), "{err:?}");
}

#[test]
fn a_simulated_run_is_valid_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = synth::Config {
        exchanges: 4_000,
        restart_every: 1_000,
        seed: 7,
        ..synth::Config::default()
    };
    let summary = synth::write_run(dir.path(), &cfg).unwrap();
    let results = check_run(dir.path(), &CheckOptions::default()).unwrap();
    assert_eq!(results.valid, Validity::Valid, "{results:#?}");
    assert_eq!(
        results.checkers[1].stats["exchanges"],
        json!(summary.exchanges)
    );
    assert_eq!(results.checkers[4].stats["ok"], json!(summary.ok_ops));
}

#[test]
fn a_single_history_file_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    write_lines(dir.path(), "history.jsonl", &s01_history("7"));
    let results = check_history_file(&path, None, None, &Bounds::default()).unwrap();
    assert_eq!(
        names(&results),
        vec![
            ("linearizable", Validity::Valid),
            ("stats", Validity::Valid)
        ]
    );
    // Two different values returned for one write-once key.
    let mut history = s01_history("7");
    history[2] = event(2, 500, 1, "ok", "3");
    write_lines(dir.path(), "history.jsonl", &history);
    let results = check_history_file(
        &path,
        Some(Model::WriteOnce),
        Some(Format::Ballot),
        &Bounds::default(),
    )
    .unwrap();
    assert_eq!(results.valid, Validity::Invalid);
    let err = check_history_file(
        &dir.path().join("none.jsonl"),
        None,
        None,
        &Bounds::default(),
    )
    .unwrap_err();
    assert!(matches!(err, CheckError::Missing { .. }), "{err:?}");
}
