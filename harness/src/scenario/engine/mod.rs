//! The step executor: pure proposers, real nodes, one message at a time.
//!
//! The engine owns each scripted proposer as a pure state machine
//! ([`ballot_core::proposer::Proposer`]) and carries every message itself,
//! straight to the node over HTTP, in the order the script says. So "hold"
//! is a message built but not yet sent, "release" sends it, "drop-request"
//! never sends it, "drop-response" sends it but tells the proposer nothing
//! came back, and "duplicate" sends it twice. Replies are fed back to the
//! proposer as [`Event`]s, and the `Action` it returns decides what it can
//! send next (an accept once a quorum promised, a learn once a value is
//! chosen). Messages to a paused node wait, in order, and are sent when it
//! resumes; the proposer meanwhile sees a timeout.
//!
//! A proposer's operation is invoked (history `invoke`) by its first step;
//! it completes when its state machine says so (chosen, or a read that found
//! nothing), or, if it is still undecided, right after the last step that
//! drives it: the engine then calls [`Proposer::give_up`], which classifies
//! it `fail` or `info` exactly as the real client would.

use std::collections::{BTreeMap, BTreeSet};

use ballot_core::proposer::{ClientBug, Event, Goal, Outcome, Proposer, ProposerConfig};
use ballot_core::protocol::{Ballot, NodeId, PROCESS_HEADER};
use ballot_workloads::scenario::{Expect, ProposerSpec, ReplyKind, RequestKind, Scenario, Step};
use serde_json::Value;

use super::record::Records;
use super::AssertionResult;
use crate::cluster::Cluster;
use crate::Error;

mod assert;
mod faults;
mod messages;
mod proposers;

/// How one execution differs from the scenario as written.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    /// Appended to every key, so a reused cluster sees fresh Paxos instances.
    pub key_suffix: String,
    /// Added to every proposer's bugs (`--client-bug`).
    pub client_bugs: Vec<ClientBug>,
}

/// What an execution produced, before the checker runs.
#[derive(Debug, Default)]
pub struct Execution {
    /// The records, ready to write.
    pub records: Records,
    /// Every assertion checked so far, in step order.
    pub assertions: Vec<AssertionResult>,
    /// Verdict assertions (`expect valid|invalid`), checked after the checker ran.
    pub verdicts: Vec<(usize, Expect)>,
    /// Every key the run touched (with the suffix).
    pub keys: BTreeSet<String>,
}

/// One scripted proposer and what it did.
pub(super) struct PState {
    spec: ProposerSpec,
    machine: Proposer,
    key: String,
    invoked: bool,
    outcome: Option<Outcome>,
    /// The ballot of its latest attempt.
    ballot: Option<Ballot>,
    /// The accept its latest quorum of promises allows.
    accept: Option<(Ballot, String)>,
    accepts_sent: BTreeSet<Ballot>,
    /// For each accept ballot: the nodes an accept message was built for.
    accept_targets: BTreeMap<Ballot, BTreeSet<usize>>,
    chosen: Option<(Ballot, String)>,
    learned: bool,
    needs_attempt: bool,
    exhausted: bool,
    /// What it last heard for each (phase, node).
    replies: BTreeMap<(RequestKind, usize), ReplyKind>,
    /// The value of every accept it built.
    proposed: Vec<String>,
}

