//! All accept requests for a key at one ballot carry one value.
//!
//! Source: Lamport, *Paxos Made Simple*, §2.2 (a proposer issues a proposal
//! "with number n and value v": one value per number); TLA+ `Voting`,
//! `OneValuePerBallot`, and TLA+ `Paxos`, `Phase2a` (at most one 2a message
//! per ballot).
//!
//! Every accept request counts, whatever its fate: a request the proxy cut
//! was still issued by its proposer. With unique ballots a correct proposer
//! can only break this by changing its mind within one ballot.

use super::{proposer_name, Evidence, Property, Sink};
use crate::messages::{KeyId, Kind, Rank};
use ballot_core::verdict::Violation;

/// Stable name of the property.
pub const PROPERTY: &str = "one-value-per-ballot";
/// Where it comes from.
pub const SOURCE: &str =
    "Lamport, Paxos Made Simple, §2.2 (a proposal is a number and one value); \
                          TLA+ Voting, OneValuePerBallot; TLA+ Paxos, Phase2a";

/// Every (key, ballot) whose accept requests carry two values.
pub fn check(ev: &Evidence<'_>) -> Vec<Violation> {
    Property::OneValuePerBallot.check(ev)
}

/// One violation per (key, ballot) with two values: the first accept
/// request (by id) with the first value and the first with another value.
pub fn check_key(ev: &Evidence<'_>, key: KeyId, sink: &mut Sink) {
    // (ballot, id, handle) of every accept request.
    let mut accepts: Vec<(Rank, u64, u32)> = ev
        .log
        .by_key(key)
        .iter()
        .filter_map(|&i| {
            let m = ev.log.msg(i);
            (m.kind == Kind::Accept).then(|| (m.ballot().expect("accept"), m.id, i))
        })
        .collect();
    accepts.sort_unstable();
    for group in accepts.chunk_by(|a, b| a.0 == b.0) {
        let first = ev.log.msg(group[0].2);
        let Some(other) = group
            .iter()
            .map(|g| g.2)
            .find(|&i| ev.log.msg(i).value() != first.value())
        else {
            continue;
        };
        sink.report(|| {
            let second = ev.log.msg(other);
            let explanation = format!(
                "Accept requests at ballot {} carry two values: {} (exchange {}, from {}) and \
                 {} (exchange {}, from {}). A ballot names one proposal, so it must have one \
                 value.",
                ev.b(group[0].0),
                ev.quote(first.value().expect("accept")),
                first.id,
                proposer_name(ev.log, first),
                ev.quote(second.value().expect("accept")),
                second.id,
                proposer_name(ev.log, second),
            );
            ev.violation(
                Property::OneValuePerBallot,
                Some(ev.log.key_name(key)),
                explanation,
                [group[0].2, other],
                Vec::new(),
            )
        });
    }
}
