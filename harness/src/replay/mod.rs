//! `ballot replay RUN`: re-drives a stored run's message schedule against
//! fresh nodes, one message at a time, and checks the result again.
//!
//! 1. Read the run folder: `test.json` (node count, node command, node
//!    bugs), `messages.jsonl`, `nemesis.jsonl`, `snapshots.jsonl`.
//! 2. Build the schedule ([`schedule::plan`]): every exchange that reached
//!    a node, in the order the node *processed* them, with the kills,
//!    restarts and restart snapshots. The proxy's `delivered` order is not
//!    the node's: overlapping exchanges may have been served in either
//!    order, so the order is searched ([`order`]) with the pure acceptor
//!    ([`sim`], run with the run's node bugs) against the recorded replies.
//!    Replies that no order explains are the first divergence reported.
//! 3. Start fresh nodes with the run's command and bugs, and carry out the
//!    schedule sequentially, sending each recorded request straight to its
//!    node and comparing the reply with the recorded one. Every difference
//!    is a *divergence*.
//! 4. Write a new run folder: the replayed message log (recorded times,
//!    replayed replies), the original history and nemesis log, and the
//!    replayed snapshots; then run the same checker. A violation found by
//!    `ballot test` replays to the same violation (property and key).
//!
//! # Restarts and timing-dependent loss
//!
//! After each restart the node's state is compared with the state the run
//! shows it came back with: the order search works it out per key from the
//! node's bugs, its replies and the restart snapshot (which may already
//! include exchanges served right after the restart). A node whose loss
//! depends on timing (`reply-before-durable` flushes in the background, so
//! a kill -9 loses whatever was not yet flushed) can come back with more or
//! less than it did in the run. When the states differ, replay *restores the
//! recorded post-restart state*: it kills the node, empties its data dir,
//! starts it, and rebuilds exactly that promise, acceptance and learned
//! value per key with accept, prepare and learn requests over the side
//! channel (these are not part of the message log). The restore is
//! reported; pass `--no-restore` to see the raw divergence instead. The
//! replay's restart snapshot is taken where the run's was: after every
//! exchange whose reply came before it.

mod drive;
pub mod schedule;
pub use ballot_checker::spec::{order, sim};

pub use drive::restore_state;
use drive::Replayer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ballot_checker::history::read_history;
use ballot_core::bugs::{BugSet, NodeBug};
use ballot_core::protocol::{
    Ballot, InstanceState, StateReply, ACCEPT_PATH, LEARN_PATH, PREPARE_PATH, PROCESS_HEADER,
};
use ballot_core::records::{
    Event, Exchange, NemesisRecord, Snapshot, SnapshotReason, HISTORY_FILE, MESSAGES_FILE,
    NEMESIS_FILE, SNAPSHOTS_FILE,
};
use ballot_core::run_folder::{read_records, write_results, TestParams};
use ballot_core::verdict::{Results, Validity};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::cluster::Cluster;
use crate::scenario::{http_client, judge, start_cluster};
use crate::store::{RunDir, StoreError};
use crate::Error;
use ballot_core::run_folder::write_jsonl;
use schedule::{plan, Item, ReplayPlan, Unexplained};

/// Flags of `ballot replay`.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct ReplayArgs {
    /// A run folder (e.g. store/latest).
    #[arg(value_name = "RUN")]
    pub run: PathBuf,

    /// Folder for the replay's run folder [default: the store the run is in].
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// Command that starts one node [default: the run's, from test.json].
    #[arg(long, value_name = "TEMPLATE")]
    pub node_cmd: Option<String>,

    /// Do not restore the recorded state of a node whose post-restart state differs.
    #[arg(long)]
    pub no_restore: bool,
}

/// Everything a stored run recorded that replay and shrink need.
#[derive(Clone, Debug)]
pub struct RunData {
    /// The run folder (symlinks resolved).
    pub dir: PathBuf,
    /// `test.json`.
    pub test: TestParams,
    /// Number of nodes.
    pub nodes: usize,
    /// The node command template, if the run recorded one.
    pub node_cmd: Option<String>,
    /// The node bugs the run used.
    pub bugs: Vec<NodeBug>,
    /// `history.jsonl`.
    pub history: Vec<Event>,
    /// `messages.jsonl`, in file order.
    pub messages: Vec<Exchange>,
    /// `nemesis.jsonl`.
    pub nemesis: Vec<NemesisRecord>,
    /// `snapshots.jsonl`.
    pub snapshots: Vec<Snapshot>,
}

fn read_jsonl<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<Vec<T>, Error> {
    read_records(dir, name).map_err(|e| Error::Input(e.to_string()))
}

