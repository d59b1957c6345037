//! The HTTP server: acceptor protocol v1 over axum, backed by the durable log.
//!
//! Every request runs the same three steps:
//!
//! 1. under the acceptor lock, apply the request to the pure [`Acceptor`]
//!    and queue the resulting [`Change`] in the log (so the log order is the
//!    order the state machine saw);
//! 2. outside the lock, wait until the log is durable up to that change, or,
//!    when the request changed nothing, up to the last change queued so far:
//!    a reply must never reveal state that a crash could still take back;
//! 3. reply.
//!
//! Bad input never reaches the acceptor: bodies are size-limited and parsed
//! here, and every rejection is `400 {"error": "..."}`. If the log cannot be
//! written the request gets `500`, and the server stops serving.
//!
//! [`Node::open`] recovers the state (so a corrupt log is reported before
//! the node claims to be listening); [`Node::serve`] then serves a bound
//! listener until the shutdown future completes. [`run`] does both.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::client::ClientError;
use crate::propose::ProposerConfig;
use crate::storage::{Seq, Storage, StorageConfig, StorageError, WriteFailed};
use ballot_core::acceptor::{Acceptor, Change};
use ballot_core::bugs::{BugSet, NodeBug};
use ballot_core::protocol::{
    self, AcceptRequest, ErrorReply, HealthReply, LearnReply, LearnRequest, NodeId, PrepareRequest,
    Request, RequestKind, Role, StateReply, MAX_BODY_BYTES,
};

/// How often the `reply-before-durable` bug flushes its buffered records.
pub const LAZY_FLUSH_INTERVAL: Duration = Duration::from_millis(200);

/// Everything a node needs besides its listener.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The node's id (`--id`), reported by `/v1/state` and `/v1/health`.
    pub node_id: NodeId,
    /// Where the log lives (`--data-dir`); created if missing.
    pub data_dir: PathBuf,
    /// Deliberate bugs to run with; [`BugSet::NONE`] for the correct node.
    pub bugs: BugSet,
    /// Compact the log once it is larger than this many bytes.
    pub compact_bytes: u64,
    /// The proposer role (protocol v1.1), when the node has peers.
    pub proposer: Option<ProposerConfig>,
}

impl ServerConfig {
    /// A correct node with the default compaction threshold.
    pub fn new(node_id: NodeId, data_dir: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            node_id,
            data_dir: data_dir.into(),
            bugs: BugSet::NONE,
            compact_bytes: crate::storage::DEFAULT_COMPACT_BYTES,
            proposer: None,
        }
    }
}

