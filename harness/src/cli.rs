//! Flags and subcommands of the `ballot` command.
//!
//! Parsing is pure: [`parse`] turns an argument list into a [`Cli`] or a clap
//! error; each command's flags live beside the command (`ballot test`'s in
//! [`crate::runner::TestArgs`], whose `rerun_args` turns parsed flags back into the
//! shortest argument list that reruns the same test (every flag that differs
//! from its default, plus the seed). `main` maps a parse error to exit code
//! [`EXIT_BAD_ARGS`] instead of clap's usual 2, which Jepsen reserves for
//! "unknown".

use std::ffi::OsString;

use clap::{Parser, Subcommand};

use crate::exit::EXIT_BAD_ARGS;

/// `ballot`: a Jepsen-style fault-injection harness for Basic Paxos.
#[derive(Clone, Debug, PartialEq, Parser)]
#[command(name = "ballot", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Clone, Debug, PartialEq, Subcommand)]
pub enum Command {
    /// Run a test: start a cluster, inject faults while clients propose, check the history.
    Test(Box<crate::runner::TestArgs>),
    /// Re-check a run folder or a history file offline (same verdict as the run's).
    Check(crate::runner::CheckArgs),
    /// Browse the store: runs newest first, each with its report and files.
    Serve(crate::serve::ServeArgs),
    /// Run a scripted, message-level scenario (built-in S01-S12, or a JSON file).
    Scenario(crate::scenario::ScenarioArgs),
    /// Check a node against every rule of docs/protocol.md, one deterministic check each, in seconds.
    Conform(crate::conform::ConformArgs),
    /// Re-drive a stored run's message schedule against fresh nodes and re-check it.
    Replay(crate::replay::ReplayArgs),
    /// Cut a failing run down to a small scenario file that still fails.
    Shrink(crate::shrink::ShrinkArgs),
    /// Measure ops/s and latency of `register` and `kv`, through the proxy and direct.
    Bench(crate::bench::BenchArgs),
    /// Run the bug catalogue and the false-alarm sweep; write the detection table.
    Validate(crate::validate::ValidateArgs),
    /// Combine the stores of several runs (a CI matrix's shards) into one summary.
    Merge(crate::merge::MergeArgs),
}

/// Parses an argument list (the first item is the program name).
pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    if let (Command::Test(test), Some(("test", sub))) = (&mut cli.command, matches.subcommand()) {
        test.config_typed = crate::runner::profile::typed_config_flags(sub);
    }
    Ok(cli)
}

