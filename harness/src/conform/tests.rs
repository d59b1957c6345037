//! The rule table against ballot-core's pure acceptor, served in memory as
//! a node would serve it: the correct acceptor passes every check, and
//! each deliberately broken variant fails exactly the rules its mistake
//! breaks. Plus the table's own hygiene: names, sources, selection.

use std::collections::BTreeMap;

use ballot_core::acceptor::Acceptor;
use ballot_core::bugs::{BugSet, NodeBug};
use ballot_core::protocol::{
    self, ErrorReply, HealthReply, LearnReply, NodeId, RequestKind, Role, StateReply, HEALTH_PATH,
    MAX_BODY_BYTES, STATE_PATH,
};
use serde::Serialize;

use super::expect::{judge, Reply};
use super::rules::{self, Rule, Setup};
use super::script::{Action, Method, Request};
use super::*;

/// What a restart keeps of an in-memory node.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Memory {
    /// Everything (the correct node).
    All,
    /// Nothing (`memory-only`).
    Nothing,
    /// Promises only (`promise-only`).
    Promises,
}

/// An in-memory node around the pure acceptor.
struct Model {
    id: NodeId,
    bugs: BugSet,
    memory: Memory,
    acceptor: Acceptor,
}

fn json_reply(status: u16, body: &impl Serialize) -> Reply {
    Reply::new(status, serde_json::to_vec(body).unwrap())
}

fn error_reply(status: u16, error: impl ToString) -> Reply {
    json_reply(
        status,
        &ErrorReply {
            error: error.to_string(),
        },
    )
}

impl Model {
    fn new(id: NodeId, bugs: &[NodeBug], memory: Memory) -> Model {
        let bugs = BugSet::of(bugs);
        Model {
            id,
            bugs,
            memory,
            acceptor: Acceptor::new(BTreeMap::new(), bugs),
        }
    }

    fn serve(&mut self, request: &Request) -> Reply {
        let body = request.body.as_deref().unwrap_or("").as_bytes();
        let kind = RequestKind::from_path(request.path);
        match (request.method, request.path, kind) {
            (Method::Get, HEALTH_PATH, _) => json_reply(
                200,
                &HealthReply {
                    node: self.id,
                    ok: true,
                    roles: vec![Role::Acceptor],
                },
            ),
            (Method::Get, STATE_PATH, _) => json_reply(
                200,
                &StateReply {
                    node: self.id,
                    instances: self.acceptor.instances().clone(),
                },
            ),
            (Method::Post, _, Some(_)) if body.len() > MAX_BODY_BYTES => {
                error_reply(400, "body too large")
            }
            (Method::Post, _, Some(kind)) => match protocol::Request::parse(kind, body) {
                Err(e) => error_reply(400, e),
                Ok(protocol::Request::Prepare(r)) => json_reply(200, &self.acceptor.prepare(&r).0),
                Ok(protocol::Request::Accept(r)) => json_reply(200, &self.acceptor.accept(&r).0),
                Ok(protocol::Request::Learn(r)) => match self.acceptor.learn(&r) {
                    Ok(_) => json_reply(200, &LearnReply { ok: true }),
                    Err(conflict) => error_reply(409, conflict),
                },
            },
            (_, HEALTH_PATH | STATE_PATH, _) | (_, _, Some(_)) => error_reply(405, "method"),
            _ => error_reply(404, "no such endpoint"),
        }
    }

    /// What a restart on the same data dir brings back.
    fn restart(&mut self) {
        let mut instances = self.acceptor.instances().clone();
        match self.memory {
            Memory::All => {}
            Memory::Nothing => instances.clear(),
            Memory::Promises => instances.values_mut().for_each(|s| s.accepted = None),
        }
        self.acceptor = Acceptor::new(instances, self.bugs);
    }
}

/// Runs a rule's script on in-memory nodes; `Err` is the failing step's
/// number (from 1) and the complaint.
fn run_on_model(rule: &Rule, bugs: &[NodeBug], memory: Memory) -> Result<(), (usize, String)> {
    let mut nodes: Vec<Model> = (0..rule.setup.nodes())
        .map(|id| Model::new(id as NodeId, bugs, memory))
        .collect();
    for (i, step) in (rule.script)().iter().enumerate() {
        let node = &mut nodes[step.node];
        match &step.action {
            Action::Send { request, expect } => {
                judge(expect, &node.serve(request)).map_err(|e| (i + 1, e))?
            }
            Action::Restart => node.restart(),
            Action::Kill | Action::Stop | Action::Terminate => {}
        }
    }
    Ok(())
}

fn acceptor_rules() -> Vec<Rule> {
    rules::all()
        .into_iter()
        .filter(|r| r.setup != Setup::Proposers)
        .collect()
}

