//! The forwarding path: accepting on each link's listener, deciding the
//! exchange's fate, carrying it to the node and back, recording it.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ballot_core::protocol::{self, NodeId, PROCESS_HEADER};
use ballot_core::records::{Exchange, Fate};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::links::{Decision, Link};
use pool::UpstreamError;

use super::*;

/// The proxy thread's main task: bind every link's listener, serve until
/// shutdown, then let in-flight exchanges finish (bounded) before returning.
pub(super) async fn run_mesh(
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    ready: oneshot::Sender<io::Result<Vec<SocketAddr>>>,
) {
    let mut listeners = Vec::with_capacity(shared.links.len());
    for _ in 0..shared.links.len() {
        match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await {
            Ok(l) => listeners.push(l),
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        }
    }
    let endpoints = listeners.iter().map(|l| l.local_addr()).collect();
    if ready.send(endpoints).is_err() {
        return;
    }
    for (index, listener) in listeners.into_iter().enumerate() {
        tokio::spawn(accept_loop(
            listener,
            shared.clone(),
            index,
            shutdown.clone(),
        ));
    }
    // A dropped sender (the Mesh is gone) also means shutdown.
    let _ = shutdown.wait_for(|stop| *stop).await;
    let limit = shared.options.upstream_timeout
        + shared.options.late_answer_wait
        + crate::links::MAX_DUPLICATE_LAG
        + Duration::from_secs(1);
    let deadline = Instant::now() + limit;
    while shared.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

pub(super) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    link: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("proxy accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(shared.clone(), link, req));
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = shutdown.changed() => {}
            }
        });
    }
}

/// The proxy's way of saying "close the client's connection, answer nothing".
#[derive(Debug)]
pub(super) struct Hangup;

impl std::fmt::Display for Hangup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("proxy hung up")
    }
}

impl std::error::Error for Hangup {}

/// What the exchange task tells the waiting client connection.
pub(super) enum Reply {
    Respond(Response<Full<Bytes>>),
    Hangup,
}

pub(super) fn proxy_error(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Headers that belong to one connection, not to the message.
pub(super) fn hop_by_hop(name: &header::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

/// The parts of a client request needed to forward it (again).
#[derive(Clone)]
pub(super) struct Forward {
    pub(super) method: hyper::Method,
    pub(super) uri: hyper::Uri,
    pub(super) headers: hyper::HeaderMap,
    pub(super) body: Bytes,
}

impl Forward {
    pub(super) fn request(&self, host: SocketAddr) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        let headers = req.headers_mut();
        for (name, value) in &self.headers {
            if !hop_by_hop(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Ok(host) = HeaderValue::from_str(&host.to_string()) {
            headers.insert(header::HOST, host);
        }
        req
    }
}

pub(super) async fn handle(
    shared: Arc<Shared>,
    link: usize,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Hangup> {
    let sent = shared.clock.now();
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, shared.options.body_limit)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Ok(proxy_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "proxy: request body over {} bytes",
                    shared.options.body_limit
                ),
            ))
        }
        Err(_) => return Err(Hangup),
    };
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let decision = shared.links[link].decide();
    let forward = Forward {
        method: parts.method,
        uri: parts
            .uri
            .path_and_query()
            .map(|pq| hyper::Uri::from(pq.clone()))
            .unwrap_or_else(|| hyper::Uri::from_static("/")),
        headers: parts.headers,
        body,
    };
    let (tx, rx) = oneshot::channel();
    let job = Job {
        in_flight: InFlight::new(&shared),
        link,
        id,
        sent,
        forward,
        decision,
    };
    tokio::spawn(exchange(job, tx));
    match rx.await {
        Ok(Reply::Respond(resp)) => Ok(resp),
        Ok(Reply::Hangup) | Err(_) => Err(Hangup),
    }
}

/// One exchange handed from the client connection to its own task.
pub(super) struct Job {
    /// Keeps the exchange counted as in flight (and holds the mesh state).
    pub(super) in_flight: InFlight,
    pub(super) link: usize,
    pub(super) id: u64,
    pub(super) sent: u64,
    pub(super) forward: Forward,
    pub(super) decision: Decision,
}

