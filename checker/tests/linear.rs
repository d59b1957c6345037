//! Linearizability checker tests:
//!
//! - hand-written histories for each model, valid and invalid, with the
//!   exact verdict, property and evidence;
//! - properties on random histories (seeded ChaCha8): histories produced by
//!   simulated linearizable write-once and cas registers always pass, a
//!   single corrupted output always fails, and the write-once fast path
//!   agrees with the general search.

use ballot_checker::linear::{check, check_by_search, Bounds, NAME};
use ballot_checker::models::Model;
use ballot_core::records::{Event, EventType, Process};
use ballot_core::verdict::{CheckerResult, Validity};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde_json::{json, Value};

/// One history line: (process, type, f, value); key "x", time = line number.
type Line = (u64, &'static str, &'static str, Value);

fn history(lines: &[Line]) -> Vec<Event> {
    lines
        .iter()
        .enumerate()
        .map(|(i, (p, t, f, v))| Event {
            index: i as u64,
            time: i as u64 + 1,
            process: Process::Client(*p),
            kind: serde_json::from_value(json!(t)).unwrap(),
            f: f.to_string(),
            key: Some("x".into()),
            value: v.clone(),
            error: None,
        })
        .collect()
}

fn bounds() -> Bounds {
    Bounds::default()
}

/// The verdict, and the property of the first violation (if any).
fn verdict(r: &CheckerResult) -> (Validity, Option<&str>) {
    (r.valid, r.violations.first().map(|v| v.property.as_str()))
}

/// (name, model, history, validity, property of the violation)
type Case = (
    &'static str,
    Model,
    Vec<Line>,
    Validity,
    Option<&'static str>,
);

fn n() -> Value {
    Value::Null
}

