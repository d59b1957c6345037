//! The proposer state machine driven through scripted interleavings.

use super::*;
use crate::protocol::RequestKind;
use crate::protocol::{AcceptReply, Accepted, Ballot, PrepareReply};

const ID: u64 = 3;

fn config(n: usize, attempts: u32, bugs: &[ClientBug]) -> ProposerConfig {
    ProposerConfig {
        id: ID,
        acceptors: n,
        max_attempts: attempts,
        bugs: bugs.to_vec(),
    }
}

fn propose(n: usize, bugs: &[ClientBug]) -> Proposer {
    Proposer::new(config(n, 1, bugs), Goal::Propose("mine".into()), 0)
}

fn read(n: usize, bugs: &[ClientBug]) -> Proposer {
    Proposer::new(config(n, 1, bugs), Goal::Read, 0)
}

fn b(round: u64, proposer: u64) -> Ballot {
    Ballot::new(round, proposer)
}

fn promise(from: u64, ballot: Ballot, accepted: Option<(Ballot, &str)>) -> Event {
    Event::Prepare {
        from,
        ballot,
        reply: PrepareReply {
            ok: true,
            promised: ballot,
            accepted: accepted.map(|(ballot, value)| Accepted {
                ballot,
                value: value.into(),
            }),
        },
    }
}

fn refuse(from: u64, ballot: Ballot, promised: Ballot) -> Event {
    Event::Prepare {
        from,
        ballot,
        reply: PrepareReply {
            ok: false,
            promised,
            accepted: None,
        },
    }
}

fn ack(from: u64, ballot: Ballot) -> Event {
    Event::Accept {
        from,
        ballot,
        reply: AcceptReply {
            ok: true,
            promised: ballot,
        },
    }
}

fn nack(from: u64, ballot: Ballot, promised: Ballot) -> Event {
    Event::Accept {
        from,
        ballot,
        reply: AcceptReply {
            ok: false,
            promised,
        },
    }
}

fn lost(from: u64, ballot: Ballot, phase: RequestKind) -> Event {
    Event::NoReply {
        from,
        ballot,
        phase,
    }
}

fn refused(from: u64, ballot: Ballot, phase: RequestKind) -> Event {
    Event::NotDelivered {
        from,
        ballot,
        phase,
        cause: Undelivered::Refused,
    }
}

fn not_sent(from: u64, ballot: Ballot) -> Event {
    Event::NotDelivered {
        from,
        ballot,
        phase: RequestKind::Accept,
        cause: Undelivered::NotSent,
    }
}

fn accept(ballot: Ballot, value: &str) -> Action {
    Action::SendAccept {
        ballot,
        value: value.into(),
    }
}

fn chosen(ballot: Ballot, value: &str) -> Action {
    Action::Chosen {
        ballot,
        value: value.into(),
    }
}

/// Feeds events in order and returns the action after each.
fn run(p: &mut Proposer, events: Vec<Event>) -> Vec<Action> {
    events.into_iter().map(|e| p.handle(e)).collect()
}

#[test]
fn a_clean_round_chooses_its_own_value() {
    let mut p = propose(3, &[]);
    assert_eq!(p.begin_attempt(), Some(b(1, ID)));
    let one = b(1, ID);
    let actions = run(
        &mut p,
        vec![
            promise(0, one, None),
            promise(2, one, None),
            ack(1, one),
            ack(0, one),
        ],
    );
    assert_eq!(
        actions,
        vec![
            Action::Wait,
            accept(one, "mine"),
            Action::Wait,
            chosen(one, "mine")
        ]
    );
    // Over: no more attempts, stragglers ignored.
    assert_eq!(p.begin_attempt(), None);
    assert_eq!(p.handle(ack(2, one)), Action::Wait);
}

