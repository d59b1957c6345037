//! `ballot shrink RUN`: cuts a failing run down to a small scenario file
//! that still violates the same property.
//!
//! 1. Judge the run and pick the violation to keep (the first, or the one
//!    `--property` names) and its key.
//! 2. Turn the run's schedule ([`crate::replay::schedule`]) into *units*:
//!    one delivered exchange, one kill, one restart, or one client
//!    operation (its invocation and completion together, so the history
//!    stays well formed). Exchanges and operations on other keys go first.
//! 3. Each candidate (a subsequence of units) becomes a scenario of raw
//!    steps ([`to_scenario`]) and runs through the scenario engine against
//!    one long-lived cluster: every candidate uses fresh keys (a suffix), so
//!    nodes are started once, not per candidate. The candidate is kept when
//!    the checker still reports the property on the key.
//! 4. Search: first the shortest failing prefix (binary search), then
//!    [`ddmin`] (1-minimal), then weaker faults ([`weaken`]: a restart moved
//!    up to right after its kill, a dropped reply delivered), each kept only
//!    if the same property still fails on the same key; all within
//!    `--time-limit` and `--max-candidates`.
//! 5. Write the result as a scenario file whose last step is
//!    `expect invalid PROPERTY`, and run it once more to confirm.
//!
//! Because candidates are judged exactly as `ballot scenario FILE` runs the
//! output (same engine, same sequential delivery), the written file
//! reproduces what the search saw.

pub mod ddmin;
pub mod weaken;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ballot_core::protocol::Ballot;
use ballot_core::records::{EventType, Fate, Process};
use ballot_core::verdict::Validity;
use ballot_workloads::scenario::{
    Completion, Expect, HistoryStep, MessageStep, RequestKind, Scenario, Sender, Step, Verb,
};
use ballot_workloads::F;

use crate::cluster::Cluster;
use crate::replay::schedule::{plan, Item, Timed};
use crate::replay::{load_run, RunData};
use ballot_checker::run::CheckOptions;

use crate::scenario::{
    execute, http_client, judge, run_scenario, start_cluster, ExecOptions, RunOptions,
};
use crate::store::RunDir;
use crate::Error;
use ddmin::{Budget, Oracle};

/// Default time budget of a shrink.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(120);
/// Default most candidates tried.
pub const DEFAULT_MAX_CANDIDATES: usize = 5_000;

/// Flags of `ballot shrink`.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct ShrinkArgs {
    /// A failing run folder (e.g. store/latest).
    #[arg(value_name = "RUN")]
    pub run: PathBuf,

    /// The property to keep violated [default: the run's first violation].
    #[arg(long, value_name = "NAME")]
    pub property: Option<String>,

    /// Seconds the search may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0)]
    pub time_limit: f64,

    /// Most candidates to try.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CANDIDATES)]
    pub max_candidates: usize,

    /// Where to write the scenario file [default: RUN/shrunk.json].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Command that starts one node [default: the run's, from test.json].
    #[arg(long, value_name = "TEMPLATE")]
    pub node_cmd: Option<String>,
}

/// How a shrink runs.
#[derive(Clone, Debug)]
pub struct ShrinkOptions {
    /// Property to keep violated; default: the run's first violation.
    pub property: Option<String>,
    /// Time budget.
    pub time_limit: Duration,
    /// Candidate budget.
    pub max_candidates: usize,
    /// Output file; default `RUN/shrunk.json`.
    pub out: Option<PathBuf>,
    /// Node command override.
    pub node_cmd: Option<String>,
}

impl Default for ShrinkOptions {
    fn default() -> Self {
        ShrinkOptions {
            property: None,
            time_limit: DEFAULT_TIME_LIMIT,
            max_candidates: DEFAULT_MAX_CANDIDATES,
            out: None,
            node_cmd: None,
        }
    }
}

