//! `ballot bench`: what the proxy mesh costs a whole test.
//!
//! It runs the `register` and `kv` workloads with `--nemesis none`, each
//! twice with the same seed (so the same op schedule): through the proxy,
//! then `--direct` (clients talk to the nodes themselves). Each run is an
//! ordinary `ballot test` run folder in the store. From the run folders it
//! prints two Markdown tables (also written to `--out FILE`).
//!
//! # The figures, and how each is measured
//!
//! Only ops *invoked in the main phase* count (the window
//! [`RunOutcome::main_phase`]); the final phase's reads of every key come
//! after it and are left out.
//!
//! - **ok ops/s**: ok ops / the main phase's length.
//! - **p50, p99**: nearest-rank percentiles of ok-op latency, completion
//!   time minus invoke time in `history.jsonl`.
//! - **rounds/op** (proxy runs): the round trips an ok op waited for, one
//!   after the other. A proposer sends a phase to every acceptor at once and
//!   moves on at a majority, so the exchanges of one phase overlap and the
//!   op waits for about one exchange per phase. A round is a distinct
//!   (path, ballot) among the op's `prepare` and `accept` exchanges in
//!   `messages.jsonl` (same client process, sent between the op's invoke
//!   and its completion). Learns go out in the background after the op
//!   returned, so they add no latency and are not counted.
//! - **added per exchange** = (p50 through the proxy - p50 direct) /
//!   mean rounds per ok op: the proxy's whole cost on an op's critical path
//!   (the extra hop, parsing, recording, its share of the CPU), spread over
//!   the exchanges the op waited for in sequence. Noise can make it negative.
//! - **proxy hold p50**: median of `delivered - sent` over the exchanges
//!   the proxy forwarded: how long a request sits in the proxy between being
//!   read in full and being forwarded (no link delay with `--nemesis none`).
//!   The other half of the proxy's own work, from `replied` until the
//!   client has the answer, is not in the log; "added per exchange" covers it.
//! - **node p50**: median of `replied - delivered`: the node's answer time
//!   as the proxy sees it (it includes the node's fsync).
//! - **throughput cost** = 1 - proxy ok ops/s / direct ok ops/s.
//! - **load**: the 1-minute load average when the run started; on a busy
//!   machine the figures mean less.
//!
//! Targets (GitHub issue 3): the proxy adds under [`TARGET_ADDED_NS`] per
//! exchange at p50 and costs under [`TARGET_THROUGHPUT_COST`] of throughput.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ballot_core::protocol::{ACCEPT_PATH, PREPARE_PATH};
use ballot_core::records::{Event, EventType, Exchange, Process, HISTORY_FILE, MESSAGES_FILE};
use ballot_core::run_folder::{read_records, RunFolderError};
use ballot_core::verdict::Validity;
use ballot_workloads::WorkloadKind;
use clap::Args;

use crate::runner::{self, Interrupt, RunOutcome};
use crate::runner::{parse_positive_seconds, parse_rate, parse_test_args, TestArgs};
use crate::Error;

/// Target: the proxy adds less than this per exchange at p50 (100 µs).
pub const TARGET_ADDED_NS: f64 = 100_000.0;
/// Target: the proxy costs less than this fraction of throughput.
pub const TARGET_THROUGHPUT_COST: f64 = 0.30;

/// Flags of `ballot bench`.
#[derive(Clone, Debug, PartialEq, Args)]
pub struct BenchArgs {
    /// How long each run's clients run ops, in seconds (4 runs in all).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0,
          value_parser = parse_positive_seconds)]
    pub seconds: f64,

    /// Number of concurrent client workers in each run.
    #[arg(long, value_name = "N", default_value_t = 6,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub concurrency: u64,

    /// Total operations per second over all clients; 0 means as fast as they can.
    #[arg(long, value_name = "HZ", default_value_t = 0.0, value_parser = parse_rate)]
    pub rate: f64,

    /// Number of acceptor nodes.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(1..=32))]
    pub nodes: u64,

    /// Seed of every run's op schedule (default: random, printed).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Folder that holds the run folders (as `ballot test --store`).
    #[arg(long, value_name = "DIR", default_value = "store")]
    pub store: PathBuf,

    /// Also write the tables as Markdown to FILE.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

impl BenchArgs {
    /// The `ballot bench` command that repeats this benchmark with `seed`.
    pub fn command(&self, seed: u64) -> String {
        let mut words = vec![
            "ballot bench".to_string(),
            format!("--seconds {}", self.seconds),
            format!("--concurrency {}", self.concurrency),
            format!("--rate {}", self.rate),
            format!("--nodes {}", self.nodes),
            format!("--seed {seed}"),
        ];
        if self.store != Path::new("store") {
            words.push(format!(
                "--store {}",
                ballot_core::shell::quote(&self.store.display().to_string())
            ));
        }
        words.join(" ")
    }

