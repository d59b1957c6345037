//! Ctrl-C and SIGTERM: the first asks the run to stop early (it still goes
//! through the final phase: heal, read, snapshot, check); the second kills
//! every node at once, detaches every lazyfs data-dir mount, and exits with
//! [`EXIT_HARNESS_FAILURE`].

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::cluster::{detach_all_mounts, kill_all_children};
use crate::exit::EXIT_HARNESS_FAILURE;

/// Whether the user asked the harness to stop.
#[derive(Clone, Debug)]
pub struct Interrupt {
    requested: watch::Receiver<bool>,
}

impl Interrupt {
    /// Installs the SIGINT and SIGTERM handlers (inside a tokio runtime).
    pub fn install() -> std::io::Result<Interrupt> {
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let (tx, requested) = watch::channel(false);
        tokio::spawn(async move {
            let mut count = 0;
            loop {
                let name = tokio::select! {
                    _ = sigint.recv() => "interrupt",
                    _ = sigterm.recv() => "SIGTERM",
                };
                count += 1;
                if count == 1 {
                    eprintln!(
                        "\nballot: {name}: stopping early; healing, reading the final state and \
                         checking (signal again to kill the nodes and exit now)"
                    );
                    let _ = tx.send(true);
                } else {
                    let killed = kill_all_children();
                    // `exit` runs no destructors: detach the mounts here, or
                    // they would stay behind, dead, once this process is gone.
                    let detached = detach_all_mounts();
                    eprintln!(
                        "ballot: second {name}: killed {killed} node process group(s), detached \
                         {detached} lazyfs mount(s); exiting"
                    );
                    std::process::exit(EXIT_HARNESS_FAILURE);
                }
            }
        });
        Ok(Interrupt { requested })
    }

    /// An interrupt that never fires (for library callers and tests).
    pub fn never() -> Interrupt {
        let (tx, requested) = watch::channel(false);
        // Keep the sender alive forever so `wait` pends instead of ending.
        std::mem::forget(tx);
        Interrupt { requested }
    }

    /// True once the first signal arrived.
    pub fn requested(&self) -> bool {
        *self.requested.borrow()
    }

    /// Waits for the first signal.
    pub async fn wait(&self) {
        let mut rx = self.requested.clone();
        let _ = rx.wait_for(|r| *r).await;
    }
}
