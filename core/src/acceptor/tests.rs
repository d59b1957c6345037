use super::*;

fn b(round: u64, proposer: u64) -> Ballot {
    Ballot::new(round, proposer)
}

fn acc(ballot: Ballot, value: &str) -> Accepted {
    Accepted {
        ballot,
        value: value.into(),
    }
}

/// A fresh acceptor with key "k" in the given state.
fn with_state(promised: Option<Ballot>, accepted: Option<Accepted>, bugs: BugSet) -> Acceptor {
    let mut instances = BTreeMap::new();
    if promised.is_some() || accepted.is_some() {
        instances.insert(
            "k".to_owned(),
            InstanceState {
                promised,
                accepted,
                learned: None,
            },
        );
    }
    Acceptor::new(instances, bugs)
}

fn prepare(a: &mut Acceptor, ballot: Ballot) -> (PrepareReply, Option<Change>) {
    a.prepare(&PrepareRequest {
        key: "k".into(),
        ballot,
    })
}

fn accept(a: &mut Acceptor, ballot: Ballot, value: &str) -> (AcceptReply, Option<Change>) {
    a.accept(&AcceptRequest {
        key: "k".into(),
        ballot,
        value: value.into(),
    })
}

fn state(a: &Acceptor) -> InstanceState {
    a.instances().get("k").cloned().unwrap_or_default()
}

fn change(promised: Option<Ballot>, accepted: Option<Accepted>) -> Option<Change> {
    Some(Change {
        key: "k".into(),
        promised,
        accepted,
        learned: None,
    })
}

/// promised, accepted, request ballot; expected ok, promised, accepted, whether it records.
type PrepareRow = (
    Option<Ballot>,
    Option<Accepted>,
    Ballot,
    bool,
    Ballot,
    Option<Accepted>,
    bool,
);
/// promised, accepted, request ballot; expected ok, promised, accepted afterwards.
type AcceptRow = (
    Option<Ballot>,
    Option<Accepted>,
    Ballot,
    bool,
    Ballot,
    Option<Accepted>,
);

#[test]
fn prepare_rules() {
    // (promised, accepted, request) -> (ok, reply.promised, reply.accepted, new promise, record?)
    let a37 = Some(acc(b(3, 7), "x"));
    #[rustfmt::skip]
    let table: Vec<PrepareRow> = vec![
        // no ballot yet: granted, recorded
        (None, None, b(1, 1), true, b(1, 1), None, true),
        // higher ballot: granted, reports the accepted proposal
        (Some(b(3, 7)), a37.clone(), b(4, 1), true, b(4, 1), a37.clone(), true),
        // same round, higher proposer id: granted
        (Some(b(3, 7)), None, b(3, 8), true, b(3, 8), None, true),
        // equal ballot (duplicate prepare): same answer, nothing to persist
        (Some(b(3, 7)), a37.clone(), b(3, 7), true, b(3, 7), a37.clone(), false),
        // lower round: rejected, carries the current promise and accepted
        (Some(b(3, 7)), a37.clone(), b(2, 9), false, b(3, 7), a37.clone(), false),
        // same round, lower proposer id: rejected
        (Some(b(3, 7)), None, b(3, 6), false, b(3, 7), None, false),
    ];
    for (i, (promised, accepted, ballot, ok, reply_promised, reply_accepted, records)) in
        table.into_iter().enumerate()
    {
        let mut a = with_state(promised, accepted.clone(), BugSet::NONE);
        let (reply, ch) = prepare(&mut a, ballot);
        assert_eq!(
            reply,
            PrepareReply {
                ok,
                promised: reply_promised,
                accepted: reply_accepted
            },
            "row {i}"
        );
        assert_eq!(
            ch,
            if records {
                change(Some(ballot), None)
            } else {
                None
            },
            "row {i}"
        );
        assert_eq!(state(&a).promised, Some(reply_promised), "row {i}");
        assert_eq!(
            state(&a).accepted,
            accepted,
            "row {i}: prepare never changes accepted"
        );
    }
}

