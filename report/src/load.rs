//! Reads a run folder into typed records.
//!
//! A run may have been killed half-way, so every file is optional and every
//! JSON Lines file may end in a torn line. Loading never fails on content:
//! unreadable parts become [`Run::notes`], which the reports show.

use std::path::{Path, PathBuf};

use ballot_core::records::{
    Event, Exchange, NemesisRecord, Snapshot, HISTORY_FILE, MESSAGES_FILE, NEMESIS_FILE,
    RESULTS_FILE, SNAPSHOTS_FILE, TEST_FILE,
};
use ballot_core::run_folder::{parse_jsonl, TestParams};
use ballot_core::verdict::{Results, Validity};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ReportError;

/// Everything the reports need from one run folder.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// The run folder.
    pub dir: PathBuf,
    /// The folder's name, e.g. `write-once-20250101T000000Z`.
    pub name: String,
    /// `test.json`, when present and a JSON object.
    pub test: Option<TestParams>,
    /// `history.jsonl`.
    pub history: Vec<Event>,
    /// `messages.jsonl`.
    pub messages: Vec<Exchange>,
    /// `nemesis.jsonl`.
    pub nemesis: Vec<NemesisRecord>,
    /// `snapshots.jsonl`.
    pub snapshots: Vec<Snapshot>,
    /// `results.json`, when present and readable.
    pub results: Option<Results>,
    /// What is missing or partial, one sentence each.
    pub notes: Vec<String>,
    /// Names of the entries in the run folder (sub-folders end in `/`), sorted.
    pub files: Vec<String>,
}

/// The overall state of a run, as the reports colour it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `results.json` says valid.
    Valid,
    /// `results.json` says invalid.
    Invalid,
    /// `results.json` says unknown.
    Unknown,
    /// No readable `results.json`: the run did not finish checking.
    Incomplete,
}

impl Verdict {
    /// The verdict of optional results.
    pub fn of(results: Option<&Results>) -> Self {
        match results.map(|r| r.valid) {
            Some(Validity::Valid) => Verdict::Valid,
            Some(Validity::Invalid) => Verdict::Invalid,
            Some(Validity::Unknown) => Verdict::Unknown,
            None => Verdict::Incomplete,
        }
    }

    /// Lower-case name, also the CSS class: `valid`, `invalid`, `unknown`, `incomplete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
            Verdict::Incomplete => "incomplete",
        }
    }
}

impl Run {
    /// Reads the run folder at `dir`; only a missing folder is an error.
    pub fn load(dir: &Path) -> Result<Run, ReportError> {
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(ReportError::NotARunFolder {
                    path: dir.to_path_buf(),
                    reason: "it is not a folder".to_string(),
                })
            }
            Err(e) => {
                return Err(ReportError::NotARunFolder {
                    path: dir.to_path_buf(),
                    reason: e.to_string(),
                })
            }
        }
        let mut run = Run {
            dir: dir.to_path_buf(),
            name: run_name(dir),
            ..Run::default()
        };
        run.test = match read_text(dir, TEST_FILE, &mut run.notes) {
            Some(text) => match TestParams::from_json(&text) {
                Ok(test) => Some(test),
                Err(e) => {
                    run.notes.push(format!(
                        "{TEST_FILE} is unreadable ({e}); parameters unknown"
                    ));
                    None
                }
            },
            None => None,
        };
        run.files = list_files(dir);
        run.history = read_jsonl(dir, HISTORY_FILE, &mut run.notes);
        run.messages = read_jsonl(dir, MESSAGES_FILE, &mut run.notes);
        run.nemesis = read_jsonl(dir, NEMESIS_FILE, &mut run.notes);
        run.snapshots = read_jsonl(dir, SNAPSHOTS_FILE, &mut run.notes);
        run.results = match read_text(dir, RESULTS_FILE, &mut run.notes) {
            Some(text) => match serde_json::from_str::<Results>(&text) {
                Ok(results) => Some(results),
                Err(e) => {
                    run.notes.push(format!(
                        "{RESULTS_FILE} is unreadable ({e}); the verdict is incomplete"
                    ));
                    None
                }
            },
            None => None,
        };
        Ok(run)
    }

    /// The run's verdict, `Incomplete` without results.
    pub fn verdict(&self) -> Verdict {
        Verdict::of(self.results.as_ref())
    }

    /// A parameter from `test.json`, under its snake_case or kebab-case name.
    pub fn param(&self, name: &str) -> Option<Value> {
        self.test.as_ref()?.field(&name.replace('-', "_"))
    }

    /// The one command that reruns this run, or `None` without `test.json`.
    pub fn rerun_command(&self) -> Option<String> {
        self.test.as_ref().map(TestParams::rerun_command)
    }
}

fn run_name(dir: &Path) -> String {
    let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| canonical.display().to_string())
}

fn list_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<String> = entries
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                format!("{name}/")
            } else {
                name
            }
        })
        .filter(|name| !name.starts_with('.'))
        .collect();
    files.sort();
    files
}

/// Reads a file as (lossy) UTF-8; a missing file becomes a note.
fn read_text(dir: &Path, file: &str, notes: &mut Vec<String>) -> Option<String> {
    match std::fs::read(dir.join(file)) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            notes.push(format!("{file} is missing"));
            None
        }
        Err(e) => {
            notes.push(format!("{file} cannot be read: {e}"));
            None
        }
    }
}

fn read_jsonl<T: DeserializeOwned>(dir: &Path, file: &str, notes: &mut Vec<String>) -> Vec<T> {
    let Some(text) = read_text(dir, file, notes) else {
        return Vec::new();
    };
    let parsed = parse_jsonl(&text);
    if let Some(note) = parsed.note(file) {
        notes.push(note);
    }
    parsed.records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_accept_snake_and_kebab_case() {
        let run = Run {
            test: Some(
                TestParams::from_json(r#"{"time-limit": 30, "node_cmd": "x", "bug": null}"#)
                    .unwrap(),
            ),
            ..Run::default()
        };
        assert_eq!(run.param("time_limit"), Some(Value::from(30.0)));
        assert_eq!(run.param("node-cmd"), Some(Value::from("x")));
        assert_eq!(run.param("bug"), None);
        assert_eq!(Run::default().param("seed"), None);
    }
}