#[test]
fn quorums_need_n_over_2_plus_1_distinct_acceptors() {
    for n in 1..=7usize {
        let q = n / 2 + 1;
        let mut p = propose(n, &[]);
        let ballot = p.begin_attempt().unwrap();
        for from in 0..q as u64 - 1 {
            assert_eq!(p.handle(promise(from, ballot, None)), Action::Wait, "n={n}");
            // A duplicate reply from the same acceptor counts once.
            assert_eq!(
                p.handle(promise(from, ballot, None)),
                Action::Wait,
                "n={n} dup"
            );
        }
        assert_eq!(
            p.handle(promise(q as u64 - 1, ballot, None)),
            accept(ballot, "mine"),
            "n={n}"
        );
        for from in 0..q as u64 - 1 {
            assert_eq!(p.handle(ack(from, ballot)), Action::Wait, "n={n}");
            assert_eq!(p.handle(ack(from, ballot)), Action::Wait, "n={n} dup");
        }
        assert_eq!(
            p.handle(ack(q as u64 - 1, ballot)),
            chosen(ballot, "mine"),
            "n={n}"
        );
    }
}

#[test]
fn replies_from_unknown_acceptors_or_other_ballots_are_ignored() {
    let mut p = propose(3, &[]);
    let one = p.begin_attempt().unwrap();
    let actions = run(
        &mut p,
        vec![
            promise(7, one, None),
            promise(0, b(9, 9), None),
            promise(1, one, None),
            ack(0, one), // no accept sent yet at this ballot
        ],
    );
    assert_eq!(actions, vec![Action::Wait; 4]);
    assert_eq!(p.handle(promise(2, one, None)), accept(one, "mine"));
}

#[test]
fn s12_phase_2_proposes_the_highest_ballot_value() {
    // 5 nodes: A,B accepted (5,7); C,D,E chose 6 at 8; P9 hears A,B,C.
    let mut p = Proposer::new(config(5, 1, &[]), Goal::Propose("9".into()), 8);
    let ballot = p.begin_attempt().unwrap();
    assert_eq!(ballot, b(9, ID));
    let actions = run(
        &mut p,
        vec![
            promise(0, ballot, Some((b(5, 1), "7"))),
            promise(1, ballot, Some((b(5, 1), "7"))),
            promise(2, ballot, Some((b(8, 2), "6"))),
        ],
    );
    assert_eq!(actions.last(), Some(&accept(ballot, "6")));
}

#[test]
fn rejections_move_the_next_ballot_above_their_promise() {
    let mut p = Proposer::new(config(3, 2, &[]), Goal::Propose("mine".into()), 0);
    let one = p.begin_attempt().unwrap();
    let actions = run(
        &mut p,
        vec![
            refuse(0, one, b(7, 1)),
            promise(1, one, None),
            refuse(2, one, b(4, 9)),
        ],
    );
    assert_eq!(
        actions,
        vec![Action::Wait, Action::Wait, Action::AttemptFailed]
    );
    assert_eq!(
        p.last_failure(),
        "prepare 1.3: 1 promised, 2 rejected, 0 no answer, 0 not delivered of 3 (quorum 2)"
    );
    assert_eq!(p.begin_attempt(), Some(b(8, ID)));
    assert_eq!(p.round_floor(), 8);
    // Out of attempts after the second.
    let two = b(8, ID);
    run(
        &mut p,
        vec![
            lost(0, two, RequestKind::Prepare),
            lost(1, two, RequestKind::Prepare),
        ],
    );
    assert!(!p.attempts_left());
    assert_eq!(p.begin_attempt(), None);
}

#[test]
fn accept_rejections_fail_the_attempt_once_a_quorum_is_impossible() {
    let mut p = Proposer::new(config(3, 2, &[]), Goal::Propose("mine".into()), 0);
    let one = p.begin_attempt().unwrap();
    let actions = run(
        &mut p,
        vec![
            promise(0, one, None),
            promise(1, one, None),
            ack(0, one),
            nack(1, one, b(5, 1)),
            nack(2, one, b(6, 1)),
        ],
    );
    assert_eq!(actions[4], Action::AttemptFailed);
    assert_eq!(
        p.last_failure(),
        "accept 1.3: 1 accepted, 2 rejected, 0 no answer, 0 not delivered of 3 (quorum 2)"
    );
    assert_eq!(p.begin_attempt(), Some(b(7, ID)));
}

