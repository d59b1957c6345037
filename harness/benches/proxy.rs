//! What the proxy mesh costs: latency and throughput of requests sent to 3
//! real `ballot-node` processes directly, and through the mesh.
//!
//! Run with `cargo bench -p ballot --bench proxy` (release build; it builds
//! `ballot-node` in release first). For each request kind (`prepare`, which
//! makes the node write and fsync, and `health`, which touches no disk and so
//! shows the proxy's own cost) and each concurrency (1 and 16 clients), it
//! prints p50/p99 latency and ops/s, direct vs mesh, and the difference.
//! Targets: under 100 µs added at p50, under 30% throughput cost.
//!
//! Every loop is bounded by a request count; all traffic stays on 127.0.0.1.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballot::clock::Clock;
use ballot::cluster::{Cluster, ClusterSpec};
use ballot::proxy::Mesh;
use ballot::store::JsonlWriter;
use ballot_core::protocol::PROCESS_HEADER;
use ballot_core::records::Exchange;

const NODES: usize = 3;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Prepare,
    Health,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Prepare => "prepare",
            Kind::Health => "health",
        }
    }
}

struct Stats {
    p50: Duration,
    p99: Duration,
    ops_per_sec: f64,
}

/// Latencies and wall time of one or more blocks of requests.
#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Samples {
    fn add(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.elapsed += other.elapsed;
    }

    fn stats(mut self) -> Stats {
        self.latencies.sort();
        let all = &self.latencies;
        let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
        Stats {
            p50: at(0.50),
            p99: at(0.99),
            ops_per_sec: all.len() as f64 / self.elapsed.as_secs_f64(),
        }
    }
}

/// CPU time (user + system) the proxy thread has used so far, from /proc.
fn proxy_cpu() -> Duration {
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    for entry in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim() != "ballot-proxy" {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = fields
            .get(11..13)
            .map(|f| f.iter().filter_map(|x| x.parse::<f64>().ok()).sum())
            .unwrap_or(0.0);
        return Duration::from_secs_f64(ticks / ticks_per_sec);
    }
    Duration::ZERO
}

/// Sends `total` requests from `concurrency` tasks; request `i` goes to `targets[i % n]`.
async fn measure(
    client: &reqwest::Client,
    targets: &[SocketAddr],
    kind: Kind,
    concurrency: usize,
    total: u64,
    label: &str,
) -> Samples {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, targets, next, label) = (
            client.clone(),
            targets.to_vec(),
            next.clone(),
            label.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return lat;
                }
                let addr = targets[i as usize % targets.len()];
                let t = Instant::now();
                let resp = match kind {
                    Kind::Prepare => {
                        client
                            .post(format!("http://{addr}/v1/prepare"))
                            .header(PROCESS_HEADER, "1")
                            .json(&serde_json::json!({
                                "key": format!("{label}-{i}"),
                                "ballot": {"round": 1, "proposer": 1},
                            }))
                            .send()
                            .await
                    }
                    Kind::Health => client.get(format!("http://{addr}/v1/health")).send().await,
                };
                let resp = resp.expect("request failed");
                assert!(resp.status().is_success(), "{}", resp.status());
                resp.bytes().await.expect("read body");
                lat.push(t.elapsed());
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    Samples {
        latencies: all,
        elapsed: started.elapsed(),
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "ballot-node",
            "--bin",
            "ballot-node",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build");
    assert!(
        built.success(),
        "cargo build --release -p ballot-node failed"
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::start();
        let snapshots = JsonlWriter::create(&dir.path().join("snapshots.jsonl")).unwrap();
        let spec = ClusterSpec::new(NODES, dir.path()).expect("ballot-node binary");
        let mut cluster = Cluster::start(spec, clock, snapshots).await.unwrap();
        let log: JsonlWriter<Exchange> =
            JsonlWriter::create(&dir.path().join("messages.jsonl")).unwrap();
        let mesh = Mesh::start(NODES, cluster.addrs(), clock, log.clone(), 1)
            .await
            .unwrap();
        let client = reqwest::Client::builder()
            .no_proxy()
            .retry(reqwest::retry::never())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let direct = cluster.addrs();
        let proxied: Vec<SocketAddr> = (0..NODES).map(|j| mesh.endpoint(j, j)).collect();

        println!(
            "{:<8} {:>3}  {:>22}  {:>22}  {:>22}  {:>9}",
            "request", "c", "direct p50/p99 (µs)", "mesh p50/p99 (µs)", "ops/s direct/mesh", "tput cost"
        );
        const ROUNDS: u64 = 5;
        let mut proxy_cpu_total = Duration::ZERO;
        let mut proxied_requests = 0u64;
        for kind in [Kind::Prepare, Kind::Health] {
            for (concurrency, total) in [(1usize, 2_000u64), (16, 8_000)] {
                let label = |m: &str, r: u64| format!("{}-{m}-c{concurrency}-r{r}", kind.name());
                // Warm up both paths (connections, page cache).
                measure(&client, &direct, kind, concurrency, 200, &label("warm-d", 0)).await;
                measure(&client, &proxied, kind, concurrency, 200, &label("warm-m", 0)).await;
                // Alternate short blocks so load changes on the machine hit both alike.
                let (mut d, mut m) = (Samples::default(), Samples::default());
                for r in 0..ROUNDS {
                    let n = total / ROUNDS;
                    d.add(measure(&client, &direct, kind, concurrency, n, &label("d", r)).await);
                    let cpu = proxy_cpu();
                    m.add(measure(&client, &proxied, kind, concurrency, n, &label("m", r)).await);
                    proxy_cpu_total += proxy_cpu().saturating_sub(cpu);
                    proxied_requests += n;
                }
                let (d, m) = (d.stats(), m.stats());
                println!(
                    "{:<8} {:>3}  {:>10.0} /{:>10.0}  {:>10.0} /{:>10.0}  {:>10.0} /{:>10.0}  {:>8.1}%   (+{:.0} µs p50)",
                    kind.name(),
                    concurrency,
                    us(d.p50),
                    us(d.p99),
                    us(m.p50),
                    us(m.p99),
                    d.ops_per_sec,
                    m.ops_per_sec,
                    100.0 * (1.0 - m.ops_per_sec / d.ops_per_sec),
                    us(m.p50) - us(d.p50),
                );
            }
        }
        println!(
            "proxy thread CPU per exchange (incl. serialising its record): {:.1} µs over {proxied_requests} measured exchanges",
            us(proxy_cpu_total) / proxied_requests as f64
        );
        mesh.close().await;
        println!("exchanges recorded: {}", log.close().unwrap());
        cluster.shutdown().await.unwrap();
    });
}
