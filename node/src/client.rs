//! The async HTTP driver that runs a [`Proposer`] against acceptors.
//!
//! [`ProposerClient`] owns the I/O the pure proposer leaves out: it sends
//! each phase to every acceptor at once, feeds each reply (or its absence)
//! to the state machine as soon as it arrives, and moves on the moment the
//! machine has a quorum, without waiting for stragglers. Stragglers keep
//! being read while they arrive within the operation, because a late answer
//! can still decide between `fail` and `info`. When a value is chosen it
//! sends learn to every acceptor in the background and returns at once.
//!
//! Every request carries the client's process id in the
//! [`PROCESS_HEADER`] header so the harness's proxy can attribute it. The
//! HTTP client never retries on its own (see [`http_client`]): a silent
//! resend would put messages on the wire the history cannot explain.
//!
//! # What a missing answer means
//!
//! The fail-versus-info rule ([`ballot_core::proposer::outcome`]) needs to know,
//! for every request without a usable answer, whether it can have reached
//! the acceptor. Only certainty counts as "not delivered":
//!
//! | what the client sees | event | why |
//! |---|---|---|
//! | the connection could not be made (refused, unreachable) | `NotDelivered` | no byte of the request left |
//! | `502 Bad Gateway` | `NotDelivered` | the harness proxy's "node down": it never forwarded the request |
//! | `504 Gateway Timeout` | `NoReply` | the proxy forwarded it and gave up waiting: it may be processed |
//! | connection closed with no answer | `NoReply` | the proxy's cut, dropped request or response, broken connection: unknown |
//! | request timeout | `NoReply` | it may have been processed |
//! | any other error status, a garbled body | `NoReply` | the acceptor may have acted before failing |

use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::ChaCha8Rng;
use rand::RngExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use ballot_core::proposer::{
    Action, ClientBug, Event, Goal, Outcome, Proposer, ProposerConfig, Undelivered,
};
use ballot_core::protocol::{
    validate_key, validate_value, AcceptReply, AcceptRequest, Ballot, LearnReply, LearnRequest,
    NodeId, PrepareReply, PrepareRequest, RequestKind, ACCEPT_PATH, LEARN_PATH, PREPARE_PATH,
    PROCESS_HEADER,
};

/// Why a [`ProposerClient`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The acceptor list is empty.
    #[error("a proposer needs at least one acceptor address")]
    NoAcceptors,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Everything a proposer client needs to know; build with [`ClientConfig::new`]
/// and adjust the public fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Base address of each acceptor, indexed by node id (the harness passes proxy addresses).
    pub acceptors: Vec<SocketAddr>,
    /// The `proposer` half of every ballot; unique per client.
    pub proposer_id: u64,
    /// Client process id sent on every request in [`PROCESS_HEADER`].
    pub process: u64,
    /// Timeout of each single request (connect to end of body).
    pub request_timeout: Duration,
    /// Attempts (rounds with fresh ballots) per operation before giving up.
    pub max_attempts: u32,
    /// Backoff before the second attempt; it doubles per failed attempt.
    pub backoff_min: Duration,
    /// Largest backoff between attempts.
    pub backoff_max: Duration,
    /// Overall time limit of one operation; past it the operation gives up.
    pub deadline: Duration,
    /// Deliberate proposer bugs; empty for the correct proposer.
    pub bugs: Vec<ClientBug>,
}

impl ClientConfig {
    /// A configuration with defaults suited to loopback clusters: 1 s per
    /// request, 5 attempts, 5-100 ms backoff, 5 s per operation, no bugs.
    pub fn new(acceptors: Vec<SocketAddr>, proposer_id: u64, process: u64) -> Self {
        ClientConfig {
            acceptors,
            proposer_id,
            process,
            request_timeout: Duration::from_secs(1),
            max_attempts: 5,
            backoff_min: Duration::from_millis(5),
            backoff_max: Duration::from_millis(100),
            deadline: Duration::from_secs(5),
            bugs: Vec::new(),
        }
    }
}

