//! The Paxos invariants on hand-written message logs.
//!
//! - `tables`: per invariant, valid and invalid logs, including exchanges
//!   that overlap in time (never ordered), asserting the exact property, key
//!   and evidence ids.
//! - `scenarios`: docs/scenarios.md stories S01 (both orders), S02, S04 (both
//!   orders), S06 and S12 (correct and buggy), checked by every property.
//! - `simulated`: generated runs (the bench's simulator): a correct cluster
//!   gives no violation over many seeds; each simulated bug is caught.

#[path = "../benches/messages/synth.rs"]
mod synth;

use ballot_checker::invariants::{check_learners, check_paxos, Evidence, Property};
use ballot_checker::messages::MessageLog;
use ballot_core::protocol::{Accepted, Ballot, InstanceState, StateReply};
use ballot_core::records::{Event, EventType, Exchange, Fate, Process, Snapshot, SnapshotReason};
use ballot_core::verdict::{Validity, Violation};
use serde_json::{json, Value};

// ---- building logs ------------------------------------------------------------

const A: u64 = 0;
const B: u64 = 1;
const C: u64 = 2;
const D: u64 = 3;
const E: u64 = 4;

fn ballot(b: (u64, u64)) -> Value {
    json!({"round": b.0, "proposer": b.1})
}

/// An exchange under construction. By default it is sent at `10 * id`,
/// delivered 1 ns later, answered 2 ns later (when it has a response), by
/// process `proposer of its ballot`, fate ok: exchanges with higher ids are
/// surely later at every node.
struct X(Exchange);

impl X {
    fn new(id: u64, to: u64, path: &str, request: Value, process: u64) -> X {
        X(Exchange {
            id,
            from: 0,
            to,
            process: Some(process),
            path: path.into(),
            request,
            status: None,
            response: None,
            sent: 10 * id,
            delivered: Some(10 * id + 1),
            replied: None,
            fate: Fate::Ok,
            duplicate_of: None,
        })
    }
    fn prep(id: u64, to: u64, key: &str, b: (u64, u64)) -> X {
        X::new(
            id,
            to,
            "/v1/prepare",
            json!({"key": key, "ballot": ballot(b)}),
            b.1,
        )
    }
    fn acc(id: u64, to: u64, key: &str, b: (u64, u64), v: &str) -> X {
        X::new(
            id,
            to,
            "/v1/accept",
            json!({"key": key, "ballot": ballot(b), "value": v}),
            b.1,
        )
    }
    fn learn(id: u64, to: u64, key: &str, b: (u64, u64), v: &str) -> X {
        X::new(
            id,
            to,
            "/v1/learn",
            json!({"key": key, "ballot": ballot(b), "value": v}),
            b.1,
        )
    }
    fn answer(mut self, body: Value) -> X {
        self.0.status = Some(200);
        self.0.response = Some(body);
        self.0.replied = Some(self.0.delivered.expect("delivered") + 1);
        self
    }
    /// A prepare reply.
    fn promise(self, ok: bool, promised: (u64, u64), accepted: Option<((u64, u64), &str)>) -> X {
        let accepted = accepted.map(|(b, v)| json!({"ballot": ballot(b), "value": v}));
        self.answer(json!({"ok": ok, "promised": ballot(promised), "accepted": accepted}))
    }
    /// An accept reply.
    fn reply(self, ok: bool, promised: (u64, u64)) -> X {
        self.answer(json!({"ok": ok, "promised": ballot(promised)}))
    }
    /// The ok prepare reply a correct acceptor gives.
    fn granted(self, accepted: Option<((u64, u64), &str)>) -> X {
        let b = self.ballot();
        self.promise(true, b, accepted)
    }
    /// The ok accept reply a correct acceptor gives.
    fn ok(self) -> X {
        let b = self.ballot();
        self.reply(true, b)
    }
    fn learned(self) -> X {
        self.answer(json!({"ok": true}))
    }
    fn ballot(&self) -> (u64, u64) {
        let b = &self.0.request["ballot"];
        (
            b["round"].as_u64().unwrap(),
            b["proposer"].as_u64().unwrap(),
        )
    }
    fn fate(mut self, fate: Fate) -> X {
        self.0.fate = fate;
        if matches!(fate, Fate::Cut | Fate::DroppedRequest | Fate::Refused) {
            self.0.delivered = None;
        }
        self
    }
    fn at(mut self, sent: u64, delivered: Option<u64>, replied: Option<u64>) -> X {
        self.0.sent = sent;
        self.0.delivered = delivered;
        self.0.replied = replied;
        self
    }
    fn process(mut self, p: Option<u64>) -> X {
        self.0.process = p;
        self
    }
}

fn join(parts: Vec<Vec<X>>) -> Vec<X> {
    parts.into_iter().flatten().collect()
}

fn log(xs: Vec<X>) -> Vec<Exchange> {
    xs.into_iter().map(|x| x.0).collect()
}

fn ev(
    index: u64,
    time: u64,
    process: u64,
    kind: EventType,
    f: &str,
    key: &str,
    value: Value,
) -> Event {
    Event {
        index,
        time,
        process: Process::Client(process),
        kind,
        f: f.into(),
        key: Some(key.into()),
        value,
        error: None,
    }
}

/// A history of proposes: (process, key, proposed, outcome, returned).
fn proposes(ops: &[(u64, &str, &str, EventType, Option<&str>)]) -> Vec<Event> {
    let mut h = Vec::new();
    for (i, &(p, key, v, kind, out)) in ops.iter().enumerate() {
        let i = i as u64;
        h.push(ev(2 * i, i, p, EventType::Invoke, "propose", key, json!(v)));
        let value = match (kind, out) {
            (EventType::Ok, Some(o)) => json!(o),
            _ => json!(v),
        };
        h.push(ev(2 * i + 1, 1_000_000 + i, p, kind, "propose", key, value));
    }
    h
}

