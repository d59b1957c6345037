//! Scripted, message-level scenarios: the file format, its validator, and
//! the built-in scenarios S01–S12 of `docs/scenarios.md`.
//!
//! A scenario is a JSON file (reference: `docs/scenarios.md`):
//!
//! ```json
//! {
//!   "name": "S02",
//!   "title": "the exercise: a quorum that saw (5,7) must propose 7",
//!   "nodes": 3,
//!   "proposers": [
//!     {"name": "P2", "id": 2, "ballot": 5, "value": "7"},
//!     {"name": "P3", "id": 3, "ballot": 9, "value": "6"}
//!   ],
//!   "steps": [
//!     "prepare P2 -> A, B, C",
//!     "accept P2 -> A, B",
//!     "hold accept P2 -> C",
//!     "run P3 via A, B, C",
//!     "release accept P2 -> C",
//!     "expect accept P2 -> C rejected",
//!     "expect P3 ok 7",
//!     "expect valid"
//!   ]
//! }
//! ```
//!
//! Proposers are the pure proposer state machines of `ballot-node`, one
//! operation each, with a pinned ballot round and proposer id; a proposer
//! without a `value` reads. Each step is one line (grammar in [`step`]).
//! Everything here is pure: the harness (`ballot::scenario`) runs it.
//!
//! # Layout
//!
//! - [`step`]: one step line: messages, faults, raw records, assertions; parser and printer.
//! - [`builtin`]: S01–S12 and their mirrors and bug variants, as JSON data.

pub mod builtin;
pub mod step;

use std::collections::{BTreeMap, BTreeSet};

use ballot_core::bugs::NodeBug;
use ballot_core::proposer::ClientBug;
use ballot_core::protocol::{validate_key, validate_value};
use serde::{Deserialize, Serialize};

pub use step::{
    parse_step, BallotRef, Completion, Expect, ExpectedOutcome, Fault, HistoryStep, MessageStep,
    ReplyKind, RequestKind, Sender, Step, StepError, Verb,
};

/// The key a scenario uses when its file names none.
pub const DEFAULT_KEY: &str = "x";
/// Most nodes a scenario may have (they are named A..Z).
pub const MAX_NODES: usize = 26;
/// Most attempts a scripted proposer may make.
pub const MAX_ATTEMPTS: u32 = 100;

/// A scenario file as written (JSON); [`Scenario::from_file`] validates it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Short name, e.g. `S01` (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// One line for `ballot scenario --list`.
    #[serde(default)]
    pub title: String,
    /// Longer explanation, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Number of acceptor nodes, named A, B, C...
    pub nodes: usize,
    /// The Paxos instance every step uses unless it says `key=K`.
    #[serde(default = "default_key")]
    pub key: String,
    /// Bugs every node runs with (`ballot-node --bug NAME`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_bugs: Vec<String>,
    /// The scripted proposers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proposers: Vec<ProposerFile>,
    /// The steps, one line each.
    pub steps: Vec<String>,
}

fn default_key() -> String {
    DEFAULT_KEY.to_string()
}

fn one_u64() -> u64 {
    1
}

fn one_u32() -> u32 {
    1
}

/// A proposer as written in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposerFile {
    /// Its name in steps, e.g. `P1`.
    pub name: String,
    /// Its proposer id (the `proposer` half of its ballots); default: position + 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The round of its first ballot (pinned); default 1.
    #[serde(default = "one_u64")]
    pub ballot: u64,
    /// The value it proposes; absent for a read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Attempts (each with a fresh ballot) before it gives up; default 1.
    #[serde(default = "one_u32")]
    pub attempts: u32,
    /// Deliberate proposer bugs (`--client-bug NAME`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_bugs: Vec<String>,
}

/// A validated proposer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposerSpec {
    /// Its name in steps.
    pub name: String,
    /// Its proposer id, also its client process id in the history.
    pub id: u64,
    /// The round of its first ballot.
    pub round: u64,
    /// The value it proposes; `None` for a read.
    pub value: Option<String>,
    /// Attempts before it gives up.
    pub attempts: u32,
    /// Deliberate proposer bugs.
    pub client_bugs: Vec<ClientBug>,
}

/// A validated scenario, ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// One line.
    pub title: String,
    /// Longer explanation.
    pub description: String,
    /// Number of nodes.
    pub nodes: usize,
    /// The default key.
    pub key: String,
    /// Bugs every node runs with.
    pub node_bugs: Vec<NodeBug>,
    /// The proposers.
    pub proposers: Vec<ProposerSpec>,
    /// The steps.
    pub steps: Vec<Step>,
}

