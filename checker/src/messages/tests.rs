//! Unit tests of the message log: parsing, interning, the index, exact rebuilds.

use super::scan::scan_line;
use super::*;
use ballot_core::protocol::PREPARE_PATH;

const PREPARE_LINE: &str = r#"{"id":1,"from":0,"to":2,"process":7,"path":"/v1/prepare","request":{"ballot":{"proposer":7,"round":1},"key":"x"},"status":200,"response":{"accepted":{"ballot":{"proposer":3,"round":1},"value":"a"},"ok":true,"promised":{"proposer":7,"round":1}},"sent":10,"delivered":11,"replied":12,"fate":"ok"}"#;

fn read(text: &str) -> Result<MessageLog, ReadError> {
    MessageLog::read(text.as_bytes())
}

#[test]
fn a_prepare_line_is_typed_by_the_scanner() {
    assert!(scan_line(PREPARE_LINE.as_bytes()).is_some());
    let log = read(PREPARE_LINE).unwrap();
    let m = log.msg(0);
    assert_eq!(m.kind, Kind::Prepare);
    assert_eq!(log.key_name(m.key().unwrap()), "x");
    assert_eq!(log.ballot(m.ballot().unwrap()), Ballot::new(1, 7));
    assert_eq!(m.process(), Some(7));
    assert!(m.ack());
    let (b, v) = m.reply_accepted().unwrap();
    assert_eq!((log.ballot(b), log.value_name(v)), (Ballot::new(1, 3), "a"));
    assert!(log.whole.is_empty());
}

#[test]
fn the_scanner_declines_what_it_does_not_know() {
    for line in [
        r#"{"id":1,"extra":2}"#,
        r#"{"id":01}"#,
        r#"{"id":1.5}"#,
        r#"{"id":1,"id":2}"#,
        r#"{"path":"a\"b"}"#,
        r#"{"id":1} x"#,
    ] {
        assert!(scan_line(line.as_bytes()).is_none(), "{line}");
    }
}

#[test]
fn ranks_order_as_ballots() {
    let lines = [
        r#"{"id":1,"from":0,"to":0,"path":"/v1/prepare","request":{"key":"x","ballot":{"round":2,"proposer":1}},"sent":1,"fate":"cut"}"#,
        r#"{"id":2,"from":0,"to":0,"path":"/v1/prepare","request":{"key":"x","ballot":{"round":1,"proposer":9}},"sent":1,"fate":"cut"}"#,
        r#"{"id":3,"from":0,"to":0,"path":"/v1/prepare","request":{"key":"x","ballot":{"round":2,"proposer":0}},"sent":1,"fate":"cut"}"#,
    ];
    let log = read(&lines.join("\n")).unwrap();
    let r: Vec<Rank> = (0..3).map(|i| log.msg(i).ballot().unwrap()).collect();
    assert!(r[1] < r[2] && r[2] < r[0]);
    assert_eq!(log.rank(Ballot::new(2, 0)), Some(r[2]));
    assert_eq!(log.rank(Ballot::new(5, 5)), None);
}

