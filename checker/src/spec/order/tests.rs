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
    // prepare before it: after it, or never.
    let steps = vec![
        prepare(0, 0, (10, u64::MAX), b(5, 1), None),
        accept(1, 0, (20, 30), b(2, 1), true, b(2, 1)),
    ];
    let found = find_order(&steps, 1, "x", BugSet::NONE, 1000);
    assert_eq!(found.stuck, None);
    assert_eq!(indices(&steps, &found.order), vec![1, 0]);
    assert_eq!(found.skipped, Vec::<usize>::new());
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