/// Builds the HTTP client proposers use; one can be shared by many
/// [`ProposerClient`]s (it is a cheap handle to one connection pool).
///
/// No proxy from the environment, HTTP/1 only, and no retry policy at all
/// (reqwest's default retries protocol NACKs; `retry::never()` removes it).
/// The pool may still resend a request that was never written because a
/// reused connection turned out closed; that is invisible on the wire.
pub fn http_client() -> Result<reqwest::Client, ClientError> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .retry(reqwest::retry::never())
        .http1_only()
        .build()?)
}

/// Backoff after the `failed`-th failed attempt (from 1): an exponential
/// cap `min * 2^(failed-1)`, at most `max`, jittered uniformly in `[cap/2, cap]`.
pub fn backoff_delay(failed: u32, min: Duration, max: Duration, rng: &mut ChaCha8Rng) -> Duration {
    let doubling = 1u32 << failed.saturating_sub(1).min(20);
    let cap = min.saturating_mul(doubling).min(max).max(min.min(max));
    let cap_ns = cap.as_nanos() as u64;
    Duration::from_nanos(rng.random_range(cap_ns / 2..=cap_ns))
}

/// A proposer that runs operations against HTTP acceptors (one operation at a time).
#[derive(Debug)]
pub struct ProposerClient {
    http: reqwest::Client,
    config: ClientConfig,
    urls: Vec<String>,
    rng: ChaCha8Rng,
    last_round: u64,
}

/// What waiting for the next reply produced.
enum Next {
    Event(Event),
    /// The time limit passed first.
    TimedOut,
    /// Nothing is in flight.
    Idle,
}

impl ProposerClient {
    /// A client with its own HTTP client (see [`http_client`]).
    pub fn new(config: ClientConfig, rng: ChaCha8Rng) -> Result<Self, ClientError> {
        Self::with_http(http_client()?, config, rng)
    }

