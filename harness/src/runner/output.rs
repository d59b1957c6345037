//! What a run prints: the header, the node pids, the op counts, the verdict
//! with the first violation, the store folder and the rerun command. The
//! text is built by pure functions (tested below) and printed to stdout
//! with [`emit`], which stops quietly when stdout is closed (`| head -1`);
//! errors go to stderr.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use ballot_core::bugs::NodeBug;
use ballot_core::proposer::ClientBug;
use ballot_core::verdict::{Results, Validity};

use super::TestPlan;
use crate::clients::{ClientStats, ClientsReport, FinalReads};
use crate::cluster::Cluster;

/// Writes `text` to stdout (locked, then flushed). A closed stdout (a
/// reader such as `head` that went away) is not an error: the output is
/// simply dropped, so the command still exits with its verdict's code.
pub fn emit(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// [`emit`] for the progress lines of a run: a write error other than a
/// closed pipe is a warning on stderr, never the end of the run.
pub(crate) fn say(text: &str) {
    if let Err(e) = emit(text) {
        eprintln!("warning: cannot write to stdout: {e}");
    }
}

/// Prints the run's header.
pub fn print_start(plan: &TestPlan, dir: &Path) {
    let a = &plan.args;
    let bugs: Vec<String> = a
        .bugs
        .iter()
        .map(|b| format!("--bug {b}"))
        .chain(a.client_bugs.iter().map(|b| format!("--client-bug {b}")))
        .collect();
    say(&format!(
        "ballot test: seed {}, {} nodes, workload {}, nemesis {} every ~{}s on {}, {}s, {} clients{}{}{}\nstore: {}\n",
        plan.seed,
        a.nodes,
        a.workload,
        a.nemesis,
        a.nemesis_interval,
        a.nemesis_targets,
        a.time_limit,
        a.concurrency,
        if a.direct { ", direct (no proxy, no message log)" } else { "" },
        if bugs.is_empty() { "" } else { ", " },
        bugs.join(" "),
        dir.display()
    ));
}

/// Prints each node's id, pid and address.
pub fn print_nodes(cluster: &Cluster) {
    let nodes: Vec<String> = cluster
        .pids()
        .into_iter()
        .map(|(id, pid)| format!("{id}=pid {pid} at {}", cluster.addr(id)))
        .collect();
    say(&format!("nodes: {}\n", nodes.join(", ")));
}

/// Prints how many ops ended how.
pub fn print_ops(stats: &Arc<ClientStats>, report: &ClientsReport, reads: &FinalReads) {
    let (ok, fail, info) = stats.counts();
    say(&format!(
        "ops: {ok} ok, {fail} fail, {info} info ({} invoked by clients on {} key(s); final reads: {} ok, {} not ok)\n",
        report.ops,
        report.keys.len(),
        reads.ok,
        reads.not_ok
    ));
}

/// The verdict's name as printed.
pub fn verdict_word(valid: Validity) -> &'static str {
    match valid {
        Validity::Valid => "VALID",
        Validity::Invalid => "INVALID",
        Validity::Unknown => "UNKNOWN",
    }
}

