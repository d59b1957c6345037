//! `expect` steps: checking outcomes and node state, recording each assertion.

use ballot_core::protocol::Ballot;
use ballot_core::records::SnapshotReason;
use ballot_workloads::scenario::{step::node_name, BallotRef, Expect};

use crate::scenario::expect::{
    chosen_values, outcome_matches, outcome_text, state_text, value_set,
};
use crate::scenario::AssertionResult;
use crate::Error;

use super::*;

impl Engine<'_> {
    pub(super) async fn expect(&mut self, e: &Expect) -> Result<(), Error> {
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

    pub(super) fn ballot_of(&self, b: &BallotRef) -> Result<Option<Ballot>, Error> {
        Ok(match b {
            BallotRef::Literal(b) => Some(*b),
            BallotRef::Of(p) => self.props[self.prop(p)?].ballot,
        })
    }

    pub(super) async fn expect_state(
        &mut self,
        e: &Expect,
        node: usize,
    ) -> Result<(bool, String), Error> {
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
