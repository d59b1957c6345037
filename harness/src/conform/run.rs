//! Carrying out one check against real processes: start its fresh nodes
//! (folders under the check's own directory), run its steps in order,
//! judge each reply ([`judge`]), and kill what is left.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::clock::Clock;
use crate::cluster::{self, error_chain, Cluster, ClusterError, ClusterSpec, Termination};
use crate::store::JsonlWriter;
use crate::Error;

use super::expect::{judge, Reply};
use super::rules::{Rule, Setup};
use super::script::{Action, Method, Request, Step};

/// How long a node has to exit after SIGTERM: the harness's own grace
/// before it sends SIGKILL.
pub const SIGTERM_BOUND: Duration = cluster::SHUTDOWN_GRACE;

/// The node under test: its command template, and what is appended to it.
#[derive(Clone, Debug)]
pub struct Target {
    /// The `--node-cmd` template.
    pub node_cmd: String,
    /// Words appended to every node's command (`--bug NAME`).
    pub extra_args: Vec<String>,
    /// The default command, our `ballot-node`: proposer checks add
    /// `--peers {peers}` to it, as `ballot test --proposers nodes` does.
    pub ours: bool,
    /// How long a node has to answer `/v1/health` after a start.
    pub health_timeout: Duration,
}

impl Target {
    /// Whether the command, as given, hands the nodes their `{peers}`.
    pub fn has_peers(&self) -> bool {
        self.node_cmd.contains("{peers}") || self.extra_args.iter().any(|w| w.contains("{peers}"))
    }
}

/// How one check ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every step went as the rule says.
    Pass,
    /// A step did not.
    Fail(Box<Failure>),
    /// The check does not apply to this node (the reason says why).
    Skip(String),
}

/// A failed check: the step, what was sent, expected and what came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The steps that went as expected before it, described.
    pub done: Vec<String>,
    /// The failing step (its number is `done.len() + 1`); `None` when the
    /// nodes did not even start.
    pub step: Option<String>,
    /// Why the expectation holds, from the rule table ("" when obvious).
    pub why: String,
    /// What had to come back.
    pub expected: String,
    /// What came back.
    pub got: String,
    /// The first thing that differs.
    pub wrong: String,
    /// The stderr log of the node that failed.
    pub log: Option<PathBuf>,
}

/// Why a check could not be carried out.
#[derive(Debug)]
pub enum Unrun {
    /// Its nodes did not start (the caller decides whether that is a
    /// failed check or a harness failure).
    Start(ClusterError),
    /// The harness itself failed.
    Harness(Error),
}

impl Failure {
    /// The failure of a check whose nodes did not start.
    pub fn start(error: &ClusterError, timeout: Duration) -> Failure {
        Failure {
            done: Vec::new(),
            step: None,
            why: String::new(),
            expected: format!(
                "every node starts and answers GET /v1/health with 200 within {} s",
                timeout.as_secs_f64()
            ),
            got: error.to_string(),
            wrong: "the node did not start".into(),
            log: None,
        }
    }
}

/// Runs one check in `dir` (created; node `i` lives in `dir/nodes/i/`).
pub async fn run_check(
    rule: &Rule,
    target: &Target,
    dir: &Path,
    http: &reqwest::Client,
) -> Result<Outcome, Unrun> {
    if rule.setup == Setup::Proposers && !target.ours && !target.has_peers() {
        return Ok(Outcome::Skip(
            "the node command has no {peers}, so the proposer role (protocol v1.1) is not checked"
                .into(),
        ));
    }
    let mut cluster = start(rule, target, dir).await.map_err(Unrun::Start)?;
    if rule.setup == Setup::Proposers && !cluster.all_propose() {
        kill_all(&mut cluster).await;
        return Ok(Outcome::Skip(
            "given {peers}, the nodes' /v1/health does not list \"proposer\": an acceptor-only (v1) node"
                .into(),
        ));
    }
    let steps = (rule.script)();
    let outcome = run_steps(&mut cluster, &steps, http).await;
    kill_all(&mut cluster).await;
    outcome.map_err(Unrun::Harness)
}

/// Starts the check's nodes on fresh ports and data dirs, with `{peers}`
/// (every node's direct address) when the command asks for them. A port
/// taken between picking and binding is picked again once.
async fn start(rule: &Rule, target: &Target, dir: &Path) -> Result<Cluster, ClusterError> {
    let n = rule.setup.nodes();
    let mut extra_args = target.extra_args.clone();
    if rule.setup == Setup::Proposers && target.ours && !target.has_peers() {
        extra_args.extend(["--peers".to_string(), "{peers}".to_string()]);
    }
    let wants_peers = target.has_peers() || rule.setup == Setup::Proposers && target.ours;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let ports = fresh_ports(n).map_err(|source| ClusterError::Io {
            path: PathBuf::from("127.0.0.1:0"),
            source,
        })?;
        let peers = if wants_peers {
            vec![peer_list(&ports); n]
        } else {
            Vec::new()
        };
        let spec = ClusterSpec {
            nodes: n,
            node_cmd: target.node_cmd.clone(),
            extra_args: extra_args.clone(),
            run_dir: dir.to_path_buf(),
            health_timeout: target.health_timeout,
            ports,
            peers,
            require_proposer: false,
            lenient_health: true,
        };
        let discard = JsonlWriter::create(Path::new("/dev/null"))?;
        match Cluster::start(spec, Clock::start(), discard).await {
            Err(ClusterError::PortInUse { .. }) if attempt < 2 => continue,
            other => return other,
        }
    }
}