/// Reads a run folder (a `store/latest` link works too).
pub fn load_run(path: &Path) -> Result<RunData, Error> {
    let dir = path
        .canonicalize()
        .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    if !dir.join(MESSAGES_FILE).is_file() {
        return Err(Error::Input(format!(
            "{} holds no {MESSAGES_FILE}: not a run folder",
            dir.display()
        )));
    }
    let test = TestParams::read(&dir).map_err(|e| Error::Input(e.to_string()))?;
    let history_path = dir.join(HISTORY_FILE);
    let history = match std::fs::File::open(&history_path) {
        Ok(f) => {
            read_history(f).map_err(|e| Error::Input(format!("{}: {e}", history_path.display())))?
        }
        Err(_) => Vec::new(),
    };
    let messages: Vec<Exchange> = read_jsonl(&dir, MESSAGES_FILE)?;
    let nemesis = read_jsonl(&dir, NEMESIS_FILE)?;
    let snapshots = read_jsonl(&dir, SNAPSHOTS_FILE)?;
    let seen = messages
        .iter()
        .map(|m| m.to as usize + 1)
        .max()
        .unwrap_or(1);
    let nodes = test.nodes.map_or(seen, |n| n as usize);
    if nodes == 0 || nodes < seen {
        return Err(Error::Input(format!(
            "test.json says {nodes} nodes but messages go to node {}",
            seen - 1
        )));
    }
    let node_cmd = test.node_cmd.clone();
    let mut bugs = Vec::new();
    for name in &test.bug {
        bugs.push(
            name.parse::<NodeBug>()
                .map_err(|e| Error::Input(format!("test.json: {e}")))?,
        );
    }
    Ok(RunData {
        dir,
        test,
        nodes,
        node_cmd,
        bugs,
        history,
        messages,
        nemesis,
        snapshots,
    })
}

/// Where the first replayed reply differed from the recorded one.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// The exchange id.
    pub exchange: u64,
    /// Its node.
    pub node: u64,
    /// Its request path.
    pub path: String,
    /// Status and body recorded.
    pub expected: Value,
    /// Status and body replayed (or why there was none).
    pub got: Value,
}

/// What a replay found.
#[derive(Debug)]
pub struct ReplayReport {
    /// The run that was replayed.
    pub original: PathBuf,
    /// The replay's run folder.
    pub run_dir: PathBuf,
    /// Exchanges sent.
    pub delivered: usize,
    /// Replies compared with recorded ones.
    pub compared: usize,
    /// Every reply that differed, in schedule order (the first is *the*
    /// divergence); replies no processing order explains come first.
    pub divergences: Vec<Divergence>,
    /// Where the recorded replies are explained by no processing order.
    pub unexplained: Vec<Unexplained>,
    /// Exchanges replayed in a different place than `delivered` order puts them.
    pub reordered: usize,
    /// Unreplied exchanges the run's node never processed (not replayed).
    pub skipped: usize,
    /// Restores of recorded post-restart states, for people.
    pub restored: Vec<String>,
    /// The checker's verdict on the replay.
    pub results: Results,
    /// The checker's verdict on the original run (same checker, same code).
    pub original_results: Results,
}

impl ReplayReport {
    /// `(property, key)` of every original violation, and whether the replay has it too.
    pub fn reproduced(&self) -> Vec<(String, Option<String>, bool)> {
        let mut seen = Vec::new();
        for v in judge::violations_of(&self.original_results, None) {
            let id = (v.property.clone(), v.key.clone());
            if seen.iter().any(|(p, k, _)| (p, k) == (&id.0, &id.1)) {
                continue;
            }
            let again = judge::violations_of(&self.results, Some(&v.property))
                .iter()
                .any(|r| r.key == v.key);
            seen.push((id.0, id.1, again));
        }
        seen
    }
}

/// How a replay runs.
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    /// Store for the replay's run folder; default: the run's parent folder.
    pub store: Option<PathBuf>,
    /// Node command override.
    pub node_cmd: Option<String>,
    /// Do not restore differing post-restart states.
    pub no_restore: bool,
}

