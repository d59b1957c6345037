//! The proxy mesh: one HTTP listener per directed link, recording every
//! exchange to `messages.jsonl`.
//!
//! Client host `h` reaches node `j` only through `endpoint(h, j)`, a
//! listener on `127.0.0.1` that forwards to node `j`, so the link
//! (host `h` -> node `j`) can be cut, made lossy, slow or duplicating
//! independently of every other link, while traffic flows. The whole mesh
//! runs on one dedicated thread with a single-threaded tokio runtime; call
//! [`Mesh::close`] before closing the message log so no record is lost.
//!
//! # One exchange
//!
//! 1. Read the client's whole request; give it an id; time `sent`.
//! 2. Draw a [`Decision`] from the link's behaviour with the link's own RNG
//!    (seeded from the mesh seed and the link, so a link's fate sequence
//!    depends only on the seed and on the order of its own exchanges).
//! 3. The rest runs in its own task, so it finishes and is recorded even if
//!    the client hangs up:
//!    - cut -> fate `cut`; dropped request -> `dropped-request`: the node
//!      never sees it, and the client's connection is closed at once
//!      (what loss looks like to a client: no answer; closing instead of
//!      holding keeps tests fast);
//!    - otherwise wait the link's delay, time `delivered`, forward over a
//!      keep-alive connection ([`pool`]), time `replied`;
//!    - node down -> `refused`, the client gets `502` (definitely not
//!      delivered); no complete answer within the upstream timeout (a paused
//!      node) -> `timeout`, the client gets `504` (it may still be
//!      processed), and the proxy keeps waiting (for
//!      [`MeshOptions::late_answer_wait`] more) to record the node's late
//!      answer and its time, so the checker knows what the node did with
//!      it and when; connection broken mid-request -> `timeout`, the client's
//!      connection is closed (unknown);
//!    - dropped response -> `dropped-response` (the node's answer is still
//!      recorded), the client's connection is closed; otherwise `ok` and
//!      the node's status and body go back to the client (if the client
//!      has gone by then, the fate is `dropped-response`).
//!    - duplicate -> a second delivery of the same request a few
//!      milliseconds later, recorded as its own exchange with fate
//!      `duplicated` and `duplicate_of`; its answer goes nowhere. (If that
//!      second delivery is refused or times out, its fate says so instead.)
//!      When the original is refused, the client gets no answer rather
//!      than `502`: the duplicate may still land if the node comes back.
//!      A client's `/v1/propose` or `/v1/read` (protocol v1.1) is never
//!      duplicated: the node would run the operation twice, so no node could
//!      keep a definite failure.
//! 4. Write the [`Exchange`] when it is complete (so lines are in completion
//!    order; sort by `sent` or `id` for request order).
//!
//! A later scripted-scenario feature can hold, release or drop single
//! messages by adding an interceptor consulted between steps 2 and 3
//! (`Decision` is the natural thing for it to return, plus "hold until
//! released"); `LinkState` is where it would hang.

mod forward;
pub mod pool;
pub mod trigger;

pub use trigger::{Fired, Watch};

use forward::run_mesh;
#[cfg(test)]
use forward::Forward;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ballot_core::records::Exchange;
use rand::rngs::ChaCha8Rng;
use rand::SeedableRng;
use tokio::sync::{oneshot, watch};

use crate::clock::Clock;
use crate::links::{Decision, Link, LinkBehaviour, LinkError};
use crate::store::JsonlWriter;
use pool::Pool;

/// Tuning of the mesh.
#[derive(Clone, Copy, Debug)]
pub struct MeshOptions {
    /// How long the proxy waits for a node's complete answer before it
    /// answers the client `504` (the exchange's fate is then `timeout`).
    pub upstream_timeout: Duration,
    /// How much longer it keeps waiting, after that `504`, to record the
    /// node's late answer (a paused node serves its queue once resumed).
    pub late_answer_wait: Duration,
    /// Largest request body the proxy reads (larger ones get `413` and no record).
    pub body_limit: usize,
}

impl Default for MeshOptions {
    fn default() -> Self {
        MeshOptions {
            upstream_timeout: Duration::from_secs(2),
            late_answer_wait: Duration::from_secs(10),
            body_limit: 16 * 1024 * 1024,
        }
    }
}

/// One directed link's mutable state.
struct LinkState {
    link: Link,
    behaviour: RwLock<LinkBehaviour>,
    rng: Mutex<ChaCha8Rng>,
}

impl LinkState {
    fn decide(&self) -> Decision {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let behaviour = *self.behaviour.read().unwrap_or_else(|e| e.into_inner());
        behaviour.decide(&mut *rng)
    }
}

