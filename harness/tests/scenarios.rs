//! Every built-in scenario against real `ballot-node` processes: each must
//! pass, asserting the exact outcome `docs/scenarios.md` gives (and, for the bug
//! variants, that the checker names the violated property). Plus the
//! engine's own contracts: a failed assertion is reported, a script that
//! cannot run is a harness error, no node outlives a run, and two runs of
//! one scenario write the same records.
//!
//! One test per scenario; nodes start once per scenario; tests run one at a
//! time (two cores, and each owns its processes).

use std::path::Path;

use ballot::scenario::{load, run_scenario, RunOptions, ScenarioReport};
use ballot::Error;
use ballot_core::records::{HISTORY_FILE, MESSAGES_FILE};
use ballot_workloads::scenario::Scenario;

mod common;
use common::{ensure_node_built, serial_async};

async fn run_in(store: &Path, scenario: &Scenario) -> Result<ScenarioReport, Error> {
    ensure_node_built();
    run_scenario(scenario, &RunOptions::new(store, &scenario.name)).await
}

/// Runs a built-in scenario and asserts that every assertion held.
async fn passes(name: &str) -> ScenarioReport {
    let _guard = serial_async().await;
    let store = tempfile::tempdir().unwrap();
    let scenario = load(name).unwrap();
    let report = run_in(store.path(), &scenario)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let failures: Vec<String> = report
        .failures()
        .iter()
        .map(|a| format!("step {}: {} -- saw {}", a.step + 1, a.line, a.detail))
        .collect();
    assert!(
        failures.is_empty(),
        "{name} failed:\n{}\nrun folder kept at {:?}",
        failures.join("\n"),
        store.keep()
    );
    assert!(!report.assertions.is_empty());
    report
}

macro_rules! builtin_tests {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[tokio::test]
            async fn $test() {
                passes($name).await;
            }
        )*
    };
}

builtin_tests! {
    s01_lesson_example => "S01",
    s01m_mirror => "S01m",
    s02_the_exercise => "S02",
    s03a_quorum_without_a => "S03a",
    s03b_quorum_with_a => "S03b",
    s04_interleaving => "S04",
    s04m_mirror => "S04m",
    s05_only_c_has_the_latest_value => "S05",
    s06_in_flight_accept_fenced => "S06",
    s07_equal_rounds_unique_ballots => "S07",
    s07_same_ballot_is_caught => "S07-same-ballot",
    s08_even_node_count => "S08",
    s08_half_quorum_is_caught => "S08-half-quorum",
    s09_restart_recovery => "S09",
    s10_reads => "S10",
    s11_chosen_value_never_changes => "S11",
    s12_highest_ballot_not_most_votes => "S12",
    s12_most_frequent_is_caught => "S12-most-frequent",
}

#[tokio::test]
async fn a_client_bug_flag_makes_the_correct_scenario_fail_its_assertions() {
    let _guard = serial_async().await;
    let store = tempfile::tempdir().unwrap();
    let scenario = load("S12").unwrap();
    let mut opts = RunOptions::new(store.path(), "S12");
    opts.client_bugs = vec!["most-frequent".parse().unwrap()];
    ensure_node_built();
    let report = run_scenario(&scenario, &opts).await.unwrap();
    let failed: Vec<&str> = report.failures().iter().map(|a| a.line.as_str()).collect();
    assert!(failed.contains(&"expect P9 proposes 6"), "{failed:?}");
    assert!(failed.contains(&"expect valid"), "{failed:?}");
    let detail = &report
        .failures()
        .iter()
        .find(|a| a.line == "expect P9 proposes 6")
        .unwrap()
        .detail;
    assert_eq!(detail, "P9 sent accepts with [\"7\", \"7\", \"7\"]");
}

#[tokio::test]
async fn a_step_that_cannot_run_is_a_harness_error_and_leaves_no_process() {
    let _guard = serial_async().await;
    let store = tempfile::tempdir().unwrap();
    let scenario = Scenario::parse(
        r#"{"name": "bad", "nodes": 3,
            "proposers": [{"name": "P1", "value": "1"}],
            "steps": ["prepare P1 -> A", "accept P1 -> A"]}"#,
    )
    .unwrap();
    let err = run_in(store.path(), &scenario).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "step 2 `accept P1 -> A`: P1 has no accept to send: no quorum has promised its current ballot"
    );
    assert!(ballot::cluster::live_children().is_empty());
}

