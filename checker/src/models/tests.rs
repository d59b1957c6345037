use super::*;
use ballot_core::records::{EventType, Process};
use serde_json::json;

#[test]
fn model_names_round_trip() {
    for m in [
        Model::WriteOnce,
        Model::Register,
        Model::CasRegister,
        Model::Kv,
    ] {
        assert_eq!(m.name().parse::<Model>(), Ok(m));
        assert_eq!(m.to_string(), m.name());
    }
    assert_eq!(Model::default(), Model::WriteOnce);
    assert_eq!(
        "cas".parse::<Model>().unwrap_err().to_string(),
        "unknown model \"cas\" (expected write-once, register, cas-register or kv)"
    );
}

/// (description, step, state before, state after or None = illegal), on
/// values 0 = initial, 1 = A, 2 = B.
#[test]
fn step_semantics() {
    use CompiledOp::*;
    let table: &[(&str, CompiledOp, u32, Option<u32>)] = &[
        ("read sees the state", Read { out: 1 }, 1, Some(1)),
        ("read of another value is illegal", Read { out: 2 }, 1, None),
        ("read of nil before any write", Read { out: 0 }, 0, Some(0)),
        ("write always legal", Write { v: 2 }, 1, Some(2)),
        (
            "ok cas needs the expected value",
            Cas { from: 1, to: 2 },
            1,
            Some(2),
        ),
        (
            "ok cas on another value is illegal",
            Cas { from: 1, to: 2 },
            2,
            None,
        ),
        (
            "failed cas = observation register != A",
            CasFailed { from: 1 },
            2,
            Some(2),
        ),
        (
            "failed cas when register == A is illegal",
            CasFailed { from: 1 },
            1,
            None,
        ),
        (
            "failed cas on nil register",
            CasFailed { from: 1 },
            0,
            Some(0),
        ),
        (
            "timed-out cas with register == A sets B",
            CasMaybe { from: 1, to: 2 },
            1,
            Some(2),
        ),
        (
            "timed-out cas with register != A is a no-op",
            CasMaybe { from: 1, to: 2 },
            0,
            Some(0),
        ),
        (
            "propose on empty chooses its value",
            Propose { v: 1, out: 1 },
            0,
            Some(1),
        ),
        (
            "propose on empty returning another value is illegal",
            Propose { v: 1, out: 2 },
            0,
            None,
        ),
        (
            "propose after a choice returns the chosen value",
            Propose { v: 1, out: 2 },
            2,
            Some(2),
        ),
        (
            "propose after a choice returning its own value is illegal",
            Propose { v: 1, out: 1 },
            2,
            None,
        ),
        (
            "info propose on empty chooses",
            ProposeMaybe { v: 1 },
            0,
            Some(1),
        ),
        (
            "info propose after a choice changes nothing",
            ProposeMaybe { v: 1 },
            2,
            Some(2),
        ),
        (
            "read of nothing once chosen is illegal",
            Read { out: 0 },
            2,
            None,
        ),
    ];
    for &(what, step, before, after) in table {
        let mut m = Machine::new(Model::CasRegister);
        m.intern(&json!("A"));
        m.intern(&json!("B"));
        assert_eq!(m.step(before, &step), after, "{what}");
    }
}

#[test]
fn kv_appends_concatenate() {
    let mut m = Machine::new(Model::Kv);
    let x = m.intern(&json!("x 1 y"));
    let s1 = m.step(0, &CompiledOp::Append { piece: x }).unwrap();
    let s2 = m.step(s1, &CompiledOp::Append { piece: x }).unwrap();
    assert_eq!(m.state_value(s2), json!("x 1 yx 1 y"));
    assert_eq!(m.step(s1, &CompiledOp::Append { piece: x }), Some(s2));
    // The same string reached by a put, or by other pieces, is the same state.
    let seen = m.kv_state(&json!("x 1 yx 1 y")).unwrap();
    assert_eq!(seen, s2);
    let xx = m.intern(&json!("x 1 yx 1 y"));
    assert_eq!(m.step(0, &CompiledOp::Append { piece: xx }), Some(s2));
    let y = m.intern(&json!(" y"));
    let x1 = m.intern(&json!("x 1"));
    let s3 = m.step(0, &CompiledOp::Append { piece: x1 }).unwrap();
    assert_eq!(m.step(s3, &CompiledOp::Append { piece: y }), Some(s1));
    assert_eq!(m.step(s2, &CompiledOp::Read { out: seen }), Some(s2));
    assert_eq!(m.step(s1, &CompiledOp::Read { out: seen }), None);
    assert_eq!(m.kv_state(&Value::Null), Ok(0));
    assert_eq!(m.state_value(0), json!(""));
    assert_eq!(m.describe(s1), "\"x 1 y\"");
    let long = m.kv_state(&json!("ab".repeat(100))).unwrap();
    assert_eq!(
        m.describe(long),
        format!(
            "\"{}...{}\" (202 characters)",
            &"ab".repeat(30)[..59],
            &"ab".repeat(30)[1..]
        )
    );
}

