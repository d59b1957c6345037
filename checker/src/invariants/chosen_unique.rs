//! At most one value is chosen per key.
//!
//! Source: Lamport, *Paxos Made Simple*, §2.1 (safety: "only a single value
//! is chosen"); TLA+ `Paxos`: the invariant `Consistency`
//! (`Cardinality(chosen) <= 1`).
//!
//! A value is chosen at ballot b when a majority of distinct acceptors acked
//! accept (b, v) (see [`super::Chosen`]). Chosen proposals at different
//! ballots must all carry the same value.

use super::{Evidence, Property, Sink};
use crate::messages::KeyId;
use ballot_core::verdict::Violation;

/// Stable name of the property.
pub const PROPERTY: &str = "chosen-unique";
/// Where it comes from.
pub const SOURCE: &str = "Lamport, Paxos Made Simple, §2.1 (only a single value is chosen); \
                          TLA+ Paxos, Consistency (Cardinality(chosen) <= 1)";

/// Every key with two chosen values.
pub fn check(ev: &Evidence<'_>) -> Vec<Violation> {
    Property::ChosenUnique.check(ev)
}

/// One violation per key with two chosen values: the lowest-ballot chosen
/// proposal and the lowest-ballot one with another value, each shown by a
/// majority of acks.
pub fn check_key(ev: &Evidence<'_>, key: KeyId, sink: &mut Sink) {
    let chosen = ev.chosen(key);
    let Some(first) = chosen.first() else {
        return;
    };
    let Some(other) = chosen.iter().find(|c| c.value != first.value) else {
        return;
    };
    sink.report(|| {
        let explanation = format!(
            "Value {} was chosen at ballot {} (accepted by {}) and value {} at ballot {} \
             (accepted by {}). Each is a majority of distinct acceptors, so two different \
             values were chosen for one key.",
            ev.quote(first.value),
            ev.b(first.ballot),
            ev.nodes_of(&first.acks),
            ev.quote(other.value),
            ev.b(other.ballot),
            ev.nodes_of(&other.acks),
        );
        ev.violation(
            Property::ChosenUnique,
            Some(ev.log.key_name(key)),
            explanation,
            first.acks.iter().chain(&other.acks).copied(),
            Vec::new(),
        )
    });
}
