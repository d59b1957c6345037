use super::*;
use crate::spec::sim::Reply;
use ballot_core::protocol::{
    AcceptReply, AcceptRequest, Accepted, Ballot, PrepareReply, PrepareRequest,
};

fn b(round: u64, proposer: u64) -> Ballot {
    Ballot::new(round, proposer)
}

fn prepare(
    index: usize,
    epoch: usize,
    span: (u64, u64),
    ballot: Ballot,
    reply: Option<PrepareReply>,
) -> OrderStep {
    OrderStep {
        epoch,
        start: span.0,
        end: span.1,
        what: What::Exchange {
            index,
            request: Request::Prepare(PrepareRequest {
                key: "x".into(),
                ballot,
            }),
            recorded: match reply {
                Some(r) => Recorded::Reply(200, Some(Reply::Prepare(r))),
                None => Recorded::Nothing,
            },
        },
    }
}

fn accept(
    index: usize,
    epoch: usize,
    span: (u64, u64),
    ballot: Ballot,
    ok: bool,
    promised: Ballot,
) -> OrderStep {
    OrderStep {
        epoch,
        start: span.0,
        end: span.1,
        what: What::Exchange {
            index,
            request: Request::Accept(AcceptRequest {
                key: "x".into(),
                ballot,
                value: "v".into(),
            }),
            recorded: Recorded::Reply(200, Some(Reply::Accept(AcceptReply { ok, promised }))),
        },
    }
}

fn granted(ballot: Ballot, accepted: Option<(Ballot, &str)>) -> Option<PrepareReply> {
    Some(PrepareReply {
        ok: true,
        promised: ballot,
        accepted: accepted.map(|(ballot, v)| Accepted {
            ballot,
            value: v.into(),
        }),
    })
}

fn indices(steps: &[OrderStep], positions: &[usize]) -> Vec<usize> {
    positions
        .iter()
        .map(|&p| match &steps[p].what {
            What::Exchange { index, .. } => *index,
            What::Read { snapshot, .. } => 1000 + *snapshot,
        })
        .collect()
}

#[test]
fn overlapping_exchanges_take_the_order_the_replies_show() {
    // 0: prepare 1.1 (granted); then accept 1.1 (delivered first) and
    // prepare 1.2 (delivered second) overlap; the accept was refused with
    // promise 1.2, so the node did the prepare first.
    let steps = vec![
        prepare(0, 0, (10, 20), b(1, 1), granted(b(1, 1), None)),
        accept(1, 0, (30, 50), b(1, 1), false, b(1, 2)),
        prepare(2, 0, (31, 49), b(1, 2), granted(b(1, 2), None)),
    ];
    let found = find_order(&steps, 1, "x", BugSet::NONE, 1000);
    assert_eq!(found.stuck, None);
    assert_eq!(indices(&steps, &found.order), vec![0, 2, 1]);
    // Without overlap (the prepare started after the accept's reply) no order fits.
    let mut apart = steps.clone();
    apart[2].start = 51;
    apart[2].end = 60;
    apart.swap(1, 2);
    apart.swap(1, 2);
    let found = find_order(&apart, 1, "x", BugSet::NONE, 1000);
    let stuck = found
        .stuck
        .expect("no order explains a refusal before the higher prepare");
    assert_eq!(stuck.after.map(|p| indices(&apart, &[p])[0]), Some(0));
    assert_eq!(
        indices(
            &apart,
            &stuck.candidates.iter().map(|c| c.step).collect::<Vec<_>>()
        ),
        vec![1]
    );
    assert!(!stuck.exhausted);
    assert_eq!(indices(&apart, &found.order), vec![0, 1, 2]);
}

