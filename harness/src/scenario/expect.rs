//! Pure helpers for assertions: which values the message log shows chosen,
//! and how an outcome or a state compares with what a step expects.

use std::collections::{BTreeMap, BTreeSet};

use ballot_core::proposer::Outcome;
use ballot_core::protocol::{
    AcceptReply, AcceptRequest, Accepted, Ballot, InstanceState, NodeId, ACCEPT_PATH,
};
use ballot_core::records::Exchange;
use ballot_workloads::scenario::ExpectedOutcome;

/// The values chosen for `key` according to `messages`: a value is chosen
/// when a majority (`nodes/2 + 1`) of distinct acceptors acked an accept of
/// it at one ballot (Paxos Made Simple, §2.2). Any fate counts: a node that
/// answered `ok: true` accepted, even if the answer was then dropped.
pub fn chosen_values(messages: &[Exchange], key: &str, nodes: usize) -> BTreeSet<String> {
    let mut acks: BTreeMap<(Ballot, String), BTreeSet<NodeId>> = BTreeMap::new();
    for ex in messages {
        if ex.path != ACCEPT_PATH || ex.status != Some(200) {
            continue;
        }
        let Ok(req) = serde_json::from_value::<AcceptRequest>(ex.request.clone()) else {
            continue;
        };
        let acked = ex
            .response
            .clone()
            .and_then(|r| serde_json::from_value::<AcceptReply>(r).ok())
            .is_some_and(|r| r.ok);
        if req.key == key && acked {
            acks.entry((req.ballot, req.value))
                .or_default()
                .insert(ex.to);
        }
    }
    acks.into_iter()
        .filter(|(_, who)| who.len() > nodes / 2)
        .map(|((_, value), _)| value)
        .collect()
}

