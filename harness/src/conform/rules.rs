//! The rules of `docs/protocol.md`, one check each, as data: a name, the
//! rule in words, where it comes from, what to start, and the script.
//!
//! Every check starts its own fresh node(s) on fresh data dirs, so checks
//! are independent and their order does not matter. Each pins only what
//! its rule says (see [`Want`]): a node with one mistake fails one rule.
//! Ballots are written `b(round, proposer)`.

use std::collections::BTreeMap;

use ballot_core::protocol::{
    Accepted, InstanceState, ACCEPT_PATH, HEALTH_PATH, LEARN_PATH, MAX_BODY_BYTES, MAX_KEY_BYTES,
    MAX_VALUE_BYTES, PREPARE_PATH, STATE_PATH,
};

use super::expect::{Expect, Want};
use super::script::{b, kill, restart, send, stop, terminate, Request, Step};

/// The section of `docs/protocol.md` that states a rule.
pub type DocSection = &'static str;

/// What a check starts before its script runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// This many fresh acceptor nodes (ids `0..n`).
    Nodes(usize),
    /// Three fresh nodes given each other as `{peers}` (protocol v1.1);
    /// skipped unless every one lists the proposer role.
    Proposers,
}

impl Setup {
    /// How many nodes it starts.
    pub fn nodes(self) -> usize {
        match self {
            Setup::Nodes(n) => n,
            Setup::Proposers => 3,
        }
    }
}

/// One rule of the protocol and the check that tries it.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// Its name, for `--rule` and the report.
    pub name: &'static str,
    /// The rule in words.
    pub rule: &'static str,
    /// The section of `docs/protocol.md` that states it.
    pub doc: DocSection,
    /// Where in Lamport's *Paxos Made Simple* it comes from, if it does.
    pub lamport: Option<&'static str>,
    /// What to start.
    pub setup: Setup,
    /// The steps, in order.
    pub script: fn() -> Vec<Step>,
}

impl Rule {
    /// Where the rule comes from, on one line.
    pub fn source(&self) -> String {
        let doc = format!("docs/protocol.md, \"{}\"", self.doc);
        match self.lamport {
            Some(paper) => format!("{doc}; Lamport, Paxos Made Simple, {paper}"),
            None => doc,
        }
    }
}

const NODE_CMD: DocSection = "The node command line";
const ENDPOINTS: DocSection = "Endpoints";
const RULES: DocSection = "Rules";
const VALUES: DocSection = "Values";
const ERRORS: DocSection = "Errors";
const DURABILITY: DocSection = "Durability";
const HEADER: DocSection = "The `x-ballot-process` header";
const PROPOSER: DocSection = "Protocol v1.1: the proposer role";

