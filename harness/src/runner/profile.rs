//! Profiles: the named sets of phases `ballot test` runs, so the default
//! run exercises every situation the bug catalogue needs without per-bug
//! flags.
//!
//! A phase is one whole run (its own cluster, run folder and verdict) with
//! its own configuration flags; a profile runs its phases back to back on
//! one seed, each for its share of `--time-limit`, and stops at the first
//! phase that is not valid. Every phase's rerun command is an exact
//! `ballot test --profile single ...` line.
//!
//! Which profile runs ([`resolve`]): `--profile NAME` when given; else, when
//! no configuration flag (`--nodes`, `--workload`, `--nemesis`, ...) differs
//! from its default, the `default` profile; else one run with the flags as
//! given (`single`). A named profile other than `single` refuses
//! configuration flags: it brings its own.
//!
//! The default profile's phases, in order (most bugs are caught in the
//! first, so the median time to detection stays short):
//!
//! 1. **race**: 4 nodes (an even cluster: only a true majority may win), a
//!    fresh key every 10 ms raced by 10 proposers started 1 ms apart, a
//!    quarter reads, kills and dropped, delayed and duplicated messages on
//!    every link. Competing proposers leave minority leftovers that later
//!    rounds must adopt; reordered and lost messages reach acceptors out of
//!    ballot order.
//! 2. **wide**: 5 nodes racing on fresh keys under partitions whose
//!    majorities share a node, accepts delivered to exactly a majority
//!    (`minimal-quorum`) and isolation of an acceptor that disagrees
//!    (`split-on-disagreement`): two leftovers of one key, the S12 history.
//! 3. **crash**: 3 nodes, keys that go cold after a few ops, clients as fast
//!    as they can, a kill (and restart) about every second, some a few ms
//!    after the node acked (`kill-on-ack`): the restart snapshot shows what
//!    a node forgot.

use std::fmt;

use clap::ValueEnum;

use super::args::{default_test_args, parse_test_args, TestArgs};
use crate::Error;

/// A named set of phases (`ballot test --profile NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub enum Profile {
    /// Every phase below, about 30 s in all: the best bug finder.
    Default,
    /// Racing proposers on fresh keys, kills and message faults, 4 nodes.
    Race,
    /// 5 nodes racing under partitions and minimal quorums.
    Wide,
    /// Kills and restarts on cold keys: durability.
    Crash,
    /// One run with the configuration flags as given.
    Single,
}

impl Profile {
    /// The name used on the command line and in `test.json`.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Race => "race",
            Profile::Wide => "wide",
            Profile::Crash => "crash",
            Profile::Single => "single",
        }
    }

    /// The phases this profile runs, in order (empty for `single`).
    pub fn phases(self) -> Vec<&'static Phase> {
        let named = |names: &[&str]| -> Vec<&'static Phase> {
            PHASES.iter().filter(|p| names.contains(&p.name)).collect()
        };
        match self {
            Profile::Default => PHASES.iter().collect(),
            Profile::Race => named(&["race"]),
            Profile::Wide => named(&["wide"]),
            Profile::Crash => named(&["crash"]),
            Profile::Single => Vec::new(),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One phase: a configuration and the share of the time limit it gets.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    /// Its name, printed and recorded in `test.json`.
    pub name: &'static str,
    /// Its share of the profile's time limit, out of the shares of the
    /// profile's phases.
    pub share: f64,
    /// The configuration flags (`ballot test` flags; no time limit).
    pub flags: &'static [&'static str],
    /// What it exercises, one line.
    pub why: &'static str,
}

/// Every phase, in the default profile's order.
#[rustfmt::skip]
pub const PHASES: [Phase; 3] = [
    Phase {
        name: "race",
        share: 10.0,
        flags: &[
            "--nodes", "4", "--workload", "kv", "--window", "1", "--ops-per-key", "10",
            "--concurrency", "10", "--rate", "1000", "--read-fraction", "0.25",
            "--nemesis", "kill,drop,delay,duplicate", "--nemesis-interval", "1",
            "--nemesis-targets", "all",
        ],
        why: "4 nodes, fresh keys raced by 10 proposers, reads, kills, lost and reordered messages",
    },
    Phase {
        name: "wide",
        share: 12.0,
        flags: &[
            "--nodes", "5", "--workload", "kv", "--window", "1", "--ops-per-key", "10",
            "--concurrency", "10", "--rate", "1000",
            "--nemesis", "partition,minimal-quorum,split-on-disagreement", "--nemesis-interval", "1",
        ],
        why: "5 nodes racing under partitions, accepts that reach only a majority, splits on disagreement",
    },
    Phase {
        name: "crash",
        share: 8.0,
        flags: &[
            "--workload", "kv", "--rate", "0", "--nemesis", "kill,kill-on-ack",
            "--nemesis-interval", "1",
        ],
        why: "kills (some a few ms after an ack) and restarts about every second on keys that go cold",
    },
];

