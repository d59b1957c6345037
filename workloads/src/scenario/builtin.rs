//! The built-in scenarios: S01–S12 of `docs/scenarios.md`, their mirrors, and
//! the bug variants that prove the checker catches a proposer bug.
//!
//! Each is a JSON file in `builtin/` (the same format users write), compiled
//! in, so `ballot scenario S02` needs no file and `ballot scenario --list`
//! can describe them. Every file asserts the exact outcome the table gives.

use super::{Scenario, ScenarioError};

/// `(name, file text)` of every built-in scenario, in `--list` order.
pub const FILES: [(&str, &str); 18] = [
    ("S01", include_str!("builtin/S01.json")),
    ("S01m", include_str!("builtin/S01m.json")),
    ("S02", include_str!("builtin/S02.json")),
    ("S03a", include_str!("builtin/S03a.json")),
    ("S03b", include_str!("builtin/S03b.json")),
    ("S04", include_str!("builtin/S04.json")),
    ("S04m", include_str!("builtin/S04m.json")),
    ("S05", include_str!("builtin/S05.json")),
    ("S06", include_str!("builtin/S06.json")),
    ("S07", include_str!("builtin/S07.json")),
    (
        "S07-same-ballot",
        include_str!("builtin/S07-same-ballot.json"),
    ),
    ("S08", include_str!("builtin/S08.json")),
    (
        "S08-half-quorum",
        include_str!("builtin/S08-half-quorum.json"),
    ),
    ("S09", include_str!("builtin/S09.json")),
    ("S10", include_str!("builtin/S10.json")),
    ("S11", include_str!("builtin/S11.json")),
    ("S12", include_str!("builtin/S12.json")),
    (
        "S12-most-frequent",
        include_str!("builtin/S12-most-frequent.json"),
    ),
];

/// The built-in scenario called `name` (case-insensitive).
pub fn get(name: &str) -> Result<Scenario, ScenarioError> {
    let (_, text) = FILES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .ok_or_else(|| ScenarioError::Unknown(name.to_string()))?;
    Scenario::parse(text)
}

/// Every built-in scenario, in `--list` order.
pub fn all() -> Result<Vec<Scenario>, ScenarioError> {
    FILES
        .iter()
        .map(|(_, text)| Scenario::parse(text))
        .collect()
}

/// One line per built-in scenario: its name, padded, and its title.
pub fn list() -> Vec<String> {
    let width = FILES.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    FILES
        .iter()
        .map(|(name, text)| {
            let title =
                Scenario::parse(text).map_or_else(|e| format!("(broken: {e})"), |s| s.title);
            format!("{name:width$}  {title}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Expect, Step};

    #[test]
    fn every_builtin_parses_under_its_own_name() {
        for (name, text) in FILES {
            let s = Scenario::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(s.name, name);
            assert!(!s.title.is_empty(), "{name} has no title");
            let verdicts = s
                .steps
                .iter()
                .filter(|st| matches!(st, Step::Expect(Expect::Valid | Expect::Invalid(_))))
                .count();
            assert!(verdicts >= 1, "{name} asserts no verdict");
            assert_eq!(
                Scenario::parse(&s.to_json()).unwrap(),
                s,
                "{name} round trip"
            );
        }
        assert_eq!(all().unwrap().len(), FILES.len());
    }

    #[test]
    fn the_table_is_covered() {
        for n in 1..=12 {
            let prefix = format!("S{n:02}");
            assert!(
                FILES.iter().any(|(name, _)| name.starts_with(&prefix)),
                "{prefix}"
            );
        }
        for mirror in [
            "S01m",
            "S04m",
            "S07-same-ballot",
            "S08-half-quorum",
            "S12-most-frequent",
        ] {
            assert!(get(mirror).is_ok(), "{mirror}");
        }
        assert_eq!(get("s02").unwrap().name, "S02");
        assert!(matches!(get("S99"), Err(ScenarioError::Unknown(_))));
        assert_eq!(list().len(), FILES.len());
        assert!(list()[0].starts_with("S01 "));
    }
}
