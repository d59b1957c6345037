use super::*;
use crate::cli::{self, Command};
use serde_json::{json, Value};

fn ev(time: u64, process: u64, kind: EventType) -> Event {
    Event {
        index: 0,
        time,
        process: Process::Client(process),
        kind,
        f: "propose".into(),
        key: Some("x".into()),
        value: Value::Null,
        error: None,
    }
}

fn ex(process: u64, path: &str, round: u64, sent: u64, delivered: u64, replied: u64) -> Exchange {
    Exchange {
        id: 0,
        from: 0,
        to: 0,
        process: Some(process),
        path: path.into(),
        request: json!({"key": "x", "ballot": {"round": round, "proposer": process}}),
        status: Some(200),
        response: None,
        sent,
        delivered: Some(delivered),
        replied: Some(replied),
        fate: ballot_core::records::Fate::Ok,
        duplicate_of: None,
    }
}

#[test]
fn percentiles_are_nearest_rank() {
    let v: Vec<u64> = (1..=100).collect();
    for (values, p, want) in [
        (&v[..], 50, Some(50)),
        (&v[..], 99, Some(99)),
        (&v[..], 100, Some(100)),
        (&[7][..], 99, Some(7)),
        (&[1, 2, 3][..], 50, Some(2)),
        (&[][..], 50, None),
    ] {
        assert_eq!(percentile(values, p), want, "{values:?} p{p}");
    }
}

#[test]
fn only_ok_ops_invoked_in_the_main_phase_count() {
    let history = vec![
        ev(5, 0, EventType::Invoke), // before the window
        ev(15, 0, EventType::Ok),
        ev(20, 1, EventType::Invoke),
        ev(50, 1, EventType::Ok), // 30 ns
        ev(21, 2, EventType::Invoke),
        ev(30, 2, EventType::Fail), // not ok
        ev(40, 3, EventType::Invoke),
        ev(140, 3, EventType::Ok), // 100 ns, ends after the window: counts
        ev(60, 1, EventType::Invoke),
        ev(70, 1, EventType::Ok),      // 10 ns
        ev(120, 4, EventType::Invoke), // after the window (final read)
        ev(125, 4, EventType::Ok),
    ];
    let f = run_figures(&history, None, (10, 110));
    assert_eq!(f.ok_ops, 3);
    assert_eq!(f.seconds, 100e-9);
    assert_eq!(f.p50_ns, Some(30));
    assert_eq!(f.p99_ns, Some(100));
    assert_eq!(f.rounds_per_op, None);
    assert_eq!(f.hold_p50_ns, None);
}

#[test]
fn rounds_are_distinct_phase_ballot_pairs_of_the_op() {
    let history = vec![
        ev(100, 1, EventType::Invoke),
        ev(200, 1, EventType::Ok),
        ev(300, 1, EventType::Invoke),
        ev(400, 1, EventType::Ok),
    ];
    let messages = vec![
        // Op 1: prepare and accept to three nodes, ballot 1: 2 rounds.
        ex(1, PREPARE_PATH, 1, 110, 112, 120),
        ex(1, PREPARE_PATH, 1, 111, 114, 121),
        ex(1, PREPARE_PATH, 1, 111, 113, 190),
        ex(1, ACCEPT_PATH, 1, 130, 131, 140),
        ex(1, ACCEPT_PATH, 1, 130, 131, 141),
        // a learn in the background: not a round
        ex(1, "/v1/learn", 1, 201, 202, 210),
        // Op 2: a retry with a higher ballot: 4 rounds.
        ex(1, PREPARE_PATH, 2, 310, 311, 320),
        ex(1, ACCEPT_PATH, 2, 321, 322, 330),
        ex(1, PREPARE_PATH, 3, 340, 341, 350),
        ex(1, ACCEPT_PATH, 3, 351, 352, 360),
        // another process's exchange in the window: not this op's
        ex(9, PREPARE_PATH, 7, 150, 151, 160),
    ];
    let f = run_figures(&history, Some(&messages), (0, 1000));
    assert_eq!(f.ok_ops, 2);
    assert_eq!(f.rounds_per_op, Some(3.0));
    // delivered - sent: eight 1s, 2, 2, 3 -> the 6th of 11
    assert_eq!(f.hold_p50_ns, Some(1));
    // replied - delivered: 7,8,8,8,8,9,9,9,9,10,77 -> the 6th of 11
    assert_eq!(f.node_p50_ns, Some(9));
}

