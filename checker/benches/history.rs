//! A large write-once history: 1,000,000 operations on 10,000 keys with 30%
//! indeterminate, in our `history.jsonl` format; times parse + check and
//! measures peak memory (targets: under 5 s and 2 GiB).
//!
//! Run: `cargo bench -p ballot-checker --bench history [-- OPS KEYS]`;
//! `-- --write FILE [OPS KEYS]` only writes the history to FILE (to check
//! it with `ballot check` or to profile).
//! The bench writes the history to a temporary file, then re-runs itself
//! with `--measure FILE` so the peak memory (VmHWM) is that of reading and
//! checking alone, not of generating.

mod common;
use common::{cpu_seconds, vm_hwm};

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use ballot_checker::history::read_history;
use ballot_checker::linear::{check, Bounds};
use ballot_checker::models::Model;
use ballot_core::records::{Event, EventType, Process};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde_json::{json, Value};

/// Concurrent clients of the generated history.
const CLIENTS: u64 = 100;
/// Nanoseconds between consecutive linearization points.
const SPACING: u64 = 100;

/// Writes a linearizable write-once history of `ops` operations on `keys`
/// keys (70% proposes, 30% reads; 30% of ops indeterminate, half of which
/// took effect; 3% of proposes fail) by `CLIENTS` concurrent clients.
///
/// Op `i` takes effect at `i * SPACING` and is run by worker `i % CLIENTS`,
/// whose invocation and completion lie less than half a round
/// (`CLIENTS * SPACING / 2`) either side, so a worker's ops never overlap
/// while about `CLIENTS` ops are in flight at any time.
fn generate(path: &Path, ops: u64, keys: u64, seed: u64) -> std::io::Result<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let half = CLIENTS * SPACING / 2;
    let mut chosen: Vec<Option<String>> = vec![None; keys as usize];
    let mut process: Vec<u64> = (0..CLIENTS).collect();
    let mut retired = vec![0u64; CLIENTS as usize];
    // (time, order, event)
    let mut events: Vec<(u64, u64, Event)> = Vec::with_capacity(2 * ops as usize);
    let event = |time, p, kind, f: &str, key: &str, value, error: Option<&str>| Event {
        index: 0,
        time,
        process: Process::Client(p),
        kind,
        f: f.to_string(),
        key: Some(key.to_string()),
        value,
        error: error.map(str::to_string),
    };
    for i in 0..ops {
        let w = (i % CLIENTS) as usize;
        let p = process[w];
        let point = half + i * SPACING;
        let invoke = point - rng.random_range(0..half);
        let complete = point + rng.random_range(1..half);
        let k = rng.random_range(0..keys) as usize;
        let key = format!("k{k}");
        let propose = rng.random_bool(0.7);
        let value = format!("{p}-{i}");
        let (f, input) = if propose {
            ("propose", json!(value))
        } else {
            ("read", Value::Null)
        };
        events.push((
            invoke,
            2 * i,
            event(invoke, p, EventType::Invoke, f, &key, input, None),
        ));
        let indeterminate = rng.random_bool(0.3);
        let fails = propose && !indeterminate && rng.random_bool(0.03);
        let takes_effect = !fails && (!indeterminate || rng.random_bool(0.5));
        if takes_effect && propose && chosen[k].is_none() {
            chosen[k] = Some(value.clone());
        }
        let output = chosen[k].clone().map_or(Value::Null, Value::from);
        let completion = if indeterminate {
            // A tenth of the indeterminate ops never complete at all.
            rng.random_bool(0.9).then(|| {
                event(
                    complete,
                    p,
                    EventType::Info,
                    f,
                    &key,
                    Value::Null,
                    Some("timeout"),
                )
            })
        } else if fails {
            Some(event(
                complete,
                p,
                EventType::Fail,
                f,
                &key,
                json!(value),
                Some("no-quorum"),
            ))
        } else {
            Some(event(complete, p, EventType::Ok, f, &key, output, None))
        };
        if let Some(c) = completion {
            events.push((complete, 2 * i + 1, c));
        }
        if indeterminate {
            retired[w] += 1;
            process[w] = w as u64 + CLIENTS * retired[w];
        }
    }
    events.sort_unstable_by_key(|(t, order, _)| (*t, *order));
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    for (index, (_, _, mut e)) in events.into_iter().enumerate() {
        e.index = index as u64;
        serde_json::to_writer(&mut out, &e)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Reads and checks the history at `path`, printing the figures.
fn measure(path: &Path) {
    let t = Instant::now();
    let file = std::fs::File::open(path).expect("open history");
    let events = read_history(file).expect("parse history");
    let parsed = t.elapsed();
    let c = Instant::now();
    let result = check(&events, Model::WriteOnce, &Bounds::default());
    let checked = c.elapsed();
    println!(
        "events {}  parse {:.3} s  check {:.3} s  total {:.3} s (cpu {:.2} s)  verdict {:?}  peak memory (VmHWM) {}",
        events.len(),
        parsed.as_secs_f64(),
        checked.as_secs_f64(),
        t.elapsed().as_secs_f64(),
        cpu_seconds(),
        result.valid,
        vm_hwm()
    );
    println!("stats {}", result.stats);
    assert_eq!(
        result.valid,
        ballot_core::verdict::Validity::Valid,
        "{result:#?}"
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        measure(Path::new(&args[i + 1]));
        return;
    }
    let numbers: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let ops = numbers.first().copied().unwrap_or(1_000_000);
    let keys = numbers.get(1).copied().unwrap_or(10_000);
    if let Some(i) = args.iter().position(|a| a == "--write") {
        let bytes = generate(Path::new(&args[i + 1]), ops, keys, 42).expect("write history");
        println!(
            "wrote {ops} ops on {keys} keys ({bytes} bytes) to {}",
            args[i + 1]
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.jsonl");
    let t = Instant::now();
    let bytes = generate(&path, ops, keys, 42).expect("write history");
    println!(
        "generated {ops} ops on {keys} keys ({:.0} MiB) in {:.1} s",
        bytes as f64 / (1 << 20) as f64,
        t.elapsed().as_secs_f64()
    );
    for run in 1..=3 {
        print!("run {run}: ");
        std::io::stdout().flush().ok();
        let status = std::process::Command::new(std::env::current_exe().expect("own path"))
            .arg("--measure")
            .arg(&path)
            .status()
            .expect("re-run the bench");
        assert!(status.success(), "measure run failed");
    }
}
