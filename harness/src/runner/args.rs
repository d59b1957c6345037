//! The flags of `ballot test` and `ballot check`, and the way back from
//! parsed flags to `test.json` parameters and the shortest rerun command.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use ballot_checker::models::Model;
use ballot_core::bugs::NodeBug;
use ballot_core::proposer::ClientBug;
use ballot_core::run_folder::TestParams;
use ballot_workloads::WorkloadKind;
use clap::{Args, Parser};

use crate::clients::ProposerMode;
use crate::nemesis::{FaultKind, Targets};

/// Flags of `ballot test`.
#[derive(Clone, Debug, PartialEq, Args)]
pub struct TestArgs {
    /// Phases to run: default (race, wide, crash: about 30 s, the best bug
    /// finder), race, wide, crash, or single (one run with the flags
    /// below). Default: `default` when no configuration flag is given, else single.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<super::profile::Profile>,

    /// Number of acceptor nodes.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(1..=32))]
    pub nodes: u64,

    /// How long clients run operations, in seconds (the final phase comes after).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = parse_positive_seconds)]
    pub time_limit: f64,

    /// Number of concurrent client workers (proposers); worker p runs on host p % nodes.
    #[arg(long, value_name = "N", default_value_t = 6,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub concurrency: u64,

    /// Total operations per second over all clients; 0 means as fast as they can.
    #[arg(long, value_name = "HZ", default_value_t = 100.0, value_parser = parse_rate)]
    pub rate: f64,

    /// Workload: `register` (one key, every client proposes) or `kv` (many write-once keys).
    #[arg(long, value_name = "NAME", default_value_t = WorkloadKind::Register)]
    pub workload: WorkloadKind,