/// A message built by `hold`, waiting for `release`.
pub(super) struct Held {
    phase: RequestKind,
    sender: SenderKey,
    node: usize,
    exchange: usize,
    reply_to: Option<(usize, Ballot)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum SenderKey {
    Proposer(String),
    Raw(Ballot, Option<String>),
}

/// What sending one request produced.
pub(super) enum Sent {
    /// The node answered.
    Reply { status: u16, body: Value },
    /// The connection was refused: the node never saw it.
    Refused,
    /// No complete answer: it may have been processed.
    Lost,
}

/// Runs `scenario` on `cluster` (already started, healthy) and returns its
/// records and the assertions checked along the way. The cluster is left
/// healed: paused nodes resumed, killed nodes restarted.
pub async fn execute(
    cluster: &mut Cluster,
    http: &reqwest::Client,
    scenario: &Scenario,
    opts: &ExecOptions,
) -> Result<Execution, Error> {
    let key = format!("{}{}", scenario.key, opts.key_suffix);
    let props = scenario
        .proposers
        .iter()
        .map(|spec| {
            let mut bugs = spec.client_bugs.clone();
            for b in &opts.client_bugs {
                if !bugs.contains(b) {
                    bugs.push(*b);
                }
            }
            let config = ProposerConfig {
                id: spec.id,
                acceptors: scenario.nodes,
                max_attempts: spec.attempts,
                bugs,
            };
            let op = match &spec.value {
                Some(v) => Goal::Propose(v.clone()),
                None => Goal::Read,
            };
            PState {
                spec: spec.clone(),
                machine: Proposer::new(config, op, spec.round - 1),
                key: key.clone(),
                invoked: false,
                outcome: None,
                ballot: None,
                accept: None,
                accepts_sent: BTreeSet::new(),
                accept_targets: BTreeMap::new(),
                chosen: None,
                learned: false,
                needs_attempt: false,
                exhausted: false,
                replies: BTreeMap::new(),
                proposed: Vec::new(),
            }
        })
        .collect();
    let mut engine = Engine {
        cluster,
        http,
        scenario,
        suffix: opts.key_suffix.clone(),
        out: Execution::default(),
        props,
        held: Vec::new(),
        queued: BTreeMap::new(),
        step: 0,
    };
    let result = engine.run_steps().await;
    // Heal even after a failed step, so the caller finds the cluster whole.
    let healed = engine.heal().await;
    result?;
    healed?;
    engine.final_snapshots().await?;
    Ok(engine.out)
}

pub(super) struct Engine<'a> {
    cluster: &'a mut Cluster,
    http: &'a reqwest::Client,
    scenario: &'a Scenario,
    suffix: String,
    out: Execution,
    props: Vec<PState>,
    held: Vec<Held>,
    /// Exchanges waiting at a paused node, in the order they were sent.
    queued: BTreeMap<usize, Vec<usize>>,
    step: usize,
}

impl Engine<'_> {
    fn script_error(&self, message: impl Into<String>) -> Error {
        Error::Script {
            step: self.step,
            line: self.scenario.steps[self.step].to_string(),
            message: message.into(),
        }
    }

    fn prop(&self, name: &str) -> Result<usize, Error> {
        self.props
            .iter()
            .position(|p| p.spec.name == name)
            .ok_or_else(|| self.script_error(format!("no proposer {name:?}")))
    }

    async fn run_steps(&mut self) -> Result<(), Error> {
        let last = self.scenario.last_steps();
        for i in 0..self.scenario.steps.len() {
            self.step = i;
            let step = self.scenario.steps[i].clone();
            match &step {
                Step::Message(m) => self.message(m).await?,
                Step::Run { proposer, nodes } => self.run(proposer, nodes).await?,
                Step::Fault { fault, nodes } => {
                    for &n in nodes {
                        self.fault(*fault, n).await?;
                    }
                }
                Step::History(h) => self.history(h),
                Step::Expect(e) => self.expect(e).await?,
            }
            for p in 0..self.props.len() {
                if last.get(&self.props[p].spec.name) == Some(&i) {
                    self.end_op(p, "the scenario sends it nothing more");
                }
            }
        }
        for p in 0..self.props.len() {
            if self.props[p].invoked {
                self.end_op(p, "the scenario ended");
            }
        }
        Ok(())
    }
}

/// The proposer's phase of a message phase (learns never reach the proposer).
pub(super) fn proposer_phase(phase: RequestKind) -> RequestKind {
    match phase {
        RequestKind::Prepare | RequestKind::Learn => RequestKind::Prepare,
        RequestKind::Accept => RequestKind::Accept,
    }
}

/// A request that got no usable answer and may have reached the node.
pub(super) fn no_reply(from: NodeId, ballot: Ballot, phase: RequestKind) -> Event {
    Event::NoReply {
        from,
        ballot,
        phase: proposer_phase(phase),
    }
}

/// POSTs `body` to `path` on node `node`, directly (there is no proxy: the
/// engine is the network).
async fn post(
    http: &reqwest::Client,
    cluster: &Cluster,
    node: usize,
    path: &str,
    body: &Value,
    process: Option<u64>,
) -> Sent {
    let url = format!("http://{}{path}", cluster.addr(node));
    let mut req = http.post(&url).json(body);
    if let Some(p) = process {
        req = req.header(PROCESS_HEADER, p.to_string());
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.bytes().await {
                Ok(bytes) => {
                    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(&bytes).into_owned())
                    });
                    Sent::Reply { status, body }
                }
                Err(_) => Sent::Lost,
            }
        }
        Err(e) if e.is_connect() => Sent::Refused,
        Err(_) => Sent::Lost,
    }
}
