//! `ballot validate`: proves the harness finds bugs, and raises no false alarms.
//!
//! 1. **The catalogue** ([`catalogue()`]): every deliberate node and proposer
//!    bug runs under its own seeded `ballot test` configuration for
//!    `--seeds` seeds. A run catches its bug when `ballot test` exits 1 and
//!    `results.json` names one of the bug's expected properties
//!    ([`detect()`]); a bug passes when at least `--required-rate` of its
//!    seeds catch it.
//! 2. **The false-alarm sweep** ([`sweep`]): the correct node and proposer
//!    under every nemesis combination, `--false-alarm-seeds` seeds each, on
//!    rotating workload profiles; every run must be valid.
//! 3. **The report** ([`markdown`]): a Markdown table (bug, kind,
//!    configuration, property that caught it, detection rate, median time
//!    to detection), the sweep's result and the exact command that made it,
//!    written to `--out` (the project keeps it as `docs/bugs.md`).
//!
//! Runs are child `ballot test` processes, one at a time (each already
//! uses several processes; the reference machine has two cores). Exit code:
//! 0 when every bug passed and every sweep run was valid, 1 otherwise, 254
//! for bad flags, 255 when validation itself could not run.

pub mod catalogue;
pub mod detect;
pub mod exec;
pub mod markdown;
pub mod sweep;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ballot_core::verdict::Validity;
use clap::Args;

pub use catalogue::{catalogue, BugCase, BugKind};
pub use detect::{detect, Detection};
pub use exec::{run_test, RunRecord};
pub use sweep::SweepRun;

use crate::nemesis::FaultKind;
use crate::Error;
use ballot_core::shell::quote as shell_quote;

/// Seconds a child run may take beyond its time limit before it is killed
/// (start-up, the final phase's reads, the checker).
const RUN_SLACK: Duration = Duration::from_secs(150);

/// Flags of `ballot validate`.
#[derive(Clone, Debug, PartialEq, Args)]
pub struct ValidateArgs {
    /// Seeds per bug: each bug runs with seeds first-seed .. first-seed+N-1.
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub seeds: u64,

    /// First seed of every bug's runs and of the false-alarm sweep.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub first_seed: u64,

    /// Bugs to run, comma-separated (default: the whole catalogue; `none` for none).
    #[arg(long, value_name = "LIST", value_parser = check_bugs)]
    pub bugs: Option<String>,

    /// Seeds per nemesis combination in the false-alarm sweep (0 skips the sweep).
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub false_alarm_seeds: u64,

    /// Time limit of each false-alarm run, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = parse_seconds)]
    pub seconds: f64,

    /// A nemesis combination for the sweep (repeatable), or `profile:default`
    /// for `ballot test`'s default profile [default: none, each fault alone,
    /// kill,partition, all].
    #[arg(long = "false-alarm-nemesis", value_name = "LIST", value_parser = check_nemesis)]
    pub false_alarm_nemesis: Vec<String>,

    /// Fraction of a bug's seeds that must catch it (0 to 1).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.8, value_parser = parse_fraction)]
    pub required_rate: f64,

    /// Write the Markdown report to FILE (default: print it).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Keep every run under DIR (default: a temporary folder, removed when
    /// everything passed).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// Run every test with `--proposers WHO` (nodes: the proposer bugs live
    /// in the nodes, protocol v1.1).
    #[arg(long, value_name = "WHO")]
    pub proposers: Option<crate::clients::ProposerMode>,

    /// Also run each bug as a new user would, `ballot test --bug NAME --seed N`
    /// (the default profile), and report it beside the tailored configuration.
    #[arg(long)]
    pub default_runs: bool,

    /// With --default-runs: skip the tailored configurations (only the
    /// default-profile runs and the sweep).
    #[arg(long, requires = "default_runs")]
    pub skip_tailored: bool,
}

impl ValidateArgs {
    /// The bug cases the flags select.
    pub fn cases(&self) -> Result<Vec<BugCase>, String> {
        match self.bugs.as_deref() {
            None => Ok(catalogue()),
            Some(list) => catalogue::select(Some(&bug_names(list))),
        }
    }