fn op_events(f: &str, input: Value, kind: EventType, output: Value) -> (HistoryOp, Vec<Event>) {
    let event = |index: u64, kind, value| Event {
        index,
        time: index,
        process: Process::Client(0),
        kind,
        f: f.to_string(),
        key: Some("k".into()),
        value,
        error: None,
    };
    let events = vec![event(0, EventType::Invoke, input), event(1, kind, output)];
    let ops = crate::history::pair(&events).unwrap();
    (ops[0], events)
}

/// Which outcomes compile to which steps (values: A = 1, B = 2).
#[test]
fn compile_table() {
    use CompiledOp::*;
    use EventType::*;
    type Case = (
        Model,
        &'static str,
        Value,
        EventType,
        Value,
        Option<CompiledOp>,
    );
    let cases: &[Case] = &[
        (
            Model::CasRegister,
            "cas",
            json!(["A", "B"]),
            Ok,
            json!(["A", "B"]),
            Some(Cas { from: 1, to: 2 }),
        ),
        (
            Model::CasRegister,
            "cas",
            json!(["A", "B"]),
            Fail,
            json!(["A", "B"]),
            Some(CasFailed { from: 1 }),
        ),
        (
            Model::CasRegister,
            "cas",
            json!(["A", "B"]),
            Info,
            Value::Null,
            Some(CasMaybe { from: 1, to: 2 }),
        ),
        (
            Model::CasRegister,
            "read",
            Value::Null,
            Fail,
            Value::Null,
            None,
        ),
        (
            Model::CasRegister,
            "read",
            Value::Null,
            Info,
            Value::Null,
            None,
        ),
        (
            Model::CasRegister,
            "read",
            Value::Null,
            Ok,
            Value::Null,
            Some(Read { out: 0 }),
        ),
        (
            Model::Register,
            "write",
            json!("A"),
            Info,
            Value::Null,
            Some(Write { v: 1 }),
        ),
        (
            Model::Register,
            "write",
            json!("A"),
            Fail,
            Value::Null,
            None,
        ),
        (
            Model::WriteOnce,
            "propose",
            json!("A"),
            Ok,
            json!("A"),
            Some(Propose { v: 1, out: 1 }),
        ),
        (
            Model::WriteOnce,
            "propose",
            json!("A"),
            Info,
            Value::Null,
            Some(ProposeMaybe { v: 1 }),
        ),
        (
            Model::WriteOnce,
            "propose",
            json!("A"),
            Fail,
            Value::Null,
            None,
        ),
        (
            Model::WriteOnce,
            "read",
            Value::Null,
            Ok,
            Value::Null,
            Some(Read { out: 0 }),
        ),
        (
            Model::Kv,
            "get",
            Value::Null,
            Ok,
            json!(""),
            Some(Read { out: 0 }),
        ),
        (
            Model::Kv,
            "append",
            json!("A"),
            Info,
            Value::Null,
            Some(Append { piece: 1 }),
        ),
        (Model::Kv, "put", json!("A"), Fail, json!("A"), None),
    ];
    for (model, f, input, kind, output, want) in cases {
        let (op, events) = op_events(f, input.clone(), *kind, output.clone());
        let mut m = Machine::new(*model);
        m.intern(&json!("A"));
        m.intern(&json!("B"));
        assert_eq!(
            m.compile(&op, &events),
            Result::Ok(*want),
            "{model} {f} {kind:?}"
        );
    }
}

#[test]
fn compile_rejects_what_the_model_does_not_know() {
    let cases = [
        (Model::WriteOnce, "cas", json!(["A", "B"]), "line 1: operation \"cas\" is not part of the write-once model (it knows propose, read)"),
        (Model::CasRegister, "cas", json!("A"), "line 1: a cas needs a value [expected, new], not \"A\""),
        (Model::Kv, "put", json!(3), "line 1: put of 3 (kv values are strings)"),
        (Model::WriteOnce, "propose", Value::Null, "line 1: a propose of null (nothing to propose)"),
    ];
    for (model, f, input, want) in cases {
        let (op, events) = op_events(f, input, EventType::Ok, Value::Null);
        let err = Machine::new(model).compile(&op, &events).unwrap_err();
        assert_eq!(err.to_string(), want);
    }
}