/// `"7"`, `"6", "7"` or `none` for messages.
pub fn value_set(values: &BTreeSet<String>) -> String {
    if values.is_empty() {
        "none".to_string()
    } else {
        values
            .iter()
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How an outcome reads in messages: `ok "7"`, `ok none`, `fail (why)`, `info (why)`, `pending`.
pub fn outcome_text(outcome: Option<&Outcome>) -> String {
    match outcome {
        None => "pending".to_string(),
        Some(Outcome::Ok(Some(v))) => format!("ok {v:?}"),
        Some(Outcome::Ok(None)) => "ok none".to_string(),
        Some(Outcome::Fail(why)) => format!("fail ({why})"),
        Some(Outcome::Info(why)) => format!("info ({why})"),
    }
}

/// Whether an operation's outcome (`None`: still running) is the expected
/// one; an expected reason must occur in the outcome's reason.
pub fn outcome_matches(outcome: Option<&Outcome>, expected: &ExpectedOutcome) -> bool {
    let mentions = |why: &str, want: &Option<String>| want.as_ref().is_none_or(|w| why.contains(w));
    match (outcome, expected) {
        (None, ExpectedOutcome::Pending) => true,
        (Some(Outcome::Ok(got)), ExpectedOutcome::Ok(want)) => got == want,
        (Some(Outcome::Fail(why)), ExpectedOutcome::Fail(want)) => mentions(why, want),
        (Some(Outcome::Info(why)), ExpectedOutcome::Info(want)) => mentions(why, want),
        _ => false,
    }
}

/// A node's state for one key, for messages.
pub fn state_text(state: &InstanceState) -> String {
    let ballot = |b: &Option<Ballot>| b.map_or("none".to_string(), |b| b.to_string());
    let accepted = |a: &Option<Accepted>| {
        a.as_ref().map_or("none".to_string(), |a| {
            format!("{} {:?}", a.ballot, a.value)
        })
    };
    format!(
        "promised {}, accepted {}, learned {}",
        ballot(&state.promised),
        accepted(&state.accepted),
        state
            .learned
            .as_deref()
            .map_or("none".to_string(), |v| format!("{v:?}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballot_core::records::Fate;
    use serde_json::json;

    fn accept(id: u64, to: NodeId, round: u64, value: &str, ok: bool) -> Exchange {
        Exchange {
            id,
            from: 0,
            to,
            process: Some(1),
            path: ACCEPT_PATH.into(),
            request: json!({"key": "x", "ballot": {"round": round, "proposer": 1}, "value": value}),
            status: Some(200),
            response: Some(json!({"ok": ok, "promised": {"round": round, "proposer": 1}})),
            sent: id,
            delivered: Some(id),
            replied: Some(id),
            fate: Fate::DroppedResponse,
            duplicate_of: None,
        }
    }

    #[test]
    fn chosen_needs_a_majority_at_one_ballot() {
        // (acks as (node, round, value, ok), nodes, chosen)
        type Row = (
            Vec<(NodeId, u64, &'static str, bool)>,
            usize,
            Vec<&'static str>,
        );
        let table: Vec<Row> = vec![
            (vec![], 3, vec![]),
            (vec![(0, 5, "7", true)], 3, vec![]),
            (vec![(0, 5, "7", true), (1, 5, "7", true)], 3, vec!["7"]),
            (vec![(0, 5, "7", true), (0, 5, "7", true)], 3, vec![]),
            (vec![(0, 5, "7", true), (1, 5, "7", false)], 3, vec![]),
            (vec![(0, 5, "7", true), (1, 6, "7", true)], 3, vec![]),
            (vec![(0, 1, "1", true), (1, 1, "1", true)], 4, vec![]),
            (
                vec![
                    (0, 5, "7", true),
                    (1, 5, "7", true),
                    (2, 8, "6", true),
                    (1, 8, "6", true),
                ],
                3,
                vec!["6", "7"],
            ),
        ];
        for (acks, nodes, want) in table {
            let log: Vec<Exchange> = acks
                .iter()
                .enumerate()
                .map(|(i, &(to, round, v, ok))| accept(i as u64, to, round, v, ok))
                .collect();
            let got: Vec<String> = chosen_values(&log, "x", nodes).into_iter().collect();
            assert_eq!(got, want, "{acks:?}");
            assert!(chosen_values(&log, "y", nodes).is_empty());
        }
    }

    #[test]
    fn outcomes_compare_by_kind_value_and_reason() {
        let ok = |v: &str| Some(Outcome::Ok(Some(v.into())));
        let fail = |why: &str| Some(Outcome::Fail(why.into()));
        let info = |why: &str| Some(Outcome::Info(why.into()));
        let want = |w: &str| Some(w.to_string());
        let unsent = "the scenario ended; no accept request was sent";
        // (outcome, expected, matches)
        let table = [
            (ok("7"), ExpectedOutcome::Ok(want("7")), true),
            (ok("7"), ExpectedOutcome::Ok(None), false),
            (ok("7"), ExpectedOutcome::Info(None), false),
            (Some(Outcome::Ok(None)), ExpectedOutcome::Ok(None), true),
            (None, ExpectedOutcome::Pending, true),
            (None, ExpectedOutcome::Fail(None), false),
            (ok("7"), ExpectedOutcome::Pending, false),
            (info("x"), ExpectedOutcome::Info(None), true),
            (info("x"), ExpectedOutcome::Fail(None), false),
            (fail(unsent), ExpectedOutcome::Fail(None), true),
            (
                fail(unsent),
                ExpectedOutcome::Fail(want("no accept request was sent")),
                true,
            ),
            (
                fail(unsent),
                ExpectedOutcome::Fail(want("every accept was rejected")),
                false,
            ),
            (
                fail(unsent),
                ExpectedOutcome::Info(want("no accept request was sent")),
                false,
            ),
            (
                info("a; it may still be chosen"),
                ExpectedOutcome::Info(want("may still")),
                true,
            ),
            (
                info("a; it may still be chosen"),
                ExpectedOutcome::Info(want("no answer")),
                false,
            ),
        ];
        for (outcome, expected, matches) in table {
            assert_eq!(
                outcome_matches(outcome.as_ref(), &expected),
                matches,
                "{outcome:?} vs {expected:?}"
            );
        }
        assert_eq!(outcome_text(ok("7").as_ref()), "ok \"7\"");
        assert_eq!(
            outcome_text(fail(unsent).as_ref()),
            format!("fail ({unsent})")
        );
        assert_eq!(outcome_text(None), "pending");
    }
}
