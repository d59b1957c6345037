use super::*;
use ballot_core::fault::FaultKind;
use ballot_core::protocol::{Ballot, StateReply};
use ballot_core::records::{EventType, Fate, FaultPhase};

fn b(round: u64, proposer: u64) -> Value {
    json!({"round": round, "proposer": proposer})
}

/// An exchange: node, path, request, reply body (status 200) if any, and times.
struct Ex {
    id: u64,
    to: u64,
    path: &'static str,
    request: Value,
    response: Option<Value>,
    sent: u64,
    delivered: u64,
    replied: Option<u64>,
    fate: Fate,
}

impl Ex {
    fn prepare(id: u64, to: u64, key: &str, ballot: Value, response: Option<Value>) -> Ex {
        Ex {
            id,
            to,
            path: "/v1/prepare",
            request: json!({"key": key, "ballot": ballot}),
            response,
            sent: 0,
            delivered: 0,
            replied: None,
            fate: Fate::Ok,
        }
    }

    fn accept(id: u64, to: u64, ballot: Value, response: Option<Value>) -> Ex {
        Ex {
            path: "/v1/accept",
            request: json!({"key": "x", "ballot": ballot, "value": "v"}),
            ..Ex::prepare(id, to, "x", Value::Null, response)
        }
    }

    /// Sent at `sent`, forwarded 1 ns later, answered at `replied`.
    fn at(self, sent: u64, replied: Option<u64>) -> Ex {
        Ex {
            sent,
            delivered: sent + 1,
            replied,
            fate: if replied.is_some() {
                self.fate
            } else {
                Fate::Timeout
            },
            ..self
        }
    }

    fn build(self) -> Exchange {
        Exchange {
            id: self.id,
            from: 0,
            to: self.to,
            process: Some(1),
            path: self.path.into(),
            request: self.request,
            status: self.replied.map(|_| 200),
            response: self.replied.and(self.response),
            sent: self.sent,
            delivered: (self.fate != Fate::Refused).then_some(self.delivered),
            replied: self.replied,
            fate: self.fate,
            duplicate_of: None,
        }
    }
}

fn granted(ballot: Value) -> Option<Value> {
    Some(json!({"ok": true, "promised": ballot, "accepted": null}))
}

fn fault(time: u64, phase: FaultPhase, fault: &str, node: u64) -> NemesisRecord {
    NemesisRecord {
        time,
        phase,
        fault: FaultKind::recorded(fault).expect("a fault name"),
        nodes: vec![node],
        detail: json!({}),
    }
}

fn promised(round: u64, proposer: u64) -> InstanceState {
    InstanceState {
        promised: Some(Ballot::new(round, proposer)),
        ..InstanceState::default()
    }
}

fn snapshot(
    time: u64,
    node: u64,
    reason: SnapshotReason,
    keys: &[(&str, InstanceState)],
) -> Snapshot {
    Snapshot {
        time,
        replied: Some(time),
        node,
        reason,
        state: StateReply {
            node,
            instances: keys
                .iter()
                .map(|(k, s)| (k.to_string(), s.clone()))
                .collect(),
        },
    }
}

fn delivered_ids(messages: &[Exchange], items: &[Timed]) -> Vec<u64> {
    items
        .iter()
        .filter_map(|t| match t.item {
            Item::Deliver { exchange } => Some(messages[exchange].id),
            _ => None,
        })
        .collect()
}

/// Every exchange whose request was sent after another's reply arrived
/// is scheduled after it, and schedule times never decrease.
fn assert_causal(messages: &[Exchange], items: &[Timed]) {
    assert!(items.windows(2).all(|w| w[0].time <= w[1].time));
    let position: BTreeMap<usize, usize> = items
        .iter()
        .enumerate()
        .filter_map(|(p, t)| match t.item {
            Item::Deliver { exchange } => Some((exchange, p)),
            _ => None,
        })
        .collect();
    for (&a, &pa) in &position {
        for (&b, &pb) in &position {
            if messages[a].replied.is_some_and(|r| r < messages[b].sent) {
                assert!(
                    pa < pb,
                    "{} replied before {} was sent",
                    messages[a].id,
                    messages[b].id
                );
            }
        }
    }
}

