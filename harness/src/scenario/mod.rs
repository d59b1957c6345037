//! `ballot scenario NAME|FILE`: runs a scripted, message-level scenario
//! against real nodes and checks its assertions.
//!
//! The format and the built-in scenarios S01–S12 live in
//! [`ballot_workloads::scenario`] (reference: `docs/scenarios.md`). Here
//! they run: [`engine`] starts no proxy; it carries every message itself,
//! one at a time, from pure proposer state machines to real node processes,
//! so holds, drops, duplicates and reorderings happen exactly where the
//! script puts them. The run is recorded in a run folder in the same formats
//! as `ballot test` and judged by the same checker, so a scenario can assert
//! both what the proposers saw and the checker's verdict.
//!
//! Exit codes: 0 every assertion holds, 1 one failed (each is printed),
//! 254 the scenario file is wrong, 255 the harness failed.
//!
//! # Layout
//!
//! - [`engine`]: executes the steps (proposers, messages, faults, assertions).
//! - [`record`]: the run's records in memory, with a virtual clock, and how they are written.
//! - [`expect`]: pure helpers for assertions (chosen values, outcome matching).
//! - [`judge`]: the checker's verdict on a run folder.

pub mod engine;
pub mod expect;
pub mod judge;
pub mod record;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ballot_core::bugs::NodeBug;
use ballot_core::proposer::ClientBug;
use ballot_core::run_folder::{write_results, TestParams};
use ballot_core::verdict::{Results, Validity};
use ballot_workloads::scenario::{builtin, Expect, Scenario, ScenarioError};
use serde_json::Value;

use crate::clock::Clock;
use crate::cluster::{Cluster, ClusterSpec};
use crate::store::{JsonlWriter, RunDir, StoreError};
use crate::Error;

pub use engine::{execute, ExecOptions, Execution};

/// Flags of `ballot scenario`.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct ScenarioArgs {
    /// A built-in scenario (see --list), or a scenario file (JSON; see docs/scenarios.md).
    #[arg(value_name = "NAME|FILE", required_unless_present = "list")]
    pub scenario: Option<String>,

    /// List the built-in scenarios, one line each, and exit.
    #[arg(long)]
    pub list: bool,

    /// Print the scenario's file (e.g. a built-in, to copy and edit) and exit.
    #[arg(long)]
    pub print: bool,

    /// Command that starts one node; {id}, {port} and {data_dir} are substituted
    /// [default: ballot-node (beside ballot) --id {id} --listen 127.0.0.1:{port} --data-dir {data_dir}]
    #[arg(long, value_name = "TEMPLATE")]
    pub node_cmd: Option<String>,

    /// Run our node with a deliberate bug, on top of the scenario's (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<NodeBug>,

    /// Give every scripted proposer a deliberate bug, on top of the scenario's (repeatable).
    #[arg(long = "client-bug", value_name = "NAME")]
    pub client_bugs: Vec<ClientBug>,

    /// Folder that holds one subfolder per run, and `latest`.
    #[arg(long, value_name = "DIR", default_value = "store")]
    pub store: PathBuf,
}

/// One assertion and whether it held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssertionResult {
    /// Position of the step, from 0.
    pub step: usize,
    /// The step, as written canonically.
    pub line: String,
    /// Whether it held.
    pub passed: bool,
    /// What was observed.
    pub detail: String,
}

/// What running a scenario found.
#[derive(Debug)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub name: String,
    /// The run folder.
    pub run_dir: PathBuf,
    /// Every assertion, in step order.
    pub assertions: Vec<AssertionResult>,
    /// The checker's verdict on the run.
    pub results: Results,
}

impl ScenarioReport {
    /// The assertions that failed.
    pub fn failures(&self) -> Vec<&AssertionResult> {
        self.assertions.iter().filter(|a| !a.passed).collect()
    }

    /// True when every assertion held.
    pub fn passed(&self) -> bool {
        self.assertions.iter().all(|a| a.passed)
    }
}

/// Where and how a scenario runs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The store; the run folder is `store/scenario-<name>-<timestamp>/`.
    pub store: PathBuf,
    /// The node command template; `None` for our `ballot-node`.
    pub node_cmd: Option<String>,
    /// Node bugs on top of the scenario's.
    pub node_bugs: Vec<NodeBug>,
    /// Proposer bugs on top of the scenario's.
    pub client_bugs: Vec<ClientBug>,
    /// How the scenario was named on the command line (for the rerun command).
    pub source: String,
}

