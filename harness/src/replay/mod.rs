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

    /// Replay twice and fail (exit 1) if the two replays' replies differ.
    #[arg(long)]
    pub twice: bool,
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
    /// Of the replayed divergences, those the node's bug explains (its loss
    /// at a kill depends on timing), by position in `divergences`.
    pub expected: Vec<usize>,
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
    replay_loaded(&load_run(path)?, opts).await
}

/// [`replay_run`] on a run already read.
pub async fn replay_loaded(run: &RunData, opts: &ReplayOptions) -> Result<ReplayReport, Error> {
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
        run,
        plan: &plan,
        http,
        restore: !opts.no_restore,
        messages: run.messages.clone(),
        snapshots: Vec::new(),
        divergences: unexplained_divergences(run, &plan.unexplained),
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
    let expected = (plan.unexplained.len()..replayer.divergences.len())
        .filter(|&i| explained_by_bug(run, &replayer.divergences[i]))
        .collect();
    let report = ReplayReport {
        original: run.dir.clone(),
        run_dir: out.path().to_path_buf(),
        delivered: replayer.delivered,
        compared: replayer.compared,
        divergences: replayer.divergences,
        expected,
        unexplained: plan.unexplained.clone(),
        reordered: plan.reordered,
        skipped: plan.skipped.len(),
        restored: replayer.restored,
        results,
        original_results,
    };
    write_divergences(run, &report)?;
    Ok(report)
}

/// The file in a replay's run folder that lists every divergence in full.
pub const DIVERGENCES_FILE: &str = "divergences.txt";

/// At most this many alternatives are printed for an unexplained reply.
const ALTERNATIVES_SHOWN: usize = 3;

/// Whether the run's node bugs explain a replayed divergence: a node whose
/// loss at a kill depends on timing (`reply-before-durable` flushes in the
/// background) may keep more or less in the replay, after its first kill.
fn explained_by_bug(run: &RunData, d: &Divergence) -> bool {
    if !order::Recovery::of(BugSet::of(&run.bugs)).any_prefix {
        return false;
    }
    let Some(at) = run
        .messages
        .iter()
        .find(|m| m.id == d.exchange)
        .and_then(|m| m.delivered)
    else {
        return false;
    };
    run.nemesis.iter().any(|r| {
        r.fault.takes_node_down()
            && r.phase == ballot_core::records::FaultPhase::Start
            && r.nodes.contains(&d.node)
            && r.time < at
    })
}

/// Writes [`DIVERGENCES_FILE`]: every unexplained reply with all its
/// alternatives, then every replayed divergence.
fn write_divergences(run: &RunData, report: &ReplayReport) -> Result<(), Error> {
    let mut text = String::new();
    for u in &report.unexplained {
        text.push_str(&u.describe(&run.messages, &run.snapshots));
        text.push_str("\n\n");
    }
    for (i, d) in report
        .divergences
        .iter()
        .enumerate()
        .skip(report.unexplained.len())
    {
        text.push_str(&format!(
            "exchange {} ({} to node {}){}\n  recorded: {}\n  replayed: {}\n",
            d.exchange,
            d.path,
            d.node,
            if report.expected.contains(&i) {
                " [the node's bug explains it]"
            } else {
                ""
            },
            d.expected,
            d.got
        ));
    }
    let path = report.run_dir.join(DIVERGENCES_FILE);
    std::fs::write(&path, text).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
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

/// The replay's findings for people: a handful of lines, the first
/// divergence in at most ~10 of them; the rest is in [`DIVERGENCES_FILE`].
pub fn render_report(report: &ReplayReport, run: &RunData) -> Vec<String> {
    let mut out = Vec::new();
    let replayed = report.divergences.len() - report.unexplained.len();
    out.push(format!(
        "replayed {} exchanges of {} against fresh nodes; {} replies compared, {} differed{}",
        report.delivered,
        report.original.display(),
        report.compared,
        replayed,
        if report.expected.is_empty() {
            String::new()
        } else {
            format!(
                " ({} explained by the node's bug, {} unexplained)",
                report.expected.len(),
                replayed - report.expected.len()
            )
        }
    ));
    out.push(format!(
        "processing order: {} exchange(s) replayed out of delivered order (the node served \
         overlapping requests in another order), {} unreplied exchange(s) the node never processed",
        report.reordered, report.skipped
    ));
    match (report.unexplained.first(), report.divergences.first()) {
        (Some(u), _) => {
            let mut lines = u.brief(&run.messages, &run.snapshots, ALTERNATIVES_SHOWN);
            lines[0] = format!("first divergence: {}", lines[0]);
            out.extend(lines);
        }
        (None, Some(d)) => {
            out.push(format!(
                "first divergence: exchange {} ({} to node {})",
                d.exchange, d.path, d.node
            ));
            out.push(format!("  recorded: {}", clip(&d.expected.to_string())));
            out.push(format!("  replayed: {}", clip(&d.got.to_string())));
        }
        (None, None) => out.push("no divergence: every reply matched the recorded one".into()),
    }
    if report.unexplained.len() > 1 {
        out.push(format!(
            "{} (node, key) histories are explained by no processing order",
            report.unexplained.len()
        ));
    }
    if !report.divergences.is_empty() {
        out.push(format!(
            "every divergence: {}",
            report.run_dir.join(DIVERGENCES_FILE).display()
        ));
    }
    for note in &report.restored {
        out.push(format!("restart: {note}"));
    }
    out.push(format!("checker: {}", judge::summary(&report.results)));
    for (property, key, again) in report.reproduced() {
        let key = key.map(|k| format!(" (key {k:?})")).unwrap_or_default();
        out.push(format!(
            "original violation {property}{key}: {}",
            if again {
                "reproduced"
            } else {
                "NOT reproduced"
            }
        ));
    }
    out.push(format!("run folder: {}", report.run_dir.display()));
    out
}

/// A value cut to one readable line.
fn clip(text: &str) -> String {
    const MAX: usize = 300;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} characters)", &text[..end], text.chars().count())
}

