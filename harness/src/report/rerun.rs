//! The one command that reruns a run, rebuilt from `test.json`.
//!
//! When `test.json` records the `command` it was started with (a string or
//! an array of words), that command is reused with its `--seed` replaced by
//! the run's own seed and `--test-count` removed (a batch of runs becomes the
//! one run that failed). Otherwise the command is rebuilt from the known
//! parameters, each under its `ballot test` flag.

use serde_json::{Map, Value};

use super::load::param;
use crate::shell;

/// `test.json` fields that map onto `ballot test` flags, in the order printed.
const FLAGS: [(&str, &str); 10] = [
    ("workload", "--workload"),
    ("nodes", "--nodes"),
    ("time_limit", "--time-limit"),
    ("concurrency", "--concurrency"),
    ("rate", "--rate"),
    ("nemesis", "--nemesis"),
    ("nemesis_interval", "--nemesis-interval"),
    ("node_cmd", "--node-cmd"),
    ("bug", "--bug"),
    ("client_bug", "--client-bug"),
];

/// The rerun command, or `None` without `test.json`.
pub fn command(test: Option<&Map<String, Value>>) -> Option<String> {
    let test = test?;
    let seed = param(Some(test), "seed").map(flag_value);
    let recorded = match param(Some(test), "command") {
        Some(Value::String(line)) => Some(shell::split_lenient(line)),
        Some(Value::Array(words)) => Some(words.iter().map(flag_value).collect()),
        _ => None,
    };
    let words = match recorded {
        Some(words) if !words.is_empty() => with_seed(words, seed),
        _ => from_fields(test, seed),
    };
    Some(
        words
            .iter()
            .map(|w| shell::quote(w))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Drops `--seed`/`--test-count` (both `--f v` and `--f=v`) and appends the run's seed.
fn with_seed(words: Vec<String>, seed: Option<String>) -> Vec<String> {
    let Some(seed) = seed else {
        return words;
    };
    let mut out = Vec::with_capacity(words.len() + 2);
    let mut iter = words.into_iter();
    while let Some(word) = iter.next() {
        if word == "--seed" || word == "--test-count" {
            iter.next();
        } else if !(word.starts_with("--seed=") || word.starts_with("--test-count=")) {
            out.push(word);
        }
    }
    out.push("--seed".to_string());
    out.push(seed);
    out
}

fn from_fields(test: &Map<String, Value>, seed: Option<String>) -> Vec<String> {
    let mut words = vec!["ballot".to_string(), "test".to_string()];
    for (field, flag) in FLAGS {
        let value = match param(Some(test), field) {
            None | Some(Value::Bool(false)) => continue,
            // A list of node names stands for its length.
            Some(Value::Array(items)) if field == "nodes" => items.len().to_string(),
            Some(v) => flag_value(v),
        };
        if !value.is_empty() {
            words.push(flag.to_string());
            words.push(value);
        }
    }
    if let Some(seed) = seed {
        words.push("--seed".to_string());
        words.push(seed);
    }
    words
}

/// A parameter as a flag value: lists joined with commas.
fn flag_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(flag_value).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(json: &str) -> Option<String> {
        let map: Map<String, Value> = serde_json::from_str(json).unwrap();
        command(Some(&map))
    }

    #[test]
    fn rerun_commands() {
        let table = [
            (
                r#"{"seed": 42, "nodes": 3, "workload": "write-once", "time_limit": 30,
                    "nemesis": ["kill", "partition"], "bug": null, "client_bug": false}"#,
                "ballot test --workload write-once --nodes 3 --time-limit 30 --nemesis kill,partition --seed 42",
            ),
            (
                r#"{"seed": 7, "command": "ballot test --nodes 5 --test-count 10 --seed 1"}"#,
                "ballot test --nodes 5 --seed 7",
            ),
            (
                r#"{"seed": 7, "command": ["ballot", "test", "--seed=1", "--node-cmd", "my node {id}"]}"#,
                "ballot test --node-cmd 'my node {id}' --seed 7",
            ),
            (
                r#"{"command": "ballot test --seed 3"}"#,
                "ballot test --seed 3",
            ),
            (
                r#"{"nodes": ["n1", "n2", "n3", "n4"], "node-cmd": "x; rm -rf /", "seed": "9"}"#,
                "ballot test --nodes 4 --node-cmd 'x; rm -rf /' --seed 9",
            ),
            (r#"{}"#, "ballot test"),
        ];
        for (json, want) in table {
            assert_eq!(cmd(json).as_deref(), Some(want), "from {json}");
        }
        assert_eq!(command(None), None);
    }
}