/// What a shrink produced.
#[derive(Debug)]
pub struct Shrunk {
    /// The property the scenario violates.
    pub property: String,
    /// The key it is violated on, if the property is about one.
    pub key: Option<String>,
    /// The scenario.
    pub scenario: Scenario,
    /// Where it was written.
    pub file: PathBuf,
    /// Steps of the whole run as a scenario (before shrinking).
    pub steps_before: usize,
    /// Steps of the shrunk scenario.
    pub steps_after: usize,
    /// Candidates tried.
    pub candidates: usize,
    /// Time taken.
    pub elapsed: Duration,
    /// True when the budget ran out before the result was 1-minimal.
    pub budget_exhausted: bool,
    /// The faults weakened after the search, for people.
    pub weakened: Vec<String>,
}

/// A unit of the search: the schedule items removed or kept together.
type Unit = Vec<Timed>;

/// Groups schedule items into units: each invocation with its completion
/// (by process), everything else alone.
pub fn units(run: &RunData, items: &[Timed]) -> Vec<Unit> {
    let mut out: Vec<Unit> = Vec::new();
    let mut open: std::collections::BTreeMap<u64, usize> = Default::default();
    for t in items {
        if let Item::Event { event } = t.item {
            let e = &run.history[event];
            if let Process::Client(p) = e.process {
                if e.kind == EventType::Invoke {
                    open.insert(p, out.len());
                    out.push(vec![*t]);
                } else if let Some(u) = open.remove(&p) {
                    out[u].push(*t);
                }
                // A completion without an invocation is dropped.
            }
            continue;
        }
        if !matches!(t.item, Item::Snapshot { .. }) {
            out.push(vec![*t]);
        }
    }
    out
}

/// The key an item is about, if any.
fn item_key(run: &RunData, t: &Timed) -> Option<String> {
    match t.item {
        Item::Deliver { exchange } => run.messages[exchange].request["key"]
            .as_str()
            .map(str::to_string),
        Item::Event { event } => run.history[event].key.clone(),
        Item::Kill { .. } | Item::Restart { .. } | Item::Snapshot { .. } => None,
    }
}

/// A scenario of raw steps replaying `units` (in schedule order), ending
/// with `expect invalid PROPERTY`.
/// Exchanges in `delivered` have their reply delivered even if the run dropped it.
pub fn to_scenario(
    run: &RunData,
    units: &[Unit],
    name: &str,
    key: &str,
    property: &str,
    delivered: &[usize],
) -> Result<Scenario, Error> {
    let mut items: Vec<Timed> = units.iter().flatten().copied().collect();
    items.sort_by_key(|t| (t.time, t.item.rank()));
    let mut down = BTreeSet::new();
    let mut steps = Vec::new();
    let key_of = |k: &str| (k != key).then(|| k.to_string());
    for t in &items {
        match t.item {
            Item::Kill { node } => {
                if down.insert(node) {
                    steps.push(Step::Fault {
                        fault: ballot_workloads::scenario::Fault::Kill,
                        nodes: vec![node],
                    });
                }
            }
            Item::Restart { node, .. } => {
                if down.remove(&node) {
                    steps.push(Step::Fault {
                        fault: ballot_workloads::scenario::Fault::Restart,
                        nodes: vec![node],
                    });
                }
            }
            // The scenario engine records its own snapshots.
            Item::Snapshot { .. } => {}
            Item::Deliver { exchange } => {
                let ex = &run.messages[exchange];
                let Some(phase) = RequestKind::from_path(&ex.path) else {
                    continue; // not a protocol request: a scenario cannot send it
                };
                let Some(k) = ex.request["key"].as_str() else {
                    continue;
                };
                let Ok(ballot) = serde_json::from_value::<Ballot>(ex.request["ballot"].clone())
                else {
                    continue;
                };
                let value = ex.request["value"].as_str().map(str::to_string);
                if value.is_none() != (phase == RequestKind::Prepare) {
                    continue;
                }
                // A reply the proposer never used stays unused: anything but
                // `ok` is replayed as a dropped response.
                let verb = if ex.fate == Fate::Ok || delivered.contains(&exchange) {
                    Verb::Deliver
                } else {
                    Verb::DropResponse
                };
                steps.push(Step::Message(MessageStep {
                    verb,
                    phase,
                    sender: Sender::Raw {
                        ballot,
                        value,
                        process: ex.process,
                    },
                    nodes: vec![ex.to as usize],
                    key: key_of(k),
                }));
            }
            Item::Event { event } => {
                let e = &run.history[event];
                let Process::Client(process) = e.process else {
                    continue;
                };
                let f = match e.f.as_str() {
                    "propose" => F::Propose,
                    "read" => F::Read,
                    _ => continue,
                };
                let completion = match e.kind {
                    EventType::Invoke => None,
                    EventType::Ok => Some(Completion::Ok),
                    EventType::Fail => Some(Completion::Fail),
                    EventType::Info => Some(Completion::Info),
                };
                steps.push(Step::History(HistoryStep {
                    completion,
                    process,
                    f,
                    value: e.value.as_str().map(str::to_string),
                    key: e.key.as_deref().and_then(key_of),
                }));
            }
        }
    }
    steps.push(Step::Expect(Expect::Invalid(Some(property.to_string()))));
    let file = ballot_workloads::scenario::ScenarioFile {
        name: name.to_string(),
        title: format!("shrunk from {}: violates {property}", run.dir.display()),
        description: String::new(),
        nodes: run.nodes,
        key: key.to_string(),
        node_bugs: run.bugs.iter().map(|b| b.to_string()).collect(),
        proposers: Vec::new(),
        steps: steps.iter().map(Step::to_string).collect(),
    };
    Scenario::from_file(file).map_err(|e| Error::Input(format!("shrunk scenario: {e}")))
}

