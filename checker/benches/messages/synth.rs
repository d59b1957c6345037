//! A generator of run folders for a simulated Basic Paxos cluster: correct
//! acceptors and proposers (or one chosen bug), a lossy proxy, restarts.
//!
//! Used by the `messages` bench (millions of exchanges) and by the
//! invariant tests (a valid run must give no violation; a buggy one must be
//! caught). The simulation is sequential: each step advances one in-flight
//! operation by one phase, so operations on the same key interleave, and
//! exchange times are assigned so that an exchange the simulation processed
//! later is never surely before one it processed earlier.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{self, Write};

use ballot_core::protocol::{Accepted, Ballot, InstanceState, StateReply};
use ballot_core::records::{Snapshot, SnapshotReason};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

/// A deliberate mistake the simulation can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// Proposers propose their own value, ignoring reported ones.
    ProposerIgnoresAccepted,
    /// Acceptors forget everything when restarted.
    AcceptorForgetsOnRestart,
    /// Acceptors grant accepts below their promise.
    AcceptBelowPromise,
}

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Config {
    /// Number of acceptors.
    pub nodes: usize,
    /// Concurrent client processes.
    pub clients: usize,
    /// Keys in the hot window at any time (contention grows as it shrinks).
    pub window: usize,
    /// Operations started per key, on average, before the window moves on.
    pub ops_per_key: usize,
    /// Stop after this many exchanges.
    pub exchanges: usize,
    /// Restart a node every this many exchanges (0: never).
    pub restart_every: usize,
    /// Percent of exchanges that are lost, cut, duplicated or time out.
    pub fault_percent: u32,
    /// Random seed.
    pub seed: u64,
    /// A mistake to make, if any.
    pub bug: Option<Bug>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            nodes: 3,
            clients: 8,
            window: 4,
            ops_per_key: 5,
            exchanges: 10_000,
            restart_every: 2_000,
            fault_percent: 12,
            seed: 1,
            bug: None,
        }
    }
}

/// Counts of what was written.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Exchanges in `messages.jsonl`.
    pub exchanges: usize,
    /// Events in `history.jsonl`.
    pub events: usize,
    /// Operations that completed ok.
    pub ok_ops: usize,
    /// Keys touched.
    pub keys: usize,
    /// Restarts simulated.
    pub restarts: usize,
}

/// An acceptor's answer: (ok, promised, accepted).
type Answer = (bool, Option<Ballot>, Option<(Ballot, u32)>);
/// What a client heard: (ok, reported accepted proposal).
type Heard = Option<(bool, Option<(Ballot, u32)>)>;

#[derive(Clone, Default)]
struct Acceptor {
    promised: Option<Ballot>,
    accepted: Option<(Ballot, u32)>,
    learned: Option<u32>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Prepare,
    Accept(u32),
    Learn(u32),
    Done(Outcome),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok(Option<u32>),
    Fail,
    Info,
}

struct Op {
    slot: usize,
    process: u64,
    key: usize,
    own: Option<u32>,
    ballot: Ballot,
    phase: Phase,
    ready_at: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Ok,
    DroppedRequest,
    DroppedResponse,
    Cut,
    Timeout,
    Duplicated,
}

struct Sim<'w> {
    cfg: Config,
    rng: ChaCha8Rng,
    now: u64,
    next_id: u64,
    next_event: u64,
    /// `nodes[j][key]`.
    nodes: Vec<Vec<Acceptor>>,
    rounds: Vec<u64>,
    values: Vec<String>,
    messages: &'w mut dyn Write,
    history: &'w mut dyn Write,
    snapshots: &'w mut dyn Write,
    summary: Summary,
}