    /// The `ballot test` flags of one run.
    pub fn test_args(
        &self,
        workload: WorkloadKind,
        route: Route,
        seed: u64,
    ) -> Result<TestArgs, clap::Error> {
        let mut argv = vec![
            "ballot-test".to_string(),
            "--workload".to_string(),
            workload.name().to_string(),
            "--nemesis".to_string(),
            "none".to_string(),
            "--time-limit".to_string(),
            self.seconds.to_string(),
            "--concurrency".to_string(),
            self.concurrency.to_string(),
            "--rate".to_string(),
            self.rate.to_string(),
            "--nodes".to_string(),
            self.nodes.to_string(),
            "--seed".to_string(),
            seed.to_string(),
            "--store".to_string(),
            self.store.display().to_string(),
        ];
        if route == Route::Direct {
            argv.push("--direct".to_string());
        }
        parse_test_args(argv)
    }
}

/// How the clients reached the nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    /// Through the proxy mesh (a normal run).
    Proxy,
    /// Straight to the nodes (`--direct`).
    Direct,
}

impl Route {
    /// The name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Route::Proxy => "proxy",
            Route::Direct => "direct",
        }
    }
}

// ---- pure figures -----------------------------------------------------------

/// What one run measured (times in nanoseconds).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunFigures {
    /// Ok ops invoked in the main phase.
    pub ok_ops: u64,
    /// Length of the main phase in seconds.
    pub seconds: f64,
    /// Median latency of those ok ops.
    pub p50_ns: Option<u64>,
    /// 99th percentile latency of those ok ops.
    pub p99_ns: Option<u64>,
    /// Mean sequential round trips per ok op (needs the message log).
    pub rounds_per_op: Option<f64>,
    /// Median `delivered - sent` of forwarded exchanges (needs the message log).
    pub hold_p50_ns: Option<u64>,
    /// Median `replied - delivered` of answered exchanges (needs the message log).
    pub node_p50_ns: Option<u64>,
}

impl RunFigures {
    /// Ok ops per second of the main phase (0 for an empty phase).
    pub fn ops_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ok_ops as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// The nearest-rank percentile `p` (0-100) of sorted values, as the checker's stats compute it.
pub fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// One ok op: its process and its invoke and completion times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OkOp {
    process: u64,
    invoked: u64,
    done: u64,
}

/// The ok ops of client processes invoked in `window` (inclusive), in
/// completion order. An invoke is paired with the next completion of its
/// process.
fn ok_ops_in(history: &[Event], window: (u64, u64)) -> Vec<OkOp> {
    let mut open: BTreeMap<u64, u64> = BTreeMap::new();
    let mut ops = Vec::new();
    for e in history {
        let Process::Client(process) = e.process else {
            continue;
        };
        match e.kind {
            EventType::Invoke => {
                open.insert(process, e.time);
            }
            kind => {
                let Some(invoked) = open.remove(&process) else {
                    continue;
                };
                if kind == EventType::Ok && (window.0..=window.1).contains(&invoked) {
                    ops.push(OkOp {
                        process,
                        invoked,
                        done: e.time,
                    });
                }
            }
        }
    }
    ops
}