#[test]
fn a_later_attempt_adopts_what_an_earlier_one_left_behind() {
    // Attempt 1's accept reached node 0 only; attempt 2 hears node 0 report it.
    let mut p = Proposer::new(config(3, 2, &[]), Goal::Propose("mine".into()), 0);
    let one = p.begin_attempt().unwrap();
    run(
        &mut p,
        vec![
            promise(0, one, Some((b(1, 9), "old"))),
            promise(1, one, None),
            ack(0, one),
            lost(1, one, RequestKind::Accept),
            nack(2, one, b(4, 1)),
        ],
    );
    let two = p.begin_attempt().unwrap();
    assert_eq!(two, b(5, ID));
    let actions = run(
        &mut p,
        vec![promise(0, two, Some((one, "old"))), promise(2, two, None)],
    );
    assert_eq!(actions[1], accept(two, "old"));
}

#[test]
fn reads() {
    let one = b(1, ID);
    // Nothing accepted in a quorum: no value yet, no phase 2.
    let mut p = read(3, &[]);
    p.begin_attempt();
    let actions = run(&mut p, vec![promise(0, one, None), promise(1, one, None)]);
    assert_eq!(actions[1], Action::Done(Outcome::Ok(None)));

    // An accepted value is returned only after a quorum accepted it again.
    let mut p = read(3, &[]);
    p.begin_attempt();
    let actions = run(
        &mut p,
        vec![
            promise(0, one, Some((b(5, 1), "7"))),
            promise(1, one, None),
            ack(2, one),
            ack(0, one),
        ],
    );
    assert_eq!(
        actions,
        vec![
            Action::Wait,
            accept(one, "7"),
            Action::Wait,
            chosen(one, "7")
        ]
    );

    // A read that cannot finish phase 2 is not ok.
    let mut p = read(3, &[]);
    p.begin_attempt();
    let actions = run(
        &mut p,
        vec![
            promise(0, one, Some((b(5, 1), "7"))),
            promise(1, one, None),
            ack(0, one),
            lost(1, one, RequestKind::Accept),
            lost(2, one, RequestKind::Accept),
        ],
    );
    assert_eq!(actions[4], Action::AttemptFailed);
    assert!(matches!(p.give_up("test"), Outcome::Info(_)));
}

/// One classification case: events after `begin_attempt` on a 3-node,
/// one-attempt proposer, then `give_up("gave up")`.
fn classify(events: Vec<Event>, bugs: &[ClientBug]) -> Outcome {
    let mut p = propose(3, bugs);
    p.begin_attempt();
    run(&mut p, events);
    p.give_up("gave up")
}

