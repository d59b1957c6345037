//! The bug catalogue as data: for every deliberate bug, the seeded
//! `ballot test` configuration that exposes it and the properties expected
//! to catch it.
//!
//! Each configuration injects the faults that expose the bug the way a
//! production incident would, never by special-casing the bug:
//!
//! - **durability bugs**: `kill` (SIGKILL, then restart on the same data
//!   dir) on the `kv` workload. Many keys go cold after a few ops, so the
//!   state snapshot taken right after a restart shows what the node forgot
//!   (on the one-key `register` workload new traffic re-populates the key
//!   before the snapshot and hides the loss).
//! - **acceptor bugs**: contention (all clients as fast as they can) with
//!   delayed, duplicated or dropped messages, so requests of different
//!   ballots reach a node out of order.
//! - **proposer bugs**: the *race profile* (one fresh key every 10 ms,
//!   raced by 10 paced proposers started 1 ms apart, so the first few
//!   overlap on every key) with partitions, delays or drops, which leave
//!   proposals accepted by a minority; 4 nodes for the even-quorum bug, 5
//!   for the majority-vote bug (whose S12 history needs two leftovers).
//!
//! The unit tests check that every bug of [`NodeBug::ALL`] and
//! [`ClientBug::ALL`] has exactly one entry, that every configuration parses
//! as `ballot test` flags with a time limit of at most 30 s, and that every
//! expected property is one the checker can report.

use std::fmt;

use ballot_core::bugs::NodeBug;
use ballot_core::proposer::ClientBug;

/// Where a bug lives: in the acceptor node or in the clients' proposer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BugKind {
    /// `ballot-node --bug NAME` (passed by `ballot test --bug NAME`).
    Node,
    /// `ballot test --client-bug NAME`.
    Client,
}

impl BugKind {
    /// `node` or `client`.
    pub fn name(self) -> &'static str {
        match self {
            BugKind::Node => "node",
            BugKind::Client => "client",
        }
    }

    /// The `ballot test` flag that switches a bug of this kind on.
    pub fn flag(self) -> &'static str {
        match self {
            BugKind::Node => "--bug",
            BugKind::Client => "--client-bug",
        }
    }
}

impl fmt::Display for BugKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One catalogue row: a bug and the seeded test that must catch it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BugCase {
    /// The bug's command-line name (`NodeBug::name` or `ClientBug::name`).
    pub name: &'static str,
    /// Node or client bug.
    pub kind: BugKind,
    /// The docs/scenarios.md class: durability, acceptor, proposer, reads, learner.
    pub class: &'static str,
    /// `ballot test` flags besides the bug flag, `--seed` and `--store`.
    pub args: &'static [&'static str],
    /// Properties whose violation counts as catching the bug; the first is
    /// the one that names the mistake most directly.
    pub expect: &'static [&'static str],
    /// Why this configuration exposes the bug, for the catalogue document.
    pub how: &'static str,
}

impl BugCase {
    /// The whole `ballot test` argument list (after `test`), bug flag first,
    /// without `--seed` and `--store`.
    pub fn test_args(&self) -> Vec<String> {
        let mut args = vec![self.kind.flag().to_string(), self.name.to_string()];
        args.extend(self.args.iter().map(|a| a.to_string()));
        args
    }

    /// The configuration's time limit in seconds (`--time-limit`, else 30).
    pub fn time_limit(&self) -> f64 {
        flag_value(self.args, "--time-limit")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30.0)
    }
}

/// The value following `flag` in `args`, if any.
pub fn flag_value<'a>(args: &[&'a str], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| *a == flag)
        .and_then(|i| args.get(i + 1))
        .copied()
}

/// The race profile's flags (a fresh key every 10 ms, raced by 10
/// proposers started 1 ms apart), spelled out in each case that uses it so
/// every row reads as the exact command it runs.
macro_rules! race {
    ($($rest:literal),* $(,)?) => {
        &[
            "--workload", "kv", "--window", "1", "--ops-per-key", "10",
            "--concurrency", "10", "--rate", "1000", $($rest),*
        ]
    };
}

