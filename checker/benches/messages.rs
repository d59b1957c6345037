//! Benchmark: parse a large valid message log and run every Paxos invariant.
//!
//! ```text
//! cargo bench -p ballot-checker --bench messages            # 5,000,000 exchanges
//! cargo bench -p ballot-checker --bench messages -- 200000  # another size
//! cargo bench -p ballot-checker --bench messages -- 200000 --keep  # keep the folder
//! ```
//!
//! It generates a run folder (3 nodes, many keys, contention, a lossy proxy,
//! restarts) in a temporary directory, then re-runs itself as child
//! processes that only check it, so each child's peak memory (`VmHWM`) is
//! the checker's alone: the first times parsing and the Paxos invariants
//! stage by stage; the second times `check_run` on the whole folder
//! (linearizability included). Both assert the run is valid (a false alarm
//! on a correct run fails the bench).

#[path = "messages/synth.rs"]
mod synth;

mod common;
use common::{cpu_seconds, vm_hwm};

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ballot_checker::invariants::{check_learners, check_paxos, Evidence};
use ballot_checker::messages::MessageLog;
use ballot_core::records::{Snapshot, HISTORY_FILE, MESSAGES_FILE, SNAPSHOTS_FILE};
use ballot_core::verdict::Validity;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(pos) = args.iter().position(|a| a == "--check-dir") {
        check(Path::new(&args[pos + 1]));
        return;
    }
    if let Some(pos) = args.iter().position(|a| a == "--check-run-dir") {
        check_whole_run(Path::new(&args[pos + 1]));
        return;
    }
    let exchanges = args
        .iter()
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(5_000_000);
    let dir = std::env::temp_dir().join(format!("ballot-bench-messages-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the bench folder");
    let cfg = synth::Config {
        exchanges,
        clients: 16,
        window: 8,
        ops_per_key: 5,
        restart_every: exchanges / 4,
        ..synth::Config::default()
    };
    let start = Instant::now();
    let summary = synth::write_run(&dir, &cfg).expect("generate the run");
    let bytes = std::fs::metadata(dir.join(MESSAGES_FILE)).map_or(0, |m| m.len());
    println!(
        "generated {} exchanges ({:.0} MiB), {} history events, {} keys, {} restarts in {:.1} s",
        summary.exchanges,
        bytes as f64 / (1 << 20) as f64,
        summary.events,
        summary.keys,
        summary.restarts,
        start.elapsed().as_secs_f64()
    );
    let mut ok = true;
    for mode in ["--check-dir", "--check-run-dir"] {
        let status = Command::new(std::env::current_exe().expect("own path"))
            .arg(mode)
            .arg(&dir)
            .status()
            .expect("run the checking child");
        ok &= status.success();
    }
    if args.iter().any(|a| a == "--keep") {
        println!("kept the run folder {}", dir.display());
    } else {
        std::fs::remove_dir_all(&dir).expect("remove the bench folder");
    }
    assert!(ok, "a check failed");
}

/// The measured part: parse everything, index, run every invariant.
fn check(dir: &Path) {
    let total = Instant::now();
    let t = Instant::now();
    let file = File::open(dir.join(MESSAGES_FILE)).expect("messages.jsonl");
    let log = MessageLog::read(BufReader::with_capacity(1 << 20, file)).expect("parse messages");
    let parse_messages = t.elapsed();
    let after_messages = vm_hwm();

    let t = Instant::now();
    let file = File::open(dir.join(HISTORY_FILE)).expect("history.jsonl");
    let history = ballot_checker::history::read_history(file).expect("parse history");
    let text = std::fs::read_to_string(dir.join(SNAPSHOTS_FILE)).expect("snapshots.jsonl");
    let snapshots: Vec<Snapshot> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("snapshot line"))
        .collect();
    let parse_rest = t.elapsed();

    let t = Instant::now();
    let ev = Evidence::new(&log, &snapshots, &history, 3);
    let index = t.elapsed();
    let t = Instant::now();
    let paxos = check_paxos(&ev);
    let learners = check_learners(&ev);
    let invariants = t.elapsed();
    let total = total.elapsed();

    println!(
        "checked {} exchanges, {} keys, {} history events, {} snapshots",
        log.len(),
        log.key_count(),
        history.len(),
        snapshots.len()
    );
    println!(
        "parse messages {:.2} s, parse history+snapshots {:.2} s, chosen index {:.2} s, \
         invariants {:.2} s; total {:.2} s",
        parse_messages.as_secs_f64(),
        parse_rest.as_secs_f64(),
        index.as_secs_f64(),
        invariants.as_secs_f64(),
        total.as_secs_f64()
    );
    println!(
        "peak memory (VmHWM): {} after parsing messages, {} at the end; cpu time {:.2} s",
        after_messages,
        vm_hwm(),
        cpu_seconds()
    );
    for result in [&paxos, &learners] {
        if result.valid != Validity::Valid {
            println!(
                "{}",
                serde_json::to_string_pretty(result).expect("serialise")
            );
        }
        assert_eq!(
            result.valid,
            Validity::Valid,
            "a false alarm on a valid run"
        );
    }
}

/// `check_run` on the whole folder, as `ballot check` runs it.
fn check_whole_run(dir: &Path) {
    let t = Instant::now();
    let results = ballot_checker::run::check_run(dir, &Default::default()).expect("check_run");
    let took = t.elapsed();
    let verdicts: Vec<String> = results
        .checkers
        .iter()
        .map(|c| format!("{} {:?}", c.name, c.valid))
        .collect();
    println!(
        "check_run (all checkers): {:.2} s, cpu time {:.2} s, peak memory (VmHWM) {}; {}",
        took.as_secs_f64(),
        cpu_seconds(),
        vm_hwm(),
        verdicts.join(", ")
    );
    assert_eq!(
        results.valid,
        Validity::Valid,
        "a false alarm on a valid run"
    );
}