#[test]
fn the_proxy_cost_divides_the_latency_difference_by_rounds() {
    let proxy = RunFigures {
        ok_ops: 700,
        seconds: 1.0,
        p50_ns: Some(1_300_000),
        p99_ns: Some(3_000_000),
        rounds_per_op: Some(2.0),
        ..RunFigures::default()
    };
    let direct = RunFigures {
        ok_ops: 1000,
        seconds: 1.0,
        p50_ns: Some(1_100_000),
        ..RunFigures::default()
    };
    let cost = proxy_cost(&proxy, &direct);
    assert_eq!(cost.added_per_exchange_ns, Some(100_000.0));
    assert!((cost.throughput_cost.unwrap() - 0.3).abs() < 1e-12);
    assert_eq!(
        cost.meets_targets(),
        Some(false),
        "100 µs is not under 100 µs"
    );

    // Table: (proxy p50, direct p50, rounds, proxy ops, direct ops) -> (added, cost, met)
    for (pp, dp, rounds, po, d_ops, added, tcost, met) in [
        (
            1_050_000,
            1_000_000,
            Some(2.0),
            900,
            1000,
            Some(25_000.0),
            Some(0.1),
            Some(true),
        ),
        (
            900_000,
            1_000_000,
            Some(2.0),
            1100,
            1000,
            Some(-50_000.0),
            Some(-0.1),
            Some(true),
        ),
        (1_000_000, 1_000_000, None, 900, 1000, None, Some(0.1), None),
        (
            1_000_000,
            1_000_000,
            Some(0.0),
            900,
            1000,
            None,
            Some(0.1),
            None,
        ),
        (
            1_000_000,
            1_000_000,
            Some(1.0),
            900,
            0,
            Some(0.0),
            None,
            None,
        ),
    ] {
        let p = RunFigures {
            ok_ops: po,
            seconds: 1.0,
            p50_ns: Some(pp),
            rounds_per_op: rounds,
            ..RunFigures::default()
        };
        let d = RunFigures {
            ok_ops: d_ops,
            seconds: 1.0,
            p50_ns: Some(dp),
            ..RunFigures::default()
        };
        let c = proxy_cost(&p, &d);
        assert_eq!(c.added_per_exchange_ns, added, "{pp} {dp} {rounds:?}");
        match (c.throughput_cost, tcost) {
            (Some(got), Some(want)) => assert!((got - want).abs() < 1e-12, "{got} {want}"),
            (got, want) => assert_eq!(got, want),
        }
        assert_eq!(c.meets_targets(), met);
    }
}

#[test]
fn ops_per_sec_of_an_empty_phase_is_zero() {
    assert_eq!(RunFigures::default().ops_per_sec(), 0.0);
    let f = RunFigures {
        ok_ops: 50,
        seconds: 2.0,
        ..RunFigures::default()
    };
    assert_eq!(f.ops_per_sec(), 25.0);
}

#[test]
fn durations_print_in_us_or_ms() {
    for (ns, text) in [
        (85_400.0, "85 µs"),
        (-12_000.0, "-12 µs"),
        (1_250_000.0, "1250 µs"),
        (12_340_000.0, "12.3 ms"),
    ] {
        assert_eq!(format_ns(ns), text);
    }
}

#[test]
fn the_markdown_has_a_row_per_run_and_a_cost_row_per_workload() {
    let figures = |ok_ops, p50, rounds| RunFigures {
        ok_ops,
        seconds: 2.0,
        p50_ns: Some(p50),
        p99_ns: Some(p50 * 3),
        rounds_per_op: rounds,
        hold_p50_ns: rounds.map(|_| 40_000),
        node_p50_ns: rounds.map(|_| 300_000),
    };
    let m = |workload, route, f, verdict| Measured {
        workload,
        route,
        figures: f,
        verdict,
        load: Some(1.5),
        dir: PathBuf::from("store/x"),
    };
    let measured = vec![
        m(
            WorkloadKind::Register,
            Route::Proxy,
            figures(1800, 1_200_000, Some(2.5)),
            Validity::Valid,
        ),
        m(
            WorkloadKind::Register,
            Route::Direct,
            figures(2000, 1_000_000, None),
            Validity::Unknown,
        ),
        m(
            WorkloadKind::Kv,
            Route::Proxy,
            figures(900, 900_000, Some(2.0)),
            Validity::Valid,
        ),
    ];
    let text = markdown("ballot bench --seconds 2", &measured);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(
        &"| register | proxy | 900 | 1200 µs | 3600 µs | 2.50 | 40 µs | 300 µs | valid | 1.50 |"
    ), "{text}");
    assert!(
        lines.contains(
            &"| register | direct | 1000 | 1000 µs | 3000 µs | - | - | - | unknown | 1.50 |"
        ),
        "{text}"
    );
    assert!(
        lines.contains(&"| register | 80 µs | 10.0% | met |"),
        "{text}"
    );
    // kv has no direct run: its run row, but no cost row.
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("| kv |")).count(),
        1,
        "{text}"
    );
    assert!(text.contains("`ballot bench --seconds 2`"));
}

#[test]
fn bench_runs_are_tests_with_no_nemesis_and_the_same_seed() {
    let args = match cli::parse(["ballot", "bench", "--seconds", "2", "--rate", "50"])
        .unwrap()
        .command
    {
        Command::Bench(b) => b,
        other => panic!("{other:?}"),
    };
    assert_eq!((args.concurrency, args.nodes), (6, 3));
    let proxy = args.test_args(WorkloadKind::Kv, Route::Proxy, 7).unwrap();
    let direct = args.test_args(WorkloadKind::Kv, Route::Direct, 7).unwrap();
    assert_eq!(proxy.nemesis, "none");
    assert_eq!(proxy.workload, WorkloadKind::Kv);
    assert_eq!(proxy.time_limit, 2.0);
    assert_eq!(proxy.rate, 50.0);
    assert_eq!(proxy.seed, Some(7));
    assert!(!proxy.direct && direct.direct);
    assert_eq!(
        TestArgs {
            direct: false,
            ..direct
        },
        proxy
    );
    assert_eq!(
        args.command(7),
        "ballot bench --seconds 2 --concurrency 6 --rate 50 --nodes 3 --seed 7"
    );
    let bad = cli::parse(["ballot", "bench", "--seconds", "0"]).unwrap_err();
    assert_eq!(cli::parse_error_exit_code(&bad), crate::exit::EXIT_BAD_ARGS);
}
