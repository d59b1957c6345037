//! A promise reports the highest-ballot proposal the acceptor accepted, and
//! only a proposal it was actually asked to accept.
//!
//! Source: Lamport, *Paxos Made Simple*, §2.2, phase 1(b): the acceptor
//! responds "with a promise not to accept any more proposals numbered less
//! than n and with the highest-numbered proposal (if any) that it has
//! accepted". TLA+ `Paxos`: `Phase1b` sends `mbal |-> maxVBal[a], mval |->
//! maxVal[a]`.
//!
//! # The check
//!
//! Per acceptor j and key, for every granted prepare reply P:
//! 1. for every accept j acked surely before P (`A.replied < P.delivered`),
//!    P reports an accepted proposal with ballot >= A's ballot (reporting
//!    nothing is lower than any ballot);
//! 2. the proposal P reports, if any, was requested of j: some accept
//!    request with that ballot and value reached j (`delivered <=
//!    P.replied`). A node cannot have accepted what it never received.
//!
//! Accepts overlapping P in time are not compared with it.

use super::{surely_before, Evidence, Property, Sink};
use crate::messages::{KeyId, Kind, Rank, ValueId};
use ballot_core::verdict::Violation;

/// Stable name of the property.
pub const PROPERTY: &str = "promise-reports-highest";
/// Where it comes from.
pub const SOURCE: &str = "Lamport, Paxos Made Simple, §2.2, phase 1(b) (reply with the \
                          highest-numbered proposal accepted); TLA+ Paxos, Phase1b";

/// Every promise that hides a higher accepted proposal or invents one.
pub fn check(ev: &Evidence<'_>) -> Vec<Violation> {
    Property::PromiseReportsHighest.check(ev)
}

/// At most two violations per (key, node): the first promise (by delivery)
/// that reports less than an earlier ack, and the first that reports a
/// proposal the node never received.
pub fn check_key(ev: &Evidence<'_>, key: KeyId, sink: &mut Sink) {
    let key_name = ev.log.key_name(key);
    for (node, group) in ev.log.by_key_node(key) {
        let mut acked: Vec<(u64, Rank, u32)> = Vec::new();
        // (ballot, value, delivered) of every accept request that reached j.
        let mut requested: Vec<(Rank, ValueId, u64)> = Vec::new();
        let mut promises: Vec<(u64, u32)> = Vec::new();
        for &i in group {
            let m = ev.log.msg(i);
            match m.kind {
                Kind::Accept => {
                    let ballot = m.ballot().expect("accept");
                    if let Some(d) = m.delivered() {
                        requested.push((ballot, m.value().expect("accept"), d));
                    }
                    if let (true, Some(r)) = (m.ack(), m.replied()) {
                        acked.push((r, ballot, i));
                    }
                }
                Kind::Prepare if m.ack() => {
                    if let Some(d) = m.delivered() {
                        promises.push((d, i));
                    }
                }
                _ => {}
            }
        }
        if promises.is_empty() {
            continue;
        }
        acked.sort_unstable();
        requested.sort_unstable();
        promises.sort_unstable();

        let mut next = 0;
        let mut highest: Option<(Rank, u32)> = None;
        let mut lower_found = false;
        let mut unknown_found = false;
        for &(delivered, p) in &promises {
            while next < acked.len() && surely_before(Some(acked[next].0), Some(delivered)) {
                if highest.is_none_or(|(h, _)| acked[next].1 > h) {
                    highest = Some((acked[next].1, acked[next].2));
                }
                next += 1;
            }
            let pm = ev.log.msg(p);
            let reported = pm.reply_accepted();
            if let Some((h, a)) = highest {
                if !lower_found && reported.map(|r| r.0) < Some(h) {
                    lower_found = true;
                    sink.report(|| {
                        let am = ev.log.msg(a);
                        let said = match reported {
                            Some((b, v)) => format!("reports ({}, {})", ev.b(b), ev.quote(v)),
                            None => "reports nothing accepted".to_string(),
                        };
                        let explanation = format!(
                            "Node {node} acked accept({}, {}) (exchange {}) before it answered \
                             prepare {} (exchange {}), yet the promise {said}. A promise must \
                             report the highest-ballot proposal the acceptor has accepted.",
                            ev.b(h),
                            ev.quote(am.value().expect("accept")),
                            am.id,
                            ev.b(pm.ballot().expect("prepare")),
                            pm.id,
                        );
                        ev.violation(
                            Property::PromiseReportsHighest,
                            Some(key_name),
                            explanation,
                            [a, p],
                            Vec::new(),
                        )
                    });
                }
            }
            let Some((b, v)) = reported else {
                continue;
            };
            // The earliest delivery of an accept request for (b, v) to j.
            let lo = requested.partition_point(|r| (r.0, r.1) < (b, v));
            let received = requested
                .get(lo)
                .filter(|r| (r.0, r.1) == (b, v))
                .is_some_and(|r| pm.replied().is_none_or(|t| r.2 <= t));
            if !unknown_found && !received {
                unknown_found = true;
                sink.report(|| {
                    let explanation = format!(
                        "Node {node} answered prepare {} (exchange {}) reporting accepted \
                         proposal ({}, {}), but no accept request for that proposal reached \
                         node {node} before the reply. An acceptor can only report what it was \
                         asked to accept.",
                        ev.b(pm.ballot().expect("prepare")),
                        pm.id,
                        ev.b(b),
                        ev.quote(v),
                    );
                    ev.violation(
                        Property::PromiseReportsHighest,
                        Some(key_name),
                        explanation,
                        [p],
                        Vec::new(),
                    )
                });
            }
        }
    }
}
