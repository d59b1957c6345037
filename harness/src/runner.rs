//! One whole `ballot test` run, from start to verdict.
//!
//! A run goes through these phases, in order:
//!
//! 1. **Set up.** Create the run folder, write `test.json` (every parameter,
//!    the seed, the fault schedule and the rerun command), open the writers,
//!    start the nodes (waiting for health) and the proxy mesh.
//! 2. **Main phase.** Clients run workload ops while the nemesis follows its
//!    seeded schedule, until the time limit or the first Ctrl-C/SIGTERM.
//! 3. **Final phase, always** (also after an interrupt or an error in the
//!    main phase): stop the clients (their last ops finish), heal every link,
//!    resume paused and restart stopped nodes (waiting for health), read
//!    every key from every client host so the final state is in the history,
//!    take `final` snapshots, shut the cluster down and close every file.
//! 4. **Verdict.** Check the run folder, write `results.json` and the
//!    reports, and print the verdict, the first violation, the store folder
//!    and the command that reruns the test.
//!
//! A failure of the harness itself (a node that does not start, a port in
//! use, an I/O error) is never a verdict: it is [`Error`], exit code
//! 255. Nodes cannot outlive the harness: the [`Cluster`] kills and reaps
//! them on drop (also while unwinding from a panic), a second signal kills
//! them at once, and their parent-death signal covers the rest.
//!
//! With `--direct` (for benchmarking) the clients talk to the nodes
//! themselves: no proxy carries their requests, so no `messages.jsonl` is
//! written, the Paxos checks answer unknown with the reason
//! [`DIRECT_NO_LOG`], and link faults are refused (exit 254). The nemesis
//! still gets a [`Mesh`] (it heals links through one), but an idle one with
//! no links, whose log goes to `/dev/null`: nothing can pass through it.
//!
//! With `power-fail` in `--nemesis`, the node data dirs are lazyfs mounts
//! ([`DataDirs::LazyFs`]): the run first checks that this machine can
//! mount one (else a one-line error, exit 255, before any folder is made)
//! and detaches dead mounts a killed harness left in the store. The
//! cluster unmounts after its nodes stopped, on every path (shutdown, drop,
//! and the second signal, which detaches them before exiting).

mod args;
mod check;
mod interrupt;
mod output;
pub mod profile;
mod progress;
pub mod shard;
mod start;

pub use args::{default_test_args, parse_test_args, CheckArgs, TestArgs};
pub(crate) use args::{parse_positive_seconds, parse_rate};
pub use check::check_command;
pub use interrupt::Interrupt;
pub use output::print_bug_list;
pub use progress::{fault_at, Progress};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ballot_core::records::{
    Exchange, NemesisRecord, Snapshot, SnapshotReason, HISTORY_FILE, MESSAGES_FILE, NEMESIS_FILE,
    SNAPSHOTS_FILE,
};
use ballot_core::run_folder::TestParams;
use ballot_core::verdict::{Results, Validity};
use ballot_workloads::WorkloadSpec;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::clients::{self, ClientSettings, ClientStats, ClientsReport, FinalReads};
use crate::clock::Clock;
use crate::cluster::{self, Cluster, DataDirs};
use crate::nemesis::{
    FaultKind, Nemesis, NemesisConfig, NemesisError, Recorders, Schedule, Targets,
};
use crate::proxy::Mesh;
use crate::store::{HistoryWriter, JsonlWriter, RunDir, StoreError};
use crate::Error;
pub use check::DIRECT_NO_LOG;

/// Everything a run needs, resolved from the flags and the seed.
#[derive(Clone, Debug)]
pub struct TestPlan {
    /// The flags as given.
    pub args: TestArgs,
    /// This run's seed.
    pub seed: u64,
    /// The node command template, with the default resolved.
    pub node_cmd: String,
    /// Workload parameters.
    pub workload: WorkloadSpec,
    /// Nemesis parameters.
    pub nemesis: NemesisConfig,
    /// The fault schedule (a pure function of the seed and parameters).
    pub schedule: Schedule,
}

