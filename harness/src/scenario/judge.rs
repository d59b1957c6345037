//! The checker's verdict on a run folder, and whether it names a property.
//!
//! Scenario, replay and shrink all judge their run folders with the same
//! checks as `ballot test`: linearizability of the history (write-once
//! model) and the Paxos invariants on the message log and snapshots.

use std::path::Path;

use ballot_checker::run::{check_run, CheckOptions};
use ballot_core::verdict::{Results, Validity, Violation};

/// Checks the run folder `dir` exactly as `ballot check` does
/// ([`ballot_checker::run::check_run`], write-once model, default bounds).
pub fn check_dir(dir: &Path) -> Result<Results, String> {
    check_run(dir, &CheckOptions::default()).map_err(|e| e.to_string())
}

/// The violations that name `property` (as the violated property or as the
/// checker that found it); every violation when `property` is `None`.
pub fn violations_of<'r>(results: &'r Results, property: Option<&str>) -> Vec<&'r Violation> {
    results
        .checkers
        .iter()
        .flat_map(|c| c.violations.iter().map(move |v| (c, v)))
        .filter(|(c, v)| property.is_none_or(|p| v.property == p || c.name == p))
        .map(|(_, v)| v)
        .collect()
}

/// True when the results are invalid with a violation of `property` (any, for `None`).
pub fn violates(results: &Results, property: Option<&str>) -> bool {
    results.valid == Validity::Invalid && !violations_of(results, property).is_empty()
}

/// `property (key k)` for every violation, for messages.
pub fn summary(results: &Results) -> String {
    let list: Vec<String> = results
        .checkers
        .iter()
        .flat_map(|c| c.violations.iter())
        .map(|v| match &v.key {
            Some(k) => format!("{} (key {k:?})", v.property),
            None => v.property.clone(),
        })
        .collect();
    match results.valid {
        Validity::Valid => "valid".to_string(),
        Validity::Unknown => format!(
            "unknown ({})",
            results
                .checkers
                .iter()
                .filter_map(|c| c.reason.clone())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Validity::Invalid => format!("invalid: {}", list.join(", ")),
    }
}