/// Simulates a run and writes its `messages.jsonl`, `history.jsonl` and
/// `snapshots.jsonl` (restart snapshots, then one final per node).
pub fn generate(
    cfg: &Config,
    messages: &mut dyn Write,
    history: &mut dyn Write,
    snapshots: &mut dyn Write,
) -> io::Result<Summary> {
    let mut sim = Sim {
        cfg: cfg.clone(),
        rng: ChaCha8Rng::seed_from_u64(cfg.seed),
        now: 1_000,
        next_id: 0,
        next_event: 0,
        nodes: vec![Vec::new(); cfg.nodes],
        rounds: Vec::new(),
        values: Vec::new(),
        messages,
        history,
        snapshots,
        summary: Summary::default(),
    };
    sim.run()?;
    Ok(sim.summary)
}

/// Writes a whole run folder (with `test.json` and an empty
/// `nemesis.jsonl`) into `dir`.
pub fn write_run(dir: &std::path::Path, cfg: &Config) -> io::Result<Summary> {
    let open = |name: &str| -> io::Result<io::BufWriter<std::fs::File>> {
        Ok(io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(dir.join(name))?,
        ))
    };
    let mut m = open("messages.jsonl")?;
    let mut h = open("history.jsonl")?;
    let mut s = open("snapshots.jsonl")?;
    let summary = generate(cfg, &mut m, &mut h, &mut s)?;
    m.flush()?;
    h.flush()?;
    s.flush()?;
    std::fs::write(dir.join("nemesis.jsonl"), "")?;
    std::fs::write(
        dir.join("test.json"),
        format!(
            "{{\"workload\":\"synth\",\"nodes\":{},\"seed\":{}}}\n",
            cfg.nodes, cfg.seed
        ),
    )?;
    Ok(summary)
}

/// Bodies are written as the proxy writes them: a `serde_json::Value`
/// keeps object keys sorted, so fields come in alphabetical order.
fn ballot_json(b: Ballot) -> String {
    format!("{{\"proposer\":{},\"round\":{}}}", b.proposer, b.round)
}