#[test]
fn backtracking_undoes_an_early_choice_that_fits_only_for_a_while() {
    // Three overlapping prepares on a fresh key: 1.1, 1.2, 1.3. Replies:
    // 1.1 granted, 1.3 granted, 1.2 refused with promise 1.3. Taking 1.1
    // then 1.2 fits nothing later if 1.2 was granted; the search must
    // find 1.1, 1.3, 1.2.
    let refused = Some(PrepareReply {
        ok: false,
        promised: b(1, 3),
        accepted: None,
    });
    let steps = vec![
        prepare(0, 0, (10, 100), b(1, 1), granted(b(1, 1), None)),
        prepare(1, 0, (11, 100), b(1, 2), refused),
        prepare(2, 0, (12, 100), b(1, 3), granted(b(1, 3), None)),
    ];
    let found = find_order(&steps, 1, "x", BugSet::NONE, 1000);
    assert_eq!(found.stuck, None);
    assert_eq!(indices(&steps, &found.order), vec![0, 2, 1]);
}

#[test]
fn an_unreplied_exchange_goes_where_the_replies_and_snapshots_put_it() {
    // A prepare 5.1 in flight (no reply) would have raised the promise;
    // the later accept 2.1 was granted, so the node did not serve the
    // prepare before it: after it, or never. Nothing says it was served.
    let steps = vec![
        prepare(0, 0, (10, u64::MAX), b(5, 1), None),
        accept(1, 0, (20, 30), b(2, 1), true, b(2, 1)),
    ];
    let found = find_order(&steps, 1, "x", BugSet::NONE, 1000);
    assert_eq!(found.stuck, None);
    assert_eq!(indices(&steps, &found.order), vec![1]);
    assert_eq!(indices(&steps, &found.skipped), vec![0]);
    // The final snapshot decides: promise 5.1 (served) or 2.1 (never
    // served). An unreplied exchange is served before the final
    // snapshot or never: its interval ends where the snapshot starts.
    let mut steps = steps;
    steps[0].end = 39;
    let read = |promise: Ballot| OrderStep {
        epoch: 0,
        start: 40,
        end: u64::MAX,
        what: What::Read {
            snapshot: 0,
            state: InstanceState {
                promised: Some(promise),
                accepted: Some(Accepted {
                    ballot: b(2, 1),
                    value: "v".into(),
                }),
                learned: None,
            },
        },
    };
    let mut served = steps.clone();
    served.push(read(b(5, 1)));
    let found = find_order(&served, 1, "x", BugSet::NONE, 1000);
    assert_eq!(found.stuck, None);
    assert_eq!(indices(&served, &found.order), vec![1, 0, 1000]);
    let mut never = steps.clone();
    never.push(read(b(2, 1)));
    let found = find_order(&never, 1, "x", BugSet::NONE, 1000);
    assert_eq!(found.stuck, None);
    assert_eq!(indices(&never, &found.order), vec![1, 1000]);
    assert_eq!(indices(&never, &found.skipped), vec![0]);
}

#[test]
fn restarts_recover_by_the_nodes_bugs() {
    // epoch 0: prepare 3.1 granted; kill; epoch 1: prepare 2.1.
    let run = |bugs: BugSet, second: Option<PrepareReply>| {
        let steps = vec![
            prepare(0, 0, (10, 20), b(3, 1), granted(b(3, 1), None)),
            prepare(1, 1, (50, 60), b(2, 1), second),
        ];
        find_order(&steps, 2, "x", bugs, 1000)
    };
    let refused = Some(PrepareReply {
        ok: false,
        promised: b(3, 1),
        accepted: None,
    });
    // A correct node keeps its promise: 2.1 is refused.
    let found = run(BugSet::NONE, refused.clone());
    assert_eq!(found.stuck, None);
    assert_eq!(found.restarts[0].promised, Some(b(3, 1)));
    // memory-only forgets it: 2.1 is granted, and a refusal is unexplained.
    let memory_only = BugSet::of(&[NodeBug::MemoryOnly]);
    assert_eq!(run(memory_only, granted(b(2, 1), None)).stuck, None);
    assert!(run(memory_only, refused.clone()).stuck.is_some());
    // reply-before-durable may have kept it or not: both are explained.
    let rbd = BugSet::of(&[NodeBug::ReplyBeforeDurable]);
    let kept = run(rbd, refused);
    assert_eq!(kept.stuck, None);
    assert_eq!(kept.restarts[0].promised, Some(b(3, 1)));
    let lost = run(rbd, granted(b(2, 1), None));
    assert_eq!(lost.stuck, None);
    assert_eq!(lost.restarts[0], InstanceState::default());
}