    /// Fraction of operations that are reads (0 to 1).
    #[arg(long, value_name = "FRACTION", default_value_t = ballot_workloads::register::DEFAULT_READ_FRACTION,
          value_parser = parse_fraction)]
    pub read_fraction: f64,

    /// Register workload: the one key every client proposes to.
    #[arg(long, value_name = "KEY", default_value = ballot_workloads::register::DEFAULT_KEY)]
    pub key: String,

    /// Kv workload: how many keys are hot at once.
    #[arg(long, value_name = "N", default_value_t = ballot_workloads::kv::DEFAULT_WINDOW,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub window: u64,

    /// Kv workload: about how many operations a key receives before it retires.
    #[arg(long, value_name = "N", default_value_t = ballot_workloads::kv::DEFAULT_OPS_PER_KEY,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub ops_per_key: u64,

    /// Faults to inject, comma-separated: kill, pause, partition, drop, delay,
    /// duplicate, power-fail; or `all` (every fault but power-fail), or `none`.
    /// power-fail SIGKILLs nodes and drops what they wrote but did not fsync:
    /// node data dirs become lazyfs FUSE mounts (needs root and /dev/fuse).
    #[arg(long, value_name = "LIST", default_value = "kill,partition", value_parser = check_nemesis)]
    pub nemesis: String,

    /// Mean length, in seconds, of each fault and of each quiet period between faults.
    #[arg(long, value_name = "SECONDS", default_value_t = 3.0, value_parser = parse_positive_seconds)]
    pub nemesis_interval: f64,

    /// Which nodes a process fault hits: one, minority, majority or all.
    #[arg(long, value_name = "TARGETS", default_value = "minority", value_parser = check_targets)]
    pub nemesis_targets: String,

    /// Partition shapes the partition fault draws from, comma-separated:
    /// halves, isolate-one, ring, bridge, one-way, or `all`.
    #[arg(long, value_name = "LIST", default_value = "all", value_parser = check_shapes)]
    pub partition_shapes: String,

    /// Seed of the op and fault schedules (default: random, printed and stored).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Run N tests with seeds seed, seed+1, ...; stop at the first that is not valid.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub test_count: u64,

    /// Run slice I of N of the --test-count seeds (seeds at positions I-1, I-1+N, ...),
    /// every one of them, for a CI matrix; `ballot merge` combines the slices' stores.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<super::shard::Shard>,

    /// Command that starts one node; {id}, {port} and {data_dir} are substituted
    /// [default: ballot-node (beside ballot) --id {id} --listen 127.0.0.1:{port} --data-dir {data_dir}]
    #[arg(long, value_name = "TEMPLATE")]
    pub node_cmd: Option<String>,

    /// Run our node with a deliberate bug (repeatable; see --list-bugs).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<NodeBug>,

    /// Run the clients' proposer with a deliberate bug (repeatable; see --list-bugs).
    #[arg(long = "client-bug", value_name = "NAME")]
    pub client_bugs: Vec<ClientBug>,

    /// Who runs Basic Paxos: the clients (protocol v1, the nodes are acceptors)
    /// or the nodes (protocol v1.1: clients ask /v1/propose and /v1/read, nodes
    /// reach each other through the proxy; our node gets `--peers {peers}`).
    /// Default: nodes when --node-cmd has {peers} and every node's /v1/health
    /// lists the proposer role, else clients.
    #[arg(long, value_name = "WHO")]
    pub proposers: Option<ProposerMode>,

    /// Node i listens on 127.0.0.1:PORT+i (default: free ports picked at start).
    #[arg(long, value_name = "PORT")]
    pub base_port: Option<u16>,

    /// Folder that holds one subfolder per run, and `latest`.
    #[arg(long, value_name = "DIR", default_value = "store")]
    pub store: PathBuf,

    /// Seconds a client operation may take before it is recorded as indeterminate.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = parse_positive_seconds)]
    pub op_timeout: f64,

    /// Checker model: write-once (the default), register, cas-register or kv.
    #[arg(long, value_name = "MODEL", default_value = "write-once", value_parser = check_model)]
    pub model: String,

    /// Seconds the checker may search for a linearization before it answers unknown.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = parse_positive_seconds)]
    pub check_timeout: f64,

    /// Print the node and client bug catalogue and exit.
    #[arg(long)]
    pub list_bugs: bool,

    /// Append a Markdown summary of each test to FILE (e.g. "$GITHUB_STEP_SUMMARY").
    #[arg(long, value_name = "FILE")]
    pub summary_md: Option<PathBuf>,

    /// The configuration flags given on the command line (even at their
    /// default values): they make the run a single one.
    #[arg(skip)]
    pub config_typed: Vec<&'static str>,

    /// For benchmarking: clients talk to the nodes directly, bypassing the
    /// proxy mesh. Nothing records the exchanges, so the Paxos checks answer
    /// unknown, and link faults (partition, drop, delay, duplicate) are refused.
    #[arg(long)]
    pub direct: bool,
}

/// Flags of `ballot check`.
#[derive(Clone, Debug, PartialEq, Args)]
pub struct CheckArgs {
    /// A run folder (holding history.jsonl), or a history file.
    #[arg(value_name = "RUN|FILE")]
    pub path: PathBuf,

    /// Checker model: write-once, register, cas-register or kv (default: the run's, else write-once).
    #[arg(long, value_name = "MODEL", value_parser = check_model)]
    pub model: Option<String>,

    /// Format of a history file: ballot, jepsen (etcd log), porcupine-kv or jepsen-edn (history.edn) (default: detected).
    #[arg(long, value_name = "FORMAT", value_parser = ["ballot", "jepsen", "porcupine-kv", "jepsen-edn"])]
    pub format: Option<String>,

    /// Seconds the checker may search for a linearization before it answers unknown.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = parse_positive_seconds)]
    pub check_timeout: f64,

    /// Print results.json instead of the summary.
    #[arg(long)]
    pub json: bool,
}

impl TestArgs {
    /// The time limit as a duration.
    pub fn time_limit(&self) -> Duration {
        Duration::from_secs_f64(self.time_limit)
    }