/// Runs candidates on one cluster, each on fresh keys.
struct Candidates<'a> {
    run: &'a RunData,
    cluster: &'a mut Cluster,
    http: reqwest::Client,
    name: String,
    key: String,
    property: String,
    count: usize,
    error: Option<Error>,
    /// Exchanges whose dropped reply is delivered (a weakened fault).
    delivered: Vec<usize>,
}

impl Candidates<'_> {
    /// Runs one candidate; `Ok(true)` when it still violates the property on the key.
    async fn try_units(&mut self, units: &[Unit]) -> Result<bool, Error> {
        self.count += 1;
        let scenario = to_scenario(
            self.run,
            units,
            &self.name,
            &self.key,
            &self.property,
            &self.delivered,
        )?;
        let suffix = format!("~{}", self.count);
        let opts = ExecOptions {
            key_suffix: suffix.clone(),
            client_bugs: Vec::new(),
        };
        let execution = execute(self.cluster, &self.http, &scenario, &opts).await?;
        let records = &execution.records;
        let results = ballot_checker::run::check_records(
            &records.history,
            &records.messages,
            &records.nemesis,
            &records.snapshots,
            self.run.nodes,
            &CheckOptions::default(),
        );
        let want = format!("{}{suffix}", self.key);
        Ok(judge::violations_of(&results, Some(&self.property))
            .iter()
            .any(|v| v.key.as_deref().is_none_or(|k| k == want)))
    }
}

impl Oracle<Unit> for Candidates<'_> {
    async fn fails(&mut self, candidate: &[Unit]) -> bool {
        if self.error.is_some() {
            return false;
        }
        match self.try_units(candidate).await {
            Ok(fails) => fails,
            Err(e) => {
                // A harness failure (not a verdict) stops the search.
                self.error = Some(e);
                false
            }
        }
    }
}

/// The violation to keep: the one named, else the first message-log
/// invariant (`paxos`, then `learners`: they point at the protocol step
/// that broke), else the first of any checker (e.g. `linearizable`).
fn preferred_violation(
    results: &ballot_core::verdict::Results,
    property: Option<&str>,
) -> Option<(String, Option<String>)> {
    let found = |checker: Option<&str>| {
        results
            .checkers
            .iter()
            .filter(|c| checker.is_none_or(|n| c.name == n))
            .flat_map(|c| c.violations.iter().map(move |v| (c, v)))
            .find(|(c, v)| property.is_none_or(|p| v.property == p || c.name == p))
            .map(|(_, v)| (v.property.clone(), v.key.clone()))
    };
    if property.is_some() {
        return found(None);
    }
    found(Some("paxos"))
        .or_else(|| found(Some("learners")))
        .or_else(|| found(None))
}