/// Mean number of distinct (path, ballot) prepare/accept rounds per ok op,
/// from the exchanges each op's process sent while the op ran.
fn rounds_per_op(ops: &[OkOp], messages: &[Exchange]) -> Option<f64> {
    if ops.is_empty() {
        return None;
    }
    // Per process: (sent, round) of its prepares and accepts, by time sent.
    let mut by_process: BTreeMap<u64, Vec<(u64, String)>> = BTreeMap::new();
    for m in messages {
        let Some(process) = m.process else { continue };
        if m.path != PREPARE_PATH && m.path != ACCEPT_PATH || m.duplicate_of.is_some() {
            continue;
        }
        let round = format!(
            "{} {}",
            m.path,
            m.request.get("ballot").unwrap_or(&m.request)
        );
        by_process.entry(process).or_default().push((m.sent, round));
    }
    for sent in by_process.values_mut() {
        sent.sort();
    }
    let mut rounds = 0usize;
    for op in ops {
        let Some(sent) = by_process.get(&op.process) else {
            continue;
        };
        let from = sent.partition_point(|(t, _)| *t < op.invoked);
        let to = sent.partition_point(|(t, _)| *t <= op.done);
        let mut distinct: Vec<&str> = sent[from..to].iter().map(|(_, r)| r.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        rounds += distinct.len();
    }
    Some(rounds as f64 / ops.len() as f64)
}

/// The figures of one run from its history, its message log (`None` for a
/// direct run) and its main-phase window.
pub fn run_figures(
    history: &[Event],
    messages: Option<&[Exchange]>,
    main_phase: (u64, u64),
) -> RunFigures {
    let ops = ok_ops_in(history, main_phase);
    let mut latencies: Vec<u64> = ops
        .iter()
        .map(|o| o.done.saturating_sub(o.invoked))
        .collect();
    latencies.sort_unstable();
    let mut figures = RunFigures {
        ok_ops: ops.len() as u64,
        seconds: main_phase.1.saturating_sub(main_phase.0) as f64 / 1e9,
        p50_ns: percentile(&latencies, 50),
        p99_ns: percentile(&latencies, 99),
        ..RunFigures::default()
    };
    if let Some(messages) = messages {
        let in_phase = |m: &&Exchange| (main_phase.0..=main_phase.1).contains(&m.sent);
        let mut hold: Vec<u64> = messages
            .iter()
            .filter(in_phase)
            .filter_map(|m| Some(m.delivered?.saturating_sub(m.sent)))
            .collect();
        hold.sort_unstable();
        let mut node: Vec<u64> = messages
            .iter()
            .filter(in_phase)
            .filter_map(|m| Some(m.replied?.saturating_sub(m.delivered?)))
            .collect();
        node.sort_unstable();
        figures.rounds_per_op = rounds_per_op(&ops, messages);
        figures.hold_p50_ns = percentile(&hold, 50);
        figures.node_p50_ns = percentile(&node, 50);
    }
    figures
}

/// What the proxy costs one workload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProxyCost {
    /// (p50 proxy - p50 direct) / rounds per op, in nanoseconds (may be negative).
    pub added_per_exchange_ns: Option<f64>,
    /// 1 - proxy ops/s / direct ops/s (negative if the proxy run was faster).
    pub throughput_cost: Option<f64>,
}

impl ProxyCost {
    /// Whether both targets are met; `None` if a figure is missing.
    pub fn meets_targets(&self) -> Option<bool> {
        Some(
            self.added_per_exchange_ns? < TARGET_ADDED_NS
                && self.throughput_cost? < TARGET_THROUGHPUT_COST,
        )
    }
}

/// The proxy's cost from a proxy run and a direct run of the same workload.
pub fn proxy_cost(proxy: &RunFigures, direct: &RunFigures) -> ProxyCost {
    let added = match (proxy.p50_ns, direct.p50_ns, proxy.rounds_per_op) {
        (Some(p), Some(d), Some(r)) if r > 0.0 => Some((p as f64 - d as f64) / r),
        _ => None,
    };
    let direct_rate = direct.ops_per_sec();
    let cost = (direct_rate > 0.0).then(|| 1.0 - proxy.ops_per_sec() / direct_rate);
    ProxyCost {
        added_per_exchange_ns: added,
        throughput_cost: cost,
    }
}

/// One measured run, as the table shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The workload.
    pub workload: WorkloadKind,
    /// Through the proxy or direct.
    pub route: Route,
    /// What it measured.
    pub figures: RunFigures,
    /// The run's verdict.
    pub verdict: Validity,
    /// 1-minute load average when the run started, if readable.
    pub load: Option<f64>,
    /// The run folder.
    pub dir: PathBuf,
}

/// A duration in nanoseconds for a person: µs below 10 ms, else ms.
pub fn format_ns(ns: f64) -> String {
    if ns.abs() < 10_000_000.0 {
        format!("{:.0} µs", ns / 1e3)
    } else {
        format!("{:.1} ms", ns / 1e6)
    }
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "-".to_string(), f)
}

fn verdict_name(v: Validity) -> &'static str {
    match v {
        Validity::Valid => "valid",
        Validity::Invalid => "INVALID",
        Validity::Unknown => "unknown",
    }
}

