//! Unit tests of the step language: parse, print, round trip.

use super::*;

fn ok(line: &str) -> Step {
    parse_step(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

#[test]
fn message_steps() {
    assert_eq!(
        ok("prepare P1 -> A, B"),
        Step::Message(MessageStep {
            verb: Verb::Deliver,
            phase: RequestKind::Prepare,
            sender: Sender::Proposer("P1".into()),
            nodes: vec![0, 1],
            key: None,
        })
    );
    assert_eq!(ok("hold accept P2 -> B C"), ok("hold accept P2 -> B,C"));
    assert_eq!(
        ok(r#"drop-response accept 5.2 "seven 7" -> C by 4 key="k 1""#),
        Step::Message(MessageStep {
            verb: Verb::DropResponse,
            phase: RequestKind::Accept,
            sender: Sender::Raw {
                ballot: Ballot::new(5, 2),
                value: Some("seven 7".into()),
                process: Some(4),
            },
            nodes: vec![2],
            key: Some("k 1".into()),
        })
    );
    assert_eq!(
        ok("prepare 9.0 -> E key=x"),
        Step::Message(MessageStep {
            verb: Verb::Deliver,
            phase: RequestKind::Prepare,
            sender: Sender::Raw {
                ballot: Ballot::new(9, 0),
                value: None,
                process: None,
            },
            nodes: vec![4],
            key: Some("x".into()),
        })
    );
}

#[test]
fn other_steps() {
    assert_eq!(
        ok("run P3 via B, C"),
        Step::Run {
            proposer: "P3".into(),
            nodes: vec![1, 2]
        }
    );
    assert_eq!(
        ok("kill B"),
        Step::Fault {
            fault: Fault::Kill,
            nodes: vec![1]
        }
    );
    assert_eq!(
        ok(r#"ok 3 propose "1-2""#),
        Step::History(HistoryStep {
            completion: Some(Completion::Ok),
            process: 3,
            f: F::Propose,
            value: Some("1-2".into()),
            key: None
        })
    );
    assert_eq!(
        ok("invoke 4 read key=y"),
        Step::History(HistoryStep {
            completion: None,
            process: 4,
            f: F::Read,
            value: None,
            key: Some("y".into())
        })
    );
    assert_eq!(
        ok("ok 4 read none"),
        Step::History(HistoryStep {
            completion: Some(Completion::Ok),
            process: 4,
            f: F::Read,
            value: None,
            key: None
        })
    );
}

#[test]
fn expectations() {
    let table: Vec<(&str, Expect)> = vec![
        ("expect chosen 7", Expect::Chosen(Some("7".into()))),
        ("expect chosen none", Expect::Chosen(None)),
        (
            "expect P1 ok 7",
            Expect::Outcome {
                proposer: "P1".into(),
                outcome: ExpectedOutcome::Ok(Some("7".into())),
            },
        ),
        (
            "expect R1 ok none",
            Expect::Outcome {
                proposer: "R1".into(),
                outcome: ExpectedOutcome::Ok(None),
            },
        ),
        (
            "expect P1 indeterminate",
            Expect::Outcome {
                proposer: "P1".into(),
                outcome: ExpectedOutcome::Info(None),
            },
        ),
        (
            "expect P2 fail",
            Expect::Outcome {
                proposer: "P2".into(),
                outcome: ExpectedOutcome::Fail(None),
            },
        ),
        (
            r#"expect P2 fail "no accept request was sent""#,
            Expect::Outcome {
                proposer: "P2".into(),
                outcome: ExpectedOutcome::Fail(Some("no accept request was sent".into())),
            },
        ),
        (
            r#"expect P1 info "no quorum did""#,
            Expect::Outcome {
                proposer: "P1".into(),
                outcome: ExpectedOutcome::Info(Some("no quorum did".into())),
            },
        ),
        (
            "expect P2 proposes 3",
            Expect::Proposes {
                proposer: "P2".into(),
                value: "3".into(),
            },
        ),
        (
            "expect B promised P3",
            Expect::Promised {
                node: 1,
                ballot: Some(BallotRef::Of("P3".into())),
            },
        ),
        (
            "expect B accepted 5.2 7",
            Expect::Accepted {
                node: 1,
                proposal: Some((BallotRef::Literal(Ballot::new(5, 2)), "7".into())),
            },
        ),
        (
            "expect C accepted none",
            Expect::Accepted {
                node: 2,
                proposal: None,
            },
        ),
        (
            "expect A learned 7",
            Expect::Learned {
                node: 0,
                value: Some("7".into()),
            },
        ),
        (
            "expect accept P2 -> C rejected",
            Expect::Reply {
                phase: RequestKind::Accept,
                proposer: "P2".into(),
                node: 2,
                reply: ReplyKind::Rejected,
            },
        ),
        ("expect valid", Expect::Valid),
        (
            "expect invalid chosen-unique",
            Expect::Invalid(Some("chosen-unique".into())),
        ),
        ("expect invalid", Expect::Invalid(None)),
    ];
    for (line, want) in table {
        assert_eq!(ok(line), Step::Expect(want), "{line}");
    }
}

#[test]
fn bad_lines_say_what_is_wrong() {
    let table = [
        ("", "expected a step"),
        ("propose P1 -> A", "unknown step \"propose\""),
        ("prepare P1 A", "expected `->`"),
        ("prepare P1 ->", "expected node letters"),
        ("prepare P1 -> a", "expected node letters"),
        ("accept 5.2 -> A", "a raw accept needs a ballot and a value"),
        ("prepare 5.2 7 -> A", "a raw prepare needs only a ballot"),
        ("prepare P1 -> A by 3", "only for raw messages"),
        ("run P1 A", "expected `via`"),
        ("kill", "expected node letters"),
        ("expect P1 maybe", "expected ok, fail, info"),
        ("expect P1 fail why", "expected a reason as a JSON string"),
        (r#"expect P1 info """#, "must not be empty"),
        (r#"expect P1 fail "a" "b""#, "unexpected"),
        ("expect 9 ok 1", "expected chosen, valid"),
        ("expect B promised 5", "neither a ballot"),
        (r#"accept 1.1 "open -> A"#, "unterminated string"),
        ("kill A extra", "unexpected"),
        ("invoke x propose 1", "not a process number"),
    ];
    for (line, needle) in table {
        let err = parse_step(line).unwrap_err().to_string();
        assert!(err.contains(needle), "{line:?}: {err}");
    }
}

#[test]
fn display_round_trips() {
    let lines = [
        "prepare P1 -> A, B",
        "hold accept P2 -> B, C",
        "release accept P2 -> C",
        "drop-request accept P2 -> B",
        "duplicate prepare P1 -> A",
        "cut prepare P1 -> C, D",
        r#"drop-response accept 5.2 "two words" -> C by 4 key="k 1""#,
        "accept 5.2 none2 -> C",
        r#"accept 5.2 "none" -> C"#,
        "learn 5.2 7 -> A, B, C key=x",
        "prepare 9.0 -> E",
        "run P3 via B, C",
        "restart A, B",
        "invoke 3 propose 3-17",
        "invoke 4 read",
        "ok 4 read none",
        "info 3 propose 3-17 key=x",
        "expect chosen none",
        "expect B accepted P2 7",
        "expect accept P2 -> C no-reply",
        "expect invalid p2b-chosen-value-persists",
        "expect R1 ok none",
        r#"expect P1 proposes "a b""#,
        "expect P1 fail",
        "expect P1 info",
        r#"expect P2 fail "no accept request was sent""#,
        r#"expect P1 info "say \"why\"""#,
    ];
    for line in lines {
        let step = ok(line);
        assert_eq!(step.to_string(), line);
        assert_eq!(ok(&step.to_string()), step);
    }
}

#[test]
fn names() {
    assert_eq!(node_name(0), "A");
    assert_eq!(node_id("C"), Some(2));
    assert_eq!(node_id("AB"), None);
    assert!(is_proposer_name("P1"));
    assert!(!is_proposer_name("甲"));
    assert!(!is_proposer_name("A"));
    assert!(!is_proposer_name("none"));
    assert_eq!(parse_ballot("5.2"), Some(Ballot::new(5, 2)));
    assert_eq!(parse_ballot("5"), None);
    assert_eq!(
        RequestKind::from_path("/v1/accept"),
        Some(RequestKind::Accept)
    );
}
