//! `test.json`, typed: the parameters of one run, read and written, and the
//! `ballot test` command that reruns it.
//!
//! Every run folder (`ballot test`, `ballot scenario`, `ballot replay`, or a
//! folder another tool wrote) has a `test.json`. Reading is lenient, because a
//! report must open any folder: keys may be kebab-case (`time-limit`), lists
//! may be comma strings, `nodes` may be a list of names, and a field whose
//! value has the wrong type is kept, untyped, in [`TestParams::extra`].
//! Writing goes through a temporary file, an fsync and a rename, so a
//! `test.json` is always whole.

use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::RunFolderError;
use crate::records::TEST_FILE;
use crate::shell;

/// The parameters of one run, as recorded in `test.json`.
///
/// Every field is optional on reading: a scenario records no rate, a foreign
/// tool may record only a seed. Fields ballot does not know stay in `extra`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TestParams {
    /// The seed of the run's randomness (`--seed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The named set of phases the run came from (`--profile`): `single` for
    /// one configuration; absent when the flags alone gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Workload name (`register`, `kv`, ..., or `scenario`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// Number of acceptor nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u64>,
    /// Seconds of workload (`--time-limit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_limit: Option<f64>,
    /// Concurrent clients (`--concurrency`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u64>,
    /// Ops per second over all clients (`--rate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Fraction of reads (`--read-fraction`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_fraction: Option<f64>,
    /// The register workload's key (`--key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The kv workload's window of live keys (`--window`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<u64>,
    /// The kv workload's ops per key (`--ops-per-key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ops_per_key: Option<u64>,
    /// Fault kinds, a comma list (`--nemesis`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nemesis: Option<String>,
    /// Mean seconds between faults (`--nemesis-interval`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nemesis_interval: Option<f64>,
    /// Which nodes faults hit (`--nemesis-targets`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nemesis_targets: Option<String>,
    /// Partition shapes, a comma list (`--partition-shapes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_shapes: Option<String>,
    /// The command template that starts one node (`--node-cmd`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_cmd: Option<String>,
    /// Node bugs (`--bug`).
    pub bug: Vec<String>,
    /// Client (proposer) bugs (`--client-bug`).
    pub client_bug: Vec<String>,
    /// Who proposes, `clients` or `nodes` (`--proposers`); absent in older runs (clients).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposers: Option<String>,
    /// First port of the cluster (`--base-port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_port: Option<u16>,
    /// The store folder (`--store`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Seconds before a client gives up on an op (`--op-timeout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op_timeout: Option<f64>,
    /// The linearizability model (`--model`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The checker's time budget in seconds (`--check-timeout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_timeout: Option<f64>,
    /// Tests in the batch this run belongs to (`--test-count`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_count: Option<u64>,
    /// Whether clients bypassed the proxy (`--direct`), so no message log exists.
    pub direct: bool,
    /// The command line that started the run, one word each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// The version of ballot that wrote the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ballot_version: Option<String>,
    /// Every other field (`schedule`, `scenario`, `replay_of`, a foreign
    /// tool's own), and any known field whose value had the wrong type.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One `ballot test` flag, the `test.json` field it is recorded under, and
