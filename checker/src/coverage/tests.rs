use serde_json::{json, Value};

use super::*;
use ballot_core::protocol::{Accepted, Ballot, InstanceState, StateReply};
use ballot_core::records::{Exchange, Fate};

fn ballot(round: u64, proposer: u64) -> Value {
    json!({"round": round, "proposer": proposer})
}

/// An answered exchange sent at `sent` by process `process` to node `to`.
fn ex(id: u64, sent: u64, process: u64, to: u64, path: &str, req: Value, resp: Value) -> Exchange {
    Exchange {
        id,
        from: 0,
        to,
        process: Some(process),
        path: path.into(),
        request: req,
        status: Some(200),
        response: Some(resp),
        sent,
        delivered: Some(sent + 1),
        replied: Some(sent + 2),
        fate: Fate::Ok,
        duplicate_of: None,
    }
}

fn event(index: u64, time: u64, process: u64, kind: EventType, f: &str, key: &str) -> Event {
    Event {
        index,
        time,
        process: Process::Client(process),
        kind,
        f: f.into(),
        key: Some(key.into()),
        value: Value::Null,
        error: None,
    }
}

#[test]
fn each_situation_is_counted_from_its_evidence() {
    let b1 = ballot(1, 1);
    let b2 = ballot(1, 2);
    let b3 = ballot(2, 3);
    let exchanges = vec![
        // Two proposers prepare key x before anything is accepted.
        ex(
            0,
            10,
            1,
            0,
            "/v1/prepare",
            json!({"key":"x","ballot":b1}),
            json!({"ok":true,"promised":b1,"accepted":null}),
        ),
        ex(
            1,
            11,
            2,
            0,
            "/v1/prepare",
            json!({"key":"x","ballot":b2}),
            json!({"ok":true,"promised":b2,"accepted":null}),
        ),
        // Proposer 1's accept is rejected (2 promised higher), 2's is acked.
        ex(
            2,
            20,
            1,
            0,
            "/v1/accept",
            json!({"key":"x","ballot":b1,"value":"a"}),
            json!({"ok":false,"promised":b2}),
        ),
        ex(
            3,
            21,
            2,
            0,
            "/v1/accept",
            json!({"key":"x","ballot":b2,"value":"b"}),
            json!({"ok":true,"promised":b2}),
        ),
        // Process 3 reads x: its prepare hears "b", it finishes phase 2 with
        // "b"; then a buggy accept of "c" at a higher ballot is acked too.
        ex(
            4,
            40,
            3,
            0,
            "/v1/prepare",
            json!({"key":"x","ballot":b3}),
            json!({"ok":true,"promised":b3,"accepted":{"ballot":b2,"value":"b"}}),
        ),
        ex(
            5,
            41,
            3,
            0,
            "/v1/accept",
            json!({"key":"x","ballot":b3,"value":"c"}),
            json!({"ok":true,"promised":b3}),
        ),
    ];
    let log = MessageLog::from_exchanges(&exchanges);
    let history = vec![
        event(0, 35, 3, EventType::Invoke, "read", "x"),
        event(1, 50, 3, EventType::Ok, "read", "x"),
        // A read on another key at the same time does not count.
        event(2, 36, 4, EventType::Invoke, "read", "y"),
        event(3, 52, 4, EventType::Ok, "read", "y"),
    ];
    let mut instances = std::collections::BTreeMap::new();
    instances.insert(
        "x".to_string(),
        InstanceState {
            promised: Some(Ballot {
                round: 1,
                proposer: 2,
            }),
            accepted: Some(Accepted {
                ballot: Ballot {
                    round: 1,
                    proposer: 2,
                },
                value: "b".into(),
            }),
            learned: None,
        },
    );
    let restart = Snapshot {
        time: 60,
        replied: None,
        node: 0,
        reason: SnapshotReason::Restart,
        state: StateReply { node: 0, instances },
    };
    let empty_restart = Snapshot {
        state: StateReply::default(),
        ..restart.clone()
    };
    let counts = count(&log, &history, &[restart, empty_restart]);
    let want: BTreeMap<String, u64> = [
        ("promise-reported-accepted", 1),
        ("accept-rejected", 1),
        ("two-values-accepted", 1),
        ("competing-proposers", 1),
        ("restart-with-accepted", 1),
        ("read-ran-phase-2", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(counts, want);
    assert_eq!(
        describe(&counts),
        "promise-reported-accepted 1, accept-rejected 1, two-values-accepted 1, \
         competing-proposers 1, restart-with-accepted 1, read-ran-phase-2 1"
    );
}

#[test]
fn an_empty_run_reached_nothing() {
    let log = MessageLog::from_exchanges(&[]);
    let counts = count(&log, &[], &[]);
    assert_eq!(counts.len(), SITUATIONS.len());
    assert!(counts.values().all(|&n| n == 0));
}