/// Carries out one exchange and records it.
pub(super) async fn exchange(job: Job, reply: oneshot::Sender<Reply>) {
    let Job {
        in_flight,
        link,
        id,
        sent,
        forward,
        decision,
    } = job;
    let shared = in_flight.0.clone();
    let Link { host, node } = shared.links[link].link;
    let mut record = Exchange {
        id,
        from: host as u64,
        to: node as NodeId,
        process: forward
            .headers
            .get(PROCESS_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse().ok()),
        path: forward.uri.path().to_string(),
        request: serde_json::from_slice(&forward.body).unwrap_or(Value::Null),
        status: None,
        response: None,
        sent,
        delivered: None,
        replied: None,
        fate: Fate::Ok,
        duplicate_of: None,
    };
    if decision.cut || decision.drop_request {
        record.fate = if decision.cut {
            Fate::Cut
        } else {
            Fate::DroppedRequest
        };
        let _ = reply.send(Reply::Hangup);
        write_record(&shared, &record);
        return;
    }
    if !shared.triggers.admit(&record, shared.nodes / 2 + 1) {
        // The minimal-quorum fault: this accept's round already reached a majority.
        record.fate = Fate::DroppedRequest;
        let _ = reply.send(Reply::Hangup);
        write_record(&shared, &record);
        return;
    }
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    // A client's propose or read (protocol v1.1) is never duplicated: the
    // node would run the operation twice, and a definite failure of one copy
    // could not be kept by any node. Paxos messages are what the fault is for.
    let duplicate_lag = decision
        .duplicate
        .filter(|_| !protocol::is_client_path(&record.path));
    if let Some(lag) = duplicate_lag {
        let dup = Exchange {
            id: shared.next_id.fetch_add(1, Ordering::Relaxed),
            duplicate_of: Some(id),
            fate: Fate::Duplicated,
            ..record.clone()
        };
        let guard = InFlight::new(&shared);
        tokio::spawn(duplicate(shared.clone(), dup, forward.clone(), lag, guard));
    }
    let mut client = Some(reply);
    let outcome = deliver(&shared, node, &forward, &mut record, &mut client).await;
    // The client already had its `504`; the node's late answer is only recorded.
    let Some(reply) = client else {
        write_record(&shared, &record);
        return;
    };
    let from_node = outcome.is_ok();
    let answer = match outcome {
        Ok(resp) if decision.drop_response => {
            drop(resp);
            record.fate = Fate::DroppedResponse;
            Reply::Hangup
        }
        Ok(resp) => Reply::Respond(resp),
        // A 502 promises the client that nothing was delivered; with a
        // duplicate of this request still on its way (the node may come
        // back before it lands), that promise cannot be kept: hang up, so
        // the client treats the request as possibly delivered.
        Err(_) if record.fate == Fate::Refused && duplicate_lag.is_some() => Reply::Hangup,
        Err(reply) => reply,
    };
    let responded = matches!(answer, Reply::Respond(_));
    if reply.send(answer).is_err() && responded && from_node {
        // The client went away before the node's answer could reach it
        // (the proxy's own 502 or 504 keeps its fate).
        record.fate = Fate::DroppedResponse;
    }
    write_record(&shared, &record);
}

/// A second delivery of an exchange's request, `lag` after the original; its answer is discarded.
pub(super) async fn duplicate(
    shared: Arc<Shared>,
    mut record: Exchange,
    forward: Forward,
    lag: Duration,
    _in_flight: InFlight,
) {
    tokio::time::sleep(lag).await;
    let node = record.to as usize;
    let _ = deliver(&shared, node, &forward, &mut record, &mut None).await;
    if record.fate == Fate::Ok {
        record.fate = Fate::Duplicated;
    }
    write_record(&shared, &record);
}

/// Forwards the request to the node and fills in the record's times, status,
/// response and fate (`ok`, `refused` or `timeout`). Returns the response
/// for the client, or what to tell the client instead.
///
/// With no complete answer within the upstream timeout, the `504` goes to
/// `client` at once (which is then `None`) and the wait goes on for the
/// late-answer time: a late answer is recorded (status, body, `replied`)
/// with fate `timeout`, since the client never saw it.
pub(super) async fn deliver(
    shared: &Shared,
    node: usize,
    forward: &Forward,
    record: &mut Exchange,
    client: &mut Option<oneshot::Sender<Reply>>,
) -> Result<Response<Full<Bytes>>, Reply> {
    let pool = &shared.pools[node];
    if shared.fenced[node].load(Ordering::Acquire) {
        record.fate = Fate::Refused;
        return Err(Reply::Respond(proxy_error(
            StatusCode::BAD_GATEWAY,
            format!(
                "proxy: node {node} is unreachable: restarting (fenced until its restart snapshot)"
            ),
        )));
    }
    record.delivered = Some(shared.clock.now());
    let answer_by = Instant::now() + shared.options.upstream_timeout;
    let too_slow = || {
        proxy_error(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "proxy: node {node} did not answer within {:?}",
                shared.options.upstream_timeout
            ),
        )
    };
    let send = pool.send(
        forward.request(pool.addr()),
        answer_by + shared.options.late_answer_wait,
    );
    tokio::pin!(send);
    let mut late = false;
    let outcome = tokio::select! {
        outcome = &mut send => outcome,
        _ = tokio::time::sleep_until(answer_by) => {
            late = true;
            if let Some(client) = client.take() {
                let _ = client.send(Reply::Respond(too_slow()));
            }
            send.await
        }
    };
    match outcome {
        Ok((head, body)) => {
            record.replied = Some(shared.clock.now());
            record.status = Some(head.status().as_u16());
            record.response = Some(serde_json::from_slice(&body).unwrap_or(Value::Null));
            if late {
                record.fate = Fate::Timeout;
                return Err(Reply::Respond(too_slow()));
            }
            record.fate = Fate::Ok;
            shared.triggers.observe(record);
            let mut resp = Response::new(Full::new(body));
            *resp.status_mut() = head.status();
            if let Some(ct) = head.headers().get(header::CONTENT_TYPE) {
                resp.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
            }
            Ok(resp)
        }
        Err(UpstreamError::Refused(why)) => {
            record.delivered = None;
            record.fate = Fate::Refused;
            Err(Reply::Respond(proxy_error(
                StatusCode::BAD_GATEWAY,
                format!("proxy: node {node} is unreachable: {why}"),
            )))
        }
        Err(UpstreamError::Timeout) => {
            record.fate = Fate::Timeout;
            Err(Reply::Respond(too_slow()))
        }
        Err(UpstreamError::Broken(_)) => {
            record.fate = Fate::Timeout;
            Err(Reply::Hangup)
        }
    }
}

pub(super) fn write_record(shared: &Shared, record: &Exchange) {
    if let Err(e) = shared.log.write(record) {
        tracing::error!("cannot record exchange {}: {e}", record.id);
    }
}
