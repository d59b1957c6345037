//! Each expectation against replies that meet it and replies that break it,
//! with the exact message naming the broken field.

use super::*;

fn b(round: u64, proposer: u64) -> Ballot {
    Ballot::new(round, proposer)
}

fn acc(round: u64, proposer: u64, value: &str) -> Option<Accepted> {
    Some(Accepted {
        ballot: b(round, proposer),
        value: value.into(),
    })
}

fn ok(status: u16, body: &str) -> Reply {
    Reply::new(status, body.as_bytes().to_vec())
}

#[test]
fn each_broken_field_is_named_exactly() {
    let refused_at_5_2 = Expect::Prepare {
        ok: false,
        promised: Want::Is(b(5, 2)),
        accepted: Want::Any,
    };
    // Table: expectation, reply, the exact complaint (None: it passes).
    let table: Vec<(Expect, Reply, Option<&str>)> = vec![
        (
            Expect::granted(b(2, 1)),
            ok(
                200,
                r#"{"ok":true,"promised":{"round":2,"proposer":1},"accepted":null}"#,
            ),
            None,
        ),
        (
            Expect::granted(b(2, 1)),
            ok(
                200,
                r#"{"ok":false,"promised":{"round":3,"proposer":1},"accepted":null}"#,
            ),
            Some("ok is false; expected true"),
        ),
        (
            Expect::granted(b(2, 1)),
            ok(400, r#"{"error":"no"}"#),
            Some("the status is 400; expected 200"),
        ),
        (
            refused_at_5_2.clone(),
            ok(200, r#"{"ok":false,"promised":null}"#),
            Some(
                r#"promised is null; expected {"round":5,"proposer":2} (a ballot {"round":R,"proposer":P})"#,
            ),
        ),
        (
            refused_at_5_2.clone(),
            ok(200, r#"{"ok":false}"#),
            Some(r#"the body has no field `promised`; expected {"round":5,"proposer":2}"#),
        ),
        (
            refused_at_5_2.clone(),
            ok(200, r#"{"ok":false,"promised":{"round":3,"proposer":1}}"#),
            Some(r#"promised is {"round":3,"proposer":1}; expected {"round":5,"proposer":2}"#),
        ),
        (
            // A field this rule does not pin may be anything.
            refused_at_5_2,
            ok(
                200,
                r#"{"ok":false,"promised":{"round":5,"proposer":2},"accepted":7}"#,
            ),
            None,
        ),
        (
            Expect::promise(b(3, 3), acc(2, 2, "second")),
            ok(
                200,
                r#"{"ok":true,"promised":{"round":3,"proposer":3},"accepted":{"ballot":{"round":1,"proposer":1},"value":"first"}}"#,
            ),
            Some(
                r#"accepted is {"ballot":{"round":1,"proposer":1},"value":"first"}; expected {"ballot":{"round":2,"proposer":2},"value":"second"}"#,
            ),
        ),
        (
            Expect::accepted(b(5, 1)),
            ok(200, r#"{"ok":"true","promised":{"round":5,"proposer":1}}"#),
            Some(r#"ok is the string "true"; expected true"#),
        ),
        (
            Expect::Learned,
            ok(409, r#"{"error":"already learned"}"#),
            Some("the status is 409; expected 200"),
        ),
        (
            Expect::Error { status: 409 },
            ok(409, "conflict"),
            Some("the body is not JSON (expected value at line 1 column 1)"),
        ),
        (
            Expect::bad_request(),
            ok(400, r#"{"message":"bad"}"#),
            Some(r#"the body has no field `error`; expected {"error":"…"}"#),
        ),
        (
            Expect::Health { node: 0 },
            ok(200, r#"{"node":"0","ok":true}"#),
            Some(r#"health reply's node is the string "0"; expected the number 0"#),
        ),
        (
            Expect::Health { node: 1 },
            ok(200, r#"{"node":0,"ok":true}"#),
            Some("health reply's node is 0; expected 1, the {id} this node was started with"),
        ),
        (
            // Roles are their own rule.
            Expect::Health { node: 1 },
            ok(200, r#"{"node":1,"ok":true,"roles":"all"}"#),
            None,
        ),
        (
            Expect::Roles { node: 0 },
            ok(200, r#"{"node":"0","ok":true,"roles":["proposer"]}"#),
            Some(
                r#"health reply's roles is the array ["proposer"]; expected a list that includes "acceptor" (every node serves the acceptor endpoints of v1)"#,
            ),
        ),
        (
            Expect::Chosen {
                value: Some("a".into()),
            },
            ok(200, r#"{"ok":true,"value":"b"}"#),
            Some(r#"value is "b"; expected "a""#),
        ),
        (
            Expect::Chosen { value: None },
            ok(200, r#"{"ok":true,"value":null}"#),
            None,
        ),
        (
            Expect::StateLacks {
                keys: vec!["bad".into()],
            },
            ok(
                200,
                r#"{"node":0,"instances":{"bad":{"promised":null,"accepted":null,"learned":null}}}"#,
            ),
            Some(r#"instances has the key "bad"; expected none: every request for it was refused"#),
        ),
        (
            Expect::StateHas {
                key: "dur".into(),
                promised: Want::Is(Some(b(1, 1))),
                accepted: Want::Is(acc(1, 1, "v")),
                learned: Want::Any,
            },
            ok(
                200,
                r#"{"node":0,"instances":{"dur":{"promised":{"round":1,"proposer":1},"accepted":null,"learned":null}}}"#,
            ),
            Some(
                r#"instances["dur"].accepted is null; expected {"ballot":{"round":1,"proposer":1},"value":"v"}"#,
            ),
        ),
        (
            Expect::StateHas {
                key: "dur".into(),
                promised: Want::Any,
                accepted: Want::Any,
                learned: Want::Any,
            },
            ok(200, r#"{"node":0,"instances":{}}"#),
            Some(r#"instances has no key "dur""#),
        ),
    ];
    for (expect, reply, complaint) in table {
        assert_eq!(
            judge(&expect, &reply).err().as_deref(),
            complaint,
            "{expect:?} against {}",
            reply.describe()
        );
    }
}

#[test]
fn a_whole_state_must_match_key_for_key() {
    let mut instances = BTreeMap::new();
    instances.insert(
        "s1".to_string(),
        InstanceState {
            promised: Some(b(2, 1)),
            accepted: None,
            learned: None,
        },
    );
    let expect = Expect::State { node: 0, instances };
    let good = r#"{"node":0,"instances":{"s1":{"promised":{"round":2,"proposer":1},"accepted":null,"learned":null}}}"#;
    assert_eq!(judge(&expect, &ok(200, good)), Ok(()));
    for (body, complaint) in [
        (
            r#"{"node":1,"instances":{}}"#,
            "node is the number 1; expected the number 0",
        ),
        (
            r#"{"node":0,"instances":{}}"#,
            r#"instances has no key "s1"; expected {"promised":{"round":2,"proposer":1},"accepted":null,"learned":null}"#,
        ),
        (
            r#"{"node":0,"instances":{"s1":{"promised":{"round":1,"proposer":1},"accepted":null,"learned":null}}}"#,
            r#"instances["s1"].promised is {"round":1,"proposer":1}; expected {"round":2,"proposer":1}"#,
        ),
        (
            r#"{"node":0,"instances":{"s1":{"promised":{"round":2,"proposer":1},"accepted":null,"learned":null},"zz":{}}}"#,
            r#"instances has the key "zz", which no request of this check touched"#,
        ),
        (
            r#"{"node":0,"instances":[]}"#,
            "instances is the array []; expected an object of keys",
        ),
    ] {
        assert_eq!(
            judge(&expect, &ok(200, body)).unwrap_err(),
            complaint,
            "{body}"
        );
    }
}

#[test]
fn descriptions_show_pinned_fields_and_elide_the_rest() {
    assert_eq!(
        Expect::refused().describe(),
        r#"200 {"ok":false,"promised":…,"accepted":…}"#
    );
    assert_eq!(
        Expect::promise(b(3, 3), acc(2, 2, "b")).describe(),
        r#"200 {"ok":true,"promised":{"round":3,"proposer":3},"accepted":{"ballot":{"round":2,"proposer":2},"value":"b"}}"#
    );
    assert_eq!(Expect::bad_request().describe(), r#"400 {"error":"…"}"#);
    assert_eq!(
        Expect::Chosen { value: None }.describe(),
        r#"200 {"ok":true,"value":null}"#
    );
}
