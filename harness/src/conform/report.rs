//! What `ballot conform` prints: one line per check, each failure
//! explained, a summary, the command that reruns the failed checks; or the
//! same as one JSON document (`--json`). Pure: built from the results.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use super::rules::Rule;
use super::run::{Failure, Outcome};

/// One check's result.
#[derive(Clone, Debug)]
pub struct CheckResult {
    /// The rule it checked.
    pub rule: Rule,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took.
    pub elapsed: Duration,
}

/// Every result of a run, and what is needed to rerun it.
#[derive(Clone, Debug)]
pub struct Report {
    /// The node command as given (or the default).
    pub node_cmd: String,
    /// The results, in table order.
    pub results: Vec<CheckResult>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Where the node folders were kept, if they were.
    pub kept: Option<PathBuf>,
    /// The `ballot conform` arguments that select this node (for the rerun command).
    pub rerun_args: Vec<String>,
}

/// The line printed when a check ends: `PASS  health  0.21 s`.
pub fn line(result: &CheckResult, width: usize) -> String {
    let name = result.rule.name;
    let secs = result.elapsed.as_secs_f64();
    match &result.outcome {
        Outcome::Pass => format!("PASS  {name:<width$}  {secs:.2} s"),
        Outcome::Fail(_) => format!("FAIL  {name:<width$}  {secs:.2} s"),
        Outcome::Skip(why) => format!("SKIP  {name:<width$}  ({why})"),
    }
}

/// The width [`line`] pads rule names to, for a list of rules.
pub fn width_of(rules: &[Rule]) -> usize {
    rules.iter().map(|r| r.name.len()).max().unwrap_or(0)
}

impl Report {
    /// Whether no check failed.
    pub fn valid(&self) -> bool {
        self.failed() == 0
    }