impl TestPlan {
    /// Resolves the flags for one run with `seed`.
    pub fn new(args: &TestArgs, seed: u64) -> Result<TestPlan, Error> {
        let nodes = args.nodes as usize;
        let node_cmd = match &args.node_cmd {
            Some(cmd) => cmd.clone(),
            None => cluster::default_node_cmd()?,
        };
        let workload = WorkloadSpec {
            kind: args.workload,
            seed,
            read_fraction: args.read_fraction,
            key: args.key.clone(),
            window: args.window,
            ops_per_key: args.ops_per_key,
            concurrency: args.concurrency,
        };
        workload.build()?;
        let parse = |e: NemesisError| Error::Input(e.to_string());
        let unknown = |e: ballot_core::fault::UnknownFault| Error::Input(e.to_string());
        let nemesis = NemesisConfig {
            faults: FaultKind::parse_list(&args.nemesis).map_err(unknown)?,
            interval: args.nemesis_interval(),
            targets: args.nemesis_targets.parse::<Targets>().map_err(parse)?,
            partitions: crate::partition::parse_shapes(&args.partition_shapes)
                .map_err(|e| Error::Input(e.to_string()))?,
        };
        if args.direct {
            let link: Vec<&str> = nemesis
                .faults
                .iter()
                .filter(|f| f.needs_proxy())
                .map(|f| f.name())
                .collect();
            if !link.is_empty() {
                return Err(Error::Input(format!(
                    "--direct bypasses the proxy, so it cannot inject link faults ({}); \
                     pass --nemesis with kill, pause, power-fail or none",
                    link.join(", ")
                )));
            }
        }
        if let Some(base) = args.base_port {
            if u32::from(base) + args.nodes as u32 > 65_536 {
                return Err(Error::Input(format!(
                    "--base-port {base} leaves no room for {nodes} nodes"
                )));
            }
        }
        let schedule = Schedule::generate(&nemesis, nodes, seed, args.time_limit());
        Ok(TestPlan {
            args: args.clone(),
            seed,
            node_cmd,
            workload,
            nemesis,
            schedule,
        })
    }

    /// The `ballot test` arguments that rerun this run.
    pub fn rerun_argv(&self) -> Vec<String> {
        ["ballot", "test"]
            .into_iter()
            .map(str::to_string)
            .chain(self.args.rerun_args(self.seed))
            .collect()
    }

    /// The contents of `test.json`: every parameter, the seed, the fault
    /// schedule and the command that reruns the run.
    pub fn test_params(&self) -> TestParams {
        let mut params = TestParams {
            seed: Some(self.seed),
            node_cmd: Some(self.node_cmd.clone()),
            command: self.rerun_argv(),
            ballot_version: Some(env!("CARGO_PKG_VERSION").to_string()),
            ..self.args.params()
        };
        params
            .extra
            .insert("client_hosts".into(), json!(self.args.nodes));
        params
            .extra
            .insert("schedule".into(), self.schedule.to_json());
        params
    }

    /// The shell command that reruns this run.
    pub fn rerun_command(&self) -> String {
        self.args.rerun_command(self.seed)
    }
}

/// What a finished run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run folder.
    pub dir: PathBuf,
    /// The verdict.
    pub results: Results,
    /// Whether the run was cut short by a signal.
    pub interrupted: bool,
    /// The main phase on the run's clock (nanoseconds since the test
    /// began): from just before the clients started to when their last op
    /// ended. Ops invoked in it are the workload's; the final reads come after.
    pub main_phase: (u64, u64),
}

/// What the cluster part of a run reports back.
struct Ran {
    interrupted: bool,
    main_phase: (u64, u64),
}