#[test]
fn hand_written_histories() {
    use Model::*;
    use Validity::*;
    let cases: Vec<Case> = vec![
        // write-once
        (
            "propose alone",
            WriteOnce,
            vec![
                (1, "invoke", "propose", json!("a")),
                (1, "ok", "propose", json!("a")),
            ],
            Valid,
            None,
        ),
        (
            "two concurrent proposes agree on one",
            WriteOnce,
            vec![
                (1, "invoke", "propose", json!("a")),
                (2, "invoke", "propose", json!("b")),
                (2, "ok", "propose", json!("a")),
                (1, "ok", "propose", json!("a")),
            ],
            Valid,
            None,
        ),
        (
            "read of nothing concurrent with the choice",
            WriteOnce,
            vec![
                (1, "invoke", "propose", json!("a")),
                (2, "invoke", "read", n()),
                (1, "ok", "propose", json!("a")),
                (2, "ok", "read", n()),
            ],
            Valid,
            None,
        ),
        (
            "an indeterminate propose took effect later",
            WriteOnce,
            vec![
                (1, "invoke", "propose", json!("a")),
                (1, "info", "propose", n()),
                (2, "invoke", "read", n()),
                (2, "ok", "read", n()),
                (3, "invoke", "read", n()),
                (3, "ok", "read", json!("a")),
            ],
            Valid,
            None,
        ),
        (
            "an indeterminate propose never took effect",
            WriteOnce,
            vec![
                (1, "invoke", "propose", json!("a")),
                (1, "info", "propose", n()),
                (2, "invoke", "propose", json!("b")),
                (2, "ok", "propose", json!("b")),
            ],
            Valid,
            None,
        ),
        (
            "two values",
            WriteOnce,
            vec![
                (1, "invoke", "propose", json!("a")),
                (1, "ok", "propose", json!("a")),
                (2, "invoke", "propose", json!("b")),
                (2, "ok", "propose", json!("b")),
            ],
            Invalid,
            Some("single-value"),
        ),
        (
            "a value nobody proposed",
            WriteOnce,
            vec![(2, "invoke", "read", n()), (2, "ok", "read", json!("z"))],
            Invalid,
            Some("value-was-proposed"),
        ),
        (
            "a value only a failed propose proposed",
            WriteOnce,
            vec![
                (1, "invoke", "propose", json!("a")),
                (1, "fail", "propose", n()),
                (2, "invoke", "read", n()),
                (2, "ok", "read", json!("a")),
            ],
            Invalid,
            Some("value-was-proposed"),
        ),
        (
            "a read of nothing after a value was returned",
            WriteOnce,
            vec![
                (1, "invoke", "propose", json!("a")),
                (1, "ok", "propose", json!("a")),
                (2, "invoke", "read", n()),
                (2, "ok", "read", n()),
            ],
            Invalid,
            Some("real-time-order"),
        ),
        (
            "a value returned before it was proposed",
            WriteOnce,
            vec![
                (2, "invoke", "read", n()),
                (2, "ok", "read", json!("a")),
                (1, "invoke", "propose", json!("a")),
                (1, "ok", "propose", json!("a")),
            ],
            Invalid,
            Some("real-time-order"),
        ),
        (
            "a propose that returned nothing",
            WriteOnce,
            vec![
                (1, "invoke", "propose", json!("a")),
                (1, "ok", "propose", n()),
            ],
            Invalid,
            Some("propose-returns-value"),
        ),
        (
            "an op the model does not know",
            WriteOnce,
            vec![
                (1, "invoke", "cas", json!(["a", "b"])),
                (1, "ok", "cas", json!(["a", "b"])),
            ],
            Unknown,
            None,
        ),
        // register
        (
            "write then read",
            Register,
            vec![
                (1, "invoke", "write", json!(1)),
                (1, "ok", "write", json!(1)),
                (2, "invoke", "read", n()),
                (2, "ok", "read", json!(1)),
            ],
            Valid,
            None,
        ),
        (
            "stale read",
            Register,
            vec![
                (1, "invoke", "write", json!(1)),
                (1, "ok", "write", json!(1)),
                (1, "invoke", "write", json!(2)),
                (1, "ok", "write", json!(2)),
                (2, "invoke", "read", n()),
                (2, "ok", "read", json!(1)),
            ],
            Invalid,
            Some("linearizable"),
        ),
        (
            "an indeterminate write took effect late",
            Register,
            vec![
                (1, "invoke", "write", json!(1)),
                (1, "ok", "write", json!(1)),
                (3, "invoke", "write", json!(2)),
                (3, "info", "write", n()),
                (2, "invoke", "read", n()),
                (2, "ok", "read", json!(1)),
                (2, "invoke", "read", n()),
                (2, "ok", "read", json!(2)),
            ],
            Valid,
            None,
        ),
        (
            "an indeterminate write cannot be undone",
            Register,
            vec![
                (1, "invoke", "write", json!(1)),
                (1, "ok", "write", json!(1)),
                (3, "invoke", "write", json!(2)),
                (3, "info", "write", n()),
                (2, "invoke", "read", n()),
                (2, "ok", "read", json!(2)),
                (2, "invoke", "read", n()),
                (2, "ok", "read", json!(1)),
            ],
            Invalid,
            Some("linearizable"),
        ),
        (
            "a failed write had no effect",
            Register,
            vec![
                (1, "invoke", "write", json!(1)),
                (1, "fail", "write", json!(1)),
                (2, "invoke", "read", n()),
                (2, "ok", "read", json!(1)),
            ],
            Invalid,
            Some("linearizable"),
        ),
        // cas-register
        (
            "failed cas is the observation register != A (compare could not fail)",
            CasRegister,
            vec![
                (1, "invoke", "write", json!(1)),
                (1, "ok", "write", json!(1)),
                (2, "invoke", "cas", json!([1, 2])),
                (2, "fail", "cas", json!([1, 2])),
            ],
            Invalid,
            Some("linearizable"),
        ),
        (
            "failed cas when register != A",
            CasRegister,
            vec![
                (1, "invoke", "write", json!(1)),
                (1, "ok", "write", json!(1)),
                (2, "invoke", "cas", json!([3, 2])),
                (2, "fail", "cas", json!([3, 2])),
                (2, "invoke", "read", n()),
                (2, "ok", "read", json!(1)),
            ],
            Valid,
            None,
        ),
        (
            "timed-out cas with register != A is a no-op",
            CasRegister,
            vec![
                (1, "invoke", "write", json!(1)),
                (1, "ok", "write", json!(1)),
                (2, "invoke", "cas", json!([3, 2])),
                (2, "info", "cas", n()),
                (3, "invoke", "read", n()),
                (3, "ok", "read", json!(1)),
            ],
            Valid,
            None,
        ),
        (
            "timed-out cas with register == A may take effect",
            CasRegister,
            vec![
                (1, "invoke", "write", json!(1)),
                (1, "ok", "write", json!(1)),
                (2, "invoke", "cas", json!([1, 2])),
                (2, "info", "cas", n()),
                (3, "invoke", "read", n()),
                (3, "ok", "read", json!(2)),
            ],
            Valid,
            None,
        ),
        (
            "timed-out cas with register != A cannot set B",
            CasRegister,
            vec![
                (1, "invoke", "write", json!(1)),
                (1, "ok", "write", json!(1)),
                (2, "invoke", "cas", json!([3, 2])),
                (2, "info", "cas", n()),
                (3, "invoke", "read", n()),
                (3, "ok", "read", json!(2)),
            ],
            Invalid,
            Some("linearizable"),
        ),
        (
            "ok cas on the wrong value",
            CasRegister,
            vec![
                (1, "invoke", "cas", json!([1, 2])),
                (1, "ok", "cas", json!([1, 2])),
            ],
            Invalid,
            Some("linearizable"),
        ),
        (
            "a failed (timed-out) read has no effect",
            CasRegister,
            vec![
                (1, "invoke", "write", json!(1)),
                (1, "ok", "write", json!(1)),
                (2, "invoke", "read", n()),
                (2, "fail", "read", n()),
                (2, "invoke", "read", n()),
                (2, "ok", "read", json!(1)),
            ],
            Valid,
            None,
        ),
        // kv
        (
            "appends concatenate",
            Kv,
            vec![
                (1, "invoke", "append", json!("a")),
                (2, "invoke", "append", json!("b")),
                (1, "ok", "append", json!("a")),
                (2, "ok", "append", json!("b")),
                (3, "invoke", "get", n()),
                (3, "ok", "get", json!("ba")),
            ],
            Valid,
            None,
        ),
        (
            "a get that skipped an acknowledged append",
            Kv,
            vec![
                (1, "invoke", "append", json!("a")),
                (1, "ok", "append", json!("a")),
                (2, "invoke", "append", json!("b")),
                (2, "ok", "append", json!("b")),
                (3, "invoke", "get", n()),
                (3, "ok", "get", json!("b")),
            ],
            Invalid,
            Some("linearizable"),
        ),
        (
            "put replaces",
            Kv,
            vec![
                (1, "invoke", "append", json!("a")),
                (1, "ok", "append", json!("a")),
                (2, "invoke", "put", json!("z")),
                (2, "ok", "put", json!("z")),
                (3, "invoke", "get", n()),
                (3, "ok", "get", json!("z")),
                (3, "invoke", "get", n()),
                (3, "ok", "get", json!("z")),
            ],
            Valid,
            None,
        ),
        (
            "get of the empty string before any write",
            Kv,
            vec![(3, "invoke", "get", n()), (3, "ok", "get", json!(""))],
            Valid,
            None,
        ),
    ];
    for (name, model, lines, want, property) in cases {
        let events = history(&lines);
        for (how, r) in [
            ("check", check(&events, model, &bounds())),
            ("search", check_by_search(&events, model, &bounds())),
        ] {
            assert_eq!(r.name, NAME);
            let got = verdict(&r);
            // The search reports every write-once violation as "linearizable".
            let want_property = match (how, model) {
                ("search", Model::WriteOnce) if property.is_some() => Some("linearizable"),
                _ => property,
            };
            assert_eq!(got, (want, want_property), "{name} ({how}): {r:#?}");
            if want == Validity::Invalid {
                let v = &r.violations[0];
                assert_eq!(v.key.as_deref(), Some("x"), "{name}");
                assert!(!v.ops.is_empty() && v.ops.len() <= 20, "{name}");
                assert!(!v.explanation.is_empty(), "{name}");
            }
            if want == Validity::Unknown {
                assert!(r.reason.is_some(), "{name}");
            }
        }
    }
}