/// Where two replays of one run got different replies: the first exchange
/// (schedule order) whose replayed status or body differs, if any.
pub fn first_difference(a: &[Exchange], b: &[Exchange]) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!("{} exchanges against {}", a.len(), b.len()));
    }
    a.iter().zip(b).find_map(|(x, y)| {
        (x.status != y.status || x.response != y.response).then(|| {
            format!(
                "exchange {} ({} to node {}): first replay {}, second replay {}",
                x.id,
                x.path,
                x.to,
                clip(&json!({"status": x.status, "response": x.response}).to_string()),
                clip(&json!({"status": y.status, "response": y.response}).to_string())
            )
        })
    })
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
    let run = load_run(&args.run)?;
    let report = replay_loaded(&run, &opts).await?;
    print_lines(&render_report(&report, &run));
    if !args.twice {
        return Ok(report.results.valid);
    }
    let second = replay_loaded(&run, &opts).await?;
    let replies = |dir: &Path| read_jsonl::<Exchange>(dir, MESSAGES_FILE);
    let difference = first_difference(&replies(&report.run_dir)?, &replies(&second.run_dir)?);
    let lines = match &difference {
        None => vec![format!(
            "second replay: the same {} replies ({})",
            second.compared,
            second.run_dir.display()
        )],
        Some(d) => vec![
            format!("second replay DIFFERS: {d}"),
            format!("run folder: {}", second.run_dir.display()),
        ],
    };
    print_lines(&lines);
    Ok(match difference {
        Some(_) => Validity::Invalid,
        None => report.results.valid,
    })
}

/// Prints lines to stdout; a closed pipe (`| head`) ends the output quietly.
fn print_lines(lines: &[String]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballot_core::records::Fate;

    fn ex(id: u64, status: Option<u16>, response: Value) -> Exchange {
        Exchange {
            id,
            from: 0,
            to: 1,
            process: Some(1),
            path: PREPARE_PATH.into(),
            request: json!({"key": "x"}),
            status,
            response: Some(response),
            sent: 0,
            delivered: Some(1),
            replied: Some(2),
            fate: Fate::Ok,
            duplicate_of: None,
        }
    }

    #[test]
    fn two_replays_differ_at_the_first_reply_that_is_not_the_same() {
        let a = vec![
            ex(1, Some(200), json!({"ok": true})),
            ex(2, Some(200), json!(1)),
        ];
        assert_eq!(first_difference(&a, &a), None);
        let mut b = a.clone();
        b[1].response = Some(json!(2));
        let d = first_difference(&a, &b).unwrap();
        assert!(
            d.starts_with("exchange 2 (/v1/prepare to node 1): first replay"),
            "{d}"
        );
        assert!(first_difference(&a, &a[..1])
            .unwrap()
            .contains("2 exchanges against 1"));
    }

    #[test]
    fn long_values_are_clipped_to_one_readable_line() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(400);
        let c = clip(&long);
        assert!(c.len() < 330 && c.ends_with("... (400 characters)"), "{c}");
    }
}
