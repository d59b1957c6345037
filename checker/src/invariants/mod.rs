//! Paxos safety invariants on the message log and the state snapshots.
//!
//! Each invariant lives in its own module, headed with where it comes from
//! (Lamport, *Paxos Made Simple*, and the TLA+ `Voting`/`Paxos` specs), and
//! is a pure function from the indexed [`Evidence`] to the violations it
//! finds (`check`). A violation names the property, its source, the key,
//! the smallest set of exchanges (and ops) that shows it, and a few
//! sentences.
//!
//! # Reading the evidence
//!
//! - An *ack* is a status-200 reply with `ok: true`, whatever the exchange's
//!   fate: a reply recorded for a `dropped-response` or `duplicated` exchange
//!   was still sent by the node, so the node did change its state.
//! - Exchange A is *before* B at a node only when `A.replied < B.delivered`
//!   (A's answer reached the proxy before B left it). Overlapping exchanges
//!   have no order, and no invariant assumes one.
//! - Where a tie in time could only make a correct run look wrong, the tie
//!   goes to the run: "possibly before" uses `<=`, "surely before" uses `<`.
//! - A value is *chosen* at ballot b when a majority of distinct acceptors
//!   acked accept (b, v) (Paxos Made Simple, §2.2: "a value is chosen when a
//!   single proposal with that value has been accepted by a majority").
//!
//! # Running them fast
//!
//! Almost every property is a property of one key, so each module also has
//! a `check_key` and, for evidence that is not about one key's exchanges
//! (snapshots, the history), a `check_global`. [`check_paxos`] walks the
//! keys once, in chunks spread over the cores, and runs every property on
//! each key while its exchanges are in cache. Violations go to a [`Sink`]
//! that builds at most a bounded number of them but counts them all.

use std::collections::{BTreeMap, HashSet};

use ballot_core::protocol::{Ballot, NodeId};
use serde_json::json;

use crate::messages::{KeyId, Kind, MessageLog, Msg, Rank, ValueId};
use ballot_core::records::{Event, EventType, Snapshot};
use ballot_core::verdict::{CheckerResult, Violation};

pub mod accepted_value_proposed;
pub mod chosen_unique;
pub mod durability;
pub mod learners_agree;
pub mod one_value_per_ballot;
pub mod p1a_promise_order;
pub mod p2b_chosen_value_persists;
pub mod p2c_justified_accept;
pub mod promise_reports_highest;

/// At most this many violations per property are kept in `results.json`;
/// the checker's stats count them all.
pub const MAX_VIOLATIONS_PER_PROPERTY: usize = 20;

/// Every property the invariant checkers can report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Property {
    /// At most one value is chosen per key.
    ChosenUnique,
    /// All accept requests at one ballot carry one value.
    OneValuePerBallot,
    /// Once v is chosen at b, every higher-ballot accept request carries v.
    P2bChosenValuePersists,
    /// Every accept request is justified by a majority of promises (P2c).
    P2cJustifiedAccept,
    /// An acceptor's promise never goes backwards and it never acks below it.
    P1aPromiseOrder,
    /// A promise reports the highest proposal the acceptor accepted.
    PromiseReportsHighest,
    /// What a node acknowledged survives its restart.
    Durability,
    /// Only proposed values are accepted.
    AcceptedValueProposed,
    /// Learners learn only the chosen value, and agree.
    LearnersAgree,
}

impl Property {
    /// Every property, in report order.
    pub const ALL: [Property; 9] = [
        Property::ChosenUnique,
        Property::OneValuePerBallot,
        Property::P2bChosenValuePersists,
        Property::P2cJustifiedAccept,
        Property::P1aPromiseOrder,
        Property::PromiseReportsHighest,
        Property::Durability,
        Property::AcceptedValueProposed,
        Property::LearnersAgree,
    ];

    /// The properties of the `paxos` checker (all but learner agreement).
    pub const PAXOS: [Property; 8] = [
        Property::ChosenUnique,
        Property::OneValuePerBallot,
        Property::P2bChosenValuePersists,
        Property::P2cJustifiedAccept,
        Property::P1aPromiseOrder,
        Property::PromiseReportsHighest,
        Property::Durability,
        Property::AcceptedValueProposed,
    ];

