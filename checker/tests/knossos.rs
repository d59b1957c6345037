//! Knossos's own cas-register histories: every file in
//! `shared/anchors/knossos/cas-register/good/` is linearizable and every one
//! in `.../bad/` is not, as Knossos's `core-test/test-examples` asserts
//! (model `(cas-register 0)`, history read with `clojure.edn`). Each file is
//! read with [`read_jepsen_edn`] and checked with the cas-register model
//! under Knossos's reading, starting at 0; an unknown verdict fails. Each
//! is also checked the way `ballot check FILE` does (format detected,
//! default model and reading, the register starting at nil, as Knossos's
//! command line starts it), which must give the same verdict.
//!
//! The folder lives beside the repository clone (`<clone>/../shared`);
//! `BALLOT_KNOSSOS_CORPUS` may point elsewhere. Knossos's data may only live
//! in the steering repository's `shared/` (the project commits none of it),
//! and until it is there a clone has no corpus: the tests then say NOT RUN
//! on stderr and pass, unless `BALLOT_REQUIRE_KNOSSOS=1`, which makes a
//! missing corpus a failure. Run with `--nocapture` for the table of
//! verdicts and times.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ballot_checker::import::read_jepsen_edn;
use ballot_checker::linear::{check_spec, Bounds};
use ballot_checker::models::{Model, Reading, Spec};
use ballot_checker::run::check_history_file;
use ballot_core::verdict::{CheckerResult, Validity};
use serde_json::json;

/// The corpus folder, or `None` (with a loud note) when this machine has
/// none: Knossos's data may only live in the steering repository's
/// `shared/`, which the developers cannot write, so a clone whose
/// `shared/` lacks it cannot run this test. `BALLOT_REQUIRE_KNOSSOS=1`
/// turns a missing corpus into a failure.
fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("BALLOT_KNOSSOS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/anchors/knossos"
            ))
        });
    if dir.join("cas-register/good").is_dir() && dir.join("cas-register/bad").is_dir() {
        return Some(dir);
    }
    let message = format!(
        "the Knossos corpus is missing: expected {}/cas-register/{{good,bad}}/ (shared/anchors/knossos beside the repository clone, or BALLOT_KNOSSOS_CORPUS)",
        dir.display()
    );
    assert!(
        std::env::var_os("BALLOT_REQUIRE_KNOSSOS").is_none(),
        "{message}"
    );
    eprintln!("NOT RUN: {message}");
    None
}

/// The `.edn` files of a folder, by name.
fn histories(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "edn"))
        .collect();
    files.sort();
    files
}

/// Knossos's test model: `(cas-register 0)`, outcomes read as Knossos does.
fn knossos_cas_register() -> Spec {
    Spec {
        model: Model::CasRegister,
        reading: Reading::Knossos,
        initial: json!(0),
    }
}

fn bounds() -> Bounds {
    Bounds {
        time: Duration::from_secs(60),
        ..Bounds::default()
    }
}

fn check_file(path: &Path) -> (CheckerResult, Duration) {
    let text = std::fs::read_to_string(path).unwrap();
    let started = Instant::now();
    let events =
        read_jepsen_edn(&text).unwrap_or_else(|e| panic!("{}: does not read: {e}", path.display()));
    let result = check_spec(&events, &knossos_cas_register(), &bounds());
    (result, started.elapsed())
}

/// `ballot check FILE`'s linearizability verdict, and the model and reading it used.
fn check_as_the_cli_does(path: &Path) -> (Validity, String, String) {
    let results = check_history_file(path, None, None, &bounds()).unwrap();
    let lin = &results.checkers[0];
    assert_eq!(lin.name, "linearizable");
    let stat = |name: &str| lin.stats[name].as_str().unwrap_or_default().to_string();
    (lin.valid, stat("model"), stat("reading"))
}

#[test]
fn every_file_gets_knossos_verdict() {
    let Some(dir) = corpus() else { return };
    let mut wrong = Vec::new();
    let mut counts = [0usize; 2];
    let mut total = Duration::ZERO;
    println!("file\tknossos\tours\tms");
    for (i, (folder, want)) in [("good", Validity::Valid), ("bad", Validity::Invalid)]
        .into_iter()
        .enumerate()
    {
        for path in histories(&dir.join("cas-register").join(folder)) {
            counts[i] += 1;
            let (result, took) = check_file(&path);
            total += took;
            let name = format!("{folder}/{}", path.file_name().unwrap().to_string_lossy());
            println!(
                "{name}\t{}\t{}\t{:.1}",
                if want == Validity::Valid {
                    "valid"
                } else {
                    "invalid"
                },
                match result.valid {
                    Validity::Valid => "valid",
                    Validity::Invalid => "invalid",
                    Validity::Unknown => "unknown",
                },
                took.as_secs_f64() * 1000.0
            );
            if result.valid != want {
                wrong.push(format!(
                    "{name}: want {want:?}, got {:?} ({:?})",
                    result.valid, result.reason
                ));
            }
            let cli = check_as_the_cli_does(&path);
            let expected = (want, "cas-register".to_string(), "knossos".to_string());
            if cli != expected {
                wrong.push(format!(
                    "{name}: as ballot check reads it: want {expected:?}, got {cli:?}"
                ));
            }
        }
    }
    println!(
        "{} files, parse + check {:.0} ms in all",
        counts[0] + counts[1],
        total.as_secs_f64() * 1000.0
    );
    assert_eq!(
        counts,
        [113, 7],
        "expected Knossos's 113 good and 7 bad cas-register histories"
    );
    assert!(
        wrong.is_empty(),
        "verdicts differ from Knossos's:\n{}",
        wrong.join("\n")
    );
}

/// Knossos's `immediate-failure-test` and `cas-failure-test` name the op
/// that cannot be linearized (by its position, `:index`); ours must end
/// its evidence with the same op.
#[test]
fn the_violations_name_the_op_knossos_names() {
    let Some(dir) = corpus() else { return };
    let dir = dir.join("cas-register/bad");
    for (file, index, value) in [
        ("immediate-failure.edn", 3, json!(3)),
        ("cas-failure.edn", 491, json!(0)),
    ] {
        let (result, _) = check_file(&dir.join(file));
        assert_eq!(result.valid, Validity::Invalid, "{file}");
        let last = result.violations[0].ops.last().expect("evidence");
        assert_eq!(
            (last.index, &last.f[..], &last.value),
            (index, "read", &value),
            "{file}: {}",
            result.violations[0].explanation
        );
    }
}