#[test]
fn outcome_classification() {
    let one = b(1, ID);
    let promised = || vec![promise(0, one, None), promise(1, one, None)];
    let with = |mut tail: Vec<Event>| {
        let mut events = promised();
        events.append(&mut tail);
        events
    };
    let fail = |why: &str| Outcome::Fail(format!("gave up; {why}"));
    let info = |why: &str| Outcome::Info(format!("gave up; {why}"));
    // The reasons, pinned literally (the constants in `reason` must match).
    let unsent = fail("no accept request was sent");
    let undelivered = fail("no accept request was delivered");
    let delivered_rejected = fail("every accept that was delivered was rejected");
    let all_rejected = fail("every accept was rejected");
    let minority = info("an acceptor accepted it but no quorum did: it may still be chosen");
    let no_reply = info("an accept got no answer: it may have taken effect");
    let in_flight = info("an accept is still in flight: it may take effect");
    let table: Vec<(&str, Vec<Event>, Outcome)> = vec![
        (
            "no reply to any prepare",
            vec![
                lost(0, one, RequestKind::Prepare),
                lost(1, one, RequestKind::Prepare),
            ],
            unsent.clone(),
        ),
        (
            "prepare refused by a quorum",
            vec![refuse(0, one, b(5, 1)), refuse(2, one, b(5, 1))],
            unsent.clone(),
        ),
        (
            "prepares not delivered",
            vec![
                refused(0, one, RequestKind::Prepare),
                refused(1, one, RequestKind::Prepare),
            ],
            unsent.clone(),
        ),
        (
            "promised, accept not answered yet",
            promised(),
            in_flight.clone(),
        ),
        (
            "promised, the driver never sent the accepts (S05's P2)",
            with(vec![not_sent(0, one), not_sent(1, one), not_sent(2, one)]),
            unsent.clone(),
        ),
        (
            "promised, two accepts never sent, one still in flight",
            with(vec![not_sent(0, one), not_sent(1, one)]),
            in_flight.clone(),
        ),
        (
            "every accept refused (nodes down, proxy 502)",
            with(vec![
                refused(0, one, RequestKind::Accept),
                refused(1, one, RequestKind::Accept),
                refused(2, one, RequestKind::Accept),
            ]),
            undelivered.clone(),
        ),
        (
            "accepts refused or never sent",
            with(vec![
                refused(0, one, RequestKind::Accept),
                not_sent(1, one),
                not_sent(2, one),
            ]),
            undelivered.clone(),
        ),
        (
            "every accept explicitly rejected",
            with(vec![
                nack(0, one, b(5, 1)),
                nack(1, one, b(5, 1)),
                nack(2, one, b(5, 1)),
            ]),
            all_rejected.clone(),
        ),
        (
            "two rejected, one refused",
            with(vec![
                nack(0, one, b(5, 1)),
                refused(1, one, RequestKind::Accept),
                nack(2, one, b(5, 1)),
            ]),
            delivered_rejected.clone(),
        ),
        (
            "one rejected, two never sent",
            with(vec![
                nack(0, one, b(5, 1)),
                not_sent(1, one),
                not_sent(2, one),
            ]),
            delivered_rejected.clone(),
        ),
        (
            "two rejected, third unanswered",
            with(vec![nack(0, one, b(5, 1)), nack(2, one, b(5, 1))]),
            in_flight.clone(),
        ),
        (
            "two rejected, third timed out",
            with(vec![
                nack(0, one, b(5, 1)),
                nack(2, one, b(5, 1)),
                lost(1, one, RequestKind::Accept),
            ]),
            no_reply.clone(),
        ),
        (
            "one timed out, the others never sent",
            with(vec![
                lost(0, one, RequestKind::Accept),
                not_sent(1, one),
                not_sent(2, one),
            ]),
            no_reply.clone(),
        ),
        (
            "accepted by a minority",
            with(vec![
                ack(0, one),
                lost(1, one, RequestKind::Accept),
                lost(2, one, RequestKind::Accept),
            ]),
            minority.clone(),
        ),
        (
            "accepted by one, the others never sent",
            with(vec![ack(2, one), not_sent(0, one), not_sent(1, one)]),
            minority.clone(),
        ),
        (
            "a duplicate answer counts once: the first stands",
            with(vec![
                nack(0, one, b(5, 1)),
                ack(0, one),
                not_sent(1, one),
                not_sent(2, one),
                lost(1, one, RequestKind::Accept),
            ]),
            delivered_rejected.clone(),
        ),
        (
            "not-sent for a ballot never asked for is ignored",
            vec![not_sent(0, one), not_sent(1, one), not_sent(2, one)],
            unsent.clone(),
        ),
    ];
    for (case, events, expected) in table {
        assert_eq!(classify(events.clone(), &[]), expected, "{case}");
        // minority-fail changes only the cases with an ack; the others stay.
        let buggy = classify(events, &[ClientBug::MinorityFail]);
        if expected == minority {
            assert_eq!(buggy, fail("accepted by a minority only"), "{case}");
        } else {
            assert_eq!(buggy, expected, "{case} (minority-fail)");
        }
    }
}

