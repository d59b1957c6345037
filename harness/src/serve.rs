//! `ballot serve`: the command that serves a store of run folders on
//! loopback until Ctrl-C (the server itself is [`ballot_report::serve`]).

use std::path::PathBuf;

use ballot_core::verdict::Validity;
use clap::Args;

use crate::Error;

/// Flags of `ballot serve`.
#[derive(Clone, Debug, PartialEq, Args)]
pub struct ServeArgs {
    /// Folder that holds the runs (as `ballot test --store`).
    #[arg(long, value_name = "DIR", default_value = "store")]
    pub store: PathBuf,

    /// Port to listen on, on 127.0.0.1 (0 picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    pub port: u16,
}

/// `ballot serve`: serves `--store` on 127.0.0.1:`--port` until Ctrl-C;
/// valid after a clean stop, a harness failure when it cannot listen.
pub fn serve_command(args: &ServeArgs) -> Result<Validity, Error> {
    crate::runtime::block_on(async {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Io {
                what: format!("cannot listen on {addr}"),
                source,
            })?;
        let bound = listener.local_addr().unwrap_or(addr);
        if !args.store.is_dir() {
            eprintln!(
                "note: {} does not exist yet; runs appear as `ballot test --store {}` writes them",
                args.store.display(),
                args.store.display()
            );
        }
        crate::say!(
            "serving {} at http://{bound}/ (Ctrl-C stops)",
            args.store.display()
        );
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        ballot_report::serve::run(listener, args.store.clone(), shutdown)
            .await
            .map_err(|source| Error::Io {
                what: "ballot serve stopped".to_string(),
                source,
            })?;
        Ok(Validity::Valid)
    })
}