    /// The stable name written to `results.json`.
    pub const fn name(self) -> &'static str {
        match self {
            Property::ChosenUnique => chosen_unique::PROPERTY,
            Property::OneValuePerBallot => one_value_per_ballot::PROPERTY,
            Property::P2bChosenValuePersists => p2b_chosen_value_persists::PROPERTY,
            Property::P2cJustifiedAccept => p2c_justified_accept::PROPERTY,
            Property::P1aPromiseOrder => p1a_promise_order::PROPERTY,
            Property::PromiseReportsHighest => promise_reports_highest::PROPERTY,
            Property::Durability => durability::PROPERTY,
            Property::AcceptedValueProposed => accepted_value_proposed::PROPERTY,
            Property::LearnersAgree => learners_agree::PROPERTY,
        }
    }

    /// Where the property comes from.
    pub const fn source(self) -> &'static str {
        match self {
            Property::ChosenUnique => chosen_unique::SOURCE,
            Property::OneValuePerBallot => one_value_per_ballot::SOURCE,
            Property::P2bChosenValuePersists => p2b_chosen_value_persists::SOURCE,
            Property::P2cJustifiedAccept => p2c_justified_accept::SOURCE,
            Property::P1aPromiseOrder => p1a_promise_order::SOURCE,
            Property::PromiseReportsHighest => promise_reports_highest::SOURCE,
            Property::Durability => durability::SOURCE,
            Property::AcceptedValueProposed => accepted_value_proposed::SOURCE,
            Property::LearnersAgree => learners_agree::SOURCE,
        }
    }

    /// Checks the property on one key's exchanges.
    pub fn check_key(self, ev: &Evidence<'_>, key: KeyId, sink: &mut Sink) {
        match self {
            Property::ChosenUnique => chosen_unique::check_key(ev, key, sink),
            Property::OneValuePerBallot => one_value_per_ballot::check_key(ev, key, sink),
            Property::P2bChosenValuePersists => p2b_chosen_value_persists::check_key(ev, key, sink),
            Property::P2cJustifiedAccept => p2c_justified_accept::check_key(ev, key, sink),
            Property::P1aPromiseOrder => p1a_promise_order::check_key(ev, key, sink),
            Property::PromiseReportsHighest => promise_reports_highest::check_key(ev, key, sink),
            Property::Durability => durability::check_key(ev, key, sink),
            Property::AcceptedValueProposed => accepted_value_proposed::check_key(ev, key, sink),
            Property::LearnersAgree => learners_agree::check_key(ev, key, sink),
        }
    }

    /// Checks the part of the property that is not about one key's
    /// exchanges (snapshots, history).
    pub fn check_global(self, ev: &Evidence<'_>, sink: &mut Sink) {
        match self {
            Property::AcceptedValueProposed => accepted_value_proposed::check_global(ev, sink),
            Property::LearnersAgree => learners_agree::check_global(ev, sink),
            _ => {}
        }
    }

    /// Every violation of the property, unbounded (tests, small logs).
    pub fn check(self, ev: &Evidence<'_>) -> Vec<Violation> {
        let mut sink = Sink::unlimited();
        for key in 0..ev.log.key_count() as KeyId {
            self.check_key(ev, key, &mut sink);
        }
        self.check_global(ev, &mut sink);
        sink.kept
    }
}

/// Collects violations: builds the first `limit`, counts them all.
#[derive(Debug)]
pub struct Sink {
    limit: usize,
    /// How many violations were reported.
    pub found: usize,
    /// The violations built (the first `limit` reported).
    pub kept: Vec<Violation>,
}

impl Sink {
    /// A sink that keeps every violation.
    pub fn unlimited() -> Self {
        Sink::with_limit(usize::MAX)
    }

    /// A sink that builds at most `limit` violations.
    pub fn with_limit(limit: usize) -> Self {
        Sink {
            limit,
            found: 0,
            kept: Vec::new(),
        }
    }

    /// Reports a violation; `make` runs only if it is kept.
    pub fn report(&mut self, make: impl FnOnce() -> Violation) {
        self.found += 1;
        if self.kept.len() < self.limit {
            self.kept.push(make());
        }
    }
}

