//! Group commit at work: requests/s, latency and fsyncs per request of one
//! real `ballot-node` while concurrent clients send prepares.
//!
//! Run with `cargo bench -p ballot-node --bench group_commit` (release
//! profile; `-- --seconds S` changes the time per level, default 3).
//!
//! For each client count (1, 8, 32) it starts a fresh node on a fresh temp
//! data dir. Each client sends prepares on keys of its own, one request at
//! a time, so every request makes the node write and fsync one promise
//! before it answers. After S seconds the node gets SIGTERM and logs its
//! totals (`log totals records=R fsyncs=F`), which give fsyncs per request.
//! With one client every request waits for its own fsync (about one fsync
//! per request). With more, the requests that arrive while an fsync runs
//! are written together and share the next one, so fsyncs per request fall
//! and requests/s rise.
//!
//! Every client loop is bounded by time and by a request cap; all traffic
//! stays on 127.0.0.1; the node is killed and reaped on drop (also on panic).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use ballot_core::protocol::{Ballot, PrepareReply, PrepareRequest, PREPARE_PATH};
use ballot_node::client::http_client;

const NODE: &str = env!("CARGO_BIN_EXE_ballot-node");
/// Client counts measured, one fresh node each.
const LEVELS: [u64; 3] = [1, 8, 32];
/// Most requests one client sends in one level (a bound on the loop).
const CAP_PER_CLIENT: u64 = 1_000_000;
/// How long the node may take to start or to stop.
const PROCESS_DEADLINE: Duration = Duration::from_secs(10);

/// A running node; killed and reaped on drop.
struct NodeProcess {
    child: Child,
    addr: SocketAddr,
    /// Collects every stderr line until the node exits.
    stderr: Option<JoinHandle<Vec<String>>>,
}

/// The node's totals from its shutdown log line.
#[derive(Debug, Default)]
struct Totals {
    records: u64,
    fsyncs: u64,
    compactions: u64,
}

impl NodeProcess {
    /// Starts a node on a free port with `data_dir` and waits until it listens.
    fn start(data_dir: &Path) -> anyhow::Result<NodeProcess> {
        let mut child = Command::new(NODE)
            .args(["--id", "0", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {NODE}"))?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let (addr_tx, addr_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = addr_tx.send(addr.trim().to_string());
                }
                lines.push(line);
            }
            lines
        });
        let mut node = NodeProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr: Some(reader),
        };
        let addr = addr_rx.recv_timeout(PROCESS_DEADLINE).map_err(|_| {
            anyhow!("the node did not say `listening on` within {PROCESS_DEADLINE:?}")
        })?;
        node.addr = addr
            .parse()
            .with_context(|| format!("bad address {addr:?}"))?;
        Ok(node)
    }

    /// SIGTERM, wait for a clean exit, and read the totals it logged.
    fn stop(mut self) -> anyhow::Result<Totals> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        let deadline = Instant::now() + PROCESS_DEADLINE;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                bail!("the node did not stop within {PROCESS_DEADLINE:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let lines = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        if !status.success() {
            bail!("the node exited with {status}:\n{}", lines.join("\n"));
        }
        let line = lines
            .iter()
            .find(|l| l.contains("log totals"))
            .ok_or_else(|| anyhow!("no `log totals` line in:\n{}", lines.join("\n")))?;
        parse_totals(line).ok_or_else(|| anyhow!("cannot read the totals in {line:?}"))
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads `records=R fsyncs=F compactions=C` from the node's totals line.
fn parse_totals(line: &str) -> Option<Totals> {
    let field = |name: &str| -> Option<u64> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))?
            .parse()
            .ok()
    };
    Some(Totals {
        records: field("records")?,
        fsyncs: field("fsyncs")?,
        compactions: field("compactions").unwrap_or(0),
    })
}

/// One client: prepares on its own keys, one at a time, until `deadline`.
async fn client(
    http: reqwest::Client,
    url: String,
    id: u64,
    deadline: Instant,
) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::new();
    for i in 0..CAP_PER_CLIENT {
        if Instant::now() >= deadline {
            break;
        }
        let body = PrepareRequest {
            key: format!("c{id}-{i}"),
            ballot: Ballot::new(1, id + 1),
        };
        let started = Instant::now();
        let response = http.post(&url).json(&body).send().await?;
        let status = response.status();
        let reply: PrepareReply = response.json().await?;
        latencies.push(started.elapsed());
        if !status.is_success() || !reply.ok {
            bail!("prepare {} was not granted: {status} {reply:?}", body.key);
        }
    }
    Ok(latencies)
}

/// What one level measured.
struct Level {
    clients: u64,
    requests: u64,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    totals: Totals,
}

/// Nearest-rank percentile of sorted latencies.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

async fn level(clients: u64, seconds: f64) -> anyhow::Result<Level> {
    let dir = tempfile::tempdir()?;
    let node = NodeProcess::start(dir.path())?;
    let url = format!("http://{}{PREPARE_PATH}", node.addr);
    let http = http_client()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|id| tokio::spawn(client(http.clone(), url.clone(), id, deadline)))
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    drop(http);
    let totals = node.stop()?;
    latencies.sort_unstable();
    Ok(Level {
        clients,
        requests: latencies.len() as u64,
        elapsed,
        p50: percentile(&latencies, 50),
        p99: percentile(&latencies, 99),
        totals,
    })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn seconds_arg() -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 600.0)
        .unwrap_or(3.0)
}

fn main() -> anyhow::Result<()> {
    let seconds = seconds_arg();
    let runtime = tokio::runtime::Runtime::new()?;
    println!("group commit: one ballot-node, prepares on distinct keys, {seconds} s per level");
    println!(
        "| clients | requests | requests/s | p50 | p99 | records | fsyncs | fsyncs/request | records/fsync | load |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for clients in LEVELS {
        let load = load_average();
        let l = runtime.block_on(level(clients, seconds))?;
        let t = &l.totals;
        if t.records < l.requests {
            bail!(
                "the node logged {} records for {} granted prepares",
                t.records,
                l.requests
            );
        }
        println!(
            "| {} | {} | {:.0} | {:.0} µs | {:.0} µs | {} | {} | {:.3} | {:.1} | {load} |{}",
            l.clients,
            l.requests,
            l.requests as f64 / l.elapsed.as_secs_f64(),
            l.p50.as_secs_f64() * 1e6,
            l.p99.as_secs_f64() * 1e6,
            t.records,
            t.fsyncs,
            t.fsyncs as f64 / l.requests.max(1) as f64,
            t.records as f64 / t.fsyncs.max(1) as f64,
            if t.compactions > 0 {
                format!(" ({} compactions)", t.compactions)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}