/// `ballot test`: runs `--test-count` tests (seeds seed, seed+1, ...), each
/// the phases of its profile ([`profile::resolve`]), and returns the
/// verdict of the last run. Stops at the first run that is not valid.
pub fn test_command(args: &TestArgs) -> Result<Validity, Error> {
    if args.list_bugs {
        print_bug_list();
        return Ok(Validity::Valid);
    }
    let runs = profile::resolve(args)?;
    crate::runtime::block_on(async {
        let interrupt = Interrupt::install().map_err(Error::Runtime)?;
        let first = args.seed.unwrap_or_else(random_seed);
        let began = std::time::Instant::now();
        // A shard runs its slice of the seeds, every one (a fan-out wants
        // each seed's verdict); without one, stop at the first failure.
        let seeds = args
            .shard
            .unwrap_or(shard::Shard { index: 1, of: 1 })
            .seeds(first, args.test_count);
        let mut verdict = Validity::Valid;
        let mut worst = Validity::Valid;
        'tests: for (i, &seed) in seeds.iter().enumerate() {
            if seeds.len() > 1 || args.shard.is_some() {
                let shard = args
                    .shard
                    .map(|s| format!(", shard {s}"))
                    .unwrap_or_default();
                crate::say!("== test {} of {} (seed {seed}{shard})", i + 1, seeds.len());
            }
            for run in &runs {
                let phase = run.phase.map(|(phase, index, of)| {
                    crate::say!(
                        "== phase {index} of {of}: {} ({}): {}",
                        phase.name,
                        run.profile,
                        phase.why
                    );
                    PhaseInfo {
                        profile: run.profile.name(),
                        name: phase.name,
                        index,
                        of,
                        started_after: began.elapsed().as_secs_f64(),
                    }
                });
                let outcome = run_test(&run.args, seed, &interrupt, phase.as_ref()).await?;
                verdict = outcome.results.valid;
                worst = worst.and(verdict);
                if let Some(file) = &args.summary_md {
                    append_summary(file, &outcome.dir);
                }
                if interrupt.requested() {
                    break 'tests;
                }
                if verdict != Validity::Valid {
                    if let Some(phase) = &phase {
                        output::print_profile_stop(phase, verdict, &args.rerun_command(seed));
                    }
                    if args.shard.is_some() {
                        continue 'tests; // the seed's later phases add nothing
                    }
                    break 'tests;
                }
            }
            if runs.len() > 1 {
                crate::say!(
                    "profile {}: every phase VALID (seed {seed})",
                    runs[0].profile
                );
            }
        }
        Ok(if args.shard.is_some() { worst } else { verdict })
    })
}

/// Where a run sits in its profile, recorded in `test.json` as `phase`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PhaseInfo {
    /// The profile's name.
    pub profile: &'static str,
    /// The phase's name.
    pub name: &'static str,
    /// Its position, from 1.
    pub index: usize,
    /// How many phases the profile has.
    pub of: usize,
    /// Seconds from the start of `ballot test` to the start of this phase
    /// (time to detection over the whole profile adds it).
    pub started_after: f64,
}

/// Appends the run's Markdown summary to `file` (a CI step summary); a
/// failure to write it is a warning, never a verdict.
fn append_summary(file: &Path, dir: &Path) {
    use std::io::Write;
    let written = ballot_report::summary_markdown(dir)
        .map_err(|e| e.to_string())
        .and_then(|text| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .and_then(|mut f| writeln!(f, "{text}"))
                .map_err(|e| e.to_string())
        });
    if let Err(e) = written {
        eprintln!(
            "warning: could not append the summary to {}: {e}",
            file.display()
        );
    }
}

/// A seed for a run without `--seed`: from the OS, below 2^53 so every JSON
/// reader (and a person) gets it exactly.
pub fn random_seed() -> u64 {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    let raw = match from_os {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            nanos ^ u64::from(std::process::id()).rotate_left(32)
        }
    };
    raw & ((1 << 53) - 1)
}

/// The files a run writes while it runs.
struct Writers {
    history: HistoryWriter,
    /// `None` with `--direct`: no proxy, no message log (not even an empty
    /// file, which would make the Paxos checks vacuously valid).
    messages: Option<JsonlWriter<Exchange>>,
    nemesis: JsonlWriter<NemesisRecord>,
    snapshots: JsonlWriter<Snapshot>,
}

impl Writers {
    fn create(dir: &RunDir, clock: Clock, direct: bool) -> Result<Writers, StoreError> {
        Ok(Writers {
            history: HistoryWriter::create(&dir.file(HISTORY_FILE), clock)?,
            messages: match direct {
                true => None,
                false => Some(JsonlWriter::create(&dir.file(MESSAGES_FILE))?),
            },
            nemesis: JsonlWriter::create(&dir.file(NEMESIS_FILE))?,
            snapshots: JsonlWriter::create(&dir.file(SNAPSHOTS_FILE))?,
        })
    }

    /// Closes every file; the first error wins.
    fn close(&self) -> Result<(), StoreError> {
        let results = [
            self.history.close().map(drop),
            self.messages
                .as_ref()
                .map_or(Ok(()), |m| m.close().map(drop).map_err(StoreError::from)),
            self.nemesis.close().map(drop).map_err(StoreError::from),
            self.snapshots.close().map(drop).map_err(StoreError::from),
        ];
        results.into_iter().collect()
    }
}