type State<'a> = (
    Option<(u64, u64)>,
    Option<((u64, u64), &'a str)>,
    Option<&'a str>,
);

fn snapshot(time: u64, node: u64, reason: SnapshotReason, keys: &[(&str, State<'_>)]) -> Snapshot {
    Snapshot {
        time,
        replied: Some(time),
        node,
        reason,
        state: StateReply {
            node,
            instances: keys
                .iter()
                .map(|(k, (p, a, l))| {
                    (
                        k.to_string(),
                        InstanceState {
                            promised: p.map(|b| Ballot::new(b.0, b.1)),
                            accepted: a.map(|(b, v)| Accepted {
                                ballot: Ballot::new(b.0, b.1),
                                value: v.into(),
                            }),
                            learned: l.map(str::to_string),
                        },
                    )
                })
                .collect(),
        },
    }
}

/// (key, exchange ids, op indices) of each violation.
fn summary(vs: &[Violation]) -> Vec<(String, Vec<u64>, Vec<u64>)> {
    vs.iter()
        .map(|v| {
            (
                v.key.clone().unwrap_or_default(),
                v.messages.iter().map(|m| m.id).collect(),
                v.ops.iter().map(|o| o.index).collect(),
            )
        })
        .collect()
}

/// Every property's violations, by property name, for a whole run.
fn all(
    nodes: usize,
    xs: &[Exchange],
    snaps: &[Snapshot],
    history: &[Event],
) -> Vec<(String, Vec<u64>)> {
    let log = MessageLog::from_exchanges(xs);
    let e = Evidence::new(&log, snaps, history, nodes);
    let mut out = Vec::new();
    for p in Property::ALL {
        for v in p.check(&e) {
            assert_eq!(v.property, p.name());
            assert_eq!(v.source, p.source());
            assert!(!v.explanation.is_empty());
            out.push((
                v.property.clone(),
                v.messages.iter().map(|m| m.id).collect(),
            ));
        }
    }
    out
}

// ---- tables -----------------------------------------------------------------

struct Case {
    name: &'static str,
    nodes: usize,
    log: Vec<Exchange>,
    snapshots: Vec<Snapshot>,
    history: Vec<Event>,
    property: Property,
    /// (key, exchange ids, op indices) of each expected violation.
    want: Vec<(&'static str, Vec<u64>, Vec<u64>)>,
}

fn case(
    name: &'static str,
    property: Property,
    log: Vec<Exchange>,
    want: Vec<(&'static str, Vec<u64>, Vec<u64>)>,
) -> Case {
    Case {
        name,
        nodes: 3,
        log,
        snapshots: Vec::new(),
        history: Vec::new(),
        property,
        want,
    }
}

fn run_table(cases: Vec<Case>) {
    for c in cases {
        let log = MessageLog::from_exchanges(&c.log);
        let e = Evidence::new(&log, &c.snapshots, &c.history, c.nodes);
        let found = c.property.check(&e);
        for v in &found {
            assert_eq!(v.property, c.property.name(), "{}", c.name);
            assert_eq!(v.source, c.property.source(), "{}", c.name);
            assert!(
                v.explanation.ends_with('.'),
                "{}: {}",
                c.name,
                v.explanation
            );
        }
        let want: Vec<(String, Vec<u64>, Vec<u64>)> = c
            .want
            .iter()
            .map(|(k, m, o)| (k.to_string(), m.clone(), o.clone()))
            .collect();
        assert_eq!(summary(&found), want, "{}: {:#?}", c.name, found);
    }
}

const K: &str = "x";

#[test]
fn chosen_unique_table() {
    use Property::ChosenUnique as P;
    let mut four = case(
        "two of four nodes are not a majority",
        P,
        log(vec![
            X::acc(1, A, K, (1, 1), "a").ok(),
            X::acc(2, B, K, (1, 1), "a").ok(),
            X::acc(3, C, K, (2, 2), "b").ok(),
            X::acc(4, D, K, (2, 2), "b").ok(),
        ]),
        vec![],
    );
    four.nodes = 4;
    run_table(vec![
        case(
            "the same value chosen at two ballots",
            P,
            log(vec![
                X::acc(1, A, K, (1, 1), "a").ok(),
                X::acc(2, B, K, (1, 1), "a").ok(),
                X::acc(3, B, K, (2, 2), "a").ok(),
                X::acc(4, C, K, (2, 2), "a").ok(),
            ]),
            vec![],
        ),
        case(
            "two values chosen",
            P,
            log(vec![
                X::acc(1, A, K, (1, 1), "a").ok(),
                X::acc(2, B, K, (1, 1), "a").ok(),
                X::acc(3, C, K, (1, 1), "a").fate(Fate::Cut),
                X::acc(4, B, K, (2, 2), "b").ok(),
                X::acc(5, C, K, (2, 2), "b")
                    .ok()
                    .fate(Fate::DroppedResponse),
            ]),
            vec![(K, vec![1, 2, 4, 5], vec![])],
        ),
        case(
            "a minority for the second value",
            P,
            log(vec![
                X::acc(1, A, K, (1, 1), "a").ok(),
                X::acc(2, B, K, (1, 1), "a").ok(),
                X::acc(3, C, K, (2, 2), "b").ok(),
                X::acc(4, B, K, (2, 2), "b").reply(false, (3, 3)),
                // A duplicate delivery to the same node counts once.
                X::acc(5, C, K, (2, 2), "b").ok().fate(Fate::Duplicated),
            ]),
            vec![],
        ),
        four,
    ]);
}

#[test]
fn one_value_per_ballot_table() {
    use Property::OneValuePerBallot as P;
    run_table(vec![
        case(
            "one value, whatever the fates",
            P,
            log(vec![
                X::acc(1, A, K, (1, 1), "a").ok(),
                X::acc(2, B, K, (1, 1), "a").fate(Fate::Cut),
                X::acc(3, C, K, (1, 1), "a").fate(Fate::Timeout),
                X::acc(4, C, K, (2, 2), "b").ok(),
            ]),
            vec![],
        ),
        case(
            "two values at one ballot, one of them cut",
            P,
            log(vec![
                X::acc(1, A, K, (1, 1), "a").ok(),
                X::acc(2, A, "y", (1, 1), "b").ok(),
                X::acc(3, B, K, (1, 1), "b").fate(Fate::Cut),
                X::acc(4, C, K, (1, 1), "c").fate(Fate::Cut),
            ]),
            vec![(K, vec![1, 3], vec![])],
        ),
    ]);
}

#[test]
fn p2b_table() {
    use Property::P2bChosenValuePersists as P;
    let chosen_7 = || {
        vec![
            X::acc(10, A, K, (5, 2), "7").ok(),
            X::acc(11, B, K, (5, 2), "7").ok(),
        ]
    };
    run_table(vec![
        case(
            "higher ballots carry the chosen value; a lower one may not",
            P,
            log(join(vec![
                vec![X::acc(1, C, K, (4, 1), "3").ok()],
                chosen_7(),
                vec![X::acc(20, C, K, (9, 3), "7").ok()],
            ])),
            vec![],
        ),
        case(
            "a higher ballot with another value",
            P,
            log(join(vec![
                chosen_7(),
                vec![
                    X::acc(20, C, K, (9, 3), "6").fate(Fate::Cut),
                    X::acc(21, A, K, (9, 3), "6").reply(false, (9, 4)),
                ],
            ])),
            vec![(K, vec![10, 11, 20], vec![])],
        ),
        case(
            "P2b does not depend on time: the higher proposal came first",
            P,
            log(join(vec![
                vec![X::acc(1, C, K, (9, 3), "6").ok()],
                chosen_7(),
            ])),
            vec![(K, vec![1, 10, 11], vec![])],
        ),
    ]);
}

#[test]
fn p2c_table() {
    use Property::P2cJustifiedAccept as P;
    run_table(vec![
        case(
            "a majority of empty promises: any value",
            P,
            log(vec![
                X::prep(1, A, K, (1, 1)).granted(None),
                X::prep(2, B, K, (1, 1)).granted(None),
                X::prep(3, C, K, (1, 1)).fate(Fate::Cut),
                X::acc(4, A, K, (1, 1), "v").ok(),
            ]),
            vec![],
        ),
        case(
            "one promise is not a majority",
            P,
            log(vec![
                X::prep(1, A, K, (1, 1)).granted(None),
                X::prep(2, B, K, (1, 1)).promise(false, (3, 3), None),
                X::acc(4, A, K, (1, 1), "v").ok(),
                X::acc(5, B, K, (1, 1), "v").reply(false, (3, 3)),
            ]),
            vec![(K, vec![1, 4], vec![])],
        ),
        case(
            "a promise that had not arrived yet does not count",
            P,
            log(vec![
                X::prep(1, A, K, (1, 1)).granted(None),
                X::prep(2, B, K, (1, 1))
                    .granted(None)
                    .at(20, Some(21), Some(60)),
                X::acc(4, A, K, (1, 1), "v").ok(),
            ]),
            vec![(K, vec![1, 4], vec![])],
        ),
        case(
            "a promise whose reply the proxy dropped does not count",
            P,
            log(vec![
                X::prep(1, A, K, (1, 1)).granted(None),
                X::prep(2, B, K, (1, 1))
                    .granted(None)
                    .fate(Fate::DroppedResponse),
                X::acc(4, A, K, (1, 1), "v").ok(),
            ]),
            vec![(K, vec![1, 4], vec![])],
        ),
        case(
            "another process's promises do not count",
            P,
            log(vec![
                X::prep(1, A, K, (1, 1)).granted(None),
                X::prep(2, B, K, (1, 1)).granted(None).process(Some(9)),
                X::acc(4, A, K, (1, 1), "v").ok(),
            ]),
            vec![(K, vec![1, 4], vec![])],
        ),
        case(
            "an accept from an unknown process is skipped",
            P,
            log(vec![X::acc(4, A, K, (1, 1), "v").ok().process(None)]),
            vec![],
        ),
        case(
            "ignoring the one reported proposal",
            P,
            log(vec![
                X::prep(1, A, K, (9, 3)).granted(Some(((5, 2), "7"))),
                X::prep(2, B, K, (9, 3)).granted(Some(((5, 2), "7"))),
                X::prep(3, C, K, (9, 3)).granted(None),
                X::acc(4, A, K, (9, 3), "6").ok(),
                X::acc(5, B, K, (9, 3), "6").ok(),
            ]),
            vec![(K, vec![1, 2, 3, 4], vec![])],
        ),
    ]);
}

#[test]
fn p1a_table() {
    use Property::P1aPromiseOrder as P;
    run_table(vec![
        case(
            "promises only grow",
            P,
            log(vec![
                X::prep(1, A, K, (1, 1)).granted(None),
                X::acc(2, A, K, (1, 1), "a").ok(),
                X::prep(3, A, K, (5, 2)).granted(Some(((1, 1), "a"))),
                X::acc(4, A, K, (1, 1), "a").reply(false, (5, 2)),
                X::prep(5, A, K, (3, 3)).promise(false, (5, 2), Some(((1, 1), "a"))),
            ]),
            vec![],
        ),
        case(
            "an ack below an earlier promise",
            P,
            log(vec![
                X::prep(1, A, K, (5, 1)).granted(None),
                X::prep(2, B, K, (5, 1)).granted(None),
                X::acc(3, A, K, (3, 2), "a").reply(true, (3, 2)),
            ]),
            vec![(K, vec![1, 3], vec![])],
        ),
        case(
            "a promise that goes backwards (a restart that forgot)",
            P,
            log(vec![
                X::prep(1, A, K, (5, 1)).granted(None),
                X::prep(2, A, K, (3, 2)).promise(false, (4, 4), None),
                X::prep(3, A, K, (2, 2)).promise(false, (4, 4), None),
            ]),
            vec![(K, vec![1, 2], vec![])],
        ),
        case(
            "an ok accept raises the promise",
            P,
            log(vec![
                // The node says promised 3 after acking 5: its floor is 5.
                X::acc(1, A, K, (5, 1), "a").reply(true, (3, 3)),
                X::prep(2, A, K, (4, 4)).granted(None),
            ]),
            vec![(K, vec![1, 2], vec![])],
        ),
        case(
            "overlapping exchanges are not ordered",
            P,
            log(vec![
                // prep(5) is answered at 30, but acc(3) reached A at 25.
                X::prep(1, A, K, (5, 1))
                    .granted(None)
                    .at(10, Some(11), Some(30)),
                X::acc(2, A, K, (3, 2), "a")
                    .reply(true, (3, 2))
                    .at(20, Some(25), Some(26)),
            ]),
            vec![],
        ),
    ]);
}

#[test]
fn promise_reports_highest_table() {
    use Property::PromiseReportsHighest as P;
    run_table(vec![
        case(
            "the promise reports the acked proposal",
            P,
            log(vec![
                X::acc(1, A, K, (3, 1), "x").ok(),
                X::acc(2, A, K, (5, 2), "7").ok(),
                X::prep(3, A, K, (9, 3)).granted(Some(((5, 2), "7"))),
            ]),
            vec![],
        ),
        case(
            "the promise forgets an acked proposal",
            P,
            log(vec![
                X::acc(1, A, K, (5, 2), "7").ok(),
                X::prep(2, A, K, (9, 3)).granted(None),
            ]),
            vec![(K, vec![1, 2], vec![])],
        ),
        case(
            "the promise reports the first, not the highest",
            P,
            log(vec![
                X::acc(1, A, K, (3, 1), "x").ok(),
                X::acc(2, A, K, (5, 2), "7").ok(),
                X::prep(3, A, K, (9, 3)).granted(Some(((3, 1), "x"))),
            ]),
            vec![(K, vec![2, 3], vec![])],
        ),
        case(
            "an accept overlapping the prepare is not ordered",
            P,
            log(vec![
                X::acc(1, A, K, (5, 2), "7").ok().at(10, Some(11), Some(40)),
                X::prep(2, A, K, (9, 3))
                    .granted(None)
                    .at(20, Some(25), Some(26)),
            ]),
            vec![],
        ),
        case(
            "the promise reports a proposal never sent to the node",
            P,
            log(vec![
                X::acc(1, B, K, (4, 4), "zz").ok(),
                X::prep(2, A, K, (9, 3)).granted(Some(((4, 4), "zz"))),
            ]),
            vec![(K, vec![2], vec![])],
        ),
    ]);
}

#[test]
fn durability_table() {
    use Property::Durability as P;
    let acked = || {
        log(vec![
            X::prep(1, A, K, (5, 2)).granted(None),
            X::acc(2, A, K, (5, 2), "7").ok(),
            X::prep(3, A, K, (9, 3))
                .granted(Some(((5, 2), "7")))
                .at(30, Some(31), Some(32)),
        ])
    };
    let with = |name, snaps: Vec<Snapshot>, want| Case {
        snapshots: snaps,
        ..case(name, P, acked(), want)
    };
    run_table(vec![
        with(
            "the restart kept everything acked before it",
            vec![
                snapshot(
                    25,
                    A,
                    SnapshotReason::Restart,
                    &[(K, (Some((5, 2)), Some(((5, 2), "7")), None))],
                ),
                snapshot(
                    99,
                    A,
                    SnapshotReason::Final,
                    &[(K, (Some((9, 3)), Some(((5, 2), "7")), None))],
                ),
                // Another node's snapshot knows nothing of A's acks.
                snapshot(99, B, SnapshotReason::Final, &[]),
            ],
            vec![],
        ),
        with(
            "an ack answered after the snapshot was taken is not required",
            vec![snapshot(
                32,
                A,
                SnapshotReason::Restart,
                &[(K, (Some((5, 2)), Some(((5, 2), "7")), None))],
            )],
            vec![],
        ),
        with(
            "the restart forgot the acceptance",
            vec![snapshot(
                25,
                A,
                SnapshotReason::Restart,
                &[(K, (Some((5, 2)), None, None))],
            )],
            vec![(K, vec![2], vec![])],
        ),
        with(
            "the restart forgot everything",
            vec![snapshot(40, A, SnapshotReason::Restart, &[])],
            vec![(K, vec![2, 3], vec![])],
        ),
    ]);
}

#[test]
fn accepted_value_proposed_table() {
    use Property::AcceptedValueProposed as P;
    let xs = || {
        log(vec![
            X::acc(1, A, K, (1, 1), "a").ok(),
            X::acc(2, B, K, (1, 1), "a").ok(),
            X::acc(3, C, K, (2, 2), "z").reply(false, (3, 3)),
        ])
    };
    let history = proposes(&[(1, K, "a", EventType::Ok, Some("a"))]);
    run_table(vec![
        Case {
            history: history.clone(),
            ..case("acked values were proposed", P, xs(), vec![])
        },
        Case {
            history: history.clone(),
            ..case(
                "an acked value nobody proposed",
                P,
                log(vec![
                    X::acc(1, A, K, (1, 1), "a").ok(),
                    X::acc(2, B, K, (1, 1), "q").ok(),
                    X::acc(3, C, K, (1, 1), "q").ok(),
                ]),
                vec![(K, vec![2], vec![])],
            )
        },
        Case {
            history: history.clone(),
            snapshots: vec![snapshot(
                9,
                C,
                SnapshotReason::Final,
                &[(K, (Some((2, 2)), Some(((2, 2), "w")), None))],
            )],
            ..case(
                "a snapshot holds a value nobody proposed",
                P,
                xs(),
                vec![(K, vec![], vec![])],
            )
        },
        case(
            "a history without proposes is not checked",
            P,
            log(vec![X::acc(1, A, K, (1, 1), "q").ok()]),
            vec![],
        ),
    ]);
}

#[test]
fn learners_agree_table() {
    use Property::LearnersAgree as P;
    let chosen = || {
        vec![
            X::acc(1, A, K, (1, 1), "a").ok(),
            X::acc(2, B, K, (1, 1), "a").ok(),
        ]
    };
    let final_learned = |node, v| {
        snapshot(
            99,
            node,
            SnapshotReason::Final,
            &[(K, (Some((1, 1)), Some(((1, 1), "a")), Some(v)))],
        )
    };
    let learned_by = |node, time, replied| Snapshot {
        replied,
        ..snapshot(
            time,
            node,
            SnapshotReason::Restart,
            &[(K, (Some((1, 1)), Some(((1, 1), "a")), Some("a")))],
        )
    };
    run_table(vec![
        Case {
            snapshots: vec![final_learned(A, "a"), final_learned(B, "a")],
            history: proposes(&[(1, K, "a", EventType::Ok, Some("a"))]),
            ..case(
                "learns after a majority accepted",
                P,
                log(join(vec![
                    chosen(),
                    vec![X::learn(3, A, K, (1, 1), "a").learned()],
                ])),
                vec![],
            )
        },
        case(
            "learns after the first ack",
            P,
            log(vec![
                X::acc(1, A, K, (1, 1), "a").ok(),
                X::learn(2, C, K, (1, 1), "a").learned(),
                X::acc(3, B, K, (1, 1), "a").ok(),
            ]),
            vec![(K, vec![1, 2], vec![])],
        ),
        case(
            "chosen as seen in promises, when the acks timed out",
            P,
            log(vec![
                X::acc(1, A, K, (1, 1), "a").fate(Fate::Timeout),
                X::acc(2, B, K, (1, 1), "a").fate(Fate::Timeout),
                X::prep(3, A, K, (2, 2)).granted(Some(((1, 1), "a"))),
                X::prep(4, B, K, (2, 2)).granted(Some(((1, 1), "a"))),
                X::learn(5, C, K, (2, 2), "a").learned(),
            ]),
            vec![],
        ),
        Case {
            snapshots: vec![final_learned(A, "a"), final_learned(B, "b")],
            ..case(
                "final snapshots disagree",
                P,
                log(chosen()),
                vec![(K, vec![], vec![]), (K, vec![], vec![])],
            )
        },
        Case {
            // The state request left at 15, before "a" was chosen (22), but
            // was answered at 40, after C's learn (sent at 30): no alarm.
            snapshots: vec![learned_by(C, 15, Some(40))],
            ..case(
                "learned while the state request was on its way",
                P,
                log(join(vec![
                    chosen(),
                    vec![X::learn(3, C, K, (1, 1), "a").learned()],
                ])),
                vec![],
            )
        },
        Case {
            // Answered at 18, before a majority accepted "a" (22).
            snapshots: vec![learned_by(C, 5, Some(18))],
            ..case(
                "learned before the value was chosen, by the state's answer",
                P,
                log(chosen()),
                vec![(K, vec![], vec![])],
            )
        },
        Case {
            // An older log without `replied`: the state only shows "a" was
            // learned at some time, and "a" was chosen.
            snapshots: vec![learned_by(C, 5, None)],
            ..case(
                "learned at an unrecorded time, of a chosen value",
                P,
                log(chosen()),
                vec![],
            )
        },
        Case {
            history: proposes(&[(1, K, "b", EventType::Ok, Some("b"))]),
            ..case(
                "an ok op returned a value that was not chosen",
                P,
                log(chosen()),
                vec![(K, vec![1, 2], vec![0, 1])],
            )
        },
    ]);
}

// ---- scenarios (docs/scenarios.md) -------------------------------------------------

/// S01, the lesson's example: P1 (ballot 1.1, value "3"), P2 (ballot 5.2,
/// value "7"); A, B see prep(1) first, C sees prep(5) first.
fn s01() -> Vec<Exchange> {
    log(vec![
        X::prep(1, A, K, (1, 1)).granted(None),
        X::prep(2, B, K, (1, 1)).granted(None),
        X::prep(3, C, K, (5, 2)).granted(None),
        X::prep(4, A, K, (5, 2)).granted(None),
        X::prep(5, B, K, (5, 2)).granted(None),
        X::prep(6, C, K, (1, 1)).promise(false, (5, 2), None),
        X::acc(7, A, K, (1, 1), "3").reply(false, (5, 2)),
        X::acc(8, B, K, (1, 1), "3").reply(false, (5, 2)),
        X::acc(9, C, K, (1, 1), "3").reply(false, (5, 2)),
        X::acc(10, A, K, (5, 2), "7").ok(),
        X::acc(11, B, K, (5, 2), "7").ok(),
        X::acc(12, C, K, (5, 2), "7").ok(),
        X::learn(13, A, K, (5, 2), "7").learned(),
        X::learn(14, B, K, (5, 2), "7").learned(),
        X::learn(15, C, K, (5, 2), "7").learned(),
    ])
}

/// S01 mirror: acc(1,3) reaches A, B before prep(5), so P2 must send acc(5,3)
/// (or, when `buggy`, sends its own 7).
fn s01_mirror(buggy: bool) -> Vec<Exchange> {
    let v2 = if buggy { "7" } else { "3" };
    log(vec![
        X::prep(1, A, K, (1, 1)).granted(None),
        X::prep(2, B, K, (1, 1)).granted(None),
        X::prep(3, C, K, (5, 2)).granted(None),
        X::acc(4, A, K, (1, 1), "3").ok(),
        X::acc(5, B, K, (1, 1), "3").ok(),
        X::prep(6, A, K, (5, 2)).granted(Some(((1, 1), "3"))),
        X::prep(7, B, K, (5, 2)).granted(Some(((1, 1), "3"))),
        X::learn(8, A, K, (1, 1), "3").learned(),
        X::acc(9, A, K, (5, 2), v2).ok(),
        X::acc(10, B, K, (5, 2), v2).ok(),
        X::acc(11, C, K, (5, 2), v2).ok(),
    ])
}

fn s01_history(p2_returns: &str) -> Vec<Event> {
    vec![
        ev(0, 1, 1, EventType::Invoke, "propose", K, json!("3")),
        ev(1, 2, 2, EventType::Invoke, "propose", K, json!("7")),
        ev(2, 1_000, 1, EventType::Fail, "propose", K, json!("3")),
        ev(3, 1_000, 2, EventType::Ok, "propose", K, json!(p2_returns)),
    ]
}

#[test]
fn s01_both_orders() {
    let finals: Vec<Snapshot> = [A, B, C]
        .map(|n| {
            snapshot(
                1_000,
                n,
                SnapshotReason::Final,
                &[(K, (Some((5, 2)), Some(((5, 2), "7")), Some("7")))],
            )
        })
        .to_vec();
    assert_eq!(all(3, &s01(), &finals, &s01_history("7")), vec![]);
    assert_eq!(all(3, &s01_mirror(false), &[], &s01_history("3")), vec![]);
    // The mirror with P2 ignoring the reported proposal: 3 was chosen at
    // 1.1, and 7 is proposed, then chosen, at 5.2.
    let found = all(3, &s01_mirror(true), &[], &[]);
    let names: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "chosen-unique",
            "p2b-chosen-value-persists",
            "p2c-justified-accept"
        ]
    );
    assert_eq!(
        found[2].1,
        vec![3, 6, 7, 9],
        "P2's promises and its first accept"
    );
}

/// S02: A, B accepted (5.2, "7"), the accept to C is held; P3 proposes 6 at
/// 9.3 and must send acc(9, 7); the late acc(5, 7) to C is rejected.
#[test]
fn s02_the_exercise() {
    let xs = log(vec![
        X::prep(1, A, K, (5, 2)).granted(None),
        X::prep(2, B, K, (5, 2)).granted(None),
        X::prep(3, C, K, (5, 2)).granted(None),
        X::acc(4, A, K, (5, 2), "7").ok(),
        X::acc(5, B, K, (5, 2), "7").ok(),
        // Held by the proxy until after C promised 9.3.
        X::acc(6, C, K, (5, 2), "7")
            .reply(false, (9, 3))
            .at(60, Some(125), Some(126)),
        X::prep(10, A, K, (9, 3)).granted(Some(((5, 2), "7"))),
        X::prep(11, B, K, (9, 3)).granted(Some(((5, 2), "7"))),
        X::prep(12, C, K, (9, 3)).granted(None),
        X::acc(13, A, K, (9, 3), "7").ok(),
        X::acc(14, B, K, (9, 3), "7").ok(),
        X::acc(15, C, K, (9, 3), "7").ok(),
    ]);
    let finals: Vec<Snapshot> = [A, B, C]
        .map(|n| {
            snapshot(
                1_000,
                n,
                SnapshotReason::Final,
                &[(K, (Some((9, 3)), Some(((9, 3), "7")), None))],
            )
        })
        .to_vec();
    let history = vec![
        ev(0, 1, 2, EventType::Invoke, "propose", K, json!("7")),
        ev(1, 2, 3, EventType::Invoke, "propose", K, json!("6")),
        ev(2, 999, 3, EventType::Ok, "propose", K, json!("7")),
        ev(3, 999, 2, EventType::Info, "propose", K, json!("7")),
    ];
    assert_eq!(all(3, &xs, &finals, &history), vec![]);
}

/// S04: 甲 (1.1, "1") and 乙 (2.2, "2") interleave; and the mirror where B
/// accepts (1, 1) before prep(2), so 乙 must send acc(2, "1").
#[test]
fn s04_interleaving_both_orders() {
    let xs = log(vec![
        X::prep(1, A, K, (1, 1)).granted(None),
        X::prep(2, B, K, (1, 1)).granted(None),
        X::prep(3, B, K, (2, 2)).granted(None),
        X::prep(4, C, K, (2, 2)).granted(None),
        X::acc(5, A, K, (1, 1), "1").ok(),
        X::acc(6, B, K, (1, 1), "1").reply(false, (2, 2)),
        X::acc(7, B, K, (2, 2), "2").ok(),
        X::acc(8, C, K, (2, 2), "2").ok(),
    ]);
    let history = vec![
        ev(0, 1, 1, EventType::Invoke, "propose", K, json!("1")),
        ev(1, 2, 2, EventType::Invoke, "propose", K, json!("2")),
        ev(2, 999, 1, EventType::Info, "propose", K, json!("1")),
        ev(3, 999, 2, EventType::Ok, "propose", K, json!("2")),
    ];
    assert_eq!(all(3, &xs, &[], &history), vec![]);
    // 甲 reporting ok(1) would return a value that was never chosen.
    let mut lying = history.clone();
    lying[2].kind = EventType::Ok;
    let found = all(3, &xs, &[], &lying);
    assert_eq!(found, vec![("learners-agree".to_string(), vec![7, 8])]);

    let mirror = log(vec![
        X::prep(1, A, K, (1, 1)).granted(None),
        X::prep(2, B, K, (1, 1)).granted(None),
        X::acc(3, A, K, (1, 1), "1").ok(),
        X::acc(4, B, K, (1, 1), "1").ok(),
        X::prep(5, B, K, (2, 2)).granted(Some(((1, 1), "1"))),
        X::prep(6, C, K, (2, 2)).granted(None),
        X::acc(7, B, K, (2, 2), "1").ok(),
        X::acc(8, C, K, (2, 2), "1").ok(),
    ]);
    let history = vec![
        ev(0, 1, 1, EventType::Invoke, "propose", K, json!("1")),
        ev(1, 2, 2, EventType::Invoke, "propose", K, json!("2")),
        ev(2, 999, 1, EventType::Ok, "propose", K, json!("1")),
        ev(3, 999, 2, EventType::Ok, "propose", K, json!("1")),
    ];
    assert_eq!(all(3, &mirror, &[], &history), vec![]);
}

/// S06: acc(5, 7) reaches A and is held to B, C; P3 runs 9.3 with {B, C}
/// and chooses 6; the released accepts are rejected.
#[test]
fn s06_in_flight_accept_fenced() {
    let xs = log(vec![
        X::prep(1, A, K, (5, 2)).granted(None),
        X::prep(2, B, K, (5, 2)).granted(None),
        X::prep(3, C, K, (5, 2)).granted(None),
        X::acc(4, A, K, (5, 2), "7").ok(),
        X::acc(5, B, K, (5, 2), "7")
            .reply(false, (9, 3))
            .at(50, Some(200), Some(201)),
        X::acc(6, C, K, (5, 2), "7")
            .reply(false, (9, 3))
            .at(60, Some(210), Some(211)),
        X::prep(10, B, K, (9, 3)).granted(None),
        X::prep(11, C, K, (9, 3)).granted(None),
        X::acc(12, B, K, (9, 3), "6").ok(),
        X::acc(13, C, K, (9, 3), "6").ok(),
    ]);
    let history = proposes(&[
        (2, K, "7", EventType::Info, None),
        (3, K, "6", EventType::Ok, Some("6")),
    ]);
    assert_eq!(all(3, &xs, &[], &history), vec![]);
}

/// S12 (5 nodes): A, B accept (5, 7); C, D, E choose 6 at 8; P9 prepares
/// {A, B, C} and must propose 6 (highest ballot), not 7 (most votes).
fn s12(p9_value: &str) -> Vec<Exchange> {
    log(vec![
        X::prep(1, A, K, (5, 5)).granted(None),
        X::prep(2, B, K, (5, 5)).granted(None),
        X::prep(3, C, K, (5, 5)).granted(None),
        X::acc(4, A, K, (5, 5), "7").ok(),
        X::acc(5, B, K, (5, 5), "7").ok(),
        X::prep(6, C, K, (8, 8)).granted(None),
        X::prep(7, D, K, (8, 8)).granted(None),
        X::prep(8, E, K, (8, 8)).granted(None),
        X::acc(9, C, K, (8, 8), "6").ok(),
        X::acc(10, D, K, (8, 8), "6").ok(),
        X::acc(11, E, K, (8, 8), "6").ok(),
        X::prep(12, A, K, (9, 9)).granted(Some(((5, 5), "7"))),
        X::prep(13, B, K, (9, 9)).granted(Some(((5, 5), "7"))),
        X::prep(14, C, K, (9, 9)).granted(Some(((8, 8), "6"))),
        X::acc(15, A, K, (9, 9), p9_value).ok(),
        X::acc(16, B, K, (9, 9), p9_value).ok(),
        X::acc(17, C, K, (9, 9), p9_value).ok(),
    ])
}

#[test]
fn s12_highest_ballot_not_most_votes() {
    assert_eq!(all(5, &s12("6"), &[], &[]), vec![]);
    let found = all(5, &s12("7"), &[], &[]);
    assert!(
        found.contains(&("p2c-justified-accept".to_string(), vec![12, 13, 14, 15])),
        "{found:?}"
    );
    let names: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "chosen-unique",
            "p2b-chosen-value-persists",
            "p2c-justified-accept"
        ]
    );
}

