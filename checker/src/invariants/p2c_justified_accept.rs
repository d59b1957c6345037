//! Every accept request is justified by a majority of promises (P2c,
//! `ShowsSafeAt`).
//!
//! Source: Lamport, *Paxos Made Simple*, §2.2, P2c: "For any v and n, if a
//! proposal with value v and number n is issued, then there is a set S
//! consisting of a majority of acceptors such that either (a) no acceptor in
//! S has accepted any proposal numbered less than n, or (b) v is the value
//! of the highest-numbered proposal among all proposals numbered less than n
//! accepted by the acceptors in S." TLA+ `Voting`: `ShowsSafeAt`; TLA+
//! `Paxos`: `Phase2a`.
//!
//! # The check
//!
//! For an accept request (key, b, v) sent by process p, the promises are the
//! granted prepare replies for (key, b) that reached p (fate `ok`) no later
//! than the accept left it (`replied <= sent`). They must come from a
//! majority of distinct acceptors, and some majority subset Q of them must
//! justify v: either nothing accepted is reported in Q, or v is the value of
//! the highest-ballot proposal reported in Q.
//!
//! A correct proposer goes ahead as soon as *any* majority answered, so the
//! check asks whether such a Q exists, not what the highest among all
//! received promises is. Q exists iff (a) a majority of acceptors reported
//! nothing accepted, or (b) for some promise r reporting (br, v), a majority
//! of acceptors sent a promise reporting nothing or a ballot <= br: those
//! promises form a Q whose highest proposal is r's (ties at br with another
//! value go to the proposer: it may have picked either). Exchanges whose
//! `process` is unknown cannot be matched with promises and are skipped.

use ballot_core::protocol::NodeId;

use super::{capitalised, node_list, proposer_name, Evidence, Property, Sink};
use crate::messages::{KeyId, Kind, Rank, ValueId};
use ballot_core::records::Fate;
use ballot_core::verdict::Violation;

/// Stable name of the property.
pub const PROPERTY: &str = "p2c-justified-accept";
/// Where it comes from.
pub const SOURCE: &str = "Lamport, Paxos Made Simple, §2.2, P2c; TLA+ Voting, ShowsSafeAt; \
                          TLA+ Paxos, Phase2a";

/// One promise a proposer holds: the acceptor, and the ballot and value of
/// the proposal it reported accepted, if any.
pub type Promise<B, V> = (NodeId, Option<(B, V)>);

/// Whether a set of promises justifies proposing a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Justification {
    /// Some majority subset of the promises shows the value safe.
    Justified,
    /// Promises came from fewer distinct acceptors than a majority.
    TooFewPromises(usize),
    /// A majority promised, but no majority subset shows the value safe.
    WrongValue,
}

/// Decides whether `promises` (possibly several per acceptor) justify
/// proposing `value`, `majority` acceptors being a majority.
pub fn justify<B: Ord + Copy, V: Eq + Copy>(
    promises: &[Promise<B, V>],
    value: V,
    majority: usize,
) -> Justification {
    let distinct = |keep: &dyn Fn(&Promise<B, V>) -> bool| {
        let mut nodes: Vec<NodeId> = promises.iter().filter(|p| keep(p)).map(|p| p.0).collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes.len()
    };
    let acceptors = distinct(&|_| true);
    if acceptors < majority {
        return Justification::TooFewPromises(acceptors);
    }
    // (a) A majority reports nothing accepted: any value is safe.
    if distinct(&|p| p.1.is_none()) >= majority {
        return Justification::Justified;
    }
    // (b) Some promise r reports (br, value), and a majority reported
    // nothing or a ballot <= br: those promises are a Q whose highest
    // proposal is r's.
    let justified = promises.iter().any(|r| match r.1 {
        Some((br, v)) if v == value => distinct(&|p| p.1.is_none_or(|(b, _)| b <= br)) >= majority,
        _ => false,
    });
    if justified {
        Justification::Justified
    } else {
        Justification::WrongValue
    }
}

/// Every accept request that is not justified by its proposer's promises.
pub fn check(ev: &Evidence<'_>) -> Vec<Violation> {
    Property::P2cJustifiedAccept.check(ev)
}

