//! End-to-end tests of the `ballot` binary: short real runs against real
//! `ballot-node` processes in a temp store.
//!
//! - a short `ballot test` on the correct node is valid and fills the store,
//!   and `ballot check` reproduces its verdict;
//! - the same `--seed` gives the same op and fault schedules;
//! - SIGINT stops early, heals, still checks, and leaves no node behind;
//! - a bad `--node-cmd`, a port in use and an unknown flag are clear errors
//!   with exit codes 255, 255 and 254;
//! - a proposer bug is caught (exit 1, `REPRODUCE WITH:`);
//! - `--direct` refuses link faults (exit 254, no run folder) and, with
//!   kills, records no message log, so the Paxos checks are unknown (exit 2);
//! - the Python example acceptor passes (when python3 and the file exist);
//! - `--nemesis power-fail` (lazyfs data dirs): valid on the correct node and
//!   the Python acceptor, catches `reply-before-durable` and (where kill
//!   cannot) a Python acceptor without fsync, leaves no mount or
//!   process (also after a second SIGINT), and is a one-line exit 255 where
//!   the user cannot mount. Skipped, with the reason printed, where lazyfs
//!   cannot mount and `CI` is unset.
//!
//! - `ballot check FILE`: a Jepsen EDN history (detected or `--format
//!   jepsen-edn`) gets its verdict; with stdout closed (`| head -1`) it
//!   still exits with the verdict's code, quietly; an empty file is valid
//!   (0); a file that does not parse is bad input (254) naming the line.
//!
//! Tests run one at a time (they start processes; the machine has two
//! cores) and each checks that no process started under its temp store
//! survives it. The `ballot check FILE` tests start no node.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ballot_core::records::{Event, EventType, Exchange, Fate, FaultPhase, NemesisRecord, Process};
use serde_json::{json, Value};

const BALLOT: &str = env!("CARGO_BIN_EXE_ballot");

/// A temp store plus the serial lock; on drop, asserts (and enforces) that
/// no process whose command line mentions the store is left.
struct Env {
    store: tempfile::TempDir,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Env {
    fn new() -> Env {
        let serial = common::serial();
        common::ensure_node_built();
        Env {
            store: tempfile::tempdir().expect("temp store"),
            _serial: serial,
        }
    }

    fn store(&self) -> &Path {
        self.store.path()
    }

    fn store_arg(&self) -> String {
        self.store().display().to_string()
    }

    /// Runs `ballot` with `args` to completion (bounded by a watchdog).
    fn ballot(&self, args: &[&str]) -> Output {
        let child = Command::new(BALLOT)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ballot");
        let pid = child.id();
        // The child is not reaped before `wait_with_output` returns, so its
        // pid cannot be reused while the watchdog may signal it.
        let watchdog = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                if common::pid_gone(pid) || zombie(pid) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        });
        let out = child.wait_with_output().expect("wait for ballot");
        let _ = watchdog.join();
        out
    }

    /// `ballot test` with the store and a short default shape, plus `extra`.
    fn test(&self, extra: &[&str]) -> Output {
        let store = self.store_arg();
        let mut args = vec!["test", "--store", &store];
        args.extend_from_slice(extra);
        self.ballot(&args)
    }

    /// The run folder `store/latest` points at.
    fn latest(&self) -> PathBuf {
        let link = self.store().join("latest");
        let target = std::fs::read_link(&link).expect("store/latest is a symlink");
        self.store().join(target)
    }

    /// Pids of live processes whose command line mentions the store.
    fn leftovers(&self) -> Vec<u32> {
        common::processes_mentioning(&self.store_arg(), BALLOT)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        common::kill_leftovers(&self.leftovers());
    }
}

/// True when `pid` has exited but is not reaped yet.
fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    let body = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// Node pids printed on the `nodes:` line plus every pid the nemesis
/// recorded (restarts), so every node process the run ever had.
fn node_pids(stdout: &str, run: &Path) -> Vec<u32> {
    let mut pids: Vec<u32> = stdout
        .lines()
        .filter(|l| l.starts_with("nodes: "))
        .flat_map(|l| {
            l.split("pid ")
                .skip(1)
                .map(|s| s.split(' ').next().unwrap().parse().unwrap())
        })
        .collect();
    for record in read_jsonl::<NemesisRecord>(&run.join("nemesis.jsonl")) {
        let ids = record
            .detail
            .get("pids")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        pids.extend(ids.iter().filter_map(Value::as_u64).map(|p| p as u32));
    }
    pids
}

/// Every fault that started was stopped (healed) by the end.
fn assert_all_healed(run: &Path) {
    let mut open: BTreeMap<String, i64> = BTreeMap::new();
    for r in read_jsonl::<NemesisRecord>(&run.join("nemesis.jsonl")) {
        let fault = if r.fault.name() == "crash" {
            "kill".to_string()
        } else {
            r.fault.name().to_string()
        };
        *open.entry(fault).or_default() += match r.phase {
            FaultPhase::Start => 1,
            FaultPhase::Stop => -1,
        };
    }
    for (fault, n) in open {
        assert!(n <= 0, "{fault} started {n} more time(s) than it stopped");
    }
}

