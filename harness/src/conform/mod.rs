//! `ballot conform --node-cmd TEMPLATE`: a deterministic conformance suite
//! for a node, one check per rule of `docs/protocol.md`, before any chaos.
//!
//! Each check starts its own fresh node(s) from the template (the same
//! placeholders as `ballot test`), sends a fixed script of requests and
//! signals, and judges every reply field by field. A failure names the
//! rule, the request sent, what was expected, what came back, the first
//! wrong field, and where the rule comes from (the section of
//! `docs/protocol.md`, and Lamport's *Paxos Made Simple* where it starts
//! there).
//!
//! Exit codes: 0 every check passed (or did not apply), 1 some failed, 254
//! bad arguments, 255 the harness failed, or the node did not start at all.
//! A node that starts and answers `/v1/health` badly fails a check (1).
//!
//! # Layout
//!
//! - [`rules`]: the table of rules: name, statement, source, setup, script.
//! - [`script`]: steps as data (requests to send, signals to give).
//! - [`expect`]: what a reply must be, and the pure judgement of one.
//! - [`run`]: carrying a check out against real processes.
//! - [`report`]: the lines, the explanations, the summary, the JSON.

pub mod expect;
pub mod report;
pub mod rules;
pub mod run;
pub mod script;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ballot_core::bugs::NodeBug;
use ballot_core::verdict::Validity;

use crate::cluster::{self, command, ClusterError};
use crate::store::RunDir;
use crate::Error;

use report::{CheckResult, Report};
use rules::Rule;
use run::{Failure, Outcome, Target, Unrun};

/// Flags of `ballot conform`.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct ConformArgs {
    /// Command that starts one node; {id}, {port}, {data_dir} and {peers} are substituted
    /// [default: ballot-node (beside ballot) --id {id} --listen 127.0.0.1:{port} --data-dir {data_dir}]
    #[arg(long, value_name = "TEMPLATE")]
    pub node_cmd: Option<String>,

    /// Run our node with a deliberate bug (repeatable; appends --bug NAME to the command).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<NodeBug>,

    /// Run only this check (repeatable); --list names them.
    #[arg(long = "rule", value_name = "NAME")]
    pub rules: Vec<String>,

    /// List the checks, each with its rule and source, and exit.
    #[arg(long)]
    pub list: bool,

    /// Print the results as one JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,

    /// Keep every check's node folders (logs, data dirs) in a run folder
    /// under DIR; without it they go to a temp dir, removed when every check passes.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// How many checks run at once (each on its own nodes; the first runs alone).
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=64))]
    pub jobs: u64,
}

/// Runs `ballot conform`.
pub fn conform_main(args: &ConformArgs) -> Result<Validity, Error> {
    let rules = select(&args.rules)?;
    if args.list {
        crate::put!("{}", report::list(&rules));
        return Ok(Validity::Valid);
    }
    crate::runtime::block_on(conform(args, rules))
}

/// The checks named by `--rule`, in table order; all of them by default.
pub fn select(names: &[String]) -> Result<Vec<Rule>, Error> {
    let all = rules::all();
    if let Some(unknown) = names.iter().find(|n| !all.iter().any(|r| r.name == *n)) {
        return Err(Error::Input(format!(
            "no check named {unknown:?}; `ballot conform --list` shows them"
        )));
    }
    Ok(all
        .into_iter()
        .filter(|r| names.is_empty() || names.iter().any(|n| n == r.name))
        .collect())
}

/// The arguments that select the same node and bugs (for the rerun command).
fn rerun_args(args: &ConformArgs) -> Vec<String> {
    let mut words = Vec::new();
    if let Some(cmd) = &args.node_cmd {
        words.extend(["--node-cmd".to_string(), cmd.clone()]);
    }
    for bug in &args.bugs {
        words.extend(["--bug".to_string(), bug.to_string()]);
    }
    words
}