/// Knossos's reading (`knossos.model`, `knossos.history/preprocess`) beside
/// ours, for the register models (values: A = 1, B = 2): every failed op is
/// dropped, a failed cas too, and an ok read of nil constrains nothing. The
/// other models read outcomes the same either way.
#[test]
fn knossos_reading_table() {
    use CompiledOp::*;
    use EventType::*;
    type Case = (
        Model,
        &'static str,
        Value,
        EventType,
        Value,
        Option<CompiledOp>,
        Option<CompiledOp>,
    );
    let cases: &[Case] = &[
        // (model, f, input, outcome, output, ours, Knossos's)
        (
            Model::CasRegister,
            "cas",
            json!(["A", "B"]),
            Fail,
            json!(["A", "B"]),
            Some(CasFailed { from: 1 }),
            None,
        ),
        (
            Model::CasRegister,
            "read",
            Value::Null,
            Ok,
            Value::Null,
            Some(Read { out: 0 }),
            None,
        ),
        (
            Model::Register,
            "read",
            Value::Null,
            Ok,
            Value::Null,
            Some(Read { out: 0 }),
            None,
        ),
        (
            Model::CasRegister,
            "read",
            Value::Null,
            Ok,
            json!("A"),
            Some(Read { out: 1 }),
            Some(Read { out: 1 }),
        ),
        (
            Model::Register,
            "write",
            json!("B"),
            Fail,
            json!("B"),
            None,
            None,
        ),
        (
            Model::CasRegister,
            "write",
            json!("B"),
            Info,
            Value::Null,
            Some(Write { v: 2 }),
            Some(Write { v: 2 }),
        ),
        (
            Model::CasRegister,
            "cas",
            json!(["A", "B"]),
            Info,
            Value::Null,
            Some(CasMaybe { from: 1, to: 2 }),
            Some(CasMaybe { from: 1, to: 2 }),
        ),
        (
            Model::CasRegister,
            "cas",
            json!(["A", "B"]),
            Ok,
            json!(["A", "B"]),
            Some(Cas { from: 1, to: 2 }),
            Some(Cas { from: 1, to: 2 }),
        ),
        (
            Model::WriteOnce,
            "read",
            Value::Null,
            Ok,
            Value::Null,
            Some(Read { out: 0 }),
            Some(Read { out: 0 }),
        ),
        (
            Model::Kv,
            "get",
            Value::Null,
            Ok,
            Value::Null,
            Some(Read { out: 0 }),
            Some(Read { out: 0 }),
        ),
    ];
    for (model, f, input, kind, output, ours, theirs) in cases {
        let (op, events) = op_events(f, input.clone(), *kind, output.clone());
        for (reading, want) in [(Reading::Porcupine, ours), (Reading::Knossos, theirs)] {
            let mut m = Machine::for_spec(&Spec {
                model: *model,
                reading,
                initial: Value::Null,
            });
            m.intern(&json!("A"));
            m.intern(&json!("B"));
            assert_eq!(
                m.compile(&op, &events),
                Result::Ok(*want),
                "{model} {f} {kind:?} {reading:?}"
            );
        }
    }
}

/// A register's initial value is state 0: a read of it before any write is
/// legal, a read of nil is not, and the state is described by its value.
#[test]
fn a_register_can_start_at_a_value() {
    let spec = Spec {
        model: Model::CasRegister,
        reading: Reading::Porcupine,
        initial: json!(0),
    };
    let mut m = Machine::for_spec(&spec);
    assert_eq!(m.intern(&json!(0)), 0);
    let nil = m.intern(&Value::Null);
    assert_ne!(nil, 0);
    assert_eq!(m.step(0, &CompiledOp::Read { out: 0 }), Some(0));
    assert_eq!(m.step(0, &CompiledOp::Read { out: nil }), None);
    assert_eq!(m.held(0), "the register held 0");
    assert_eq!(m.held(nil), "the register held nil");
    // Only the register models take it.
    let kv = Machine::for_spec(&Spec {
        model: Model::Kv,
        ..spec
    });
    assert_eq!(kv.state_value(0), json!(""));
    assert_eq!(Spec::from(Model::Kv).initial, Value::Null);
}