/// Replays the run in `path` against fresh nodes (see the module doc).
pub async fn replay_run(path: &Path, opts: &ReplayOptions) -> Result<ReplayReport, Error> {
    let run = load_run(path)?;
    let store = match &opts.store {
        Some(s) => s.clone(),
        None => run.dir.parent().unwrap_or(Path::new(".")).to_path_buf(),
    };
    let out = RunDir::create(&store, "replay")?;
    let node_cmd = opts.node_cmd.clone().or_else(|| run.node_cmd.clone());
    let plan = plan(
        &run.messages,
        &run.nemesis,
        &run.snapshots,
        &run.history,
        BugSet::of(&run.bugs),
    );
    let mut cluster = start_cluster(run.nodes, out.path(), node_cmd.as_deref(), &run.bugs).await?;
    let http = http_client()?;
    let mut replayer = Replayer {
        run: &run,
        plan: &plan,
        http,
        restore: !opts.no_restore,
        messages: run.messages.clone(),
        snapshots: Vec::new(),
        divergences: unexplained_divergences(&run, &plan.unexplained),
        restored: Vec::new(),
        delivered: 0,
        compared: 0,
    };
    let result = replayer.run(&mut cluster).await;
    let stopped = cluster.shutdown().await;
    drop(cluster);
    result?;
    stopped?;
    write_jsonl(&out.file(MESSAGES_FILE), &replayer.messages)?;
    write_jsonl(&out.file(SNAPSHOTS_FILE), &replayer.snapshots)?;
    for name in [HISTORY_FILE, NEMESIS_FILE] {
        if run.dir.join(name).is_file() {
            std::fs::copy(run.dir.join(name), out.file(name))
                .map_err(|e| Error::Input(format!("copy {name}: {e}")))?;
        }
    }
    let mut test = run.test.clone();
    test.extra
        .insert("replay_of".into(), json!(run.dir.display().to_string()));
    test.command = vec![
        "ballot".into(),
        "replay".into(),
        run.dir.display().to_string(),
    ];
    test.write(out.path()).map_err(StoreError::from)?;
    let results = judge::check_dir(out.path()).map_err(Error::Check)?;
    write_results(out.path(), &results).map_err(StoreError::from)?;
    let original_results = judge::check_dir(&run.dir).map_err(Error::Check)?;
    Ok(ReplayReport {
        original: run.dir.clone(),
        run_dir: out.path().to_path_buf(),
        delivered: replayer.delivered,
        compared: replayer.compared,
        divergences: replayer.divergences,
        unexplained: plan.unexplained.clone(),
        reordered: plan.reordered,
        skipped: plan.skipped.len(),
        restored: replayer.restored,
        results,
        original_results,
    })
}

/// Replies no order explains, as divergences (the first candidate exchange names each).
fn unexplained_divergences(run: &RunData, unexplained: &[Unexplained]) -> Vec<Divergence> {
    let messages = &run.messages;
    unexplained
        .iter()
        .map(|u| {
            let named = u
                .candidates
                .iter()
                .find_map(|c| c.exchange)
                .or(u.after)
                .map(|i| &messages[i]);
            Divergence {
                exchange: named.map_or(0, |ex| ex.id),
                node: u.node,
                path: named.map_or_else(|| "/v1/state".to_string(), |ex| ex.path.clone()),
                expected: named.map_or(
                    Value::Null,
                    |ex| json!({"status": ex.status, "response": ex.response}),
                ),
                got: Value::String(u.describe(messages, &run.snapshots)),
            }
        })
        .collect()
}

/// Prints the replay's findings.
pub fn print_report(report: &ReplayReport) {
    println!(
        "replayed {} exchanges of {} against fresh nodes; {} replies compared, {} differed",
        report.delivered,
        report.original.display(),
        report.compared,
        report.divergences.len() - report.unexplained.len()
    );
    println!(
        "processing order: {} exchange(s) replayed out of delivered order (the node served \
         overlapping requests in another order), {} unreplied exchange(s) the node never processed",
        report.reordered, report.skipped
    );
    match (report.unexplained.first(), report.divergences.first()) {
        (Some(_), Some(d)) => println!("first divergence: {}", d.got.as_str().unwrap_or_default()),
        (_, Some(d)) => println!(
            "first divergence: exchange {} ({} to node {}): expected {}, got {}",
            d.exchange, d.path, d.node, d.expected, d.got
        ),
        (_, None) => println!("no divergence: every reply matched the recorded one"),
    }
    if report.unexplained.len() > 1 {
        println!(
            "{} (node, key) histories are explained by no processing order",
            report.unexplained.len()
        );
    }
    for note in &report.restored {
        println!("restart: {note}");
    }
    println!("checker: {}", judge::summary(&report.results));
    for (property, key, again) in report.reproduced() {
        let key = key.map(|k| format!(" (key {k:?})")).unwrap_or_default();
        println!(
            "original violation {property}{key}: {}",
            if again {
                "reproduced"
            } else {
                "NOT reproduced"
            }
        );
    }
    println!("run folder: {}", report.run_dir.display());
}

/// `ballot replay` for `main`: [`replay_command`] on its own runtime.
pub fn replay_main(args: &ReplayArgs) -> Result<Validity, Error> {
    crate::runtime::block_on(replay_command(args))
}

/// `ballot replay RUN`: returns the replay's verdict; a folder that is not a
/// run is unusable input (254).
pub async fn replay_command(args: &ReplayArgs) -> Result<Validity, Error> {
    let opts = ReplayOptions {
        store: args.store.clone(),
        node_cmd: args.node_cmd.clone(),
        no_restore: args.no_restore,
    };
    let report = replay_run(&args.run, &opts).await?;
    print_report(&report);
    Ok(report.results.valid)
}
