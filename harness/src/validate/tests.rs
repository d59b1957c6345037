use super::*;
use clap::Parser;

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    args: ValidateArgs,
}

fn parse(extra: &[&str]) -> Result<ValidateArgs, clap::Error> {
    Wrapper::try_parse_from(std::iter::once("validate").chain(extra.iter().copied()))
        .map(|w| w.args)
}

#[test]
fn defaults_and_command_line() {
    let a = parse(&[]).unwrap();
    assert_eq!((a.seeds, a.first_seed, a.false_alarm_seeds), (5, 1, 2));
    assert_eq!(a.cases().unwrap().len(), catalogue().len());
    assert_eq!(a.combos().len(), sweep::COMBOS.len());
    assert_eq!(
        a.command_line(),
        "ballot validate --seeds 5 --first-seed 1 --false-alarm-seeds 2 --seconds 10 --required-rate 0.8"
    );
    let b = parse(&[
        "--bugs",
        "own-value,memory-only",
        "--false-alarm-nemesis",
        "all",
        "--false-alarm-nemesis",
        "kill,pause",
        "--out",
        "docs/bugs.md",
        "--seconds",
        "20",
    ])
    .unwrap();
    let names: Vec<&str> = b.cases().unwrap().iter().map(|c| c.name).collect();
    assert_eq!(names, vec!["own-value", "memory-only"]);
    assert_eq!(b.combos(), vec!["all", "kill,pause"]);
    assert_eq!(
        b.command_line(),
        "ballot validate --seeds 5 --first-seed 1 --bugs own-value,memory-only \
         --false-alarm-seeds 2 --seconds 20 --false-alarm-nemesis all \
         --false-alarm-nemesis kill,pause --required-rate 0.8 --out docs/bugs.md"
    );
    assert!(parse(&["--bugs", "none"])
        .unwrap()
        .cases()
        .unwrap()
        .is_empty());
}

#[test]
fn bad_flags_are_rejected() {
    for (args, needle) in [
        (&["--bugs", "own-value,fire"][..], "unknown bug \"fire\""),
        (&["--false-alarm-nemesis", "kill,fire"], "unknown fault"),
        (&["--seconds", "0"], "above 0"),
        (&["--required-rate", "1.5"], "between 0 and 1"),
        (&["--seeds", "x"], "x"),
    ] {
        let err = parse(args).unwrap_err().to_string();
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn pass_rates() {
    let case = catalogue().remove(0);
    let run = |caught: bool| {
        let (r, _) = (
            RunRecord {
                args: Vec::new(),
                seed: 1,
                exit: Some(if caught { 1 } else { 0 }),
                wall: Duration::ZERO,
                dir: None,
                results: None,
                snapshots: Vec::new(),
                error: None,
            },
            (),
        );
        let d = Detection {
            verdict: if caught {
                Validity::Invalid
            } else {
                Validity::Valid
            },
            caught_by: if caught {
                vec!["durability".into()]
            } else {
                vec![]
            },
            others: Vec::new(),
            at: caught.then_some(Duration::from_secs(2)),
        };
        (r, d)
    };
    let outcome = |pattern: &[bool]| BugOutcome {
        case: case.clone(),
        runs: pattern.iter().map(|&c| run(c)).collect(),
        default_runs: Vec::new(),
    };
    assert!(outcome(&[true, true, true, true, false]).passed(0.8));
    // Default-profile runs, when there are any, must meet the rate too.
    let mut with_default = outcome(&[true, true, true, true, true]);
    with_default.default_runs = [false, true, true, false, true].map(run).to_vec();
    assert!(!with_default.passed(0.8));
    assert_eq!(super::runs_to_bug(&with_default.default_runs), Some(2));
    with_default.default_runs[0] = run(true);
    assert!(with_default.passed(0.8));
    assert_eq!(super::runs_to_bug(&with_default.default_runs), Some(1));
    assert!(!outcome(&[true, true, true, false, false]).passed(0.8));
    assert!(!outcome(&[]).passed(0.8));
    assert_eq!(
        outcome(&[true, false]).median_detection(),
        Some(Duration::from_secs(2))
    );
    assert_eq!(outcome(&[false]).median_detection(), None);
    assert_eq!(slug("kill,partition"), "kill-partition");
}
