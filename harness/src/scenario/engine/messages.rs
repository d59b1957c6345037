//! Carrying messages: deliver, hold, release, drop, duplicate and cut, and
//! `run P via NODES`.

use ballot_core::protocol::NodeId;
use ballot_core::records::{Exchange, Fate};
use ballot_workloads::scenario::{step::node_name, MessageStep, RequestKind, Sender, Verb};
use serde_json::{json, Value};

use crate::Error;

use super::*;

impl Engine<'_> {
    pub(super) async fn message(&mut self, m: &MessageStep) -> Result<(), Error> {
        for &node in &m.nodes {
            self.one_message(m, node).await?;
        }
        Ok(())
    }

    pub(super) async fn one_message(&mut self, m: &MessageStep, node: usize) -> Result<(), Error> {
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

    pub(super) fn new_exchange(
        &mut self,
        phase: RequestKind,
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
    pub(super) async fn deliver(&mut self, ex: usize) -> Sent {
        let node = self.out.records.messages[ex].to as usize;
        if self.cluster.is_paused(node) {
            self.out.records.messages[ex].fate = Fate::Timeout;
            self.queued.entry(node).or_default().push(ex);
            return Sent::Lost;
        }
        self.send_now(ex).await
    }

    pub(super) async fn send_now(&mut self, ex: usize) -> Sent {
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
    pub(super) async fn run(&mut self, name: &str, nodes: &[usize]) -> Result<(), Error> {
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
                    self.message(&send(RequestKind::Learn)).await?;
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
                    self.message(&send(RequestKind::Prepare)).await?;
                }
                continue;
            }
            if let Some((b, _)) = &st.accept {
                if !st.accepts_sent.contains(b) {
                    self.message(&send(RequestKind::Accept)).await?;
                    continue;
                }
            }
            self.end_op(p, "no quorum among the nodes it reached");
        }
        Ok(())
    }

    // ---- faults ----------------------------------------------------------
}