    /// The sweep's nemesis combinations.
    pub fn combos(&self) -> Vec<String> {
        if self.false_alarm_nemesis.is_empty() {
            sweep::COMBOS.iter().map(|c| c.to_string()).collect()
        } else {
            self.false_alarm_nemesis.clone()
        }
    }

    /// The shell command these flags came from (`ballot validate ...`),
    /// every flag spelled out so the report says exactly what ran.
    pub fn command_line(&self) -> String {
        let mut words = vec![
            "ballot validate".to_string(),
            format!("--seeds {}", self.seeds),
            format!("--first-seed {}", self.first_seed),
        ];
        if let Some(bugs) = &self.bugs {
            words.push(format!("--bugs {}", shell_quote(bugs)));
        }
        words.push(format!("--false-alarm-seeds {}", self.false_alarm_seeds));
        words.push(format!("--seconds {}", self.seconds));
        for combo in &self.false_alarm_nemesis {
            words.push(format!("--false-alarm-nemesis {}", shell_quote(combo)));
        }
        words.push(format!("--required-rate {}", self.required_rate));
        if let Some(mode) = self.proposers {
            words.push(format!("--proposers {}", mode.name()));
        }
        if self.default_runs {
            words.push("--default-runs".to_string());
        }
        if self.skip_tailored {
            words.push("--skip-tailored".to_string());
        }
        if let Some(out) = &self.out {
            words.push(format!("--out {}", shell_quote(&out.display().to_string())));
        }
        words.join(" ")
    }
}

/// A comma-separated bug list as names (`none` is the empty list).
fn bug_names(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty() && *w != "none")
        .map(str::to_string)
        .collect()
}

fn check_bugs(s: &str) -> Result<String, String> {
    catalogue::select(Some(&bug_names(s)))?;
    Ok(s.to_string())
}

fn check_nemesis(s: &str) -> Result<String, String> {
    if s == sweep::DEFAULT_PROFILE {
        return Ok(s.to_string());
    }
    FaultKind::parse_list(s).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 3600.0 => Ok(v),
        _ => Err(format!(
            "{s} must be a number of seconds above 0 and at most 3600"
        )),
    }
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s} must be between 0 and 1")),
    }
}

/// One bug's runs.
#[derive(Clone, Debug)]
pub struct BugOutcome {
    /// The catalogue row.
    pub case: BugCase,
    /// Every seed's run and what it detected.
    pub runs: Vec<(RunRecord, Detection)>,
    /// With `--default-runs`: every seed's default-profile run (`ballot test
    /// --bug NAME`), its detection time counted from the start of the profile.
    pub default_runs: Vec<(RunRecord, Detection)>,
}

impl BugOutcome {
    /// How many runs caught the bug.
    pub fn caught(&self) -> usize {
        caught(&self.runs)
    }

    /// Whether at least `required` of the runs caught it (no runs: false),
    /// and as many of the default-profile runs when there are any.
    pub fn passed(&self, required: f64) -> bool {
        let tailored = rate_met(&self.runs, required)
            || (self.runs.is_empty() && !self.default_runs.is_empty());
        tailored && (self.default_runs.is_empty() || rate_met(&self.default_runs, required))
    }

    /// The median detection time over the runs that caught the bug.
    pub fn median_detection(&self) -> Option<Duration> {
        median_detection(&self.runs)
    }
}

/// Whether at least `required` of `runs` caught their bug (no runs: false).
pub fn rate_met(runs: &[(RunRecord, Detection)], required: f64) -> bool {
    !runs.is_empty() && caught(runs) as f64 >= required * runs.len() as f64 - 1e-9
}

/// How many of `runs` caught their bug.
pub fn caught(runs: &[(RunRecord, Detection)]) -> usize {
    runs.iter().filter(|(_, d)| d.caught()).count()
}

