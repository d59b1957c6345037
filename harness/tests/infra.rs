//! Integration tests of the harness's infrastructure against real
//! `ballot-node` processes on loopback:
//!
//! - cluster: kill (pid gone, data kept across restart), pause/resume,
//!   no orphans (drop, panic, `kill_all_children`), clear start-up errors
//!   (missing program, instant exit, hang, port in use, bad template);
//! - proxy: cut, dropped request/response, duplicate, refused, timeout,
//!   heal, process attribution;
//! - nemesis: a short schedule applied and healed, and `heal_everything`;
//! - power failure on lazyfs data dirs: recorded, restarted with its synced
//!   state, refused without lazyfs; the mounts go after the nodes (shutdown,
//!   panic) and the files end up in `nodes/<id>/data`. Skipped, with the
//!   reason printed, where lazyfs cannot mount and `CI` is unset.

// Each test holds `common::serial()` for its whole body, awaits included: the
// tests must not overlap, and each has its own runtime, so nothing on that
// runtime can wait for the lock.
#![allow(clippy::await_holding_lock)]

mod common;

use std::time::Duration;

use ballot::cluster::{kill_all_children, live_children, Cluster, ClusterError, DataDirs};
use ballot::links::{Link, LinkBehaviour};
use ballot::nemesis::{FaultKind, FaultParams, FaultStep, Nemesis, Recorders, Schedule};
use ballot::partition::{Partition, PartitionKind};
use ballot::proxy::{Mesh, MeshOptions};
use ballot_core::protocol::{Ballot, PrepareReply, StateReply, PROCESS_HEADER};
use ballot_core::records::{
    Event, Exchange, Fate, FaultPhase, NemesisRecord, Process, Snapshot, SnapshotReason,
};
use ballot_lazyfs as lazyfs;
use common::{assert_gone, can_mount, http, pid_gone, read_jsonl, serial, wait_for_records, Run};
use serde_json::json;

fn prepare_body(key: &str, round: u64) -> serde_json::Value {
    json!({"key": key, "ballot": {"round": round, "proposer": 1}})
}

async fn prepare(
    addr: std::net::SocketAddr,
    key: &str,
    round: u64,
) -> Result<reqwest::Response, reqwest::Error> {
    http()
        .post(format!("http://{addr}/v1/prepare"))
        .header(PROCESS_HEADER, "7")
        .json(&prepare_body(key, round))
        .send()
        .await
}