    fn count(&self, pick: fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| pick(&r.outcome)).count()
    }

    /// How many checks passed.
    pub fn passed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Pass))
    }

    /// How many failed.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Fail(_)))
    }

    /// How many did not apply.
    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Skip(_)))
    }

    /// The names of the failed checks.
    pub fn failed_rules(&self) -> Vec<&'static str> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
            .map(|r| r.rule.name)
            .collect()
    }

    /// The command that reruns only the failed checks.
    pub fn reproduce(&self) -> String {
        let mut words = vec!["ballot".to_string(), "conform".to_string()];
        words.extend(self.rerun_args.iter().cloned());
        for name in self.failed_rules() {
            words.extend(["--rule".to_string(), name.to_string()]);
        }
        words
            .iter()
            .map(|w| ballot_core::shell::quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Everything printed after the check lines: each failure, the summary.
    pub fn text_tail(&self) -> String {
        let mut out = String::new();
        for result in &self.results {
            if let Outcome::Fail(failure) = &result.outcome {
                out.push('\n');
                out.push_str(&explain(&result.rule, failure));
            }
        }
        out.push('\n');
        out.push_str(&self.summary());
        out.push('\n');
        if !self.valid() {
            out.push_str(&format!("REPRODUCE WITH: {}\n", self.reproduce()));
        }
        if let Some(dir) = &self.kept {
            out.push_str(&format!(
                "node folders (logs, data dirs): {}\n",
                dir.display()
            ));
        }
        out
    }

    /// `conform: 25 passed, 1 failed, 1 skipped of 27 checks in 3.1 s: ...`
    pub fn summary(&self) -> String {
        let verdict = if self.valid() {
            "the node follows every rule checked".to_string()
        } else {
            format!("NOT CONFORMING ({})", self.failed_rules().join(", "))
        };
        format!(
            "conform: {} passed, {} failed, {} skipped of {} checks in {:.1} s: {verdict}",
            self.passed(),
            self.failed(),
            self.skipped(),
            self.results.len(),
            self.elapsed.as_secs_f64()
        )
    }

    /// The whole report as one JSON document.
    pub fn to_json(&self) -> Value {
        let checks: Vec<Value> = self
            .results
            .iter()
            .map(|r| {
                let mut check = json!({
                    "rule": r.rule.name,
                    "statement": r.rule.rule,
                    "source": r.rule.source(),
                    "seconds": r.elapsed.as_secs_f64(),
                });
                let (result, detail) = match &r.outcome {
                    Outcome::Pass => ("pass", None),
                    Outcome::Fail(f) => ("fail", Some(("failure", failure_json(f)))),
                    Outcome::Skip(why) => ("skip", Some(("skipped", json!(why)))),
                };
                check["result"] = json!(result);
                if let Some((name, value)) = detail {
                    check[name] = value;
                }
                check
            })
            .collect();
        json!({
            "node_cmd": self.node_cmd,
            "valid": self.valid(),
            "passed": self.passed(),
            "failed": self.failed(),
            "skipped": self.skipped(),
            "seconds": self.elapsed.as_secs_f64(),
            "reproduce": (!self.valid()).then(|| self.reproduce()),
            "kept": self.kept.as_ref().map(|d| d.display().to_string()),
            "checks": checks,
        })
    }
}

fn failure_json(f: &Failure) -> Value {
    json!({
        "done": f.done,
        "step": f.step,
        "expected": f.expected,
        "because": f.why,
        "got": f.got,
        "wrong": f.wrong,
        "log": f.log.as_ref().map(|p| p.display().to_string()),
    })
}

/// One failure, explained: the rule, its source, the steps, what was
/// expected, what came back, and the first difference.
pub fn explain(rule: &Rule, f: &Failure) -> String {
    let mut out = format!(
        "FAIL {}\n  rule:     {}\n  source:   {}\n",
        rule.name,
        rule.rule,
        rule.source()
    );
    for (i, step) in f.done.iter().enumerate() {
        out.push_str(&format!("  {:<2} ok    {step}\n", i + 1));
    }
    match &f.step {
        Some(step) => out.push_str(&format!("  {:<2} sent  {step}\n", f.done.len() + 1)),
        None => out.push_str("  start:   the check's nodes\n"),
    }
    let because = if f.why.is_empty() {
        String::new()
    } else {
        format!("\n            because {}", f.why)
    };
    out.push_str(&format!("  expected: {}{because}\n", f.expected));
    out.push_str(&format!("  got:      {}\n", f.got));
    out.push_str(&format!("  wrong:    {}\n", f.wrong));
    if let Some(log) = &f.log {
        out.push_str(&format!("  node log: {}\n", log.display()));
    }
    out
}

/// `ballot conform --list`: every check, its rule and its source.
pub fn list(rules: &[Rule]) -> String {
    let width = width_of(rules);
    let pad = " ".repeat(width + 2);
    rules
        .iter()
        .map(|r| {
            format!(
                "{:<width$}  {}\n{pad}source: {}\n",
                r.name,
                r.rule,
                r.source()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::rules;
    use super::*;

    fn result(name: &str, outcome: Outcome) -> CheckResult {
        CheckResult {
            rule: rules::find(name).unwrap(),
            outcome,
            elapsed: Duration::from_millis(210),
        }
    }

    fn failure() -> Failure {
        Failure {
            done: vec![r#"POST /v1/prepare {"key":"j","ballot":{"round":5,"proposer":2}}"#.into()],
            step: Some(r#"POST /v1/prepare {"key":"j","ballot":{"round":3,"proposer":1}}"#.into()),
            why: "the current promise is 5.2".into(),
            expected: r#"200 {"ok":false,"promised":{"round":5,"proposer":2},"accepted":…}"#.into(),
            got: r#"200 {"ok":false,"promised":null,"accepted":null}"#.into(),
            wrong: r#"promised is null; expected {"round":5,"proposer":2}"#.into(),
            log: Some(PathBuf::from(
                "/tmp/c/rejection-carries-promise/nodes/0/stderr.log",
            )),
        }
    }

    #[test]
    fn a_failure_names_rule_source_request_expectation_and_reply() {
        let rule = rules::find("rejection-carries-promise").unwrap();
        assert_eq!(
            explain(&rule, &failure()),
            "FAIL rejection-carries-promise\n\
             \x20 rule:     a refused prepare or accept is a 200 with \"ok\": false that carries the current promise\n\
             \x20 source:   docs/protocol.md, \"Rules\"; Lamport, Paxos Made Simple, §2.2 (an acceptor that ignores a request should tell the proposer)\n\
             \x20 1  ok    POST /v1/prepare {\"key\":\"j\",\"ballot\":{\"round\":5,\"proposer\":2}}\n\
             \x20 2  sent  POST /v1/prepare {\"key\":\"j\",\"ballot\":{\"round\":3,\"proposer\":1}}\n\
             \x20 expected: 200 {\"ok\":false,\"promised\":{\"round\":5,\"proposer\":2},\"accepted\":…}\n\
             \x20           because the current promise is 5.2\n\
             \x20 got:      200 {\"ok\":false,\"promised\":null,\"accepted\":null}\n\
             \x20 wrong:    promised is null; expected {\"round\":5,\"proposer\":2}\n\
             \x20 node log: /tmp/c/rejection-carries-promise/nodes/0/stderr.log\n"
        );
    }

    #[test]
    fn the_summary_counts_and_the_rerun_selects_the_failed_checks() {
        let report = Report {
            node_cmd: "python3 a.py {port}".into(),
            results: vec![
                result("health", Outcome::Pass),
                result(
                    "rejection-carries-promise",
                    Outcome::Fail(Box::new(failure())),
                ),
                result(
                    "propose-keeps-chosen-value",
                    Outcome::Skip("no {peers}".into()),
                ),
            ],
            elapsed: Duration::from_millis(1234),
            kept: None,
            rerun_args: vec!["--node-cmd".into(), "python3 a.py {port}".into()],
        };
        assert!(!report.valid());
        assert_eq!(
            report.summary(),
            "conform: 1 passed, 1 failed, 1 skipped of 3 checks in 1.2 s: \
             NOT CONFORMING (rejection-carries-promise)"
        );
        assert_eq!(
            report.reproduce(),
            "ballot conform --node-cmd 'python3 a.py {port}' --rule rejection-carries-promise"
        );
        let width = width_of(&rules::all());
        assert_eq!(
            line(&report.results[0], width),
            format!("PASS  {:<width$}  0.21 s", "health")
        );
        let json = report.to_json();
        assert_eq!(json["failed"], 1);
        assert_eq!(json["checks"][1]["result"], "fail");
        assert_eq!(
            json["checks"][1]["failure"]["wrong"],
            r#"promised is null; expected {"round":5,"proposer":2}"#
        );
        assert_eq!(json["checks"][2]["skipped"], "no {peers}");
    }
}
