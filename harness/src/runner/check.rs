//! The verdict step of a run, and `ballot check` (the same check, offline).
//!
//! Both call [`ballot_checker::run::check_run`] on a run folder with the same
//! model and bounds, so `ballot check RUN` reproduces the verdict `ballot
//! test` printed for that run. `ballot check FILE` checks a single history
//! (ours, a Jepsen etcd log, a Porcupine kv log or a Jepsen EDN history) for
//! linearizability; a file that does not parse is bad input (254), an empty
//! one a valid empty history. `ballot check` only reads; it never rewrites
//! the run folder. Its output stops quietly when stdout is closed (`| head`):
//! the exit code is still the verdict's.
//!
//! A `--direct` run has no `messages.jsonl`, so the checker answers the
//! message-log checks (`paxos`, `learners`) unknown because the file is
//! missing; [`check_run_dir`] then gives the reason that applies,
//! [`DIRECT_NO_LOG`] (the verdict itself is the checker's, unchanged).

use std::path::Path;
use std::time::Duration;

use ballot_checker::import::Format;
use ballot_checker::linear::Bounds;
use ballot_checker::models::Model;
use ballot_checker::run::{check_history_file, check_run, write_results, CheckError, CheckOptions};
use ballot_core::records::MESSAGES_FILE;
use ballot_core::run_folder::TestParams;
use ballot_core::verdict::{Results, Validity};

use super::output;
use super::CheckArgs;
use crate::Error;

/// The checker's bounds for a time limit in seconds.
pub fn bounds(check_timeout: f64) -> Bounds {
    Bounds {
        time: Duration::from_secs_f64(check_timeout),
        ..Bounds::default()
    }
}

fn parse_model(model: &str) -> Result<Model, Error> {
    model
        .parse::<Model>()
        .map_err(|e| Error::Input(e.to_string()))
}

/// Why the message-log checks of a `--direct` run are unknown.
pub const DIRECT_NO_LOG: &str =
    "no message log (--direct): the clients bypassed the proxy, so no exchange was recorded";

/// The checkers that read the message log.
const MESSAGE_LOG_CHECKERS: [&str; 3] = ["paxos", "learners", ballot_checker::spec::NAME];

/// Checks the run folder `dir` with `model`.
pub fn check_run_dir(dir: &Path, model: &str, check_timeout: f64) -> Result<Results, Error> {
    let opts = CheckOptions {
        model: parse_model(model)?,
        bounds: bounds(check_timeout),
    };
    let results = check_run(dir, &opts).map_err(|e| Error::Check(e.to_string()))?;
    let direct = TestParams::read(dir).is_ok_and(|p| p.direct);
    let direct_without_log = direct && !dir.join(MESSAGES_FILE).exists();
    Ok(match direct_without_log {
        true => explain_direct(results),
        false => results,
    })
}

/// For a `--direct` run: the message-log checkers that answered unknown
/// (their log is missing) get the reason [`DIRECT_NO_LOG`]; nothing else
/// changes.
pub fn explain_direct(mut results: Results) -> Results {
    for c in &mut results.checkers {
        if c.valid == Validity::Unknown && MESSAGE_LOG_CHECKERS.contains(&c.name.as_str()) {
            c.reason = Some(DIRECT_NO_LOG.to_string());
        }
    }
    results
}

/// Writes `results.json`, then the reports; a report failure is only a warning.
pub fn write_results_and_reports(dir: &Path, results: &Results) -> Result<(), Error> {
    write_results(dir, results).map_err(|e| {
        Error::Check(format!(
            "cannot write results.json in {}: {e}",
            dir.display()
        ))
    })?;
    if let Err(e) = ballot_report::write_all(dir) {
        eprintln!(
            "warning: could not write the report for {}: {e}",
            dir.display()
        );
    }
    Ok(())
}

/// The model a run folder was tested with (its `test.json`), if recorded.
fn run_model(dir: &Path) -> Option<String> {
    TestParams::read(dir).ok()?.model
}