/// The configuration flags: what a profile's phases set.
pub const CONFIG_FLAGS: [&str; 12] = [
    "--nodes",
    "--concurrency",
    "--rate",
    "--workload",
    "--read-fraction",
    "--key",
    "--window",
    "--ops-per-key",
    "--nemesis",
    "--nemesis-interval",
    "--nemesis-targets",
    "--partition-shapes",
];

/// The configuration flags typed on a `ballot test` command line (clap's
/// argument ids are the field names: `--nodes` is `nodes`).
pub fn typed_config_flags(matches: &clap::ArgMatches) -> Vec<&'static str> {
    CONFIG_FLAGS
        .into_iter()
        .filter(|flag| {
            let id = flag.trim_start_matches("--").replace('-', "_");
            matches.value_source(&id) == Some(clap::parser::ValueSource::CommandLine)
        })
        .collect()
}

/// The configuration flags given: typed on the command line, or with a
/// value that differs from the default; in flag-table order.
pub fn config_flags_given(args: &TestArgs) -> Vec<&'static str> {
    let given = args.params().flags();
    let defaults = default_test_args().params().flags();
    given
        .into_iter()
        .zip(defaults)
        .filter(|((flag, values), (_, default))| {
            CONFIG_FLAGS.contains(flag) && (values != default || args.config_typed.contains(flag))
        })
        .map(|((flag, _), _)| flag)
        .collect()
}

/// One run a profile makes: its phase (none for a single run) and flags.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseRun {
    /// The phase, with its position (from 1) and the profile's phase count.
    pub phase: Option<(&'static Phase, usize, usize)>,
    /// The profile it belongs to.
    pub profile: Profile,
    /// The flags of this one run (`--profile single` and the phase's configuration).
    pub args: TestArgs,
}

/// The runs `ballot test` makes for these flags (see the module docs).
pub fn resolve(args: &TestArgs) -> Result<Vec<PhaseRun>, Error> {
    let given = config_flags_given(args);
    let profile = match args.profile {
        Some(Profile::Single) => Profile::Single,
        Some(p) if !given.is_empty() => {
            return Err(Error::Input(format!(
                "--profile {p} brings its own configuration; drop {} (or use --profile single)",
                given.join(", ")
            )))
        }
        Some(p) => p,
        // Benchmarks bypass the proxy: no phase with link faults can run.
        None if given.is_empty() && !args.direct => Profile::Default,
        None => Profile::Single,
    };
    let phases = profile.phases();
    if phases.is_empty() {
        let mut single = args.clone();
        // Recorded only when it changes what the flags alone would run.
        if given.is_empty() && !args.direct {
            single.profile = Some(Profile::Single);
        }
        return Ok(vec![PhaseRun {
            phase: None,
            profile,
            args: single,
        }]);
    }
    let total: f64 = phases.iter().map(|p| p.share).sum();
    let count = phases.len();
    phases
        .into_iter()
        .enumerate()
        .map(|(i, phase)| {
            let seconds = ((args.time_limit * phase.share / total) * 10.0).round() / 10.0;
            let limit = format!("{}", seconds.max(0.1));
            let shape = parse_test_args(
                ["ballot-test"]
                    .iter()
                    .chain(phase.flags)
                    .chain(&["--time-limit", &limit]),
            )
            .map_err(|e| Error::Input(format!("phase {}: {e}", phase.name)))?;
            Ok(PhaseRun {
                phase: Some((phase, i + 1, count)),
                profile,
                args: with_config(args, &shape),
            })
        })
        .collect()
}

