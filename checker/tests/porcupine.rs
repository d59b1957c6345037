//! The Porcupine anchor corpus: every file in `shared/anchors/porcupine/`
//! gets exactly the verdict its `EXPECTED.tsv` gives (Porcupine's own test
//! expectations), and every file there is listed.
//!
//! The folder lives beside the repository clone (`<clone>/../shared`); when
//! it is missing this test fails rather than pass vacuously.

use std::collections::BTreeSet;
use std::path::PathBuf;

use ballot_checker::history;
use ballot_checker::import::{read_jepsen_etcd, read_porcupine_kv};
use ballot_checker::linear::{check, Bounds};
use ballot_checker::models::Model;
use ballot_core::verdict::Validity;

fn corpus() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/anchors/porcupine"
    ));
    assert!(
        dir.join("EXPECTED.tsv").is_file(),
        "the Porcupine anchor corpus is missing: expected {}/EXPECTED.tsv (a copy of shared/ must sit beside the repository clone)",
        dir.display()
    );
    dir
}

struct Expected {
    file: String,
    model: Model,
    linearizable: bool,
    ops: usize,
}

fn expected() -> Vec<Expected> {
    let dir = corpus();
    let text = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 4, "bad EXPECTED.tsv line {l:?}");
            Expected {
                file: cols[0].to_string(),
                model: cols[1].parse().unwrap(),
                linearizable: cols[2].parse().unwrap(),
                ops: cols[3].parse().unwrap(),
            }
        })
        .collect()
}

#[test]
fn every_file_gets_porcupines_verdict() {
    let dir = corpus();
    let expected = expected();
    assert_eq!(
        expected.len(),
        108,
        "EXPECTED.tsv should list 108 histories"
    );

    let listed: BTreeSet<&str> = expected.iter().map(|e| e.file.as_str()).collect();
    let present: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".log") || name.ends_with(".txt"))
        .collect();
    let present: BTreeSet<&str> = present.iter().map(String::as_str).collect();
    assert_eq!(listed, present, "EXPECTED.tsv and the folder disagree");

    let mut wrong = Vec::new();
    for e in &expected {
        let text = std::fs::read_to_string(dir.join(&e.file)).unwrap();
        let events = match e.model {
            Model::CasRegister => read_jepsen_etcd(&text),
            Model::Kv => read_porcupine_kv(&text),
            other => panic!("unexpected model {other} in EXPECTED.tsv"),
        }
        .unwrap_or_else(|err| panic!("{}: {err}", e.file));
        let ops = history::pair(&events).unwrap();
        assert_eq!(ops.len(), e.ops, "{}: number of operations", e.file);

        let result = check(&events, e.model, &Bounds::default());
        let want = if e.linearizable {
            Validity::Valid
        } else {
            Validity::Invalid
        };
        if result.valid != want {
            wrong.push(format!(
                "{}: expected {want:?}, got {:?} ({:?})",
                e.file, result.valid, result.reason
            ));
            continue;
        }
        if want == Validity::Invalid {
            let v = &result.violations[0];
            assert_eq!(v.property, "linearizable", "{}", e.file);
            assert!(
                !v.ops.is_empty() && v.ops.len() <= 20,
                "{}: evidence of 1..=10 ops",
                e.file
            );
            assert!(v.explanation.starts_with("No order of the "), "{}", e.file);
        }
    }
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}

/// The two traps the anchors README names: timed-out writes and CASes must
/// be allowed to take effect, and must be allowed not to.
#[test]
fn timed_out_writes_may_take_effect() {
    let dir = corpus();
    let linearizable: Vec<String> = expected()
        .into_iter()
        .filter(|e| e.linearizable && e.model == Model::CasRegister)
        .map(|e| e.file)
        .collect();
    assert_eq!(linearizable.len(), 23);
    // Dropping every `:info` op (treating it as never having happened) must
    // flip many of the linearizable etcd verdicts: our checker must not.
    let mut flipped = 0;
    for file in &linearizable {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let events = read_jepsen_etcd(&text).unwrap();
        let ops = history::pair(&events).unwrap();
        let dropped: BTreeSet<usize> = ops
            .iter()
            .filter(|o| o.outcome == history::OpType::Info)
            .flat_map(|o| [Some(o.invoke), o.completion].into_iter().flatten())
            .collect();
        let kept: Vec<_> = events
            .iter()
            .enumerate()
            .filter(|(i, _)| !dropped.contains(i))
            .map(|(_, e)| e.clone())
            .collect();
        if check(&kept, Model::CasRegister, &Bounds::default()).valid == Validity::Invalid {
            flipped += 1;
        }
    }
    assert_eq!(
        flipped, 20,
        "the README says dropping info ops flips 20 of 23"
    );
}

/// The general EDN reader reads Porcupine's kv logs (EDN maps, one a line)
/// to the same operations and verdicts as the narrow kv reader, and picks
/// the kv model for them.
#[test]
fn the_edn_reader_gives_the_kv_logs_their_verdicts() {
    use ballot_checker::import::{read_jepsen_edn, Format};
    let dir = corpus();
    let kv: Vec<Expected> = expected()
        .into_iter()
        .filter(|e| e.model == Model::Kv)
        .collect();
    assert_eq!(kv.len(), 6);
    for e in &kv {
        let text = std::fs::read_to_string(dir.join(&e.file)).unwrap();
        let events = read_jepsen_edn(&text).unwrap_or_else(|err| panic!("{}: {err}", e.file));
        assert_eq!(
            Format::JepsenEdn.model_for(&events),
            Model::Kv,
            "{}",
            e.file
        );
        assert_eq!(history::pair(&events).unwrap().len(), e.ops, "{}", e.file);
        let want = if e.linearizable {
            Validity::Valid
        } else {
            Validity::Invalid
        };
        let result = check(&events, Model::Kv, &Bounds::default());
        assert_eq!(result.valid, want, "{}: {:?}", e.file, result.reason);
    }
}
