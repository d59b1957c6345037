//! The step executor: pure proposers, real nodes, one message at a time.
//!
//! The engine owns each scripted proposer as a pure state machine
//! ([`ballot_core::proposer::Proposer`]) and carries every message itself,
//! straight to the node over HTTP, in the order the script says. So "hold"
//! is a message built but not yet sent, "release" sends it, "drop-request"
//! never sends it, "drop-response" sends it but tells the proposer nothing
//! came back, and "duplicate" sends it twice. Replies are fed back to the
//! proposer as [`Event`]s, and the [`Action`] it returns decides what it can
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

use ballot_core::fault::FaultKind;
use ballot_core::proposer::{
    Action, ClientBug, Event, Op, Outcome, Phase as ProposerPhase, Proposer, ProposerConfig,
    Undelivered,
};
use ballot_core::protocol::{
    AcceptReply, Ballot, InstanceState, NodeId, PrepareReply, PROCESS_HEADER,
};
use ballot_core::records::{
    EventType, Exchange, Fate, Phase as FaultPhase, Process, SnapshotReason,
};
use ballot_workloads::scenario::{
    step::node_name, BallotRef, Completion, Expect, Fault, HistoryStep, MessageStep, Phase,
    ProposerSpec, ReplyKind, Scenario, Sender, Step, Verb,
};
use serde_json::{json, Value};

use super::expect::{chosen_values, outcome_matches, outcome_text, state_text, value_set};
use super::record::Records;
use super::{AssertionResult, RunError};
use crate::cluster::Cluster;

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
struct PState {
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
    replies: BTreeMap<(Phase, usize), ReplyKind>,
    /// The value of every accept it built.
    proposed: Vec<String>,
}

