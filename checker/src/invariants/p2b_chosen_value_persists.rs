//! Once v is chosen at ballot b, every accept request for the key with a
//! higher ballot carries v.
//!
//! Source: Lamport, *Paxos Made Simple*, §2.2, P2b: "If a proposal with
//! value v is chosen, then every higher-numbered proposal issued by any
//! proposer has value v." TLA+ `Voting`: `VotesSafe` / `SafeAt`.
//!
//! P2b is not about time: a higher-numbered proposal issued *before* v was
//! chosen must carry v too (its proposer's majority of promises intersects
//! the majority that accepted v, and that acceptor had already accepted
//! (b, v), or it could not have accepted b after promising more). So every
//! accept request counts, whatever its fate or time.

use super::{proposer_name, Evidence, Property, Sink};
use crate::messages::{KeyId, Kind, Rank};
use ballot_core::verdict::Violation;

/// Stable name of the property.
pub const PROPERTY: &str = "p2b-chosen-value-persists";
/// Where it comes from.
pub const SOURCE: &str = "Lamport, Paxos Made Simple, §2.2, P2b; TLA+ Voting, VotesSafe/SafeAt";

/// Every (key, ballot) of an accept request that contradicts a lower
/// chosen value.
pub fn check(ev: &Evidence<'_>) -> Vec<Violation> {
    Property::P2bChosenValuePersists.check(ev)
}

/// One violation per (key, ballot) of an accept request whose value differs
/// from a value chosen at a lower ballot: the first such request (by id),
/// and the majority of acks of the lowest such chosen proposal.
pub fn check_key(ev: &Evidence<'_>, key: KeyId, sink: &mut Sink) {
    let chosen = ev.chosen(key);
    let Some(lowest) = chosen.first() else {
        return;
    };
    let mut accepts: Vec<(Rank, u64, u32)> = ev
        .log
        .by_key(key)
        .iter()
        .filter_map(|&i| {
            let m = ev.log.msg(i);
            let b = m.ballot()?;
            (m.kind == Kind::Accept && b > lowest.ballot).then_some((b, m.id, i))
        })
        .collect();
    accepts.sort_unstable();
    for group in accepts.chunk_by(|a, b| a.0 == b.0) {
        let ballot = group[0].0;
        let found = group.iter().find_map(|&(_, _, i)| {
            let v = ev.log.msg(i).value();
            chosen
                .iter()
                .take_while(|c| c.ballot < ballot)
                .find(|c| Some(c.value) != v)
                .map(|c| (i, c))
        });
        let Some((handle, c)) = found else {
            continue;
        };
        sink.report(|| {
            let m = ev.log.msg(handle);
            let explanation = format!(
                "Value {} was chosen at ballot {} (accepted by {}), but exchange {} from {} \
                 asks node {} to accept value {} at the higher ballot {}. Every proposal \
                 numbered above a chosen one must carry the chosen value.",
                ev.quote(c.value),
                ev.b(c.ballot),
                ev.nodes_of(&c.acks),
                m.id,
                proposer_name(ev.log, m),
                m.to(),
                ev.quote(m.value().expect("accept")),
                ev.b(ballot),
            );
            ev.violation(
                Property::P2bChosenValuePersists,
                Some(ev.log.key_name(key)),
                explanation,
                c.acks.iter().copied().chain([handle]),
                Vec::new(),
            )
        });
    }
}