/// Runs one test with `seed` and prints its verdict.
pub async fn run_test(
    args: &TestArgs,
    seed: u64,
    interrupt: &Interrupt,
    phase: Option<&PhaseInfo>,
) -> Result<RunOutcome, Error> {
    let plan = TestPlan::new(args, seed)?;
    if plan.nemesis.needs_lazyfs() {
        ballot_lazyfs::available().map_err(Error::LazyFsUnavailable)?;
        sweep_dead_mounts(&args.store);
    }
    let dir = RunDir::create(&args.store, args.workload.name())?;
    let mut params = plan.test_params();
    if let Some(phase) = phase {
        params.extra.insert("phase".into(), json!(phase));
    }
    params.write(dir.path()).map_err(StoreError::from)?;
    output::print_start(&plan, dir.path());
    let clock = Clock::start();
    let writers = Writers::create(&dir, clock, args.direct)?;
    let ran = run_cluster(&plan, &dir, clock, &writers, interrupt).await;
    let closed = writers.close();
    let Ran {
        interrupted,
        main_phase,
    } = ran?;
    closed?;

    let results = check::check_run_dir(dir.path(), &args.model, args.check_timeout)?;
    check::write_results_and_reports(dir.path(), &results)?;
    output::print_verdict(&results, dir.path(), &plan.rerun_command(), interrupted);
    Ok(RunOutcome {
        dir: dir.path().to_path_buf(),
        results,
        interrupted,
        main_phase,
    })
}

/// Detaches lazyfs mounts a SIGKILLed harness left under the store (their
/// serving process is gone); a failure is only a warning.
fn sweep_dead_mounts(store: &Path) {
    if !store.exists() {
        return;
    }
    match ballot_lazyfs::detach_dead_under(store) {
        Ok(0) => {}
        Ok(n) => eprintln!(
            "ballot: detached {n} dead lazyfs mount(s) left in the store by an earlier run"
        ),
        Err(e) => eprintln!(
            "warning: could not look for dead lazyfs mounts under {}: {e}",
            store.display()
        ),
    }
}

/// Phases 1 to 3 with the cluster up: returns whether the run was
/// interrupted, and when its main phase ran. The cluster is shut down (and
/// the mesh stopped) on every path.
async fn run_cluster(
    plan: &TestPlan,
    dir: &RunDir,
    clock: Clock,
    writers: &Writers,
    interrupt: &Interrupt,
) -> Result<Ran, Error> {
    let args = &plan.args;
    let n = args.nodes as usize;
    // The mesh's hosts and log: every client host with the real message
    // log, or (direct) no link at all and a log nothing is ever written to.
    let (mesh_hosts, mesh_log) = match &writers.messages {
        Some(log) => (n, log.clone()),
        None => (0, JsonlWriter::create(Path::new("/dev/null"))?),
    };
    let (mut cluster, mesh, proposers) = start::start_nodes(
        plan,
        dir,
        clock,
        writers.snapshots.clone(),
        (mesh_hosts, mesh_log),
    )
    .await?;
    output::print_nodes(&cluster);
    let progress = Progress::new();
    let stats = Arc::new(ClientStats::default());
    let settings = ClientSettings {
        concurrency: args.concurrency,
        rate: args.rate,
        op_timeout: args.op_timeout(),
        seed: plan.seed,
        bugs: args.client_bugs.clone(),
        proposers,
    };
    let recorders = Recorders {
        history: &writers.history,
        log: &writers.nemesis,
    };
    let hosts = client_hosts(n, &cluster, &mesh, args.direct);
    let mut nemesis = Nemesis::new();
    let main_start = clock.now();
    let main = main_phase(
        plan,
        &mut cluster,
        &mesh,
        &hosts,
        &mut nemesis,
        recorders,
        &settings,
        &stats,
        &progress,
        interrupt,
    )
    .await;
    let main_phase = (main_start, clock.now());
    progress.phase("final phase: healing, reading every key, taking snapshots");
    let keys = match &main {
        Ok(report) => report.keys.clone(),
        Err(_) => Default::default(),
    };
    let next_process = main.as_ref().map_or(args.concurrency, |r| r.next_process);
    let fin = final_phase(
        plan,
        &mut cluster,
        &mesh,
        hosts,
        &mut nemesis,
        recorders,
        FinalInputs {
            keys,
            next_process,
            settings: &settings,
            stats: &stats,
        },
    )
    .await;
    // Close the mesh first: it waits until every in-flight exchange (late
    // learns included) is recorded, so messages.jsonl is complete before
    // the writers close; then stop the nodes.
    mesh.close().await;
    drop(mesh);
    let shut = cluster.shutdown().await;
    progress.finish();
    let report = main?;
    let reads = fin?;
    shut?;
    output::print_ops(&stats, &report, &reads);
    Ok(Ran {
        interrupted: interrupt.requested(),
        main_phase,
    })
}

