//! Child processes that can never outlive the harness.
//!
//! Every node process is started here, and four mechanisms keep it from
//! becoming an orphan:
//!
//! 1. It leads its own process group, so a signal to the group also reaches
//!    anything it forked.
//! 2. `PR_SET_PDEATHSIG = SIGKILL`: the kernel kills it when the thread that
//!    forked it exits. That is why every spawn happens on one dedicated,
//!    never-ending *spawner thread* (a tokio worker or blocking-pool thread
//!    could exit and take the node with it); the thread only ends with the
//!    harness process itself.
//! 3. A process-wide registry of live group ids, so a Ctrl-C/SIGTERM
//!    handler can call [`kill_all_children`].
//! 4. The owner ([`super::Cluster`]) kills and reaps its groups in `Drop`.
//!
//! Only pids spawned here are ever signalled; a pid leaves the registry
//! when it is reaped, so it can never name a reused pid.

use std::collections::BTreeSet;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

static LIVE: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());
static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();

fn live() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends SIGKILL to the process group of every live child this process
/// started; for the runner's Ctrl-C/SIGTERM handler. Does not reap (the
/// owners or process exit do). Returns how many groups were signalled.
pub fn kill_all_children() -> usize {
    let pids = live();
    for &pid in pids.iter() {
        let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
    pids.len()
}

/// Pids of the children started and not yet reaped (for tests and diagnostics).
pub fn live_children() -> Vec<u32> {
    live().iter().copied().collect()
}

/// Spawns `cmd` as the leader of a new process group with a parent-death
/// signal, on the spawner thread, and registers its pid.
pub(crate) fn spawn(mut cmd: Command) -> io::Result<Child> {
    let parent = std::process::id() as i32;
    cmd.process_group(0);
    // SAFETY: the closure runs between fork and exec; it only makes two
    // system calls and builds errors from raw errno values (no allocation,
    // no locks), which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
            // The parent may have died before the signal was armed.
            if nix::unistd::getppid().as_raw() != parent {
                return Err(io::Error::from(Errno::ESRCH));
            }
            Ok(())
        });
    }
    let (reply_tx, reply_rx) = mpsc::channel();
    {
        let spawner = SPAWNER.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<SpawnRequest>();
            std::thread::Builder::new()
                .name("ballot-spawner".into())
                .spawn(move || spawner_loop(rx))
                .expect("cannot start the process-spawner thread");
            Mutex::new(tx)
        });
        let spawner = spawner.lock().unwrap_or_else(|e| e.into_inner());
        spawner
            .send((cmd, reply_tx))
            .map_err(|_| io::Error::other("the process-spawner thread is gone"))?;
    }
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("the process-spawner thread is gone"))?
}

/// Runs forever (the sender lives in a static): spawns and registers children.
fn spawner_loop(rx: mpsc::Receiver<SpawnRequest>) {
    while let Ok((mut cmd, reply)) = rx.recv() {
        let mut registry = live();
        let result = cmd.spawn();
        if let Ok(child) = &result {
            registry.insert(child.id());
        }
        drop(registry);
        if let Err(Ok(mut child)) = reply.send(result).map_err(|e| e.0) {
            // Nobody is waiting for it any more: do not leave it running.
            kill_and_reap(&mut child);
        }
    }
}

/// Sends `signal` to the child's whole process group.
pub(crate) fn signal_group(child: &Child, signal: Signal) -> nix::Result<()> {
    killpg(Pid::from_raw(child.id() as i32), signal)
}

/// Records that the child was reaped (its pid may now be reused).
fn forget(pid: u32) {
    live().remove(&pid);
}

/// Polls for the child's exit without blocking; forgets it once reaped.
pub(crate) fn try_reap(child: &mut Child) -> io::Result<Option<ExitStatus>> {
    let status = child.try_wait()?;
    if status.is_some() {
        forget(child.id());
    }
    Ok(status)
}

/// SIGKILLs the child's group and waits for the child (blocking; SIGKILL
/// makes that wait short). Used by `Drop`.
pub(crate) fn kill_and_reap(child: &mut Child) -> Option<ExitStatus> {
    let _ = signal_group(child, Signal::SIGKILL);
    let status = child.wait().ok();
    forget(child.id());
    status
}

/// SIGKILLs the child's group and reaps it without blocking the async runtime.
pub(crate) async fn kill_and_reap_async(child: &mut Child) -> io::Result<ExitStatus> {
    let _ = signal_group(child, Signal::SIGKILL);
    reap_within(child, Duration::from_secs(10))
        .await?
        .ok_or_else(|| io::Error::other("process survived SIGKILL for 10 s"))
}

/// Polls until the child exits or `limit` passes; reaps it if it exited.
pub(crate) async fn reap_within(
    child: &mut Child,
    limit: Duration,
) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_micros(200);
    loop {
        if let Some(status) = try_reap(child)? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