/// Why a node could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The log could not be opened or is corrupt.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Writing the log failed while serving; the node stopped.
    #[error(transparent)]
    WriteFailed(#[from] WriteFailed),
    /// The proposer role could not be set up.
    #[error("proposer role: {0}")]
    Proposer(#[from] ClientError),
    /// The HTTP server itself failed.
    #[error("serving HTTP: {0}")]
    Serve(#[source] std::io::Error),
}

/// A node with recovered state, ready to serve.
pub struct Node {
    app: Arc<App>,
    /// The `/v1/propose` and `/v1/read` routes, when the node proposes.
    proposer: Option<Router>,
    failed: watch::Receiver<bool>,
}

/// Shared state of the handlers.
struct App {
    id: NodeId,
    bugs: BugSet,
    acceptor: Mutex<Acceptor>,
    /// `None` only under the `memory-only` bug.
    storage: Option<Storage>,
    failed: watch::Sender<bool>,
    /// What `/v1/health` lists.
    roles: Vec<Role>,
}

impl Node {
    /// Opens the data directory and recovers the acceptor state.
    pub fn open(config: ServerConfig) -> Result<Node, NodeError> {
        let bugs = config.bugs;
        let (storage, instances) = if bugs.has(NodeBug::MemoryOnly) {
            // BUG memory-only: never reads or writes the data directory.
            (None, Default::default())
        } else {
            let mut storage_config = StorageConfig::new(&config.data_dir);
            storage_config.compact_bytes = config.compact_bytes;
            if bugs.has(NodeBug::ReplyBeforeDurable) {
                // BUG reply-before-durable: records are buffered and flushed
                // periodically in the background.
                storage_config.flush_delay = Some(LAZY_FLUSH_INTERVAL);
            }
            let (storage, instances) = Storage::open(storage_config)?;
            (Some(storage), instances)
        };
        tracing::info!(
            node = config.node_id,
            keys = instances.len(),
            bugs = ?bugs.iter().map(NodeBug::name).collect::<Vec<_>>(),
            "recovered state"
        );
        let (failed_tx, failed_rx) = watch::channel(false);
        let proposer = match config.proposer {
            Some(p) => Some(crate::propose::router(config.node_id, p)?),
            None => None,
        };
        let mut roles = vec![Role::Acceptor];
        if proposer.is_some() {
            roles.push(Role::Proposer);
        }
        Ok(Node {
            proposer,
            app: Arc::new(App {
                id: config.node_id,
                bugs,
                acceptor: Mutex::new(Acceptor::new(instances, bugs)),
                storage,
                failed: failed_tx,
                roles,
            }),
            failed: failed_rx,
        })
    }

    /// Serves the acceptor endpoints on `listener` until `shutdown`
    /// completes (then finishes in-flight requests) or the log fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), NodeError> {
        let Node {
            app,
            proposer,
            mut failed,
        } = self;
        let mut router = router(app.clone());
        if let Some(proposer) = proposer {
            router = router.merge(proposer);
        }
        let stop = async move {
            tokio::select! {
                () = shutdown => {}
                _ = failed.wait_for(|f| *f) => {}
            }
        };
        axum::serve(listener, router)
            .with_graceful_shutdown(stop)
            .await
            .map_err(NodeError::Serve)?;
        if let Some(e) = app.storage.as_ref().and_then(Storage::failure) {
            return Err(e.into());
        }
        if let Some(storage) = &app.storage {
            tracing::info!(
                records = storage.position(),
                fsyncs = storage.fsync_count(),
                compactions = storage.compaction_count(),
                "log totals"
            );
        }
        match Arc::try_unwrap(app) {
            Ok(app) => match app.storage {
                Some(storage) => Ok(storage.close()?),
                None => Ok(()),
            },
            // A handler still holds the state; dropping the last reference
            // flushes and closes the log.
            Err(_) => Ok(()),
        }
    }
}

/// Opens the node's storage and serves `listener` until `shutdown`.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    Node::open(config)?.serve(listener, shutdown).await
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            protocol::PREPARE_PATH,
            post(|State(app): State<Arc<App>>, body: Body| async move {
                handle(&app, RequestKind::Prepare, body).await
            }),
        )
        .route(
            protocol::ACCEPT_PATH,
            post(|State(app): State<Arc<App>>, body: Body| async move {
                handle(&app, RequestKind::Accept, body).await
            }),
        )
        .route(
            protocol::LEARN_PATH,
            post(|State(app): State<Arc<App>>, body: Body| async move {
                handle(&app, RequestKind::Learn, body).await
            }),
        )
        .route(protocol::STATE_PATH, get(state))
        .route(protocol::HEALTH_PATH, get(health))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint".into()) })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed for this endpoint".into(),
            )
        })
        .with_state(app)
}

/// Parses and runs one prepare, accept or learn.
async fn handle(app: &App, kind: RequestKind, body: Body) -> Response {
    match parse(kind, body).await {
        Ok(Request::Prepare(req)) => prepare(app, req).await,
        Ok(Request::Accept(req)) => accept(app, req).await,
        Ok(Request::Learn(req)) => learn(app, req).await,
        Err(response) => response,
    }
}

/// A JSON error reply.
fn error(status: StatusCode, error: String) -> Response {
    (status, Json(ErrorReply { error })).into_response()
}

fn bad_request(msg: impl std::fmt::Display) -> Response {
    error(StatusCode::BAD_REQUEST, msg.to_string())
}

/// Reads a size-limited body and parses it as a `kind` request
/// ([`Request::parse`]), or answers 400.
async fn parse(kind: RequestKind, body: Body) -> Result<Request, Response> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            bad_request(format!(
                "request body is larger than the limit of {MAX_BODY_BYTES} bytes"
            ))
        })?;
    Request::parse(kind, &bytes).map_err(bad_request)
}

impl App {
    fn lock(&self) -> MutexGuard<'_, Acceptor> {
        // Acceptor methods do not panic mid-update; a poisoned lock still
        // holds a consistent state.
        self.acceptor.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `step` on the acceptor and queues its change for the log,
    /// returning the log position the reply depends on.
    fn apply<R>(&self, step: impl FnOnce(&mut Acceptor) -> (R, Option<Change>)) -> (R, Seq) {
        let mut acceptor = self.lock();
        let (reply, change) = step(&mut acceptor);
        let seq = match (&self.storage, change) {
            (Some(storage), Some(change)) => storage.submit(change),
            // Nothing changed, but the reply may show state from a change
            // that is still queued: depend on everything queued so far.
            (Some(storage), None) => storage.position(),
            (None, _) => 0,
        };
        (reply, seq)
    }

    /// Waits until the log is durable up to `seq`; on failure stops the node.
    async fn durable(&self, seq: Seq) -> Result<(), Response> {
        let Some(storage) = &self.storage else {
            return Ok(());
        };
        if self.bugs.has(NodeBug::ReplyBeforeDurable) {
            // BUG reply-before-durable: answers without waiting for the flush.
            return Ok(());
        }
        storage.wait_durable(seq).await.map_err(|e| {
            tracing::error!(error = %e, "cannot persist; stopping");
            self.failed.send_replace(true);
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        })
    }