impl RunOptions {
    /// Options for running in `store` with our node and no extra bugs.
    pub fn new(store: &Path, source: &str) -> Self {
        RunOptions {
            store: store.to_path_buf(),
            node_cmd: None,
            node_bugs: Vec::new(),
            client_bugs: Vec::new(),
            source: source.to_string(),
        }
    }
}

/// The `--bug NAME` words for a set of node bugs (deduplicated).
pub fn bug_args(bugs: &[NodeBug]) -> Vec<String> {
    let mut seen = Vec::new();
    for b in bugs {
        if !seen.contains(b) {
            seen.push(*b);
        }
    }
    seen.iter()
        .flat_map(|b| ["--bug".to_string(), b.to_string()])
        .collect()
}

/// Starts `nodes` nodes for a scripted run in `dir` (node folders under
/// `dir/nodes/`). Their own snapshot records are discarded: scripted runs
/// record snapshots themselves, on their virtual clock.
pub async fn start_cluster(
    nodes: usize,
    dir: &Path,
    node_cmd: Option<&str>,
    bugs: &[NodeBug],
) -> Result<Cluster, Error> {
    let mut spec = ClusterSpec::new(nodes, dir).or_else(|e| match node_cmd {
        // A custom node command does not need our binary.
        Some(_) => Ok(ClusterSpec {
            nodes,
            node_cmd: String::new(),
            extra_args: Vec::new(),
            run_dir: dir.to_path_buf(),
            health_timeout: crate::cluster::DEFAULT_HEALTH_TIMEOUT,
            ports: Vec::new(),
            peers: Vec::new(),
            require_proposer: false,
            lenient_health: false,
        }),
        None => Err(e),
    })?;
    if let Some(cmd) = node_cmd {
        spec.node_cmd = cmd.to_string();
    }
    spec.extra_args = bug_args(bugs);
    spec.health_timeout = Duration::from_secs(20);
    let discard = JsonlWriter::create(Path::new("/dev/null"))?;
    Ok(Cluster::start(spec, Clock::start(), discard).await?)
}

/// The HTTP client scripted runs use: no proxy, no retries, no pooled
/// connections (a connection pooled before a kill would fail after the
/// restart), 3 s per request.
pub fn http_client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .no_proxy()
        .retry(reqwest::retry::never())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| Error::Setup(format!("cannot build the HTTP client: {e}")))
}

/// Loads a built-in scenario by name, or a scenario file by path.
pub fn load(name_or_file: &str) -> Result<Scenario, Error> {
    let path = Path::new(name_or_file);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
        return Scenario::parse(&text)
            .map_err(|e| Error::Input(format!("{}: {e}", path.display())));
    }
    builtin::get(name_or_file).map_err(|e| match e {
        ScenarioError::Unknown(_) => Error::Input(format!(
            "{name_or_file:?} is neither a file nor a built-in scenario; `ballot scenario --list` lists them"
        )),
        other => Error::Input(other.to_string()),
    })
}

/// Runs `scenario`: starts its nodes, executes its steps, writes the run
/// folder, runs the checker, and checks every assertion. Nodes are stopped
/// before it returns, also on error.
pub async fn run_scenario(scenario: &Scenario, opts: &RunOptions) -> Result<ScenarioReport, Error> {
    let dir = RunDir::create(&opts.store, &format!("scenario-{}", scenario.name))?;
    let mut bugs = scenario.node_bugs.clone();
    bugs.extend(&opts.node_bugs);
    let mut cluster =
        start_cluster(scenario.nodes, dir.path(), opts.node_cmd.as_deref(), &bugs).await?;
    let node_cmd = cluster.template().join(" ");
    let http = http_client()?;
    let exec = ExecOptions {
        key_suffix: String::new(),
        client_bugs: opts.client_bugs.clone(),
    };
    let executed = execute(&mut cluster, &http, scenario, &exec).await;
    let stopped = cluster.shutdown().await;
    drop(cluster);
    let execution = executed?;
    stopped?;
    let mut client_bugs: Vec<String> = opts.client_bugs.iter().map(|b| b.to_string()).collect();
    for p in &scenario.proposers {
        client_bugs.extend(p.client_bugs.iter().map(|b| b.to_string()));
    }
    client_bugs.sort();
    client_bugs.dedup();
    let mut test = TestParams {
        workload: Some("scenario".to_string()),
        nodes: Some(scenario.nodes as u64),
        key: Some(scenario.key.clone()),
        node_cmd: Some(node_cmd),
        bug: bugs.iter().map(|b| b.to_string()).collect(),
        client_bug: client_bugs,
        command: vec!["ballot".into(), "scenario".into(), opts.source.clone()],
        ballot_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        ..TestParams::default()
    };
    test.extra
        .insert("scenario".into(), Value::from(scenario.name.clone()));
    test.extra.insert(
        "scenario_file".into(),
        serde_json::to_value(scenario.to_file()).unwrap_or(Value::Null),
    );
    finish(dir.path(), &test, execution, &scenario.name)
}

