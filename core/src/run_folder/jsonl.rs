//! JSON Lines record files: a strict reader for tools that replay or
//! measure a run, and a lenient parser for reports of a run that was killed.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::RunFolderError;

/// Reads every record of `dir/file`; blank lines are skipped, a missing file
/// is no records, and a line that is not a record is an error naming it.
pub fn read_records<T: DeserializeOwned>(dir: &Path, file: &str) -> Result<Vec<T>, RunFolderError> {
    let path = dir.join(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(RunFolderError::Io { path, source }),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| RunFolderError::Corrupt {
                path: path.clone(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
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
    fn strict_reading_names_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_records::<R>(dir.path(), "x.jsonl").unwrap().is_empty());
        std::fs::write(dir.path().join("x.jsonl"), "{\"a\":1}\n\n{\"a\":2}\n").unwrap();
        let got: Vec<R> = read_records(dir.path(), "x.jsonl").unwrap();
        assert_eq!(got, [R { a: 1 }, R { a: 2 }]);
        std::fs::write(dir.path().join("x.jsonl"), "{\"a\":1}\nxx\n").unwrap();
        let err = read_records::<R>(dir.path(), "x.jsonl")
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("x.jsonl:2: expected value at line 1 column 1"),
            "{err}"
        );
    }
}