#[test]
fn accept_rules() {
    // (promised, accepted, request ballot) -> (ok, reply.promised, new accepted)
    let a37 = Some(acc(b(3, 7), "x"));
    #[rustfmt::skip]
    let table: Vec<AcceptRow> = vec![
        // no ballot yet: granted, and accepting raises the promise
        (None, None, b(1, 1), true, b(1, 1), Some(acc(b(1, 1), "v"))),
        // equal to the promise (accept after its own prepare): granted
        (Some(b(3, 7)), None, b(3, 7), true, b(3, 7), Some(acc(b(3, 7), "v"))),
        // above the promise: granted, replaces the lower accepted proposal
        (Some(b(3, 7)), a37.clone(), b(5, 1), true, b(5, 1), Some(acc(b(5, 1), "v"))),
        // below the promise: rejected with the promise, state unchanged
        (Some(b(3, 7)), None, b(2, 9), false, b(3, 7), None),
        (Some(b(4, 1)), a37.clone(), b(3, 7), false, b(4, 1), a37.clone()),
    ];
    for (i, (promised, accepted, ballot, ok, reply_promised, new_accepted)) in
        table.into_iter().enumerate()
    {
        let mut a = with_state(promised, accepted.clone(), BugSet::NONE);
        let (reply, ch) = accept(&mut a, ballot, "v");
        assert_eq!(
            reply,
            AcceptReply {
                ok,
                promised: reply_promised
            },
            "row {i}"
        );
        assert_eq!(state(&a).promised, Some(reply_promised), "row {i}");
        assert_eq!(state(&a).accepted, new_accepted, "row {i}");
        if ok {
            let expected_promise = (promised != Some(ballot)).then_some(ballot);
            assert_eq!(ch, change(expected_promise, new_accepted), "row {i}");
        } else {
            assert_eq!(ch, None, "row {i}");
        }
    }
}

#[test]
fn duplicate_accept_is_granted_without_a_record() {
    let mut a = with_state(None, None, BugSet::NONE);
    assert!(accept(&mut a, b(2, 1), "v").1.is_some());
    let (reply, ch) = accept(&mut a, b(2, 1), "v");
    assert_eq!(
        reply,
        AcceptReply {
            ok: true,
            promised: b(2, 1)
        }
    );
    assert_eq!(ch, None);
}

#[test]
fn accept_raises_the_promise_so_later_prepares_see_it() {
    let mut a = with_state(Some(b(1, 1)), None, BugSet::NONE);
    accept(&mut a, b(5, 2), "v");
    let (reply, _) = prepare(&mut a, b(4, 9));
    assert!(!reply.ok);
    assert_eq!(reply.promised, b(5, 2));
    assert_eq!(reply.accepted, Some(acc(b(5, 2), "v")));
}

#[test]
fn keys_are_independent() {
    let mut a = Acceptor::default();
    prepare(&mut a, b(9, 9));
    let (reply, _) = a.prepare(&PrepareRequest {
        key: "other".into(),
        ballot: b(1, 1),
    });
    assert!(reply.ok);
}

#[test]
fn learn_rules() {
    let mut a = Acceptor::default();
    let learn = |value: &str| LearnRequest {
        key: "k".into(),
        ballot: b(1, 1),
        value: value.into(),
    };
    assert_eq!(
        a.learn(&learn("v")),
        Ok(Some(Change {
            key: "k".into(),
            promised: None,
            accepted: None,
            learned: Some("v".into())
        }))
    );
    // the same value again: fine, nothing new to persist
    assert_eq!(a.learn(&learn("v")), Ok(None));
    // a different value: conflict, the first one stays
    assert_eq!(
        a.learn(&learn("w")),
        Err(LearnConflict {
            key: "k".into(),
            learned: "v".into(),
            offered: "w".into()
        })
    );
    assert_eq!(state(&a).learned.as_deref(), Some("v"));
    // learning touches neither promise nor acceptance
    assert_eq!(state(&a).promised, None);
    assert_eq!(state(&a).accepted, None);
}