// ---- simulated runs -----------------------------------------------------------

struct Simulated {
    log: MessageLog,
    history: Vec<Event>,
    snapshots: Vec<Snapshot>,
}

fn simulate(cfg: &synth::Config) -> Simulated {
    let (mut m, mut h, mut s) = (Vec::new(), Vec::new(), Vec::new());
    synth::generate(cfg, &mut m, &mut h, &mut s).expect("generate");
    let lines = |b: &[u8]| -> Vec<String> {
        String::from_utf8(b.to_vec())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    Simulated {
        log: MessageLog::read(&m[..]).expect("parse the simulated log"),
        history: lines(&h)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        snapshots: lines(&s)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    }
}

/// Names of the properties with violations, and the checkers' validity.
fn verdict(sim: &Simulated, nodes: usize) -> (Vec<String>, Validity, Validity) {
    let e = Evidence::new(&sim.log, &sim.snapshots, &sim.history, nodes);
    let mut names: Vec<String> = Property::ALL
        .into_iter()
        .filter(|p| !p.check(&e).is_empty())
        .map(|p| p.name().to_string())
        .collect();
    names.sort();
    (names, check_paxos(&e).valid, check_learners(&e).valid)
}

#[test]
fn a_correct_cluster_is_never_flagged() {
    for seed in 0..6 {
        for (nodes, window) in [(3, 2), (5, 1), (4, 3)] {
            let cfg = synth::Config {
                nodes,
                window,
                exchanges: 6_000,
                restart_every: 700,
                fault_percent: 25,
                seed,
                ..synth::Config::default()
            };
            let sim = simulate(&cfg);
            assert_eq!(
                verdict(&sim, nodes),
                (vec![], Validity::Valid, Validity::Valid),
                "seed {seed}, {nodes} nodes"
            );
        }
    }
}

#[test]
fn simulated_bugs_are_caught() {
    let cases = [
        (synth::Bug::ProposerIgnoresAccepted, "p2c-justified-accept"),
        (synth::Bug::AcceptorForgetsOnRestart, "durability"),
        (synth::Bug::AcceptorForgetsOnRestart, "p1a-promise-order"),
        (synth::Bug::AcceptBelowPromise, "p1a-promise-order"),
    ];
    for (bug, property) in cases {
        let cfg = synth::Config {
            exchanges: 20_000,
            window: 1,
            restart_every: 1_000,
            bug: Some(bug),
            ..synth::Config::default()
        };
        let sim = simulate(&cfg);
        let (names, paxos, _) = verdict(&sim, 3);
        assert!(names.contains(&property.to_string()), "{bug:?}: {names:?}");
        assert_eq!(paxos, Validity::Invalid, "{bug:?}");
    }
}

#[test]
fn simulated_records_rebuild_exactly() {
    let cfg = synth::Config {
        exchanges: 3_000,
        fault_percent: 40,
        ..synth::Config::default()
    };
    let (mut m, mut h, mut s) = (Vec::new(), Vec::new(), Vec::new());
    synth::generate(&cfg, &mut m, &mut h, &mut s).unwrap();
    let log = MessageLog::read(&m[..]).unwrap();
    let text = String::from_utf8(m).unwrap();
    assert_eq!(log.len(), text.lines().count());
    for (i, line) in text.lines().enumerate() {
        let original: Exchange = serde_json::from_str(line).unwrap();
        assert_eq!(log.exchange(i as u32), original, "line {}", i + 1);
    }
}

#[test]
fn explanations_say_what_was_chosen_and_when() {
    let xs = log(vec![
        X::acc(1, A, K, (1, 1), "a").ok(),
        X::acc(2, B, K, (1, 1), "a").ok(),
    ]);
    let history = vec![
        ev(0, 0, 1, EventType::Invoke, "propose", K, json!("a")),
        ev(1, 15, 1, EventType::Ok, "propose", K, json!("a")),
    ];
    let log = MessageLog::from_exchanges(&xs);
    let e = Evidence::new(&log, &[], &history, 3);
    let found = Property::LearnersAgree.check(&e);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].explanation,
        "Process 1 completed propose with value \"a\" at time 15, but the message log does not \
         show a majority accepting \"a\" by then; \"a\" was chosen only later (a majority had \
         accepted it at ballot 1.1 by time 22). An operation may only return a chosen value."
    );
    assert_eq!(
        found[0].source,
        "Lamport, Paxos Made Simple, §2.1 (a process never learns that a value has been chosen \
         unless it actually has been) and §2.3"
    );
}