impl Sim<'_> {
    fn majority(&self) -> usize {
        self.cfg.nodes / 2 + 1
    }

    fn run(&mut self) -> io::Result<()> {
        let clients = self.cfg.clients;
        let mut processes: Vec<u64> = (0..clients as u64).collect();
        let mut busy = vec![false; clients];
        let mut ops: Vec<Op> = Vec::new();
        let mut started = 0usize;
        let mut next_restart = self.cfg.restart_every;
        while self.summary.exchanges < self.cfg.exchanges || !ops.is_empty() {
            let stop_starting = self.summary.exchanges >= self.cfg.exchanges;
            if !stop_starting {
                if let Some(slot) = busy.iter().position(|b| !b) {
                    let key = started / self.cfg.ops_per_key.max(1)
                        + self.rng.random_range(0..self.cfg.window.max(1));
                    started += 1;
                    while self.rounds.len() <= key {
                        self.rounds.push(0);
                        for node in &mut self.nodes {
                            node.push(Acceptor::default());
                        }
                    }
                    let process = processes[slot];
                    let own = if self.rng.random_range(0..10) == 0 {
                        None
                    } else {
                        self.values.push(format!("{process}-{started}"));
                        Some(self.values.len() as u32 - 1)
                    };
                    self.now += 3;
                    let f = if own.is_some() { "propose" } else { "read" };
                    self.event(process, "invoke", f, key, own)?;
                    busy[slot] = true;
                    ops.push(Op {
                        slot,
                        process,
                        key,
                        own,
                        ballot: Ballot::new(0, process),
                        phase: Phase::Prepare,
                        ready_at: self.now,
                    });
                    continue;
                }
            }
            let pick = self.rng.random_range(0..ops.len());
            self.now = self.now.max(ops[pick].ready_at) + 1;
            let done = self.step(&mut ops[pick])?;
            if let Some(outcome) = done {
                let op = ops.swap_remove(pick);
                busy[op.slot] = false;
                if outcome == Outcome::Info {
                    processes[op.slot] += clients as u64;
                }
            }
            if self.cfg.restart_every > 0 && self.summary.exchanges >= next_restart {
                next_restart += self.cfg.restart_every;
                let node = self.rng.random_range(0..self.cfg.nodes);
                self.restart(node)?;
            }
        }
        for node in 0..self.cfg.nodes {
            self.now += 10;
            self.snapshot(node, SnapshotReason::Final)?;
        }
        self.summary.keys = self.rounds.len();
        Ok(())
    }

    /// Advances one operation by one phase; returns its outcome when done.
    fn step(&mut self, op: &mut Op) -> io::Result<Option<Outcome>> {
        let majority = self.majority();
        match op.phase {
            Phase::Prepare => {
                self.rounds[op.key] += 1;
                op.ballot = Ballot::new(self.rounds[op.key], op.process);
                let mut promises: Vec<Option<(Ballot, u32)>> = Vec::new();
                let mut last = self.now;
                for j in 0..self.cfg.nodes {
                    let (reply, replied) = self.exchange(op, j, "prepare", None)?;
                    last = last.max(replied);
                    if let Some((true, accepted)) = reply {
                        promises.push(accepted);
                    }
                }
                op.ready_at = last + 1;
                op.phase = if promises.len() < majority {
                    Phase::Done(Outcome::Fail)
                } else {
                    let highest = promises.iter().flatten().max().map(|a| a.1);
                    let value = match self.cfg.bug {
                        Some(Bug::ProposerIgnoresAccepted) => op.own.or(highest),
                        _ => highest.or(op.own),
                    };
                    match value {
                        Some(v) => Phase::Accept(v),
                        None => Phase::Done(Outcome::Ok(None)),
                    }
                };
            }
            Phase::Accept(v) => {
                let mut acks = 0;
                let mut last = self.now;
                for j in 0..self.cfg.nodes {
                    let (reply, replied) = self.exchange(op, j, "accept", Some(v))?;
                    last = last.max(replied);
                    if let Some((true, _)) = reply {
                        acks += 1;
                    }
                }
                op.ready_at = last + 1;
                op.phase = if acks >= majority {
                    Phase::Learn(v)
                } else {
                    Phase::Done(Outcome::Info)
                };
            }
            Phase::Learn(v) => {
                let mut last = self.now;
                for j in 0..self.cfg.nodes {
                    let (_, replied) = self.exchange(op, j, "learn", Some(v))?;
                    last = last.max(replied);
                }
                op.ready_at = last + 1;
                op.phase = Phase::Done(Outcome::Ok(Some(v)));
            }
            Phase::Done(outcome) => {
                let (kind, value) = match outcome {
                    Outcome::Ok(v) => {
                        self.summary.ok_ops += 1;
                        ("ok", v)
                    }
                    Outcome::Fail => ("fail", op.own),
                    Outcome::Info => ("info", op.own),
                };
                let f = if op.own.is_some() { "propose" } else { "read" };
                self.event(op.process, kind, f, op.key, value)?;
                return Ok(Some(outcome));
            }
        }
        Ok(None)
    }

    fn roll_fate(&mut self) -> Fate {
        let roll = self.rng.random_range(0..100 * 6);
        if roll >= self.cfg.fault_percent * 6 {
            return Fate::Ok;
        }
        match roll % 6 {
            0 => Fate::DroppedRequest,
            1 => Fate::DroppedResponse,
            2 => Fate::Cut,
            3 => Fate::Timeout,
            _ => Fate::Duplicated,
        }
    }

    /// One request to node `j`, with a random fate. Returns what the client
    /// heard (`ok`, reported accepted proposal) and when the exchange ended.
    fn exchange(
        &mut self,
        op: &Op,
        j: usize,
        kind: &str,
        value: Option<u32>,
    ) -> io::Result<(Heard, u64)> {
        let fate = self.roll_fate();
        let sent = self.now;
        self.now += 2;
        let delivered = sent + 20 + self.rng.random_range(0..20);
        let replied = delivered + 30 + self.rng.random_range(0..30);
        let reaches = !matches!(fate, Fate::DroppedRequest | Fate::Cut);
        let mut answer = None;
        if reaches {
            answer = Some(self.process(j, op, kind, value));
        }
        let id = self.write_exchange(op, j, kind, value, fate, sent, delivered, replied, answer)?;
        let heard = match fate {
            Fate::Ok | Fate::Duplicated => answer.map(|(ok, _, acc)| (ok, acc)),
            _ => None,
        };
        let mut end = if reaches { replied } else { sent + 1 };
        if fate == Fate::Duplicated {
            // The proxy delivers the same request again; the node processes it.
            let d2 = replied + 1;
            let r2 = d2 + 30;
            let again = self.process(j, op, kind, value);
            self.write_dup(op, j, kind, value, id, sent, d2, r2, again)?;
            end = r2;
            // Later exchanges are processed after the duplicate, so they
            // must not look surely before it.
            self.now = self.now.max(r2 + 1);
        }
        Ok((heard, end))
    }

    /// The acceptor's rules; returns (ok, promised, accepted).
    fn process(&mut self, j: usize, op: &Op, kind: &str, value: Option<u32>) -> Answer {
        let bug = self.cfg.bug;
        let a = &mut self.nodes[j][op.key];
        let b = op.ballot;
        match kind {
            "prepare" => {
                if Some(b) >= a.promised {
                    a.promised = Some(b);
                    (true, a.promised, a.accepted)
                } else {
                    (false, a.promised, a.accepted)
                }
            }
            "accept" => {
                let granted = if bug == Some(Bug::AcceptBelowPromise) {
                    Some(b) >= a.accepted.map(|x| x.0)
                } else {
                    Some(b) >= a.promised
                };
                if granted {
                    a.promised = Some(b);
                    a.accepted = Some((b, value.expect("accept value")));
                    (true, a.promised, None)
                } else {
                    (false, a.promised, None)
                }
            }
            _ => {
                let v = value.expect("learn value");
                match a.learned {
                    Some(l) if l != v => (false, None, None),
                    _ => {
                        a.learned = Some(v);
                        (true, None, None)
                    }
                }
            }
        }
    }

    fn request_json(&self, op: &Op, kind: &str, value: Option<u32>) -> String {
        match value {
            Some(v) if kind != "prepare" => format!(
                "{{\"ballot\":{},\"key\":\"k{}\",\"value\":\"{}\"}}",
                ballot_json(op.ballot),
                op.key,
                self.values[v as usize]
            ),
            _ => format!(
                "{{\"ballot\":{},\"key\":\"k{}\"}}",
                ballot_json(op.ballot),
                op.key,
            ),
        }
    }

    fn response_json(&self, kind: &str, (ok, promised, accepted): Answer) -> (u16, String) {
        match kind {
            "prepare" => (
                200,
                format!(
                    "{{\"accepted\":{},\"ok\":{ok},\"promised\":{}}}",
                    match accepted {
                        Some((b, v)) => format!(
                            "{{\"ballot\":{},\"value\":\"{}\"}}",
                            ballot_json(b),
                            self.values[v as usize]
                        ),
                        None => "null".into(),
                    },
                    ballot_json(promised.expect("promised")),
                ),
            ),
            "accept" => (
                200,
                format!(
                    "{{\"ok\":{ok},\"promised\":{}}}",
                    ballot_json(promised.expect("promised"))
                ),
            ),
            _ if ok => (200, "{\"ok\":true}".into()),
            _ => (409, "{\"error\":\"a different value was learned\"}".into()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write_exchange(
        &mut self,
        op: &Op,
        j: usize,
        kind: &str,
        value: Option<u32>,
        fate: Fate,
        sent: u64,
        delivered: u64,
        replied: u64,
        answer: Option<Answer>,
    ) -> io::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let fate_name = match fate {
            Fate::Ok | Fate::Duplicated => "ok",
            Fate::DroppedRequest => "dropped-request",
            Fate::DroppedResponse => "dropped-response",
            Fate::Cut => "cut",
            Fate::Timeout => "timeout",
        };
        let delivered_json = match fate {
            Fate::DroppedRequest | Fate::Cut => "null".to_string(),
            _ => delivered.to_string(),
        };
        let (status, response, replied_json) = match (fate, answer) {
            (Fate::Timeout, _) | (_, None) => {
                ("null".to_string(), "null".to_string(), "null".to_string())
            }
            (_, Some(a)) => {
                let (s, body) = self.response_json(kind, a);
                (s.to_string(), body, replied.to_string())
            }
        };
        let request = self.request_json(op, kind, value);
        writeln!(
            self.messages,
            "{{\"id\":{id},\"from\":{},\"to\":{j},\"process\":{},\"path\":\"/v1/{kind}\",\"request\":{request},\"status\":{status},\"response\":{response},\"sent\":{sent},\"delivered\":{delivered_json},\"replied\":{replied_json},\"fate\":\"{fate_name}\"}}",
            op.slot, op.process,
        )?;
        self.summary.exchanges += 1;
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    fn write_dup(
        &mut self,
        op: &Op,
        j: usize,
        kind: &str,
        value: Option<u32>,
        original: u64,
        sent: u64,
        delivered: u64,
        replied: u64,
        answer: Answer,
    ) -> io::Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let (status, response) = self.response_json(kind, answer);
        let request = self.request_json(op, kind, value);
        writeln!(
            self.messages,
            "{{\"id\":{id},\"from\":{},\"to\":{j},\"process\":{},\"path\":\"/v1/{kind}\",\"request\":{request},\"status\":{status},\"response\":{response},\"sent\":{sent},\"delivered\":{delivered},\"replied\":{replied},\"fate\":\"duplicated\",\"duplicate_of\":{original}}}",
            op.slot, op.process,
        )?;
        self.summary.exchanges += 1;
        Ok(())
    }

    fn event(
        &mut self,
        process: u64,
        kind: &str,
        f: &str,
        key: usize,
        value: Option<u32>,
    ) -> io::Result<()> {
        let value = match value {
            Some(v) => format!("\"{}\"", self.values[v as usize]),
            None => "null".into(),
        };
        writeln!(
            self.history,
            "{{\"index\":{},\"time\":{},\"process\":{process},\"type\":\"{kind}\",\"f\":\"{f}\",\"key\":\"k{key}\",\"value\":{value}}}",
            self.next_event, self.now,
        )?;
        self.next_event += 1;
        self.summary.events += 1;
        Ok(())
    }

    fn restart(&mut self, node: usize) -> io::Result<()> {
        if self.cfg.bug == Some(Bug::AcceptorForgetsOnRestart) {
            for a in &mut self.nodes[node] {
                *a = Acceptor::default();
            }
        }
        self.now += 5;
        self.summary.restarts += 1;
        self.snapshot(node, SnapshotReason::Restart)
    }

    fn snapshot(&mut self, node: usize, reason: SnapshotReason) -> io::Result<()> {
        let mut instances = BTreeMap::new();
        for (key, a) in self.nodes[node].iter().enumerate() {
            if a.promised.is_none() && a.accepted.is_none() && a.learned.is_none() {
                continue;
            }
            instances.insert(
                format!("k{key}"),
                InstanceState {
                    promised: a.promised,
                    accepted: a.accepted.map(|(b, v)| Accepted {
                        ballot: b,
                        value: self.values[v as usize].clone(),
                    }),
                    learned: a.learned.map(|v| self.values[v as usize].clone()),
                },
            );
        }
        let snapshot = Snapshot {
            time: self.now,
            replied: Some(self.now),
            node: node as u64,
            reason,
            state: StateReply {
                node: node as u64,
                instances,
            },
        };
        serde_json::to_writer(&mut *self.snapshots, &snapshot)?;
        writeln!(self.snapshots)
    }
}