#[test]
fn fates_decide_what_reached_a_node() {
    // (fate, delivered, status, reached)
    let table = [
        (Fate::Ok, Some(5), Some(200), true),
        (Fate::DroppedResponse, Some(5), Some(200), true),
        (Fate::Duplicated, Some(5), Some(200), true),
        (Fate::Timeout, Some(5), None, true),
        (Fate::Timeout, None, None, false),
        (Fate::Refused, None, None, false),
        (Fate::Cut, None, None, false),
        (Fate::DroppedRequest, None, None, false),
    ];
    for (fate, delivered, status, reached) in table {
        let mut ex = Ex::prepare(1, 0, "x", b(1, 1), granted(b(1, 1))).build();
        ex.fate = fate;
        ex.delivered = delivered;
        ex.status = status;
        assert_eq!(reached_node(&ex), reached, "{fate:?}");
    }
}

#[test]
fn kills_restarts_and_snapshots_take_their_places() {
    let refused = Ex {
        fate: Fate::Refused,
        ..Ex::prepare(3, 1, "x", b(1, 3), None).at(24, None)
    };
    let messages: Vec<Exchange> = vec![
        Ex::prepare(1, 0, "x", b(1, 1), granted(b(1, 1))).at(29, Some(31)),
        Ex::prepare(2, 1, "x", b(1, 1), granted(b(1, 1))).at(9, Some(11)),
        refused,
        // Reached node 1 after the kill, before the restart was recorded.
        Ex::prepare(4, 1, "x", b(1, 2), granted(b(1, 2))).at(44, Some(46)),
        Ex::prepare(5, 1, "y", b(1, 1), granted(b(1, 1))).at(9, Some(11)),
    ]
    .into_iter()
    .map(Ex::build)
    .collect();
    let nemesis = vec![
        fault(20, FaultPhase::Start, "kill", 1),
        fault(50, FaultPhase::Stop, "kill", 1),
        fault(60, FaultPhase::Start, "pause", 0),
    ];
    // The restart snapshot already shows exchange 4 (answered before it).
    let snapshots = vec![snapshot(
        48,
        1,
        SnapshotReason::Restart,
        &[("x", promised(1, 2)), ("y", promised(1, 1))],
    )];
    let history = vec![Event {
        index: 0,
        time: 5,
        process: Process::Client(1),
        kind: EventType::Invoke,
        f: "propose".into(),
        key: Some("x".into()),
        value: json!("1"),
        error: None,
    }];
    let got = plan(&messages, &nemesis, &snapshots, &history, BugSet::NONE);
    let items: Vec<(u64, Item)> = got.items.iter().map(|t| (t.time, t.item)).collect();
    assert_eq!(
        items,
        vec![
            (5, Item::Event { event: 0 }),
            (10, Item::Deliver { exchange: 1 }),
            (10, Item::Deliver { exchange: 4 }),
            (20, Item::Kill { node: 1 }),
            (30, Item::Deliver { exchange: 0 }),
            (
                45,
                Item::Restart {
                    node: 1,
                    snapshot: Some(0)
                }
            ),
            (45, Item::Deliver { exchange: 3 }),
            (
                48,
                Item::Snapshot {
                    node: 1,
                    snapshot: 0
                }
            ),
        ]
    );
    assert_eq!(got.unexplained, vec![]);
    // Node 1 came back with what it had before the kill, not the snapshot.
    let back: BTreeMap<String, InstanceState> = [
        ("x".to_string(), promised(1, 1)),
        ("y".to_string(), promised(1, 1)),
    ]
    .into();
    assert_eq!(got.restart_states, BTreeMap::from([(5, back)]));
    assert_causal(&messages, &got.items);
}

