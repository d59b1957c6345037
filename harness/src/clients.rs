//! Client processes: workers that run workload ops as Paxos proposers and
//! record every op in the history.
//!
//! There are `--concurrency` workers. Worker `w` starts as client process
//! `w`; process `p` runs on client host `p % hosts`, so it talks to the
//! proxy endpoints of that host (one per node), and uses `p` as its proposer
//! id, which makes every ballot in the run unique.
//!
//! Each op is recorded Jepsen's way: `invoke` before the first request is
//! sent, then `ok`, `fail` or `info` when the proposer returns. After an
//! `info` the process is *retired* (its op may still take effect at any
//! later time, so the process can never be known to be idle again) and the
//! worker continues as a fresh process `p + concurrency`.
//!
//! Ops are paced per worker: with a total `--rate` of `r` ops/s over `c`
//! workers, a worker's step `i` is due at `i * c / r` seconds after its
//! first start (the workers' first starts are staggered over one period).
//! A worker that fell behind (a slow op, a partition) starts its next op at
//! once, as the step of the slot it is in: it skips the steps it missed
//! and never bursts to catch up. So every worker stays on the same step
//! grid and, with the kv workload, on the same hot keys as the others,
//! however long it was stalled.
//!
//! Workers stop starting ops at the time limit or when asked to stop; an
//! op already running finishes (bounded by the op timeout), so the history
//! has no dangling invocations.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ballot_core::proposer::ClientBug;
use ballot_core::records::EventType;
use ballot_node::client::{http_client, ClientConfig, ClientError, ProposerClient};
use ballot_workloads::{Generator, Op, Outcome, F};
use rand::rngs::ChaCha8Rng;
use rand::SeedableRng;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::node_proposer::NodeProposer;
use crate::store::{HistoryWriter, StoreError};

/// Extra time past the op timeout before the harness stops waiting for a
/// proposer that has not returned (it always should; this is a backstop).
const OP_GRACE: Duration = Duration::from_secs(2);

/// How the clients run.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    /// Number of workers.
    pub concurrency: u64,
    /// Total ops/s over all workers; 0 = unlimited.
    pub rate: f64,
    /// Deadline of one op; past it the op is indeterminate.
    pub op_timeout: Duration,
    /// Seed of the proposers' backoff jitter.
    pub seed: u64,
    /// Deliberate proposer bugs (clients mode; in nodes mode the nodes carry them).
    pub bugs: Vec<ClientBug>,
    /// Who proposes: the clients themselves, or the nodes they ask (v1.1).
    pub proposers: ProposerMode,
}

/// Who runs Basic Paxos in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProposerMode {
    /// ballot's clients are the proposers; the nodes are acceptors (protocol v1).
    #[default]
    Clients,
    /// The nodes propose (protocol v1.1); clients send `/v1/propose` and `/v1/read`.
    Nodes,
}

impl ProposerMode {
    /// The flag's word.
    pub fn name(self) -> &'static str {
        match self {
            ProposerMode::Clients => "clients",
            ProposerMode::Nodes => "nodes",
        }
    }
}

/// What a client process runs its ops with.
#[derive(Debug)]
pub enum Driver {
    /// ballot's own proposer against the acceptors (boxed: it is large).
    Proposer(Box<ProposerClient>),
    /// A node's proposer role.
    Node(NodeProposer),
}

impl Driver {
    async fn propose(&mut self, key: &str, value: &str) -> Outcome {
        match self {
            Driver::Proposer(c) => c.propose(key, value).await,
            Driver::Node(n) => n.propose(key, value).await,
        }
    }

    async fn read(&mut self, key: &str) -> Outcome {
        match self {
            Driver::Proposer(c) => c.read(key).await,
            Driver::Node(n) => n.read(key).await,
        }
    }

    /// The highest round used or seen (0 for a node, which keeps its own).
    fn last_round(&self) -> u64 {
        match self {
            Driver::Proposer(c) => c.last_round(),
            Driver::Node(_) => 0,
        }
    }

    fn set_last_round(&mut self, round: u64) {
        if let Driver::Proposer(c) = self {
            c.set_last_round(round);
        }
    }
}

/// Live op counters, read by the progress line.
#[derive(Debug, Default)]
pub struct ClientStats {
    /// Ops completed `ok`.
    pub ok: AtomicU64,
    /// Ops completed `fail`.
    pub fail: AtomicU64,
    /// Ops completed `info`.
    pub info: AtomicU64,
}

