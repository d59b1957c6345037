//! `ballot serve` (being written).
use std::future::Future;
use std::path::PathBuf;

/// Serves the store until `shutdown` completes.
pub async fn run(
    _listener: tokio::net::TcpListener,
    _store: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    shutdown.await;
    Ok(())
}