#[test]
fn a_short_run_on_the_correct_node_is_valid_and_fills_the_store() {
    let env = Env::new();
    let out = env.test(&[
        "--time-limit",
        "4",
        "--nemesis",
        "kill,partition",
        "--nemesis-interval",
        "1",
        "--rate",
        "60",
        "--seed",
        "7",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("verdict: VALID"), "{stdout}");
    assert!(
        stdout.contains("rerun: ballot test --time-limit 4"),
        "{stdout}"
    );
    assert!(stdout.contains("--seed 7"), "{stdout}");

    let run = env.latest();
    assert!(
        stdout.contains(&format!("store: {}", run.display())),
        "{stdout}"
    );
    for file in [
        "test.json",
        "history.jsonl",
        "messages.jsonl",
        "nemesis.jsonl",
        "snapshots.jsonl",
        "results.json",
    ] {
        assert!(
            run.join(file).is_file(),
            "{file} missing in {}",
            run.display()
        );
    }
    for id in 0..3 {
        for log in ["stdout.log", "stderr.log"] {
            assert!(
                run.join(format!("nodes/{id}/{log}")).is_file(),
                "nodes/{id}/{log}"
            );
        }
    }
    let test = read_json(&run.join("test.json"));
    assert_eq!(test["nodes"], Value::from(3));
    assert_eq!(test["seed"], Value::from(7));
    let results = read_json(&run.join("results.json"));
    assert_eq!(results["valid"], Value::Bool(true));
    let history: Vec<Event> = read_jsonl(&run.join("history.jsonl"));
    assert!(history
        .iter()
        .any(|e| e.kind == EventType::Ok && e.f == "propose"));
    // The final phase read the key from every host, after the last fault.
    let snapshots: Vec<Value> = read_jsonl(&run.join("snapshots.jsonl"));
    assert_eq!(
        snapshots.iter().filter(|s| s["reason"] == "final").count(),
        3
    );
    assert_all_healed(&run);
    common::assert_gone(&node_pids(&stdout, &run));

    // `ballot check` reproduces the verdict, offline.
    let run_arg = run.display().to_string();
    let check = env.ballot(&["check", &run_arg]);
    assert_eq!(check.status.code(), Some(0), "{}", describe(&check));
    let json = env.ballot(&["check", &run_arg, "--json"]);
    assert_eq!(json.status.code(), Some(0), "{}", describe(&json));
    let rechecked: Value = serde_json::from_slice(&json.stdout).expect("--json prints JSON");
    assert_eq!(
        rechecked, results,
        "ballot check must reproduce results.json exactly"
    );
}

/// Per worker (process mod concurrency), the key of each propose invoked
/// before the time limit, by the worker's step (a propose's value is
/// `"<process>-<step>"`). Steps, not positions: a worker stalled by a fault
/// skips the steps it missed, and how long a stall lasts is timing.
fn op_plan(run: &Path, concurrency: u64, limit_ns: u64) -> BTreeMap<u64, BTreeMap<u64, String>> {
    let mut plan: BTreeMap<u64, BTreeMap<u64, String>> = BTreeMap::new();
    for e in read_jsonl::<Event>(&run.join("history.jsonl")) {
        if let (Process::Client(p), EventType::Invoke) = (&e.process, e.kind) {
            if e.time >= limit_ns || e.f != "propose" {
                continue;
            }
            let value = e.value.as_str().expect("a propose carries a string");
            let step: u64 = value
                .rsplit_once('-')
                .and_then(|(_, s)| s.parse().ok())
                .unwrap_or_else(|| panic!("value {value:?} is not <process>-<step>"));
            plan.entry(p % concurrency)
                .or_default()
                .insert(step, e.key.clone().unwrap_or_default());
        }
    }
    plan
}

/// (fault, nodes) of each fault start.
fn fault_plan(run: &Path) -> Vec<(String, Vec<u64>)> {
    read_jsonl::<NemesisRecord>(&run.join("nemesis.jsonl"))
        .into_iter()
        .filter(|r| r.phase == FaultPhase::Start && r.fault.name() != "crash")
        .map(|r| (r.fault.name().to_string(), r.nodes))
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_op_and_fault_schedules() {
    let env = Env::new();
    let args = [
        "--time-limit",
        "3",
        "--workload",
        "kv",
        "--nemesis",
        "all",
        "--nemesis-interval",
        "0.4",
        "--rate",
        "40",
        "--concurrency",
        "4",
    ];
    let mut runs = Vec::new();
    for seed in ["42", "42", "43"] {
        let mut with_seed = args.to_vec();
        with_seed.extend(["--seed", seed]);
        let out = env.test(&with_seed);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        runs.push(env.latest());
    }
    let schedule = |run: &Path| read_json(&run.join("test.json"))["schedule"].clone();
    assert_eq!(schedule(&runs[0]), schedule(&runs[1]));
    assert_ne!(schedule(&runs[0]), schedule(&runs[2]));
    assert!(schedule(&runs[0]).as_array().is_some_and(|s| s.len() >= 3));

    // Faults actually applied: the same sequence, up to where timing cut one run short.
    let (f0, f1) = (fault_plan(&runs[0]), fault_plan(&runs[1]));
    let common_faults = f0.len().min(f1.len());
    assert!(common_faults >= 2, "{f0:?} / {f1:?}");
    assert_eq!(f0[..common_faults], f1[..common_faults]);

    // Ops actually invoked: per worker, the same key at every step both runs
    // proposed at (a stalled worker skips steps, so steps, not positions).
    let limit = 3_000_000_000;
    let (a, b, c) = (
        op_plan(&runs[0], 4, limit),
        op_plan(&runs[1], 4, limit),
        op_plan(&runs[2], 4, limit),
    );
    assert_eq!(a.len(), 4);
    let common = |x: &BTreeMap<u64, String>, y: &BTreeMap<u64, String>| -> Vec<(u64, bool)> {
        x.iter()
            .filter_map(|(step, key)| y.get(step).map(|other| (*step, other == key)))
            .collect()
    };
    let mut compared = 0;
    for (worker, ops) in &a {
        let both = common(ops, &b[worker]);
        let differ: Vec<u64> = both
            .iter()
            .filter(|(_, same)| !same)
            .map(|(s, _)| *s)
            .collect();
        assert!(
            differ.is_empty(),
            "worker {worker}: steps {differ:?} proposed to other keys"
        );
        compared += both.len();
    }
    assert!(compared >= 20, "only {compared} proposes compared");
    let differs = a
        .iter()
        .any(|(w, ops)| common(ops, &c[w]).iter().any(|(_, same)| !same));
    assert!(differs, "seed 43 planned the same ops as seed 42");
}

#[test]
fn sigint_stops_early_heals_checks_and_leaves_no_node() {
    let env = Env::new();
    let store = env.store_arg();
    let mut child = Command::new(BALLOT)
        .args([
            "test",
            "--store",
            &store,
            "--time-limit",
            "120",
            "--nemesis",
            "pause,partition",
            "--nemesis-interval",
            "0.5",
            "--rate",
            "50",
            "--seed",
            "5",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ballot");
    let pid = child.id();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    // Wait for the nodes line (the run is set up).
    while !printed.contains("nodes: ") {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        printed.push_str(&line);
    }
    assert!(printed.contains("nodes: "), "{printed}");
    // Wait until a fault is in force and ops have completed.
    let run = env.latest();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let faults = std::fs::read_to_string(run.join("nemesis.jsonl")).unwrap_or_default();
        let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap_or_default();
        let in_force = faults
            .lines()
            .filter(|l| l.contains(r#""phase":"start""#))
            .count()
            > faults
                .lines()
                .filter(|l| l.contains(r#""phase":"stop""#))
                .count();
        if in_force && history.matches(r#""type":"ok""#).count() >= 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no fault in force with ops done after 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let started = Instant::now();
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
        rest
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ballot did not stop within 60 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    printed.push_str(&reader.join().unwrap());
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?} to stop",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(0), "{printed}");
    assert!(printed.contains("interrupted"), "{printed}");
    assert!(run.join("results.json").is_file());
    assert_all_healed(&run);
    let history: Vec<Event> = read_jsonl(&run.join("history.jsonl"));
    let last_nemesis = history
        .iter()
        .rposition(|e| e.process == Process::nemesis())
        .unwrap();
    assert!(
        history[last_nemesis..]
            .iter()
            .any(|e| e.f == "read" && e.kind == EventType::Ok),
        "no final read after healing"
    );
    common::assert_gone(&node_pids(&printed, &run));
}

#[test]
fn a_bad_node_command_is_a_harness_failure() {
    let env = Env::new();
    // Table: node command -> what the one error line must say.
    for (node_cmd, needle) in [
        (
            "/nonexistent --id {id} --listen 127.0.0.1:{port} --data-dir {data_dir}",
            "cannot start node 0 with `/nonexistent --id 0 --listen 127.0.0.1:",
        ),
        ("/nonexistent {id}", "must contain {port}"),
    ] {
        let out = env.test(&["--time-limit", "2", "--node-cmd", node_cmd]);
        assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(needle),
            "{stderr}"
        );
        assert!(
            !text(&out.stdout).contains("verdict"),
            "a harness failure is never a verdict"
        );
    }
}

#[test]
fn a_port_in_use_is_a_harness_failure() {
    let env = Env::new();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let out = env.test(&["--time-limit", "2", "--base-port", &port.to_string()]);
    assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!("error: cannot start node 0: port 127.0.0.1:{port} is already in use")
    );
}

#[test]
fn bad_flags_exit_254_and_help_exits_0() {
    let env = Env::new();
    let out = env.ballot(&["test", "--frobnicate"]);
    assert_eq!(out.status.code(), Some(254), "{}", describe(&out));
    assert!(text(&out.stderr).starts_with("error: unexpected argument '--frobnicate' found"));
    let out = env.ballot(&["test", "--nemesis", "kill,fire"]);
    assert_eq!(out.status.code(), Some(254), "{}", describe(&out));
    let out = env.ballot(&["check", "/nonexistent/run"]);
    assert_eq!(out.status.code(), Some(254), "{}", describe(&out));

    let help = env.ballot(&["test", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = text(&help.stdout);
    for flag in [
        "--nodes",
        "--time-limit",
        "--concurrency",
        "--rate",
        "--workload",
        "--nemesis ",
        "--nemesis-interval",
        "--nemesis-targets",
        "--seed",
        "--test-count",
        "--node-cmd",
        "--bug",
        "--client-bug",
        "--store",
        "--op-timeout",
        "--model",
        "--list-bugs",
        "--direct",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    let help = env.ballot(&["bench", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = text(&help.stdout);
    for flag in [
        "--seconds",
        "--concurrency",
        "--rate",
        "--nodes",
        "--seed",
        "--store",
        "--out",
    ] {
        assert!(help.contains(flag), "bench --help lacks {flag}");
    }
    let bugs = env.ballot(&["test", "--list-bugs"]);
    assert_eq!(bugs.status.code(), Some(0));
    assert!(text(&bugs.stdout).contains("memory-only"));
    assert!(text(&bugs.stdout).contains("own-value"));
}

#[test]
fn a_restarted_node_is_fenced_so_durability_bugs_show_on_the_register() {
    // One hot key: without the fence, clients write the restarted node's key
    // again before its restart snapshot, and the loss hides.
    let env = Env::new();
    let out = env.test(&[
        "--bug",
        "memory-only",
        "--workload",
        "register",
        "--nemesis",
        "kill",
        "--nemesis-interval",
        "1",
        "--time-limit",
        "6",
        "--seed",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let results = read_json(&env.latest().join("results.json"));
    let properties: Vec<&str> = results["checkers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["violations"].as_array().into_iter().flatten())
        .filter_map(|v| v["property"].as_str())
        .collect();
    assert!(properties.contains(&"durability"), "{properties:?}");
    // Requests the fence refused never reached a node.
    let log: Vec<Exchange> = read_jsonl(&env.latest().join("messages.jsonl"));
    assert!(log
        .iter()
        .filter(|e| e.fate == Fate::Refused)
        .all(|e| e.delivered.is_none()));
    // Coverage is printed and stored.
    assert!(text(&out.stdout).contains("coverage: promise-reported-accepted"));
    // memory-only restarts empty: no restart snapshot holds an accepted value.
    assert_eq!(results["coverage"]["restart-with-accepted"], 0);
    assert!(results["coverage"]["promise-reported-accepted"].as_u64() > Some(0));
}

#[test]
fn state_triggered_faults_fire_on_acks_and_rounds_and_are_recorded() {
    let env = Env::new();
    let out = env.test(&[
        "--nemesis",
        "kill-on-ack,minimal-quorum",
        "--nemesis-interval",
        "0.5",
        "--workload",
        "kv",
        "--rate",
        "0",
        "--time-limit",
        "5",
        "--seed",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let run = env.latest();
    let records: Vec<NemesisRecord> = read_jsonl(&run.join("nemesis.jsonl"));
    let starts = |fault: &str| -> Vec<&NemesisRecord> {
        records
            .iter()
            .filter(|r| r.phase == FaultPhase::Start && r.fault.name() == fault)
            .collect()
    };
    // Each kill-on-ack that fired killed the node whose ack fired it, right
    // after that ack reached the proxy.
    let fired: Vec<&NemesisRecord> = starts("kill-on-ack")
        .into_iter()
        .filter(|r| !r.detail["trigger"].is_null())
        .collect();
    assert!(!fired.is_empty(), "no kill-on-ack fired: {records:?}");
    for r in &fired {
        let trigger = &r.detail["trigger"];
        assert_eq!(r.nodes, [trigger["node"].as_u64().unwrap()]);
        assert_eq!(r.detail["pids"].as_array().unwrap().len(), 1);
        let gap_ms = (r.time - trigger["replied"].as_u64().unwrap()) as f64 / 1e6;
        assert!(gap_ms < 100.0, "killed {gap_ms} ms after the ack");
    }
    // While a minimal quorum is on, no accept round reaches more than a
    // majority (2 of 3) of the nodes; some accepts were held back.
    let windows: Vec<(u64, u64)> = starts("minimal-quorum")
        .iter()
        .map(|s| {
            let stop = records
                .iter()
                .find(|r| r.phase == FaultPhase::Stop && r.time >= s.time && r.fault == s.fault)
                .unwrap();
            (s.time, stop.time)
        })
        .collect();
    assert!(!windows.is_empty());
    let log: Vec<Exchange> = read_jsonl(&run.join("messages.jsonl"));
    // The stop record is written just after the fault is lifted: an accept
    // received in the last moment may be admitted after that, so the last
    // 50 ms of each window are left out.
    let inside = |e: &Exchange| {
        windows
            .iter()
            .any(|&(a, b)| a < e.sent && e.sent + 50_000_000 < b)
    };
    let mut delivered: BTreeMap<String, usize> = BTreeMap::new();
    let mut held_back = 0;
    for e in log.iter().filter(|e| e.path == "/v1/accept" && inside(e)) {
        if e.duplicate_of.is_some() {
            continue;
        }
        match e.fate {
            Fate::DroppedRequest => held_back += 1,
            _ => {
                *delivered
                    .entry(format!("{}{}", e.request["key"], e.request["ballot"]))
                    .or_default() += 1
            }
        }
    }
    assert!(held_back > 0, "no accept was held back");
    assert!(delivered.values().all(|&n| n <= 2), "{delivered:?}");
}

#[test]
fn a_proposer_bug_is_caught_with_a_reproduce_line() {
    let env = Env::new();
    let out = env.test(&[
        "--time-limit",
        "3",
        "--nemesis",
        "none",
        "--rate",
        "0",
        "--client-bug",
        "own-value",
        "--seed",
        "11",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("verdict: INVALID"), "{stdout}");
    assert!(stdout.contains("first violation: "), "{stdout}");
    assert!(
        stdout.contains("REPRODUCE WITH: ballot test --time-limit 3 --rate 0 --nemesis none"),
        "{stdout}"
    );
    assert!(stdout.contains("--client-bug own-value"), "{stdout}");
    let results = read_json(&env.latest().join("results.json"));
    assert_eq!(results["valid"], Value::Bool(false));
}

#[test]
fn direct_runs_refuse_link_faults_and_have_no_message_log() {
    let env = Env::new();
    let out = env.test(&[
        "--direct",
        "--nemesis",
        "kill,partition",
        "--time-limit",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(254), "{}", describe(&out));
    assert_eq!(
        text(&out.stderr).trim_end(),
        "error: --direct bypasses the proxy, so it cannot inject link faults (partition); \
         pass --nemesis with kill, pause, power-fail or none"
    );
    assert!(
        !env.store().join("latest").exists(),
        "a refused run makes no folder"
    );

    // Process faults still work. The verdict is unknown (exit 2), not valid:
    // with no message log the Paxos checks have no evidence.
    let out = env.test(&[
        "--direct",
        "--nemesis",
        "kill",
        "--nemesis-interval",
        "0.5",
        "--time-limit",
        "2",
        "--rate",
        "60",
        "--seed",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("verdict: UNKNOWN"), "{stdout}");
    assert!(
        stdout.contains(
            "REPRODUCE WITH: ballot test --time-limit 2 --rate 60 --nemesis kill --nemesis-interval 0.5"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("--direct --seed 5"), "{stdout}");
    let run = env.latest();
    assert!(
        !run.join("messages.jsonl").exists(),
        "a direct run writes no message log"
    );
    let test = read_json(&run.join("test.json"));
    assert_eq!(test["direct"], Value::Bool(true));
    let results = read_json(&run.join("results.json"));
    let verdicts: Vec<(String, Value, Value)> = results["checkers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["valid"].clone(),
                c["reason"].clone(),
            )
        })
        .collect();
    let no_log = Value::from(
        "no message log (--direct): the clients bypassed the proxy, so no exchange was recorded",
    );
    assert_eq!(
        verdicts,
        vec![
            ("linearizable".to_string(), Value::Bool(true), Value::Null),
            ("paxos".to_string(), Value::from("unknown"), no_log.clone()),
            (
                "learners".to_string(),
                Value::from("unknown"),
                no_log.clone()
            ),
            ("acceptor-spec".to_string(), Value::from("unknown"), no_log),
            ("stats".to_string(), Value::Bool(true), Value::Null),
        ]
    );
    let history: Vec<Event> = read_jsonl(&run.join("history.jsonl"));
    assert!(history
        .iter()
        .any(|e| e.kind == EventType::Ok && e.f == "propose"));
    let kills = read_jsonl::<NemesisRecord>(&run.join("nemesis.jsonl"))
        .into_iter()
        .filter(|r| r.fault.name() == "kill" && r.phase == FaultPhase::Start)
        .count();
    assert!(kills >= 1, "seed 5 kills a node within 2 s");
    assert_all_healed(&run);
    common::assert_gone(&node_pids(&stdout, &run));

    // `ballot check` gives the same verdict and reasons, offline.
    let json = env.ballot(&["check", &run.display().to_string(), "--json"]);
    assert_eq!(json.status.code(), Some(2), "{}", describe(&json));
    let rechecked: Value = serde_json::from_slice(&json.stdout).expect("--json prints JSON");
    assert_eq!(rechecked, results);
}

#[test]
fn the_python_example_acceptor_passes() {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python-acceptor/acceptor.py");
    let python = Command::new("python3").arg("--version").output();
    if !matches!(&python, Ok(o) if o.status.success()) {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    if !script.is_file() {
        eprintln!("skipped: {} does not exist yet", script.display());
        return;
    }
    let env = Env::new();
    let node_cmd = format!(
        "python3 {} --id {{id}} --listen 127.0.0.1:{{port}} --data-dir {{data_dir}}",
        script.display()
    );
    let out = env.test(&[
        "--time-limit",
        "4",
        "--nemesis-interval",
        "1",
        "--rate",
        "40",
        "--node-cmd",
        &node_cmd,
        "--seed",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(text(&out.stdout).contains("verdict: VALID"));
}

/// The command of the JavaScript example acceptor (`examples/js-acceptor`),
/// or `None` (skipped) when Node.js is not installed.
fn js_acceptor_cmd(extra: &str) -> Option<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/js-acceptor/acceptor.js");
    let node = Command::new("node").arg("--version").output();
    if !matches!(&node, Ok(o) if o.status.success()) {
        eprintln!("skipped: node (Node.js) is not installed");
        return None;
    }
    Some(format!(
        "node {} --id {{id}} --listen 127.0.0.1:{{port}} --data-dir {{data_dir}}{extra}",
        script.display()
    ))
}

#[test]
fn the_js_acceptor_passes_the_default_profile_and_its_amnesia_is_caught() {
    let Some(correct) = js_acceptor_cmd("") else {
        return;
    };
    let env = Env::new();
    // The default profile (no configuration flag), its phases shortened.
    let out = env.test(&["--time-limit", "8", "--node-cmd", &correct, "--seed", "5"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("== phase 3 of 3: crash"), "{stdout}");
    assert!(
        stdout.contains("profile default: every phase VALID"),
        "{stdout}"
    );
    let amnesia = js_acceptor_cmd(" --bug amnesia").unwrap();
    let out = env.test(&[
        "--profile",
        "crash",
        "--time-limit",
        "4",
        "--node-cmd",
        &amnesia,
        "--seed",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let results = read_json(&env.latest().join("results.json"));
    assert!(results.to_string().contains("\"durability\""), "{results}");
    assert!(text(&out.stdout).contains("REPRODUCE WITH: ballot test --profile single"));
}

// ---------------------------------------------------------------- power failure

/// Lazyfs mounts at or under `dir` (mounts are shared by every process of
/// this mount namespace, so the `ballot` child's show up here).
fn lazyfs_mounts_under(dir: &Path) -> Vec<PathBuf> {
    use ballot_lazyfs::mount;
    let dir = dir.canonicalize().unwrap();
    mount::mounts()
        .unwrap()
        .into_iter()
        .filter(|m| m.fs_type == mount::FS_TYPE && m.mount_point.starts_with(&dir))
        .map(|m| m.mount_point)
        .collect()
}

/// Start records of power failures in the run's `nemesis.jsonl`.
fn power_fail_starts(run: &Path) -> Vec<NemesisRecord> {
    read_jsonl::<NemesisRecord>(&run.join("nemesis.jsonl"))
        .into_iter()
        .filter(|r| r.fault.name() == "power-fail" && r.phase == FaultPhase::Start)
        .collect()
}

/// After a power-fail run: nothing mounted, no `disk/` left, every node's
/// files in `data/`.
fn assert_unmounted_with_files_in_data(env: &Env, run: &Path, nodes: usize) {
    assert_eq!(lazyfs_mounts_under(env.store()), Vec::<PathBuf>::new());
    for id in 0..nodes {
        let dir = run.join(format!("nodes/{id}"));
        assert!(!dir.join("disk").exists(), "nodes/{id}/disk is left");
        let files = std::fs::read_dir(dir.join("data"))
            .unwrap_or_else(|e| panic!("nodes/{id}/data: {e}"))
            .count();
        assert!(files > 0, "nodes/{id}/data holds none of the node's files");
    }
}

#[test]
fn a_power_fail_run_on_the_correct_node_is_valid_and_leaves_nothing_mounted() {
    if !common::can_mount() {
        return;
    }
    let env = Env::new();
    let out = env.test(&[
        "--time-limit",
        "4",
        "--nemesis",
        "power-fail",
        "--nemesis-interval",
        "0.7",
        "--rate",
        "60",
        "--seed",
        "7",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("verdict: VALID"), "{stdout}");
    assert!(stdout.contains("--nemesis power-fail"), "{stdout}");
    let run = env.latest();
    let starts = power_fail_starts(&run);
    assert!(!starts.is_empty(), "no power failure in {}", run.display());
    for r in &starts {
        let pids = r.detail["pids"].as_array().unwrap();
        assert_eq!(pids.len(), r.nodes.len(), "{:?}", r.detail);
        assert!(r.detail["files"].is_u64(), "{:?}", r.detail);
        assert!(r.detail["bytes_lost"].is_u64(), "{:?}", r.detail);
        assert_eq!(r.detail["lost"].as_array().unwrap().len(), r.nodes.len());
    }
    let history: Vec<Event> = read_jsonl(&run.join("history.jsonl"));
    for f in ["start-power-fail", "stop-power-fail"] {
        assert!(
            history
                .iter()
                .any(|e| e.process == Process::nemesis() && e.f == f),
            "no {f} in the history"
        );
    }
    // Every power failure was followed by a restart snapshot.
    let snapshots: Vec<Value> = read_jsonl(&run.join("snapshots.jsonl"));
    let restarts = snapshots
        .iter()
        .filter(|s| s["reason"] == "restart")
        .count();
    let failed: usize = starts.iter().map(|r| r.nodes.len()).sum();
    assert!(
        restarts >= failed,
        "{restarts} restarts for {failed} power failures"
    );
    assert_all_healed(&run);
    common::assert_gone(&node_pids(&stdout, &run));
    assert_unmounted_with_files_in_data(&env, &run, 3);

    // The stored run reads back as any other: `ballot check` reproduces the
    // verdict, and replay's loader takes power failures as kills/restarts.
    let run_arg = run.display().to_string();
    let json = env.ballot(&["check", &run_arg, "--json"]);
    assert_eq!(json.status.code(), Some(0), "{}", describe(&json));
    let rechecked: Value = serde_json::from_slice(&json.stdout).expect("--json prints JSON");
    assert_eq!(rechecked, read_json(&run.join("results.json")));
    assert!(run.join("report.html").is_file());
    let loaded = ballot::replay::load_run(&run).expect("replay loads the run");
    let kills = ballot::replay::schedule::schedule(
        &loaded.messages,
        &loaded.nemesis,
        &loaded.snapshots,
        &loaded.history,
    )
    .iter()
    .filter(|t| matches!(t.item, ballot::replay::schedule::Item::Kill { .. }))
    .count();
    assert_eq!(kills, failed, "replay sees each power failure as a kill");
}

#[test]
fn power_failures_catch_a_node_that_replies_before_its_state_is_durable() {
    if !common::can_mount() {
        return;
    }
    let env = Env::new();
    // Bounded: at most this many seeds; report how many it took.
    const SEEDS: u64 = 6;
    let mut caught = None;
    for seed in 1..=SEEDS {
        let out = env.test(&[
            "--time-limit",
            "5",
            "--nemesis",
            "power-fail",
            "--nemesis-interval",
            "0.5",
            "--rate",
            "100",
            "--bug",
            "reply-before-durable",
            "--seed",
            &seed.to_string(),
        ]);
        match out.status.code() {
            Some(0) => {}
            Some(1) => {
                caught = Some((seed, out));
                break;
            }
            _ => panic!("seed {seed}: {}", describe(&out)),
        }
    }
    let (seed, out) = caught.unwrap_or_else(|| panic!("not caught in {SEEDS} seeds"));
    eprintln!("reply-before-durable caught by power-fail at seed {seed}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("verdict: INVALID"), "{stdout}");
    assert!(stdout.contains("REPRODUCE WITH: ballot test"), "{stdout}");
    let run = env.latest();
    let results = read_json(&run.join("results.json"));
    assert_eq!(results["valid"], Value::Bool(false));
    assert!(!power_fail_starts(&run).is_empty());
    assert_unmounted_with_files_in_data(&env, &run, 3);
}

#[test]
fn the_python_example_acceptor_survives_power_failures() {
    if !common::can_mount() {
        return;
    }
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python-acceptor/acceptor.py");
    let python = Command::new("python3").arg("--version").output();
    if !matches!(&python, Ok(o) if o.status.success()) || !script.is_file() {
        eprintln!("skipped: python3 or {} is missing", script.display());
        return;
    }
    let env = Env::new();
    let node_cmd = format!(
        "python3 {} --id {{id}} --listen 127.0.0.1:{{port}} --data-dir {{data_dir}}",
        script.display()
    );
    let out = env.test(&[
        "--time-limit",
        "4",
        "--nemesis",
        "power-fail",
        "--nemesis-interval",
        "0.7",
        "--rate",
        "40",
        "--node-cmd",
        &node_cmd,
        "--seed",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(text(&out.stdout).contains("verdict: VALID"));
    let run = env.latest();
    assert!(!power_fail_starts(&run).is_empty());
    assert_unmounted_with_files_in_data(&env, &run, 3);
}

#[test]
fn a_second_sigint_kills_the_nodes_and_detaches_every_mount() {
    if !common::can_mount() {
        return;
    }
    let env = Env::new();
    let store = env.store_arg();
    let mut child = Command::new(BALLOT)
        .args([
            "test",
            "--store",
            &store,
            "--time-limit",
            "120",
            "--nemesis",
            "power-fail",
            "--nemesis-interval",
            "0.3",
            "--rate",
            "50",
            "--seed",
            "4",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ballot");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.contains("nodes: ") {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        printed.push_str(&line);
    }
    assert!(printed.contains("nodes: "), "{printed}");
    assert_eq!(lazyfs_mounts_under(env.store()).len(), 3);
    // Wait for a power failure in force (a node down: healing takes a restart).
    let run = env.latest();
    let deadline = Instant::now() + Duration::from_secs(30);
    while power_fail_starts(&run).is_empty() {
        assert!(Instant::now() < deadline, "no power failure after 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let mut line = String::new();
    while !line.contains("stopping early") {
        line.clear();
        assert_ne!(stderr.read_line(&mut line).unwrap(), 0, "stderr closed");
    }
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(255), "{rest}");
    assert!(rest.contains("detached 3 lazyfs mount(s)"), "{rest}");
    assert_eq!(lazyfs_mounts_under(env.store()), Vec::<PathBuf>::new());
    // SIGKILLed but not reaped by ballot: init reaps them once it exited.
    let pids = node_pids(&printed, &run);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids.iter().all(|&p| common::pid_gone(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    common::assert_gone(&pids);
}

#[test]
fn power_fail_without_fuse_rights_is_a_one_line_harness_failure() {
    // Runs `ballot` as user nobody, who may not mount(2); needs root to switch.
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let setpriv = Command::new("setpriv").arg("--version").output();
    if !root || !matches!(&setpriv, Ok(o) if o.status.success()) {
        eprintln!("SKIPPED: needs root and setpriv to run ballot as an unprivileged user");
        return;
    }
    let env = Env::new();
    let store = env.store_arg();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BALLOT])
        .args([
            "test",
            "--store",
            &store,
            "--time-limit",
            "2",
            "--nemesis",
            "kill,power-fail",
        ])
        .output()
        .expect("run setpriv");
    assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: --nemesis power-fail needs a lazyfs (FUSE) mount"),
        "{stderr}"
    );
    assert!(!text(&out.stdout).contains("verdict"));
    assert_eq!(
        std::fs::read_dir(env.store()).unwrap().count(),
        0,
        "no run folder for a run that cannot start"
    );
}

#[test]
fn only_a_power_failure_catches_a_foreign_node_that_never_fsyncs() {
    if !common::can_mount() {
        return;
    }
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python-acceptor/acceptor.py");
    let python = Command::new("python3").arg("--version").output();
    if !matches!(&python, Ok(o) if o.status.success()) || !script.is_file() {
        eprintln!("skipped: python3 or {} is missing", script.display());
        return;
    }
    let env = Env::new();
    // The Python acceptor with fsync switched off: its writes reach only the
    // page cache, which survives kill -9 but not a power failure.
    let node_cmd = format!(
        "python3 -c 'import os, runpy, sys; os.fsync = lambda fd: None; \
         sys.argv = [\"acceptor.py\"] + sys.argv[1:]; \
         runpy.run_path(\"{}\", run_name=\"__main__\")' \
         --id {{id}} --listen 127.0.0.1:{{port}} --data-dir {{data_dir}}",
        script.display()
    );
    let run = |nemesis: &str, seed: u64| {
        env.test(&[
            "--time-limit",
            "3",
            "--nemesis",
            nemesis,
            "--nemesis-interval",
            "0.4",
            "--rate",
            "60",
            "--node-cmd",
            &node_cmd,
            "--seed",
            &seed.to_string(),
        ])
    };
    let killed = run("kill", 1);
    assert_eq!(killed.status.code(), Some(0), "{}", describe(&killed));
    const SEEDS: u64 = 3;
    let caught = (1..=SEEDS).find_map(|seed| {
        let out = run("power-fail", seed);
        match out.status.code() {
            Some(0) => None,
            Some(1) => Some(out),
            _ => panic!("seed {seed}: {}", describe(&out)),
        }
    });
    let out = caught.unwrap_or_else(|| panic!("not caught in {SEEDS} seeds"));
    assert!(text(&out.stdout).contains("verdict: INVALID"));
    let lost: u64 = power_fail_starts(&env.latest())
        .iter()
        .map(|r| r.detail["bytes_lost"].as_u64().unwrap())
        .sum();
    assert!(lost > 0, "a node that never fsyncs lost no bytes");
    assert_unmounted_with_files_in_data(&env, &env.latest(), 3);
}

#[test]
fn node_proposers_run_valid_with_every_exchange_through_the_proxy() {
    let env = Env::new();
    let out = env.test(&[
        "--proposers",
        "nodes",
        "--time-limit",
        "4",
        "--nemesis",
        "partition",
        "--nemesis-interval",
        "1",
        "--seed",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let run = env.latest();
    let messages: Vec<Value> = read_jsonl(&run.join("messages.jsonl"));
    let count = |pred: &dyn Fn(&Value) -> bool| messages.iter().filter(|m| pred(m)).count();
    let path = |m: &Value| m["path"].as_str().unwrap_or_default().to_string();
    // Clients ask the node on their host; nodes reach every node, themselves included.
    assert!(
        count(&|m| path(m) == "/v1/propose") > 0,
        "no client propose recorded"
    );
    assert_eq!(
        count(&|m| path(m) == "/v1/propose" && m["from"] != m["to"]),
        0,
        "a client asked a node off its host"
    );
    let paxos = |m: &Value| ["/v1/prepare", "/v1/accept", "/v1/learn"].contains(&path(m).as_str());
    assert!(
        count(&|m| paxos(m) && m["from"] != m["to"]) > 0,
        "no node-to-node exchange"
    );
    // The partitions cut node-to-node links, and the log shows it.
    let nemesis: Vec<NemesisRecord> = read_jsonl(&run.join("nemesis.jsonl"));
    assert!(
        nemesis
            .iter()
            .any(|r| r.fault == ballot_core::fault::FaultKind::Partition),
        "no partition in 4 s at one fault a second"
    );
    assert!(
        count(&|m| paxos(m) && m["fate"] == "cut" && m["from"] != m["to"]) > 0,
        "a partition never blocked a node-to-node exchange"
    );
    let test = read_json(&run.join("test.json"));
    assert_eq!(test["proposers"], "nodes");
    assert_all_healed(&run);
}

#[test]
fn a_node_side_proposer_bug_is_caught() {
    let env = Env::new();
    let out = env.test(&[
        "--proposers",
        "nodes",
        "--client-bug",
        "own-value",
        "--time-limit",
        "4",
        "--nemesis",
        "none",
        "--rate",
        "0",
        "--seed",
        "11",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("--proposers nodes"), "{stdout}");
    assert!(stdout.contains("--client-bug own-value"), "{stdout}");
    // The bug is in the nodes: each started its proposer role with it.
    let log = std::fs::read_to_string(env.latest().join("nodes/0/stderr.log")).unwrap();
    assert!(
        log.contains("proposer role") && log.contains("OwnValue"),
        "{log}"
    );
}

/// The Python example's node command with the proposer role, or `None` when
/// python3 is missing.
fn python_proposer_cmd(extra: &str) -> Option<String> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python-acceptor/acceptor.py");
    let python = Command::new("python3").arg("--version").output();
    if !matches!(&python, Ok(o) if o.status.success()) {
        eprintln!("skipped: python3 is not installed");
        return None;
    }
    Some(format!(
        "python3 {} --id {{id}} --listen 127.0.0.1:{{port}} --data-dir {{data_dir}} --peers {{peers}}{extra}",
        script.display()
    ))
}

#[test]
fn the_python_example_proposer_passes_and_its_bug_is_caught() {
    let Some(good) = python_proposer_cmd("") else {
        return;
    };
    let env = Env::new();
    // `{peers}` in the command picks node proposers without --proposers.
    let base = [
        "--time-limit",
        "4",
        "--nemesis-interval",
        "1",
        "--rate",
        "40",
    ];
    let mut args = base.to_vec();
    args.extend(["--node-cmd", &good, "--seed", "3"]);
    let out = env.test(&args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        read_json(&env.latest().join("test.json"))["proposers"],
        Value::Null
    );
    let messages: Vec<Value> = read_jsonl(&env.latest().join("messages.jsonl"));
    assert!(messages.iter().any(|m| m["path"] == "/v1/propose"));

    let bad = python_proposer_cmd(" --proposer-bug own-value").unwrap();
    let mut args = base.to_vec();
    args.extend(["--nemesis", "none", "--node-cmd", &bad, "--seed", "11"]);
    let out = env.test(&args);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

#[test]
fn node_proposers_need_nodes_with_the_proposer_role() {
    let env = Env::new();
    // A v1 acceptor-only node: the wrapper drops the `--peers ...` words the
    // harness appends, so /v1/health lists only the acceptor role.
    let node_cmd = format!(
        "sh -c 'exec {} --id $1 --listen 127.0.0.1:$2 --data-dir $3' sh {{id}} {{port}} {{data_dir}}",
        common::node_bin().display()
    );
    let out = env.test(&[
        "--proposers",
        "nodes",
        "--time-limit",
        "2",
        "--node-cmd",
        &node_cmd,
    ]);
    assert_eq!(out.status.code(), Some(255), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("not the proposer role"), "{stderr}");
    // The same node in clients mode is a valid v1 acceptor.
    let out = env.test(&["--time-limit", "2", "--node-cmd", &node_cmd, "--seed", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    // Given {peers} (which it ignores) and no --proposers, the harness goes by
    // its /v1/health: no proposer role, so ballot's clients propose.
    let ignores_peers = format!("{node_cmd} {{peers}}");
    let out = env.test(&[
        "--time-limit",
        "2",
        "--node-cmd",
        &ignores_peers,
        "--seed",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("ballot's clients propose"),
        "{}",
        describe(&out)
    );
}

// ---- ballot check FILE (no nodes) ----------------------------------------------

/// A Jepsen EDN history (Knossos's shape): a write of 1, then a read of `read`
/// by another process; `f` is the read's function.
fn edn_history(f: &str, read: &str) -> String {
    format!(
        "[{{:process 0, :type :invoke, :f :write, :value 1}}\n \
         {{:process 0, :type :ok, :f :write, :value 1}}\n \
         {{:process :nemesis, :type :info, :f :start, :value nil}}\n \
         {{:process 1, :type :invoke, :f :{f}, :value nil}}\n \
         {{:process 1, :type :ok, :f :{f}, :value {read}}}]\n"
    )
}

/// Writes `text` to `name` in `dir` and returns its path as a string.
fn history_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Runs `ballot` with `args` and stdout/stderr captured.
fn ballot_check(args: &[&str]) -> Output {
    Command::new(BALLOT)
        .args(args)
        .output()
        .expect("run ballot check")
}

#[test]
fn check_file_reads_jepsen_edn_histories() {
    let dir = tempfile::tempdir().unwrap();
    let valid = history_file(dir.path(), "valid.edn", &edn_history("read", "1"));
    let invalid = history_file(dir.path(), "invalid.edn", &edn_history("read", "2"));
    for (file, code, verdict) in [(&valid, 0, "VALID"), (&invalid, 1, "INVALID")] {
        for format in [None, Some("jepsen-edn")] {
            let mut args = vec!["check", file.as_str()];
            args.extend(format.map(|f| ["--format", f]).into_iter().flatten());
            let out = ballot_check(&args);
            assert_eq!(
                out.status.code(),
                Some(code),
                "{args:?}: {}",
                describe(&out)
            );
            assert!(
                text(&out.stdout).starts_with(&format!("verdict: {verdict} (exit {code})")),
                "{}",
                describe(&out)
            );
        }
    }
    let out = ballot_check(&["check", &valid, "--json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lin = &json["checkers"][0];
    assert_eq!(
        (
            &lin["name"],
            &lin["stats"]["model"],
            &lin["stats"]["reading"]
        ),
        (
            &json!("linearizable"),
            &json!("cas-register"),
            &json!("knossos")
        )
    );
}

/// Runs `ballot` with a stdout pipe whose read end is closed before it
/// starts: its first write to stdout fails with EPIPE, as under `| head -1`.
fn ballot_with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader);
    Command::new(BALLOT)
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run ballot")
}

#[test]
fn check_file_exits_with_the_verdict_when_stdout_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            history_file(dir.path(), "valid.edn", &edn_history("read", "1")),
            0,
        ),
        (
            history_file(dir.path(), "invalid.edn", &edn_history("read", "2")),
            1,
        ),
        // `txn` is not a cas-register op: the checker cannot decide.
        (
            history_file(dir.path(), "unknown.edn", &edn_history("txn", "[]")),
            2,
        ),
    ];
    for (file, code) in &cases {
        for json in [false, true] {
            let mut args = vec!["check", file.as_str()];
            if json {
                args.push("--json");
            }
            let out = ballot_with_closed_stdout(&args);
            assert_eq!(
                out.status.code(),
                Some(*code),
                "{args:?}: {}",
                describe(&out)
            );
            assert_eq!(text(&out.stderr), "", "{args:?}: stderr must stay quiet");
        }
    }
}

#[test]
fn other_commands_exit_quietly_when_stdout_is_closed() {
    // Commands that print a listing or a summary, each with its own exit
    // code; none may panic on EPIPE (it used to exit 101).
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty-store");
    std::fs::create_dir_all(&empty).unwrap();
    let empty = empty.display().to_string();
    let out_dir = dir.path().join("merged").display().to_string();
    let cases: [(Vec<&str>, i32); 3] = [
        (vec!["test", "--list-bugs"], 0),
        (vec!["conform", "--list"], 0),
        (vec!["merge", &empty, "--out", &out_dir], 254),
    ];
    for (args, code) in &cases {
        let out = ballot_with_closed_stdout(args);
        assert_eq!(
            out.status.code(),
            Some(*code),
            "{args:?}: {}",
            describe(&out)
        );
        assert!(
            !text(&out.stderr).contains("panicked"),
            "{args:?}: {}",
            describe(&out)
        );
    }
}

#[test]
fn an_empty_history_file_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [("empty.jsonl", ""), ("blank.edn", "\n  \n\t\n")] {
        let file = history_file(dir.path(), name, content);
        for format in [None, Some("ballot"), Some("jepsen-edn")] {
            let mut args = vec!["check", file.as_str()];
            args.extend(format.map(|f| ["--format", f]).into_iter().flatten());
            let out = ballot_check(&args);
            assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
            assert!(
                text(&out.stdout).starts_with("verdict: VALID (exit 0)"),
                "{}",
                describe(&out)
            );
        }
    }
}

#[test]
fn a_history_file_that_does_not_parse_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let edn = history_file(
        dir.path(),
        "broken.edn",
        "[{:process 0, :type :invoke, :f :read, :value nil}\n {:process 0, :type :ok, :f :read, :value nil}\n {:process 1 :type :invoke :f :read :value \"x]\n",
    );
    let op = history_file(
        dir.path(),
        "op.edn",
        "{:process 0, :type :invoke, :f :read}\n{:process 0, :type :done, :f :read}\n",
    );
    let jsonl = history_file(
        dir.path(),
        "broken.jsonl",
        "{\"index\":0,\"time\":0,\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"x\",\"value\":null}\n{\"index\":1,\n",
    );
    let unknown = history_file(dir.path(), "prose.txt", "hello\n");
    for (file, want) in [
        (&edn, "line 3, column 44: unterminated string"),
        (
            &op,
            "line 2, column 1: :type must be :invoke, :ok, :fail or :info",
        ),
        (&jsonl, "line 2: "),
        (&unknown, "unrecognised history format"),
    ] {
        let out = ballot_check(&["check", file]);
        assert_eq!(out.status.code(), Some(254), "{file}: {}", describe(&out));
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with(&format!("error: {file}: {want}")),
            "{file}: {stderr}"
        );
        assert_eq!(text(&out.stdout), "", "{file}");
    }
}

#[test]
fn four_shards_merged_give_the_table_of_one_unsharded_run() {
    let env = Env::new();
    let shape = [
        "--time-limit",
        "1",
        "--nemesis",
        "none",
        "--test-count",
        "4",
        "--seed",
        "40",
    ];
    let store = |name: &str| env.store().join(name).display().to_string();
    let whole = store("whole");
    let mut args = vec!["test", "--store", &whole];
    args.extend_from_slice(&shape);
    let out = env.ballot(&args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let shards: Vec<String> = (1..=4).map(|i| store(&format!("shard-{i}"))).collect();
    for (i, dir) in shards.iter().enumerate() {
        let shard = format!("{}/4", i + 1);
        let mut args = vec!["test", "--store", dir, "--shard", &shard];
        args.extend_from_slice(&shape);
        let out = env.ballot(&args);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        // Shard i of 4 runs exactly one of the 4 seeds: 40 + i.
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains(&format!("(seed {}, shard {shard})", 40 + i)),
            "{stdout}"
        );
    }
    let merged_whole = store("merged-whole");
    let out = env.ballot(&["merge", &whole, "--out", &merged_whole]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let merged_shards = store("merged-shards");
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(String::as_str));
    args.extend(["--out", &merged_shards]);
    let out = env.ballot(&args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let read = |dir: &str, file: &str| std::fs::read_to_string(Path::new(dir).join(file)).unwrap();
    let table = read(&merged_whole, "summary.md");
    for seed in 40..44 {
        assert!(table.contains(&format!("| {seed} |")), "{table}");
    }
    assert_eq!(read(&merged_shards, "summary.md"), table);
    assert_eq!(
        read(&merged_shards, "junit.xml"),
        read(&merged_whole, "junit.xml")
    );
    // No run folder at all is bad input.
    let empty = store("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = env.ballot(&["merge", &empty, "--out", &store("merged-empty")]);
    assert_eq!(out.status.code(), Some(254), "{}", describe(&out));
}