/// Every check, in the order they run and are reported.
pub fn all() -> Vec<Rule> {
    vec![
        Rule {
            name: "health",
            rule: "GET /v1/health answers 200 {\"node\": ID, \"ok\": true}, ID the number the node was started with as {id}",
            doc: NODE_CMD,
            lamport: None,
            setup: Setup::Nodes(2),
            script: || {
                vec![
                    send(Request::health(), Expect::Health { node: 0 }),
                    send(Request::health(), Expect::Health { node: 1 })
                        .on(1)
                        .because("node 1 was started with --id 1: the id is not a constant"),
                ]
            },
        },
        Rule {
            name: "health-roles",
            rule: "/v1/health's \"roles\", if present, lists \"acceptor\" (and \"proposer\" for a v1.1 node) and nothing else",
            doc: ENDPOINTS,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || vec![send(Request::health(), Expect::Roles { node: 0 })],
        },
        Rule {
            name: "prepare-grants-at-or-above-promise",
            rule: "prepare(b) is granted iff b >= promised (ballots ordered by round, then proposer); then promised := b, and the reply carries it",
            doc: RULES,
            lamport: Some("§2.2, phase 1(b) and P1a"),
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    send(Request::prepare("p", b(2, 1)), Expect::granted(b(2, 1)))
                        .because("a fresh key has no promise"),
                    send(Request::prepare("p", b(5, 1)), Expect::granted(b(5, 1)))
                        .because("5.1 is above the promise 2.1"),
                    send(Request::prepare("p", b(4, 1)), Expect::refused())
                        .because("4.1 is below the promise 5.1"),
                    send(Request::prepare("p", b(5, 0)), Expect::refused())
                        .because("5.0 is below the promise 5.1: same round, lower proposer"),
                    send(Request::prepare("p", b(6, 0)), Expect::granted(b(6, 0)))
                        .because("6.0 is above 5.1: the higher round wins whatever the proposer"),
                ]
            },
        },
        Rule {
            name: "prepare-reports-highest-accepted",
            rule: "a granted prepare reports the highest-ballot proposal the acceptor accepted for the key (null if none)",
            doc: RULES,
            lamport: Some("§2.2, phase 1(b)"),
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    send(Request::prepare("h", b(1, 1)), Expect::promise(b(1, 1), None))
                        .because("nothing was accepted for this key yet"),
                    send(Request::accept("h", b(1, 1), "first"), Expect::accepted_any()),
                    send(
                        Request::prepare("h", b(2, 2)),
                        Expect::promise(b(2, 2), accepted(1, 1, "first")),
                    ),
                    send(Request::accept("h", b(2, 2), "second"), Expect::accepted_any()),
                    send(
                        Request::prepare("h", b(3, 3)),
                        Expect::promise(b(3, 3), accepted(2, 2, "second")),
                    )
                    .because("2.2 \"second\" is the highest-ballot proposal accepted, not the first one"),
                ]
            },
        },
        Rule {
            name: "prepare-duplicate-same-answer",
            rule: "a prepare at the promised ballot (a duplicated message) is granted again with the same answer",
            doc: RULES,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || {
                let answer = || Expect::promise(b(2, 1), accepted(1, 1, "v"));
                vec![
                    send(Request::prepare("d", b(1, 1)), Expect::granted(b(1, 1))),
                    send(Request::accept("d", b(1, 1), "v"), Expect::accepted_any()),
                    send(Request::prepare("d", b(2, 1)), answer()),
                    send(Request::prepare("d", b(2, 1)), answer())
                        .because("the same prepare again: b >= promised, and nothing changed"),
                ]
            },
        },
        Rule {
            name: "accept-grants-at-or-above-promise",
            rule: "accept(b, v) is granted iff b >= promised; the reply carries the promise",
            doc: RULES,
            lamport: Some("§2.2, phase 2(b) and P1a"),
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    send(Request::prepare("a", b(2, 1)), Expect::granted(b(2, 1))),
                    send(Request::accept("a", b(1, 1), "low"), Expect::rejected())
                        .because("1.1 is below the promise 2.1"),
                    send(Request::accept("a", b(2, 0), "low"), Expect::rejected())
                        .because("2.0 is below the promise 2.1: same round, lower proposer"),
                    send(Request::accept("a", b(2, 1), "v"), Expect::accepted(b(2, 1)))
                        .because("2.1 equals the promise"),
                    send(Request::accept("a", b(3, 1), "w"), Expect::accepted_any())
                        .because("3.1 is above the promise; an accept needs no prepare of its own"),
                ]
            },
        },
        Rule {
            name: "accept-raises-promise",
            rule: "a granted accept(b, v) also sets promised := b, so nothing below b is promised or accepted afterwards",
            doc: RULES,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    send(Request::accept("r", b(5, 1), "v"), Expect::accepted(b(5, 1)))
                        .because("a fresh key has no promise"),
                    send(Request::prepare("r", b(4, 2)), Expect::refused())
                        .because("the accept at 5.1 raised the promise to 5.1"),
                    send(Request::accept("r", b(4, 2), "w"), Expect::rejected())
                        .because("the accept at 5.1 raised the promise to 5.1"),
                ]
            },
        },
        Rule {
            name: "rejection-carries-promise",
            rule: "a refused prepare or accept is a 200 with \"ok\": false that carries the current promise",
            doc: RULES,
            lamport: Some("§2.2 (an acceptor that ignores a request should tell the proposer)"),
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    send(Request::prepare("j", b(5, 2)), Expect::granted(b(5, 2))),
                    send(Request::accept("j", b(5, 2), "v"), Expect::accepted_any()),
                    send(
                        Request::prepare("j", b(3, 1)),
                        Expect::Prepare {
                            ok: false,
                            promised: Want::Is(b(5, 2)),
                            accepted: Want::Any,
                        },
                    )
                    .because("the current promise is 5.2"),
                    send(
                        Request::accept("j", b(4, 1), "w"),
                        Expect::Accept {
                            ok: false,
                            promised: Want::Is(b(5, 2)),
                        },
                    )
                    .because("the current promise is 5.2"),
                ]
            },
        },
        Rule {
            name: "keys-are-independent",
            rule: "each key is its own Paxos instance: a promise or acceptance on one key does not touch another",
            doc: "The acceptor protocol, v1",
            lamport: Some("§3 (one instance of the consensus algorithm per command)"),
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    send(Request::prepare("k1", b(5, 1)), Expect::granted(b(5, 1))),
                    send(Request::accept("k1", b(5, 1), "one"), Expect::accepted_any()),
                    send(Request::prepare("k2", b(1, 2)), Expect::promise(b(1, 2), None))
                        .because("k2 is another instance: k1's promise 5.1 and acceptance do not apply"),
                    send(Request::accept("k2", b(1, 2), "two"), Expect::accepted(b(1, 2))),
                ]
            },
        },
        Rule {
            name: "learn-same-value-again",
            rule: "learning the value a key already learned is 200 {\"ok\": true}, at any ballot",
            doc: RULES,
            lamport: Some("§2.3 (learning a chosen value)"),
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    send(Request::learn("l", b(3, 1), "v"), Expect::Learned),
                    send(Request::learn("l", b(3, 1), "v"), Expect::Learned)
                        .because("the same learn again (a duplicated message)"),
                    send(Request::learn("l", b(4, 2), "v"), Expect::Learned)
                        .because("the same value, told by another proposer"),
                ]
            },
        },
        Rule {
            name: "learn-different-value-409",
            rule: "a learn of a value different from the one the key learned is 409 with an error body; the first value stays",
            doc: RULES,
            lamport: Some("§2.1 (only a single value is chosen)"),
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    send(Request::learn("c", b(3, 1), "v"), Expect::Learned),
                    send(Request::learn("c", b(4, 2), "w"), Expect::Error { status: 409 })
                        .because("\"v\" was learned: a second value means two were chosen"),
                    send(Request::state(), state_has("c", Want::Any, Want::Any, Want::Is(Some("v".into()))))
                        .because("the first learned value stays"),
                ]
            },
        },
        Rule {
            name: "learn-leaves-promise-and-accepted",
            rule: "learn records the chosen value and changes neither promised nor accepted",
            doc: RULES,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    send(Request::prepare("n", b(2, 1)), Expect::granted(b(2, 1))),
                    send(Request::accept("n", b(2, 1), "a"), Expect::accepted_any()),
                    send(Request::learn("n", b(9, 9), "a"), Expect::Learned),
                    send(
                        Request::state(),
                        state_has(
                            "n",
                            Want::Is(Some(b(2, 1))),
                            Want::Is(accepted(2, 1, "a")),
                            Want::Is(Some("a".into())),
                        ),
                    )
                    .because("the learn at 9.9 is not a promise nor an acceptance"),
                    send(
                        Request::prepare("n", b(3, 1)),
                        Expect::promise(b(3, 1), accepted(2, 1, "a")),
                    )
                    .because("the promise is still 2.1"),
                ]
            },
        },
        Rule {
            name: "state-reports-every-key",
            rule: "GET /v1/state answers {\"node\": ID, \"instances\": {key: {promised, accepted, learned}}} for every key the node holds state for",
            doc: RULES,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || {
                let mut instances = BTreeMap::new();
                let state = |promised, accepted, learned: Option<&str>| InstanceState {
                    promised,
                    accepted,
                    learned: learned.map(String::from),
                };
                instances.insert("s1".to_string(), state(Some(b(2, 1)), None, None));
                instances.insert("s2".to_string(), state(Some(b(3, 1)), accepted(3, 1, "v"), None));
                instances.insert("s3".to_string(), state(Some(b(4, 1)), None, Some("w")));
                vec![
                    send(Request::prepare("s1", b(2, 1)), Expect::granted(b(2, 1))),
                    send(Request::prepare("s2", b(3, 1)), Expect::granted(b(3, 1))),
                    send(Request::accept("s2", b(3, 1), "v"), Expect::accepted_any()),
                    send(Request::prepare("s3", b(4, 1)), Expect::granted(b(4, 1))),
                    send(Request::learn("s3", b(4, 1), "w"), Expect::Learned),
                    send(Request::state(), Expect::State { node: 0, instances })
                        .because("s1 promised 2.1; s2 promised and accepted 3.1 \"v\"; s3 promised 4.1 and learned \"w\""),
                ]
            },
        },
        Rule {
            name: "process-header-ignored",
            rule: "the x-ballot-process header changes nothing",
            doc: HEADER,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    send(
                        Request::prepare("x", b(1, 1)).with_process_header(12),
                        Expect::promise(b(1, 1), None),
                    ),
                    send(
                        Request::accept("x", b(1, 1), "v").with_process_header(12),
                        Expect::accepted(b(1, 1)),
                    ),
                ]
            },
        },
        Rule {
            name: "malformed-json-400",
            rule: "a body that is not JSON is 400 with an error body, and changes nothing",
            doc: ERRORS,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    bad(PREPARE_PATH, r#"{"key":"bad","ballot":"#).because("the JSON is cut short"),
                    bad(ACCEPT_PATH, "not json"),
                    bad(LEARN_PATH, "").because("an empty body is not JSON"),
                    bad(PREPARE_PATH, r#"{"key":"bad","ballot":{"round":1,"proposer":1}}}"#)
                        .because("one JSON value, then more"),
                    lacks(&["bad"]),
                ]
            },
        },
        Rule {
            name: "unknown-fields-400",
            rule: "a request with a field the protocol does not define (in the body or in its ballot) is 400",
            doc: VALUES,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    bad(PREPARE_PATH, r#"{"key":"bad","ballot":{"round":1,"proposer":1},"value":"v"}"#)
                        .because("a prepare has no value"),
                    bad(ACCEPT_PATH, r#"{"key":"bad","ballot":{"round":1,"proposer":1},"value":"v","extra":1}"#),
                    bad(LEARN_PATH, r#"{"key":"bad","ballot":{"round":1,"proposer":1,"x":2},"value":"v"}"#)
                        .because("a ballot is round and proposer only"),
                    lacks(&["bad"]),
                ]
            },
        },
        Rule {
            name: "missing-fields-400",
            rule: "a request without one of its fields (in the body or in its ballot) is 400",
            doc: VALUES,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    bad(PREPARE_PATH, r#"{"key":"bad"}"#),
                    bad(ACCEPT_PATH, r#"{"key":"bad","ballot":{"round":1,"proposer":1}}"#),
                    bad(LEARN_PATH, r#"{"ballot":{"round":1,"proposer":1},"value":"v"}"#),
                    bad(PREPARE_PATH, r#"{"key":"bad","ballot":{"round":1}}"#),
                    lacks(&["bad"]),
                ]
            },
        },
        Rule {
            name: "wrong-types-400",
            rule: "a request whose fields have the wrong type (a round that is not an unsigned 64-bit integer, a key that is not a string, ...) is 400",
            doc: VALUES,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    bad(PREPARE_PATH, r#"{"key":7,"ballot":{"round":1,"proposer":1}}"#),
                    bad(PREPARE_PATH, r#"{"key":"bad","ballot":{"round":"1","proposer":1}}"#),
                    bad(PREPARE_PATH, r#"{"key":"bad","ballot":{"round":1,"proposer":-1}}"#),
                    bad(PREPARE_PATH, r#"{"key":"bad","ballot":{"round":1.5,"proposer":1}}"#),
                    bad(PREPARE_PATH, r#"{"key":"bad","ballot":{"round":18446744073709551616,"proposer":1}}"#)
                        .because("2^64 does not fit in a u64"),
                    bad(ACCEPT_PATH, r#"{"key":"bad","ballot":{"round":1,"proposer":1},"value":7}"#),
                    bad(LEARN_PATH, r#"{"key":"bad","ballot":null,"value":"v"}"#),
                    bad(PREPARE_PATH, r#"["bad",{"round":1,"proposer":1}]"#)
                        .because("a request is a JSON object, not an array of its fields"),
                    bad(PREPARE_PATH, r#"{"key":"bad","ballot":[1,1]}"#)
                        .because("a ballot is a JSON object, not an array of its fields"),
                    lacks(&["bad"]),
                ]
            },
        },
        Rule {
            name: "round-zero-400",
            rule: "a ballot with round 0 is 400: every real ballot has round >= 1",
            doc: VALUES,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || {
                let zero = b(0, 1);
                vec![
                    send(Request::prepare("bad", zero), Expect::bad_request()),
                    send(Request::accept("bad", zero, "v"), Expect::bad_request()),
                    send(Request::learn("bad", zero, "v"), Expect::bad_request()),
                    lacks(&["bad"]),
                ]
            },
        },
        Rule {
            name: "key-limits-400",
            rule: "a key is a non-empty string of at most 256 bytes of UTF-8; an empty or longer key is 400",
            doc: VALUES,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || {
                let long = "k".repeat(MAX_KEY_BYTES + 1);
                let wide = "é".repeat(MAX_KEY_BYTES / 2 + 1);
                vec![
                    send(Request::prepare("", b(1, 1)), Expect::bad_request()),
                    send(Request::prepare(&long, b(1, 1)), Expect::bad_request())
                        .because("257 bytes"),
                    send(Request::prepare(&wide, b(1, 1)), Expect::bad_request())
                        .because("258 bytes of UTF-8, though only 129 characters"),
                    send(Request::prepare(&"k".repeat(MAX_KEY_BYTES), b(1, 1)), Expect::granted(b(1, 1)))
                        .because("exactly 256 bytes is allowed"),
                    send(Request::prepare(&"é".repeat(MAX_KEY_BYTES / 2), b(1, 1)), Expect::granted(b(1, 1)))
                        .because("exactly 256 bytes of UTF-8 is allowed"),
                    send(Request::state(), Expect::StateLacks { keys: vec![String::new(), long, wide] }),
                ]
            },
        },
        Rule {
            name: "value-limits-400",
            rule: "a value is a string of at most 65536 bytes of UTF-8; a longer value is 400",
            doc: VALUES,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || {
                let long = "v".repeat(MAX_VALUE_BYTES + 1);
                let wide = "é".repeat(MAX_VALUE_BYTES / 2 + 1);
                let max = "v".repeat(MAX_VALUE_BYTES);
                vec![
                    send(Request::prepare("val", b(1, 1)), Expect::granted(b(1, 1))),
                    send(Request::accept("val", b(1, 1), &long), Expect::bad_request())
                        .because("65537 bytes"),
                    send(Request::accept("val", b(1, 1), &wide), Expect::bad_request())
                        .because("65538 bytes of UTF-8, though only 32769 characters"),
                    send(Request::learn("val", b(1, 1), &long), Expect::bad_request())
                        .because("65537 bytes"),
                    send(Request::state(), state_has("val", Want::Any, Want::Is(None), Want::Is(None)))
                        .because("the refused accepts and learn left nothing"),
                    send(Request::accept("val", b(1, 1), &max), Expect::accepted(b(1, 1)))
                        .because("exactly 65536 bytes is allowed"),
                ]
            },
        },
        Rule {
            name: "body-limit-400",
            rule: "a request body over 66816 bytes (the largest key and value plus 1 KiB) is 400, even if it is valid JSON",
            doc: VALUES,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || {
                let padded = |len: usize| {
                    let body = r#"{"key":"big","ballot":{"round":1,"proposer":1}}"#;
                    format!("{body}{}", " ".repeat(len - body.len()))
                };
                vec![
                    send(Request::post(PREPARE_PATH, padded(MAX_BODY_BYTES + 1)), Expect::bad_request())
                        .because("66817 bytes"),
                    lacks(&["big"]),
                    send(Request::post(PREPARE_PATH, padded(MAX_BODY_BYTES)), Expect::granted(b(1, 1)))
                        .because("exactly 66816 bytes is allowed"),
                ]
            },
        },
        Rule {
            name: "unknown-path-404",
            rule: "a path the protocol does not define is 404 with an error body",
            doc: ERRORS,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    send(Request::get("/v1/nope"), Expect::Error { status: 404 }),
                    send(Request::post("/v1/nope", "{}"), Expect::Error { status: 404 }),
                ]
            },
        },
        Rule {
            name: "wrong-method-405",
            rule: "a known path with the wrong method is 405 with an error body",
            doc: ERRORS,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    send(Request::get(PREPARE_PATH), Expect::Error { status: 405 }),
                    send(Request::post(STATE_PATH, ""), Expect::Error { status: 405 }),
                    send(Request::post(HEALTH_PATH, ""), Expect::Error { status: 405 }),
                ]
            },
        },
        Rule {
            name: "durable-across-sigkill",
            rule: "a promise or acceptance is durable before its reply: SIGKILLed right after the ack and restarted on its data dir, the node still reports it",
            doc: DURABILITY,
            lamport: Some("§2.5 (an acceptor records its response in stable storage before sending it)"),
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    send(Request::prepare("dur", b(1, 1)), Expect::granted(b(1, 1))),
                    send(Request::accept("dur", b(1, 1), "v"), Expect::accepted_any()),
                    send(Request::prepare("dur2", b(3, 2)), Expect::granted(b(3, 2))),
                    kill(),
                    restart(),
                    send(
                        Request::state(),
                        state_has("dur", Want::Is(Some(b(1, 1))), Want::Is(accepted(1, 1, "v")), Want::Any),
                    )
                    .because("the promise 1.1 and the acceptance of \"v\" were acknowledged before the SIGKILL"),
                    send(Request::state(), state_has("dur2", Want::Is(Some(b(3, 2))), Want::Any, Want::Any))
                        .because("the promise 3.2 was acknowledged before the SIGKILL"),
                ]
            },
        },
        Rule {
            name: "data-dir-reused",
            rule: "restarted with the same data dir after SIGTERM, the node has all its state back",
            doc: NODE_CMD,
            lamport: Some("§2.2 (an acceptor must remember this even if it fails and restarts)"),
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    send(Request::prepare("keep", b(1, 1)), Expect::granted(b(1, 1))),
                    send(Request::accept("keep", b(1, 1), "v"), Expect::accepted_any()),
                    stop(),
                    restart(),
                    send(
                        Request::state(),
                        state_has("keep", Want::Is(Some(b(1, 1))), Want::Is(accepted(1, 1, "v")), Want::Any),
                    ),
                    send(Request::prepare("keep", b(1, 0)), Expect::refused())
                        .because("the promise 1.1 came back with the data dir"),
                ]
            },
        },
        Rule {
            name: "stops-on-sigterm",
            rule: "SIGTERM stops the node within 2 s (then the harness would SIGKILL it)",
            doc: NODE_CMD,
            lamport: None,
            setup: Setup::Nodes(1),
            script: || {
                vec![
                    send(Request::prepare("t", b(1, 1)), Expect::granted(b(1, 1))),
                    terminate(),
                ]
            },
        },
        Rule {
            name: "propose-chosen-and-read",
            rule: "v1.1: with nothing chosen for a key, /v1/propose chooses the proposer's value; /v1/read at any node returns the chosen value, or null when there is none",
            doc: PROPOSER,
            lamport: Some("§2.2, P2c and phase 2(a); reads: docs/protocol.md, \"Rules a proposer must follow\", 5"),
            setup: Setup::Proposers,
            script: || {
                vec![
                    send(Request::propose("p", "a"), Expect::Chosen { value: Some("a".into()) })
                        .because("nothing was accepted for p: the proposer's own value is chosen"),
                    send(Request::read("p"), Expect::Chosen { value: Some("a".into()) })
                        .on(2)
                        .because("\"a\" is chosen for p"),
                    send(Request::read("q"), Expect::Chosen { value: None })
                        .on(1)
                        .because("nothing was proposed for q"),
                ]
            },
        },
        Rule {
            name: "propose-keeps-chosen-value",
            rule: "v1.1: a propose for a key whose value is chosen returns that value, not its own",
            doc: PROPOSER,
            lamport: Some("§2.2, P2 and P2c (adopt the highest-ballot accepted value)"),
            setup: Setup::Proposers,
            script: || {
                vec![
                    send(Request::propose("p", "a"), Expect::Chosen { value: Some("a".into()) }),
                    send(Request::propose("p", "b"), Expect::Chosen { value: Some("a".into()) })
                        .on(1)
                        .because("\"a\" is chosen: a later proposal must carry it"),
                    send(Request::read("p"), Expect::Chosen { value: Some("a".into()) }).on(2),
                ]
            },
        },
    ]
}

/// The rule named `name`.
pub fn find(name: &str) -> Option<Rule> {
    all().into_iter().find(|r| r.name == name)
}

fn accepted(round: u64, proposer: u64, value: &str) -> Option<Accepted> {
    Some(Accepted {
        ballot: b(round, proposer),
        value: value.into(),
    })
}

fn state_has(
    key: &str,
    promised: Want<Option<ballot_core::protocol::Ballot>>,
    accepted: Want<Option<Accepted>>,
    learned: Want<Option<String>>,
) -> Expect {
    Expect::StateHas {
        key: key.into(),
        promised,
        accepted,
        learned,
    }
}

/// A malformed request to `path` that must be refused with 400.
fn bad(path: &'static str, body: &str) -> Step {
    send(Request::post(path, body), Expect::bad_request())
}

/// `GET /v1/state` must not hold `keys`: the requests for them were refused.
fn lacks(keys: &[&str]) -> Step {
    send(
        Request::state(),
        Expect::StateLacks {
            keys: keys.iter().map(|k| k.to_string()).collect(),
        },
    )
    .because("a refused request changes nothing")
}