/// `base` with the configuration (and time limit) of `shape`, as one
/// `--profile single` run.
fn with_config(base: &TestArgs, shape: &TestArgs) -> TestArgs {
    TestArgs {
        profile: Some(Profile::Single),
        nodes: shape.nodes,
        time_limit: shape.time_limit,
        concurrency: shape.concurrency,
        rate: shape.rate,
        workload: shape.workload,
        read_fraction: shape.read_fraction,
        key: shape.key.clone(),
        window: shape.window,
        ops_per_key: shape.ops_per_key,
        nemesis: shape.nemesis.clone(),
        nemesis_interval: shape.nemesis_interval,
        nemesis_targets: shape.nemesis_targets.clone(),
        partition_shapes: shape.partition_shapes.clone(),
        ..base.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(flags: &[&str]) -> TestArgs {
        parse_test_args(std::iter::once(&"ballot-test").chain(flags)).unwrap()
    }

    #[test]
    fn no_configuration_flag_runs_the_default_profile() {
        let runs = resolve(&args(&["--bug", "memory-only", "--seed", "3"])).unwrap();
        let names: Vec<&str> = runs.iter().map(|r| r.phase.unwrap().0.name).collect();
        assert_eq!(names, ["race", "wide", "crash"]);
        let limits: Vec<f64> = runs.iter().map(|r| r.args.time_limit).collect();
        assert_eq!(limits, [10.0, 12.0, 8.0]);
        assert_eq!(limits.iter().sum::<f64>(), 30.0);
        // Each phase keeps the user's other flags and reruns as one run.
        let crash = &runs[2].args;
        assert_eq!((crash.nodes, crash.bugs.len()), (3, 1));
        assert_eq!(
            crash.rerun_command(3),
            "ballot test --profile single --workload kv --time-limit 8 --rate 0 \
             --nemesis kill,kill-on-ack --nemesis-interval 1 --bug memory-only --seed 3"
        );
        // That rerun line parses back to the same single run.
        let rerun: Vec<String> = crash.rerun_args(3);
        let again = args(&rerun.iter().map(String::as_str).collect::<Vec<_>>());
        let single = resolve(&again).unwrap();
        assert_eq!(single.len(), 1);
        assert_eq!(single[0].profile, Profile::Single);
        assert_eq!(single[0].args.nemesis, "kill,kill-on-ack");
    }

    #[test]
    fn the_time_limit_is_shared_out() {
        let runs = resolve(&args(&["--time-limit", "300"])).unwrap();
        let limits: Vec<f64> = runs.iter().map(|r| r.args.time_limit).collect();
        assert_eq!(limits, [100.0, 120.0, 80.0]);
        let wide = resolve(&args(&["--profile", "wide"])).unwrap();
        let limits: Vec<f64> = wide.iter().map(|r| r.args.time_limit).collect();
        assert_eq!(limits, [30.0]);
    }

    #[test]
    fn configuration_flags_make_one_run_and_a_named_profile_refuses_them() {
        let runs = resolve(&args(&["--workload", "kv", "--nodes", "5"])).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].phase, None);
        assert_eq!(runs[0].args.profile, None);
        assert_eq!(config_flags_given(&runs[0].args), ["--workload", "--nodes"]);
        // Typed at its default value, a configuration flag still counts.
        let typed = args(&["--nemesis", "kill,partition"]);
        assert_eq!(config_flags_given(&typed), ["--nemesis"]);
        assert_eq!(resolve(&typed).unwrap()[0].profile, Profile::Single);
        let direct = resolve(&args(&["--direct", "--nemesis", "kill"])).unwrap();
        assert_eq!(direct[0].profile, Profile::Single);
        let single = resolve(&args(&["--profile", "single"])).unwrap();
        assert_eq!(single[0].args, args(&["--profile", "single"]));
        let err = resolve(&args(&["--profile", "race", "--nodes", "5"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--profile race brings its own configuration; drop --nodes (or use --profile single)"
        );
    }

    #[test]
    fn every_phase_parses_and_every_profile_has_phases() {
        for phase in &PHASES {
            let shape = args(phase.flags);
            assert!(!config_flags_given(&shape).is_empty(), "{}", phase.name);
        }
        for p in Profile::value_variants() {
            assert_eq!(p.phases().is_empty(), *p == Profile::Single, "{p}");
        }
    }
}