#[test]
fn reasons_add_up_over_every_attempt() {
    // Attempt 1: A rejects, B and C are down (refused). Attempt 2: its
    // accepts are never sent. Certain: nothing was accepted.
    let mut p = Proposer::new(config(3, 2, &[]), Goal::Propose("mine".into()), 0);
    let one = p.begin_attempt().unwrap();
    let actions = run(
        &mut p,
        vec![
            promise(0, one, None),
            promise(1, one, None),
            nack(0, one, b(2, 1)),
            refused(1, one, RequestKind::Accept),
            refused(2, one, RequestKind::Accept),
        ],
    );
    // The attempt fails once a quorum of acks is impossible; its text is
    // what was known then, the outcome counts the straggler too.
    assert_eq!(actions[3], Action::AttemptFailed);
    assert_eq!(actions[4], Action::Wait);
    assert_eq!(
        p.last_failure(),
        "accept 1.3: 0 accepted, 1 rejected, 0 no answer, 1 not delivered of 3 (quorum 2)"
    );
    let two = p.begin_attempt().unwrap();
    run(
        &mut p,
        vec![
            promise(0, two, None),
            promise(1, two, None),
            not_sent(0, two),
            not_sent(1, two),
            not_sent(2, two),
        ],
    );
    assert_eq!(
        p.accept_summary(),
        AcceptSummary {
            rejected: 1,
            refused: 2,
            not_sent: 3,
            ..AcceptSummary::default()
        }
    );
    assert_eq!(
        p.give_up("x"),
        Outcome::Fail("x; every accept that was delivered was rejected".into())
    );
}

#[test]
fn prepare_failures_count_lost_and_undelivered_apart() {
    let mut p = propose(4, &[]);
    let one = p.begin_attempt().unwrap();
    let actions = run(
        &mut p,
        vec![
            promise(0, one, None),
            lost(1, one, RequestKind::Prepare),
            refused(2, one, RequestKind::Prepare),
        ],
    );
    assert_eq!(actions[2], Action::AttemptFailed);
    assert_eq!(
        p.last_failure(),
        "prepare 1.3: 1 promised, 0 rejected, 1 no answer, 1 not delivered of 4 (quorum 3)"
    );
    assert_eq!(
        p.give_up("no quorum"),
        Outcome::Fail("no quorum; no accept request was sent".into())
    );
}

#[test]
fn an_earlier_attempts_partial_accept_keeps_the_op_indeterminate() {
    let mut p = Proposer::new(config(3, 2, &[]), Goal::Propose("mine".into()), 0);
    let one = p.begin_attempt().unwrap();
    run(
        &mut p,
        vec![
            promise(0, one, None),
            promise(1, one, None),
            ack(0, one),
            nack(1, one, b(2, 1)),
            nack(2, one, b(2, 1)),
        ],
    );
    let two = p.begin_attempt().unwrap();
    run(
        &mut p,
        vec![refuse(0, two, b(9, 1)), refuse(1, two, b(9, 1))],
    );
    assert!(matches!(p.give_up("x"), Outcome::Info(_)));
}