#[test]
fn overlapping_exchanges_are_replayed_in_the_order_the_replies_show() {
    // Node 0: prepare 1.1 granted; then accept 1.1 (forwarded first) and
    // prepare 1.2 (forwarded second) overlap. The accept was refused with
    // promise 1.2, so node 0 served the prepare first. Node 1: prepare
    // 1.2 sent after node 0's answer to prepare 1.2 arrived, before the
    // accept's answer.
    let messages: Vec<Exchange> = vec![
        Ex::prepare(1, 0, "x", b(1, 1), granted(b(1, 1))).at(10, Some(20)),
        Ex::accept(
            2,
            0,
            b(1, 1),
            Some(json!({"ok": false, "promised": b(1, 2)})),
        )
        .at(29, Some(50)),
        Ex::prepare(3, 0, "x", b(1, 2), granted(b(1, 2))).at(30, Some(40)),
        Ex::prepare(4, 1, "x", b(1, 2), granted(b(1, 2))).at(41, Some(43)),
    ]
    .into_iter()
    .map(Ex::build)
    .collect();
    let got = plan(&messages, &[], &[], &[], BugSet::NONE);
    assert_eq!(got.unexplained, vec![]);
    assert_eq!(delivered_ids(&messages, &got.items), vec![1, 3, 2, 4]);
    assert_eq!(got.reordered, 2);
    assert_causal(&messages, &got.items);

    // The same replies when the prepare came only after the accept's
    // answer: no order explains the refusal.
    let mut late = messages.clone();
    late[2].sent = 60;
    late[2].delivered = Some(61);
    late[2].replied = Some(70);
    let got = plan(&late, &[], &[], &[], BugSet::NONE);
    let unexplained = &got.unexplained;
    assert_eq!(unexplained.len(), 1, "{unexplained:?}");
    let u = &unexplained[0];
    assert_eq!((u.node, u.key.as_str(), u.after), (0, "x", Some(0)));
    assert_eq!(
        u.candidates,
        vec![Unfit {
            exchange: Some(1),
            snapshot: None,
            recorded: json!({"status": 200, "response": {"ok": false, "promised": b(1, 2)}}),
            simulated: json!({"status": 200, "response": {"ok": true, "promised": b(1, 1)}}),
        }]
    );
    assert!(!u.exhausted);
    assert_eq!(
        u.describe(&late, &[]),
        "no processing order explains node 0's replies on key \"x\": after exchange 1, the \
         next step could be exchange 2 (/v1/accept recorded {\"response\":{\"ok\":false,\
         \"promised\":{\"proposer\":2,\"round\":1}},\"status\":200}, the acceptor answers \
         {\"response\":{\"ok\":true,\"promised\":{\"proposer\":1,\"round\":1}},\"status\":200})"
    );
    // The replay still gets every exchange, in delivered order from there.
    assert_eq!(delivered_ids(&late, &got.items), vec![1, 2, 4, 3]);
}