/// One violation per (key, process, ballot, value) whose accept request is
/// not justified: the first such request (by send time) and the promises
/// its process held then.
pub fn check_key(ev: &Evidence<'_>, key: KeyId, sink: &mut Sink) {
    let majority = ev.majority();
    let handles = ev.log.by_key(key);
    // Granted prepare replies that reached their proposer:
    // (process, ballot, replied, handle).
    let mut promises: Vec<(u64, Rank, u64, u32)> = handles
        .iter()
        .filter_map(|&i| {
            let m = ev.log.msg(i);
            let usable = m.kind == Kind::Prepare && m.fate == Fate::Ok && m.ack();
            match (usable, m.process(), m.replied()) {
                (true, Some(p), Some(r)) => Some((p, m.ballot().expect("prepare"), r, i)),
                _ => None,
            }
        })
        .collect();
    promises.sort_unstable();
    let mut accepts: Vec<(u64, u64, u32)> = handles
        .iter()
        .filter(|&&i| {
            let m = ev.log.msg(i);
            m.kind == Kind::Accept && m.process().is_some()
        })
        .map(|&i| (ev.log.msg(i).sent, ev.log.msg(i).id, i))
        .collect();
    accepts.sort_unstable();
    let mut flagged: Vec<(u64, Rank, ValueId)> = Vec::new();
    for (sent, _, handle) in accepts {
        let m = ev.log.msg(handle);
        let (p, b, v) = (
            m.process().expect("filtered"),
            m.ballot().expect("accept"),
            m.value().expect("accept"),
        );
        if flagged.contains(&(p, b, v)) {
            continue;
        }
        let lo = promises.partition_point(|x| (x.0, x.1) < (p, b));
        let held: Vec<u32> = promises[lo..]
            .iter()
            .take_while(|x| (x.0, x.1) == (p, b))
            .filter(|x| x.2 <= sent)
            .map(|x| x.3)
            .collect();
        let reported: Vec<Promise<Rank, ValueId>> = held
            .iter()
            .map(|&i| {
                let pm = ev.log.msg(i);
                (pm.to(), pm.reply_accepted())
            })
            .collect();
        let verdict = justify(&reported, v, majority);
        if verdict == Justification::Justified {
            continue;
        }
        flagged.push((p, b, v));
        sink.report(|| {
            let bb = ev.b(b);
            let who = proposer_name(ev.log, m);
            let why = match verdict {
                Justification::TooFewPromises(n) => format!(
                    "Before sending it, {who} held promises for ballot {bb} from only {n} \
                     distinct acceptor(s) ({}), fewer than a majority of {majority}. Phase 2 may \
                     start only after a majority promised.",
                    node_list(reported.iter().map(|r| r.0)),
                ),
                _ => format!(
                    "The promises {who} held for ballot {bb} report: {}. No majority of \
                     them has {} as its highest-ballot accepted value, and no majority reports \
                     nothing accepted, so the value was not safe to propose.",
                    describe(ev, &reported),
                    ev.quote(v),
                ),
            };
            let explanation = format!(
                "{} sent accept({bb}, {}) to node {} (exchange {}). {why}",
                capitalised(&who),
                ev.quote(v),
                m.to(),
                m.id,
            );
            ev.violation(
                Property::P2cJustifiedAccept,
                Some(ev.log.key_name(key)),
                explanation,
                held.iter().copied().chain([handle]),
                Vec::new(),
            )
        });
    }
}

/// "node 0 accepted (5.1, "7"), node 2 nothing".
fn describe(ev: &Evidence<'_>, promises: &[Promise<Rank, ValueId>]) -> String {
    let mut sorted = promises.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
        .iter()
        .map(|(node, acc)| match acc {
            Some((b, v)) => format!("node {node} accepted ({}, {})", ev.b(*b), ev.quote(*v)),
            None => format!("node {node} nothing"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case = (Vec<Promise<u64, u32>>, u32, usize, Justification);

    /// Which value must phase 2 propose: (promises, value, majority, answer),
    /// ballots written as plain rounds.
    #[test]
    fn justification_table() {
        use Justification::*;
        let none = None;
        let acc = |r: u64, v: u32| Some((r, v));
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            // Nothing accepted in a majority: any value.
            (vec![(0, none), (1, none)], 9, 2, Justified),
            // Too few distinct acceptors (a repeated node counts once).
            (vec![(0, none), (0, none)], 9, 2, TooFewPromises(1)),
            (vec![], 9, 2, TooFewPromises(0)),
            // The only reported proposal must be adopted if it is in every Q.
            (vec![(0, acc(5, 7)), (1, acc(5, 7))], 7, 2, Justified),
            (vec![(0, acc(5, 7)), (1, acc(5, 7))], 6, 2, WrongValue),
            // S02: A,B report (5,7), C nothing: every Q holds a 7, so 6 is wrong.
            (vec![(0, acc(5, 7)), (1, acc(5, 7)), (2, none)], 7, 2, Justified),
            (vec![(0, acc(5, 7)), (1, acc(5, 7)), (2, none)], 6, 2, WrongValue),
            // S03(a): only A accepted (5,7); B,C empty are a majority, so a
            // free value is justified, and 7 is too.
            (vec![(0, acc(5, 7)), (1, none), (2, none)], 6, 2, Justified),
            (vec![(0, acc(5, 7)), (1, none), (2, none)], 7, 2, Justified),
            // S12: highest ballot wins, not the most frequent value (n = 5).
            (vec![(0, acc(5, 7)), (1, acc(5, 7)), (2, acc(8, 6))], 6, 3, Justified),
            (vec![(0, acc(5, 7)), (1, acc(5, 7)), (2, acc(8, 6))], 7, 3, WrongValue),
            // With four promises, {A,B,D} is a majority whose highest is 7.
            (vec![(0, acc(5, 7)), (1, acc(5, 7)), (2, acc(8, 6)), (3, none)], 7, 3, Justified),
            // A tie at the highest ballot: either value may be picked.
            (vec![(0, acc(5, 7)), (1, acc(5, 8))], 8, 2, Justified),
            // Even n = 4: majority 3; two promises are not enough.
            (vec![(0, none), (1, none)], 1, 3, TooFewPromises(2)),
        ];
        for (i, (promises, value, majority, want)) in cases.into_iter().enumerate() {
            assert_eq!(justify(&promises, value, majority), want, "case {i}");
        }
    }
}