/// Every bug, in catalogue order (node bugs, then client bugs), with its
/// configuration.
#[rustfmt::skip] // flag lists read best as command lines
pub fn catalogue() -> Vec<BugCase> {
    vec![
        BugCase {
            name: NodeBug::ReplyBeforeDurable.name(),
            kind: BugKind::Node,
            class: "durability",
            args: &[
                "--workload", "kv", "--rate", "0", "--nemesis", "kill",
                "--nemesis-interval", "1", "--time-limit", "10",
            ],
            expect: &["durability", ballot_checker::spec::PROPERTY],
            how: "Clients run as fast as they can, so a SIGKILL almost always lands within the \
                  ~200 ms between a reply and its background fsync; the snapshot taken right \
                  after the restart lacks an acknowledged promise or acceptance.",
        },
        BugCase {
            name: NodeBug::MemoryOnly.name(),
            kind: BugKind::Node,
            class: "durability",
            args: &[
                "--workload", "kv", "--nemesis", "kill", "--nemesis-interval", "1",
                "--time-limit", "8",
            ],
            expect: &["durability", ballot_checker::spec::PROPERTY],
            how: "The first kill and restart wipes every key the node acknowledged; the \
                  restart snapshot shows cold keys with no promise at all.",
        },
        BugCase {
            name: NodeBug::PromiseOnly.name(),
            kind: BugKind::Node,
            class: "durability",
            args: &[
                "--workload", "kv", "--nemesis", "kill", "--nemesis-interval", "1",
                "--time-limit", "8",
            ],
            expect: &["durability", ballot_checker::spec::PROPERTY],
            how: "After a kill and restart the node still has its promises but no accepted \
                  proposal; the restart snapshot shows an acknowledged acceptance missing.",
        },
        BugCase {
            name: NodeBug::AcceptBelowPromise.name(),
            kind: BugKind::Node,
            class: "acceptor",
            args: &[
                "--workload", "kv", "--rate", "0", "--nemesis", "delay",
                "--nemesis-interval", "1", "--time-limit", "8",
            ],
            expect: &["p1a-promise-order", ballot_checker::spec::PROPERTY],
            how: "Unpaced clients duel on every key; a proposer's accept arrives after a \
                  competitor's higher prepare and the node acks it below its promise.",
        },
        BugCase {
            name: NodeBug::AcceptKeepsPromise.name(),
            kind: BugKind::Node,
            class: "acceptor",
            args: &[
                "--workload", "kv", "--rate", "0", "--nemesis", "drop,delay,duplicate",
                "--nemesis-interval", "1", "--time-limit", "10",
            ],
            expect: &["p1a-promise-order", ballot_checker::spec::PROPERTY],
            how: "A dropped prepare lets a node accept a ballot it never promised; with its \
                  promise left behind, a delayed or duplicated lower accept is then acked \
                  too, going back on the higher proposal it accepted.",
        },
        BugCase {
            name: NodeBug::PrepareReportsFirst.name(),
            kind: BugKind::Node,
            class: "acceptor",
            args: &[
                "--workload", "kv", "--nemesis", "drop", "--nemesis-interval", "1",
                "--time-limit", "8",
            ],
            expect: &["promise-reports-highest", ballot_checker::spec::PROPERTY],
            how: "Reads and retried proposes run repeated rounds on each key, so nodes accept \
                  the same key at several ballots; the next prepare reports the first, lower \
                  one.",
        },
        BugCase {
            name: ClientBug::OwnValue.name(),
            kind: BugKind::Client,
            class: "proposer",
            args: race!("--nemesis", "drop,delay", "--nemesis-interval", "1", "--time-limit", "8"),
            expect: &["p2c-justified-accept"],
            how: "Overlapping proposers on every fresh key: the later one is told of an \
                  accepted value and proposes its own anyway.",
        },
        BugCase {
            name: ClientBug::MostFrequent.name(),
            kind: BugKind::Client,
            class: "proposer",
            args: race!(
                "--nodes", "5", "--nemesis", "partition", "--nemesis-interval", "1",
                "--time-limit", "20"
            ),
            expect: &["p2c-justified-accept"],
            how: "5 nodes, one fresh key every 10 ms raced by proposers started 1 ms apart. \
                  During a ring or bridge partition, where the majorities of two hosts share \
                  one node, two racing proposers leave the loser's value accepted on two nodes \
                  while the winner's is chosen on three; a later round on that key hears both \
                  leftovers and the shared node and adopts the leftover by majority vote (S12).",
        },
        BugCase {
            name: ClientBug::SameBallot.name(),
            kind: BugKind::Client,
            class: "proposer",
            args: race!("--nemesis", "delay", "--nemesis-interval", "1", "--time-limit", "8"),
            expect: &["one-value-per-ballot"],
            how: "Proposers race on every fresh key and, after each rejection, move to the \
                  round just above the promise they were shown; two proposers that saw the \
                  same rounds pick the same ballot with different values.",
        },
        BugCase {
            name: ClientBug::HalfQuorum.name(),
            kind: BugKind::Client,
            class: "proposer",
            args: &[
                "--nodes", "4", "--workload", "kv", "--nemesis", "partition",
                "--nemesis-interval", "1", "--time-limit", "8",
            ],
            expect: &["p2c-justified-accept", "chosen-unique"],
            how: "With 4 nodes the proposer goes ahead on 2 promises, fewer than a majority \
                  (3); partitions into halves then let both sides choose.",
        },
        BugCase {
            name: ClientBug::MinorityFail.name(),
            kind: BugKind::Client,
            class: "proposer",
            args: race!(
                "--nemesis", "drop", "--nemesis-targets", "all", "--nemesis-interval", "1",
                "--time-limit", "10"
            ),
            expect: &["value-was-proposed"],
            how: "Dropped accepts and replies on every link make proposers run out of \
                  attempts after a minority acked; a later proposer adopts the leftover, so \
                  a value whose only propose 'failed' is chosen.",
        },
        BugCase {
            name: ClientBug::ReadNoPhase2.name(),
            kind: BugKind::Client,
            class: "reads",
            args: race!(
                "--read-fraction", "0.5", "--nemesis", "drop", "--nemesis-targets", "all",
                "--nemesis-interval", "1", "--time-limit", "10"
            ),
            expect: &["learners-agree", "single-value"],
            how: "Dropped accepts leave proposals accepted by a minority; half the ops are \
                  reads, which return such a leftover without completing phase 2.",
        },
        BugCase {
            name: ClientBug::LearnFirstAccept.name(),
            kind: BugKind::Client,
            class: "learner",
            args: &[
                "--workload", "kv", "--nemesis", "drop", "--nemesis-interval", "1",
                "--time-limit", "8",
            ],
            expect: &["learners-agree"],
            how: "Dropped accepts and replies: the proposer declares its value chosen and \
                  sends learn after a single ack, before a majority accepted it.",
        },
    ]
}