#[test]
fn explanations_are_pinned() {
    let events = history(&[
        (1, "invoke", "propose", json!("a")),
        (1, "ok", "propose", json!("a")),
        (2, "invoke", "read", Value::Null),
        (2, "ok", "read", Value::Null),
    ]);
    let r = check(&events, Model::WriteOnce, &bounds());
    let v = &r.violations[0];
    assert_eq!(
        v.explanation,
        "process 2's read (lines 3-4) returned no value, but it began after process 1's propose of \"a\" (lines 1-2) had returned \"a\". Once an operation has returned the chosen value, every later read must return it too."
    );
    assert_eq!(
        v.ops.iter().map(|e| e.index).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );

    let events = history(&[
        (1, "invoke", "write", json!(1)),
        (1, "ok", "write", json!(1)),
        (1, "invoke", "write", json!(2)),
        (1, "ok", "write", json!(2)),
        (2, "invoke", "read", Value::Null),
        (2, "ok", "read", json!(1)),
    ]);
    let r = check(&events, Model::Register, &bounds());
    let v = &r.violations[0];
    assert_eq!(
        v.explanation,
        "No order of the 3 operations on key \"x\" is consistent with the register model and with real time. The longest consistent order found places 2 operations (shown in that order), after which the register held 2. Next, process 2's read (lines 5-6) must take effect (it completed before any other remaining operation could be placed), but it returned 1 while the register held 2."
    );
    assert_eq!(v.ops.len(), 6);

    let cases: Vec<(Model, Vec<Line>, &str)> = vec![
        (
            Model::WriteOnce,
            vec![
                (1, "invoke", "propose", json!("a")),
                (2, "invoke", "propose", json!("b")),
                (1, "ok", "propose", json!("a")),
                (2, "ok", "propose", json!("b")),
            ],
            "process 1's propose of \"a\" (lines 1-3) returned \"a\" but process 2's propose of \"b\" (lines 2-4) returned \"b\". A write-once register holds one value forever, so every operation that returns a value must return the same one.",
        ),
        (
            Model::WriteOnce,
            vec![
                (1, "invoke", "propose", json!("a")),
                (1, "fail", "propose", Value::Null),
                (2, "invoke", "read", Value::Null),
                (2, "ok", "read", json!("a")),
            ],
            "process 2's read (lines 3-4) returned \"a\", but the only propose of it, process 1's propose of \"a\" (lines 1-2, failed), failed, so it had no effect. A chosen value must come from a propose that took effect (ok or indeterminate).",
        ),
        (
            Model::CasRegister,
            vec![
                (1, "invoke", "write", json!(1)),
                (1, "ok", "write", json!(1)),
                (2, "invoke", "cas", json!([1, 2])),
                (2, "fail", "cas", json!([1, 2])),
            ],
            "No order of the 2 operations on key \"x\" is consistent with the cas-register model and with real time. The longest consistent order found places 1 operation (shown in that order), after which the register held 1. Next, process 2's cas of [1,2] (lines 3-4, failed) must take effect (it completed before any other remaining operation could be placed), but it reported \"compare failed\" while the register held 1, the value it expected.",
        ),
        (
            Model::Kv,
            vec![
                (1, "invoke", "append", json!("a")),
                (1, "ok", "append", json!("a")),
                (2, "invoke", "get", Value::Null),
                (2, "ok", "get", json!("b")),
            ],
            "No order of the 2 operations on key \"x\" is consistent with the kv model and with real time. The longest consistent order found places 1 operation (shown in that order), after which the key held \"a\". Next, process 2's get (lines 3-4) must take effect (it completed before any other remaining operation could be placed), but it returned \"b\" while the key held \"a\".",
        ),
    ];
    for (model, lines, want) in cases {
        let r = check(&history(&lines), model, &bounds());
        assert_eq!(r.violations[0].explanation, want);
    }
}

