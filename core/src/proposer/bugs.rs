//! The proposer-side bug catalogue (`--client-bug NAME`).
//!
//! Each bug is one small, honest change at the place a real implementer
//! would get it wrong; the branch carrying it is marked `BUG(<name>)` in
//! [`super::rules`] or [`super::machine`]. With no bug the proposer takes
//! exactly the correct path.

use std::fmt;
use std::str::FromStr;

/// A deliberately wrong proposer behaviour, for proving the checker catches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientBug {
    /// Proposes its own value, ignoring accepted proposals reported by promises.
    OwnValue,
    /// Adopts the most frequently reported accepted value, not the highest-ballot one.
    MostFrequent,
    /// Ballots carry no proposer id (always 0), so two proposers can share one.
    SameBallot,
    /// Quorum of half the acceptors, rounded up: right for odd n, wrong for even n.
    HalfQuorum,
    /// Reports definite failure when its accept reached only a minority.
    MinorityFail,
    /// A read returns the highest accepted value without completing phase 2.
    ReadNoPhase2,
    /// Declares a value chosen (and sends learn) on its first accept ack.
    LearnFirstAccept,
}

impl ClientBug {
    /// Every proposer bug, in catalogue order.
    pub const ALL: [ClientBug; 7] = [
        ClientBug::OwnValue,
        ClientBug::MostFrequent,
        ClientBug::SameBallot,
        ClientBug::HalfQuorum,
        ClientBug::MinorityFail,
        ClientBug::ReadNoPhase2,
        ClientBug::LearnFirstAccept,
    ];

    /// The bug's command-line name, as `--client-bug` takes it.
    pub fn name(self) -> &'static str {
        match self {
            ClientBug::OwnValue => "own-value",
            ClientBug::MostFrequent => "most-frequent",
            ClientBug::SameBallot => "same-ballot",
            ClientBug::HalfQuorum => "half-quorum",
            ClientBug::MinorityFail => "minority-fail",
            ClientBug::ReadNoPhase2 => "read-no-phase2",
            ClientBug::LearnFirstAccept => "learn-first-accept",
        }
    }

    /// One line for `--help` and reports: what the broken proposer does.
    pub fn description(self) -> &'static str {
        match self {
            ClientBug::OwnValue => {
                "proposes its own value, ignoring accepted proposals reported by promises"
            }
            ClientBug::MostFrequent => {
                "adopts the most frequently reported accepted value instead of the highest-ballot one"
            }
            ClientBug::SameBallot => {
                "ballots carry no proposer id, so two proposers can use one ballot with different values"
            }
            ClientBug::HalfQuorum => {
                "quorum of n/2 rounded up: right for odd n, but two disjoint halves both win for even n"
            }
            ClientBug::MinorityFail => {
                "reports definite failure when its accept reached only a minority (it may still be chosen)"
            }
            ClientBug::ReadNoPhase2 => {
                "a read returns the highest accepted value from the promises without completing phase 2"
            }
            ClientBug::LearnFirstAccept => {
                "declares a value chosen and sends learn on the first accept ack, not a majority at one ballot"
            }
        }
    }
}

impl fmt::Display for ClientBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--client-bug` name that is not in the catalogue.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown client bug {name:?}; known: {}", known_names())]
pub struct UnknownClientBug {
    /// The name that was given.
    pub name: String,
}

fn known_names() -> String {
    ClientBug::ALL
        .iter()
        .map(|bug| bug.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for ClientBug {
    type Err = UnknownClientBug;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ClientBug::ALL
            .into_iter()
            .find(|bug| bug.name() == name)
            .ok_or_else(|| UnknownClientBug {
                name: name.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        for bug in ClientBug::ALL {
            assert_eq!(bug.name().parse::<ClientBug>(), Ok(bug));
            assert_eq!(bug.to_string(), bug.name());
            assert!(!bug.description().is_empty());
        }
        let mut names: Vec<_> = ClientBug::ALL.iter().map(|b| b.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ClientBug::ALL.len());
    }

    #[test]
    fn unknown_name_lists_the_catalogue() {
        let err = "own-values".parse::<ClientBug>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown client bug \"own-values\"; known: own-value, most-frequent, same-ballot, \
             half-quorum, minority-fail, read-no-phase2, learn-first-accept"
        );
    }
}