async fn conform(args: &ConformArgs, rules: Vec<Rule>) -> Result<Validity, Error> {
    let started = Instant::now();
    let (node_cmd, ours) = match &args.node_cmd {
        Some(cmd) => (cmd.clone(), false),
        None => (cluster::default_node_cmd()?, true),
    };
    let extra_args = crate::scenario::bug_args(&args.bugs);
    command::parse_template(&node_cmd, &extra_args)
        .map_err(|e| Error::Input(format!("bad --node-cmd {node_cmd:?}: {e}")))?;
    let target = Target {
        node_cmd: node_cmd.clone(),
        extra_args,
        ours,
        health_timeout: cluster::DEFAULT_HEALTH_TIMEOUT,
    };
    let work = WorkDir::create(args.store.as_deref())?;
    let http = crate::scenario::http_client()?;
    if !args.json {
        crate::say!(
            "ballot conform: {} checks of docs/protocol.md against `{node_cmd}`",
            rules.len()
        );
    }
    let mut printer = Printer {
        width: report::width_of(&rules),
        quiet: args.json,
    };
    let mut rest = rules.into_iter();
    let mut results = Vec::new();
    // The first check that starts a node runs alone: it tells a node that
    // never starts (a harness failure), or never answers health with 200
    // (no other check can run), from one that does.
    let mut blocked = None;
    for rule in rest.by_ref() {
        let t = Instant::now();
        let outcome =
            match run::run_check(&rule, &target, &work.path().join(rule.name), &http).await {
                Ok(outcome) => outcome,
                Err(Unrun::Harness(e)) => return Err(e),
                Err(Unrun::Start(e)) => match first_start_failure(&e) {
                    FirstStart::NeverAnswered => {
                        return Err(Error::Setup(format!(
                            "the node did not start, so no check ran: {e}"
                        )))
                    }
                    FirstStart::AnsweredBadly => {
                        blocked = Some(format!(
                            "needs a node whose /v1/health answers 200; see {}",
                            rule.name
                        ));
                        Outcome::Fail(Box::new(Failure::start(&e, target.health_timeout)))
                    }
                },
            };
        let skipped = matches!(outcome, Outcome::Skip(_));
        printer.push(&mut results, rule, outcome, t.elapsed());
        if !skipped {
            break;
        }
    }
    if let Some(why) = blocked {
        for rule in rest {
            printer.push(
                &mut results,
                rule,
                Outcome::Skip(why.clone()),
                Duration::ZERO,
            );
        }
    } else {
        run_concurrently(
            rest.collect(),
            &target,
            &work,
            &http,
            args.jobs,
            &mut printer,
            &mut results,
        )
        .await?;
    }
    let mut report = Report {
        node_cmd,
        results,
        elapsed: started.elapsed(),
        kept: None,
        rerun_args: rerun_args(args),
    };
    report.kept = work.finish(report.valid());
    if args.json {
        crate::say!("{:#}", report.to_json());
    } else {
        crate::put!("{}", report.text_tail());
    }
    Ok(if report.valid() {
        Validity::Valid
    } else {
        Validity::Invalid
    })
}

/// Prints each result's line as it is recorded (unless `--json`).
struct Printer {
    width: usize,
    quiet: bool,
}

impl Printer {
    fn push(
        &mut self,
        results: &mut Vec<CheckResult>,
        rule: Rule,
        outcome: Outcome,
        elapsed: Duration,
    ) {
        let result = CheckResult {
            rule,
            outcome,
            elapsed,
        };
        if !self.quiet {
            crate::say!("{}", report::line(&result, self.width));
            let _ = std::io::stdout().flush();
        }
        results.push(result);
    }
}

/// Runs `rules`, at most `jobs` at a time, each on its own nodes; records
/// (and prints) the results in table order as soon as all before them are in.
async fn run_concurrently(
    rules: Vec<Rule>,
    target: &Target,
    work: &WorkDir,
    http: &reqwest::Client,
    jobs: u64,
    printer: &mut Printer,
    results: &mut Vec<CheckResult>,
) -> Result<(), Error> {
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(jobs as usize));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, rule) in rules.iter().copied().enumerate() {
        let (target, http, permits) = (target.clone(), http.clone(), permits.clone());
        let dir = work.path().join(rule.name);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let t = Instant::now();
            let outcome = match run::run_check(&rule, &target, &dir, &http).await {
                Ok(outcome) => Ok(outcome),
                // A node that started before and does not now: this check fails.
                Err(Unrun::Start(e)) => Ok(Outcome::Fail(Box::new(Failure::start(
                    &e,
                    target.health_timeout,
                )))),
                Err(Unrun::Harness(e)) => Err(e),
            };
            (i, outcome, t.elapsed())
        });
    }
    let mut done: Vec<Option<(Outcome, Duration)>> = vec![None; rules.len()];
    let mut next = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, outcome, elapsed) =
            joined.map_err(|e| Error::Setup(format!("a check's task failed: {e}")))?;
        done[i] = Some((outcome?, elapsed));
        while let Some((outcome, elapsed)) = done.get_mut(next).and_then(Option::take) {
            printer.push(results, rules[next], outcome, elapsed);
            next += 1;
        }
    }
    Ok(())
}

/// What it means when the first check's nodes do not start. (Any later
/// start failure is just that check's.)
#[derive(Debug, PartialEq, Eq)]
enum FirstStart {
    /// `/v1/health` answered, but never with 200: that check fails, and
    /// no other can run (exit 1).
    AnsweredBadly,
    /// It never answered (did not run, exited, never listened): the
    /// harness fails (exit 255).
    NeverAnswered,
}

/// Classifies the first check's start failure.
fn first_start_failure(error: &ClusterError) -> FirstStart {
    match error {
        ClusterError::Unhealthy {
            last_status: Some(_),
            ..
        } => FirstStart::AnsweredBadly,
        _ => FirstStart::NeverAnswered,
    }
}

/// Where the checks' node folders go: a run folder under `--store`, kept;
/// or a temp dir, removed when every check passed.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    fn create(store: Option<&Path>) -> Result<WorkDir, Error> {
        if let Some(store) = store {
            let run = RunDir::create(store, "conform")?;
            return Ok(WorkDir {
                path: run.path().to_path_buf(),
                keep: true,
            });
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos();
        let path =
            std::env::temp_dir().join(format!("ballot-conform-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|source| Error::Io {
            what: format!("cannot create {}", path.display()),
            source,
        })?;
        Ok(WorkDir { path, keep: false })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Removes a temp dir after a clean run; returns where the folders stay otherwise.
    fn finish(self, all_passed: bool) -> Option<PathBuf> {
        if all_passed && !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
            return None;
        }
        Some(self.path)
    }
}

#[cfg(test)]
mod tests;
