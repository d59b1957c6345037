//! An acceptor's promise never goes backwards, and it never acks below it,
//! across restarts too.
//!
//! Source: Lamport, *Paxos Made Simple*, §2.2, P1a: "An acceptor can accept
//! a proposal numbered n iff it has not responded to a prepare request
//! having a number greater than n." TLA+ `Paxos`: `Phase1b` and `Phase2b`
//! only ever raise `maxBal[a]`.
//!
//! # The check
//!
//! Per acceptor and key, every well-formed prepare or accept reply states
//! the acceptor's promise afterwards; an ack at ballot b also means the
//! promise is at least b (the protocol sets `promised := b`). Call the
//! larger of the two A's *floor*. If A is surely before B at that node
//! (`A.replied < B.delivered`), then B's reply must state a promise >= A's
//! floor, and if B is an ack its ballot must be >= A's floor. Overlapping
//! exchanges are never compared. One sweep per (key, node): A's sorted by
//! `replied`, B's by `delivered`, keeping the highest floor seen so far.

use super::{surely_before, Evidence, Property, Sink};
use crate::messages::{KeyId, Kind, Msg, Rank};
use ballot_core::verdict::Violation;

/// Stable name of the property.
pub const PROPERTY: &str = "p1a-promise-order";
/// Where it comes from.
pub const SOURCE: &str = "Lamport, Paxos Made Simple, §2.2, P1a; TLA+ Paxos, Phase1b/Phase2b \
                          (maxBal never decreases)";

/// The promise an exchange's reply shows the acceptor holds afterwards:
/// the stated promise, or the acked ballot if higher.
pub fn floor(m: &Msg) -> Option<Rank> {
    let promised = m.reply_promised()?;
    let acked = if m.ack() { m.ballot() } else { None };
    Some(promised.max(acked.unwrap_or(promised)))
}

/// Every (key, node) where a promise went backwards.
pub fn check(ev: &Evidence<'_>) -> Vec<Violation> {
    Property::P1aPromiseOrder.check(ev)
}

/// One violation per (key, node): the first exchange (by delivery) that
/// shows a lower promise, or an ack below the promise, than an exchange
/// surely before it; the explanation counts the others.
pub fn check_key(ev: &Evidence<'_>, key: KeyId, sink: &mut Sink) {
    for (node, group) in ev.log.by_key_node(key) {
        let mut by_replied: Vec<(u64, u32)> = Vec::new();
        let mut by_delivered: Vec<(u64, u32)> = Vec::new();
        for &i in group {
            let m = ev.log.msg(i);
            if !matches!(m.kind, Kind::Prepare | Kind::Accept) || m.reply_promised().is_none() {
                continue;
            }
            if let Some(r) = m.replied() {
                by_replied.push((r, i));
            }
            if let Some(d) = m.delivered() {
                by_delivered.push((d, i));
            }
        }
        if by_replied.is_empty() || by_delivered.len() < 2 {
            continue;
        }
        by_replied.sort_unstable();
        by_delivered.sort_unstable();

        let mut next = 0;
        let mut highest: Option<(Rank, u32)> = None;
        let mut first: Option<(u32, u32, bool)> = None;
        let mut more = 0usize;
        for &(delivered, b) in &by_delivered {
            while next < by_replied.len()
                && surely_before(Some(by_replied[next].0), Some(delivered))
            {
                let a = by_replied[next].1;
                let f = floor(ev.log.msg(a)).expect("has a reply");
                if highest.is_none_or(|(h, _)| f > h) {
                    highest = Some((f, a));
                }
                next += 1;
            }
            let Some((floor_a, a)) = highest else {
                continue;
            };
            let bm = ev.log.msg(b);
            let acked_below = bm.ack() && bm.ballot() < Some(floor_a);
            if !acked_below && bm.reply_promised() >= Some(floor_a) {
                continue;
            }
            if first.is_none() {
                first = Some((a, b, acked_below));
            } else {
                more += 1;
            }
        }
        let Some((a, b, acked_below)) = first else {
            continue;
        };
        sink.report(|| {
            let (am, bm) = (ev.log.msg(a), ev.log.msg(b));
            let earlier = format!(
                "Node {node} answered exchange {} ({} at ballot {}) with promise {} before \
                 exchange {} reached it",
                am.id,
                kind_name(am.kind),
                ev.b(am.ballot().expect("typed")),
                ev.b(floor(am).expect("has a reply")),
                bm.id,
            );
            let later = if acked_below {
                format!(
                    "yet it then acked {} at the lower ballot {}",
                    kind_name(bm.kind),
                    ev.b(bm.ballot().expect("typed")),
                )
            } else {
                format!(
                    "yet its reply to {} at ballot {} states the lower promise {}",
                    kind_name(bm.kind),
                    ev.b(bm.ballot().expect("typed")),
                    ev.b(bm.reply_promised().expect("has a reply")),
                )
            };
            let tail = if more > 0 {
                format!(" {more} later exchange(s) at this node for this key show the same.")
            } else {
                String::new()
            };
            let explanation = format!(
                "{earlier}; {later}. An acceptor's promise must never go backwards, even across \
                 a restart.{tail}"
            );
            ev.violation(
                Property::P1aPromiseOrder,
                Some(ev.log.key_name(key)),
                explanation,
                [a, b],
                Vec::new(),
            )
        });
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Prepare => "prepare",
        Kind::Accept => "accept",
        Kind::Learn => "learn",
        Kind::Other => "request",
    }
}
