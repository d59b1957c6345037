//! Every built-in scenario against real `ballot-node` processes: each must
//! pass, asserting the exact outcome `SCENARIOS.md` gives (and, for the bug
//! variants, that the checker names the violated property). Plus the
//! engine's own contracts: a failed assertion is reported, a script that
//! cannot run is a harness error, no node outlives a run, and two runs of
//! one scenario write the same records.
//!
//! One test per scenario; nodes start once per scenario; tests run one at a
//! time (two cores, and each owns its processes).

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use tokio::sync::{Mutex, MutexGuard};

use ballot::scenario::{load, run_scenario, RunError, RunOptions, ScenarioReport};
use ballot_checker::format::{HISTORY_FILE, MESSAGES_FILE};
use ballot_workloads::scenario::Scenario;

/// Builds `ballot-node` once, so the default node command finds it beside the test binary.
fn ensure_node_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "-p", "ballot-node", "--bin", "ballot-node"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo build -p ballot-node");
        assert!(
            out.status.success(),
            "cargo build -p ballot-node failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// Runs process-heavy tests one at a time (an async lock: it is held across awaits).
async fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::const_new(());
    LOCK.lock().await
}

async fn run_in(store: &Path, scenario: &Scenario) -> Result<ScenarioReport, RunError> {
    ensure_node_built();
    run_scenario(scenario, &RunOptions::new(store, &scenario.name)).await
}

/// Runs a built-in scenario and asserts that every assertion held.
async fn passes(name: &str) -> ScenarioReport {
    let _guard = serial().await;
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
    let _guard = serial().await;
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
    let _guard = serial().await;
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
    let _guard = serial().await;
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
    let _guard = serial().await;
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
    let _guard = serial().await;
    ensure_node_built();
    let store = tempfile::tempdir().unwrap();
    assert_eq!(scenario_command(&args(Some("S11"), store.path())).await, 0);
    let mut buggy = args(Some("S11"), store.path());
    buggy.client_bugs = vec!["own-value".parse().unwrap()];
    assert_eq!(scenario_command(&buggy).await, 1);
    assert_eq!(
        scenario_command(&args(Some("S99"), store.path())).await,
        254
    );
    let mut list = args(None, store.path());
    list.list = true;
    assert_eq!(scenario_command(&list).await, 0);
    // A file works as well as a name.
    let file = store.path().join("s.json");
    std::fs::write(&file, load("S04m").unwrap().to_json()).unwrap();
    let from_file = args(Some(file.to_str().unwrap()), store.path());
    assert_eq!(scenario_command(&from_file).await, 0);
}