/// A value chosen at one ballot: a majority of distinct acceptors acked
/// accept (ballot, value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    /// The ballot of the proposal.
    pub ballot: Rank,
    /// Its value.
    pub value: ValueId,
    /// One ack per acceptor, exactly a majority of them: each acceptor's
    /// earliest ack, the acceptors whose acks arrived first.
    pub acks: Vec<u32>,
}

/// When a value was first surely chosen by the lenient reading used for
/// learners: an acceptor shows it accepted (b, v) by an ack, or by
/// reporting (b, v) in a prepare reply; the value is chosen once a majority
/// showed one (b, v).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeenChosen {
    /// The value.
    pub value: ValueId,
    /// The ballot at which it was first seen chosen.
    pub ballot: Rank,
    /// When the majority-th acceptor's evidence reached the proxy.
    pub at: u64,
}

/// Per-key facts several invariants share, computed once.
#[derive(Clone, Debug, Default)]
struct KeyFacts {
    chosen: Vec<Chosen>,
    seen: Vec<SeenChosen>,
}

/// Everything the invariants read: the indexed message log, the snapshots,
/// the history, and the cluster size, plus what several invariants share
/// (values chosen per key, snapshots per node, proposed values).
pub struct Evidence<'a> {
    /// The indexed message log.
    pub log: &'a MessageLog,
    /// `snapshots.jsonl`, in file order.
    pub snapshots: &'a [Snapshot],
    /// `history.jsonl`, in file order.
    pub history: &'a [Event],
    /// Number of acceptors (`nodes` in `test.json`).
    pub nodes: usize,
    facts: Vec<KeyFacts>,
    snapshots_by_node: BTreeMap<NodeId, Vec<usize>>,
    proposed: Option<HashSet<(KeyId, ValueId)>>,
}

