//! The proposer's small rules: quorum size, fresh ballots, and which value
//! phase 2 must propose (Lamport's P2c).
//!
//! Each rule is a pure function so it can be pinned by a table.

use crate::protocol::{Accepted, Ballot};

use super::ClientBug;

/// How many distinct acceptors form a quorum among `n`: a strict majority,
/// `n/2 + 1`, so any two quorums share at least one acceptor.
pub fn quorum_size(n: usize, bugs: &[ClientBug]) -> usize {
    if bugs.contains(&ClientBug::HalfQuorum) {
        // BUG(half-quorum): "half the nodes, rounded up". For odd n this is
        // the majority; for even n two disjoint halves are both "quorums".
        n.div_ceil(2).max(1)
    } else {
        n / 2 + 1
    }
}

/// The ballot of a new attempt: a round strictly above the proposer's own
/// last round and above every round it has seen in any reply, tagged with
/// its own proposer id so no other proposer can ever use the same ballot.
pub fn next_ballot(
    last_round: u64,
    seen: Option<Ballot>,
    proposer: u64,
    bugs: &[ClientBug],
) -> Ballot {
    let floor = last_round.max(seen.map_or(0, |b| b.round));
    let round = floor.saturating_add(1);
    if bugs.contains(&ClientBug::SameBallot) {
        // BUG(same-ballot): the proposer id is left out, so two proposers
        // that saw the same rounds pick the very same ballot.
        Ballot::new(round, 0)
    } else {
        Ballot::new(round, proposer)
    }
}

/// What phase 2 must do after a quorum promised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Send accept with this value.
    Propose(String),
    /// No promise reported an accepted proposal and there is no value of our
    /// own (a read): no value has been chosen yet.
    NothingAccepted,
}

/// The value phase 2 must propose, given the promises of a quorum (in the
/// order they arrived, each with the acceptor's highest accepted proposal)
/// and the proposer's own value (`None` for a read).
///
/// The safety argument (Paxos Made Simple, P2c) is at the branches.
pub fn choose_value(
    promises: &[Option<&Accepted>],
    own: Option<&str>,
    bugs: &[ClientBug],
) -> Choice {
    if let Some(own) = own {
        if bugs.contains(&ClientBug::OwnValue) {
            // BUG(own-value): the reported proposals are ignored, breaking
            // step 3 below: a value already chosen can be overwritten.
            return Choice::Propose(own.to_string());
        }
    }
    let reported: Vec<&Accepted> = promises.iter().flatten().copied().collect();
    if reported.is_empty() {
        // 1. No acceptor of this quorum has accepted anything below our
        //    ballot, and none will (each promised to refuse lower ballots).
        //    A value chosen at a lower ballot would have been accepted by a
        //    majority, which shares an acceptor with this quorum, and that
        //    acceptor would have reported it. So nothing is or can be chosen
        //    below our ballot, and any value is safe: our own. A read has no
        //    value of its own, so it reports "nothing chosen yet".
        return match own {
            Some(own) => Choice::Propose(own.to_string()),
            None => Choice::NothingAccepted,
        };
    }
    if bugs.contains(&ClientBug::MostFrequent) {
        // BUG(most-frequent): counts votes instead of comparing ballots;
        // wrong when an old leftover outnumbers the chosen value in this
        // quorum (S12).
        return Choice::Propose(most_frequent(&reported).to_string());
    }
    // 2. Suppose value v was chosen at ballot b' below ours: a majority
    //    accepted (b', v). That majority and our quorum share an acceptor X.
    //    X accepted (b', v) before promising our ballot (after the promise it
    //    would have refused b'), so X reports a proposal with ballot >= b'.
    // 3. Invariant P2c, by induction over ballots: once v is chosen at b',
    //    every proposal issued at a ballot above b' carries v. The reported
    //    proposal with the HIGHEST ballot has ballot >= b' (by 2) and below
    //    ours, so it carries v: proposing its value keeps P2c for our ballot.
    // 4. Why the highest ballot and not the most frequent value: the chosen
    //    majority may meet our quorum in a single acceptor, while the others
    //    report leftovers of older, never-chosen ballots. In S12, A and B
    //    report (5, 7) but C reports (8, 6) and 6 is chosen at 8 by C, D, E;
    //    the majority vote says 7, the highest ballot says 6, which is right.
    let mut highest = reported[0];
    for accepted in &reported[1..] {
        // Strictly greater: on a tie (impossible with unique ballots) keep
        // the first reported.
        if accepted.ballot > highest.ballot {
            highest = accepted;
        }
    }
    Choice::Propose(highest.value.clone())
}