/// Why a scenario file cannot be used. Messages name the field or step.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    /// Not valid JSON, or not the file's shape.
    #[error("not a scenario file: {0}")]
    Json(String),
    /// A field has a value that cannot work.
    #[error("{field}: {message}")]
    Field {
        /// The field, e.g. `proposers[1].ballot`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A step does not parse.
    #[error("steps[{index}]: {source}")]
    Step {
        /// Position of the step, from 0.
        index: usize,
        /// The parse error.
        source: StepError,
    },
    /// A step parses but does not fit the scenario (unknown proposer, node out of range...).
    #[error("steps[{index}] {line:?}: {message}")]
    BadStep {
        /// Position of the step, from 0.
        index: usize,
        /// The step.
        line: String,
        /// What is wrong.
        message: String,
    },
    /// No built-in scenario has this name.
    #[error("no built-in scenario {0:?}; `ballot scenario --list` lists them")]
    Unknown(String),
}

fn field(field: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Field {
        field: field.into(),
        message: message.into(),
    }
}

impl Scenario {
    /// Parses and validates a scenario file's text.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let file: ScenarioFile =
            serde_json::from_str(text).map_err(|e| ScenarioError::Json(e.to_string()))?;
        Scenario::from_file(file)
    }

    /// Validates a parsed file.
    pub fn from_file(file: ScenarioFile) -> Result<Scenario, ScenarioError> {
        let name_ok = !file.name.is_empty()
            && file.name.len() <= 64
            && file
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            return Err(field(
                "name",
                "must be 1-64 letters, digits, `-`, `_` or `.`",
            ));
        }
        if file.nodes == 0 || file.nodes > MAX_NODES {
            return Err(field("nodes", format!("must be 1 to {MAX_NODES}")));
        }
        validate_key(&file.key).map_err(|e| field("key", e.to_string()))?;
        let node_bugs = file
            .node_bugs
            .iter()
            .enumerate()
            .map(|(i, b)| {
                b.parse::<NodeBug>()
                    .map_err(|e| field(format!("node_bugs[{i}]"), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let proposers = validate_proposers(&file.proposers)?;
        let mut steps = Vec::with_capacity(file.steps.len());
        for (index, line) in file.steps.iter().enumerate() {
            let step = parse_step(line).map_err(|source| ScenarioError::Step { index, source })?;
            check_step(&step, file.nodes, &proposers).map_err(|message| {
                ScenarioError::BadStep {
                    index,
                    line: line.clone(),
                    message,
                }
            })?;
            steps.push(step);
        }
        Ok(Scenario {
            name: file.name,
            title: file.title,
            description: file.description,
            nodes: file.nodes,
            key: file.key,
            node_bugs,
            proposers,
            steps,
        })
    }

    /// The file form (steps printed canonically), for writing a scenario out.
    pub fn to_file(&self) -> ScenarioFile {
        ScenarioFile {
            name: self.name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            nodes: self.nodes,
            key: self.key.clone(),
            node_bugs: self.node_bugs.iter().map(|b| b.to_string()).collect(),
            proposers: self
                .proposers
                .iter()
                .map(|p| ProposerFile {
                    name: p.name.clone(),
                    id: Some(p.id),
                    ballot: p.round,
                    value: p.value.clone(),
                    attempts: p.attempts,
                    client_bugs: p.client_bugs.iter().map(|b| b.to_string()).collect(),
                })
                .collect(),
            steps: self.steps.iter().map(Step::to_string).collect(),
        }
    }

    /// The file as pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.to_file()).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The proposer called `name`.
    pub fn proposer(&self, name: &str) -> Option<&ProposerSpec> {
        self.proposers.iter().find(|p| p.name == name)
    }

    /// Index of the last step that drives each proposer (assertions do not
    /// count): after it, the runner ends the proposer's operation.
    pub fn last_steps(&self) -> BTreeMap<String, usize> {
        let mut last = BTreeMap::new();
        for (i, step) in self.steps.iter().enumerate() {
            if let Some(p) = step.proposer() {
                last.insert(p.to_string(), i);
            }
        }
        last
    }
}

fn validate_proposers(list: &[ProposerFile]) -> Result<Vec<ProposerSpec>, ScenarioError> {
    let mut names = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let at = |f: &str| format!("proposers[{i}].{f}");
        if !step::is_proposer_name(&p.name) {
            return Err(field(
                at("name"),
                format!(
                    "{:?} cannot name a proposer: use a letter then letters, digits, `_` or `-`, \
                     not a single capital (those are nodes) or a keyword",
                    p.name
                ),
            ));
        }
        if !names.insert(p.name.clone()) {
            return Err(field(at("name"), format!("{:?} is declared twice", p.name)));
        }
        let id = p.id.unwrap_or(i as u64 + 1);
        if !ids.insert(id) {
            return Err(field(
                at("id"),
                format!("{id} is used by another proposer; ids keep ballots unique"),
            ));
        }
        if p.ballot == 0 {
            return Err(field(at("ballot"), "a ballot round is at least 1"));
        }
        if p.attempts == 0 || p.attempts > MAX_ATTEMPTS {
            return Err(field(
                at("attempts"),
                format!("must be 1 to {MAX_ATTEMPTS}"),
            ));
        }
        if let Some(v) = &p.value {
            validate_value(v).map_err(|e| field(at("value"), e.to_string()))?;
        }
        let client_bugs = p
            .client_bugs
            .iter()
            .map(|b| {
                b.parse::<ClientBug>()
                    .map_err(|e| field(at("client_bugs"), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(ProposerSpec {
            name: p.name.clone(),
            id,
            round: p.ballot,
            value: p.value.clone(),
            attempts: p.attempts,
            client_bugs,
        });
    }
    Ok(out)
}

/// Checks that a step only names nodes and proposers the scenario has.
fn check_step(step: &Step, nodes: usize, proposers: &[ProposerSpec]) -> Result<(), String> {
    for n in step.nodes() {
        if n >= nodes {
            return Err(format!(
                "node {} does not exist (the scenario has {nodes}: A to {})",
                step::node_name(n),
                step::node_name(nodes - 1)
            ));
        }
    }
    let known = |name: &str| -> Result<(), String> {
        if proposers.iter().any(|p| p.name == name) {
            Ok(())
        } else {
            Err(format!("no proposer {name:?} is declared"))
        }
    };
    match step {
        Step::Message(m) => {
            if let Sender::Proposer(p) = &m.sender {
                known(p)?;
            }
            if let Some(k) = &m.key {
                validate_key(k).map_err(|e| e.to_string())?;
            }
            if let Sender::Raw { value: Some(v), .. } = &m.sender {
                validate_value(v).map_err(|e| e.to_string())?;
            }
        }
        Step::Run { proposer, .. } => known(proposer)?,
        Step::History(h) => {
            if let Some(k) = &h.key {
                validate_key(k).map_err(|e| e.to_string())?;
            }
        }
        Step::Expect(e) => match e {
            Expect::Outcome { proposer, .. }
            | Expect::Proposes { proposer, .. }
            | Expect::Reply { proposer, .. } => known(proposer)?,
            Expect::Promised {
                ballot: Some(BallotRef::Of(p)),
                ..
            }
            | Expect::Accepted {
                proposal: Some((BallotRef::Of(p), _)),
                ..
            } => known(p)?,
            _ => {}
        },
        Step::Fault { .. } => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = r#"{
        "name": "T1", "title": "t", "nodes": 3,
        "proposers": [{"name": "P1", "ballot": 2, "value": "a"}, {"name": "Rd", "id": 7}],
        "steps": ["run P1 via A, B", "run Rd via B, C", "expect Rd ok a", "expect valid"]
    }"#;

    #[test]
    fn parses_with_defaults() {
        let s = Scenario::parse(S).unwrap();
        assert_eq!(s.key, "x");
        assert_eq!(s.proposers[0].id, 1);
        assert_eq!(s.proposers[0].round, 2);
        assert_eq!(s.proposers[1].id, 7);
        assert_eq!(s.proposers[1].value, None);
        assert_eq!(s.proposers[1].attempts, 1);
        assert_eq!(s.steps.len(), 4);
        assert_eq!(s.last_steps().get("Rd"), Some(&1));
        let back = Scenario::parse(&s.to_json()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn bad_files_say_where() {
        let with = |from: &str, to: &str| {
            assert!(S.contains(from), "{from}");
            Scenario::parse(&S.replace(from, to))
                .unwrap_err()
                .to_string()
        };
        let table = [
            (
                with(r#""nodes": 3"#, r#""nodes": 0"#),
                "nodes: must be 1 to 26",
            ),
            (with(r#""name": "T1""#, r#""name": "a b""#), "name:"),
            (
                with(r#""ballot": 2"#, r#""ballot": 0"#),
                "proposers[0].ballot",
            ),
            (with(r#""id": 7"#, r#""id": 1"#), "proposers[1].id"),
            (with(r#""name": "Rd""#, r#""name": "P1""#), "declared twice"),
            (
                with(r#""name": "Rd""#, r#""name": "B""#),
                "proposers[1].name",
            ),
            (
                with("run Rd via B, C", "run Q via B, C"),
                "no proposer \"Q\"",
            ),
            (
                with("run Rd via B, C", "run Rd via B, D"),
                "node D does not exist",
            ),
            (with("expect valid", "expect nothing"), "steps[3]"),
            (with(r#""title""#, r#""titel""#), "unknown field `titel`"),
            (
                with(r#""nodes": 3"#, r#""nodes": 3, "node_bugs": ["nope"]"#),
                "node_bugs[0]: unknown node bug",
            ),
            (
                with(r#""id": 7"#, r#""id": 7, "client_bugs": ["x"]"#),
                "proposers[1].client_bugs: unknown client bug",
            ),
        ];
        for (err, needle) in table {
            assert!(err.contains(needle), "{err} should contain {needle}");
        }
        assert!(Scenario::parse("[1]")
            .unwrap_err()
            .to_string()
            .starts_with("not a scenario file"));
    }
}