/// The median detection time over the runs that caught their bug.
pub fn median_detection(runs: &[(RunRecord, Detection)]) -> Option<Duration> {
    let times: Vec<Duration> = runs
        .iter()
        .filter(|(_, d)| d.caught())
        .filter_map(|(_, d)| d.at)
        .collect();
    detect::median(&times)
}

/// Runs until the first catch, in seed order (`None`: no run caught it).
pub fn runs_to_bug(runs: &[(RunRecord, Detection)]) -> Option<usize> {
    runs.iter().position(|(_, d)| d.caught()).map(|i| i + 1)
}

/// One false-alarm run.
#[derive(Clone, Debug)]
pub struct SweepOutcome {
    /// What ran.
    pub run: SweepRun,
    /// What it left.
    pub record: RunRecord,
}

impl SweepOutcome {
    /// Whether the run was valid (the only acceptable outcome).
    pub fn valid(&self) -> bool {
        self.record.error.is_none()
            && self.record.results.as_ref().map(|r| r.valid) == Some(Validity::Valid)
    }
}

/// A whole validation: its outcomes and what the report needs to say.
#[derive(Clone, Debug)]
pub struct Validation {
    /// The command that made it.
    pub command: String,
    /// When it finished (UTC).
    pub generated: String,
    /// Fraction of seeds each bug needed.
    pub required_rate: f64,
    /// Seeds per combination in the sweep.
    pub sweep_seeds: u64,
    /// Time limit of each sweep run.
    pub sweep_seconds: f64,
    /// Per bug.
    pub bugs: Vec<BugOutcome>,
    /// Per sweep run.
    pub sweep: Vec<SweepOutcome>,
}

impl Validation {
    /// Every bug met the rate and every sweep run was valid.
    pub fn passed(&self) -> bool {
        self.bugs.iter().all(|b| b.passed(self.required_rate))
            && self.sweep.iter().all(SweepOutcome::valid)
    }
}

/// Everything a validation needs, resolved.
#[derive(Clone, Debug)]
pub struct ValidationPlan {
    /// The `ballot` binary the runs use.
    pub ballot: PathBuf,
    /// Folder for the runs (`<bug>/seed-<n>`, `sweep/<nemesis>/seed-<n>`).
    pub store: PathBuf,
    /// Bugs to run.
    pub cases: Vec<BugCase>,
    /// Seeds per bug.
    pub seeds: u64,
    /// First seed.
    pub first_seed: u64,
    /// The sweep's runs.
    pub sweep: Vec<SweepRun>,
    /// Flags added to every run (e.g. `--proposers nodes`).
    pub extra_args: Vec<String>,
    /// Also run each bug on the default profile.
    pub default_runs: bool,
    /// Skip the tailored configurations.
    pub skip_tailored: bool,
}

/// Runs one bug case with one seed and reads what it detected.
/// `extra` flags are added after the case's own.
pub fn run_case(
    ballot: &Path,
    case: &BugCase,
    extra: &[String],
    seed: u64,
    store: &Path,
) -> (RunRecord, Detection) {
    let budget = Duration::from_secs_f64(case.time_limit()) + RUN_SLACK;
    let mut args = case.test_args();
    args.extend(extra.iter().cloned());
    let record = run_test(ballot, &args, seed, store, budget);
    let detection = detection_of(&record, case);
    (record, detection)
}

/// What a finished run detected of `case` (unknown when it has no verdict).
fn detection_of(record: &RunRecord, case: &BugCase) -> Detection {
    match (&record.results, &record.error) {
        (Some(results), None) => detect(results, case.expect, &record.snapshots),
        _ => Detection {
            verdict: Validity::Unknown,
            caught_by: Vec::new(),
            others: Vec::new(),
            at: None,
        },
    }
}