/// Shrinks the failing run in `path` (see the module doc).
pub async fn shrink_run(path: &Path, opts: &ShrinkOptions) -> Result<Shrunk, Error> {
    let started = Instant::now();
    let run = load_run(path)?;
    let original = judge::check_dir(&run.dir).map_err(Error::Check)?;
    let violation = preferred_violation(&original, opts.property.as_deref()).ok_or_else(|| {
        Error::Input(format!(
            "{} shows no violation{} to shrink ({})",
            run.dir.display(),
            opts.property
                .as_deref()
                .map(|p| format!(" of {p}"))
                .unwrap_or_default(),
            judge::summary(&original)
        ))
    })?;
    let (property, key) = violation;
    let bugs = ballot_core::bugs::BugSet::of(&run.bugs);
    let items = plan(
        &run.messages,
        &run.nemesis,
        &run.snapshots,
        &run.history,
        bugs,
    )
    .items;
    let all_units = units(&run, &items);
    let scenario_key = key.clone().unwrap_or_else(|| {
        items
            .iter()
            .find_map(|t| item_key(&run, t))
            .unwrap_or_else(|| "x".to_string())
    });
    let folder = run
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = format!("shrunk-{folder}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let steps_before = to_scenario(&run, &all_units, &name, &scenario_key, &property, &[])?
        .steps
        .len();

    let store = run.dir.parent().unwrap_or(Path::new(".")).to_path_buf();
    let work = RunDir::create(&store, "shrink")?;
    let node_cmd = opts.node_cmd.clone().or_else(|| run.node_cmd.clone());
    let mut cluster = start_cluster(run.nodes, work.path(), node_cmd.as_deref(), &run.bugs).await?;
    let mut budget = Budget::new(opts.time_limit, opts.max_candidates);
    let mut oracle = Candidates {
        run: &run,
        cluster: &mut cluster,
        http: http_client()?,
        name: name.clone(),
        key: scenario_key.clone(),
        property: property.clone(),
        count: 0,
        error: None,
        delivered: Vec::new(),
    };
    let result = search(&run, all_units, key.as_deref(), &mut oracle, &mut budget).await;
    let (result, weakened) = match result {
        Ok(best) => {
            let (best, weakened) = weaken_faults(&run, best, &mut oracle, &mut budget).await;
            (Ok(best), weakened)
        }
        Err(e) => (Err(e), Vec::new()),
    };
    let delivered = oracle.delivered.clone();
    let count = oracle.count;
    let error = oracle.error.take();
    let stopped = cluster.shutdown().await;
    drop(cluster);
    if let Some(e) = error {
        return Err(e);
    }
    stopped?;
    let best = result?;
    let scenario = to_scenario(&run, &best, &name, &scenario_key, &property, &delivered)?;
    let file = opts
        .out
        .clone()
        .unwrap_or_else(|| run.dir.join("shrunk.json"));
    std::fs::write(&file, scenario.to_json())
        .map_err(|e| Error::Input(format!("{}: {e}", file.display())))?;
    let _ = std::fs::remove_dir_all(work.path());
    Ok(Shrunk {
        property,
        key,
        steps_after: scenario.steps.len(),
        scenario,
        file,
        steps_before,
        candidates: count,
        elapsed: started.elapsed(),
        budget_exhausted: budget.exhausted(),
        weakened,
    })
}

/// Weakens the faults of the shrunk candidate one at a time (see
/// [`weaken`]), keeping each weakening that still fails the same way;
/// returns the candidate and what was weakened.
async fn weaken_faults(
    run: &RunData,
    mut units: Vec<Unit>,
    oracle: &mut Candidates<'_>,
    budget: &mut Budget,
) -> (Vec<Unit>, Vec<String>) {
    let mut done = Vec::new();
    let mut rejected: Vec<weaken::Weakening> = Vec::new();
    'again: loop {
        for w in weaken::candidates(run, &units, &oracle.delivered) {
            if rejected.contains(&w) {
                continue;
            }
            if !budget.spend() {
                break 'again;
            }
            let said = weaken::describe(&w, run, &units);
            let trial = match w {
                weaken::Weakening::ShortOutage { kill, restart } => {
                    weaken::shorten(&units, kill, restart)
                }
                weaken::Weakening::Deliver(exchange) => {
                    oracle.delivered.push(exchange);
                    units.clone()
                }
            };
            if oracle.fails(&trial).await {
                units = trial;
                done.push(said);
                continue 'again;
            }
            if let weaken::Weakening::Deliver(_) = w {
                oracle.delivered.pop();
            }
            rejected.push(w);
            if oracle.error.is_some() {
                break 'again;
            }
        }
        break;
    }
    (units, done)
}