#[test]
fn the_budget_bounds_the_search_and_says_so() {
    // Eight mutually overlapping duplicate accepts of 1.1 (all granted)
    // followed by an impossible refusal: every interleaving fits until
    // the end; the memo visits each done-set once (2^8 sets, at most 8
    // moves each) instead of 8! orders; a budget of 5 runs out.
    let mut steps: Vec<OrderStep> = (0..8)
        .map(|i| accept(i, 0, (10 + i as u64, 100), b(1, 1), true, b(1, 1)))
        .collect();
    steps.push(accept(8, 0, (200, 210), b(1, 1), false, b(9, 9)));
    let found = find_order(&steps, 1, "x", BugSet::NONE, 100_000);
    let stuck = found.stuck.expect("the refusal fits no order");
    assert!(!stuck.exhausted);
    assert_eq!(found.tried, 8 << 7);
    let found = find_order(&steps, 1, "x", BugSet::NONE, 5);
    assert!(found.stuck.expect("budget").exhausted);
    assert_eq!(found.order.len(), 9);
}

#[test]
fn steps_that_can_never_change_the_state_are_taken_at_once() {
    // The same with duplicate prepares: once one is granted the others are
    // at the promise, so they change nothing wherever they go, and the
    // search takes them in delivered order instead of trying 2^8 sets.
    let mut steps: Vec<OrderStep> = (0..8)
        .map(|i| prepare(i, 0, (10 + i as u64, 100), b(1, 1), granted(b(1, 1), None)))
        .collect();
    steps.push(accept(8, 0, (200, 210), b(1, 1), false, b(9, 9)));
    let found = find_order(&steps, 1, "x", BugSet::NONE, 100_000);
    assert!(!found.stuck.expect("the refusal fits no order").exhausted);
    assert!(found.tried <= 8 * 8, "tried {}", found.tried);
    // with a bug flag the shortcut is off (the state may not only grow)
    let rbd = BugSet::of(&[NodeBug::ReplyBeforeDurable]);
    assert_eq!(find_order(&steps, 1, "x", rbd, 100_000).tried, 8 << 7);
}

fn failed(step: OrderStep) -> OrderStep {
    let OrderStep {
        epoch,
        start,
        end,
        what: What::Exchange { index, request, .. },
    } = step
    else {
        unreachable!()
    };
    OrderStep {
        epoch,
        start,
        end,
        what: What::Exchange {
            index,
            request,
            recorded: Recorded::ServerError,
        },
    }
}

#[test]
fn an_optional_exchange_expires_once_a_later_step_is_taken() {
    // A prepare 5.1 answered 500 at 30 was served by 30 or never. An
    // accept 2.1 delivered at 40 was granted: so it was never served.
    let steps = vec![
        failed(prepare(0, 0, (10, 30), b(5, 1), None)),
        accept(1, 0, (40, 50), b(2, 1), true, b(2, 1)),
    ];
    let found = find_order(&steps, 1, "x", BugSet::NONE, 1000);
    assert_eq!(found.stuck, None);
    assert_eq!(indices(&steps, &found.order), vec![1]);
    assert_eq!(indices(&steps, &found.skipped), vec![0]);
    // Refused with promise 5.1: it was served, before the accept.
    let mut served = steps.clone();
    served[1] = accept(1, 0, (40, 50), b(2, 1), false, b(5, 1));
    let found = find_order(&served, 1, "x", BugSet::NONE, 1000);
    assert_eq!(found.stuck, None);
    assert_eq!(indices(&served, &found.order), vec![0, 1]);
    // It cannot have been served after the accept started: a prepare
    // 6.1 delivered at 60 granted, then a refusal showing 5.1 is unexplained.
    let mut late = steps.clone();
    late.push(prepare(2, 0, (60, 70), b(6, 1), granted(b(6, 1), None)));
    late.push(accept(3, 0, (80, 90), b(1, 1), false, b(5, 1)));
    let found = find_order(&late, 1, "x", BugSet::NONE, 1000);
    assert!(found.stuck.is_some());
}