#[test]
fn replaying_changes_rebuilds_the_state() {
    let mut a = Acceptor::default();
    let mut log = Vec::new();
    let mut step = |ch: Option<Change>| log.extend(ch);
    step(prepare(&mut a, b(1, 1)).1);
    step(accept(&mut a, b(1, 1), "x").1);
    step(prepare(&mut a, b(3, 2)).1);
    step(prepare(&mut a, b(2, 2)).1);
    step(accept(&mut a, b(4, 4), "y").1);
    step(
        a.learn(&LearnRequest {
            key: "k".into(),
            ballot: b(4, 4),
            value: "y".into(),
        })
        .unwrap(),
    );
    let mut replayed = BTreeMap::new();
    for ch in &log {
        apply_change(&mut replayed, ch);
    }
    assert_eq!(&replayed, a.instances());
    let mut from_snapshot = BTreeMap::new();
    apply_change(&mut from_snapshot, &Change::snapshot("k", &state(&a)));
    assert_eq!(&from_snapshot, a.instances());
}

#[test]
fn bug_accept_below_promise_grants_only_the_below_promise_case() {
    let bugs = BugSet::of(&[NodeBug::AcceptBelowPromise]);
    // below the promise, nothing accepted: granted (correct node rejects)
    let mut a = with_state(Some(b(3, 7)), None, bugs);
    assert!(accept(&mut a, b(2, 9), "v").0.ok);
    // below the promise but above the accepted ballot: granted too
    let mut a = with_state(Some(b(5, 1)), Some(acc(b(3, 7), "x")), bugs);
    assert!(accept(&mut a, b(4, 1), "v").0.ok);
    // below the accepted ballot: still rejected
    let mut a = with_state(Some(b(5, 1)), Some(acc(b(3, 7), "x")), bugs);
    assert_eq!(
        accept(&mut a, b(2, 1), "v").0,
        AcceptReply {
            ok: false,
            promised: b(5, 1)
        }
    );
    // prepare is unchanged
    let mut a = with_state(Some(b(3, 7)), None, bugs);
    assert!(!prepare(&mut a, b(2, 9)).0.ok);
}

#[test]
fn bug_accept_keeps_promise_lets_a_lower_accept_overwrite() {
    let bugs = BugSet::of(&[NodeBug::AcceptKeepsPromise]);
    let mut a = with_state(Some(b(1, 1)), None, bugs);
    let (reply, ch) = accept(&mut a, b(5, 5), "high");
    assert_eq!(
        reply,
        AcceptReply {
            ok: true,
            promised: b(1, 1)
        }
    );
    assert_eq!(ch, change(None, Some(acc(b(5, 5), "high"))));
    assert_eq!(state(&a).promised, Some(b(1, 1)));
    // a delayed lower accept overwrites the higher proposal
    assert!(accept(&mut a, b(2, 2), "low").0.ok);
    assert_eq!(state(&a).accepted, Some(acc(b(2, 2), "low")));
    // accepts below the promise are still rejected, prepares unchanged
    assert!(!accept(&mut a, b(1, 0), "v").0.ok);
    assert!(prepare(&mut a, b(3, 3)).0.ok);
}

#[test]
fn bug_prepare_reports_first_keeps_the_first_acceptance() {
    let bugs = BugSet::of(&[NodeBug::PrepareReportsFirst]);
    let mut a = with_state(None, None, bugs);
    assert!(accept(&mut a, b(1, 1), "first").0.ok);
    let (reply, ch) = accept(&mut a, b(4, 2), "second");
    // the accept is acknowledged and raises the promise ...
    assert_eq!(
        reply,
        AcceptReply {
            ok: true,
            promised: b(4, 2)
        }
    );
    assert_eq!(ch, change(Some(b(4, 2)), None));
    // ... but prepare reports the first proposal, not the highest
    let (reply, _) = prepare(&mut a, b(6, 1));
    assert_eq!(reply.accepted, Some(acc(b(1, 1), "first")));
    // below-promise accepts are still rejected
    assert!(!accept(&mut a, b(5, 1), "v").0.ok);
}

#[test]
fn no_bug_flag_changes_the_correct_path_for_ordinary_rounds() {
    // One prepare + accept on a fresh key behaves identically under every bug.
    for bug in NodeBug::ALL {
        let mut a = with_state(None, None, BugSet::of(&[bug]));
        let mut correct = Acceptor::default();
        assert_eq!(
            prepare(&mut a, b(1, 1)),
            prepare(&mut correct, b(1, 1)),
            "{bug}"
        );
        assert_eq!(
            accept(&mut a, b(1, 1), "v"),
            accept(&mut correct, b(1, 1), "v"),
            "{bug}"
        );
    }
}