/// The `--format` value as the checker's format.
pub fn parse_format(format: &str) -> Option<Format> {
    match format {
        "ballot" => Some(Format::Ballot),
        "jepsen" => Some(Format::JepsenEtcd),
        "porcupine-kv" => Some(Format::PorcupineKv),
        "jepsen-edn" => Some(Format::JepsenEdn),
        _ => None,
    }
}

fn check_path(args: &CheckArgs) -> Result<Results, Error> {
    let path = &args.path;
    if path.is_dir() {
        let model = args
            .model
            .clone()
            .or_else(|| run_model(path))
            .unwrap_or_else(|| Model::default().name().to_string());
        check_run_dir(path, &model, args.check_timeout)
    } else if path.is_file() {
        let model = args.model.as_deref().map(parse_model).transpose()?;
        let format = match &args.format {
            Some(f) => {
                Some(parse_format(f).ok_or_else(|| Error::Input(format!("unknown format {f:?}")))?)
            }
            None => None,
        };
        check_history_file(path, model, format, &bounds(args.check_timeout)).map_err(file_error)
    } else {
        Err(Error::Input(format!(
            "{} is neither a run folder nor a history file",
            path.display()
        )))
    }
}

/// A history file the checker could not take: one that does not parse is
/// bad input (254); one that cannot be read is a harness failure (255).
fn file_error(e: CheckError) -> Error {
    match e {
        CheckError::Invalid { .. } | CheckError::Corrupt { .. } => Error::Input(e.to_string()),
        other => Error::Check(other.to_string()),
    }
}

/// `ballot check RUN|FILE`: re-checks offline; returns the verdict.
pub fn check_command(args: &CheckArgs) -> Result<Validity, Error> {
    let results = check_path(args)?;
    let text = if args.json {
        let json = serde_json::to_string_pretty(&results)
            .map_err(|e| Error::Check(format!("cannot serialise results: {e}")))?;
        json + "\n"
    } else {
        output::check_verdict_text(&results, &args.path)
    };
    output::emit(&text).map_err(|source| Error::Io {
        what: "cannot write the verdict to stdout".into(),
        source,
    })?;
    Ok(results.valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_map_to_the_checker() {
        for (name, format) in [
            ("ballot", Some(Format::Ballot)),
            ("jepsen", Some(Format::JepsenEtcd)),
            ("porcupine-kv", Some(Format::PorcupineKv)),
            ("jepsen-edn", Some(Format::JepsenEdn)),
            ("edn", None),
        ] {
            assert_eq!(parse_format(name), format, "{name}");
        }
    }

    #[test]
    fn a_direct_run_says_why_its_message_log_checks_are_unknown() {
        use ballot_core::verdict::CheckerResult;
        let unknown = |name: &str| CheckerResult {
            name: name.to_string(),
            valid: Validity::Unknown,
            reason: Some("messages.jsonl is missing".to_string()),
            violations: Vec::new(),
            stats: serde_json::Value::Null,
        };
        let valid = |name: &str| CheckerResult::from_violations(name, Vec::new());
        let mut slow = unknown("linearizable");
        slow.reason = Some("search timed out".into());
        let before = Results::new(vec![
            slow.clone(),
            unknown("paxos"),
            unknown("learners"),
            unknown("acceptor-spec"),
            valid("stats"),
        ]);
        let after = explain_direct(before);
        let reasons: Vec<Option<&str>> =
            after.checkers.iter().map(|c| c.reason.as_deref()).collect();
        assert_eq!(
            reasons,
            vec![
                Some("search timed out"),
                Some(DIRECT_NO_LOG),
                Some(DIRECT_NO_LOG),
                Some(DIRECT_NO_LOG),
                None
            ]
        );
        assert_eq!(after.valid, Validity::Unknown);
        assert!(DIRECT_NO_LOG.starts_with("no message log (--direct)"));
    }

    #[test]
    fn the_check_timeout_bounds_the_search() {
        assert_eq!(bounds(2.5).time, Duration::from_millis(2500));
        assert_eq!(
            bounds(2.5).max_cache_entries,
            Bounds::default().max_cache_entries
        );
    }
}
