//! The Markdown step summary (`--summary-md FILE`, e.g. `$GITHUB_STEP_SUMMARY`):
//! the verdict, key figures, the first violation, where the run is stored and
//! the command that reruns it. GitHub renders HTML inside Markdown, so text
//! from the run is HTML-escaped and kept out of Markdown syntax.

use std::fmt::Write;

use ballot_core::verdict::Validity;

use super::analysis::Analysis;
use super::escape::{html as esc, truncate};
use super::load::{Run, Verdict};

/// Renders the summary of `run`.
pub fn render(run: &Run) -> String {
    let analysis = Analysis::of(run);
    let verdict = run.verdict();
    let icon = match verdict {
        Verdict::Valid => "✅",
        Verdict::Invalid => "❌",
        Verdict::Unknown => "⚠️",
        Verdict::Incomplete => "⏹️",
    };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "### {icon} ballot: {} — `{}`\n",
        verdict.as_str().to_uppercase(),
        code(&run.name)
    );
    let c = &analysis.counts;
    let _ = writeln!(
        md,
        "| operations | ok | fail | info | never completed | faults | messages | touched by faults |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n| {} | {} | {} | {} | {} | {} | {} | {} |\n",
        c.total,
        c.ok,
        c.fail,
        c.info,
        c.pending,
        analysis.intervals.len(),
        analysis.effects.total,
        analysis.effects.affected()
    );
    match &run.results {
        Some(results) => {
            if let Some(v) = results.first_violation() {
                let key = v
                    .key
                    .as_deref()
                    .map(|k| format!(", key `{}`", code(k)))
                    .unwrap_or_default();
                let _ = writeln!(
                    md,
                    "**First violation** (`{}`{key}): {}\n",
                    code(&v.property),
                    esc(&one_line(&v.explanation))
                );
            }
            for ch in &results.checkers {
                let mark = match ch.valid {
                    Validity::Valid => "valid",
                    Validity::Invalid => "**invalid**",
                    Validity::Unknown => "unknown",
                };
                let reason = ch
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({})", esc(&one_line(r))))
                    .unwrap_or_default();
                let _ = writeln!(md, "- `{}`: {mark}{reason}", code(&ch.name));
            }
            md.push('\n');
        }
        None => md.push_str("**No results.json**: the run did not finish checking.\n\n"),
    }
    for w in &analysis.warnings {
        let _ = writeln!(md, "> **WARNING:** {}\n", esc(w));
    }
    for n in &run.notes {
        let _ = writeln!(md, "- missing or partial: {}", esc(n));
    }
    if !run.notes.is_empty() {
        md.push('\n');
    }
    let _ = writeln!(md, "Store: `{}`\n", code(&run.dir.display().to_string()));
    if let Some(cmd) = run.rerun_command() {
        let _ = writeln!(md, "Rerun:\n\n```sh\n{}\n```", cmd.replace("```", "'''"));
    }
    md
}

/// Text safe inside a Markdown code span (no backticks, one line).
fn code(text: &str) -> String {
    truncate(&one_line(text), 200).replace('`', "'")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