impl<'a> Evidence<'a> {
    /// Indexes the evidence of one run with `nodes` acceptors.
    pub fn new(
        log: &'a MessageLog,
        snapshots: &'a [Snapshot],
        history: &'a [Event],
        nodes: usize,
    ) -> Self {
        let need = majority(nodes);
        let facts = par_keys(log.key_count(), |keys| {
            keys.map(|k| key_facts(log, k, need)).collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect();
        let mut snapshots_by_node: BTreeMap<NodeId, Vec<usize>> = BTreeMap::new();
        for (i, s) in snapshots.iter().enumerate() {
            snapshots_by_node.entry(s.node).or_default().push(i);
        }
        for list in snapshots_by_node.values_mut() {
            list.sort_by_key(|&i| (snapshots[i].time, i));
        }
        let mut proposed = None;
        for e in history {
            if e.kind != EventType::Invoke || e.f != "propose" {
                continue;
            }
            let set = proposed.get_or_insert_with(HashSet::new);
            let ids = e
                .key
                .as_deref()
                .and_then(|k| log.key_id(k))
                .zip(e.value.as_str().and_then(|v| log.value_id(v)));
            if let Some(ids) = ids {
                set.insert(ids);
            }
        }
        Evidence {
            log,
            snapshots,
            history,
            nodes,
            facts,
            snapshots_by_node,
            proposed,
        }
    }

    /// How many distinct acceptors make a majority: `n/2 + 1`.
    pub fn majority(&self) -> usize {
        majority(self.nodes)
    }

    /// The proposals chosen for a key (majority of acks), by ballot.
    pub fn chosen(&self, key: KeyId) -> &[Chosen] {
        &self.facts[key as usize].chosen
    }

    /// Each value of `key` with the earliest time it was surely chosen
    /// (acks and prepare reports counted), by value.
    pub fn seen_chosen(&self, key: KeyId) -> &[SeenChosen] {
        &self.facts[key as usize].seen
    }

    /// True when `value` was surely chosen for `key` no later than `time`.
    pub fn chosen_by(&self, key: KeyId, value: ValueId, time: u64) -> bool {
        self.seen_chosen(key)
            .iter()
            .any(|s| s.value == value && s.at <= time)
    }

    /// Indices into [`Evidence::snapshots`] of a node's snapshots, by time.
    pub fn snapshots_of(&self, node: NodeId) -> &[usize] {
        self.snapshots_by_node
            .get(&node)
            .map_or(&[], |v| v.as_slice())
    }

    /// `None` when the history has no `propose` (nothing to compare with);
    /// else whether `value` was proposed for `key`.
    pub fn proposed(&self, key: KeyId, value: ValueId) -> Option<bool> {
        self.proposed.as_ref().map(|p| p.contains(&(key, value)))
    }

    /// The ballot of a rank.
    pub fn b(&self, rank: Rank) -> Ballot {
        self.log.ballot(rank)
    }

    /// `"v"`: a value quoted for explanations.
    pub fn quote(&self, value: ValueId) -> String {
        format!("{:?}", self.log.value_name(value))
    }

    /// The nodes of some exchanges, for explanations.
    pub fn nodes_of(&self, handles: &[u32]) -> String {
        node_list(handles.iter().map(|&i| self.log.msg(i).to()))
    }

    /// Builds a violation of `property` about `key`, with the exchanges at
    /// the given handles (sorted by id, without repeats) and the given ops.
    pub fn violation(
        &self,
        property: Property,
        key: Option<&str>,
        explanation: String,
        msgs: impl IntoIterator<Item = u32>,
        ops: Vec<Event>,
    ) -> Violation {
        let mut handles: Vec<u32> = msgs.into_iter().collect();
        handles.sort_by_key(|&i| (self.log.msg(i).id, i));
        handles.dedup();
        Violation {
            property: property.name().to_string(),
            source: property.source().to_string(),
            key: key.map(str::to_string),
            explanation,
            ops,
            messages: handles.into_iter().map(|i| self.log.exchange(i)).collect(),
        }
    }
}

/// How many distinct acceptors make a majority of `nodes`.
pub fn majority(nodes: usize) -> usize {
    nodes / 2 + 1
}

/// True when A is surely before B at a node: A's reply reached the proxy
/// before B was forwarded.
pub fn surely_before(a_replied: Option<u64>, b_delivered: Option<u64>) -> bool {
    matches!((a_replied, b_delivered), (Some(a), Some(b)) if a < b)
}

/// "nodes 0, 1 and 2" for explanations.
pub fn node_list(nodes: impl IntoIterator<Item = NodeId>) -> String {
    let mut v: Vec<NodeId> = nodes.into_iter().collect();
    v.sort_unstable();
    v.dedup();
    let words: Vec<String> = v.iter().map(|n| n.to_string()).collect();
    match words.len() {
        0 => "no node".to_string(),
        1 => format!("node {}", words[0]),
        n => format!("nodes {} and {}", words[..n - 1].join(", "), words[n - 1]),
    }
}

/// Who sent a prepare or accept: "process 7" (ballot's clients propose),
/// or "node 2 (proposing for process 7)" when the nodes propose.
pub fn proposer_name(log: &MessageLog, m: &Msg) -> String {
    match (log.nodes_propose(), m.process()) {
        (true, Some(p)) => format!("node {} (proposing for process {p})", m.from()),
        (true, None) => format!("node {}", m.from()),
        (false, p) => process_name(p),
    }
}

/// The text with its first letter in upper case.
pub fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// "process 7", or "an unknown process".
pub fn process_name(p: Option<u64>) -> String {
    p.map_or_else(
        || "an unknown process".to_string(),
        |p| format!("process {p}"),
    )
}

/// Computes a key's chosen proposals (acks only) and the lenient chosen
/// times (acks and prepare reports).
///
/// Both group evidence by (ballot, value), keep each acceptor's earliest
/// piece, and call a group chosen when a majority of distinct acceptors is
/// in it; the time it became chosen is the majority-th earliest piece.
fn key_facts(log: &MessageLog, key: KeyId, need: usize) -> KeyFacts {
    // (ballot, value, node, time, handle, is_ack)
    let mut seen: Vec<(Rank, ValueId, NodeId, u64, u32, bool)> = Vec::new();
    for &i in log.by_key(key) {
        let m = log.msg(i);
        let t = m.replied().unwrap_or(u64::MAX);
        match m.kind {
            Kind::Accept if m.ack() => seen.push((
                m.ballot().expect("accept"),
                m.value().expect("accept"),
                m.to(),
                t,
                i,
                true,
            )),
            Kind::Prepare => {
                if let Some((b, v)) = m.reply_accepted() {
                    seen.push((b, v, m.to(), t, i, false));
                }
            }
            _ => {}
        }
    }
    let mut facts = KeyFacts::default();
    if seen.len() < need {
        return facts;
    }
    seen.sort_unstable_by_key(|s| (s.0, s.1, s.2, s.3, s.4));
    for group in seen.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let (ballot, value) = (group[0].0, group[0].1);
        // Earliest ack and earliest piece of evidence per node.
        let mut acks: Vec<(u64, u32)> = Vec::new();
        let mut any: Vec<u64> = Vec::new();
        for per_node in group.chunk_by(|a, b| a.2 == b.2) {
            any.push(per_node[0].3);
            if let Some(a) = per_node.iter().find(|s| s.5) {
                acks.push((a.3, a.4));
            }
        }
        if acks.len() >= need {
            acks.sort_unstable();
            acks.truncate(need);
            facts.chosen.push(Chosen {
                ballot,
                value,
                acks: acks.into_iter().map(|a| a.1).collect(),
            });
        }
        if any.len() >= need {
            any.sort_unstable();
            let at = any[need - 1];
            match facts.seen.iter_mut().find(|s| s.value == value) {
                Some(s) if at < s.at => {
                    s.at = at;
                    s.ballot = ballot;
                }
                Some(_) => {}
                None => facts.seen.push(SeenChosen { value, ballot, at }),
            }
        }
    }
    facts
}

/// Runs `work` over the key ids in chunks spread over the cores; returns
/// the chunks' results in key order.
fn par_keys<T: Send>(nkeys: usize, work: impl Fn(std::ops::Range<KeyId>) -> T + Sync) -> Vec<T> {
    const CHUNK: usize = 512;
    let mut all = crate::par::par_map(nkeys.div_ceil(CHUNK), |c| {
        let start = (c * CHUNK) as KeyId;
        let end = ((c + 1) * CHUNK).min(nkeys) as KeyId;
        Some(work(start..end))
    });
    all.sort_by_key(|(c, _)| *c);
    all.into_iter().map(|(_, t)| t).collect()
}

/// Runs `properties` over every key (in parallel) and then their global
/// parts; keeps at most [`MAX_VIOLATIONS_PER_PROPERTY`] violations of each,
/// in key order, and counts them all.
fn run(ev: &Evidence<'_>, properties: &[Property]) -> Vec<(Property, Sink)> {
    let chunks = par_keys(ev.log.key_count(), |keys| {
        let mut sinks: Vec<Sink> = properties
            .iter()
            .map(|_| Sink::with_limit(MAX_VIOLATIONS_PER_PROPERTY))
            .collect();
        for key in keys {
            for (p, sink) in properties.iter().zip(&mut sinks) {
                p.check_key(ev, key, sink);
            }
        }
        sinks
    });
    let mut total: Vec<(Property, Sink)> = properties
        .iter()
        .map(|&p| (p, Sink::with_limit(MAX_VIOLATIONS_PER_PROPERTY)))
        .collect();
    for sinks in chunks {
        for ((_, into), from) in total.iter_mut().zip(sinks) {
            into.found += from.found;
            into.kept.extend(from.kept);
            into.kept.truncate(MAX_VIOLATIONS_PER_PROPERTY);
        }
    }
    for (p, sink) in &mut total {
        p.check_global(ev, sink);
    }
    total
}

/// A checker result from the properties' sinks, with counts in `stats`.
fn result(name: &str, ev: &Evidence<'_>, found: Vec<(Property, Sink)>) -> CheckerResult {
    let mut violations = Vec::new();
    let mut counts = serde_json::Map::new();
    for (property, sink) in found {
        counts.insert(property.name().to_string(), json!(sink.found));
        violations.extend(sink.kept);
    }
    let mut result = CheckerResult::from_violations(name, violations);
    let chosen_keys = ev.facts.iter().filter(|f| !f.chosen.is_empty()).count();
    result.stats = json!({
        "exchanges": ev.log.len(),
        "keys": ev.log.key_count(),
        "chosen-keys": chosen_keys,
        "violations": counts,
    });
    result
}

/// Runs every message-log property but learner agreement: the `paxos`
/// checker's result.
pub fn check_paxos(ev: &Evidence<'_>) -> CheckerResult {
    result("paxos", ev, run(ev, &Property::PAXOS))
}

/// Runs learner agreement: the `learners` checker's result.
pub fn check_learners(ev: &Evidence<'_>) -> CheckerResult {
    result("learners", ev, run(ev, &[Property::LearnersAgree]))
}