/// The node addresses each client host uses, by node id: its proxy
/// endpoints, or with `direct` the nodes' own addresses (on every one of
/// the `n` hosts, so processes map to hosts as usual).
fn client_hosts(n: usize, cluster: &Cluster, mesh: &Mesh, direct: bool) -> Vec<Vec<SocketAddr>> {
    if direct {
        vec![cluster.addrs(); n]
    } else {
        (0..mesh.hosts()).map(|h| mesh.endpoints_for(h)).collect()
    }
}

/// Clients and nemesis together until the time limit, an interrupt, or an
/// error in either (which stops the other).
#[allow(clippy::too_many_arguments)]
async fn main_phase(
    plan: &TestPlan,
    cluster: &mut Cluster,
    mesh: &Mesh,
    hosts: &[Vec<SocketAddr>],
    nemesis: &mut Nemesis,
    recorders: Recorders<'_>,
    settings: &ClientSettings,
    stats: &Arc<ClientStats>,
    progress: &Progress,
    interrupt: &Interrupt,
) -> Result<ClientsReport, Error> {
    let generator: Arc<dyn ballot_workloads::Generator> = Arc::from(plan.workload.build()?);
    let hosts = hosts.to_vec();
    let limit = plan.args.time_limit();
    let began = Instant::now();
    let until = began + limit;
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop = || {
        let _ = stop_tx.send(true);
    };
    let clients_run = async {
        let r = clients::run_clients(
            settings,
            generator,
            hosts,
            recorders.history.clone(),
            stats.clone(),
            stop_rx.clone(),
            until,
        )
        .await;
        if r.is_err() {
            stop();
        }
        r
    };
    let nemesis_run = async {
        let r = nemesis
            .run(&plan.schedule, cluster, mesh, recorders, stop_rx.clone())
            .await;
        if r.is_err() {
            stop();
        }
        r
    };
    let timer = async {
        let mut stopped = stop_rx.clone();
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => break,
                _ = interrupt.wait() => break,
                _ = stopped.wait_for(|s| *s) => break,
                _ = tick.tick() => progress.update(began.elapsed(), limit, stats, &plan.schedule),
            }
        }
        stop();
    };
    let (clients_result, nemesis_result, ()) = tokio::join!(clients_run, nemesis_run, timer);
    let report = clients_result?;
    nemesis_result?;
    Ok(report)
}

/// What the final phase needs from the main phase.
struct FinalInputs<'a> {
    keys: std::collections::BTreeSet<String>,
    next_process: u64,
    settings: &'a ClientSettings,
    stats: &'a Arc<ClientStats>,
}

/// Heals everything, reads every key from every host, takes final snapshots.
async fn final_phase(
    plan: &TestPlan,
    cluster: &mut Cluster,
    mesh: &Mesh,
    hosts: Vec<Vec<SocketAddr>>,
    nemesis: &mut Nemesis,
    recorders: Recorders<'_>,
    inputs: FinalInputs<'_>,
) -> Result<FinalReads, Error> {
    nemesis.heal_everything(cluster, mesh, recorders).await?;
    let generator = plan.workload.build()?;
    let mut keys = inputs.keys;
    keys.extend(generator.initial_keys());
    let keys: Vec<String> = keys.into_iter().collect();
    let reads = clients::final_reads(
        &keys,
        hosts,
        inputs.next_process,
        plan.args.concurrency,
        inputs.settings,
        recorders.history,
        inputs.stats.clone(),
    )
    .await?;
    cluster.snapshot_all(SnapshotReason::Final).await?;
    Ok(reads)
}

#[cfg(test)]
mod tests;