/// Looks up cases by name; `None` means every case. Unknown names are an
/// error listing the catalogue.
pub fn select(names: Option<&[String]>) -> Result<Vec<BugCase>, String> {
    let all = catalogue();
    let Some(names) = names else {
        return Ok(all);
    };
    let mut out = Vec::new();
    for name in names {
        match all.iter().find(|c| c.name == name) {
            Some(case) if !out.contains(case) => out.push(case.clone()),
            Some(_) => {}
            None => {
                let known: Vec<&str> = all.iter().map(|c| c.name).collect();
                return Err(format!("unknown bug {name:?}; known: {}", known.join(", ")));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse, Command};
    use ballot_checker::invariants::Property;

    /// Properties of the `linearizable` checker (write-once model).
    const LINEARIZABLE: [&str; 4] = [
        "single-value",
        "value-was-proposed",
        "real-time-order",
        "propose-returns-value",
    ];

    #[test]
    fn every_bug_has_exactly_one_case() {
        let cases = catalogue();
        let node: Vec<&str> = NodeBug::ALL.iter().map(|b| b.name()).collect();
        let client: Vec<&str> = ClientBug::ALL.iter().map(|b| b.name()).collect();
        assert_eq!(cases.len(), node.len() + client.len());
        for case in &cases {
            let names = match case.kind {
                BugKind::Node => &node,
                BugKind::Client => &client,
            };
            assert!(
                names.contains(&case.name),
                "{} is not a {} bug",
                case.name,
                case.kind
            );
            assert_eq!(cases.iter().filter(|c| c.name == case.name).count(), 1);
        }
    }

    #[test]
    fn every_configuration_parses_with_a_short_time_limit() {
        for case in catalogue() {
            let argv = ["ballot".to_string(), "test".to_string()]
                .into_iter()
                .chain(case.test_args());
            let args = match parse(argv) {
                Ok(cli) => match cli.command {
                    Command::Test(t) => *t,
                    other => panic!("{}: not a test command: {other:?}", case.name),
                },
                Err(e) => panic!("{}: {e}", case.name),
            };
            assert!(
                args.time_limit > 0.0 && args.time_limit <= 30.0,
                "{}",
                case.name
            );
            assert_eq!(args.time_limit, case.time_limit(), "{}", case.name);
            let bugs = args.bugs.len() + args.client_bugs.len();
            assert_eq!(bugs, 1, "{}: exactly one bug", case.name);
            assert!(
                args.seed.is_none(),
                "{}: the seed comes from validate",
                case.name
            );
        }
    }

    #[test]
    fn expected_properties_are_ones_the_checker_reports() {
        let known: Vec<&str> = Property::ALL
            .iter()
            .map(|p| p.name())
            .chain(LINEARIZABLE)
            .chain([ballot_checker::spec::PROPERTY])
            .collect();
        for case in catalogue() {
            // Every node bug breaks the acceptor specification; no client bug does.
            assert_eq!(
                case.expect.contains(&ballot_checker::spec::PROPERTY),
                case.kind == BugKind::Node,
                "{}",
                case.name
            );
            assert!(!case.expect.is_empty(), "{}", case.name);
            for p in case.expect {
                assert!(known.contains(p), "{}: unknown property {p}", case.name);
            }
            assert!(!case.how.is_empty());
        }
    }

    #[test]
    fn selection_by_name() {
        assert_eq!(select(None).unwrap().len(), catalogue().len());
        let names = vec![
            "own-value".to_string(),
            "memory-only".to_string(),
            "own-value".to_string(),
        ];
        let picked: Vec<&str> = select(Some(&names))
            .unwrap()
            .iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(picked, vec!["own-value", "memory-only"]);
        let err = select(Some(&["fire".to_string()])).unwrap_err();
        assert!(
            err.starts_with("unknown bug \"fire\"; known: reply-before-durable, "),
            "{err}"
        );
    }

    #[test]
    fn flag_values() {
        let args = ["--nodes", "4", "--time-limit", "8"];
        assert_eq!(flag_value(&args, "--time-limit"), Some("8"));
        assert_eq!(flag_value(&args, "--rate"), None);
        assert_eq!(flag_value(&["--rate"], "--rate"), None);
    }
}