/// A message built by `hold`, waiting for `release`.
struct Held {
    phase: Phase,
    sender: SenderKey,
    node: usize,
    exchange: usize,
    reply_to: Option<(usize, Ballot)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum SenderKey {
    Proposer(String),
    Raw(Ballot, Option<String>),
}

/// What sending one request produced.
enum Sent {
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
) -> Result<Execution, RunError> {
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
                Some(v) => Op::Propose(v.clone()),
                None => Op::Read,
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

struct Engine<'a> {
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
    fn script_error(&self, message: impl Into<String>) -> RunError {
        RunError::Script {
            step: self.step,
            line: self.scenario.steps[self.step].to_string(),
            message: message.into(),
        }
    }

    fn prop(&self, name: &str) -> Result<usize, RunError> {
        self.props
            .iter()
            .position(|p| p.spec.name == name)
            .ok_or_else(|| self.script_error(format!("no proposer {name:?}")))
    }

    async fn run_steps(&mut self) -> Result<(), RunError> {
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

    fn key_of(&mut self, key: &Option<String>) -> String {
        let k = format!(
            "{}{}",
            key.as_deref().unwrap_or(&self.scenario.key),
            self.suffix
        );
        self.out.keys.insert(k.clone());
        k
    }

    // ---- proposers -------------------------------------------------------

    /// Invokes the operation on first use, and begins a new attempt when the last one failed.
    fn ensure_started(&mut self, p: usize) {
        if !self.props[p].invoked {
            let st = &mut self.props[p];
            st.invoked = true;
            let (f, value) = match &st.spec.value {
                Some(v) => ("propose", json!(v)),
                None => ("read", Value::Null),
            };
            let key = st.key.clone();
            let process = st.spec.id;
            self.out.keys.insert(key.clone());
            self.out.records.event(
                Process::Client(process),
                EventType::Invoke,
                f,
                Some(&key),
                value,
                None,
            );
            self.begin(p);
        } else if self.props[p].needs_attempt && self.props[p].outcome.is_none() {
            self.begin(p);
        }
    }

    fn begin(&mut self, p: usize) {
        let st = &mut self.props[p];
        st.needs_attempt = false;
        match st.machine.begin_attempt() {
            Some(b) => {
                st.ballot = Some(b);
                st.accept = None;
            }
            None => st.exhausted = true,
        }
    }

    /// Records the operation's completion (once).
    fn complete(&mut self, p: usize, outcome: Outcome) {
        let st = &mut self.props[p];
        if st.outcome.is_some() {
            return;
        }
        let (f, proposed) = match &st.spec.value {
            Some(v) => ("propose", json!(v)),
            None => ("read", Value::Null),
        };
        let (kind, value, error) = match &outcome {
            Outcome::Ok(v) => (EventType::Ok, json!(v), None),
            Outcome::Fail(why) => (EventType::Fail, proposed, Some(why.clone())),
            Outcome::Indeterminate(why) => (EventType::Info, proposed, Some(why.clone())),
        };
        let key = st.key.clone();
        let process = st.spec.id;
        st.outcome = Some(outcome);
        self.out
            .records
            .event(Process::Client(process), kind, f, Some(&key), value, error);
    }

    /// Ends an undecided operation the way the client would: `give_up`.
    ///
    /// The state machine counts every accept it asked for as possibly
    /// delivered until told otherwise, and the engine knows which it never
    /// built: it reports each as [`Undelivered::NotSent`] first, so an
    /// operation that died before its accepts left ends `fail` with "no
    /// accept request was sent" (S05's P2). Held accepts stay in flight.
    /// These reports are not replies, so `replies` does not record them.
    fn end_op(&mut self, p: usize, why: &str) {
        if self.props[p].outcome.is_some() || !self.props[p].invoked {
            return;
        }
        // An attempt that failed on its own says why; one that is merely
        // abandoned says why the scenario stopped driving it.
        let failed_before = self.props[p].exhausted || self.props[p].needs_attempt;
        let unsent: Vec<(Ballot, usize)> = self.props[p]
            .accept_targets
            .iter()
            .flat_map(|(ballot, built)| {
                (0..self.scenario.nodes)
                    .filter(|node| !built.contains(node))
                    .map(|node| (*ballot, node))
            })
            .collect();
        for (ballot, node) in unsent {
            let event = Event::NotDelivered {
                from: node as NodeId,
                ballot,
                phase: ProposerPhase::Accept,
                cause: Undelivered::NotSent,
            };
            let action = self.props[p].machine.handle(event);
            self.act(p, action);
        }
        let st = &mut self.props[p];
        if st.outcome.is_some() {
            return;
        }
        let reason = if failed_before {
            st.machine.last_failure().to_string()
        } else {
            why.to_string()
        };
        let outcome = st.machine.give_up(&reason);
        self.complete(p, outcome);
    }

    /// Feeds one reply (or its absence) to a proposer and acts on its answer.
    fn feed(&mut self, p: usize, phase: Phase, node: usize, ballot: Ballot, sent: &Sent) {
        let from = node as NodeId;
        let event = match (phase, sent) {
            (Phase::Learn, _) => return,
            (Phase::Prepare, Sent::Reply { status: 200, body }) => {
                match serde_json::from_value::<PrepareReply>(body.clone()) {
                    Ok(reply) => Event::Prepare {
                        from,
                        ballot,
                        reply,
                    },
                    Err(_) => no_reply(from, ballot, phase),
                }
            }
            (Phase::Accept, Sent::Reply { status: 200, body }) => {
                match serde_json::from_value::<AcceptReply>(body.clone()) {
                    Ok(reply) => Event::Accept {
                        from,
                        ballot,
                        reply,
                    },
                    Err(_) => no_reply(from, ballot, phase),
                }
            }
            // The node is down: the request never reached it.
            (_, Sent::Refused) => Event::NotDelivered {
                from,
                ballot,
                phase: proposer_phase(phase),
                cause: Undelivered::Refused,
            },
            // An error status, a timeout, a dropped message: it may have arrived.
            _ => no_reply(from, ballot, phase),
        };
        let kind = match &event {
            Event::Prepare { reply, .. } if reply.ok => ReplyKind::Acked,
            Event::Accept { reply, .. } if reply.ok => ReplyKind::Acked,
            Event::Prepare { .. } | Event::Accept { .. } => ReplyKind::Rejected,
            Event::NoReply { .. } | Event::NotDelivered { .. } => ReplyKind::NoReply,
        };
        self.props[p].replies.insert((phase, node), kind);
        let action = self.props[p].machine.handle(event);
        self.act(p, action);
    }

    fn act(&mut self, p: usize, action: Action) {
        let st = &mut self.props[p];
        match action {
            Action::Wait | Action::SendPrepare(_) => {}
            Action::SendAccept { ballot, value } => {
                st.accept_targets.entry(ballot).or_default();
                st.accept = Some((ballot, value));
            }
            Action::AttemptFailed => {
                if st.machine.attempts_left() {
                    st.needs_attempt = true;
                } else {
                    st.exhausted = true;
                }
            }
            Action::Chosen { ballot, value } => {
                st.chosen = Some((ballot, value.clone()));
                self.complete(p, Outcome::Ok(Some(value)));
            }
            Action::Done(outcome) => self.complete(p, outcome),
        }
    }

    /// The body, ballot and sender of proposer `p`'s current `phase` request.
    fn proposer_request(
        &mut self,
        p: usize,
        phase: Phase,
    ) -> Result<(Value, Ballot, Option<String>), RunError> {
        if phase == Phase::Prepare {
            self.ensure_started(p);
        }
        let st = &self.props[p];
        let name = &st.spec.name;
        let key = &st.key;
        match phase {
            Phase::Prepare => {
                let b = st.ballot.expect("a started proposer has a ballot");
                Ok((json!({"key": key, "ballot": b}), b, None))
            }
            Phase::Accept => match &st.accept {
                Some((b, v)) => Ok((
                    json!({"key": key, "ballot": b, "value": v}),
                    *b,
                    Some(v.clone()),
                )),
                None => Err(self.script_error(format!(
                    "{name} has no accept to send: no quorum has promised its current ballot"
                ))),
            },
            Phase::Learn => match &st.chosen {
                Some((b, v)) => Ok((json!({"key": key, "ballot": b, "value": v}), *b, None)),
                None => Err(self.script_error(format!(
                    "{name} has nothing to learn: it has not seen a value chosen"
                ))),
            },
        }
    }

    // ---- messages --------------------------------------------------------

    async fn message(&mut self, m: &MessageStep) -> Result<(), RunError> {
        for &node in &m.nodes {
            self.one_message(m, node).await?;
        }
        Ok(())
    }

    async fn one_message(&mut self, m: &MessageStep, node: usize) -> Result<(), RunError> {
        let sender = match &m.sender {
            Sender::Proposer(name) => SenderKey::Proposer(name.clone()),
            Sender::Raw { ballot, value, .. } => SenderKey::Raw(*ballot, value.clone()),
        };
        if m.verb == Verb::Release {
            let pos = self
                .held
                .iter()
                .position(|h| h.phase == m.phase && h.sender == sender && h.node == node)
                .ok_or_else(|| {
                    self.script_error(format!(
                        "no held {} message to {} to release",
                        m.phase.name(),
                        node_name(node)
                    ))
                })?;
            let held = self.held.remove(pos);
            let sent = self.deliver(held.exchange).await;
            if let Some((p, ballot)) = held.reply_to {
                self.feed(p, m.phase, node, ballot, &sent);
            }
            return Ok(());
        }
        let (body, process, reply_to) = match &m.sender {
            Sender::Proposer(name) => {
                let p = self.prop(name)?;
                let (body, ballot, value) = self.proposer_request(p, m.phase)?;
                if let Some(v) = value {
                    let st = &mut self.props[p];
                    st.proposed.push(v);
                    st.accepts_sent.insert(ballot);
                    st.accept_targets.entry(ballot).or_default().insert(node);
                }
                (body, Some(self.props[p].spec.id), Some((p, ballot)))
            }
            Sender::Raw {
                ballot,
                value,
                process,
            } => {
                let key = self.key_of(&m.key);
                let body = match value {
                    Some(v) => json!({"key": key, "ballot": ballot, "value": v}),
                    None => json!({"key": key, "ballot": ballot}),
                };
                (body, *process, None)
            }
        };
        let ex = self.new_exchange(m.phase, node, body, process);
        match m.verb {
            Verb::Hold => self.held.push(Held {
                phase: m.phase,
                sender,
                node,
                exchange: ex,
                reply_to,
            }),
            Verb::DropRequest | Verb::Cut => {
                self.out.records.messages[ex].fate = if m.verb == Verb::Cut {
                    Fate::Cut
                } else {
                    Fate::DroppedRequest
                };
                if let Some((p, ballot)) = reply_to {
                    self.feed(p, m.phase, node, ballot, &Sent::Lost);
                }
            }
            Verb::DropResponse => {
                let sent = self.deliver(ex).await;
                let record = &mut self.out.records.messages[ex];
                if record.fate == Fate::Ok {
                    record.fate = Fate::DroppedResponse;
                }
                if let Some((p, ballot)) = reply_to {
                    let seen = match sent {
                        Sent::Refused => Sent::Refused,
                        _ => Sent::Lost,
                    };
                    self.feed(p, m.phase, node, ballot, &seen);
                }
            }
            Verb::Deliver | Verb::Duplicate | Verb::Release => {
                let sent = self.deliver(ex).await;
                if m.verb == Verb::Duplicate {
                    let copy = self.out.records.messages[ex].clone();
                    let dup = self.new_exchange(m.phase, node, copy.request, copy.process);
                    self.out.records.messages[dup].duplicate_of = Some(copy.id);
                    self.deliver(dup).await;
                    let record = &mut self.out.records.messages[dup];
                    if record.fate == Fate::Ok {
                        record.fate = Fate::Duplicated;
                    }
                }
                if let Some((p, ballot)) = reply_to {
                    self.feed(p, m.phase, node, ballot, &sent);
                }
            }
        }
        Ok(())
    }

    fn new_exchange(
        &mut self,
        phase: Phase,
        node: usize,
        request: Value,
        process: Option<u64>,
    ) -> usize {
        let sent = self.out.records.tick();
        let from = process.map_or(0, |p| p % self.scenario.nodes as u64);
        self.out.records.exchange(Exchange {
            id: 0,
            from,
            to: node as NodeId,
            process,
            path: phase.path().to_string(),
            request,
            status: None,
            response: None,
            sent,
            delivered: None,
            replied: None,
            fate: Fate::Ok,
            duplicate_of: None,
        })
    }

    /// Sends exchange `ex` to its node now and records what came back. A
    /// paused node's messages wait until it resumes (the sender sees a timeout).
    async fn deliver(&mut self, ex: usize) -> Sent {
        let node = self.out.records.messages[ex].to as usize;
        if self.cluster.is_paused(node) {
            self.out.records.messages[ex].fate = Fate::Timeout;
            self.queued.entry(node).or_default().push(ex);
            return Sent::Lost;
        }
        self.send_now(ex).await
    }

    async fn send_now(&mut self, ex: usize) -> Sent {
        let (node, path, request, process) = {
            let r = &self.out.records.messages[ex];
            (r.to as usize, r.path.clone(), r.request.clone(), r.process)
        };
        let delivered = self.out.records.tick();
        let sent = post(self.http, self.cluster, node, &path, &request, process).await;
        let replied = self.out.records.tick();
        let record = &mut self.out.records.messages[ex];
        match &sent {
            Sent::Reply { status, body } => {
                record.delivered = Some(delivered);
                record.replied = Some(replied);
                record.status = Some(*status);
                record.response = Some(body.clone());
                if record.fate != Fate::Timeout {
                    record.fate = Fate::Ok;
                }
            }
            Sent::Refused => record.fate = Fate::Refused,
            Sent::Lost => {
                record.delivered = Some(delivered);
                record.fate = Fate::Timeout;
            }
        }
        sent
    }

    // ---- run -------------------------------------------------------------

    /// Drives proposer `name` to the end against `nodes`: every request it
    /// makes goes to each node in order, replies at once.
    async fn run(&mut self, name: &str, nodes: &[usize]) -> Result<(), RunError> {
        let p = self.prop(name)?;
        let bound = 2 * self.props[p].spec.attempts as usize + 4;
        let send = |phase| MessageStep {
            verb: Verb::Deliver,
            phase,
            sender: Sender::Proposer(name.to_string()),
            nodes: nodes.to_vec(),
            key: None,
        };
        for _ in 0..bound {
            let st = &self.props[p];
            if st.outcome.is_some() {
                if st.chosen.is_some() && !st.learned {
                    self.props[p].learned = true;
                    self.message(&send(Phase::Learn)).await?;
                }
                return Ok(());
            }
            if st.exhausted {
                self.end_op(p, "no attempts left");
                continue;
            }
            if !st.invoked || st.needs_attempt {
                self.ensure_started(p);
                if !self.props[p].exhausted {
                    self.message(&send(Phase::Prepare)).await?;
                }
                continue;
            }
            if let Some((b, _)) = &st.accept {
                if !st.accepts_sent.contains(b) {
                    self.message(&send(Phase::Accept)).await?;
                    continue;
                }
            }
            self.end_op(p, "no quorum among the nodes it reached");
        }
        Ok(())
    }

    // ---- faults ----------------------------------------------------------

    async fn fault(&mut self, fault: Fault, node: usize) -> Result<(), RunError> {
        match fault {
            Fault::Kill => {
                let pid = self.cluster.kill(node).await?;
                // Messages waiting at a paused node die with it, unprocessed.
                self.queued.remove(&node);
                self.out.records.fault(
                    FaultPhase::Start,
                    FaultKind::Kill,
                    node,
                    json!({"pids": [pid]}),
                );
            }
            Fault::Restart => {
                if self.cluster.is_running(node) {
                    return Err(self.script_error(format!(
                        "node {} is running; only a killed node can restart",
                        node_name(node)
                    )));
                }
                let pid = self.cluster.restart(node).await?;
                self.out.records.fault(
                    FaultPhase::Stop,
                    FaultKind::Kill,
                    node,
                    json!({"pids": [pid]}),
                );
                self.snapshot(node, SnapshotReason::Restart).await?;
            }
            Fault::Pause => {
                let pid = self.cluster.pause(node)?;
                self.out.records.fault(
                    FaultPhase::Start,
                    FaultKind::Pause,
                    node,
                    json!({"pids": [pid]}),
                );
            }
            Fault::Resume => {
                if !self.cluster.is_paused(node) {
                    return Err(
                        self.script_error(format!("node {} is not paused", node_name(node)))
                    );
                }
                let pid = self.cluster.resume(node)?;
                self.out.records.fault(
                    FaultPhase::Stop,
                    FaultKind::Pause,
                    node,
                    json!({"pids": [pid]}),
                );
                for ex in self.queued.remove(&node).unwrap_or_default() {
                    self.send_now(ex).await;
                }
            }
        }
        Ok(())
    }

    /// Resumes paused nodes and restarts killed ones, recording each.
    async fn heal(&mut self) -> Result<(), RunError> {
        for node in 0..self.cluster.len() {
            if self.cluster.is_paused(node) {
                let pid = self.cluster.resume(node)?;
                self.out.records.fault(
                    FaultPhase::Stop,
                    FaultKind::Pause,
                    node,
                    json!({"pids": [pid]}),
                );
                for ex in self.queued.remove(&node).unwrap_or_default() {
                    self.send_now(ex).await;
                }
            }
            if !self.cluster.is_running(node) {
                let pid = self.cluster.restart(node).await?;
                self.out.records.fault(
                    FaultPhase::Stop,
                    FaultKind::Kill,
                    node,
                    json!({"pids": [pid]}),
                );
                self.snapshot(node, SnapshotReason::Restart).await?;
            }
        }
        Ok(())
    }

    async fn final_snapshots(&mut self) -> Result<(), RunError> {
        for node in 0..self.cluster.len() {
            self.snapshot(node, SnapshotReason::Final).await?;
        }
        Ok(())
    }

    /// Records the node's state, keeping only this run's keys.
    async fn snapshot(
        &mut self,
        node: usize,
        reason: SnapshotReason,
    ) -> Result<BTreeMap<String, InstanceState>, RunError> {
        let mut snap = self.cluster.snapshot(node, reason).await?;
        snap.time = self.out.records.tick();
        snap.replied = Some(snap.time);
        let keys = &self.out.keys;
        snap.state.instances.retain(|k, _| keys.contains(k));
        let instances = snap.state.instances.clone();
        self.out.records.snapshots.push(snap);
        Ok(instances)
    }

    // ---- raw history -----------------------------------------------------

    fn history(&mut self, h: &HistoryStep) {
        let key = self.key_of(&h.key);
        let (kind, error) = match h.completion {
            None => (EventType::Invoke, None),
            Some(Completion::Ok) => (EventType::Ok, None),
            Some(Completion::Fail) => (EventType::Fail, Some("recorded".to_string())),
            Some(Completion::Info) => (EventType::Info, Some("recorded".to_string())),
        };
        self.out.records.event(
            Process::Client(h.process),
            kind,
            h.f.as_str(),
            Some(&key),
            json!(h.value),
            error,
        );
    }

    // ---- assertions ------------------------------------------------------

    async fn expect(&mut self, e: &Expect) -> Result<(), RunError> {
        let (passed, detail) = match e {
            Expect::Valid | Expect::Invalid(_) => {
                self.out.verdicts.push((self.step, e.clone()));
                return Ok(());
            }
            Expect::Chosen(want) => {
                let key = format!("{}{}", self.scenario.key, self.suffix);
                let got = chosen_values(&self.out.records.messages, &key, self.scenario.nodes);
                let passed = match want {
                    None => got.is_empty(),
                    Some(v) => got.len() == 1 && got.contains(v),
                };
                (passed, format!("chosen: {}", value_set(&got)))
            }
            Expect::Outcome { proposer, outcome } => {
                let st = &self.props[self.prop(proposer)?];
                let got = st.outcome.as_ref();
                (
                    outcome_matches(got, outcome),
                    format!("{proposer}: {}", outcome_text(got)),
                )
            }
            Expect::Proposes { proposer, value } => {
                let st = &self.props[self.prop(proposer)?];
                let passed = !st.proposed.is_empty() && st.proposed.iter().all(|v| v == value);
                (
                    passed,
                    format!("{proposer} sent accepts with {:?}", st.proposed),
                )
            }
            Expect::Reply {
                phase,
                proposer,
                node,
                reply,
            } => {
                let st = &self.props[self.prop(proposer)?];
                let got = st.replies.get(&(*phase, *node));
                (
                    got == Some(reply),
                    format!(
                        "last {} {proposer} -> {}: {}",
                        phase.name(),
                        node_name(*node),
                        got.map_or("never sent", |r| r.name())
                    ),
                )
            }
            Expect::Promised { node, .. }
            | Expect::Accepted { node, .. }
            | Expect::Learned { node, .. } => self.expect_state(e, *node).await?,
        };
        self.out.assertions.push(AssertionResult {
            step: self.step,
            line: self.scenario.steps[self.step].to_string(),
            passed,
            detail,
        });
        Ok(())
    }

    fn ballot_of(&self, b: &BallotRef) -> Result<Option<Ballot>, RunError> {
        Ok(match b {
            BallotRef::Literal(b) => Some(*b),
            BallotRef::Of(p) => self.props[self.prop(p)?].ballot,
        })
    }

    async fn expect_state(&mut self, e: &Expect, node: usize) -> Result<(bool, String), RunError> {
        let name = node_name(node);
        if !self.cluster.is_running(node) || self.cluster.is_paused(node) {
            return Ok((false, format!("node {name} is down or paused")));
        }
        let key = format!("{}{}", self.scenario.key, self.suffix);
        let snap = self.cluster.snapshot(node, SnapshotReason::Final).await?;
        let state = snap.state.instances.get(&key).cloned().unwrap_or_default();
        let passed = match e {
            Expect::Promised { ballot, .. } => {
                let want = match ballot {
                    Some(b) => self.ballot_of(b)?,
                    None => None,
                };
                state.promised == want
            }
            Expect::Accepted { proposal, .. } => match (proposal, &state.accepted) {
                (None, None) => true,
                (Some((b, v)), Some(a)) => self.ballot_of(b)? == Some(a.ballot) && &a.value == v,
                _ => false,
            },
            Expect::Learned { value, .. } => &state.learned == value,
            _ => false,
        };
        Ok((passed, format!("node {name}: {}", state_text(&state))))
    }
}

/// The proposer's phase of a message phase (learns never reach the proposer).
fn proposer_phase(phase: Phase) -> ProposerPhase {
    match phase {
        Phase::Prepare | Phase::Learn => ProposerPhase::Prepare,
        Phase::Accept => ProposerPhase::Accept,
    }
}

/// A request that got no usable answer and may have reached the node.
fn no_reply(from: NodeId, ballot: Ballot, phase: Phase) -> Event {
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
