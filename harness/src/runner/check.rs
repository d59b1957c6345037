//! The verdict step of a run, and `ballot check` (the same check, offline).
//!
//! Both call the checker on a run folder, so `ballot check RUN` reproduces
//! the verdict `ballot test` printed for that run.

use std::path::Path;

use ballot_checker::verdict::{CheckerResult, Results, Validity};

use super::{output, run_dir_of, HarnessError};
use crate::cli::{CheckArgs, EXIT_BAD_ARGS, EXIT_HARNESS_FAILURE};

/// Checks the run folder `dir` with `model`.
pub fn check_run_dir(dir: &Path, model: &str) -> Result<Results, HarnessError> {
    // TODO(checker run.rs): ballot_checker::run::check_run(dir, &CheckOptions { model, .. }).
    let _ = (dir, model);
    Ok(Results::new(vec![CheckerResult {
        name: "pending".into(),
        valid: Validity::Unknown,
        reason: Some("the run checker is not wired in yet".into()),
        violations: Vec::new(),
        stats: serde_json::Value::Null,
    }]))
}

/// Writes `results.json`, then the reports; a report failure is only a warning.
pub fn write_results_and_reports(dir: &Path, results: &Results) -> Result<(), HarnessError> {
    let path = dir.join(ballot_checker::format::RESULTS_FILE);
    let mut text = serde_json::to_vec_pretty(results)
        .map_err(|e| HarnessError::Check(format!("cannot serialise results: {e}")))?;
    text.push(b'\n');
    std::fs::write(&path, text).map_err(|source| {
        HarnessError::Store(crate::store::StoreError::Io {
            path: path.clone(),
            source,
        })
    })?;
    if let Err(e) = crate::report::write_all(dir) {
        eprintln!(
            "warning: could not write the report for {}: {e}",
            dir.display()
        );
    }
    Ok(())
}

/// `ballot check RUN|FILE`: re-checks offline; returns the exit code.
pub fn check_command(args: &CheckArgs) -> i32 {
    let Some(dir) = run_dir_of(&args.path) else {
        eprintln!(
            "error: {} is neither a run folder nor a history.jsonl (other formats: TODO)",
            args.path.display()
        );
        return EXIT_BAD_ARGS;
    };
    if !dir.join(ballot_checker::format::HISTORY_FILE).is_file() {
        eprintln!(
            "error: {} holds no {}",
            dir.display(),
            ballot_checker::format::HISTORY_FILE
        );
        return EXIT_BAD_ARGS;
    }
    let model = args.model.clone().unwrap_or_else(|| "write-once".into());
    match check_run_dir(&dir, &model) {
        Ok(results) => {
            if args.json {
                match serde_json::to_string_pretty(&results) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("error: cannot serialise results: {e}");
                        return EXIT_HARNESS_FAILURE;
                    }
                }
            } else {
                output::print_check_verdict(&results, &dir);
            }
            results.valid.exit_code()
        }
        Err(e) => {
            output::print_error(&e);
            e.exit_code()
        }
    }
}