#[test]
fn giving_up_waits_only_for_accept_replies_that_can_prove_failure() {
    let one = b(1, ID);
    let mut p = propose(3, &[]);
    p.begin_attempt();
    assert!(!p.awaiting_decisive_accepts(), "no accept sent");
    run(&mut p, vec![promise(0, one, None), promise(1, one, None)]);
    assert!(p.awaiting_decisive_accepts());
    run(&mut p, vec![nack(0, one, b(2, 1)), nack(1, one, b(2, 1))]);
    assert!(p.awaiting_decisive_accepts(), "the third may still refuse");
    p.handle(nack(2, one, b(2, 1)));
    assert!(!p.awaiting_decisive_accepts(), "all answered");

    let mut p = propose(3, &[]);
    p.begin_attempt();
    run(
        &mut p,
        vec![promise(0, one, None), promise(1, one, None), ack(0, one)],
    );
    assert!(
        !p.awaiting_decisive_accepts(),
        "an ack already makes it info"
    );

    // Refused and never-sent accepts are decisive too; a timeout is not.
    let mut p = propose(3, &[]);
    p.begin_attempt();
    run(
        &mut p,
        vec![
            promise(0, one, None),
            promise(1, one, None),
            refused(0, one, RequestKind::Accept),
            not_sent(1, one),
        ],
    );
    assert!(p.awaiting_decisive_accepts(), "the third may still refuse");
    p.handle(lost(2, one, RequestKind::Accept));
    assert!(!p.awaiting_decisive_accepts(), "a timeout makes it info");
}

/// One probe per bug: a short script whose observable result is what that
/// bug changes. The result is the list of actions plus the final outcome.
fn probe(bug: ClientBug, bugs: &[ClientBug]) -> String {
    let mut p;
    let mut out = Vec::new();
    match bug {
        ClientBug::OwnValue => {
            p = propose(3, bugs);
            let one = p.begin_attempt().unwrap();
            out = run(
                &mut p,
                vec![promise(0, one, Some((b(1, 1), "x"))), promise(1, one, None)],
            );
        }
        ClientBug::MostFrequent => {
            p = Proposer::new(config(5, 1, bugs), Goal::Propose("9".into()), 8);
            let nine = p.begin_attempt().unwrap();
            out = run(
                &mut p,
                vec![
                    promise(0, nine, Some((b(5, 1), "7"))),
                    promise(1, nine, Some((b(5, 1), "7"))),
                    promise(2, nine, Some((b(8, 2), "6"))),
                ],
            );
        }
        ClientBug::SameBallot => {
            p = propose(3, bugs);
            out.push(Action::SendPrepare(p.begin_attempt().unwrap()));
        }
        ClientBug::HalfQuorum => {
            p = propose(4, bugs);
            let one = p.begin_attempt().unwrap();
            out = run(&mut p, vec![promise(0, one, None), promise(1, one, None)]);
        }
        ClientBug::MinorityFail => {
            p = propose(3, bugs);
            let one = p.begin_attempt().unwrap();
            out = run(
                &mut p,
                vec![
                    promise(0, one, None),
                    promise(1, one, None),
                    ack(0, one),
                    lost(1, one, RequestKind::Accept),
                    lost(2, one, RequestKind::Accept),
                ],
            );
        }
        ClientBug::ReadNoPhase2 => {
            p = read(3, bugs);
            let one = p.begin_attempt().unwrap();
            out = run(
                &mut p,
                vec![promise(0, one, Some((b(1, 1), "x"))), promise(1, one, None)],
            );
        }
        ClientBug::LearnFirstAccept => {
            p = propose(3, bugs);
            let one = p.begin_attempt().unwrap();
            out = run(
                &mut p,
                vec![promise(0, one, None), promise(1, one, None), ack(2, one)],
            );
        }
    }
    let outcome = match out.last() {
        Some(Action::Chosen { value, .. }) => Outcome::Ok(Some(value.clone())),
        Some(Action::Done(outcome)) => outcome.clone(),
        _ => p.give_up("probe over"),
    };
    // Ballots are part of the result only where ballot choice is the point;
    // elsewhere same-ballot would change them without changing any decision.
    let shown: Vec<String> = out
        .iter()
        .map(|a| match (bug, a) {
            (ClientBug::SameBallot, _) => format!("{a:?}"),
            (_, Action::SendAccept { value, .. }) => format!("accept {value}"),
            (_, Action::Chosen { value, .. }) => format!("chosen {value}"),
            (_, a) => format!("{a:?}"),
        })
        .collect();
    format!("{shown:?} => {outcome:?}")
}