/// The value reported by the most acceptors; ties go to the first reported.
fn most_frequent<'a>(reported: &[&'a Accepted]) -> &'a str {
    let mut best: (&str, usize) = (&reported[0].value, 0);
    for candidate in reported {
        let count = reported
            .iter()
            .filter(|a| a.value == candidate.value)
            .count();
        if count > best.1 {
            best = (&candidate.value, count);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(round: u64, proposer: u64, value: &str) -> Accepted {
        Accepted {
            ballot: Ballot::new(round, proposer),
            value: value.to_string(),
        }
    }

    #[test]
    fn quorum_sizes() {
        // (n, correct quorum, half-quorum bug)
        let table = [
            (1, 1, 1),
            (2, 2, 1),
            (3, 2, 2),
            (4, 3, 2),
            (5, 3, 3),
            (6, 4, 3),
            (7, 4, 4),
        ];
        for (n, correct, half) in table {
            assert_eq!(quorum_size(n, &[]), correct, "n={n}");
            assert_eq!(
                quorum_size(n, &[ClientBug::HalfQuorum]),
                half,
                "n={n} half-quorum"
            );
            // Two correct quorums always intersect; two buggy ones only for odd n.
            assert!(2 * correct > n, "n={n}");
            assert_eq!(2 * half > n, n % 2 == 1, "n={n} half-quorum");
        }
    }

    #[test]
    fn fresh_ballots() {
        let b = Ballot::new;
        // (own last round, seen promise, proposer id, expected)
        let table = [
            (0, None, 3, b(1, 3)),
            (4, None, 3, b(5, 3)),
            (0, Some(b(7, 1)), 3, b(8, 3)),
            // A higher proposer id at the same round is still passed by round.
            (5, Some(b(5, 9)), 3, b(6, 3)),
            (9, Some(b(2, 1)), 3, b(10, 3)),
            (u64::MAX, None, 3, b(u64::MAX, 3)),
        ];
        for (last, seen, id, expected) in table {
            let got = next_ballot(last, seen, id, &[]);
            assert_eq!(got, expected, "last={last} seen={seen:?}");
            if last < u64::MAX {
                assert!(Some(got) > seen && got.round > last);
            }
            let buggy = next_ballot(last, seen, id, &[ClientBug::SameBallot]);
            assert_eq!(buggy, Ballot::new(expected.round, 0));
        }
        // Two proposers that saw the same rounds: distinct ballots, unless buggy.
        assert_ne!(next_ballot(0, None, 1, &[]), next_ballot(0, None, 2, &[]));
        let same = [ClientBug::SameBallot];
        assert_eq!(
            next_ballot(0, None, 1, &same),
            next_ballot(0, None, 2, &same)
        );
    }

    /// (case, promises in arrival order, own value, correct, most-frequent bug, own-value bug)
    type Row = (
        &'static str,
        Vec<Option<Accepted>>,
        Option<&'static str>,
        Choice,
        Choice,
        Choice,
    );

    #[test]
    fn which_value_phase_2_must_propose() {
        let propose = |v: &str| Choice::Propose(v.to_string());
        let table: Vec<Row> = vec![
            (
                "nothing accepted: own value",
                vec![None, None],
                Some("mine"),
                propose("mine"),
                propose("mine"),
                propose("mine"),
            ),
            (
                "nothing accepted, read: no value yet",
                vec![None, None],
                None,
                Choice::NothingAccepted,
                Choice::NothingAccepted,
                Choice::NothingAccepted,
            ),
            (
                "one reported (S02): adopt it",
                vec![Some(acc(5, 1, "7")), None],
                Some("6"),
                propose("7"),
                propose("7"),
                propose("6"),
            ),
            (
                "S12: highest ballot beats most votes",
                vec![
                    Some(acc(5, 1, "7")),
                    Some(acc(5, 1, "7")),
                    Some(acc(8, 2, "6")),
                ],
                Some("9"),
                propose("6"),
                propose("7"),
                propose("9"),
            ),
            (
                "S12 arrival order does not matter for the correct rule",
                vec![
                    Some(acc(8, 2, "6")),
                    Some(acc(5, 1, "7")),
                    Some(acc(5, 1, "7")),
                ],
                Some("9"),
                propose("6"),
                propose("7"),
                propose("9"),
            ),
            (
                "same round, higher proposer id wins",
                vec![Some(acc(4, 1, "a")), Some(acc(4, 2, "b")), None],
                Some("c"),
                propose("b"),
                propose("a"),
                propose("c"),
            ),
            (
                "read adopts the highest accepted",
                vec![Some(acc(1, 1, "x")), Some(acc(3, 1, "y"))],
                None,
                propose("y"),
                propose("x"),
                propose("y"),
            ),
        ];
        for (case, promises, own, correct, most_frequent, own_value) in table {
            let refs: Vec<Option<&Accepted>> = promises.iter().map(Option::as_ref).collect();
            assert_eq!(choose_value(&refs, own, &[]), correct, "{case}");
            assert_eq!(
                choose_value(&refs, own, &[ClientBug::MostFrequent]),
                most_frequent,
                "{case} (most-frequent)"
            );
            assert_eq!(
                choose_value(&refs, own, &[ClientBug::OwnValue]),
                own_value,
                "{case} (own-value)"
            );
        }
    }
}