#[tokio::test]
async fn two_runs_of_one_scenario_record_the_same_messages_and_history() {
    let _guard = serial_async().await;
    let scenario = load("S06").unwrap();
    let mut texts = Vec::new();
    for _ in 0..2 {
        let store = tempfile::tempdir().unwrap();
        let report = run_in(store.path(), &scenario).await.unwrap();
        assert!(report.passed());
        let read = |f: &str| std::fs::read_to_string(report.run_dir.join(f)).unwrap();
        texts.push((read(MESSAGES_FILE), read(HISTORY_FILE)));
    }
    assert_eq!(texts[0], texts[1]);
    assert!(texts[0].0.contains(r#""fate":"ok""#));
}

#[tokio::test]
async fn pause_queues_messages_until_resume() {
    let _guard = serial_async().await;
    let store = tempfile::tempdir().unwrap();
    let scenario = Scenario::parse(
        r#"{"name": "pause", "nodes": 3,
            "proposers": [{"name": "P1", "ballot": 4, "value": "1"}],
            "steps": [
              "pause C",
              "prepare P1 -> C",
              "expect prepare P1 -> C no-reply",
              "prepare P1 -> A, B",
              "accept P1 -> A, B",
              "expect P1 ok 1",
              "resume C",
              "expect C promised P1",
              "duplicate accept P1 -> C",
              "expect C accepted P1 1",
              "expect valid"
            ]}"#,
    )
    .unwrap();
    let report = run_in(store.path(), &scenario).await.unwrap();
    assert!(report.passed(), "{:?}", report.failures());
    let text = std::fs::read_to_string(report.run_dir.join(MESSAGES_FILE)).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["fate"], "timeout");
    assert_eq!(first["status"], 200, "processed after resume: {first}");
    assert!(
        text.contains(r#""fate":"duplicated","duplicate_of":"#),
        "{text}"
    );
}

/// Runs an inline scenario, asserts every assertion held, and returns the
/// report with the store that holds its run folder.
async fn inline_passes(json: &str) -> (tempfile::TempDir, ScenarioReport) {
    let _guard = serial_async().await;
    let store = tempfile::tempdir().unwrap();
    let scenario = Scenario::parse(json).unwrap();
    let report = run_in(store.path(), &scenario).await.unwrap();
    assert!(report.passed(), "{:#?}", report.failures());
    (store, report)
}

/// The `error` of each proposer's completion in the history, in order.
fn history_errors(report: &ScenarioReport) -> Vec<(u64, String, String)> {
    let text = std::fs::read_to_string(report.run_dir.join(HISTORY_FILE)).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["type"] != "invoke" && e["process"].is_u64())
        .map(|e| {
            (
                e["process"].as_u64().unwrap(),
                e["type"].as_str().unwrap().to_string(),
                e["error"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn fail_reasons_say_whether_accepts_were_sent_delivered_or_rejected() {
    // P1: A rejects (promised 5 to P2), B is down (refused), C never sent.
    // P2: one promise only, no accept. P3: a quorum, then both nodes down
    // before its accepts, B never sent. All certain: nothing accepted.
    let (_store, report) = inline_passes(
        r#"{"name": "fail-reasons", "nodes": 3,
            "proposers": [
              {"name": "P1", "id": 1, "ballot": 1, "value": "1"},
              {"name": "P2", "id": 2, "ballot": 5, "value": "2"},
              {"name": "P3", "id": 3, "ballot": 9, "value": "3"}
            ],
            "steps": [
              "prepare P1 -> A, B",
              "prepare P2 -> A",
              "kill B",
              "accept P1 -> A, B",
              "expect accept P1 -> A rejected",
              "expect accept P1 -> B no-reply",
              "expect P1 fail \"every accept that was delivered was rejected\"",
              "expect P2 fail \"no accept request was sent\"",
              "prepare P3 -> A, C",
              "kill A, C",
              "accept P3 -> A, C",
              "expect P3 fail \"no accept request was delivered\"",
              "expect chosen none",
              "expect valid"
            ]}"#,
    )
    .await;
    // In completion order. An attempt that failed by itself gives its last
    // tally as the cause (what was known when a quorum became impossible).
    let expected: Vec<(u64, &str, &str)> = vec![
        (
            2,
            "fail",
            "the scenario sends it nothing more; no accept request was sent",
        ),
        (
            1,
            "fail",
            "accept 1.1: 0 accepted, 1 rejected, 0 no answer, 1 not delivered of 3 (quorum 2); \
             every accept that was delivered was rejected",
        ),
        (
            3,
            "fail",
            "accept 9.3: 0 accepted, 0 rejected, 0 no answer, 2 not delivered of 3 (quorum 2); \
             no accept request was delivered",
        ),
    ];
    let expected: Vec<(u64, String, String)> = expected
        .into_iter()
        .map(|(p, kind, why)| (p, kind.to_string(), why.to_string()))
        .collect();
    assert_eq!(history_errors(&report), expected);
}

#[tokio::test]
async fn info_reasons_say_what_may_have_taken_effect() {
    // P1's accept to A is held (in flight at the end); P2's to B is
    // dropped (no answer) and to C held; P3's reaches A and B, which refuse
    // (promised 9.4 to P4), and C's answer is dropped after C accepted.
    // P4 gets a quorum of promises and is never driven further.
    let (_store, report) = inline_passes(
        r#"{"name": "info-reasons", "nodes": 3,
            "proposers": [
              {"name": "P1", "id": 1, "ballot": 1, "value": "1"},
              {"name": "P2", "id": 2, "ballot": 2, "value": "2"},
              {"name": "P3", "id": 3, "ballot": 3, "value": "3"},
              {"name": "P4", "id": 4, "ballot": 9, "value": "4"}
            ],
            "steps": [
              "prepare P1 -> A, B",
              "hold accept P1 -> A",
              "prepare P2 -> B, C",
              "drop-request accept P2 -> B",
              "hold accept P2 -> C",
              "prepare P3 -> A, B, C",
              "prepare P4 -> A, B",
              "accept P3 -> A, B",
              "drop-response accept P3 -> C",
              "expect C accepted P3 3",
              "expect P1 info \"an accept is still in flight: it may take effect\"",
              "expect P2 info \"an accept got no answer: it may have taken effect\"",
              "expect P3 info \"an accept got no answer: it may have taken effect\"",
              "expect P4 fail \"no accept request was sent\"",
              "expect chosen none",
              "expect valid"
            ]}"#,
    )
    .await;
    let ended = "the scenario sends it nothing more; ";
    let expected: Vec<(u64, &str, String)> = vec![
        (
            1,
            "info",
            format!("{ended}an accept is still in flight: it may take effect"),
        ),
        (
            2,
            "info",
            format!("{ended}an accept got no answer: it may have taken effect"),
        ),
        // P4 got its quorum but the script never sends its accepts.
        (4, "fail", format!("{ended}no accept request was sent")),
        (
            3,
            "info",
            "accept 3.3: 0 accepted, 2 rejected, 0 no answer, 0 not delivered of 3 (quorum 2); \
             an accept got no answer: it may have taken effect"
                .to_string(),
        ),
    ];
    let expected: Vec<(u64, String, String)> = expected
        .into_iter()
        .map(|(p, kind, why)| (p, kind.to_string(), why))
        .collect();
    assert_eq!(history_errors(&report), expected);
}

fn args(scenario: Option<&str>, store: &Path) -> ballot::scenario::ScenarioArgs {
    ballot::scenario::ScenarioArgs {
        scenario: scenario.map(str::to_string),
        list: false,
        print: false,
        node_cmd: None,
        bugs: Vec::new(),
        client_bugs: Vec::new(),
        store: store.to_path_buf(),
    }
}

#[tokio::test]
async fn the_command_exits_0_when_assertions_hold_1_when_one_fails_254_for_a_bad_name() {
    use ballot::scenario::scenario_command;
    let _guard = serial_async().await;
    ensure_node_built();
    let store = tempfile::tempdir().unwrap();
    assert_eq!(
        ballot::exit::code(scenario_command(&args(Some("S11"), store.path())).await),
        0
    );
    let mut buggy = args(Some("S11"), store.path());
    buggy.client_bugs = vec!["own-value".parse().unwrap()];
    assert_eq!(ballot::exit::code(scenario_command(&buggy).await), 1);
    assert_eq!(
        ballot::exit::code(scenario_command(&args(Some("S99"), store.path())).await),
        254
    );
    let mut list = args(None, store.path());
    list.list = true;
    assert_eq!(ballot::exit::code(scenario_command(&list).await), 0);
    // A file works as well as a name.
    let file = store.path().join("s.json");
    std::fs::write(&file, load("S04m").unwrap().to_json()).unwrap();
    let from_file = args(Some(file.to_str().unwrap()), store.path());
    assert_eq!(ballot::exit::code(scenario_command(&from_file).await), 0);
}
