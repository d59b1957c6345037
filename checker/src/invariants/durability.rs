//! What a node acknowledged survives its restart.
//!
//! Source: Lamport, *Paxos Made Simple*, §2.2: "an acceptor must remember
//! this information even if it fails and then restarts", and §2.5: "An
//! acceptor records its intended response in stable storage before actually
//! sending the response." TLA+ `Paxos`: `maxBal`, `maxVBal`, `maxVal` are
//! never reset.
//!
//! # The check
//!
//! A snapshot of node j taken at time t (`restart`: right after a restart;
//! `final`: at the end) must reflect every reply j sent that reached the
//! proxy before t (`replied < t`): for each key, the snapshot's `promised`
//! is at least the promise every such reply stated (and the ballot of every
//! acked prepare or accept), and its `accepted` ballot is at least the
//! ballot of every acked accept. One sweep per (key, node) over replies
//! sorted by `replied` and that node's snapshots sorted by time.

use ballot_core::protocol::InstanceState;

use super::{p1a_promise_order::floor, Evidence, Property, Sink};
use crate::messages::{KeyId, Kind, Rank};
use ballot_core::records::SnapshotReason;
use ballot_core::verdict::Violation;

/// Stable name of the property.
pub const PROPERTY: &str = "durability";
/// Where it comes from.
pub const SOURCE: &str = "Lamport, Paxos Made Simple, §2.2 (an acceptor must remember even if it \
                          fails and restarts) and §2.5 (stable storage before responding)";

/// Every (snapshot, key) that lost an acknowledged promise or acceptance.
pub fn check(ev: &Evidence<'_>) -> Vec<Violation> {
    Property::Durability.check(ev)
}

/// One violation per (snapshot, key) whose state is below what the node
/// acknowledged before the snapshot: the exchanges that show the highest
/// promise and the highest acceptance it lost.
pub fn check_key(ev: &Evidence<'_>, key: KeyId, sink: &mut Sink) {
    let empty = InstanceState::default();
    let key_name = ev.log.key_name(key);
    for (node, group) in ev.log.by_key_node(key) {
        let snapshots = ev.snapshots_of(node);
        if snapshots.is_empty() {
            continue;
        }
        let mut replies: Vec<(u64, u32)> = group
            .iter()
            .filter_map(|&i| {
                let m = ev.log.msg(i);
                let typed =
                    matches!(m.kind, Kind::Prepare | Kind::Accept) && m.reply_promised().is_some();
                if typed {
                    m.replied().map(|r| (r, i))
                } else {
                    None
                }
            })
            .collect();
        if replies.is_empty() {
            continue;
        }
        replies.sort_unstable();
        let mut next = 0;
        let mut promise: Option<(Rank, u32)> = None;
        let mut accepted: Option<(Rank, u32)> = None;
        for &s in snapshots {
            let snapshot = &ev.snapshots[s];
            while next < replies.len() && replies[next].0 < snapshot.time {
                let i = replies[next].1;
                let m = ev.log.msg(i);
                let f = floor(m).expect("typed reply");
                if promise.is_none_or(|(p, _)| f > p) {
                    promise = Some((f, i));
                }
                if m.kind == Kind::Accept && m.ack() {
                    let b = m.ballot().expect("accept");
                    if accepted.is_none_or(|(a, _)| b > a) {
                        accepted = Some((b, i));
                    }
                }
                next += 1;
            }
            let state = snapshot.state.instances.get(key_name).unwrap_or(&empty);
            let lost_promise = promise.filter(|&(p, _)| state.promised < Some(ev.b(p)));
            let lost_accept = accepted
                .filter(|&(a, _)| state.accepted.as_ref().map(|acc| acc.ballot) < Some(ev.b(a)));
            if lost_promise.is_none() && lost_accept.is_none() {
                continue;
            }
            sink.report(|| {
                let mut lost = Vec::new();
                if let Some((p, i)) = lost_promise {
                    lost.push(format!(
                        "promise {} (exchange {})",
                        ev.b(p),
                        ev.log.msg(i).id
                    ));
                }
                if let Some((a, i)) = lost_accept {
                    lost.push(format!(
                        "acceptance at ballot {} (exchange {})",
                        ev.b(a),
                        ev.log.msg(i).id
                    ));
                }
                let when = match snapshot.reason {
                    SnapshotReason::Restart => "right after its restart",
                    SnapshotReason::Final => "at the end of the run",
                };
                let explanation =
                    format!(
                    "Node {node}'s state taken {when} (time {}) shows promised {} and accepted {} \
                     for this key, but before that it had acknowledged {}. A node must persist \
                     promises and acceptances before it replies, so a restart cannot lose them.",
                    snapshot.time,
                    state
                        .promised
                        .map_or("nothing".to_string(), |b| b.to_string()),
                    state.accepted.as_ref().map_or("nothing".to_string(), |a| format!(
                        "({}, {:?})",
                        a.ballot, a.value
                    )),
                    lost.join(" and "),
                );
                ev.violation(
                    Property::Durability,
                    Some(key_name),
                    explanation,
                    lost_promise.into_iter().chain(lost_accept).map(|x| x.1),
                    Vec::new(),
                )
            });
        }
    }
}