#[test]
fn malformed_histories_are_unknown_with_the_line() {
    let events = history(&[(1, "ok", "read", Value::Null)]);
    let r = check(&events, Model::WriteOnce, &bounds());
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(
        r.reason.as_deref(),
        Some("malformed history: line 1: process 1 completes an operation it never invoked")
    );
}

#[test]
fn keys_are_checked_independently() {
    // Key "x" is fine, key "y" has two values: exactly one violation, on "y".
    let mut events = history(&[
        (1, "invoke", "propose", json!("a")),
        (1, "ok", "propose", json!("a")),
        (2, "invoke", "propose", json!("b")),
        (2, "ok", "propose", json!("b")),
        (3, "invoke", "propose", json!("c")),
        (3, "ok", "propose", json!("b")),
    ]);
    for e in &mut events[2..] {
        e.key = Some("y".into());
    }
    events.push(Event {
        index: 6,
        time: 7,
        process: Process::nemesis(),
        kind: EventType::Info,
        f: "start-partition".into(),
        key: None,
        value: json!({"halves": true}),
        error: None,
    });
    for r in [
        check(&events, Model::WriteOnce, &bounds()),
        check_by_search(&events, Model::WriteOnce, &bounds()),
    ] {
        assert_eq!(r.valid, Validity::Valid, "{r:#?}");
    }
    events[5].value = json!("c");
    let r = check(&events, Model::WriteOnce, &bounds());
    assert_eq!(verdict(&r), (Validity::Invalid, Some("single-value")));
    assert_eq!(r.violations.len(), 1);
    assert_eq!(r.violations[0].key.as_deref(), Some("y"));
    assert_eq!(r.stats["keys"], json!(2));
}