/// Snapshot 0 of epoch `epoch` over `span`, holding only promise `promised`.
fn promise_snapshot(epoch: usize, span: (u64, u64), promised: Ballot) -> OrderStep {
    OrderStep {
        epoch,
        start: span.0,
        end: span.1,
        what: What::Read {
            snapshot: 0,
            state: InstanceState {
                promised: Some(promised),
                accepted: None,
                learned: None,
            },
        },
    }
}

#[test]
fn requests_in_flight_to_a_paused_node_do_not_multiply_the_search() {
    // Twenty prepares time out at a paused node (ballots 1.1 to 20.1, each
    // maybe served before the final snapshot at 10 000); after it resumes,
    // the answered steps show it served up to 9.1 before a prepare 8.2
    // (refused, promise 9.1), and more later: a prepare 30.2 granted, then
    // a refusal of 25.3 with promise 30.2. The final snapshot holds 30.2.
    // Giving each in-flight request up at every step made this 2^20
    // positions; now each is decided once.
    let mut steps: Vec<OrderStep> = (1..=20)
        .map(|i| prepare(i as usize, 0, (i, 9_999), b(i, 1), None))
        .collect();
    let refused = |promise| {
        Some(PrepareReply {
            ok: false,
            promised: promise,
            accepted: None,
        })
    };
    steps.push(prepare(21, 0, (100, 110), b(8, 2), refused(b(9, 1))));
    for j in 0..20u64 {
        // answered traffic after the resume: refusals at the promise 9.1
        steps.push(prepare(
            22 + j as usize,
            0,
            (200 + 10 * j, 205 + 10 * j),
            b(7, 3),
            refused(b(9, 1)),
        ));
    }
    steps.push(prepare(
        50,
        0,
        (600, 610),
        b(30, 2),
        granted(b(30, 2), None),
    ));
    steps.push(prepare(51, 0, (700, 710), b(25, 3), refused(b(30, 2))));
    steps.push(promise_snapshot(0, (10_000, u64::MAX), b(30, 2)));
    let found = find_order(&steps, 1, "x", BugSet::NONE, 2_000_000);
    assert_eq!(found.stuck, None);
    assert!(found.tried < 10 * steps.len(), "tried {}", found.tried);
    let served = indices(&steps, &found.order);
    assert!(served.contains(&9), "{served:?}");
}

#[test]
fn requests_in_flight_to_a_node_killed_while_paused_were_never_served() {
    // A prepare 1.1 granted; the node is paused and twenty prepares time
    // out there; it is killed while paused, so none was served, and its
    // restart snapshot still holds promise 1.1. The search gives them up
    // at the restart at once, instead of first serving them all and then
    // trying their 2^20 subsets.
    let mut steps = vec![prepare(0, 0, (1, 2), b(1, 1), granted(b(1, 1), None))];
    steps.extend((2..=21).map(|i| prepare(i as usize, 0, (i * 10, u64::MAX), b(i, 2), None)));
    steps.push(promise_snapshot(1, (1_000, 1_100), b(1, 1)));
    let found = find_order(&steps, 2, "x", BugSet::NONE, 2_000_000);
    assert_eq!(found.stuck, None);
    assert!(found.tried < 10 * steps.len(), "tried {}", found.tried);
    assert_eq!(indices(&steps, &found.order), vec![0, 1000]);
    assert_eq!(found.skipped.len(), 20);
    // Resumed just before the kill, it served those up to 11.2: the
    // snapshot says so, and the search finds it as quickly.
    let last = steps.len() - 1;
    let What::Read { state, .. } = &mut steps[last].what else {
        unreachable!()
    };
    state.promised = Some(b(11, 2));
    let found = find_order(&steps, 2, "x", BugSet::NONE, 2_000_000);
    assert_eq!(found.stuck, None);
    assert!(found.tried < 10 * steps.len(), "tried {}", found.tried);
    assert_eq!(found.restarts[0].promised, Some(b(11, 2)));
}