#[test]
fn explanations_name_the_proposing_node_when_nodes_propose() {
    // Node 2 proposes for client process 7 (protocol v1.1): the client's
    // /v1/propose is in the log, and the accepts come from node 2.
    let from_node = |x: X| {
        let mut x = x.process(Some(7));
        x.0.from = C;
        x
    };
    let mut propose = X::new(0, C, "/v1/propose", json!({"key": K, "value": "b"}), 7);
    propose.0.from = C;
    let xs = log(vec![
        propose,
        X::acc(1, A, K, (1, 1), "a").ok(),
        X::acc(2, B, K, (1, 1), "a").ok(),
        from_node(X::acc(3, A, K, (2, 2), "b").ok()),
    ]);
    let log = MessageLog::from_exchanges(&xs);
    assert!(log.nodes_propose());
    let e = Evidence::new(&log, &[], &[], 3);
    let found = Property::P2bChosenValuePersists.check(&e);
    assert_eq!(found.len(), 1);
    assert!(
        found[0]
            .explanation
            .contains("exchange 3 from node 2 (proposing for process 7) asks node 0"),
        "{}",
        found[0].explanation
    );
    // Without a client's /v1/propose, the sender is ballot's client process.
    let log = MessageLog::from_exchanges(&xs[1..]);
    assert!(!log.nodes_propose());
    let e = Evidence::new(&log, &[], &[], 3);
    let found = Property::P2bChosenValuePersists.check(&e);
    assert!(
        found[0].explanation.contains("from process 7 asks"),
        "{}",
        found[0].explanation
    );
}