/// Runs one bug on the default profile (`ballot test --bug NAME --seed N`)
/// and reads what it detected; the detection time counts from the start of
/// the profile (the failing phase's `started_after` plus its own time).
pub fn run_case_default(
    ballot: &Path,
    case: &BugCase,
    extra: &[String],
    seed: u64,
    store: &Path,
) -> (RunRecord, Detection) {
    let budget = Duration::from_secs(30) + 2 * RUN_SLACK;
    let mut args = vec![case.kind.flag().to_string(), case.name.to_string()];
    args.extend(extra.iter().cloned());
    let record = run_test(ballot, &args, seed, store, budget);
    let mut detection = detection_of(&record, case);
    let offset = record
        .dir
        .as_deref()
        .and_then(|dir| ballot_core::run_folder::TestParams::read(dir).ok())
        .and_then(|p| p.extra.get("phase")?.get("started_after")?.as_f64())
        .unwrap_or(0.0);
    detection.at = detection
        .at
        .map(|at| at + Duration::from_secs_f64(offset.max(0.0)));
    (record, detection)
}

/// Runs one false-alarm run.
pub fn run_sweep_run(
    ballot: &Path,
    run: &SweepRun,
    extra: &[String],
    store: &Path,
) -> SweepOutcome {
    let budget = Duration::from_secs_f64(run.seconds) + RUN_SLACK;
    let mut args = run.test_args();
    args.extend(extra.iter().cloned());
    let record = run_test(ballot, &args, run.seed, store, budget);
    SweepOutcome {
        run: run.clone(),
        record,
    }
}

/// A folder name for a nemesis list.
fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Runs the catalogue, then the sweep, one run at a time, telling `log`
/// about each run as it ends.
pub fn run(
    plan: &ValidationPlan,
    command: String,
    required_rate: f64,
    sweep_seconds: f64,
    log: &mut dyn FnMut(&str),
) -> Validation {
    let mut bugs = Vec::new();
    for case in &plan.cases {
        let mut runs = Vec::new();
        for i in 0..plan.seeds * u64::from(!plan.skip_tailored) {
            let seed = plan.first_seed.wrapping_add(i);
            let store = plan.store.join(case.name).join(format!("seed-{seed}"));
            let (record, detection) = run_case(&plan.ballot, case, &plan.extra_args, seed, &store);
            log(&case_line(case, &record, &detection));
            runs.push((record, detection));
        }
        let mut default_runs = Vec::new();
        for i in 0..plan.seeds * u64::from(plan.default_runs) {
            let seed = plan.first_seed.wrapping_add(i);
            let store = plan
                .store
                .join(case.name)
                .join(format!("default-seed-{seed}"));
            let (record, detection) =
                run_case_default(&plan.ballot, case, &plan.extra_args, seed, &store);
            log(&format!("default {}", case_line(case, &record, &detection)));
            default_runs.push((record, detection));
        }
        bugs.push(BugOutcome {
            case: case.clone(),
            runs,
            default_runs,
        });
    }
    let mut sweep = Vec::new();
    for run in &plan.sweep {
        let store = plan
            .store
            .join("sweep")
            .join(slug(&run.nemesis))
            .join(format!("seed-{}", run.seed));
        let outcome = run_sweep_run(&plan.ballot, run, &plan.extra_args, &store);
        log(&sweep_line(&outcome));
        sweep.push(outcome);
    }
    let seeds_per_combo = plan.sweep.first().map_or(0, |first| {
        plan.sweep
            .iter()
            .filter(|r| r.nemesis == first.nemesis)
            .count() as u64
    });
    Validation {
        command,
        generated: ballot_core::utc::timestamp(SystemTime::now()),
        required_rate,
        sweep_seeds: seeds_per_combo,
        sweep_seconds,
        bugs,
        sweep,
    }
}

fn case_line(case: &BugCase, r: &RunRecord, d: &Detection) -> String {
    let what = if let Some(e) = &r.error {
        format!("ERROR {e}")
    } else if d.caught() {
        let at =
            d.at.map_or("-".to_string(), |t| format!("{:.2} s", t.as_secs_f64()));
        format!("caught by {} at {at}", d.caught_by.join(", "))
    } else if d.violated().is_empty() {
        "MISSED (valid)".to_string()
    } else {
        format!("MISSED (violated only {})", d.violated().join(", "))
    };
    format!(
        "{:<22} seed {:<4} {what} (run {:.1} s)",
        case.name,
        r.seed,
        r.wall.as_secs_f64()
    )
}