// ---------------------------------------------------------------------------
// Random histories from simulated linearizable registers.

#[derive(Clone, Copy, PartialEq)]
enum Sim {
    WriteOnce,
    Cas,
}

/// An op in flight in the simulation.
struct Pending {
    process: u64,
    key: String,
    f: &'static str,
    input: Value,
    /// Output once linearized; `None` before (or if it never takes effect).
    output: Option<Value>,
    /// It had no effect and will be reported `fail` (write-once) or it is a
    /// cas whose compare failed.
    failed: bool,
}

/// A random history of `ops` operations by `clients` concurrent clients on
/// `keys` keys, produced by a linearizable register: every op takes effect
/// atomically between its invocation and its completion (or, for an
/// indeterminate op, at any time or never).
fn simulate(sim: Sim, seed: u64, clients: u64, keys: usize, ops: usize) -> Vec<Event> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut state: Vec<Value> = vec![Value::Null; keys];
    let mut events: Vec<Event> = Vec::new();
    let mut pending: Vec<Option<Pending>> = (0..clients).map(|_| None).collect();
    let mut process: Vec<u64> = (0..clients).collect();
    let mut next_process = clients;
    let mut invoked = 0;
    let mut time = 0;
    let emit = |events: &mut Vec<Event>,
                time: u64,
                p: u64,
                kind: &str,
                f: &str,
                key: &str,
                value: Value| {
        events.push(Event {
            index: events.len() as u64,
            time,
            process: Process::Client(p),
            kind: serde_json::from_value(json!(kind)).unwrap(),
            f: f.to_string(),
            key: Some(key.to_string()),
            value,
            error: None,
        });
    };
    while invoked < ops || pending.iter().any(Option::is_some) {
        time += 1;
        let c = rng.random_range(0..clients as usize);
        match &mut pending[c] {
            None if invoked < ops => {
                invoked += 1;
                let k = rng.random_range(0..keys);
                let key = format!("k{k}");
                let (f, input) = match sim {
                    Sim::WriteOnce if rng.random_bool(0.6) => {
                        ("propose", json!(format!("{}-{invoked}", process[c])))
                    }
                    Sim::WriteOnce => ("read", Value::Null),
                    Sim::Cas => match rng.random_range(0..3) {
                        0 => ("read", Value::Null),
                        1 => ("write", json!(rng.random_range(0..3))),
                        _ => (
                            "cas",
                            json!([rng.random_range(0..3), rng.random_range(0..3)]),
                        ),
                    },
                };
                emit(
                    &mut events,
                    time,
                    process[c],
                    "invoke",
                    f,
                    &key,
                    input.clone(),
                );
                pending[c] = Some(Pending {
                    process: process[c],
                    key,
                    f,
                    input,
                    output: None,
                    failed: false,
                });
            }
            None => {}
            Some(op) if op.output.is_none() && !op.failed => {
                // Take effect now, or (write-once propose, 10%) fail without effect.
                let k: usize = op.key[1..].parse().unwrap();
                let s = &mut state[k];
                match (sim, op.f) {
                    (Sim::WriteOnce, "propose") if rng.random_bool(0.1) => op.failed = true,
                    (Sim::WriteOnce, "propose") => {
                        if s.is_null() {
                            *s = op.input.clone();
                        }
                        op.output = Some(s.clone());
                    }
                    (_, "read") => op.output = Some(s.clone()),
                    (_, "write") => {
                        *s = op.input.clone();
                        op.output = Some(op.input.clone());
                    }
                    (_, "cas") => {
                        if *s == op.input[0] {
                            *s = op.input[1].clone();
                            op.output = Some(op.input.clone());
                        } else {
                            op.failed = true;
                        }
                    }
                    _ => unreachable!(),
                }
            }
            Some(_) => {
                let op = pending[c].take().unwrap();
                let indeterminate = rng.random_bool(0.2);
                if indeterminate && rng.random_bool(0.2) {
                    // The harness died: no completion at all (only at the end).
                    if invoked >= ops {
                        process[c] = next_process;
                        next_process += 1;
                        continue;
                    }
                }
                if indeterminate {
                    emit(
                        &mut events,
                        time,
                        op.process,
                        "info",
                        op.f,
                        &op.key,
                        Value::Null,
                    );
                    process[c] = next_process;
                    next_process += 1;
                } else if op.failed {
                    emit(
                        &mut events,
                        time,
                        op.process,
                        "fail",
                        op.f,
                        &op.key,
                        op.input,
                    );
                } else {
                    emit(
                        &mut events,
                        time,
                        op.process,
                        "ok",
                        op.f,
                        &op.key,
                        op.output.unwrap(),
                    );
                }
            }
        }
        // Indeterminate ops may also never take effect: the simulation
        // only completes an op after deciding, so an `info` op above may
        // have taken effect or (if it failed) not.
    }
    events
}

