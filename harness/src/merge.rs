//! `ballot merge STORE...`: combines the stores of several `ballot test`
//! runs (the shards of a CI matrix, `--shard I/N`) into one summary: the
//! verdict per seed, a JUnit file with one test case per seed, a Markdown
//! step summary, and the first failure's rerun command. The table depends
//! only on the seeds and their verdicts, so the merge of N shards equals one
//! unsharded run of the same seeds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ballot_core::run_folder::{read_results, TestParams};
use ballot_core::verdict::Validity;
use ballot_report::escape::xml;

use crate::runner::default_test_args;
use crate::Error;

/// Flags of `ballot merge`.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct MergeArgs {
    /// Stores of the runs to merge (each holds run folders, e.g. store-shard-1).
    #[arg(value_name = "STORE", required = true)]
    pub stores: Vec<PathBuf>,

    /// Folder for the merged summary.md and junit.xml [default: merged].
    #[arg(long, value_name = "DIR", default_value = "merged")]
    pub out: PathBuf,
}

/// One seed's verdict over its run folders (a profile's phases).
#[derive(Clone, Debug, PartialEq)]
pub struct SeedRow {
    /// The seed.
    pub seed: u64,
    /// The worst verdict of its runs.
    pub verdict: Validity,
    /// How many run folders it has.
    pub runs: usize,
    /// The first violation's property and key, if any.
    pub violation: Option<String>,
    /// The command that reruns it.
    pub rerun: String,
}

/// Reads every `ballot test` run folder of `stores` (replays, shrinks and
/// scenarios left out) into one row per seed, in seed order.
pub fn collect(stores: &[PathBuf]) -> Result<Vec<SeedRow>, Error> {
    let defaults = default_test_args().params();
    let mut rows: BTreeMap<u64, SeedRow> = BTreeMap::new();
    for store in stores {
        let entries = std::fs::read_dir(store)
            .map_err(|e| Error::Input(format!("{}: {e}", store.display())))?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        dirs.sort();
        for dir in dirs {
            let Some(params) = TestParams::read_optional(&dir).ok().flatten() else {
                continue;
            };
            if params.command.get(1).map(String::as_str) != Some("test") {
                continue;
            }
            let Some(seed) = params.seed else { continue };
            let (verdict, violation) = match read_results(&dir) {
                Ok(r) => (
                    r.valid,
                    r.first_violation().map(|v| match &v.key {
                        Some(k) => format!("{} (key {k:?})", v.property),
                        None => v.property.clone(),
                    }),
                ),
                // A run that ended without a verdict proved nothing.
                Err(_) => (Validity::Unknown, None),
            };
            // The shard's store path means nothing on another machine.
            let portable = TestParams {
                store: defaults.store.clone(),
                ..params.clone()
            };
            let rerun = std::iter::once("ballot test".to_string())
                .chain(
                    portable
                        .rerun_args(&defaults)
                        .iter()
                        .map(|a| ballot_core::shell::quote(a)),
                )
                .collect::<Vec<_>>()
                .join(" ");
            let row = rows.entry(seed).or_insert(SeedRow {
                seed,
                verdict: Validity::Valid,
                runs: 0,
                violation: None,
                rerun,
            });
            row.runs += 1;
            row.verdict = row.verdict.and(verdict);
            if row.violation.is_none() {
                row.violation = violation;
            }
        }
    }
    Ok(rows.into_values().collect())
}

fn name(v: Validity) -> &'static str {
    match v {
        Validity::Valid => "valid",
        Validity::Invalid => "INVALID",
        Validity::Unknown => "unknown",
    }
}

/// How many seeds have verdict `v`.
fn count(rows: &[SeedRow], v: Validity) -> usize {
    rows.iter().filter(|r| r.verdict == v).count()
}

/// The merged verdict: the worst of every seed's.
pub fn verdict(rows: &[SeedRow]) -> Validity {
    rows.iter().fold(Validity::Valid, |a, r| a.and(r.verdict))
}