#[test]
fn an_accept_in_flight_at_a_kill_is_left_out_when_the_node_never_served_it() {
    // Node 0 promised 3.1; an accept 3.1 was in flight when it was
    // killed; the restart snapshot shows nothing accepted.
    let messages: Vec<Exchange> = vec![
        Ex::prepare(1, 0, "x", b(3, 1), granted(b(3, 1))).at(10, Some(20)),
        Ex::accept(2, 0, b(3, 1), None).at(25, None),
        Ex::prepare(3, 0, "x", b(4, 1), granted(b(4, 1))).at(70, Some(75)),
    ]
    .into_iter()
    .map(Ex::build)
    .collect();
    let nemesis = vec![
        fault(30, FaultPhase::Start, "kill", 0),
        fault(60, FaultPhase::Stop, "kill", 0),
    ];
    let snapshots = vec![
        snapshot(55, 0, SnapshotReason::Restart, &[("x", promised(3, 1))]),
        snapshot(90, 0, SnapshotReason::Final, &[("x", promised(4, 1))]),
    ];
    let got = plan(&messages, &nemesis, &snapshots, &[], BugSet::NONE);
    assert_eq!(got.unexplained, vec![]);
    assert_eq!(got.skipped, vec![1]);
    assert_eq!(delivered_ids(&messages, &got.items), vec![1, 3]);
    let restart = got
        .items
        .iter()
        .position(|t| matches!(t.item, Item::Restart { .. }))
        .unwrap();
    assert_eq!(
        got.restart_states[&restart],
        BTreeMap::from([("x".to_string(), promised(3, 1))])
    );
    // Had the snapshot and the next prepare shown the acceptance, the accept was served.
    let mut messages = messages;
    messages[2].response = Some(json!({
        "ok": true, "promised": b(4, 1), "accepted": {"ballot": b(3, 1), "value": "v"}
    }));
    let accepted = InstanceState {
        accepted: Some(ballot_core::protocol::Accepted {
            ballot: Ballot::new(3, 1),
            value: "v".into(),
        }),
        ..promised(3, 1)
    };
    let snapshots = vec![snapshot(55, 0, SnapshotReason::Restart, &[("x", accepted)])];
    let got = plan(&messages, &nemesis, &snapshots, &[], BugSet::NONE);
    assert_eq!(got.unexplained, vec![]);
    assert_eq!(got.skipped, Vec::<usize>::new());
    assert_eq!(delivered_ids(&messages, &got.items), vec![1, 2, 3]);
}

#[test]
fn a_memory_only_node_comes_back_empty_whatever_it_promised() {
    let messages: Vec<Exchange> = vec![
        Ex::prepare(1, 0, "x", b(3, 1), granted(b(3, 1))).at(10, Some(20)),
        Ex::prepare(2, 0, "x", b(2, 1), granted(b(2, 1))).at(70, Some(75)),
    ]
    .into_iter()
    .map(Ex::build)
    .collect();
    let nemesis = vec![
        fault(30, FaultPhase::Start, "kill", 0),
        fault(60, FaultPhase::Stop, "kill", 0),
    ];
    let bugs = BugSet::of(&[ballot_core::bugs::NodeBug::MemoryOnly]);
    let got = plan(&messages, &nemesis, &[], &[], bugs);
    assert_eq!(got.unexplained, vec![]);
    assert_eq!(got.restart_states.values().next(), Some(&BTreeMap::new()));
    // The correct acceptor cannot explain the second grant.
    let got = plan(&messages, &nemesis, &[], &[], BugSet::NONE);
    assert_eq!(got.unexplained.len(), 1);
    assert_eq!(got.unexplained[0].candidates[0].exchange, Some(1));
}

#[test]
fn an_unexplained_reply_is_told_in_a_few_lines_with_the_rest_counted() {
    let messages: Vec<Exchange> = (0..40)
        .map(|i| {
            Ex::prepare(i, 1, "x", b(i + 1, 1), granted(b(i + 1, 1)))
                .at(i * 10, Some(i * 10 + 5))
                .build()
        })
        .collect();
    let u = Unexplained {
        node: 1,
        key: "x".into(),
        after: Some(0),
        candidates: (1..40)
            .map(|i| Unfit {
                exchange: Some(i),
                snapshot: None,
                recorded: json!({"ok": true}),
                simulated: json!({"ok": false}),
            })
            .collect(),
        exhausted: false,
    };
    let lines = u.brief(&messages, &[], 3);
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert!(lines[0].contains("node 1's replies on key \"x\" after exchange 0"));
    assert!(lines[1].contains("next could be exchange 1 (/v1/prepare recorded"));
    assert!(lines[3].contains("or exchange 3"));
    assert_eq!(lines[4], "  and 36 more alternative(s)");
    // the full paragraph names all 39
    assert!(u.describe(&messages, &[]).contains("exchange 39 ("));
}