    /// The nemesis interval as a duration.
    pub fn nemesis_interval(&self) -> Duration {
        Duration::from_secs_f64(self.nemesis_interval)
    }

    /// The op timeout as a duration.
    pub fn op_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.op_timeout)
    }

    /// These flags as `test.json` parameters (the seed is the run's own, so
    /// it is left out; so is `--test-count`'s batch, kept only as a record).
    pub fn params(&self) -> TestParams {
        TestParams {
            profile: self.profile.map(|p| p.name().to_string()),
            workload: Some(self.workload.to_string()),
            nodes: Some(self.nodes),
            time_limit: Some(self.time_limit),
            concurrency: Some(self.concurrency),
            rate: Some(self.rate),
            read_fraction: Some(self.read_fraction),
            key: Some(self.key.clone()),
            window: Some(self.window),
            ops_per_key: Some(self.ops_per_key),
            nemesis: Some(self.nemesis.clone()),
            nemesis_interval: Some(self.nemesis_interval),
            nemesis_targets: Some(self.nemesis_targets.clone()),
            partition_shapes: Some(self.partition_shapes.clone()),
            node_cmd: self.node_cmd.clone(),
            bug: self.bugs.iter().map(|b| b.to_string()).collect(),
            client_bug: self.client_bugs.iter().map(|b| b.to_string()).collect(),
            proposers: self.proposers.map(|m| m.name().to_string()),
            base_port: self.base_port,
            store: Some(self.store.display().to_string()),
            op_timeout: Some(self.op_timeout),
            model: Some(self.model.clone()),
            check_timeout: Some(self.check_timeout),
            test_count: Some(self.test_count),
            direct: self.direct,
            ..TestParams::default()
        }
    }

    /// The arguments after `ballot test` that rerun this test with `seed`:
    /// every flag whose value differs from its default, then `--seed`
    /// (the one flag table is [`TestParams::flags`]).
    pub fn rerun_args(&self, seed: u64) -> Vec<String> {
        let params = TestParams {
            seed: Some(seed),
            ..self.params()
        };
        params.rerun_args(&default_test_args().params())
    }

    /// The whole shell command that reruns this test with `seed`, quoted for a POSIX shell.
    pub fn rerun_command(&self, seed: u64) -> String {
        std::iter::once("ballot test".to_string())
            .chain(
                self.rerun_args(seed)
                    .iter()
                    .map(|a| ballot_core::shell::quote(a)),
            )
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `ballot test` with every flag at its default.
pub fn default_test_args() -> TestArgs {
    match parse_test_args(["ballot-test"]) {
        Ok(args) => args,
        Err(e) => unreachable!("`ballot test` parses without flags: {e}"),
    }
}

/// Parses the flags of `ballot test` alone (the first item is the program name).
pub fn parse_test_args<I, T>(args: I) -> Result<TestArgs, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    /// `ballot test`'s flags as a command of their own.
    #[derive(Parser)]
    struct TestOnly {
        #[command(flatten)]
        args: TestArgs,
    }
    use clap::{CommandFactory, FromArgMatches};
    let matches = TestOnly::command().try_get_matches_from(args)?;
    let mut test = TestOnly::from_arg_matches(&matches)?.args;
    test.config_typed = super::profile::typed_config_flags(&matches);
    Ok(test)
}

fn check_nemesis(s: &str) -> Result<String, String> {
    FaultKind::parse_list(s).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

fn check_targets(s: &str) -> Result<String, String> {
    s.parse::<Targets>().map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

fn check_shapes(s: &str) -> Result<String, String> {
    crate::partition::parse_shapes(s).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

fn check_model(s: &str) -> Result<String, String> {
    s.parse::<Model>().map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

pub(crate) fn parse_positive_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 1e9 {
        Ok(v)
    } else {
        Err(format!("{s} must be a positive number of seconds"))
    }
}

pub(crate) fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a rate in Hz"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!(
            "{s} must be 0 (unlimited) or a positive rate in Hz"
        ))
    }
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s} must be between 0 and 1"))
    }
}