/// Ports this process has handed to a node, never handed out again: checks
/// run in parallel, and a check that stops a node and starts it again on
/// its port must not find that port taken by another check's new node.
static HANDED_OUT: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());

/// `n` distinct free loopback ports that no earlier check of this process got.
fn fresh_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..100 {
        let ports = cluster::free_ports(n)?;
        if ports.iter().all(|p| !handed_out.contains(p)) {
            handed_out.extend(&ports);
            return Ok(ports);
        }
    }
    Err(std::io::Error::other(
        "no free loopback ports left that this run has not used",
    ))
}

/// `{peers}` for nodes on `ports`: `0=127.0.0.1:P0,1=127.0.0.1:P1,...`,
/// the same list for every node (each reaches the others directly).
fn peer_list(ports: &[u16]) -> String {
    ports
        .iter()
        .enumerate()
        .map(|(id, port)| format!("{id}=127.0.0.1:{port}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A step that did not go as expected: expected, got, the first difference.
type Miss = (String, String, String);

/// Runs the steps in order and stops at the first that fails.
async fn run_steps(
    cluster: &mut Cluster,
    steps: &[Step],
    http: &reqwest::Client,
) -> Result<Outcome, Error> {
    let mut done = Vec::new();
    for step in steps {
        if let Err((expected, mut got, wrong)) = run_step(cluster, step, http).await? {
            for exit in cluster.check_exits() {
                got.push_str(&format!(
                    "\n            (node {} exited with {}; the last lines of its stderr:\n{})",
                    exit.node, exit.status, exit.stderr_tail
                ));
            }
            let log = cluster
                .node_dir(step.node)
                .ok()
                .map(|d| d.join("stderr.log"));
            return Ok(Outcome::Fail(Box::new(Failure {
                done,
                step: Some(step.describe()),
                why: step.why.to_string(),
                expected,
                got,
                wrong,
                log,
            })));
        }
        done.push(step.describe());
    }
    Ok(Outcome::Pass)
}

/// Carries out one step. The outer error is the harness's; the inner one
/// is the node's.
async fn run_step(
    cluster: &mut Cluster,
    step: &Step,
    http: &reqwest::Client,
) -> Result<Result<(), Miss>, Error> {
    let node = step.node;
    Ok(match &step.action {
        Action::Send { request, expect } => match send(http, cluster.addr(node), request).await {
            Ok(reply) => {
                judge(expect, &reply).map_err(|wrong| (expect.describe(), reply.describe(), wrong))
            }
            Err(e) => Err((
                expect.describe(),
                format!("no reply: {e}"),
                "the node did not answer".into(),
            )),
        },
        Action::Kill => {
            cluster.kill(node).await?;
            Ok(())
        }
        Action::Restart => match cluster.relaunch(node).await {
            Ok(_) => Ok(()),
            Err(e) => Err((
                "it starts again and answers GET /v1/health with 200".into(),
                e.to_string(),
                "it did not start again on its data dir".into(),
            )),
        },
        Action::Stop => {
            cluster.terminate(node, SIGTERM_BOUND).await?;
            Ok(())
        }
        Action::Terminate => match cluster.terminate(node, SIGTERM_BOUND).await? {
            Termination::Exited { .. } => Ok(()),
            Termination::Killed { pid } => Err((
                format!("it exits within {} s", SIGTERM_BOUND.as_secs_f64()),
                format!(
                    "pid {pid} still ran {} s after SIGTERM (it was SIGKILLed then)",
                    SIGTERM_BOUND.as_secs_f64()
                ),
                "SIGTERM did not stop it".into(),
            )),
        },
    })
}

/// Sends one request and reads the whole reply.
async fn send(
    http: &reqwest::Client,
    addr: SocketAddr,
    request: &Request,
) -> Result<Reply, String> {
    let url = format!("http://{addr}{}", request.path);
    let mut builder = match request.method {
        Method::Get => http.get(&url),
        Method::Post => http.post(&url),
    };
    if let Some(body) = &request.body {
        builder = builder
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
    }
    if let Some((name, value)) = &request.header {
        builder = builder.header(*name, value.as_str());
    }
    let resp = builder.send().await.map_err(|e| error_chain(&e))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| error_chain(&e))?;
    Ok(Reply::new(status, body.to_vec()))
}

/// SIGKILLs and reaps every node still running (a check's end).
async fn kill_all(cluster: &mut Cluster) {
    for id in 0..cluster.len() {
        if cluster.is_running(id) {
            let _ = cluster.kill(id).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_gets_every_address_as_its_peers() {
        assert_eq!(
            peer_list(&[7000, 7001, 7002]),
            "0=127.0.0.1:7000,1=127.0.0.1:7001,2=127.0.0.1:7002"
        );
    }
}