/// Replaces the output of one random ok read (or propose) with a value no
/// one ever wrote; `None` if there is no such op.
fn corrupt(events: &mut [Event], seed: u64, fresh: Value) -> Option<usize> {
    let candidates: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == EventType::Ok && (e.f == "read" || e.f == "propose"))
        .map(|(i, _)| i)
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xC0FFEE);
    let i = candidates[rng.random_range(0..candidates.len())];
    events[i].value = fresh;
    Some(i)
}

#[test]
fn simulated_write_once_histories_pass_and_corruptions_fail() {
    let mut invalid = 0;
    for seed in 0..300 {
        let mut events = simulate(Sim::WriteOnce, seed, 5, 3, 40);
        let r = check(&events, Model::WriteOnce, &bounds());
        assert_eq!(r.valid, Validity::Valid, "seed {seed}: {r:#?}");
        let s = check_by_search(&events, Model::WriteOnce, &bounds());
        assert_eq!(s.valid, Validity::Valid, "seed {seed} (search): {s:#?}");
        if corrupt(&mut events, seed, json!("never-proposed")).is_some() {
            let r = check(&events, Model::WriteOnce, &bounds());
            assert_eq!(r.valid, Validity::Invalid, "seed {seed} corrupted");
            let s = check_by_search(&events, Model::WriteOnce, &bounds());
            assert_eq!(s.valid, Validity::Invalid, "seed {seed} corrupted (search)");
            invalid += 1;
        }
    }
    assert!(invalid > 250, "only {invalid} corruptions tried");
}

#[test]
fn simulated_cas_register_histories_pass_and_corruptions_fail() {
    let mut invalid = 0;
    for seed in 0..200 {
        let mut events = simulate(Sim::Cas, seed, 4, 2, 40);
        let r = check(&events, Model::CasRegister, &bounds());
        assert_eq!(r.valid, Validity::Valid, "seed {seed}: {r:#?}");
        if corrupt(&mut events, seed, json!(99)).is_some() {
            let r = check(&events, Model::CasRegister, &bounds());
            assert_eq!(r.valid, Validity::Invalid, "seed {seed} corrupted");
            invalid += 1;
        }
    }
    assert!(invalid > 150, "only {invalid} corruptions tried");
}