#[test]
fn records_rebuild_to_the_original() {
    let lines = [
        PREPARE_LINE,
        r#"{"id":2,"from":0,"to":1,"process":null,"path":"/v1/accept","request":{"key":"x","ballot":{"round":1,"proposer":7},"value":"v"},"status":200,"response":{"ok":false,"promised":{"round":2,"proposer":1}},"sent":10,"delivered":11,"replied":12,"fate":"dropped-response"}"#,
        r#"{"id":3,"from":0,"to":1,"process":4,"path":"/v1/learn","request":{"key":"x","ballot":{"round":1,"proposer":7},"value":"v"},"status":409,"response":{"error":"conflict"},"sent":10,"delivered":11,"replied":12,"fate":"ok"}"#,
        r#"{"id":4,"from":0,"to":1,"process":4,"path":"/v1/accept","request":{"key":"x","ballot":"bad"},"sent":10,"fate":"cut"}"#,
        r#"{"id":5,"from":0,"to":1,"process":4,"path":"/v1/health","request":null,"sent":10,"fate":"refused"}"#,
        r#"{"id":6,"from":1,"to":0,"process":4,"path":"/v1/prepare","request":{"key":"y\u00e9","ballot":{"round":3,"proposer":4}},"status":null,"response":null,"sent":10,"delivered":11,"replied":null,"fate":"duplicated","duplicate_of":2}"#,
        r#"{"id":7,"from":1,"to":5000000000,"path":"/v1/prepare","request":{"key":"z","ballot":{"round":3,"proposer":4}},"sent":10,"fate":"cut"}"#,
        r#"{"id":8,"from":1,"to":0,"path":"/v1/prepare","request":{"key":"z","ballot":{"round":3,"proposer":4}},"status":200,"response":{"ok":true,"promised":{"round":3,"proposer":4}},"sent":10,"delivered":11,"replied":12,"fate":"ok"}"#,
        r#"{"id":9,"from":1,"to":0,"path":"/v1/accept","request":{"key":"z","ballot":{"round":3,"proposer":4},"value":"v","extra":1},"status":200,"response":{"ok":true,"promised":{"round":3,"proposer":4},"note":"hi"},"sent":10,"delivered":11,"replied":12,"fate":"ok"}"#,
    ];
    let log = read(&lines.join("\n")).unwrap();
    assert_eq!(log.len(), lines.len());
    for (i, line) in lines.iter().enumerate() {
        let original: Exchange = serde_json::from_str(line).unwrap();
        assert_eq!(log.exchange(i as u32), original, "line {}", i + 1);
    }
    assert_eq!(log.msg(2).kind, Kind::Learn);
    assert_eq!(log.msg(2).reply(), None, "a 409 is not a typed reply");
    assert_eq!(log.msg(3).kind, Kind::Other);
    assert_eq!(log.msg(4).kind, Kind::Other);
    assert_eq!(log.key_name(log.msg(5).key().unwrap()), "yé");
    assert_eq!(log.msg(6).kind, Kind::Other, "a huge node id is kept whole");
    assert!(
        log.msg(7).ack(),
        "a prepare reply without `accepted` is still typed"
    );
    assert!(log.msg(8).ack(), "unknown members do not hide an ack");
    assert_eq!(log.msg(8).kind, Kind::Accept);
    // The same records from memory give the same log.
    let exchanges: Vec<Exchange> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let again = MessageLog::from_exchanges(&exchanges);
    for i in 0..lines.len() as u32 {
        assert_eq!(again.exchange(i), exchanges[i as usize]);
    }
}

#[test]
fn corrupt_lines_name_their_number() {
    let text = format!("{PREPARE_LINE}\n\n{{\"id\": 2\n");
    match read(&text) {
        Err(ReadError::Corrupt { line, message }) => {
            assert_eq!(line, 3);
            assert!(message.contains("EOF"), "{message}");
        }
        other => panic!("expected a corrupt line, got {other:?}"),
    }
}

#[test]
fn blocks_split_lines_and_keep_line_numbers() {
    // Lines straddling many block boundaries, then a corrupt one.
    let mut text = String::new();
    let n = 3 * BLOCK / PREPARE_LINE.len() + 7;
    for i in 0..n {
        text.push_str(&PREPARE_LINE.replace("\"id\":1,", &format!("\"id\":{i},")));
        text.push('\n');
    }
    let log = read(&text).unwrap();
    assert_eq!(log.len(), n);
    assert_eq!(log.msg(n as u32 - 1).id, n as u64 - 1);
    text.push_str("not json\n");
    match read(&text) {
        Err(ReadError::Corrupt { line, .. }) => assert_eq!(line, n + 1),
        other => panic!("expected a corrupt line, got {other:?}"),
    }
}

#[test]
fn the_index_groups_by_key_then_node_in_log_order() {
    let mk = |id: u64, to: u64, key: &str| Exchange {
        id,
        from: 0,
        to,
        process: Some(1),
        path: PREPARE_PATH.into(),
        request: json!({"key": key, "ballot": {"round": 1, "proposer": 1}}),
        status: None,
        response: None,
        sent: id,
        delivered: None,
        replied: None,
        fate: Fate::Cut,
        duplicate_of: None,
    };
    let exchanges = [
        mk(0, 2, "a"),
        mk(1, 0, "b"),
        mk(2, 0, "a"),
        mk(3, 2, "a"),
        mk(4, 1, "b"),
    ];
    let log = MessageLog::from_exchanges(&exchanges);
    let a = log.key_id("a").unwrap();
    let b = log.key_id("b").unwrap();
    let ids = |s: &[u32]| s.iter().map(|&i| log.msg(i).id).collect::<Vec<_>>();
    assert_eq!(ids(log.by_key(a)), vec![2, 0, 3]);
    let groups: Vec<_> = log.by_key_node(b).map(|(n, g)| (n, ids(g))).collect();
    assert_eq!(groups, vec![(0, vec![1]), (1, vec![4])]);
    assert_eq!(log.key_id("zzz"), None);
    assert_eq!(std::mem::size_of::<Msg>(), 80);
}