    async fn reply<R: Serialize>(&self, reply: R, seq: Seq) -> Response {
        match self.durable(seq).await {
            Ok(()) => Json(reply).into_response(),
            Err(response) => response,
        }
    }
}

async fn prepare(app: &App, req: PrepareRequest) -> Response {
    let (reply, seq) = app.apply(|a| a.prepare(&req));
    app.reply(reply, seq).await
}

async fn accept(app: &App, req: AcceptRequest) -> Response {
    let promise_only = app.bugs.has(NodeBug::PromiseOnly);
    let (reply, seq) = app.apply(|a| {
        let (reply, mut change) = a.accept(&req);
        if promise_only {
            // BUG promise-only: only the promise goes to the log; the
            // accepted proposal lives in memory alone.
            change = change
                .map(|c| Change {
                    accepted: None,
                    ..c
                })
                .filter(|c| !c.is_empty());
        }
        (reply, change)
    });
    app.reply(reply, seq).await
}

async fn learn(app: &App, req: LearnRequest) -> Response {
    let (result, seq) = app.apply(|a| match a.learn(&req) {
        Ok(change) => (Ok(()), change),
        Err(conflict) => (Err(conflict), None),
    });
    match result {
        Ok(()) => app.reply(LearnReply { ok: true }, seq).await,
        Err(conflict) => error(StatusCode::CONFLICT, conflict.to_string()),
    }
}

async fn state(State(app): State<Arc<App>>) -> Response {
    let (instances, seq) = app.apply(|a| (a.instances().clone(), None));
    let reply = StateReply {
        node: app.id,
        instances,
    };
    app.reply(reply, seq).await
}

async fn health(State(app): State<Arc<App>>) -> Response {
    Json(HealthReply {
        node: app.id,
        ok: true,
        roles: app.roles.clone(),
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballot_core::protocol::Ballot;

    /// An app whose log only becomes durable after 30 s (or at close).
    fn slow_app(dir: &std::path::Path) -> App {
        let mut config = StorageConfig::new(dir);
        config.flush_delay = Some(Duration::from_secs(30));
        let (storage, instances) = Storage::open(config).unwrap();
        App {
            id: 0,
            bugs: BugSet::NONE,
            acceptor: Mutex::new(Acceptor::new(instances, BugSet::NONE)),
            storage: Some(storage),
            failed: watch::channel(false).0,
            roles: vec![Role::Acceptor],
        }
    }

    #[tokio::test]
    async fn replies_that_reveal_pending_state_wait_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let app = slow_app(dir.path());
        let prep = |round| PrepareRequest {
            key: "k".into(),
            ballot: Ballot::new(round, 1),
        };
        // The first prepare changes state: change number 1.
        let (reply, seq) = app.apply(|a| a.prepare(&prep(2)));
        assert!(reply.ok);
        assert_eq!(seq, 1);
        // A duplicate prepare, a rejected prepare and a state read change
        // nothing, but each shows the promise still in flight: they depend
        // on change 1 too.
        let (reply, seq) = app.apply(|a| a.prepare(&prep(2)));
        assert_eq!((reply.ok, seq), (true, 1));
        let (reply, seq) = app.apply(|a| a.prepare(&prep(1)));
        assert_eq!(
            (reply.ok, reply.promised, seq),
            (false, Ballot::new(2, 1), 1)
        );
        let (_, seq) = app.apply(|a| (a.instances().clone(), None));
        assert_eq!(seq, 1);
        let waited = tokio::time::timeout(Duration::from_millis(100), app.durable(seq)).await;
        assert!(waited.is_err(), "replied before the promise was durable");
    }

    #[tokio::test]
    async fn promise_only_persists_the_promise_of_an_accept() {
        let dir = tempfile::tempdir().unwrap();
        let bugs = BugSet::of(&[NodeBug::PromiseOnly]);
        let mut config = ServerConfig::new(0, dir.path());
        config.bugs = bugs;
        let node = Node::open(config.clone()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(node.serve(listener, async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .no_proxy()
            .retry(reqwest::retry::never())
            .build()
            .unwrap();
        let reply: ballot_core::protocol::AcceptReply = client
            .post(format!("http://{addr}{}", protocol::ACCEPT_PATH))
            .json(&AcceptRequest {
                key: "k".into(),
                ballot: Ballot::new(3, 1),
                value: "v".into(),
            })
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(reply.ok);
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
        // Even a clean stop leaves only the promise on disk.
        let (_storage, recovered) = Storage::open(StorageConfig::new(dir.path())).unwrap();
        assert_eq!(
            recovered["k"],
            ballot_core::protocol::InstanceState {
                promised: Some(Ballot::new(3, 1)),
                accepted: None,
                learned: None
            }
        );
    }
}