/// Small random write-once histories with arbitrary outputs (many invalid):
/// the fast path and the search must agree on every one.
#[test]
fn fast_path_agrees_with_the_search() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut seen = [0usize; 2];
    for round in 0..3000 {
        let ops = rng.random_range(1..8);
        let mut lines: Vec<(u64, EventType, &str, Value, u64)> = Vec::new();
        let mut open: Vec<(u64, &str, usize)> = Vec::new();
        let mut t = 0;
        // Values v1..v3, biased towards v1 so that about half the
        // histories are linearizable.
        let value = |rng: &mut ChaCha8Rng| match rng.random_range(0..8) {
            0 => json!("v2"),
            1 => json!("v3"),
            _ => json!("v1"),
        };
        let output = |rng: &mut ChaCha8Rng| match rng.random_range(0..2) {
            0 => Value::Null,
            _ => value(rng),
        };
        let mut process = 0;
        let mut started = 0;
        while started < ops || !open.is_empty() {
            // Equal times happen: the tie rule must agree too.
            if rng.random_bool(0.7) {
                t += 1;
            }
            if started < ops && (open.is_empty() || rng.random_bool(0.5)) {
                started += 1;
                process += 1;
                let (f, v) = if rng.random_bool(0.6) {
                    ("propose", json!(format!("v{}", rng.random_range(1..4))))
                } else {
                    ("read", Value::Null)
                };
                open.push((process, f, lines.len()));
                lines.push((process, EventType::Invoke, f, v, t));
            } else {
                let (p, f, _) = open.remove(rng.random_range(0..open.len()));
                let (kind, v) = match rng.random_range(0..10) {
                    0 => (EventType::Info, Value::Null),
                    1 => (EventType::Fail, Value::Null),
                    _ if f == "propose" => (EventType::Ok, value(&mut rng)),
                    _ => (EventType::Ok, output(&mut rng)),
                };
                lines.push((p, kind, f, v, t));
            }
        }
        let events: Vec<Event> = lines
            .into_iter()
            .enumerate()
            .map(|(i, (p, kind, f, value, time))| Event {
                index: i as u64,
                time,
                process: Process::Client(p),
                kind,
                f: f.to_string(),
                key: Some("x".into()),
                value,
                error: None,
            })
            .collect();
        let fast = check(&events, Model::WriteOnce, &bounds()).valid;
        let slow = check_by_search(&events, Model::WriteOnce, &bounds()).valid;
        assert_eq!(fast, slow, "round {round}: {events:#?}");
        seen[usize::from(fast == Validity::Valid)] += 1;
    }
    assert!(seen[0] > 500 && seen[1] > 500, "mix of verdicts: {seen:?}");
}

/// 30 concurrent writes and a concurrent read of a value nobody wrote: the
/// search must try every order of the writes, so the bounds decide.
fn hard_history() -> Vec<Event> {
    let mut lines: Vec<Line> = Vec::new();
    for p in 0..30 {
        lines.push((p, "invoke", "write", json!(p)));
    }
    lines.push((99, "invoke", "read", Value::Null));
    lines.push((99, "ok", "read", json!("never")));
    for p in 0..30 {
        lines.push((p, "ok", "write", json!(p)));
    }
    history(&lines)
}

#[test]
fn bounds_turn_into_unknown_with_the_reason() {
    let events = hard_history();
    let r = check(
        &events,
        Model::Register,
        &Bounds {
            time: std::time::Duration::from_secs(60),
            max_cache_entries: 10_000,
        },
    );
    assert_eq!(r.valid, Validity::Unknown);
    let reason = r.reason.unwrap();
    assert!(
        reason.starts_with(
            "1 of 1 keys undecided: key \"x\": the cache bound of 10000 entries was reached after "
        ),
        "{reason}"
    );
    let r = check(
        &events,
        Model::Register,
        &Bounds {
            time: std::time::Duration::from_millis(50),
            max_cache_entries: usize::MAX / 2,
        },
    );
    assert_eq!(r.valid, Validity::Unknown);
    let reason = r.reason.unwrap();
    assert!(
        reason.starts_with(
            "1 of 1 keys undecided: key \"x\": the time bound of 50ms was reached after "
        ),
        "{reason}"
    );
}
