//! Times the linearizability checker on the whole Porcupine anchor corpus
//! (`shared/anchors/porcupine/`), per file and in total, to compare with
//! Porcupine's figures in the anchors README (577 ms parse + check, 469 ms
//! check only, on a 2-core machine).
//!
//! Run: `cargo bench -p ballot-checker --bench porcupine [-- REPS]`.
//! Each file is parsed and checked REPS times (default 15); the median is
//! reported. Files are checked one after another, each using every core for
//! its keys, as Porcupine's tests do.

mod common;
use common::cpu_seconds;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ballot_checker::import::{read_jepsen_etcd, read_porcupine_kv};
use ballot_checker::linear::{check, Bounds};
use ballot_checker::models::Model;
use ballot_core::records::Event;
use ballot_core::verdict::Validity;

/// One file's figures: name, model, median parse + check, median check only.
struct Row {
    file: String,
    model: Model,
    full: Duration,
    check: Duration,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn parse(model: Model, text: &str) -> Vec<Event> {
    match model {
        Model::CasRegister => read_jepsen_etcd(text).unwrap(),
        _ => read_porcupine_kv(text).unwrap(),
    }
}

fn main() {
    let reps: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(15);
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/anchors/porcupine"
    ));
    let expected = std::fs::read_to_string(dir.join("EXPECTED.tsv"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join("EXPECTED.tsv").display()));
    let bounds = Bounds::default();
    let mut rows = Vec::new();
    for line in expected.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, model, want) = (
            cols[0],
            cols[1].parse::<Model>().unwrap(),
            cols[2] == "true",
        );
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let mut full = Vec::new();
        let mut check_only = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            let events = parse(model, &text);
            let r = check(&events, model, &bounds);
            full.push(t.elapsed());
            assert_eq!(r.valid == Validity::Valid, want, "{file}: wrong verdict");
            let t = Instant::now();
            let r = check(&events, model, &bounds);
            check_only.push(t.elapsed());
            std::hint::black_box(r);
        }
        rows.push(Row {
            file: file.to_string(),
            model,
            full: median(full),
            check: median(check_only),
        });
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let sum =
        |pick: &dyn Fn(&Row) -> Option<Duration>| rows.iter().filter_map(pick).sum::<Duration>();
    println!("file\tmodel\tparse+check_ms\tcheck_ms   (median of {reps})");
    for r in &rows {
        println!(
            "{}\t{}\t{:.3}\t{:.3}",
            r.file,
            r.model,
            ms(r.full),
            ms(r.check)
        );
    }
    let mut slowest: Vec<&Row> = rows.iter().collect();
    slowest.sort_by_key(|r| std::cmp::Reverse(r.full));
    let slowest: Vec<String> = slowest
        .iter()
        .take(6)
        .map(|r| format!("{} {:.2} ms", r.file, ms(r.full)))
        .collect();
    println!("slowest: {}", slowest.join(", "));
    println!(
        "TOTAL {} files: parse+check {:.1} ms, check only {:.1} ms; etcd (102): {:.1} ms; kv (6): {:.1} ms   [Porcupine: 577 / 469 / 355 / 122 ms]",
        rows.len(),
        ms(sum(&|r| Some(r.full))),
        ms(sum(&|r| Some(r.check))),
        ms(sum(&|r| (r.model == Model::CasRegister).then_some(r.check))),
        ms(sum(&|r| (r.model == Model::Kv).then_some(r.check))),
    );

    // Whole passes over the corpus (read files, parse, check), wall and CPU.
    let texts: Vec<(Model, String)> = rows
        .iter()
        .map(|r| (r.model, std::fs::read_to_string(dir.join(&r.file)).unwrap()))
        .collect();
    let mut walls = Vec::new();
    let cpu_before = cpu_seconds();
    for _ in 0..reps {
        let t = Instant::now();
        for (model, text) in &texts {
            std::hint::black_box(check(&parse(*model, text), *model, &bounds));
        }
        walls.push(t.elapsed());
    }
    let cpu = (cpu_seconds() - cpu_before) / reps as f64;
    println!(
        "WHOLE CORPUS in one pass (parse + check, 108 files): median wall {:.1} ms, mean CPU {:.1} ms",
        ms(median(walls)),
        cpu * 1e3
    );
}