    /// A client sharing `http`, which should come from [`http_client`].
    pub fn with_http(
        http: reqwest::Client,
        config: ClientConfig,
        rng: ChaCha8Rng,
    ) -> Result<Self, ClientError> {
        if config.acceptors.is_empty() {
            return Err(ClientError::NoAcceptors);
        }
        let urls = config
            .acceptors
            .iter()
            .map(|addr| format!("http://{addr}"))
            .collect();
        Ok(ProposerClient {
            http,
            config,
            urls,
            rng,
            last_round: 0,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Continues under a new client process id (after an indeterminate op).
    pub fn set_process(&mut self, process: u64) {
        self.config.process = process;
    }

    /// The highest round this client used or saw; its next ballot is above it.
    pub fn last_round(&self) -> u64 {
        self.last_round
    }

    /// Sets the round floor, so the next ballot's round is `round + 1` unless
    /// a reply shows a higher one (scripted scenarios pin ballots this way).
    pub fn set_last_round(&mut self, round: u64) {
        self.last_round = round;
    }

    /// Proposes `value` for `key`; `Ok(Some(chosen))` may carry another value.
    pub async fn propose(&mut self, key: &str, value: &str) -> Outcome {
        if let Err(e) = validate_value(value) {
            return Outcome::Fail(format!("invalid value: {e}"));
        }
        self.run(key, Goal::Propose(value.to_string())).await
    }

    /// Reads the value chosen for `key`: `Ok(None)` when none is chosen yet.
    pub async fn read(&mut self, key: &str) -> Outcome {
        self.run(key, Goal::Read).await
    }

    async fn run(&mut self, key: &str, op: Goal) -> Outcome {
        if let Err(e) = validate_key(key) {
            return Outcome::Fail(format!("invalid key: {e}"));
        }
        let deadline = Instant::now() + self.config.deadline;
        let config = ProposerConfig {
            id: self.config.proposer_id,
            acceptors: self.config.acceptors.len(),
            max_attempts: self.config.max_attempts,
            bugs: self.config.bugs.clone(),
        };
        let mut machine = Proposer::new(config, op, self.last_round);
        // Dropping the set when the operation ends aborts every straggler.
        let mut inflight = JoinSet::new();
        let outcome = self.drive(key, &mut machine, &mut inflight, deadline).await;
        self.last_round = self.last_round.max(machine.round_floor());
        outcome
    }

    async fn drive(
        &mut self,
        key: &str,
        machine: &mut Proposer,
        inflight: &mut JoinSet<Event>,
        deadline: Instant,
    ) -> Outcome {
        let timeout = format!("timeout after {:?}", self.config.deadline);
        let mut action = match machine.begin_attempt() {
            Some(ballot) => Action::SendPrepare(ballot),
            None => return machine.give_up("no attempt allowed"),
        };
        loop {
            action = match action {
                Action::SendPrepare(ballot) => {
                    self.send_prepares(key, ballot, inflight);
                    Action::Wait
                }
                Action::SendAccept { ballot, value } => {
                    self.send_accepts(key, ballot, &value, inflight);
                    Action::Wait
                }
                Action::Chosen { ballot, value } => {
                    self.spawn_learns(key, ballot, &value);
                    return Outcome::Ok(Some(value));
                }
                Action::Done(outcome) => return outcome,
                Action::Wait => match next_event(inflight, deadline).await {
                    Next::Event(event) => machine.handle(event),
                    Next::TimedOut => return machine.give_up(&timeout),
                    Next::Idle => return machine.give_up("no reply outstanding"),
                },
                Action::AttemptFailed => {
                    if !machine.attempts_left() {
                        let why = format!(
                            "no quorum in {} attempts ({})",
                            machine.attempts(),
                            machine.last_failure()
                        );
                        return self.settle(key, machine, inflight, deadline, &why).await;
                    }
                    let pause = backoff_delay(
                        machine.attempts(),
                        self.config.backoff_min,
                        self.config.backoff_max,
                        &mut self.rng,
                    );
                    match back_off(machine, inflight, (Instant::now() + pause).min(deadline)).await
                    {
                        Some(decided) => decided,
                        None if Instant::now() >= deadline => return machine.give_up(&timeout),
                        None => match machine.begin_attempt() {
                            Some(ballot) => Action::SendPrepare(ballot),
                            None => return machine.give_up("no attempt left"),
                        },
                    }
                }
            };
        }
    }

    /// Out of attempts: if the unanswered accepts can still prove the op
    /// failed (or chose a value), wait for them until the deadline.
    async fn settle(
        &mut self,
        key: &str,
        machine: &mut Proposer,
        inflight: &mut JoinSet<Event>,
        deadline: Instant,
        why: &str,
    ) -> Outcome {
        while machine.awaiting_decisive_accepts() {
            match next_event(inflight, deadline).await {
                Next::Event(event) => {
                    if let Action::Chosen { ballot, value } = machine.handle(event) {
                        self.spawn_learns(key, ballot, &value);
                        return Outcome::Ok(Some(value));
                    }
                }
                Next::TimedOut | Next::Idle => break,
            }
        }
        machine.give_up(why)
    }

    fn send_prepares(&self, key: &str, ballot: Ballot, inflight: &mut JoinSet<Event>) {
        let body = PrepareRequest {
            key: key.to_string(),
            ballot,
        };
        for (from, url) in self.endpoints(PREPARE_PATH) {
            let post = self.post::<_, PrepareReply>(url, &body);
            inflight.spawn(async move {
                match post.await {
                    Ok(reply) => Event::Prepare {
                        from,
                        ballot,
                        reply,
                    },
                    Err(miss) => miss.event(from, ballot, RequestKind::Prepare),
                }
            });
        }
    }

    fn send_accepts(&self, key: &str, ballot: Ballot, value: &str, inflight: &mut JoinSet<Event>) {
        let body = AcceptRequest {
            key: key.to_string(),
            ballot,
            value: value.to_string(),
        };
        for (from, url) in self.endpoints(ACCEPT_PATH) {
            let post = self.post::<_, AcceptReply>(url, &body);
            inflight.spawn(async move {
                match post.await {
                    Ok(reply) => Event::Accept {
                        from,
                        ballot,
                        reply,
                    },
                    Err(miss) => miss.event(from, ballot, RequestKind::Accept),
                }
            });
        }
    }

    /// Tells every acceptor the value is chosen, in the background, each
    /// request bounded by the request timeout; failures are ignored.
    fn spawn_learns(&self, key: &str, ballot: Ballot, value: &str) {
        let body = LearnRequest {
            key: key.to_string(),
            ballot,
            value: value.to_string(),
        };
        for (_, url) in self.endpoints(LEARN_PATH) {
            let post = self.post::<_, LearnReply>(url, &body);
            tokio::spawn(async move {
                let _ = post.await;
            });
        }
    }

    fn endpoints(&self, path: &'static str) -> impl Iterator<Item = (NodeId, String)> + '_ {
        self.urls
            .iter()
            .enumerate()
            .map(move |(id, base)| (id as NodeId, format!("{base}{path}")))
    }

    /// One POST with a JSON body, as a future that owns everything it needs.
    fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        url: String,
        body: &B,
    ) -> impl std::future::Future<Output = Result<R, Miss>> + Send + 'static {
        let request = self
            .http
            .post(url)
            .header(PROCESS_HEADER, self.config.process)
            .timeout(self.config.request_timeout)
            .json(body);
        async move {
            let response = request.send().await.map_err(|e| {
                if e.is_connect() {
                    Miss::NotDelivered
                } else {
                    Miss::MaybeDelivered
                }
            })?;
            let status = response.status();
            if !status.is_success() {
                return Err(Miss::of_status(status.as_u16()));
            }
            let bytes = response.bytes().await.map_err(|_| Miss::MaybeDelivered)?;
            serde_json::from_slice(&bytes).map_err(|_| Miss::MaybeDelivered)
        }
    }
}

/// Why a request has no usable answer (see "What a missing answer means").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Miss {
    /// It may have reached the acceptor.
    MaybeDelivered,
    /// It certainly did not: no connection, or the proxy's `502`.
    NotDelivered,
}

impl Miss {
    /// How an error status reads: only the proxy's `502` (node down, request
    /// not forwarded) proves non-delivery; anything else may come after the
    /// acceptor acted (`504`: the proxy forwarded it, then gave up waiting).
    fn of_status(status: u16) -> Miss {
        if status == 502 {
            Miss::NotDelivered
        } else {
            Miss::MaybeDelivered
        }
    }