/// The exit code for a parse error: 0 for `--help`/`--version`, else [`EXIT_BAD_ARGS`].
pub fn parse_error_exit_code(err: &clap::Error) -> i32 {
    use clap::error::ErrorKind::*;
    match err.kind() {
        DisplayHelp | DisplayVersion => 0,
        _ => EXIT_BAD_ARGS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    use ballot_workloads::WorkloadKind;

    use crate::nemesis::FaultKind;
    use crate::runner::{default_test_args, CheckArgs, TestArgs};
    use ballot_core::bugs::NodeBug;

    fn test_args(extra: &[&str]) -> Result<TestArgs, clap::Error> {
        let args = ["ballot", "test"].iter().chain(extra).copied();
        match parse(args)?.command {
            Command::Test(t) => Ok(*t),
            other => panic!("not a test command: {other:?}"),
        }
    }

    #[test]
    fn defaults_match_the_design() {
        let t = default_test_args();
        assert_eq!(t.nodes, 3);
        assert_eq!(t.time_limit(), Duration::from_secs(30));
        assert_eq!(t.workload, WorkloadKind::Register);
        assert_eq!(t.nemesis, "kill,partition");
        assert_eq!(t.test_count, 1);
        assert_eq!(t.seed, None);
        assert_eq!(t.store, PathBuf::from("store"));
        assert_eq!(t.node_cmd, None);
        assert!(t.bugs.is_empty());
    }

    #[test]
    fn power_fail_is_a_nemesis_name_outside_all() {
        let t = test_args(&["--nemesis", "kill,power-fail"]).unwrap();
        assert_eq!(t.nemesis, "kill,power-fail");
        assert!(t.rerun_args(1).contains(&"kill,power-fail".to_string()));
        let all = FaultKind::parse_list(&test_args(&["--nemesis", "all"]).unwrap().nemesis);
        assert!(!all.unwrap().contains(&FaultKind::PowerFail));
    }

    #[test]
    fn flags_parse_and_repeat() {
        let t = test_args(&[
            "--nodes",
            "5",
            "--time-limit",
            "2.5",
            "--workload",
            "kv",
            "--bug",
            "memory-only",
            "--bug",
            "promise-only",
            "--seed",
            "7",
            "--rate",
            "0",
        ])
        .unwrap();
        assert_eq!(t.nodes, 5);
        assert_eq!(t.time_limit(), Duration::from_millis(2500));
        assert_eq!(t.workload, WorkloadKind::Kv);
        assert_eq!(t.bugs, vec![NodeBug::MemoryOnly, NodeBug::PromiseOnly]);
        assert_eq!(t.seed, Some(7));
        assert_eq!(t.rate, 0.0);
    }

    #[test]
    fn bad_flags_are_errors_with_exit_254() {
        // Table: arguments -> a word the message must contain.
        for (args, needle) in [
            (&["--no-such-flag"][..], "--no-such-flag"),
            (&["--nodes", "0"], "--nodes"),
            (&["--nodes", "three"], "three"),
            (&["--time-limit=-1"], "positive"),
            (&["--time-limit", "NaN"], "positive"),
            (&["--rate=-2"], "rate"),
            (&["--read-fraction", "1.5"], "between 0 and 1"),
            (&["--workload", "bank"], "unknown workload"),
            (&["--bug", "no-such-bug"], "unknown node bug"),
            (&["--window", "0"], "--window"),
            (&["--nemesis", "kill,fire"], "unknown fault"),
            (&["--nemesis-targets", "most"], "unknown targets"),
            (
                &["--partition-shapes", "ring,moon"],
                "unknown partition shape \"moon\"",
            ),
            (&["--model", "bank"], "unknown model"),
            (&["--base-port", "70000"], "70000"),
        ] {
            let err = test_args(args).unwrap_err();
            assert_eq!(parse_error_exit_code(&err), EXIT_BAD_ARGS, "{args:?}");
            assert!(err.to_string().contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn help_and_version_exit_zero() {
        for args in [
            &["ballot", "--help"][..],
            &["ballot", "test", "--help"],
            &["ballot", "--version"],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(parse_error_exit_code(&err), 0, "{args:?}");
        }
        let err = parse(["ballot"]).unwrap_err();
        assert_eq!(parse_error_exit_code(&err), EXIT_BAD_ARGS);
    }

    #[test]
    fn rerun_args_hold_only_non_defaults_and_the_seed() {
        assert_eq!(default_test_args().rerun_args(9), vec!["--seed", "9"]);
        let t = test_args(&["--nodes", "5", "--bug", "memory-only", "--nemesis", "all"]).unwrap();
        assert_eq!(
            t.rerun_args(3),
            vec![
                "--nodes",
                "5",
                "--nemesis",
                "all",
                "--bug",
                "memory-only",
                "--seed",
                "3"
            ]
        );
    }

    #[test]
    fn rerun_command_round_trips() {
        let given = test_args(&[
            "--time-limit",
            "0.5",
            "--node-cmd",
            "python3 a.py --id {id} --listen 127.0.0.1:{port}",
            "--store",
            "/tmp/s t",
            "--client-bug",
            "own-value",
            "--op-timeout",
            "1.5",
            "--test-count",
            "4",
            "--direct",
            "--partition-shapes",
            "ring,bridge",
        ])
        .unwrap();
        assert!(given.rerun_args(11).contains(&"--direct".to_string()));
        assert!(given.rerun_args(11).contains(&"ring,bridge".to_string()));
        let mut rerun = test_args(
            &given
                .rerun_args(11)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert_eq!(rerun.seed, Some(11));
        assert_eq!(rerun.test_count, 1, "a rerun runs the one failing test");
        rerun.seed = given.seed;
        rerun.test_count = given.test_count;
        assert_eq!(rerun, given);
        assert!(given
            .rerun_command(11)
            .contains("--node-cmd 'python3 a.py --id {id} --listen 127.0.0.1:{port}'"));
    }

    #[test]
    fn conform_flags() {
        let cli = parse([
            "ballot",
            "conform",
            "--node-cmd",
            "python3 a.py --listen 127.0.0.1:{port}",
            "--rule",
            "health",
            "--json",
        ])
        .unwrap();
        let Command::Conform(args) = cli.command else {
            panic!("not conform: {:?}", cli.command);
        };
        assert_eq!(
            args.node_cmd.as_deref(),
            Some("python3 a.py --listen 127.0.0.1:{port}")
        );
        assert_eq!(args.rules, ["health"]);
        assert!(args.json && !args.list);
        let err = parse(["ballot", "conform", "--bug", "nope"]).unwrap_err();
        assert_eq!(parse_error_exit_code(&err), EXIT_BAD_ARGS);
    }

    #[test]
    fn check_flags() {
        let cli = parse([
            "ballot",
            "check",
            "store/latest",
            "--json",
            "--format",
            "jepsen",
        ])
        .unwrap();
        assert_eq!(
            cli.command,
            Command::Check(CheckArgs {
                path: "store/latest".into(),
                model: None,
                format: Some("jepsen".into()),
                json: true,
                check_timeout: 30.0,
            })
        );
    }
}