struct Shared {
    hosts: usize,
    nodes: usize,
    links: Vec<LinkState>,
    pools: Vec<Pool>,
    /// Per node: refuse every request for it (a restarted node before its
    /// restart snapshot), as if it were still down.
    fenced: Vec<AtomicBool>,
    /// State-triggered faults ([`trigger`]).
    triggers: trigger::Triggers,
    clock: Clock,
    log: JsonlWriter<Exchange>,
    next_id: AtomicU64,
    in_flight: AtomicUsize,
    options: MeshOptions,
}

/// The running proxy mesh. It runs on its own thread with a single-threaded
/// tokio runtime (no cross-worker wake-ups; isolated from the clients'
/// scheduling). Dropping it stops it like [`Mesh::shutdown`].
pub struct Mesh {
    shared: Arc<Shared>,
    endpoints: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    done: Mutex<Option<oneshot::Receiver<()>>>,
}

/// Counts an exchange as in flight while it lives.
struct InFlight(Arc<Shared>);

impl InFlight {
    fn new(shared: &Arc<Shared>) -> Self {
        shared.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Mesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mesh")
            .field("hosts", &self.shared.hosts)
            .field("nodes", &self.shared.nodes)
            .finish()
    }
}

/// The seed of one link's RNG: the mesh seed mixed with the link (SplitMix64).
fn link_seed(seed: u64, link: Link) -> u64 {
    fn splitmix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    splitmix(seed ^ splitmix(((link.host as u64) << 32) | link.node as u64))
}

impl Mesh {
    /// Starts `hosts * nodes.len()` listeners with default [`MeshOptions`].
    pub async fn start(
        hosts: usize,
        nodes: Vec<SocketAddr>,
        clock: Clock,
        log: JsonlWriter<Exchange>,
        seed: u64,
    ) -> io::Result<Mesh> {
        Self::start_with(hosts, nodes, clock, log, seed, MeshOptions::default()).await
    }

