//! The catalogue of deliberately broken node variants (`ballot-node --bug NAME`).
//!
//! Each [`NodeBug`] is one mistake a real implementer makes. The code paths
//! that honour a bug are small, local changes at the spot where the mistake
//! would be made (the acceptor's comparisons, the server's durability wait,
//! what the server hands to storage); without any bug flag the node runs the
//! correct path and nothing else. `ballot test --list-bugs` prints
//! [`NodeBug::ALL`] with each [`NodeBug::description`].

use std::fmt;
use std::str::FromStr;

/// One deliberately broken behaviour of the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeBug {
    /// Replies before its state is durable; a background task writes and
    /// fsyncs buffered records about every 200 ms.
    ReplyBeforeDurable,
    /// Keeps all state in memory; a restart forgets everything.
    MemoryOnly,
    /// Persists promises but never the accepted proposal.
    PromiseOnly,
    /// Grants an accept whose ballot is below the promise (it compares with
    /// the accepted ballot instead of the promise).
    AcceptBelowPromise,
    /// A granted accept does not raise the promise.
    AcceptKeepsPromise,
    /// Prepare reports the first accepted proposal instead of the highest
    /// (the node keeps the first accepted proposal and never replaces it).
    PrepareReportsFirst,
}

impl NodeBug {
    /// Every node bug, in catalogue order.
    pub const ALL: [NodeBug; 6] = [
        NodeBug::ReplyBeforeDurable,
        NodeBug::MemoryOnly,
        NodeBug::PromiseOnly,
        NodeBug::AcceptBelowPromise,
        NodeBug::AcceptKeepsPromise,
        NodeBug::PrepareReportsFirst,
    ];

    /// The name used on the command line (`--bug NAME`).
    pub const fn name(self) -> &'static str {
        match self {
            NodeBug::ReplyBeforeDurable => "reply-before-durable",
            NodeBug::MemoryOnly => "memory-only",
            NodeBug::PromiseOnly => "promise-only",
            NodeBug::AcceptBelowPromise => "accept-below-promise",
            NodeBug::AcceptKeepsPromise => "accept-keeps-promise",
            NodeBug::PrepareReportsFirst => "prepare-reports-first",
        }
    }

    /// One line for a person: what the broken node does wrong.
    pub const fn description(self) -> &'static str {
        match self {
            NodeBug::ReplyBeforeDurable => {
                "replies before its state is durable; records are written and fsynced \
                 in the background about every 200 ms (lost by kill -9 + restart)"
            }
            NodeBug::MemoryOnly => {
                "keeps state in memory only; a restart forgets every promise and acceptance"
            }
            NodeBug::PromiseOnly => {
                "persists promises but not the accepted proposal; a restart forgets acceptances"
            }
            NodeBug::AcceptBelowPromise => {
                "grants accept below its promise (compares with the accepted ballot, \
                 not the promise)"
            }
            NodeBug::AcceptKeepsPromise => {
                "a granted accept does not raise the promise, so a later lower-ballot \
                 accept can overwrite a higher accepted proposal"
            }
            NodeBug::PrepareReportsFirst => {
                "keeps and reports the first accepted proposal instead of the highest"
            }
        }
    }
}

impl fmt::Display for NodeBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--bug` name that is not in the catalogue.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown node bug {name:?}; known bugs: {}", known_names())]
pub struct UnknownBug {
    /// The name that was given.
    pub name: String,
}

fn known_names() -> String {
    NodeBug::ALL.map(NodeBug::name).join(", ")
}

impl FromStr for NodeBug {
    type Err = UnknownBug;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeBug::ALL
            .into_iter()
            .find(|bug| bug.name() == s)
            .ok_or_else(|| UnknownBug { name: s.into() })
    }
}

/// The set of bugs a node runs with; empty means the correct node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BugSet(u32);

impl BugSet {
    /// The correct node: no bug.
    pub const NONE: BugSet = BugSet(0);

    /// A set holding exactly the given bugs.
    pub fn of(bugs: &[NodeBug]) -> BugSet {
        bugs.iter().fold(BugSet::NONE, |set, &bug| set.with(bug))
    }

    /// This set plus `bug`.
    pub const fn with(self, bug: NodeBug) -> BugSet {
        BugSet(self.0 | 1 << bug as u32)
    }

    /// Whether `bug` is switched on.
    pub const fn has(self, bug: NodeBug) -> bool {
        self.0 & (1 << bug as u32) != 0
    }

    /// Whether no bug is switched on.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The bugs in this set, in catalogue order.
    pub fn iter(self) -> impl Iterator<Item = NodeBug> {
        NodeBug::ALL.into_iter().filter(move |&bug| self.has(bug))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for bug in NodeBug::ALL {
            assert_eq!(bug.name().parse::<NodeBug>(), Ok(bug));
            assert_eq!(bug.to_string(), bug.name());
            assert!(!bug.description().is_empty());
        }
        let mut names: Vec<_> = NodeBug::ALL.map(NodeBug::name).to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), NodeBug::ALL.len());
    }

    #[test]
    fn unknown_name_lists_the_catalogue() {
        let err = "no-such-bug".parse::<NodeBug>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown node bug \"no-such-bug\"; known bugs: reply-before-durable, memory-only, \
             promise-only, accept-below-promise, accept-keeps-promise, prepare-reports-first"
        );
    }

    #[test]
    fn bug_sets_hold_exactly_their_members() {
        assert!(BugSet::NONE.is_empty());
        let set = BugSet::of(&[NodeBug::MemoryOnly, NodeBug::PrepareReportsFirst]);
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![NodeBug::MemoryOnly, NodeBug::PrepareReportsFirst]
        );
        for bug in NodeBug::ALL {
            assert_eq!(
                set.has(bug),
                matches!(bug, NodeBug::MemoryOnly | NodeBug::PrepareReportsFirst)
            );
        }
    }
}
