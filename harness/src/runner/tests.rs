use super::*;
use crate::cli::{parse, Command};

fn args(extra: &[&str]) -> TestArgs {
    let argv = [
        "ballot",
        "test",
        "--node-cmd",
        "node {id} {port} {data_dir}",
    ]
    .iter()
    .chain(extra)
    .copied();
    match parse(argv).unwrap().command {
        Command::Test(t) => *t,
        other => panic!("{other:?}"),
    }
}

#[test]
fn test_json_holds_every_parameter_and_an_integer_node_count() {
    let plan = TestPlan::new(&args(&["--nodes", "5", "--bug", "memory-only"]), 42).unwrap();
    let test = serde_json::to_value(plan.test_params()).unwrap();
    assert_eq!(test["nodes"], json!(5));
    assert_eq!(test["seed"], json!(42));
    assert_eq!(test["bug"], json!(["memory-only"]));
    assert_eq!(test["node_cmd"], json!("node {id} {port} {data_dir}"));
    assert_eq!(
        test["command"],
        json!([
            "ballot",
            "test",
            "--nodes",
            "5",
            "--node-cmd",
            "node {id} {port} {data_dir}",
            "--bug",
            "memory-only",
            "--seed",
            "42"
        ])
    );
    for key in [
        "time_limit",
        "concurrency",
        "rate",
        "workload",
        "read_fraction",
        "window",
        "ops_per_key",
        "nemesis",
        "nemesis_interval",
        "nemesis_targets",
        "partition_shapes",
        "op_timeout",
        "model",
        "schedule",
        "client_bug",
    ] {
        assert!(test.get(key).is_some(), "test.json lacks {key}");
    }
}

#[test]
fn the_schedule_is_a_function_of_the_seed() {
    let a = args(&["--nemesis", "all", "--time-limit", "60"]);
    let s1 = TestPlan::new(&a, 9).unwrap().schedule;
    assert_eq!(s1, TestPlan::new(&a, 9).unwrap().schedule);
    assert_ne!(s1, TestPlan::new(&a, 10).unwrap().schedule);
    assert!(!s1.steps.is_empty());
    let none = TestPlan::new(&args(&["--nemesis", "none"]), 9).unwrap();
    assert!(none.schedule.steps.is_empty());
}

#[test]
fn direct_runs_refuse_link_faults_only() {
    // Table: --nemesis -> the link faults named in the refusal, if refused.
    for (nemesis, refused) in [
        ("none", None),
        ("kill,pause", None),
        ("power-fail", None),
        ("kill,partition", Some("(partition)")),
        ("kill,drop", Some("(drop)")),
        ("delay", Some("(delay)")),
        ("duplicate", Some("(duplicate)")),
        ("all", Some("(partition, drop, delay, duplicate)")),
    ] {
        let plan = TestPlan::new(&args(&["--direct", "--nemesis", nemesis]), 1);
        match (plan, refused) {
            (Ok(plan), None) => assert_eq!(
                serde_json::to_value(plan.test_params()).unwrap()["direct"],
                json!(true)
            ),
            (Err(e), Some(named)) => {
                assert_eq!(e.exit_code(), crate::exit::EXIT_BAD_ARGS, "{nemesis}");
                let text = e.to_string();
                assert!(text.starts_with("--direct bypasses the proxy"), "{text}");
                assert!(text.contains(named), "{nemesis}: {text}");
            }
            (got, want) => panic!("{nemesis}: got {got:?}, want refusal {want:?}"),
        }
        // Without --direct every one of them is fine.
        assert!(TestPlan::new(&args(&["--nemesis", nemesis]), 1).is_ok());
    }
    let plain = TestPlan::new(&args(&[]), 1).unwrap();
    assert_eq!(
        serde_json::to_value(plain.test_params()).unwrap()["direct"],
        json!(false)
    );
}

#[test]
fn base_port_must_leave_room() {
    let err = TestPlan::new(&args(&["--base-port", "65535", "--nodes", "3"]), 1).unwrap_err();
    assert_eq!(err.exit_code(), crate::exit::EXIT_BAD_ARGS);
    assert!(TestPlan::new(&args(&["--base-port", "65533", "--nodes", "3"]), 1).is_ok());
}

#[test]
fn random_seeds_fit_in_a_double() {
    for _ in 0..16 {
        assert!(random_seed() < 1 << 53);
    }
}