/// The benchmark's Markdown: a title with the command, the per-run table,
/// and the proxy-cost table (one row per workload that has both routes).
pub fn markdown(command: &str, measured: &[Measured]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## ballot bench\n\n`{command}` (`--nemesis none`)\n");
    out.push_str(
        "| workload | path | ok ops/s | p50 | p99 | rounds/op | proxy hold p50 | node p50 | verdict | load |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---|---:|\n",
    );
    for m in measured {
        let f = &m.figures;
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
            m.workload,
            m.route.name(),
            f.ops_per_sec(),
            opt(f.p50_ns, |v| format_ns(v as f64)),
            opt(f.p99_ns, |v| format_ns(v as f64)),
            opt(f.rounds_per_op, |v| format!("{v:.2}")),
            opt(f.hold_p50_ns, |v| format_ns(v as f64)),
            opt(f.node_p50_ns, |v| format_ns(v as f64)),
            verdict_name(m.verdict),
            opt(m.load, |v| format!("{v:.2}")),
        );
    }
    let _ = writeln!(
        out,
        "\n| workload | proxy added per exchange (Δp50 / rounds) | throughput cost | targets (< {}, < {:.0}%) |\n\
         |---|---:|---:|---|",
        format_ns(TARGET_ADDED_NS),
        TARGET_THROUGHPUT_COST * 100.0
    );
    for workload in WorkloadKind::ALL {
        let find = |route| {
            measured
                .iter()
                .find(|m| m.workload == workload && m.route == route)
        };
        let (Some(proxy), Some(direct)) = (find(Route::Proxy), find(Route::Direct)) else {
            continue;
        };
        let cost = proxy_cost(&proxy.figures, &direct.figures);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            workload,
            opt(cost.added_per_exchange_ns, format_ns),
            opt(cost.throughput_cost, |c| format!("{:.1}%", c * 100.0)),
            match cost.meets_targets() {
                Some(true) => "met",
                Some(false) => "missed",
                None => "-",
            }
        );
    }
    out
}

// ---- running it -------------------------------------------------------------

/// The 1-minute load average, from `/proc/loadavg`.
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The figures of a finished run, from its folder.
fn figures_of(outcome: &RunOutcome) -> Result<RunFigures, String> {
    let read = |e: RunFolderError| e.to_string();
    let history: Vec<Event> = read_records(&outcome.dir, HISTORY_FILE).map_err(read)?;
    let messages: Option<Vec<Exchange>> = match outcome.dir.join(MESSAGES_FILE).exists() {
        true => Some(read_records(&outcome.dir, MESSAGES_FILE).map_err(read)?),
        false => None,
    };
    Ok(run_figures(
        &history,
        messages.as_deref(),
        outcome.main_phase,
    ))
}

/// `ballot bench`: runs the four runs and prints the tables; valid, or
/// unknown if interrupted before the end.
pub fn bench_main(args: &BenchArgs) -> Result<Validity, Error> {
    crate::runtime::block_on(bench(args))
}

async fn bench(args: &BenchArgs) -> Result<Validity, Error> {
    let interrupt = Interrupt::install().map_err(Error::Runtime)?;
    let seed = args.seed.unwrap_or_else(runner::random_seed);
    let command = args.command(seed);
    crate::say!("{command}");
    let mut measured = Vec::new();
    for workload in WorkloadKind::ALL {
        for route in [Route::Proxy, Route::Direct] {
            let test = args
                .test_args(workload, route, seed)
                .map_err(|e| Error::Input(e.to_string()))?;
            let load = load_average();
            crate::say!(
                "\n== {workload} via {} (load {})",
                route.name(),
                opt(load, |l| format!("{l:.2}"))
            );
            let outcome = runner::run_test(&test, seed, &interrupt, None).await?;
            let figures = figures_of(&outcome)
                .map_err(|e| Error::Check(format!("cannot read the run: {e}")))?;
            warn_on_verdict(route, &outcome);
            measured.push(Measured {
                workload,
                route,
                figures,
                verdict: outcome.results.valid,
                load,
                dir: outcome.dir.clone(),
            });
            if outcome.interrupted {
                crate::say!("\n{}", markdown(&command, &measured));
                eprintln!("ballot bench: interrupted; the figures above are incomplete");
                return Ok(Validity::Unknown);
            }
        }
    }
    let text = markdown(&command, &measured);
    crate::say!("\n{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, &text).map_err(|source| Error::Io {
            what: format!("cannot write {}", out.display()),
            source,
        })?;
        crate::say!("written to {}", out.display());
    }
    Ok(Validity::Valid)
}

/// A bench run on the correct node should be valid (unknown when direct:
/// no message log); anything else is worth a loud line, not a silent figure.
fn warn_on_verdict(route: Route, outcome: &RunOutcome) {
    let expected = match route {
        Route::Proxy => Validity::Valid,
        Route::Direct => Validity::Unknown,
    };
    if outcome.results.valid != expected {
        eprintln!(
            "warning: the {} run {} is {}, not {} as a run of the correct node should be",
            route.name(),
            outcome.dir.display(),
            verdict_name(outcome.results.valid),
            verdict_name(expected)
        );
    }
}

#[cfg(test)]
mod tests;