fn sweep_line(s: &SweepOutcome) -> String {
    let what = match (&s.record.error, s.record.results.as_ref().map(|r| r.valid)) {
        (Some(e), _) => format!("ERROR {e}"),
        (None, Some(Validity::Valid)) => "valid".to_string(),
        (None, Some(Validity::Invalid)) => {
            let props =
                detect(s.record.results.as_ref().expect("has results"), &[], &[]).violated();
            format!(
                "FALSE ALARM ({}): {}",
                props.join(", "),
                s.record.rerun_command()
            )
        }
        (None, _) => format!("UNKNOWN: {}", s.record.rerun_command()),
    };
    format!(
        "sweep {:<16} seed {:<4} {:<13} {what} (run {:.1} s)",
        s.run.nemesis,
        s.run.seed,
        if s.run.nemesis == sweep::DEFAULT_PROFILE {
            "its phases"
        } else {
            s.run.profile.name
        },
        s.record.wall.as_secs_f64()
    )
}

/// The `ballot` binary the runs use: this program when it is `ballot`,
/// else a `ballot` beside it or one folder up (a Cargo example or test).
pub fn ballot_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the ballot binary: {e}"))?;
    if exe.file_stem().is_some_and(|s| s == "ballot") {
        return Ok(exe);
    }
    let dir = exe.parent().unwrap_or(Path::new("."));
    [dir.join("ballot"), dir.join("..").join("ballot")]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| format!("no ballot binary beside {}", exe.display()))
}

/// `ballot validate`: runs the catalogue and the sweep, writes the report;
/// valid when every bug was caught and no correct run raised an alarm.
pub fn validate_command(args: &ValidateArgs) -> Result<Validity, Error> {
    let cases = args
        .cases()
        .map_err(|e| Error::Input(format!("ballot validate: {e}")))?;
    let ballot = ballot_binary().map_err(|e| Error::Setup(format!("ballot validate: {e}")))?;
    let (store, temporary) = match &args.store {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!(
                "ballot-validate-{}",
                ballot_core::utc::timestamp(SystemTime::now()).replace(':', "")
            )),
            true,
        ),
    };
    let plan = ValidationPlan {
        ballot,
        store: store.clone(),
        cases,
        seeds: args.seeds,
        first_seed: args.first_seed,
        sweep: sweep::plan(
            &args.combos(),
            args.false_alarm_seeds,
            args.first_seed,
            args.seconds,
        ),
        extra_args: args
            .proposers
            .map(|m| vec!["--proposers".to_string(), m.name().to_string()])
            .unwrap_or_default(),
        default_runs: args.default_runs,
        skip_tailored: args.skip_tailored,
    };
    crate::say!(
        "ballot validate: {} bug(s) x {} seed(s), then {} false-alarm run(s); runs in {}",
        plan.cases.len(),
        plan.seeds,
        plan.sweep.len(),
        store.display()
    );
    let validation = run(
        &plan,
        args.command_line(),
        args.required_rate,
        args.seconds,
        &mut |line| crate::say!("{line}"),
    );
    let report = markdown::render(&validation);
    match &args.out {
        Some(path) => {
            std::fs::write(path, &report).map_err(|source| Error::Io {
                what: format!("ballot validate: cannot write {}", path.display()),
                source,
            })?;
            crate::say!("report: {}", path.display());
        }
        None => crate::say!("\n{report}"),
    }
    let passed = validation.passed();
    if passed && temporary {
        let _ = std::fs::remove_dir_all(&store);
    } else {
        crate::say!("runs kept in {}", store.display());
    }
    crate::say!(
        "ballot validate: {}",
        if passed { "PASSED" } else { "FAILED" }
    );
    Ok(match passed {
        true => Validity::Valid,
        false => Validity::Invalid,
    })
}

#[cfg(test)]
mod tests;
