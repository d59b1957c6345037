use super::*;

fn ev(index: u64, process: u64, kind: EventType, f: &str, value: Value) -> Event {
    Event {
        index,
        time: index * 10,
        process: Process::Client(process),
        kind,
        f: f.to_string(),
        key: Some("x".to_string()),
        value,
        error: None,
    }
}

use EventType::*;

#[test]
fn pairs_by_process_and_skips_the_nemesis() {
    let mut nemesis = ev(2, 0, Info, "start-partition", Value::Null);
    nemesis.process = Process::nemesis();
    nemesis.key = None;
    let events = vec![
        ev(0, 1, Invoke, "propose", "a".into()),
        ev(1, 2, Invoke, "read", Value::Null),
        nemesis,
        ev(3, 2, Ok, "read", Value::Null),
        ev(4, 1, Info, "propose", Value::Null),
        ev(5, 3, Invoke, "propose", "b".into()),
        ev(6, 3, Fail, "propose", "b".into()),
        ev(7, 3, Invoke, "read", Value::Null),
    ];
    let ops = pair(&events).unwrap();
    assert_eq!(ops.len(), 4);
    assert_eq!((ops[0].process, ops[0].outcome), (1, OpType::Info));
    assert_eq!(ops[0].completion, Some(4));
    assert_eq!(ops[0].return_time, None);
    assert_eq!((ops[1].outcome, ops[1].return_time), (OpType::Ok, Some(30)));
    assert_eq!(ops[1].output(&events), Some(&Value::Null));
    assert_eq!(ops[2].outcome, OpType::Fail);
    assert_eq!(ops[2].output(&events), None);
    // No completion at all: indeterminate.
    assert_eq!((ops[3].outcome, ops[3].completion), (OpType::Info, None));
    assert_eq!(ops[3].events(&events).len(), 1);
}

#[test]
fn malformed_histories_name_the_line() {
    let cases: Vec<(Vec<Event>, &str)> = vec![
        (
            vec![ev(0, 1, Ok, "read", Value::Null)],
            "line 1: process 1 completes an operation it never invoked",
        ),
        (
            vec![
                ev(0, 1, Invoke, "read", Value::Null),
                ev(1, 1, Invoke, "read", Value::Null),
            ],
            "line 2: process 1 invokes an operation while its operation from line 1 is still open",
        ),
        (
            vec![
                ev(0, 1, Invoke, "read", Value::Null),
                ev(1, 1, Info, "read", Value::Null),
                ev(2, 1, Invoke, "read", Value::Null),
            ],
            "line 3: process 1 appears again after its operation ended info at line 2",
        ),
        (
            vec![
                ev(0, 1, Invoke, "read", Value::Null),
                ev(1, 1, Ok, "propose", Value::Null),
            ],
            "line 2: process 1 completes propose on key \"x\" but invoked read on key \"x\" at line 1",
        ),
        (
            vec![ev(5, 1, Invoke, "read", Value::Null), {
                let mut e = ev(1, 1, Ok, "read", Value::Null);
                e.time = 49;
                e
            }],
            "line 2: process 1's completion at time 49 is before its invocation at time 50 (line 1)",
        ),
    ];
    for (events, want) in cases {
        let err = pair(&events).unwrap_err().to_string();
        assert!(err.starts_with(want), "{err}");
    }
    let mut named = ev(0, 1, Invoke, "read", Value::Null);
    named.process = Process::Named("bob".into());
    assert_eq!(
        pair(&[named]).unwrap_err().to_string(),
        "line 1: process \"bob\" is neither a client id nor \"nemesis\""
    );
}

const GOOD: &str = concat!(
    r#"{"index":0,"time":1200,"process":3,"type":"invoke","f":"propose","key":"x","value":"3-17"}"#,
    "\n",
    r#"{"index":1,"time":9100,"process":3,"type":"ok","f":"propose","key":"x","value":"1-2"}"#,
    "\n",
    r#"{"index":2,"time":9300,"process":"nemesis","type":"info","f":"start-partition","value":{"a":1}}"#,
    "\n"
);

#[test]
fn parses_lines_and_reports_bad_ones() {
    let events = parse_history(GOOD).unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[1].value, Value::from("1-2"));
    assert_eq!(parse_history(GOOD.trim_end()).unwrap().len(), 3);
    assert_eq!(parse_history("").unwrap().len(), 0);

    let blank = format!("{GOOD}\n{GOOD}");
    assert_eq!(
        parse_history(&blank).unwrap_err().to_string(),
        "line 4: blank line (every line must be one JSON event)"
    );
    let bad = GOOD.replace("\"ok\"", "\"okay\"");
    let err = parse_history(&bad).unwrap_err().to_string();
    assert!(
        err.starts_with("line 2: not a history event: unknown variant `okay`"),
        "{err}"
    );
    let torn = format!("{GOOD}{{\"index\":3,\"ti");
    let err = parse_history(&torn).unwrap_err().to_string();
    assert!(err.starts_with("line 4: torn last line"), "{err}");
    // A bad last line that does end with a newline is a plain parse error.
    let err = parse_history(&format!("{GOOD}{{}}\n"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("line 4: not a history event"), "{err}");
}

#[test]
fn reader_and_parallel_parser_agree_across_chunks() {
    // Enough lines to be split over several chunks and blocks.
    let mut text = String::new();
    for i in 0..5000u64 {
        text.push_str(&format!(
            "{{\"index\":{i},\"time\":{i},\"process\":{},\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k{i}\"}}\n",
            i
        ));
    }
    let a = parse_history(&text).unwrap();
    let b = read_history(text.as_bytes()).unwrap();
    assert_eq!(a.len(), 5000);
    assert_eq!(a, b);
    assert!(a.iter().enumerate().all(|(i, e)| e.index == i as u64));
    // An error deep in the file names the right line.
    let broken = text.replacen("\"k4321\"", "k4321", 1);
    assert!(parse_history(&broken)
        .unwrap_err()
        .to_string()
        .starts_with("line 4322: "));
    assert!(read_history(broken.as_bytes())
        .unwrap_err()
        .to_string()
        .starts_with("line 4322: "));
    let utf8 = [b"{\"index\":0}\n".as_slice(), &[0xff, b'\n']].concat();
    assert_eq!(
        read_history(utf8.as_slice()).unwrap_err().to_string(),
        "line 2: not valid UTF-8"
    );
}
