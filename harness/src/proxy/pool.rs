//! Keep-alive HTTP/1.1 connections from the proxy to one node.
//!
//! Idle connections wait in a stack; a request takes one (or dials a new
//! one), and gives it back once the response body has been read. The pool
//! tells apart the three ways a forward can fail, because they mean
//! different things for the message log:
//!
//! - [`UpstreamError::Refused`]: no connection could be made, or hyper handed
//!   the request back unsent: the node never saw it.
//! - [`UpstreamError::Timeout`]: no complete answer within the deadline (a
//!   paused node): the node may process it later.
//! - [`UpstreamError::Broken`]: the connection failed after the request was
//!   written (the node died mid-request): it may have processed it.

use std::net::SocketAddr;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::AbortHandle;
use tokio::time::{timeout_at, Instant};

/// Why a forward to the node failed.
#[derive(Debug)]
pub enum UpstreamError {
    /// The node was not reachable: it never saw the request.
    Refused(String),
    /// It did not answer before the deadline: it may still process the request.
    Timeout,
    /// The connection broke after the request was sent: it may have processed it.
    Broken(String),
}

struct Conn {
    sender: SendRequest<Full<Bytes>>,
    task: AbortHandle,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Closes the socket; a request still in flight is abandoned.
        self.task.abort();
    }
}

/// The idle connections to one node.
pub struct Pool {
    addr: SocketAddr,
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    /// An empty pool for the node at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Pool {
            addr,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The node's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn take_idle(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(conn) = idle.pop() {
            if !conn.sender.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    fn give_back(&self, conn: Conn) {
        if !conn.sender.is_closed() {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.push(conn);
        }
    }

    async fn dial(&self, deadline: Instant) -> Result<Conn, UpstreamError> {
        let stream = match timeout_at(deadline, TcpStream::connect(self.addr)).await {
            Err(_) => return Err(UpstreamError::Timeout),
            Ok(Err(e)) => return Err(UpstreamError::Refused(e.to_string())),
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| UpstreamError::Refused(e.to_string()))?;
        let task = tokio::spawn(async move {
            let _ = conn.await;
        })
        .abort_handle();
        Ok(Conn { sender, task })
    }

    /// Sends `req` and reads the whole response before `deadline`.
    pub async fn send(
        &self,
        mut req: Request<Full<Bytes>>,
        deadline: Instant,
    ) -> Result<(Response<()>, Bytes), UpstreamError> {
        loop {
            let (mut conn, fresh) = match self.take_idle() {
                Some(conn) => (conn, false),
                None => (self.dial(deadline).await?, true),
            };
            match timeout_at(deadline, conn.sender.ready()).await {
                Err(_) => return Err(UpstreamError::Timeout),
                Ok(Err(e)) if fresh => return Err(UpstreamError::Refused(e.to_string())),
                Ok(Err(_)) => continue, // a stale pooled connection: try another
                Ok(Ok(())) => {}
            }
            let response = match timeout_at(deadline, conn.sender.try_send_request(req)).await {
                Err(_) => return Err(UpstreamError::Timeout),
                Ok(Err(mut e)) => match e.take_message() {
                    Some(unsent) if !fresh => {
                        req = unsent;
                        continue;
                    }
                    Some(_) => return Err(UpstreamError::Refused(e.into_error().to_string())),
                    None => return Err(UpstreamError::Broken(e.into_error().to_string())),
                },
                Ok(Ok(response)) => response,
            };
            let (parts, body) = response.into_parts();
            let bytes = match timeout_at(deadline, body.collect()).await {
                Err(_) => return Err(UpstreamError::Timeout),
                Ok(Err(e)) => return Err(UpstreamError::Broken(e.to_string())),
                Ok(Ok(collected)) => collected.to_bytes(),
            };
            self.give_back(conn);
            return Ok((Response::from_parts(parts, ()), bytes));
        }
    }
}
