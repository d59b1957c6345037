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
use ballot_core::verdict::{Results, Validity};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::ReportError;

/// Everything the reports need from one run folder.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// The run folder.
    pub dir: PathBuf,
    /// The folder's name, e.g. `write-once-20250101T000000Z`.
    pub name: String,
    /// `test.json`, when present and a JSON object.
    pub test: Option<Map<String, Value>>,
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
            Some(text) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(map)) => Some(map),
                Ok(_) => {
                    run.notes.push(format!(
                        "{TEST_FILE} is not a JSON object; parameters unknown"
                    ));
                    None
                }
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
    pub fn param(&self, name: &str) -> Option<&Value> {
        param(self.test.as_ref(), name)
    }
}

/// A field of an optional `test.json` object, under its snake_case or kebab-case name.
pub fn param<'a>(test: Option<&'a Map<String, Value>>, name: &str) -> Option<&'a Value> {
    let test = test?;
    test.get(name)
        .or_else(|| test.get(&name.replace('_', "-")))
        .or_else(|| test.get(&name.replace('-', "_")))
        .filter(|v| !v.is_null())
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

/// The readable records of a JSON Lines text, and what was not readable.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed<T> {
    /// Records in file order.
    pub records: Vec<T>,
    /// Unreadable lines other than a torn last line.
    pub bad_lines: usize,
    /// The first unreadable line: its number (from 1) and the parse error.
    pub first_bad: Option<(usize, String)>,
    /// The last line had no newline and did not parse: a write was cut short.
    pub torn_tail: bool,
}

impl<T> Parsed<T> {
    /// A sentence for the report, when anything was unreadable.
    pub fn note(&self, file: &str) -> Option<String> {
        let mut parts = Vec::new();
        if self.torn_tail {
            parts.push("its last line is cut short (the run was probably killed)".to_string());
        }
        if let Some((line, error)) = &self.first_bad {
            parts.push(format!(
                "{} unreadable line(s), the first at line {line}: {error}",
                self.bad_lines
            ));
        }
        if parts.is_empty() {
            None
        } else {
            Some(format!(
                "{file}: {}; {} record(s) read",
                parts.join("; "),
                self.records.len()
            ))
        }
    }
}

/// Parses JSON Lines, skipping blank lines and keeping every readable record.
pub fn parse_jsonl<T: DeserializeOwned>(text: &str) -> Parsed<T> {
    let mut parsed = Parsed {
        records: Vec::new(),
        bad_lines: 0,
        first_bad: None,
        torn_tail: false,
    };
    let ends_with_newline = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<T>(line) {
            Ok(record) => parsed.records.push(record),
            Err(_) if i == last && !ends_with_newline => parsed.torn_tail = true,
            Err(e) => {
                parsed.bad_lines += 1;
                if parsed.first_bad.is_none() {
                    parsed.first_bad = Some((i + 1, e.to_string()));
                }
            }
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct R {
        a: u32,
    }

    #[test]
    fn jsonl_keeps_good_lines_and_reports_bad_ones() {
        let table: [(&str, &[u32], usize, bool); 5] = [
            ("{\"a\":1}\n{\"a\":2}\n", &[1, 2], 0, false),
            ("{\"a\":1}\n{\"a\":", &[1], 0, true),
            ("{\"a\":1}\nnot json\n{\"a\":3}\n", &[1, 3], 1, false),
            ("\n\n{\"a\":1}\n\n", &[1], 0, false),
            ("", &[], 0, false),
        ];
        for (text, want, bad, torn) in table {
            let parsed: Parsed<R> = parse_jsonl(text);
            let got: Vec<u32> = parsed.records.iter().map(|r| r.a).collect();
            assert_eq!(got, want, "records of {text:?}");
            assert_eq!(parsed.bad_lines, bad, "bad lines of {text:?}");
            assert_eq!(parsed.torn_tail, torn, "torn tail of {text:?}");
        }
    }

    #[test]
    fn notes_name_the_file_and_the_first_bad_line() {
        let parsed: Parsed<R> = parse_jsonl("{\"a\":1}\nxx\n{\"a\":");
        let note = parsed.note("history.jsonl").unwrap();
        assert!(
            note.starts_with("history.jsonl: its last line is cut short"),
            "{note}"
        );
        assert!(
            note.contains("1 unreadable line(s), the first at line 2"),
            "{note}"
        );
        assert!(parse_jsonl::<R>("{\"a\":1}\n").note("x").is_none());
    }

    #[test]
    fn params_accept_snake_and_kebab_case() {
        let test: Map<String, Value> =
            serde_json::from_str(r#"{"time-limit": 30, "node_cmd": "x", "bug": null}"#).unwrap();
        assert_eq!(param(Some(&test), "time_limit"), Some(&Value::from(30)));
        assert_eq!(param(Some(&test), "node-cmd"), Some(&Value::from("x")));
        assert_eq!(param(Some(&test), "bug"), None);
        assert_eq!(param(None, "seed"), None);
    }
}
