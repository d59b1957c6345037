//! `junit.xml`: one `<testsuite>` for the run, one `<testcase>` per checker.
//!
//! A valid checker passes; an invalid one carries a `<failure>` whose
//! message is the first explanation and whose body lists every violation;
//! an unknown one is `<skipped>` with its reason (it could not decide). A run
//! with no readable `results.json` gets a single `results` test case with an
//! `<error>`, so CI shows that the run did not finish rather than passing.

use std::fmt::Write;

use ballot_core::verdict::{CheckerResult, Validity};

use super::escape::{value, xml};
use super::load::Run;

/// Test-case counts of a suite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Test cases.
    pub tests: usize,
    /// Invalid checkers.
    pub failures: usize,
    /// Runs without results.
    pub errors: usize,
    /// Unknown checkers.
    pub skipped: usize,
}

/// Renders `junit.xml` for `run`.
pub fn render(run: &Run) -> String {
    let mut cases = String::new();
    let mut tally = Tally::default();
    let classname = format!(
        "ballot.{}",
        run.param("workload")
            .map(|v| value(&v))
            .unwrap_or_else(|| "run".to_string())
    );
    match &run.results {
        Some(results) => {
            for checker in &results.checkers {
                testcase(&mut cases, &mut tally, &classname, checker);
            }
        }
        None => {
            tally.tests += 1;
            tally.errors += 1;
            let why = run
                .notes
                .iter()
                .find(|n| n.starts_with("results.json"))
                .cloned()
                .unwrap_or_else(|| "results.json is missing".to_string());
            let _ = write!(
                cases,
                r#"    <testcase classname="{}" name="results" time="0">
      <error message="{}" type="incomplete">the run did not finish checking; see {}</error>
    </testcase>
"#,
                xml(&classname),
                xml(&why),
                xml(&run.dir.display().to_string())
            );
        }
    }
    let time = run.history.iter().map(|e| e.time).max().unwrap_or(0) as f64 / 1e9;
    let mut properties = String::new();
    for name in ["seed", "workload", "nodes", "nemesis", "time_limit"] {
        if let Some(v) = run.param(name) {
            let _ = writeln!(
                properties,
                r#"      <property name="{}" value="{}"/>"#,
                name,
                xml(&value(&v))
            );
        }
    }
    let _ = writeln!(
        properties,
        r#"      <property name="run" value="{}"/>"#,
        xml(&run.dir.display().to_string())
    );
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="ballot" tests="{t}" failures="{f}" errors="{e}" skipped="{s}" time="{time:.3}">
  <testsuite name="{name}" tests="{t}" failures="{f}" errors="{e}" skipped="{s}" time="{time:.3}">
    <properties>
{properties}    </properties>
{cases}  </testsuite>
</testsuites>
"#,
        t = tally.tests,
        f = tally.failures,
        e = tally.errors,
        s = tally.skipped,
        name = xml(&run.name),
    )
}

fn testcase(out: &mut String, tally: &mut Tally, classname: &str, c: &CheckerResult) {
    tally.tests += 1;
    let open = format!(
        r#"    <testcase classname="{}" name="{}" time="0""#,
        xml(classname),
        xml(&c.name)
    );
    match c.valid {
        Validity::Valid => {
            let _ = writeln!(out, "{open}/>");
        }
        Validity::Invalid => {
            tally.failures += 1;
            let message = c
                .violations
                .first()
                .map(|v| format!("{}: {}", v.property, v.explanation))
                .unwrap_or_else(|| "invalid (no violation recorded)".to_string());
            let mut body = String::new();
            for v in &c.violations {
                let key = v
                    .key
                    .as_deref()
                    .map(|k| format!(" key {k}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    body,
                    "[{}]{key} ({}): {} ({} op(s), {} message(s) of evidence)",
                    v.property,
                    v.source,
                    v.explanation,
                    v.ops.len(),
                    v.messages.len()
                );
            }
            let _ = write!(
                out,
                "{open}>\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                xml(&message),
                xml(
                    c.violations
                        .first()
                        .map(|v| v.property.as_str())
                        .unwrap_or("invalid")
                ),
                xml(&body)
            );
        }
        Validity::Unknown => {
            tally.skipped += 1;
            let reason = c
                .reason
                .as_deref()
                .unwrap_or("the checker could not decide");
            let _ = write!(
                out,
                "{open}>\n      <skipped message=\"unknown: {}\"/>\n    </testcase>\n",
                xml(reason)
            );
        }
    }
}