#[test]
fn each_bug_changes_exactly_what_it_names() {
    let expected_correct = [
        (
            ClientBug::OwnValue,
            r#"["Wait", "accept x"] => Info("probe over; an accept is still in flight: it may take effect")"#,
        ),
        (
            ClientBug::MostFrequent,
            r#"["Wait", "Wait", "accept 6"] => Info("probe over; an accept is still in flight: it may take effect")"#,
        ),
        (
            ClientBug::SameBallot,
            r#"["SendPrepare(Ballot { round: 1, proposer: 3 })"] => Fail("probe over; no accept request was sent")"#,
        ),
        (
            ClientBug::HalfQuorum,
            r#"["Wait", "Wait"] => Fail("probe over; no accept request was sent")"#,
        ),
        (
            ClientBug::MinorityFail,
            r#"["Wait", "accept mine", "Wait", "Wait", "AttemptFailed"] => Info("probe over; an acceptor accepted it but no quorum did: it may still be chosen")"#,
        ),
        (
            ClientBug::ReadNoPhase2,
            r#"["Wait", "accept x"] => Info("probe over; an accept is still in flight: it may take effect")"#,
        ),
        (
            ClientBug::LearnFirstAccept,
            r#"["Wait", "accept mine", "Wait"] => Info("probe over; an acceptor accepted it but no quorum did: it may still be chosen")"#,
        ),
    ];
    let expected_buggy = [
        (
            ClientBug::OwnValue,
            r#"["Wait", "accept mine"] => Info("probe over; an accept is still in flight: it may take effect")"#,
        ),
        (
            ClientBug::MostFrequent,
            r#"["Wait", "Wait", "accept 7"] => Info("probe over; an accept is still in flight: it may take effect")"#,
        ),
        (
            ClientBug::SameBallot,
            r#"["SendPrepare(Ballot { round: 1, proposer: 0 })"] => Fail("probe over; no accept request was sent")"#,
        ),
        (
            ClientBug::HalfQuorum,
            r#"["Wait", "accept mine"] => Info("probe over; an accept is still in flight: it may take effect")"#,
        ),
        (
            ClientBug::MinorityFail,
            r#"["Wait", "accept mine", "Wait", "Wait", "AttemptFailed"] => Fail("probe over; accepted by a minority only")"#,
        ),
        (
            ClientBug::ReadNoPhase2,
            r#"["Wait", "Done(Ok(Some(\"x\")))"] => Ok(Some("x"))"#,
        ),
        (
            ClientBug::LearnFirstAccept,
            r#"["Wait", "accept mine", "chosen mine"] => Ok(Some("mine"))"#,
        ),
    ];
    for (bug, expected) in expected_correct {
        assert_eq!(probe(bug, &[]), expected, "correct proposer, probe {bug}");
    }
    for (bug, expected) in expected_buggy {
        assert_eq!(probe(bug, &[bug]), expected, "bug {bug}, its own probe");
    }
    // Every bug leaves every other bug's probe exactly as the correct
    // proposer does, except where a probe exercises the other bug's named
    // behaviour too: the most-frequent probe is a propose whose promises
    // report accepted values (which own-value ignores), and the
    // learn-first-accept and minority-fail probes both end with one ack.
    let mut changed = Vec::new();
    for bug in ClientBug::ALL {
        for other in ClientBug::ALL.into_iter().filter(|o| *o != bug) {
            if probe(other, &[bug]) != probe(other, &[]) {
                changed.push((bug, other));
            }
        }
    }
    assert_eq!(
        changed,
        vec![
            (ClientBug::OwnValue, ClientBug::MostFrequent),
            (ClientBug::MinorityFail, ClientBug::LearnFirstAccept),
            (ClientBug::LearnFirstAccept, ClientBug::MinorityFail),
        ]
    );
    assert_eq!(
        probe(ClientBug::MostFrequent, &[ClientBug::OwnValue]),
        r#"["Wait", "Wait", "accept 9"] => Info("probe over; an accept is still in flight: it may take effect")"#
    );
}
