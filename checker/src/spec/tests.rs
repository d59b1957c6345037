use super::*;
use ballot_core::fault::FaultKind;
use ballot_core::protocol::{StateReply, ACCEPT_PATH, PREPARE_PATH};
use ballot_core::records::{Fate, FaultPhase};

fn b(round: u64, proposer: u64) -> Value {
    json!({"round": round, "proposer": proposer})
}

/// An exchange to `node` about key "x", delivered at `at` and answered at `at + 1`.
fn ex(
    id: u64,
    node: u64,
    at: u64,
    path: &str,
    request: Value,
    response: Option<Value>,
) -> Exchange {
    Exchange {
        id,
        from: 0,
        to: node,
        process: Some(1),
        path: path.into(),
        request,
        status: response.as_ref().map(|_| 200),
        response,
        sent: at,
        delivered: Some(at),
        replied: Some(at + 1),
        fate: Fate::Ok,
        duplicate_of: None,
    }
}

fn prepare(id: u64, at: u64, ballot: (u64, u64), reply: Value) -> Exchange {
    ex(
        id,
        0,
        at,
        PREPARE_PATH,
        json!({"key": "x", "ballot": b(ballot.0, ballot.1)}),
        Some(reply),
    )
}

fn accept(id: u64, at: u64, ballot: (u64, u64), value: &str, reply: Value) -> Exchange {
    ex(
        id,
        0,
        at,
        ACCEPT_PATH,
        json!({"key": "x", "ballot": b(ballot.0, ballot.1), "value": value}),
        Some(reply),
    )
}

fn granted(ballot: (u64, u64), accepted: Value) -> Value {
    json!({"ok": true, "promised": b(ballot.0, ballot.1), "accepted": accepted})
}

fn acc(ok: bool, promised: (u64, u64)) -> Value {
    json!({"ok": ok, "promised": b(promised.0, promised.1)})
}

fn snapshot(node: u64, time: u64, reason: SnapshotReason, state: Value) -> Snapshot {
    let instances = serde_json::from_value(json!({ "x": state })).unwrap();
    Snapshot {
        time,
        replied: Some(time + 1),
        node,
        reason,
        state: StateReply { node, instances },
    }
}

fn kill(node: u64, time: u64, phase: FaultPhase) -> NemesisRecord {
    serde_json::from_value(json!({
        "time": time, "fault": FaultKind::Kill.name(), "phase": phase, "nodes": [node]
    }))
    .unwrap()
}

#[test]
fn a_correct_acceptors_history_is_valid() {
    let messages = vec![
        prepare(1, 10, (1, 1), granted((1, 1), Value::Null)),
        accept(2, 20, (1, 1), "v", acc(true, (1, 1))),
        prepare(
            3,
            30,
            (1, 2),
            granted((1, 2), json!({"ballot": b(1, 1), "value": "v"})),
        ),
        accept(4, 40, (1, 1), "w", acc(false, (1, 2))),
    ];
    let r = check(&messages, &[], &[]);
    assert_eq!(r.valid, Validity::Valid, "{r:?}");
    assert_eq!(r.stats["histories"], 1);
    assert_eq!(r.stats["exchanges"], 4);
}

#[test]
fn an_accept_acked_below_the_promise_is_the_violation_with_the_promise_as_evidence() {
    let messages = vec![
        prepare(1, 10, (1, 1), granted((1, 1), Value::Null)),
        prepare(2, 20, (5, 2), granted((5, 2), Value::Null)),
        // accept-below-promise: the node acks a ballot below its promise
        accept(3, 30, (1, 1), "v", acc(true, (1, 1))),
    ];
    let r = check(&messages, &[], &[]);
    assert_eq!(r.valid, Validity::Invalid);
    let v = &r.violations[0];
    assert_eq!(v.property, PROPERTY);
    assert!(!shown_by_snapshot(v));
    assert_eq!(v.key.as_deref(), Some("x"));
    let ids: Vec<u64> = v.messages.iter().map(|m| m.id).collect();
    // the prepare that set the promise, and the accept that contradicts it;
    // not the first prepare, whose promise was overwritten
    assert_eq!(ids, vec![2, 3], "{}", v.explanation);
    assert!(
        v.explanation.contains("after exchange 2"),
        "{}",
        v.explanation
    );
    assert!(
        v.explanation.contains("exchange 3 (/v1/accept"),
        "{}",
        v.explanation
    );
}