/// Writes the records and `test.json`, runs the checker, writes
/// `results.json`, and checks the verdict assertions.
pub fn finish(
    dir: &Path,
    test: &TestParams,
    execution: Execution,
    name: &str,
) -> Result<ScenarioReport, Error> {
    execution.records.write(dir)?;
    test.write(dir).map_err(StoreError::from)?;
    let results = judge::check_dir(dir).map_err(Error::Check)?;
    write_results(dir, &results).map_err(StoreError::from)?;
    let mut assertions = execution.assertions;
    for (step, e) in execution.verdicts {
        let (passed, line) = match &e {
            Expect::Valid => (
                results.valid == ballot_core::verdict::Validity::Valid,
                "expect valid".to_string(),
            ),
            Expect::Invalid(p) => (
                judge::violates(&results, p.as_deref()),
                ballot_workloads::scenario::Step::Expect(e.clone()).to_string(),
            ),
            _ => continue,
        };
        assertions.push(AssertionResult {
            step,
            line,
            passed,
            detail: format!("checker: {}", judge::summary(&results)),
        });
    }
    assertions.sort_by_key(|a| a.step);
    Ok(ScenarioReport {
        name: name.to_string(),
        run_dir: dir.to_path_buf(),
        assertions,
        results,
    })
}

/// `ballot scenario` for `main`: [`scenario_command`] on its own runtime.
pub fn scenario_main(args: &ScenarioArgs) -> Result<Validity, Error> {
    crate::runtime::block_on(scenario_command(args))
}

/// `ballot scenario`: runs one scenario; valid when every assertion held,
/// invalid when one failed.
pub async fn scenario_command(args: &ScenarioArgs) -> Result<Validity, Error> {
    if args.list {
        for line in builtin::list() {
            crate::say!("{line}");
        }
        return Ok(Validity::Valid);
    }
    let Some(source) = args.scenario.as_deref() else {
        return Err(Error::Input(
            "name a scenario or a file (see --list)".to_string(),
        ));
    };
    let scenario = load(source)?;
    if args.print {
        crate::put!("{}", scenario.to_json());
        return Ok(Validity::Valid);
    }
    let opts = RunOptions {
        store: args.store.clone(),
        node_cmd: args.node_cmd.clone(),
        node_bugs: args.bugs.clone(),
        client_bugs: args.client_bugs.clone(),
        source: source.to_string(),
    };
    crate::say!("scenario {}: {}", scenario.name, scenario.title);
    let report = run_scenario(&scenario, &opts).await?;
    print_report(&report);
    let mut rerun = format!("ballot scenario {}", ballot_core::shell::quote(source));
    for b in &args.bugs {
        rerun.push_str(&format!(" --bug {b}"));
    }
    for b in &args.client_bugs {
        rerun.push_str(&format!(" --client-bug {b}"));
    }
    crate::say!("rerun: {rerun}");
    Ok(match report.passed() {
        true => Validity::Valid,
        false => Validity::Invalid,
    })
}

/// Prints every failed assertion, the verdict and the run folder.
pub fn print_report(report: &ScenarioReport) {
    for a in report.failures() {
        crate::say!(
            "  FAILED step {}: {}\n         saw: {}",
            a.step + 1,
            a.line,
            a.detail
        );
    }
    let held = report.assertions.iter().filter(|a| a.passed).count();
    crate::say!("checker: {}", judge::summary(&report.results));
    crate::say!(
        "{}: {held} of {} assertions hold{}",
        report.name,
        report.assertions.len(),
        if report.passed() { "" } else { " (FAILED)" }
    );
    crate::say!("run folder: {}", report.run_dir.display());
}
