//! Bug detection: every catalogued bug is caught by its seeded `ballot test`
//! configuration, and the correct node and proposer raise no false alarm.
//!
//! - one test per bug of `ballot::validate::catalogue()`: the real `ballot`
//!   binary runs the bug's configuration with fixed seeds; it must exit 1
//!   with `results.json` naming one of the bug's expected properties, with
//!   evidence, in one of a few seeds (detection depends on timing, and a
//!   loaded CI machine shifts it). If a bug stops being caught, its test fails.
//! - `catalogue_and_tests_agree`: every catalogued bug has a test here.
//! - `no_false_alarm_under_every_fault`: the correct node and proposer,
//!   two seeds x 5 s with `--nemesis all`, through `validate::run` and its
//!   Markdown report; every run must be valid.
//!
//! Runs are one at a time (`common::serial`): each starts several processes
//! and the reference machine has two cores. `ballot validate` runs the same
//! configurations over more seeds and writes `docs/bugs.md`.

mod common;

use std::path::{Path, PathBuf};

use ballot::validate::{self, catalogue, markdown, sweep, BugCase, ValidationPlan};
use ballot_core::verdict::{Validity, Violation};

/// The seed every bug test uses.
const SEED: u64 = 1;

fn ballot() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ballot"))
}

fn case(name: &str) -> BugCase {
    catalogue()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{name} is not in the catalogue"))
}

/// Seeds a bug test may try: detection depends on timing (a busy 2-core CI
/// machine shifts it), so a test tries up to this many seeds and asserts the
/// bug is caught in one of them; a bug that stopped being caught misses all.
const SEEDS_PER_TEST: u64 = 4;

/// Runs `name`'s configuration with seeds `SEED .. SEED + SEEDS_PER_TEST`
/// and asserts on the first that catches the bug (or the last).
fn assert_caught(name: &str) {
    let seeds = SEEDS_PER_TEST;
    let _serial = common::serial();
    common::ensure_node_built();
    let case = case(name);
    let store = tempfile::tempdir().unwrap();
    let mut tries = (SEED..SEED + seeds).peekable();
    let (record, detection) = loop {
        let seed = tries.next().expect("at least one seed");
        let dir = store.path().join(format!("seed-{seed}"));
        let (record, detection) = validate::run_case(&ballot(), &case, &[], seed, &dir);
        if detection.caught() || tries.peek().is_none() {
            break (record, detection);
        }
    };
    let rerun = record.rerun_command();
    assert_eq!(record.error, None, "{name}: {rerun}");
    assert_eq!(
        record.exit,
        Some(1),
        "{name} was not caught (verdict {:?}, violated {:?}); rerun: {rerun}",
        detection.verdict,
        detection.violated()
    );
    assert!(
        detection.caught(),
        "{name}: violated {:?}, none of the expected {:?}; rerun: {rerun}",
        detection.violated(),
        case.expect
    );
    let results = record.results.as_ref().expect("a verdict");
    let expected: Vec<&Violation> = results
        .checkers
        .iter()
        .flat_map(|c| &c.violations)
        .filter(|v| case.expect.contains(&v.property.as_str()))
        .collect();
    assert!(!expected.is_empty());
    for v in expected {
        assert!(
            !v.ops.is_empty() || !v.messages.is_empty(),
            "{name}: {} violation without evidence",
            v.property
        );
        assert!(!v.explanation.is_empty());
    }
    let at = detection.at.expect("a detection time");
    assert!(
        at.as_secs_f64() <= case.time_limit() + 30.0,
        "{name}: detected at {at:?}, after the run"
    );
}

macro_rules! bug_tests {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                assert_caught($name);
            }
        )*

        /// The bugs this file tests, in catalogue order.
        const TESTED: &[&str] = &[$($name),*];
    };
}

bug_tests! {
    reply_before_durable_is_caught => "reply-before-durable",
    memory_only_is_caught => "memory-only",
    promise_only_is_caught => "promise-only",
    accept_below_promise_is_caught => "accept-below-promise",
    accept_keeps_promise_is_caught => "accept-keeps-promise",
    prepare_reports_first_is_caught => "prepare-reports-first",
    own_value_is_caught => "own-value",
    most_frequent_is_caught => "most-frequent",
    same_ballot_is_caught => "same-ballot",
    half_quorum_is_caught => "half-quorum",
    minority_fail_is_caught => "minority-fail",
    read_no_phase2_is_caught => "read-no-phase2",
    learn_first_accept_is_caught => "learn-first-accept",
}

#[test]
fn catalogue_and_tests_agree() {
    let names: Vec<&str> = catalogue().iter().map(|c| c.name).collect();
    assert_eq!(names, TESTED);
}

#[test]
fn no_false_alarm_under_every_fault() {
    let _serial = common::serial();
    common::ensure_node_built();
    let store = tempfile::tempdir().unwrap();
    let plan = ValidationPlan {
        ballot: ballot(),
        store: store.path().to_path_buf(),
        cases: Vec::new(),
        seeds: 0,
        first_seed: SEED,
        sweep: sweep::plan(&["all".to_string()], 2, SEED, 5.0),
        extra_args: Vec::new(),
        default_runs: false,
        skip_tailored: false,
    };
    let mut lines = Vec::new();
    let v = validate::run(&plan, "test".into(), 0.8, 5.0, &mut |l| {
        lines.push(l.to_string())
    });
    assert_eq!(v.sweep.len(), 2);
    for s in &v.sweep {
        let rerun = s.record.rerun_command();
        assert_eq!(s.record.error, None, "{rerun}");
        let results = s.record.results.as_ref().expect("a verdict");
        assert_eq!(
            results.valid,
            Validity::Valid,
            "false alarm: {:?}; rerun: {rerun}",
            results.first_violation()
        );
        assert_eq!(s.record.exit, Some(0));
        assert!(store_holds_run(store.path(), &s.run.nemesis, s.run.seed));
    }
    assert!(v.passed(), "{lines:?}");
    let report = markdown::render(&v);
    assert!(report.contains("| `all` | 2 | 0 | 0 | 0 |"), "{report}");
    assert!(report.contains("2 of 2 runs valid."), "{report}");
    assert_eq!(lines.len(), 2);
}

/// Whether the sweep kept the run's folder where the plan says.
fn store_holds_run(store: &Path, nemesis: &str, seed: u64) -> bool {
    store
        .join("sweep")
        .join(nemesis)
        .join(format!("seed-{seed}"))
        .join("latest")
        .join("results.json")
        .is_file()
}