/// Baseline, key filter, prefix, ddmin.
async fn search(
    run: &RunData,
    all: Vec<Unit>,
    key: Option<&str>,
    oracle: &mut Candidates<'_>,
    budget: &mut Budget,
) -> Result<Vec<Unit>, Error> {
    let on_key: Vec<Unit> = match key {
        Some(k) => all
            .iter()
            .filter(|u| u.iter().all(|t| item_key(run, t).is_none_or(|uk| uk == k)))
            .cloned()
            .collect(),
        None => all.clone(),
    };
    let start = if oracle.fails(&on_key).await {
        on_key
    } else if on_key.len() != all.len() && oracle.fails(&all).await {
        all
    } else {
        if let Some(e) = oracle.error.take() {
            return Err(e);
        }
        return Err(Error::Input(format!(
            "the violation of {} does not reproduce when the run's messages are replayed one \
             at a time in the order the nodes processed them; it cannot be shrunk",
            oracle.property
        )));
    };
    let prefix = ddmin::shortest_prefix(start, oracle, budget).await;
    Ok(ddmin::ddmin(prefix, oracle, budget).await)
}

/// Prints what a shrink produced.
pub fn print_report(s: &Shrunk) {
    let key = s
        .key
        .as_deref()
        .map(|k| format!(" on key {k:?}"))
        .unwrap_or_default();
    crate::say!(
        "shrunk {} steps to {} ({} candidates in {:.1} s{}); still violates {}{key}",
        s.steps_before,
        s.steps_after,
        s.candidates,
        s.elapsed.as_secs_f64(),
        if s.budget_exhausted {
            "; budget spent, may not be minimal"
        } else {
            ""
        },
        s.property,
    );
    if !s.weakened.is_empty() {
        crate::say!("weakened faults: {}", s.weakened.join("; "));
    }
    crate::say!("scenario file: {}", s.file.display());
    crate::say!(
        "REPRODUCE WITH: ballot scenario {}",
        ballot_core::shell::quote(&s.file.display().to_string())
    );
}

/// `ballot shrink` for `main`: [`shrink_command`] on its own runtime.
pub fn shrink_main(args: &ShrinkArgs) -> Result<Validity, Error> {
    crate::runtime::block_on(shrink_command(args))
}

/// `ballot shrink RUN`: invalid (exit 1) when the shrunk scenario still
/// fails (the expected outcome: it reproduces the violation), unknown when
/// the confirmation run did not reproduce it; a run with nothing to shrink
/// is unusable input (254).
pub async fn shrink_command(args: &ShrinkArgs) -> Result<Validity, Error> {
    if !(args.time_limit.is_finite() && args.time_limit > 0.0) {
        return Err(Error::Input(
            "--time-limit must be a positive number of seconds".to_string(),
        ));
    }
    let opts = ShrinkOptions {
        property: args.property.clone(),
        time_limit: Duration::from_secs_f64(args.time_limit),
        max_candidates: args.max_candidates,
        out: args.out.clone(),
        node_cmd: args.node_cmd.clone(),
    };
    let shrunk = shrink_run(&args.run, &opts).await?;
    print_report(&shrunk);
    let store = args
        .run
        .canonicalize()
        .ok()
        .and_then(|d| d.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("store"));
    let mut run_opts = RunOptions::new(&store, &shrunk.file.display().to_string());
    run_opts.node_cmd = args.node_cmd.clone();
    let report = run_scenario(&shrunk.scenario, &run_opts).await?;
    if report.passed() {
        crate::say!("confirmed: {}", judge::summary(&report.results));
        Ok(Validity::Invalid)
    } else {
        crate::scenario::print_report(&report);
        eprintln!("warning: the shrunk scenario did not reproduce the violation this time");
        Ok(Validity::Unknown)
    }
}