    /// The event that tells the proposer.
    fn event(self, from: NodeId, ballot: Ballot, phase: RequestKind) -> Event {
        match self {
            Miss::MaybeDelivered => Event::NoReply {
                from,
                ballot,
                phase,
            },
            Miss::NotDelivered => Event::NotDelivered {
                from,
                ballot,
                phase,
                cause: Undelivered::Refused,
            },
        }
    }
}

/// Waits for the next reply, at most until `until`.
async fn next_event(inflight: &mut JoinSet<Event>, until: Instant) -> Next {
    loop {
        if inflight.is_empty() {
            return Next::Idle;
        }
        match tokio::time::timeout_at(until, inflight.join_next()).await {
            Err(_) => return Next::TimedOut,
            Ok(None) => return Next::Idle,
            Ok(Some(Ok(event))) => return Next::Event(event),
            // A request task died (it cannot panic short of a bug); its
            // acceptor simply stays unanswered.
            Ok(Some(Err(_))) => continue,
        }
    }
}

/// Sleeps until `wake` while still taking in stragglers, which can end the
/// operation (a late quorum of acks). Returns the deciding action, if any.
async fn back_off(
    machine: &mut Proposer,
    inflight: &mut JoinSet<Event>,
    wake: Instant,
) -> Option<Action> {
    loop {
        match next_event(inflight, wake).await {
            Next::Event(event) => match machine.handle(event) {
                decided @ (Action::Chosen { .. } | Action::Done(_)) => return Some(decided),
                _ => continue,
            },
            Next::TimedOut => return None,
            Next::Idle => {
                tokio::time::sleep_until(wake).await;
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests;