impl ClientStats {
    /// `(ok, fail, info)` so far.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.fail.load(Ordering::Relaxed),
            self.info.load(Ordering::Relaxed),
        )
    }

    fn count(&self, outcome: &Outcome) {
        let counter = match outcome {
            Outcome::Ok(_) => &self.ok,
            Outcome::Fail(_) => &self.fail,
            Outcome::Info(_) => &self.info,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the workers did, for the final phase.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientsReport {
    /// Every key some op was invoked on.
    pub keys: BTreeSet<String>,
    /// The lowest process id no worker used; final-phase readers start there.
    pub next_process: u64,
    /// Ops invoked.
    pub ops: u64,
}

/// Why the clients could not run.
#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    /// A proposer client could not be built.
    #[error("cannot build a client: {0}")]
    Client(#[from] ClientError),
    /// The history could not be written.
    #[error("cannot write the history: {0}")]
    Store(#[from] StoreError),
    /// A worker task panicked (a harness bug).
    #[error("a client worker failed: {0}")]
    Worker(String),
}

/// The host client process `process` runs on.
pub fn host_of(process: u64, hosts: usize) -> usize {
    (process % hosts as u64) as usize
}

/// Time between two op starts of one worker, or `None` for no pacing.
pub fn pacing_period(rate: f64, concurrency: u64) -> Option<Duration> {
    (rate > 0.0 && rate.is_finite())
        .then(|| Duration::from_secs_f64((concurrency as f64 / rate).min(1e6)))
}

/// The next step to run and when to start it, after step `step` of a
/// worker whose step 0 was due at `first`. Paced (`period`), step `i` is
/// due at `first + i * period`; a worker past its next step's slot starts
/// at once with the step of the slot it is in (the missed ones are
/// skipped). Unpaced, the next step starts at once.
pub fn next_step(
    first: Instant,
    step: u64,
    now: Instant,
    period: Option<Duration>,
) -> (u64, Instant) {
    let Some(p) = period.filter(|p| !p.is_zero()) else {
        return (step + 1, now);
    };
    let due = |i: u64| first + p.mul_f64(i as f64);
    let next = step + 1;
    if now <= due(next) {
        return (next, due(next));
    }
    let elapsed = now.saturating_duration_since(first).as_secs_f64();
    let slot = (elapsed / p.as_secs_f64()).floor() as u64;
    (slot.max(next), now)
}

/// The proposer's random stream (backoff jitter) for `process`.
fn proposer_rng(seed: u64, process: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.rotate_left(29) ^ process.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The driver of `process` on its host's endpoints: a proposer over every
/// acceptor, or (nodes mode) the client of the node on its host.
fn proposer_for(
    http: &reqwest::Client,
    hosts: &[Vec<SocketAddr>],
    process: u64,
    host: usize,
    settings: &ClientSettings,
) -> Result<Driver, ClientError> {
    let endpoints = &hosts[host];
    if settings.proposers == ProposerMode::Nodes {
        let Some(&node) = endpoints.get(host % endpoints.len().max(1)) else {
            return Err(ClientError::NoAcceptors);
        };
        return Ok(Driver::Node(NodeProposer::new(
            http.clone(),
            node,
            process,
            settings.op_timeout,
        )));
    }
    let mut config = ClientConfig::new(endpoints.clone(), process, process);
    config.deadline = settings.op_timeout;
    config.bugs = settings.bugs.clone();
    ProposerClient::with_http(http.clone(), config, proposer_rng(settings.seed, process))
        .map(|c| Driver::Proposer(Box::new(c)))
}

/// Runs one op on `client` as `process` and records it: invoke, then the
/// completion. Returns the outcome.
pub async fn run_op(
    client: &mut Driver,
    op: &Op,
    process: u64,
    history: &HistoryWriter,
    op_timeout: Duration,
) -> Result<Outcome, StoreError> {
    let invoked_value = op.value.clone().map_or(Value::Null, Value::String);
    history.invoke(process, op.f.as_str(), &op.key, invoked_value.clone())?;
    let running = async {
        match op.f {
            F::Propose => {
                client
                    .propose(&op.key, op.value.as_deref().unwrap_or(""))
                    .await
            }
            F::Read => client.read(&op.key).await,
        }
    };
    let outcome = match tokio::time::timeout(op_timeout + OP_GRACE, running).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Info(format!(
            "harness: the proposer did not return within {:?}",
            op_timeout + OP_GRACE
        )),
    };
    let (kind, value, error) = match &outcome {
        Outcome::Ok(v) => (
            EventType::Ok,
            v.clone().map_or(Value::Null, Value::String),
            None,
        ),
        Outcome::Fail(why) => (EventType::Fail, invoked_value, Some(why.clone())),
        Outcome::Info(why) => (EventType::Info, invoked_value, Some(why.clone())),
    };
    history.complete(process, kind, op.f.as_str(), &op.key, value, error)?;
    Ok(outcome)
}

/// Runs the workers until `until` or until `stop` turns true, and waits for
/// their last ops to finish. `hosts[h]` lists node endpoints (by node id) as
/// seen from client host `h`.
pub async fn run_clients(
    settings: &ClientSettings,
    generator: Arc<dyn Generator>,
    hosts: Vec<Vec<SocketAddr>>,
    history: HistoryWriter,
    stats: Arc<ClientStats>,
    stop: watch::Receiver<bool>,
    until: Instant,
) -> Result<ClientsReport, ClientsError> {
    let http = http_client()?;
    let hosts = Arc::new(hosts);
    let mut workers = JoinSet::new();
    for worker in 0..settings.concurrency {
        let job = Worker {
            worker,
            settings: settings.clone(),
            generator: generator.clone(),
            hosts: hosts.clone(),
            http: http.clone(),
            history: history.clone(),
            stats: stats.clone(),
            stop: stop.clone(),
            until,
        };
        workers.spawn(job.run());
    }
    let mut report = ClientsReport {
        next_process: settings.concurrency,
        ..ClientsReport::default()
    };
    join_all(workers, |done| {
        report.keys.extend(done.keys);
        report.next_process = report.next_process.max(done.next_process);
        report.ops += done.ops;
    })
    .await?;
    Ok(report)
}

/// Awaits every task in `tasks`, handing each one's result to `fold`; then
/// returns the first error any task returned (or a task's panic), if any.
/// Every task is awaited even after an error, so none outlives the call.
async fn join_all<T: 'static>(
    mut tasks: JoinSet<Result<T, ClientsError>>,
    mut fold: impl FnMut(T),
) -> Result<(), ClientsError> {
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(done)) => fold(done),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(ClientsError::Worker(e.to_string()));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// One worker's loop state.
struct Worker {
    worker: u64,
    settings: ClientSettings,
    generator: Arc<dyn Generator>,
    hosts: Arc<Vec<Vec<SocketAddr>>>,
    http: reqwest::Client,
    history: HistoryWriter,
    stats: Arc<ClientStats>,
    stop: watch::Receiver<bool>,
    until: Instant,
}

impl Worker {
    async fn run(mut self) -> Result<ClientsReport, ClientsError> {
        let concurrency = self.settings.concurrency;
        let period = pacing_period(self.settings.rate, concurrency);
        let mut process = self.worker;
        let mut retirements = 0;
        let mut client = proposer_for(
            &self.http,
            &self.hosts,
            process,
            host_of(process, self.hosts.len()),
            &self.settings,
        )?;
        let mut keys = BTreeSet::new();
        // Stagger the first ops so the workers do not start in lockstep.
        let first = Instant::now()
            + period.map_or(Duration::ZERO, |p| {
                p.mul_f64(self.worker as f64 / concurrency as f64)
            });
        let mut start = first;
        let mut step = 0;
        let mut ops = 0;
        loop {
            if !self.wait_until(start).await {
                break;
            }
            let op = self.generator.op(self.worker, step, process);
            keys.insert(op.key.clone());
            let outcome = run_op(
                &mut client,
                &op,
                process,
                &self.history,
                self.settings.op_timeout,
            )
            .await?;
            self.stats.count(&outcome);
            ops += 1;
            if outcome.retires_process() {
                retirements += 1;
                process = ballot_workloads::op::process_for(self.worker, concurrency, retirements);
                let floor = client.last_round();
                client = proposer_for(
                    &self.http,
                    &self.hosts,
                    process,
                    host_of(process, self.hosts.len()),
                    &self.settings,
                )?;
                client.set_last_round(floor);
            }
            (step, start) = next_step(first, step, Instant::now(), period);
        }
        Ok(ClientsReport {
            keys,
            next_process: process + concurrency,
            ops,
        })
    }

    /// Sleeps until `at`; false when the worker must stop instead (asked
    /// to, or `at` is past the time limit).
    async fn wait_until(&mut self, at: Instant) -> bool {
        if *self.stop.borrow() || at >= self.until {
            return false;
        }
        let stopped = tokio::select! {
            _ = tokio::time::sleep_until(at) => false,
            _ = self.stop.wait_for(|stop| *stop) => true,
        };
        !stopped && !*self.stop.borrow()
    }
}

/// What the final reads saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinalReads {
    /// Reads that completed `ok`.
    pub ok: u64,
    /// Reads that ended `fail` or `info`.
    pub not_ok: u64,
}

/// The final phase's reads: every key, from every host, recorded in the
/// history as normal ops. Keys are spread over `tasks` parallel readers;
/// one reader reads a key from host 0, then 1, ... in turn, so reads of one
/// key never contend with each other. Reader `t` acts as process
/// `first_process + t`, retired to `+ tasks` after an `info`.
pub async fn final_reads(
    keys: &[String],
    hosts: Vec<Vec<SocketAddr>>,
    first_process: u64,
    tasks: u64,
    settings: &ClientSettings,
    history: &HistoryWriter,
    stats: Arc<ClientStats>,
) -> Result<FinalReads, ClientsError> {
    let http = http_client()?;
    let tasks = tasks.clamp(1, keys.len().max(1) as u64);
    let hosts = Arc::new(hosts);
    let mut readers = JoinSet::new();
    for t in 0..tasks {
        let mine: Vec<String> = keys
            .iter()
            .skip(t as usize)
            .step_by(tasks as usize)
            .cloned()
            .collect();
        let (http, hosts, history, stats, settings) = (
            http.clone(),
            hosts.clone(),
            history.clone(),
            stats.clone(),
            settings.clone(),
        );
        readers.spawn(async move {
            let mut seen = FinalReads::default();
            let mut process = first_process + t;
            for key in &mine {
                for host in 0..hosts.len() {
                    let mut client = proposer_for(&http, &hosts, process, host, &settings)?;
                    let outcome = run_op(
                        &mut client,
                        &Op::read(key.clone()),
                        process,
                        &history,
                        settings.op_timeout,
                    )
                    .await?;
                    stats.count(&outcome);
                    match outcome {
                        Outcome::Ok(_) => seen.ok += 1,
                        Outcome::Fail(_) => seen.not_ok += 1,
                        Outcome::Info(_) => {
                            seen.not_ok += 1;
                            process += tasks;
                        }
                    }
                }
            }
            Ok::<_, ClientsError>(seen)
        });
    }
    let mut total = FinalReads::default();
    join_all(readers, |seen| {
        total.ok += seen.ok;
        total.not_ok += seen.not_ok;
    })
    .await?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_map_to_hosts_round_robin() {
        // Table: (process, hosts) -> host.
        for (p, n, h) in [
            (0, 3, 0),
            (1, 3, 1),
            (2, 3, 2),
            (3, 3, 0),
            (8, 3, 2),
            (5, 1, 0),
        ] {
            assert_eq!(host_of(p, n), h, "process {p} of {n}");
        }
    }

    #[test]
    fn pacing_spreads_the_total_rate_over_workers() {
        assert_eq!(pacing_period(0.0, 6), None);
        assert_eq!(pacing_period(100.0, 6), Some(Duration::from_millis(60)));
        assert_eq!(pacing_period(2.0, 1), Some(Duration::from_millis(500)));
        assert_eq!(pacing_period(f64::INFINITY, 1), None);
    }

    #[test]
    fn a_late_worker_skips_the_steps_it_missed_but_never_bursts() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let p = Some(ms(100));
        // On time: the next step is due one period after the previous one's
        // slot, however long the op took.
        assert_eq!(next_step(t0, 0, t0 + ms(30), p), (1, t0 + ms(100)));
        assert_eq!(next_step(t0, 4, t0 + ms(430), p), (5, t0 + ms(500)));
        // Exactly at the slot: still on time.
        assert_eq!(next_step(t0, 0, t0 + ms(100), p), (1, t0 + ms(100)));
        // Late (a slow op): now, as the step of the slot it is in.
        let late = t0 + ms(450);
        assert_eq!(next_step(t0, 0, late, p), (4, late));
        // Then back on the grid: the following step at its own slot.
        assert_eq!(next_step(t0, 4, late, p), (5, t0 + ms(500)));
        // Never a step twice, even just past the next slot.
        assert_eq!(next_step(t0, 1, t0 + ms(201), p), (2, t0 + ms(201)));
        // Unpaced: the next step at once.
        assert_eq!(next_step(t0, 7, late, None), (8, late));
        assert_eq!(next_step(t0, 7, late, Some(Duration::ZERO)), (8, late));
    }

    #[test]
    fn proposer_streams_differ_per_process() {
        use rand::RngExt;
        let draw = |seed, p| proposer_rng(seed, p).random_range(0..u64::MAX);
        assert_eq!(draw(1, 2), draw(1, 2));
        assert_ne!(draw(1, 2), draw(1, 3));
        assert_ne!(draw(1, 2), draw(2, 2));
    }
}