    /// Starts the mesh with explicit options: binds every listener on its
    /// own thread and runtime, and returns once all are listening.
    pub async fn start_with(
        hosts: usize,
        nodes: Vec<SocketAddr>,
        clock: Clock,
        log: JsonlWriter<Exchange>,
        seed: u64,
        options: MeshOptions,
    ) -> io::Result<Mesh> {
        let n_nodes = nodes.len();
        let links = (0..hosts)
            .flat_map(|host| (0..n_nodes).map(move |node| Link::new(host, node)))
            .map(|link| LinkState {
                link,
                behaviour: RwLock::new(LinkBehaviour::PASS),
                rng: Mutex::new(ChaCha8Rng::seed_from_u64(link_seed(seed, link))),
            })
            .collect();
        let shared = Arc::new(Shared {
            hosts,
            nodes: n_nodes,
            links,
            fenced: (0..n_nodes).map(|_| AtomicBool::new(false)).collect(),
            triggers: trigger::Triggers::default(),
            pools: nodes.into_iter().map(Pool::new).collect(),
            clock,
            log,
            next_id: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            options,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("ballot-proxy".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(run_mesh(thread_shared, shutdown_rx, ready_tx));
                drop(runtime);
                let _ = done_tx.send(());
            })?;
        let endpoints = ready_rx
            .await
            .map_err(|_| io::Error::other("the proxy thread died while starting"))??;
        Ok(Mesh {
            shared,
            endpoints,
            shutdown,
            done: Mutex::new(Some(done_rx)),
        })
    }

    /// Number of client hosts.
    pub fn hosts(&self) -> usize {
        self.shared.hosts
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.shared.nodes
    }

    fn index(&self, host: usize, node: usize) -> Result<usize, LinkError> {
        if host < self.shared.hosts && node < self.shared.nodes {
            Ok(host * self.shared.nodes + node)
        } else {
            Err(LinkError::NoSuchLink {
                host,
                node,
                hosts: self.shared.hosts,
                nodes: self.shared.nodes,
            })
        }
    }

    /// Where a client on `host` sends requests for `node`. Panics outside the mesh.
    pub fn endpoint(&self, host: usize, node: usize) -> SocketAddr {
        self.endpoints[self.index(host, node).expect("endpoint outside the mesh")]
    }

    /// The endpoints of every node as seen from `host`, by node id.
    pub fn endpoints_for(&self, host: usize) -> Vec<SocketAddr> {
        (0..self.shared.nodes)
            .map(|node| self.endpoint(host, node))
            .collect()
    }

    /// Fences `node` (every request for it is refused, on every link, as if
    /// it were down) or lifts the fence. A node outside the mesh is ignored.
    pub fn fence(&self, node: usize, fenced: bool) {
        if let Some(flag) = self.shared.fenced.get(node) {
            flag.store(fenced, Ordering::Release);
        }
    }

    /// Arms a state trigger ([`Watch`]), replacing any armed one; the
    /// receiver gets what fired it (once).
    pub fn arm(&self, watch: Watch) -> tokio::sync::oneshot::Receiver<Fired> {
        self.shared.triggers.arm(watch)
    }

    /// Disarms the state trigger, if any.
    pub fn disarm(&self) {
        self.shared.triggers.disarm();
    }

    /// Switches the minimal-quorum fault on or off: while on, each accept
    /// round (key, ballot) reaches only the first majority of nodes.
    pub fn set_minimal_quorum(&self, on: bool) {
        self.shared.triggers.set_minimal_quorum(on);
    }

    /// Whether `node` is fenced.
    pub fn is_fenced(&self, node: usize) -> bool {
        self.shared
            .fenced
            .get(node)
            .is_some_and(|f| f.load(Ordering::Acquire))
    }

    /// The current behaviour of one link.
    pub fn link(&self, host: usize, node: usize) -> Result<LinkBehaviour, LinkError> {
        let state = &self.shared.links[self.index(host, node)?];
        Ok(*state.behaviour.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Sets one link's behaviour; takes effect for the next exchange.
    pub fn set_link(
        &self,
        host: usize,
        node: usize,
        behaviour: LinkBehaviour,
    ) -> Result<(), LinkError> {
        self.set_links([Link::new(host, node)], behaviour)
    }

    /// Sets many links to one behaviour. Checks everything first, so an
    /// error changes nothing.
    pub fn set_links<I: IntoIterator<Item = Link>>(
        &self,
        links: I,
        behaviour: LinkBehaviour,
    ) -> Result<(), LinkError> {
        behaviour.validate()?;
        let indices = links
            .into_iter()
            .map(|l| self.index(l.host, l.node))
            .collect::<Result<Vec<_>, _>>()?;
        for i in indices {
            *self.shared.links[i]
                .behaviour
                .write()
                .unwrap_or_else(|e| e.into_inner()) = behaviour;
        }
        Ok(())
    }

    /// Every link back to pass.
    pub fn heal_all(&self) {
        for state in &self.shared.links {
            *state.behaviour.write().unwrap_or_else(|e| e.into_inner()) = LinkBehaviour::PASS;
        }
    }

    /// The links whose behaviour is not pass.
    pub fn faulty_links(&self) -> Vec<(Link, LinkBehaviour)> {
        self.shared
            .links
            .iter()
            .map(|s| {
                (
                    s.link,
                    *s.behaviour.read().unwrap_or_else(|e| e.into_inner()),
                )
            })
            .filter(|(_, b)| !b.is_pass())
            .collect()
    }

    /// True when every link passes everything.
    pub fn is_healed(&self) -> bool {
        self.faulty_links().is_empty()
    }

    /// Exchanges started so far (the next exchange id).
    pub fn exchanges(&self) -> u64 {
        self.shared.next_id.load(Ordering::Relaxed)
    }

    /// Exchanges in progress (including duplicates not yet delivered).
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    /// Stops accepting and closes client connections, without waiting.
    /// Exchanges already in flight towards a node still finish and are
    /// recorded (for at most [`MeshOptions::upstream_timeout`] plus
    /// [`MeshOptions::late_answer_wait`] more).
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Shuts down and waits until every in-flight exchange is recorded and
    /// the proxy thread has stopped. Call it before closing the message log.
    pub async fn close(&self) {
        self.shutdown();
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(done) = done {
            let _ = done.await;
        }
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballot_core::protocol::PROCESS_HEADER;
    use bytes::Bytes;
    use hyper::header::{self, HeaderValue};

    #[test]
    fn link_seeds_differ_per_link_and_seed() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..4 {
            for link in Link::all(5) {
                assert!(seen.insert(link_seed(seed, link)));
            }
        }
        assert_eq!(link_seed(9, Link::new(1, 2)), link_seed(9, Link::new(1, 2)));
    }

    #[test]
    fn hop_by_hop_headers_are_not_forwarded() {
        let mut headers = hyper::HeaderMap::new();
        headers.insert("connection", HeaderValue::from_static("close"));
        headers.insert(PROCESS_HEADER, HeaderValue::from_static("7"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let fwd = Forward {
            method: hyper::Method::POST,
            uri: hyper::Uri::from_static("/v1/prepare"),
            headers,
            body: Bytes::from_static(b"{}"),
        };
        let req = fwd.request("127.0.0.1:9".parse().unwrap());
        assert!(req.headers().get("connection").is_none());
        assert_eq!(req.headers()[PROCESS_HEADER], "7");
        assert_eq!(req.headers()[header::HOST], "127.0.0.1:9");
    }
}
