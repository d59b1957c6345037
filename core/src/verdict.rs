//! `results.json`: the verdict of a run, per checker, with evidence.
//!
//! Outcome taxonomy (STYLE.md item 6): a checker says `true` (no violation
//! in the evidence), `false` (a violation, with the ops or messages that show
//! it) or `"unknown"` (it could not decide: a bound on time or memory, or
//! missing evidence, with the reason). A harness failure is never a verdict:
//! it is exit code 255.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::records::{Event, Exchange};

/// A checker's answer: valid, invalid, or unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Validity {
    /// No violation in the evidence.
    Valid,
    /// At least one violation, with evidence.
    Invalid,
    /// Could not decide (bound hit, evidence missing).
    Unknown,
}

impl Validity {
    /// Combines two answers: any invalid wins, then any unknown, else valid.
    pub fn and(self, other: Validity) -> Validity {
        use Validity::*;
        match (self, other) {
            (Invalid, _) | (_, Invalid) => Invalid,
            (Unknown, _) | (_, Unknown) => Unknown,
            _ => Valid,
        }
    }

    /// Jepsen's exit code for this answer: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Validity::Valid => 0,
            Validity::Invalid => 1,
            Validity::Unknown => 2,
        }
    }
}

impl Serialize for Validity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::Valid => s.serialize_bool(true),
            Validity::Invalid => s.serialize_bool(false),
            Validity::Unknown => s.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for Validity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Bool(true) => Ok(Validity::Valid),
            Value::Bool(false) => Ok(Validity::Invalid),
            Value::String(s) if s == "unknown" => Ok(Validity::Unknown),
            other => Err(serde::de::Error::custom(format!(
                "valid must be true, false or \"unknown\", not {other}"
            ))),
        }
    }
}

/// One violated property, with the smallest evidence that shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// Short stable name of the property, e.g. `one-value-per-ballot`.
    pub property: String,
    /// Where the property comes from, e.g. `Lamport, Paxos Made Simple, P2b`.
    pub source: String,
    /// The key (Paxos instance), when the property is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Two or three sentences a person can follow.
    pub explanation: String,
    /// History events that show the violation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ops: Vec<Event>,
    /// Message-log exchanges that show the violation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Exchange>,
}

/// What one checker found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckerResult {
    /// Checker name, e.g. `linearizable`, `paxos`, `learners`, `stats`.
    pub name: String,
    /// Its answer.
    pub valid: Validity,
    /// Why the answer is unknown, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Violations found (empty when valid).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// Checker-specific figures (counts, timings, statistics).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub stats: Value,
}

impl CheckerResult {
    /// A result with the validity implied by the violations (invalid if any).
    pub fn from_violations(name: &str, violations: Vec<Violation>) -> Self {
        let valid = if violations.is_empty() {
            Validity::Valid
        } else {
            Validity::Invalid
        };
        CheckerResult {
            name: name.to_string(),
            valid,
            reason: None,
            violations,
            stats: Value::Null,
        }
    }
}

/// The whole `results.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// All checkers combined with [`Validity::and`].
    pub valid: Validity,
    /// One entry per checker, in a fixed order.
    pub checkers: Vec<CheckerResult>,
    /// How often the run reached each Paxos situation the bug catalogue
    /// needs (`ballot_checker::coverage`); facts, never part of the verdict.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub coverage: std::collections::BTreeMap<String, u64>,
}

impl Results {
    /// Combines checker results into the overall verdict.
    pub fn new(checkers: Vec<CheckerResult>) -> Self {
        let valid = checkers
            .iter()
            .fold(Validity::Valid, |acc, c| acc.and(c.valid));
        Results {
            valid,
            checkers,
            coverage: Default::default(),
        }
    }

    /// The first violation of any checker, in checker order.
    pub fn first_violation(&self) -> Option<&Violation> {
        self.checkers
            .iter()
            .flat_map(|c| c.violations.iter())
            .next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_serialises_as_jepsen_does() {
        assert_eq!(serde_json::to_string(&Validity::Valid).unwrap(), "true");
        assert_eq!(serde_json::to_string(&Validity::Invalid).unwrap(), "false");
        assert_eq!(
            serde_json::to_string(&Validity::Unknown).unwrap(),
            r#""unknown""#
        );
        let back: Validity = serde_json::from_str(r#""unknown""#).unwrap();
        assert_eq!(back, Validity::Unknown);
        assert!(serde_json::from_str::<Validity>("3").is_err());
    }

    #[test]
    fn invalid_beats_unknown_beats_valid() {
        use Validity::*;
        assert_eq!(Valid.and(Unknown), Unknown);
        assert_eq!(Unknown.and(Invalid), Invalid);
        assert_eq!(Valid.and(Valid), Valid);
        assert_eq!(Invalid.exit_code(), 1);
    }
}
