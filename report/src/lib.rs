//! Reports people read, made from one run folder: `report.html`, the
//! `latency.svg` and `rate.svg` plots, `junit.xml`, the Markdown step summary,
//! and `ballot serve`, which browses a store of run folders.
//!
//! Every renderer reads the run through [`load::Run`], which tolerates missing
//! and partially written files (a killed run): it renders what exists and
//! says what is missing. Nothing here panics on input.
//!
//! # Layout
//!
//! - [`load`]: read a run folder into typed records, noting what is missing or torn.
//! - [`escape`]: HTML/XML escaping and shell quoting (all text from files goes through it).
//! - [`analysis`]: the figures all reports share, derived once from a loaded run.
//! - [`ops`]: pair invocations with completions; windows and downsampling for large runs.
//! - [`faults`]: fault intervals, fault effects per link, per-node faults, warnings.
//! - [`timeline`]: operations per process as bars, with fault intervals (inline SVG).
//! - [`plots`]: `latency.svg` and `rate.svg` with plotters' SVG backend.
//! - [`diagram`]: the Lamport space-time message diagram around the first violation.
//! - [`html`]: assembles the self-contained `report.html`.
//! - [`junit`]: `junit.xml`, one test case per checker.
//! - [`summary`]: the Markdown step summary (`--summary-md FILE`).
//! - [`serve`]: the `ballot serve` HTTP server over a store folder.
//!
//! # Example
//!
//! A run killed before it wrote anything still gets a report, which says
//! what is missing instead of failing:
//!
//! ```
//! use ballot_report::{write_all, Run, Verdict};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let run = Run::load(dir.path()).unwrap();
//! assert_eq!(run.verdict(), Verdict::Incomplete);
//! assert!(run.notes.iter().any(|n| n.contains("history.jsonl")), "{:?}", run.notes);
//! let files = write_all(dir.path()).unwrap();
//! let page = std::fs::read_to_string(&files.html).unwrap();
//! assert!(page.contains("INCOMPLETE") || page.contains("incomplete"));
//! ```

pub mod analysis;
pub mod diagram;
pub mod escape;
pub mod faults;
pub mod html;
pub mod junit;
pub mod load;
pub mod ops;
pub mod plots;
pub mod serve;
pub mod summary;
pub mod timeline;

pub use load::{Run, Verdict};

use std::path::{Path, PathBuf};

/// File name of the HTML report in a run folder.
pub const REPORT_FILE: &str = "report.html";
/// File name of the latency plot in a run folder.
pub const LATENCY_FILE: &str = "latency.svg";
/// File name of the throughput plot in a run folder.
pub const RATE_FILE: &str = "rate.svg";
/// File name of the JUnit report in a run folder.
pub const JUNIT_FILE: &str = "junit.xml";

/// Why a report could not be produced (bad content never is a reason: it is rendered as a note).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The run folder does not exist or is not a folder.
    #[error("{path} is not a run folder: {reason}")]
    NotARunFolder {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A report file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// plotters failed to draw a plot.
    #[error("cannot draw {what}: {message}")]
    Plot {
        /// Which plot.
        what: &'static str,
        /// plotters' error.
        message: String,
    },
}

/// The files [`write_all`] wrote, all inside the run folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportFiles {
    /// `report.html`.
    pub html: PathBuf,
    /// `latency.svg`.
    pub latency_svg: PathBuf,
    /// `rate.svg`.
    pub rate_svg: PathBuf,
    /// `junit.xml`.
    pub junit: PathBuf,
}

/// Writes `report.html`, `latency.svg`, `rate.svg` and `junit.xml` into `run_dir`.
///
/// Missing or partial inputs are rendered as notes; only an unreadable run
/// folder or a failed write is an error. Each file is written to a temporary
/// name and renamed, so `ballot serve` never shows half a file.
pub fn write_all(run_dir: &Path) -> Result<ReportFiles, ReportError> {
    let run = load::Run::load(run_dir)?;
    let analysis = analysis::Analysis::of(&run);
    let latency = plots::latency_svg(&analysis.ops, &analysis.intervals, analysis.end)?;
    let rate = plots::rate_svg(&analysis.ops, &analysis.intervals, analysis.end)?;
    let page = html::render(&run, &analysis, &latency, &rate);
    let junit = junit::render(&run);
    let files = ReportFiles {
        html: run_dir.join(REPORT_FILE),
        latency_svg: run_dir.join(LATENCY_FILE),
        rate_svg: run_dir.join(RATE_FILE),
        junit: run_dir.join(JUNIT_FILE),
    };
    write_atomically(&files.latency_svg, &latency)?;
    write_atomically(&files.rate_svg, &rate)?;
    write_atomically(&files.junit, &junit)?;
    write_atomically(&files.html, &page)?;
    Ok(files)
}

/// The Markdown step summary of a run (for `--summary-md FILE`, e.g. `$GITHUB_STEP_SUMMARY`).
pub fn summary_markdown(run_dir: &Path) -> Result<String, ReportError> {
    let run = load::Run::load(run_dir)?;
    Ok(summary::render(&run))
}

fn write_atomically(path: &Path, text: &str) -> Result<(), ReportError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("report");
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let err = |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