/// The verdict block: overall verdict, one line per checker, the first
/// violation with its explanation, and reasons for unknowns.
pub fn verdict_text(results: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "verdict: {} (exit {})",
        verdict_word(results.valid),
        results.valid.exit_code()
    );
    for c in &results.checkers {
        let _ = write!(
            out,
            "  {}: {}",
            c.name,
            verdict_word(c.valid).to_lowercase()
        );
        if let Some(reason) = &c.reason {
            let _ = write!(out, " ({reason})");
        }
        out.push('\n');
    }
    if !results.coverage.is_empty() {
        let _ = writeln!(
            out,
            "  coverage: {}",
            ballot_checker::coverage::describe(&results.coverage)
        );
    }
    if let Some(v) = results.first_violation() {
        let key = v
            .key
            .as_deref()
            .map(|k| format!(" on key {k:?}"))
            .unwrap_or_default();
        let _ = writeln!(out, "first violation: {}{key} ({})", v.property, v.source);
        for line in v.explanation.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

/// The lines after the verdict: store folder and rerun command (plus
/// `REPRODUCE WITH:` when the run is not valid).
pub fn footer_text(valid: Validity, dir: &Path, rerun: &str, interrupted: bool) -> String {
    let mut out = String::new();
    if interrupted {
        out.push_str("note: the run was interrupted and stopped early\n");
    }
    let _ = writeln!(out, "store: {}", dir.display());
    if valid == Validity::Valid {
        let _ = writeln!(out, "rerun: {rerun}");
    } else {
        let _ = writeln!(out, "REPRODUCE WITH: {rerun}");
    }
    out
}

/// Prints the verdict of a run.
pub fn print_verdict(results: &Results, dir: &Path, rerun: &str, interrupted: bool) {
    say(&(verdict_text(results) + &footer_text(results.valid, dir, rerun, interrupted)));
}

/// The verdict of `ballot check`: the verdict block, then what was checked.
pub fn check_verdict_text(results: &Results, path: &Path) -> String {
    format!("{}checked: {}\n", verdict_text(results), path.display())
}

/// The bug catalogue: node bugs, then client bugs, one line each.
pub fn bug_list() -> String {
    let mut out = String::from("node bugs (ballot test --bug NAME, passed to ballot-node):\n");
    for bug in NodeBug::ALL {
        let _ = writeln!(out, "  {:<24} {}", bug.name(), bug.description());
    }
    out.push_str("client bugs (ballot test --client-bug NAME, in the proposer):\n");
    for bug in ClientBug::ALL {
        let _ = writeln!(out, "  {:<24} {}", bug.name(), bug.description());
    }
    out
}

/// Prints `bug_list`.
pub fn print_bug_list() {
    say(&bug_list());
}

/// Prints where a profile stopped: the phase, and the command that reruns
/// the whole profile (each phase's own rerun line was printed with its verdict).
pub fn print_profile_stop(phase: &super::PhaseInfo, verdict: Validity, rerun_all: &str) {
    say(&format!(
        "profile {}: stopped at phase {} of {} ({}), {}\nrerun the whole profile: {rerun_all}\n",
        phase.profile,
        phase.index,
        phase.of,
        phase.name,
        verdict_word(verdict)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballot_core::verdict::{CheckerResult, Violation};

    #[test]
    fn an_invalid_verdict_names_the_first_violation_and_how_to_reproduce() {
        let violation = Violation {
            property: "chosen-unique".into(),
            source: "Lamport, Paxos Made Simple, P2".into(),
            key: Some("x".into()),
            explanation: "Two values were chosen.\nSee ops 3 and 9.".into(),
            ops: vec![],
            messages: vec![],
        };
        let results = Results::new(vec![
            CheckerResult::from_violations("linearizable", vec![]),
            CheckerResult::from_violations("paxos", vec![violation]),
        ]);
        assert_eq!(
            verdict_text(&results),
            "verdict: INVALID (exit 1)\n  linearizable: valid\n  paxos: invalid\n\
             first violation: chosen-unique on key \"x\" (Lamport, Paxos Made Simple, P2)\n  \
             Two values were chosen.\n  See ops 3 and 9.\n"
        );
        assert_eq!(
            footer_text(
                results.valid,
                Path::new("store/r"),
                "ballot test --seed 3",
                false
            ),
            "store: store/r\nREPRODUCE WITH: ballot test --seed 3\n"
        );
    }

    #[test]
    fn a_valid_verdict_prints_the_rerun_command() {
        let results = Results::new(vec![CheckerResult::from_violations("paxos", vec![])]);
        assert_eq!(
            verdict_text(&results),
            "verdict: VALID (exit 0)\n  paxos: valid\n"
        );
        assert_eq!(
            footer_text(Validity::Valid, Path::new("s/x"), "ballot test --seed 1", true),
            "note: the run was interrupted and stopped early\nstore: s/x\nrerun: ballot test --seed 1\n"
        );
    }

    #[test]
    fn the_bug_list_has_one_line_per_bug() {
        let list = bug_list();
        assert_eq!(
            list.lines().count(),
            2 + NodeBug::ALL.len() + ClientBug::ALL.len()
        );
        assert!(list.contains("  memory-only "));
        assert!(list.contains("  own-value "));
    }
}