/// The Markdown summary: totals, a row per seed, the first failure's rerun.
pub fn markdown(rows: &[SeedRow]) -> String {
    let mut md = format!(
        "## ballot: {} seed(s): {} valid, {} invalid, {} unknown\n\n| seed | verdict | runs | first violation |\n|---:|---|---:|---|\n",
        rows.len(),
        count(rows, Validity::Valid),
        count(rows, Validity::Invalid),
        count(rows, Validity::Unknown)
    );
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            r.seed,
            name(r.verdict),
            r.runs,
            r.violation.as_deref().unwrap_or("")
        );
    }
    if let Some(r) = rows.iter().find(|r| r.verdict != Validity::Valid) {
        let _ = write!(
            md,
            "\nFirst failure, seed {}:\n\n```\n{}\n```\n",
            r.seed, r.rerun
        );
    }
    md
}

/// JUnit XML: one test case per seed; invalid is a failure, unknown an error.
pub fn junit(rows: &[SeedRow]) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"ballot\" tests=\"{}\" failures=\"{}\" errors=\"{}\">\n",
        rows.len(),
        count(rows, Validity::Invalid),
        count(rows, Validity::Unknown)
    );
    for r in rows {
        let _ = write!(
            x,
            "  <testcase classname=\"ballot\" name=\"seed {}\"",
            r.seed
        );
        let detail = format!(
            "{}; rerun: {}",
            r.violation.as_deref().unwrap_or("no verdict"),
            r.rerun
        );
        match r.verdict {
            Validity::Valid => x.push_str("/>\n"),
            Validity::Invalid => {
                let _ = writeln!(x, "><failure message=\"{}\"/></testcase>", xml(&detail));
            }
            Validity::Unknown => {
                let _ = writeln!(x, "><error message=\"{}\"/></testcase>", xml(&detail));
            }
        }
    }
    x.push_str("</testsuite>\n");
    x
}

/// `ballot merge`: writes `summary.md` and `junit.xml` into `--out`, prints
/// the summary, and returns the worst verdict; no run at all is bad input.
pub fn merge_command(args: &MergeArgs) -> Result<Validity, Error> {
    let rows = collect(&args.stores)?;
    if rows.is_empty() {
        return Err(Error::Input(format!(
            "no `ballot test` run folder in {}",
            args.stores
                .iter()
                .map(|s| s.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let summary = markdown(&rows);
    write(&args.out, "summary.md", &summary)?;
    write(&args.out, "junit.xml", &junit(&rows))?;
    crate::put!("{summary}");
    Ok(verdict(&rows))
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), Error> {
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(dir.join(name), text))
        .map_err(|e| Error::Input(format!("{}: {e}", dir.join(name).display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seed: u64, verdict: Validity) -> SeedRow {
        SeedRow {
            seed,
            verdict,
            runs: 1,
            violation: (verdict == Validity::Invalid).then(|| "durability (key \"x\")".into()),
            rerun: format!("ballot test --seed {seed}"),
        }
    }

    #[test]
    fn the_summary_has_a_row_per_seed_and_the_first_failures_rerun() {
        let rows = vec![
            row(1, Validity::Valid),
            row(2, Validity::Invalid),
            row(3, Validity::Unknown),
        ];
        let md = markdown(&rows);
        assert!(md.starts_with("## ballot: 3 seed(s): 1 valid, 1 invalid, 1 unknown"));
        assert!(
            md.contains("| 2 | INVALID | 1 | durability (key \"x\") |"),
            "{md}"
        );
        assert!(md.contains("First failure, seed 2:\n\n```\nballot test --seed 2\n```"));
        assert_eq!(verdict(&rows), Validity::Invalid);
        let x = junit(&rows);
        assert!(x.contains("tests=\"3\" failures=\"1\" errors=\"1\""), "{x}");
        assert!(x.contains("<testcase classname=\"ballot\" name=\"seed 1\"/>"));
        assert!(
            x.contains("durability (key &quot;x&quot;); rerun: ballot test --seed 2"),
            "{x}"
        );
    }
}