/// how the field reads as flag values. The one table behind every rerun command.
type FlagRow = (&'static str, fn(&TestParams) -> Vec<String>);

/// The value flags of `ballot test`, in the order a rerun command prints them.
const FLAGS: [FlagRow; 23] = [
    ("--profile", |p| opt(&p.profile)),
    ("--workload", |p| opt(&p.workload)),
    ("--nodes", |p| opt(&p.nodes)),
    ("--time-limit", |p| opt(&p.time_limit)),
    ("--concurrency", |p| opt(&p.concurrency)),
    ("--rate", |p| opt(&p.rate)),
    ("--read-fraction", |p| opt(&p.read_fraction)),
    ("--key", |p| opt(&p.key)),
    ("--window", |p| opt(&p.window)),
    ("--ops-per-key", |p| opt(&p.ops_per_key)),
    ("--nemesis", |p| opt(&p.nemesis)),
    ("--nemesis-interval", |p| opt(&p.nemesis_interval)),
    ("--nemesis-targets", |p| opt(&p.nemesis_targets)),
    ("--partition-shapes", |p| opt(&p.partition_shapes)),
    ("--node-cmd", |p| opt(&p.node_cmd)),
    ("--bug", |p| p.bug.clone()),
    ("--client-bug", |p| p.client_bug.clone()),
    ("--proposers", |p| opt(&p.proposers)),
    ("--base-port", |p| opt(&p.base_port)),
    ("--store", |p| opt(&p.store)),
    ("--op-timeout", |p| opt(&p.op_timeout)),
    ("--model", |p| opt(&p.model)),
    ("--check-timeout", |p| opt(&p.check_timeout)),
];

fn opt<T: ToString>(v: &Option<T>) -> Vec<String> {
    v.iter().map(T::to_string).collect()
}

impl TestParams {
    /// Reads `dir/test.json`.
    pub fn read(dir: &Path) -> Result<Self, RunFolderError> {
        let path = dir.join(TEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| RunFolderError::Io {
            path: path.clone(),
            source,
        })?;
        Self::from_json(&text).map_err(|message| RunFolderError::NotAnObject { path, message })
    }

    /// Reads `dir/test.json`, or `None` when the folder has none.
    pub fn read_optional(dir: &Path) -> Result<Option<Self>, RunFolderError> {
        match Self::read(dir) {
            Ok(p) => Ok(Some(p)),
            Err(RunFolderError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Parses the text of a `test.json`; it must be a JSON object.
    pub fn from_json(text: &str) -> Result<Self, String> {
        match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Ok(Self::from_map(map)),
            Ok(_) => Err("not a JSON object".to_string()),
            Err(e) => Err(format!("not JSON: {e}")),
        }
    }

    /// Reads the fields of a `test.json` object, leniently (see the module docs).
    pub fn from_map(map: Map<String, Value>) -> Self {
        let mut extra = Map::new();
        for (key, value) in map {
            if value.is_null() {
                continue;
            }
            let snake = key.replace('-', "_");
            let name = if snake == "bugs" { "bug".into() } else { snake };
            // A snake_case key wins over its kebab-case twin.
            if name == key || !extra.contains_key(&name) {
                extra.insert(name, value);
            }
        }
        let mut p = TestParams::default();
        let mut take = |name: &str, read: &mut dyn FnMut(&Value) -> bool| {
            if let Some(v) = extra.get(name) {
                if read(v) {
                    extra.remove(name);
                }
            }
        };
        take("seed", &mut |v| set(&mut p.seed, as_u64(v)));
        take("profile", &mut |v| set(&mut p.profile, as_string(v)));
        take("workload", &mut |v| set(&mut p.workload, as_string(v)));
        take("nodes", &mut |v| {
            let n = match v {
                Value::Array(names) => Some(names.len() as u64),
                v => as_u64(v),
            };
            set(&mut p.nodes, n)
        });
        take("time_limit", &mut |v| set(&mut p.time_limit, as_f64(v)));
        take("concurrency", &mut |v| set(&mut p.concurrency, as_u64(v)));
        take("rate", &mut |v| set(&mut p.rate, as_f64(v)));
        take("read_fraction", &mut |v| {
            set(&mut p.read_fraction, as_f64(v))
        });
        take("key", &mut |v| set(&mut p.key, as_string(v)));
        take("window", &mut |v| set(&mut p.window, as_u64(v)));
        take("ops_per_key", &mut |v| set(&mut p.ops_per_key, as_u64(v)));
        take("nemesis", &mut |v| set(&mut p.nemesis, as_list_string(v)));
        take("nemesis_interval", &mut |v| {
            set(&mut p.nemesis_interval, as_f64(v))
        });
        take("nemesis_targets", &mut |v| {
            set(&mut p.nemesis_targets, as_string(v))
        });
        take("partition_shapes", &mut |v| {
            set(&mut p.partition_shapes, as_list_string(v))
        });
        take("node_cmd", &mut |v| set(&mut p.node_cmd, as_string(v)));
        take("bug", &mut |v| set_list(&mut p.bug, v));
        take("client_bug", &mut |v| set_list(&mut p.client_bug, v));
        take("proposers", &mut |v| set(&mut p.proposers, as_string(v)));
        take("base_port", &mut |v| {
            set(&mut p.base_port, as_u64(v).and_then(|n| n.try_into().ok()))
        });
        take("store", &mut |v| set(&mut p.store, as_string(v)));
        take("op_timeout", &mut |v| set(&mut p.op_timeout, as_f64(v)));
        take("model", &mut |v| set(&mut p.model, as_string(v)));
        take("check_timeout", &mut |v| {
            set(&mut p.check_timeout, as_f64(v))
        });
        take("test_count", &mut |v| set(&mut p.test_count, as_u64(v)));
        take("direct", &mut |v| match v {
            Value::Bool(b) => {
                p.direct = *b;
                true
            }
            _ => false,
        });
        take("command", &mut |v| match v {
            Value::String(line) => {
                p.command = shell::split_lenient(line);
                true
            }
            Value::Array(words) => {
                p.command = words.iter().map(flag_value).collect();
                true
            }
            _ => false,
        });
        take("ballot_version", &mut |v| {
            set(&mut p.ballot_version, as_string(v))
        });
        p.extra = extra;
        p
    }

    /// Writes `dir/test.json` whole: a temporary file, fsynced, then renamed.
    pub fn write(&self, dir: &Path) -> Result<(), RunFolderError> {
        let mut text = serde_json::to_vec_pretty(self).expect("test.json serialises");
        text.push(b'\n');
        super::write_whole(&dir.join(TEST_FILE), &text)
    }

    /// Every recorded field as JSON, known and extra, sorted by name (for display).
    pub fn to_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// One recorded field by its snake_case name, as JSON (`None` if absent).
    pub fn field(&self, name: &str) -> Option<Value> {
        let mut map = self.to_map();
        map.remove(name).filter(|v| match v {
            Value::Array(items) => !items.is_empty(),
            v => !v.is_null(),
        })
    }

    /// The `ballot test` value flags these parameters record, in print order,
    /// each with its values (none when not recorded, several for a repeated flag).
    pub fn flags(&self) -> Vec<(&'static str, Vec<String>)> {
        FLAGS
            .iter()
            .map(|(flag, read)| (*flag, read(self)))
            .collect()
    }

    /// The arguments after `ballot test` that rerun this run: each flag whose
    /// values differ from `defaults` (pass `TestParams::default()` to print
    /// every recorded flag), `--direct` if set, then `--seed` if known.
    pub fn rerun_args(&self, defaults: &TestParams) -> Vec<String> {
        let mut args = Vec::new();
        for ((flag, values), (_, default)) in self.flags().into_iter().zip(defaults.flags()) {
            if values == default {
                continue;
            }
            for value in values.into_iter().filter(|v| !v.is_empty()) {
                args.push(flag.to_string());
                args.push(value);
            }
        }
        if self.direct {
            args.push("--direct".to_string());
        }
        if let Some(seed) = self.seed {
            args.push("--seed".to_string());
            args.push(seed.to_string());
        }
        args
    }

    /// The words of the one command that reruns this run: the recorded
    /// `command` with its `--seed` set to the run's own and `--test-count`
    /// dropped (a batch becomes the one run), else `ballot test` rebuilt
    /// from every recorded flag.
    pub fn rerun_words(&self) -> Vec<String> {
        if self.command.is_empty() {
            return ["ballot", "test"]
                .into_iter()
                .map(str::to_string)
                .chain(self.rerun_args(&TestParams::default()))
                .collect();
        }
        let Some(seed) = self.seed else {
            return self.command.clone();
        };
        let mut out = Vec::with_capacity(self.command.len() + 2);
        let mut words = self.command.iter();
        while let Some(word) = words.next() {
            if word == "--seed" || word == "--test-count" {
                words.next();
            } else if !(word.starts_with("--seed=") || word.starts_with("--test-count=")) {
                out.push(word.clone());
            }
        }
        out.push("--seed".to_string());
        out.push(seed.to_string());
        out
    }

    /// [`rerun_words`](Self::rerun_words) as one line for a POSIX shell.
    pub fn rerun_command(&self) -> String {
        self.rerun_words()
            .iter()
            .map(|w| shell::quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl<'de> Deserialize<'de> for TestParams {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_map(Map::deserialize(d)?))
    }
}

/// Stores `value` when it was readable; says whether it was.
fn set<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    let ok = value.is_some();
    if ok {
        *slot = value;
    }
    ok
}

/// Reads a list field (a list, a comma string, or `false` for none).
fn set_list(slot: &mut Vec<String>, v: &Value) -> bool {
    match v {
        Value::Bool(false) => true,
        Value::String(s) => {
            *slot = s
                .split(',')
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect();
            true
        }
        Value::Array(items) if items.iter().all(Value::is_string) => {
            *slot = items.iter().map(flag_value).collect();
            true
        }
        _ => false,
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A comma string, or a list of strings joined with commas.
fn as_list_string(v: &Value) -> Option<String> {
    match v {
        Value::Array(items) if items.iter().all(Value::is_string) => {
            Some(items.iter().map(flag_value).collect::<Vec<_>>().join(","))
        }
        v => as_string(v),
    }
}

/// A JSON value as one word.
fn flag_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rerun(json: &str) -> String {
        TestParams::from_json(json).unwrap().rerun_command()
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
            assert_eq!(rerun(json), want, "from {json}");
        }
    }

    #[test]
    fn flags_differing_from_defaults_rerun_the_test() {
        let defaults = TestParams {
            nodes: Some(3),
            time_limit: Some(30.0),
            ..TestParams::default()
        };
        let run = TestParams {
            seed: Some(5),
            nodes: Some(3),
            time_limit: Some(2.5),
            bug: vec!["memory-only".into(), "promise-only".into()],
            direct: true,
            ..defaults.clone()
        };
        assert_eq!(
            run.rerun_args(&defaults),
            [
                "--time-limit",
                "2.5",
                "--bug",
                "memory-only",
                "--bug",
                "promise-only",
                "--direct",
                "--seed",
                "5"
            ]
        );
    }

    #[test]
    fn reading_is_lenient_and_keeps_what_it_cannot_type() {
        let p = TestParams::from_json(
            r#"{"time-limit": 30, "time_limit": 10, "nodes": "three", "bugs": "a,b",
                "schedule": [1], "direct": true, "seed": null}"#,
        )
        .unwrap();
        assert_eq!(p.time_limit, Some(10.0), "snake_case wins over kebab-case");
        assert_eq!(p.nodes, None);
        assert_eq!(p.extra.get("nodes"), Some(&Value::from("three")));
        assert_eq!(p.bug, ["a", "b"]);
        assert!(p.direct);
        assert_eq!(p.seed, None);
        assert_eq!(p.extra.get("schedule"), Some(&serde_json::json!([1])));
        assert_eq!(p.field("time_limit"), Some(Value::from(10.0)));
        assert_eq!(p.field("bug"), Some(serde_json::json!(["a", "b"])));
        assert_eq!(p.field("client_bug"), None);
        assert!(TestParams::from_json("[1]").is_err());
        assert!(TestParams::from_json("{").is_err());
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = TestParams {
            seed: Some(42),
            workload: Some("kv".into()),
            nodes: Some(5),
            rate: Some(0.5),
            command: vec!["ballot".into(), "test".into(), "--seed".into(), "42".into()],
            ..TestParams::default()
        };
        p.extra.insert("scenario".into(), Value::from("S01"));
        p.write(dir.path()).unwrap();
        assert_eq!(TestParams::read(dir.path()).unwrap(), p);
        assert!(!dir.path().join(".test.json.tmp").exists());
        let empty = tempfile::tempdir().unwrap();
        assert!(TestParams::read_optional(empty.path()).unwrap().is_none());
        std::fs::write(empty.path().join(TEST_FILE), "[]").unwrap();
        let err = TestParams::read(empty.path()).unwrap_err();
        assert!(err.to_string().contains("not a JSON object"), "{err}");
    }
}