#[test]
fn overlapping_exchanges_may_have_been_served_in_either_order() {
    // prepare (2,1) and prepare (1,1) overlap; the node served (2,1) first,
    // so (1,1) was refused: explained by the other order
    let mut first = prepare(
        1,
        10,
        (1, 1),
        json!({"ok": false, "promised": b(2, 1), "accepted": null}),
    );
    first.replied = Some(30);
    let second = prepare(2, 11, (2, 1), granted((2, 1), Value::Null));
    let r = check(&[first.clone(), second.clone()], &[], &[]);
    assert_eq!(r.valid, Validity::Valid, "{r:?}");
    // without the overlap the refusal is unexplained
    first.replied = Some(10);
    let r = check(&[first, second], &[], &[]);
    assert_eq!(r.valid, Validity::Invalid);
}

#[test]
fn a_restart_that_forgets_an_acknowledged_acceptance_is_caught_by_its_snapshot() {
    let messages = vec![
        prepare(1, 10, (1, 1), granted((1, 1), Value::Null)),
        accept(2, 20, (1, 1), "v", acc(true, (1, 1))),
    ];
    let nemesis = vec![
        kill(0, 30, FaultPhase::Start),
        kill(0, 50, FaultPhase::Stop),
    ];
    let good = json!({"promised": b(1, 1), "accepted": {"ballot": b(1, 1), "value": "v"}, "learned": null});
    let lost = json!({"promised": b(1, 1), "accepted": null, "learned": null});
    let kept = [snapshot(0, 40, SnapshotReason::Restart, good)];
    assert_eq!(check(&messages, &nemesis, &kept).valid, Validity::Valid);
    let forgot = [snapshot(0, 40, SnapshotReason::Restart, lost)];
    let r = check(&messages, &nemesis, &forgot);
    assert_eq!(r.valid, Validity::Invalid);
    let v = &r.violations[0];
    assert!(
        v.explanation.contains("after restart 1 of 1"),
        "{}",
        v.explanation
    );
    assert!(
        v.explanation.contains("the restart snapshot of node 0"),
        "{}",
        v.explanation
    );
    assert!(shown_by_snapshot(v));
    let ids: Vec<u64> = v.messages.iter().map(|m| m.id).collect();
    // the prepare set the promise, the accept the acceptance the snapshot lost
    assert_eq!(ids, vec![1, 2], "{}", v.explanation);
}

#[test]
fn an_unanswered_or_failed_request_may_never_have_been_served() {
    let mut lost = accept(2, 20, (1, 1), "v", acc(true, (1, 1)));
    lost.status = None;
    lost.response = None;
    lost.replied = None;
    lost.fate = Fate::Timeout;
    let mut failed = accept(3, 25, (1, 1), "v", json!({"error": "disk"}));
    failed.status = Some(500);
    let messages = vec![
        prepare(1, 10, (1, 1), granted((1, 1), Value::Null)),
        lost,
        failed,
        prepare(4, 30, (1, 2), granted((1, 2), Value::Null)),
    ];
    let r = check(&messages, &[], &[]);
    assert_eq!(r.valid, Validity::Valid, "{r:?}");
}

#[test]
fn a_malformed_request_must_get_400() {
    let bad = |status| {
        let mut e = ex(
            1,
            0,
            10,
            PREPARE_PATH,
            json!({"key": "", "ballot": b(1, 1)}),
            None,
        );
        e.status = Some(status);
        e.response = Some(json!({"ok": true}));
        e
    };
    assert_eq!(check(&[bad(400)], &[], &[]).valid, Validity::Valid);
    let r = check(&[bad(200)], &[], &[]);
    assert_eq!(r.valid, Validity::Invalid);
    assert!(r.violations[0].explanation.contains("answered 200"));
}

#[test]
fn a_search_that_runs_out_of_budget_is_unknown_not_a_violation() {
    // 22 overlapping unanswered accepts of one ballot with 22 values (a
    // proposer's bug), each maybe served, and a final snapshot no order of
    // any subset explains: 2^22 subsets, more than the budget.
    let mut messages: Vec<Exchange> = (0..22)
        .map(|i| {
            let mut e = accept(i + 1, 10 + i, (1, 1), &format!("v{i}"), Value::Null);
            e.status = None;
            e.response = None;
            e.replied = None;
            e.fate = Fate::Timeout;
            e
        })
        .collect();
    messages.sort_by_key(|e| e.delivered);
    let odd = json!({"promised": b(1, 1), "accepted": {"ballot": b(1, 1), "value": "none"}, "learned": null});
    let snaps = [snapshot(0, 1_000, SnapshotReason::Final, odd)];
    let r = check(&messages, &[], &snaps);
    assert_eq!(r.valid, Validity::Unknown, "{r:?}");
    assert!(r.violations.is_empty());
    assert!(r.reason.unwrap().contains("ran out of budget"));
    // a small version of the same is searched out: invalid
    let r = check(&messages[..4], &[], &snaps);
    assert_eq!(r.valid, Validity::Invalid);
}