async fn state(addr: std::net::SocketAddr) -> StateReply {
    http()
        .get(format!("http://{addr}/v1/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn mesh(run: &Run, cluster: &Cluster, options: MeshOptions) -> Mesh {
    Mesh::start_with(
        cluster.len(),
        cluster.addrs(),
        run.clock,
        run.messages.clone(),
        1,
        options,
    )
    .await
    .unwrap()
}

// ---------------------------------------------------------------- cluster

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_node_is_gone_and_restarts_with_its_data() {
    let _serial = serial();
    let run = Run::new();
    let mut cluster = run.cluster(3).await;
    let reply: PrepareReply = prepare(cluster.addr(1), "k", 5)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(reply.ok);

    let old = cluster.pid(1).unwrap();
    assert_eq!(cluster.kill(1).await.unwrap(), old);
    assert!(pid_gone(old), "killed node {old} still exists");
    assert!(!cluster.is_running(1));
    assert!(prepare(cluster.addr(1), "k", 6).await.is_err());

    let new = cluster.restart(1).await.unwrap();
    assert_ne!(new, old);
    let after = state(cluster.addr(1)).await;
    assert_eq!(after.instances["k"].promised, Some(Ballot::new(5, 1)));

    // The restart left a snapshot showing the durable promise.
    run.snapshots.flush().unwrap();
    let snaps: Vec<Snapshot> = read_jsonl(&run.path("snapshots.jsonl"));
    assert_eq!(snaps.len(), 1);
    assert_eq!(
        (snaps[0].node, snaps[0].reason),
        (1, SnapshotReason::Restart)
    );
    assert_eq!(
        snaps[0].state.instances["k"].promised,
        Some(Ballot::new(5, 1))
    );

    let pids: Vec<u32> = cluster.pids().into_iter().map(|(_, p)| p).collect();
    cluster.shutdown().await.unwrap();
    assert_gone(&pids);
    assert!(cluster.pids().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_node_answers_nothing_until_resumed() {
    let _serial = serial();
    let run = Run::new();
    let mut cluster = run.cluster(1).await;
    let url = format!("http://{}/v1/health", cluster.addr(0));
    let quick = |url: String| async move {
        http()
            .get(url)
            .timeout(Duration::from_millis(300))
            .send()
            .await
    };
    cluster.pause(0).unwrap();
    assert!(cluster.is_paused(0));
    let err = quick(url.clone()).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    cluster.resume(0).unwrap();
    assert!(quick(url).await.unwrap().status().is_success());
    let pid = cluster.pid(0).unwrap();
    drop(cluster);
    assert_gone(&[pid]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_cluster_kills_every_node_even_paused_ones() {
    let _serial = serial();
    let run = Run::new();
    let mut cluster = run.cluster(3).await;
    cluster.pause(2).unwrap();
    let pids: Vec<u32> = cluster.pids().into_iter().map(|(_, p)| p).collect();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|p| live_children().contains(p)));
    drop(cluster);
    assert_gone(&pids);
    assert!(pids.iter().all(|p| !live_children().contains(p)));
}

#[test]
fn a_panic_while_holding_a_cluster_leaves_no_nodes() {
    let _serial = serial();
    let run = Run::new();
    let spec = run.spec(2);
    let (clock, snapshots) = (run.clock, run.snapshots.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let cluster = Cluster::start(spec, clock, snapshots).await.unwrap();
            tx.send(cluster.pids()).unwrap();
            panic!("test panic while holding a cluster");
        })
    })
    .join();
    assert!(outcome.is_err(), "the thread should have panicked");
    let pids: Vec<u32> = rx.recv().unwrap().into_iter().map(|(_, p)| p).collect();
    assert_eq!(pids.len(), 2);
    assert_gone(&pids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_all_children_kills_every_node() {
    let _serial = serial();
    let run = Run::new();
    let mut cluster = run.cluster(2).await;
    let pids: Vec<u32> = cluster.pids().into_iter().map(|(_, p)| p).collect();
    assert!(kill_all_children() >= 2);
    // They are dead; check_exits reaps them and reports them as unexpected exits.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut exited = Vec::new();
    while exited.len() < 2 {
        exited.extend(cluster.check_exits());
        assert!(
            std::time::Instant::now() < deadline,
            "nodes survived SIGKILL"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(exited.iter().all(|e| e.status.contains("9")), "{exited:?}");
    assert_gone(&pids);
}

fn start_error(run: &Run, node_cmd: &str, health: Duration) -> ClusterError {
    let mut spec = run.spec(1);
    spec.node_cmd = node_cmd.to_string();
    spec.health_timeout = health;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let before = live_children();
    let err = rt
        .block_on(Cluster::start(spec, run.clock, run.snapshots.clone()))
        .unwrap_err();
    assert_eq!(
        live_children(),
        before,
        "a failed start left a child behind"
    );
    err
}

#[test]
fn a_missing_program_is_a_clear_error() {
    let _serial = serial();
    let run = Run::new();
    let err = start_error(
        &run,
        "/nonexistent/ballot-node --port {port}",
        Duration::from_secs(5),
    );
    assert!(
        matches!(err, ClusterError::Spawn { node: 0, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("cannot start node 0") && text.contains("/nonexistent/ballot-node"),
        "{text}"
    );
}

#[test]
fn a_program_that_exits_at_once_is_a_clear_error() {
    let _serial = serial();
    let run = Run::new();
    let cmd = r#"sh -c 'echo "no such flag: $1" >&2; exit 3' sh {port}"#;
    let err = start_error(&run, cmd, Duration::from_secs(10));
    let text = err.to_string();
    assert!(
        matches!(err, ClusterError::Exited { node: 0, .. }),
        "{text}"
    );
    assert!(text.contains("exit status: 3"), "{text}");
    assert!(
        text.contains("no such flag: "),
        "stderr tail missing: {text}"
    );
    assert!(text.contains("sh -c"), "command missing: {text}");
}

#[test]
fn a_node_that_never_answers_is_killed_with_a_clear_error() {
    let _serial = serial();
    let run = Run::new();
    let err = start_error(&run, "sleep 1{port}", Duration::from_millis(300));
    let text = err.to_string();
    assert!(
        matches!(err, ClusterError::Unhealthy { node: 0, .. }),
        "{text}"
    );
    assert!(
        text.contains("did not become healthy within 300ms"),
        "{text}"
    );
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let _serial = serial();
    let run = Run::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut spec = run.spec(2);
    spec.ports = vec![common_free_port(), port];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt
        .block_on(Cluster::start(spec, run.clock, run.snapshots.clone()))
        .unwrap_err();
    assert!(
        matches!(err, ClusterError::PortInUse { node: 1, port: p } if p == port),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .contains(&format!("port 127.0.0.1:{port} is already in use")));
}

fn common_free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_bad_template_is_a_clear_error() {
    let _serial = serial();
    let run = Run::new();
    let err = start_error(
        &run,
        "ballot-node --listen '127.0.0.1:{port}",
        Duration::from_secs(1),
    );
    assert!(
        err.to_string().contains("unterminated single quote"),
        "{err}"
    );
    let err = start_error(&run, "ballot-node --id {id}", Duration::from_secs(1));
    assert!(err.to_string().contains("must contain {port}"), "{err}");
}

// ---------------------------------------------------------------- proxy

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_link_blocks_and_heal_restores_it() {
    let _serial = serial();
    let run = Run::new();
    let cluster = run.cluster(2).await;
    let mesh = mesh(&run, &cluster, MeshOptions::default()).await;
    mesh.set_link(0, 1, LinkBehaviour::cut()).unwrap();
    assert!(prepare(mesh.endpoint(0, 1), "cut", 3).await.is_err());
    // The other direction and other links still pass.
    assert!(prepare(mesh.endpoint(1, 0), "other", 3)
        .await
        .unwrap()
        .status()
        .is_success());
    assert!(!state(cluster.addr(1)).await.instances.contains_key("cut"));

    let records: Vec<Exchange> =
        wait_for_records(&run.path("messages.jsonl"), |r: &[Exchange]| r.len() == 2).await;
    let cut = records.iter().find(|e| e.to == 1).unwrap();
    assert_eq!((cut.fate, cut.from, cut.process), (Fate::Cut, 0, Some(7)));
    assert_eq!(cut.request, prepare_body("cut", 3));
    assert_eq!((cut.delivered, cut.status), (None, None));

    assert!(!mesh.is_healed());
    mesh.heal_all();
    assert!(mesh.is_healed());
    let ok = prepare(mesh.endpoint(0, 1), "cut", 4).await.unwrap();
    assert!(ok.status().is_success());
    assert_eq!(
        state(cluster.addr(1)).await.instances["cut"].promised,
        Some(Ballot::new(4, 1))
    );
    let records: Vec<Exchange> =
        wait_for_records(&run.path("messages.jsonl"), |r: &[Exchange]| r.len() == 3).await;
    let healed = records
        .iter()
        .find(|e| e.request["ballot"]["round"] == 4)
        .unwrap();
    assert_eq!(healed.fate, Fate::Ok);
    assert_eq!(healed.status, Some(200));
    assert_eq!(healed.response.as_ref().unwrap()["ok"], true);
    assert!(healed.sent <= healed.delivered.unwrap());
    assert!(healed.delivered.unwrap() <= healed.replied.unwrap());
    common::stop(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_requests_and_responses() {
    let _serial = serial();
    let run = Run::new();
    let cluster = run.cluster(1).await;
    let mesh = mesh(&run, &cluster, MeshOptions::default()).await;
    let lossy = |req: f64, resp: f64| LinkBehaviour {
        drop_request: req,
        drop_response: resp,
        ..LinkBehaviour::PASS
    };

    mesh.set_link(0, 0, lossy(1.0, 0.0)).unwrap();
    assert!(prepare(mesh.endpoint(0, 0), "req", 2).await.is_err());
    assert!(!state(cluster.addr(0)).await.instances.contains_key("req"));

    mesh.set_link(0, 0, lossy(0.0, 1.0)).unwrap();
    assert!(prepare(mesh.endpoint(0, 0), "resp", 2).await.is_err());
    // The node processed it although the client heard nothing.
    assert_eq!(
        state(cluster.addr(0)).await.instances["resp"].promised,
        Some(Ballot::new(2, 1))
    );

    let records: Vec<Exchange> =
        wait_for_records(&run.path("messages.jsonl"), |r: &[Exchange]| r.len() == 2).await;
    let by_key = |k: &str| records.iter().find(|e| e.request["key"] == k).unwrap();
    assert_eq!(by_key("req").fate, Fate::DroppedRequest);
    assert_eq!(by_key("req").delivered, None);
    let resp = by_key("resp");
    assert_eq!(resp.fate, Fate::DroppedResponse);
    assert_eq!(resp.status, Some(200));
    assert_eq!(resp.response.as_ref().unwrap()["ok"], true);
    common::stop(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_delivered_twice_and_recorded() {
    let _serial = serial();
    let run = Run::new();
    let cluster = run.cluster(1).await;
    let mesh = mesh(&run, &cluster, MeshOptions::default()).await;
    let dup = LinkBehaviour {
        duplicate: 1.0,
        ..LinkBehaviour::PASS
    };
    mesh.set_link(0, 0, dup).unwrap();
    let reply: PrepareReply = prepare(mesh.endpoint(0, 0), "d", 9)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(reply.ok);
    let records: Vec<Exchange> =
        wait_for_records(&run.path("messages.jsonl"), |r: &[Exchange]| r.len() == 2).await;
    let original = records.iter().find(|e| e.duplicate_of.is_none()).unwrap();
    let copy = records.iter().find(|e| e.duplicate_of.is_some()).unwrap();
    assert_eq!(original.fate, Fate::Ok);
    assert_eq!(copy.fate, Fate::Duplicated);
    assert_eq!(copy.duplicate_of, Some(original.id));
    assert_ne!(copy.id, original.id);
    assert_eq!(copy.request, original.request);
    // Both reached the node: a repeated prepare at the same ballot is granted again.
    assert_eq!(copy.response.as_ref().unwrap()["ok"], true);
    assert!(copy.delivered.unwrap() >= original.delivered.unwrap());
    common::stop(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_paused_nodes_are_refused_and_time_out() {
    let _serial = serial();
    let run = Run::new();
    let mut cluster = run.cluster(2).await;
    let options = MeshOptions {
        upstream_timeout: Duration::from_millis(300),
        ..MeshOptions::default()
    };
    let mesh = mesh(&run, &cluster, options).await;
    // Warm the pool, so the kill also exercises a stale pooled connection.
    assert!(prepare(mesh.endpoint(0, 0), "warm", 1)
        .await
        .unwrap()
        .status()
        .is_success());
    cluster.kill(0).await.unwrap();
    let refused = prepare(mesh.endpoint(0, 0), "down", 1).await.unwrap();
    assert_eq!(refused.status(), 502);
    cluster.pause(1).unwrap();
    let slow = prepare(mesh.endpoint(0, 1), "slow", 1).await.unwrap();
    assert_eq!(slow.status(), 504);
    cluster.resume(1).unwrap();

    let records: Vec<Exchange> =
        wait_for_records(&run.path("messages.jsonl"), |r: &[Exchange]| r.len() == 3).await;
    let by_key = |k: &str| records.iter().find(|e| e.request["key"] == k).unwrap();
    assert_eq!(by_key("warm").fate, Fate::Ok);
    assert_eq!(by_key("down").fate, Fate::Refused);
    assert_eq!(by_key("down").delivered, None);
    // The client had its 504; the proxy kept waiting and recorded what the
    // resumed node answered, and when.
    let slow = by_key("slow");
    assert_eq!(slow.fate, Fate::Timeout);
    assert_eq!(slow.status, Some(200));
    assert_eq!(slow.response.as_ref().unwrap()["ok"], true);
    assert!(slow.replied.unwrap() - slow.delivered.unwrap() >= 300_000_000);
    // The link itself works again.
    let again = prepare(mesh.endpoint(0, 1), "again", 2).await.unwrap();
    assert!(again.status().is_success());
    common::stop(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_node_is_refused_on_every_link_until_the_fence_lifts() {
    let _serial = serial();
    let run = Run::new();
    let cluster = run.cluster(2).await;
    let mesh = mesh(&run, &cluster, MeshOptions::default()).await;
    mesh.fence(0, true);
    assert!(mesh.is_fenced(0) && !mesh.is_fenced(1));
    for host in 0..2 {
        let refused = prepare(mesh.endpoint(host, 0), &format!("fenced{host}"), 1)
            .await
            .unwrap();
        assert_eq!(refused.status(), 502);
    }
    // The node itself is up, and never saw the fenced requests.
    assert!(state(cluster.addr(0)).await.instances.is_empty());
    assert!(prepare(mesh.endpoint(0, 1), "other", 1)
        .await
        .unwrap()
        .status()
        .is_success());
    mesh.fence(0, false);
    assert!(prepare(mesh.endpoint(1, 0), "after", 1)
        .await
        .unwrap()
        .status()
        .is_success());
    let records: Vec<Exchange> =
        wait_for_records(&run.path("messages.jsonl"), |r: &[Exchange]| r.len() == 4).await;
    let fate = |k: &str| {
        let e = records.iter().find(|e| e.request["key"] == k).unwrap();
        (e.fate, e.delivered.is_some())
    };
    assert_eq!(fate("fenced0"), (Fate::Refused, false));
    assert_eq!(fate("fenced1"), (Fate::Refused, false));
    assert_eq!(fate("other"), (Fate::Ok, true));
    assert_eq!(fate("after"), (Fate::Ok, true));
    common::stop(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_waits_for_every_record_and_stops_listening() {
    let _serial = serial();
    let run = Run::new();
    let cluster = run.cluster(1).await;
    let mesh = mesh(&run, &cluster, MeshOptions::default()).await;
    let lossy = LinkBehaviour {
        drop_response: 1.0,
        duplicate: 1.0,
        ..LinkBehaviour::PASS
    };
    mesh.set_link(0, 0, lossy).unwrap();
    assert!(prepare(mesh.endpoint(0, 0), "closing", 1).await.is_err());
    mesh.close().await;
    assert_eq!(mesh.in_flight(), 0);
    // Both the original and its duplicate are recorded by the time close returns.
    assert_eq!(run.messages.close().unwrap(), 2);
    let records: Vec<Exchange> = read_jsonl(&run.path("messages.jsonl"));
    let fates: Vec<Fate> = records.iter().map(|e| e.fate).collect();
    assert!(fates.contains(&Fate::DroppedResponse) && fates.contains(&Fate::Duplicated));
    assert!(prepare(mesh.endpoint(0, 0), "late", 1).await.is_err());
    common::stop(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delays_hold_requests_back() {
    let _serial = serial();
    let run = Run::new();
    let cluster = run.cluster(1).await;
    let mesh = mesh(&run, &cluster, MeshOptions::default()).await;
    let slow = LinkBehaviour {
        delay: Duration::from_millis(50),
        ..LinkBehaviour::PASS
    };
    mesh.set_link(0, 0, slow).unwrap();
    assert!(prepare(mesh.endpoint(0, 0), "late", 1)
        .await
        .unwrap()
        .status()
        .is_success());
    let records: Vec<Exchange> =
        wait_for_records(&run.path("messages.jsonl"), |r: &[Exchange]| r.len() == 1).await;
    let e = &records[0];
    assert!(e.delivered.unwrap() - e.sent >= 50_000_000, "{e:?}");
    common::stop(cluster).await;
}

// ---------------------------------------------------------------- nemesis

fn step(
    start_ms: u64,
    dur_ms: u64,
    fault: FaultKind,
    nodes: Vec<usize>,
    params: FaultParams,
) -> FaultStep {
    FaultStep {
        start: Duration::from_millis(start_ms),
        duration: Duration::from_millis(dur_ms),
        fault,
        nodes,
        params,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_is_applied_and_healed() {
    let _serial = serial();
    let run = Run::new();
    let mut cluster = run.cluster(3).await;
    let mesh = mesh(&run, &cluster, MeshOptions::default()).await;
    let mut rng = <rand::rngs::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(5);
    let partition = Partition::generate(PartitionKind::IsolateOne, 3, &mut rng);
    let schedule = Schedule {
        steps: vec![
            step(0, 50, FaultKind::Kill, vec![1], FaultParams::None),
            step(100, 50, FaultKind::Pause, vec![2], FaultParams::None),
            step(
                200,
                50,
                FaultKind::Partition,
                vec![],
                FaultParams::Partition(partition),
            ),
        ],
    };
    let old_pid = cluster.pid(1).unwrap();
    let out = Recorders {
        history: &run.history,
        log: &run.nemesis,
    };
    let (_cancel, cancel_rx) = tokio::sync::watch::channel(false);
    let mut nemesis = Nemesis::new();
    let started = nemesis
        .run(&schedule, &mut cluster, &mesh, out, cancel_rx)
        .await
        .unwrap();
    assert_eq!(started, 3);
    assert!(nemesis.active().is_none());
    assert!(pid_gone(old_pid));
    assert!(cluster.is_running(1) && !cluster.is_paused(2));
    assert!(mesh.is_healed());

    run.history.flush().unwrap();
    run.nemesis.flush().unwrap();
    let events: Vec<Event> = read_jsonl(&run.path("history.jsonl"));
    let fs: Vec<&str> = events.iter().map(|e| e.f.as_str()).collect();
    assert_eq!(
        fs,
        [
            "start-kill",
            "stop-kill",
            "start-pause",
            "stop-pause",
            "start-partition",
            "stop-partition"
        ]
    );
    assert!(events.iter().all(|e| e.process == Process::nemesis()));
    assert_eq!(events[0].value["pids"], json!([old_pid]));
    let records: Vec<NemesisRecord> = read_jsonl(&run.path("nemesis.jsonl"));
    assert_eq!(records.len(), 6);
    assert_eq!(
        (records[0].phase, records[0].fault.name()),
        (FaultPhase::Start, "kill")
    );
    assert_eq!(records[0].nodes, vec![1]);
    assert_eq!(records[0].time, events[0].time);
    assert_eq!(records[4].detail["partition"]["shape"], "isolate-one");
    // The restart after the kill left a snapshot.
    run.snapshots.flush().unwrap();
    let snaps: Vec<Snapshot> = read_jsonl(&run.path("snapshots.jsonl"));
    assert_eq!(snaps.iter().map(|s| s.node).collect::<Vec<_>>(), vec![1]);
    common::stop(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_leaves_the_fault_for_heal_everything() {
    let _serial = serial();
    let run = Run::new();
    let mut cluster = run.cluster(3).await;
    let mesh = mesh(&run, &cluster, MeshOptions::default()).await;
    let schedule = Schedule {
        steps: vec![step(
            0,
            60_000,
            FaultKind::Kill,
            vec![0, 2],
            FaultParams::None,
        )],
    };
    let out = Recorders {
        history: &run.history,
        log: &run.nemesis,
    };
    let (cancel, cancel_rx) = tokio::sync::watch::channel(false);
    let mut nemesis = Nemesis::new();
    let runner = async {
        nemesis
            .run(&schedule, &mut cluster, &mesh, out, cancel_rx)
            .await
            .unwrap()
    };
    let canceller = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.send(true).unwrap();
    };
    let (started, ()) = tokio::join!(runner, canceller);
    assert_eq!(started, 1);
    assert_eq!(nemesis.active().unwrap().fault, FaultKind::Kill);
    assert!(!cluster.is_running(0) && !cluster.is_running(2));

    // Extra damage the final phase must also undo.
    cluster.pause(1).unwrap();
    mesh.set_links([Link::new(0, 1)], LinkBehaviour::cut())
        .unwrap();

    nemesis
        .heal_everything(&mut cluster, &mesh, out)
        .await
        .unwrap();
    assert!(nemesis.active().is_none());
    assert!((0..3).all(|id| cluster.is_running(id) && !cluster.is_paused(id)));
    assert!(mesh.is_healed());
    for id in 0..3 {
        assert!(prepare(mesh.endpoint(id, id), "after", 1)
            .await
            .unwrap()
            .status()
            .is_success());
    }
    run.history.flush().unwrap();
    let fs: Vec<String> = read_jsonl::<Event>(&run.path("history.jsonl"))
        .into_iter()
        .map(|e| e.f)
        .collect();
    assert_eq!(fs, ["start-kill", "stop-kill", "stop-links", "stop-pause"]);
    let pids: Vec<u32> = cluster.pids().into_iter().map(|(_, p)| p).collect();
    drop(cluster);
    assert_gone(&pids);
}

// ---------------------------------------------------------------- power failure

/// Lazyfs mounts at or under `dir`, from `/proc/self/mountinfo`.
fn lazyfs_mounts_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let dir = dir.canonicalize().unwrap();
    lazyfs::mount::mounts()
        .unwrap()
        .into_iter()
        .filter(|m| m.fs_type == lazyfs::mount::FS_TYPE && m.mount_point.starts_with(&dir))
        .map(|m| m.mount_point)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_failure_keeps_synced_state_and_the_mounts_go_after_the_nodes() {
    let _serial = serial();
    if !can_mount() {
        return;
    }
    let run = Run::new();
    let mut cluster = Cluster::start_with(
        run.spec(3),
        run.clock,
        run.snapshots.clone(),
        DataDirs::LazyFs,
    )
    .await
    .unwrap();
    assert_eq!(cluster.data_dirs(), DataDirs::LazyFs);
    assert_eq!(lazyfs_mounts_under(run.dir.path()).len(), 3);
    for id in 0..3 {
        assert!(lazyfs::is_mounted(cluster.data_dir(id).unwrap()).unwrap());
    }
    let mesh = mesh(&run, &cluster, MeshOptions::default()).await;
    let reply: PrepareReply = prepare(cluster.addr(1), "k", 5)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(reply.ok);

    // The nemesis's power failure: SIGKILL + drop unsynced data, then restart.
    let old = cluster.pid(1).unwrap();
    let out = Recorders {
        history: &run.history,
        log: &run.nemesis,
    };
    let schedule = Schedule {
        steps: vec![step(
            0,
            50,
            FaultKind::PowerFail,
            vec![1],
            FaultParams::None,
        )],
    };
    let (_cancel, cancel_rx) = tokio::sync::watch::channel(false);
    let mut nemesis = Nemesis::new();
    let started = nemesis
        .run(&schedule, &mut cluster, &mesh, out, cancel_rx)
        .await
        .unwrap();
    assert_eq!(started, 1);
    assert!(pid_gone(old), "power-failed node {old} still exists");
    let new = cluster.pid(1).expect("restarted at the fault's stop");
    assert_ne!(new, old);
    // The correct node fsynced the promise before it answered.
    assert_eq!(
        state(cluster.addr(1)).await.instances["k"].promised,
        Some(Ballot::new(5, 1))
    );

    run.history.flush().unwrap();
    run.nemesis.flush().unwrap();
    let events: Vec<Event> = read_jsonl(&run.path("history.jsonl"));
    let fs: Vec<&str> = events.iter().map(|e| e.f.as_str()).collect();
    assert_eq!(fs, ["start-power-fail", "stop-power-fail"]);
    let records: Vec<NemesisRecord> = read_jsonl(&run.path("nemesis.jsonl"));
    assert_eq!(records.len(), 2);
    let start = &records[0];
    assert_eq!(
        (start.phase, start.fault.name(), start.nodes.clone()),
        (FaultPhase::Start, "power-fail", vec![1])
    );
    assert_eq!(start.detail["pids"], json!([old]));
    assert_eq!(start.detail["lost"][0]["node"], json!(1));
    assert_eq!(start.detail["lost"][0]["pid"], json!(old));
    assert!(start.detail["files"].is_u64() && start.detail["bytes_lost"].is_u64());
    assert_eq!(start.detail, events[0].value);
    assert_eq!(records[1].detail["pids"], json!([new]));
    run.snapshots.flush().unwrap();
    let snaps: Vec<Snapshot> = read_jsonl(&run.path("snapshots.jsonl"));
    assert_eq!(
        snaps.iter().map(|s| (s.node, s.reason)).collect::<Vec<_>>(),
        [(1, SnapshotReason::Restart)]
    );

    // Shutdown: nodes first, then the mounts; the files end up in data/.
    mesh.close().await;
    let pids: Vec<u32> = cluster.pids().into_iter().map(|(_, p)| p).collect();
    cluster.shutdown().await.unwrap();
    assert_gone(&pids);
    assert_eq!(
        lazyfs_mounts_under(run.dir.path()),
        Vec::<std::path::PathBuf>::new()
    );
    for id in 0..3 {
        let node_dir = run.dir.path().join(format!("nodes/{id}"));
        assert!(!node_dir.join("disk").exists(), "nodes/{id}/disk is left");
        let files = std::fs::read_dir(node_dir.join("data")).unwrap().count();
        assert!(files > 0, "nodes/{id}/data holds none of the node's files");
    }
    // Unmounted means the nodes cannot start again on their lazyfs.
    assert!(matches!(
        cluster.restart(0).await,
        Err(ClusterError::LazyFs { node: 0, .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_failure_needs_lazyfs_data_dirs() {
    let _serial = serial();
    let run = Run::new();
    let mut cluster = run.cluster(1).await;
    assert_eq!(cluster.data_dirs(), DataDirs::Plain);
    let pid = cluster.pid(0).unwrap();
    let err = cluster.power_fail(0).await.unwrap_err();
    assert!(
        matches!(&err, ClusterError::LazyFs { node: 0, reason } if reason.contains("not on a lazyfs mount")),
        "{err}"
    );
    assert_eq!(
        cluster.pid(0),
        Some(pid),
        "a refused power failure kills nothing"
    );
    common::stop(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_kills_the_nodes_then_unmounts_their_data_dirs() {
    let _serial = serial();
    if !can_mount() {
        return;
    }
    let run = Run::new();
    let spec = run.spec(2);
    let (clock, snapshots) = (run.clock, run.snapshots.clone());
    let (pids_tx, pids_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let cluster = Cluster::start_with(spec, clock, snapshots, DataDirs::LazyFs)
            .await
            .unwrap();
        let pids: Vec<u32> = cluster.pids().into_iter().map(|(_, p)| p).collect();
        pids_tx.send(pids).unwrap();
        panic!("deliberate panic with a lazyfs cluster up");
    });
    let err = task.await.unwrap_err();
    assert!(err.is_panic());
    let pids = pids_rx.await.unwrap();
    assert_eq!(pids.len(), 2);
    assert_gone(&pids);
    assert_eq!(
        lazyfs_mounts_under(run.dir.path()),
        Vec::<std::path::PathBuf>::new()
    );
    assert!(run.dir.path().join("nodes/0/data").is_dir());
}