/// The acceptor rules a variant fails.
fn failing(bugs: &[NodeBug], memory: Memory) -> Vec<&'static str> {
    acceptor_rules()
        .iter()
        .filter(|r| run_on_model(r, bugs, memory).is_err())
        .map(|r| r.name)
        .collect()
}

#[test]
fn the_correct_acceptor_passes_every_acceptor_check() {
    for rule in acceptor_rules() {
        assert_eq!(
            run_on_model(&rule, &[], Memory::All),
            Ok(()),
            "{}",
            rule.name
        );
    }
}

#[test]
fn each_broken_acceptor_fails_exactly_the_rule_it_breaks() {
    // Table: the variant (ballot-node's bug names) -> the rules it fails.
    for (bugs, memory, expected) in [
        (
            &[NodeBug::AcceptBelowPromise][..],
            Memory::All,
            &["accept-grants-at-or-above-promise"][..],
        ),
        (
            &[NodeBug::AcceptKeepsPromise],
            Memory::All,
            &["accept-raises-promise"],
        ),
        (
            &[NodeBug::PrepareReportsFirst],
            Memory::All,
            &["prepare-reports-highest-accepted"],
        ),
        (
            &[],
            Memory::Nothing,
            &["durable-across-sigkill", "data-dir-reused"],
        ),
        (
            &[],
            Memory::Promises,
            &["durable-across-sigkill", "data-dir-reused"],
        ),
    ] {
        assert_eq!(failing(bugs, memory), expected, "{bugs:?}");
    }
}

#[test]
fn a_failure_names_the_step_and_the_field() {
    let rule = rules::find("prepare-reports-highest-accepted").unwrap();
    assert_eq!(
        run_on_model(&rule, &[NodeBug::PrepareReportsFirst], Memory::All),
        Err((
            5,
            r#"accepted is {"ballot":{"round":1,"proposer":1},"value":"first"}; expected {"ballot":{"round":2,"proposer":2},"value":"second"}"#
                .into()
        ))
    );
    let rule = rules::find("durable-across-sigkill").unwrap();
    assert_eq!(
        run_on_model(&rule, &[], Memory::Promises),
        Err((
            6,
            r#"instances["dur"].accepted is null; expected {"ballot":{"round":1,"proposer":1},"value":"v"}"#
                .into()
        ))
    );
}

#[test]
fn names_are_unique_and_every_source_is_a_section_of_the_protocol_doc() {
    let doc = include_str!("../../../docs/protocol.md");
    let headings: Vec<&str> = doc
        .lines()
        .filter_map(|l| {
            l.strip_prefix("## ")
                .or_else(|| l.strip_prefix("# "))
                .or_else(|| l.strip_prefix("### "))
        })
        .collect();
    let all = rules::all();
    let mut names: Vec<&str> = all.iter().map(|r| r.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), all.len(), "duplicate names");
    for rule in &all {
        assert!(
            rule.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{}",
            rule.name
        );
        assert!(
            headings.contains(&rule.doc),
            "{}: no section {:?}",
            rule.name,
            rule.doc
        );
        assert!(!(rule.script)().is_empty(), "{}", rule.name);
    }
}

#[test]
fn checks_are_selected_by_name_in_table_order() {
    let picked = select(&["stops-on-sigterm".into(), "health".into()]).unwrap();
    let names: Vec<&str> = picked.iter().map(|r| r.name).collect();
    assert_eq!(names, ["health", "stops-on-sigterm"]);
    assert_eq!(select(&[]).unwrap().len(), rules::all().len());
    let err = select(&["helth".into()]).unwrap_err();
    assert_eq!(err.exit_code(), crate::exit::EXIT_BAD_ARGS);
    assert_eq!(
        err.to_string(),
        "no check named \"helth\"; `ballot conform --list` shows them"
    );
}

#[test]
fn only_a_node_that_never_answered_is_a_harness_failure() {
    let unhealthy = |last_status| ClusterError::Unhealthy {
        node: 0,
        timeout: Duration::from_secs(10),
        last_error: "x".into(),
        last_status,
        command: "node".into(),
        stderr_tail: String::new(),
    };
    assert_eq!(
        first_start_failure(&unhealthy(None)),
        FirstStart::NeverAnswered
    );
    assert_eq!(
        first_start_failure(&unhealthy(Some(404))),
        FirstStart::AnsweredBadly
    );
    let exited = ClusterError::Exited {
        node: 0,
        status: "exit status: 2".into(),
        command: "node".into(),
        stderr_tail: String::new(),
    };
    assert_eq!(first_start_failure(&exited), FirstStart::NeverAnswered);
}
