use super::*;
use rand::SeedableRng;

#[test]
fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
    let min = Duration::from_millis(10);
    let max = Duration::from_millis(100);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    // (failed attempts, cap)
    let table = [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (40, 100)];
    for (failed, cap_ms) in table {
        for _ in 0..50 {
            let d = backoff_delay(failed, min, max, &mut rng);
            let cap = Duration::from_millis(cap_ms);
            assert!(d >= cap / 2 && d <= cap, "failed={failed}: {d:?}");
        }
    }
    assert_eq!(
        backoff_delay(1, Duration::ZERO, max, &mut rng),
        Duration::ZERO
    );
}

#[test]
fn backoff_is_reproducible_from_the_seed() {
    let draw = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (1..6)
            .map(|k| {
                backoff_delay(
                    k,
                    Duration::from_millis(5),
                    Duration::from_secs(1),
                    &mut rng,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(42), draw(42));
    assert_ne!(draw(42), draw(43));
}

#[tokio::test]
async fn bad_input_fails_without_sending_anything() {
    // Port 9 on loopback: nothing is ever sent, so nothing needs to listen.
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut client = ProposerClient::new(
        ClientConfig::new(vec![addr], 1, 1),
        ChaCha8Rng::seed_from_u64(1),
    )
    .unwrap();
    assert_eq!(
        client.propose("", "v").await,
        Outcome::Fail("invalid key: key must not be empty".into())
    );
    let big = "v".repeat(ballot_core::protocol::MAX_VALUE_BYTES + 1);
    assert!(matches!(client.propose("k", &big).await, Outcome::Fail(_)));
    assert_eq!(client.last_round(), 0);
}

#[test]
fn only_a_502_proves_non_delivery() {
    // (status, certainly not delivered)
    let table = [
        (502, true),
        (504, false),
        (500, false),
        (503, false),
        (400, false),
        (409, false),
        (404, false),
    ];
    for (status, not_delivered) in table {
        let expected = if not_delivered {
            Miss::NotDelivered
        } else {
            Miss::MaybeDelivered
        };
        assert_eq!(Miss::of_status(status), expected, "{status}");
    }
    let one = Ballot::new(1, 1);
    assert_eq!(
        Miss::NotDelivered.event(2, one, RequestKind::Accept),
        Event::NotDelivered {
            from: 2,
            ballot: one,
            phase: RequestKind::Accept,
            cause: Undelivered::Refused
        }
    );
    assert_eq!(
        Miss::MaybeDelivered.event(2, one, RequestKind::Prepare),
        Event::NoReply {
            from: 2,
            ballot: one,
            phase: RequestKind::Prepare
        }
    );
}

/// How a [`fake_acceptor`] answers accepts (it always grants prepares).
#[derive(Clone, Copy, Debug)]
enum OnAccept {
    Ack,
    Nack,
    /// An error status with an empty JSON body, as the proxy sends.
    Status(u16),
    /// Reads the request, then closes the connection with no answer.
    HangUp,
}

/// A scripted acceptor on a loopback port: grants every prepare, answers
/// accepts as told. Raw HTTP/1.1, one request per connection, so it can
/// hang up mid-exchange as the proxy does. The task ends with the test's runtime.
async fn fake_acceptor(on_accept: OnAccept) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                // Read the head, then the body by Content-Length.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
                let body: serde_json::Value =
                    serde_json::from_slice(&buf[head_end..head_end + length]).unwrap();
                let ballot = body["ballot"].clone();
                let (status, reply) = if head.starts_with(&format!("post {PREPARE_PATH} ")) {
                    (
                        200,
                        serde_json::json!({"ok": true, "promised": ballot, "accepted": null}),
                    )
                } else {
                    match on_accept {
                        OnAccept::Ack => (200, serde_json::json!({"ok": true, "promised": ballot})),
                        OnAccept::Nack => (
                            200,
                            serde_json::json!({"ok": false, "promised": {"round": 99, "proposer": 9}}),
                        ),
                        OnAccept::Status(code) => (code, serde_json::json!({"error": "proxy"})),
                        OnAccept::HangUp => return,
                    }
                };
                let text = reply.to_string();
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = conn.write_all(response.as_bytes()).await;
            });
        }
    });
    addr
}

/// A loopback address nothing listens on (bound, then released).
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn how_each_missing_accept_answer_classifies_the_op() {
    use OnAccept::*;
    // One attempt on three acceptors; `None` refuses connections (a node
    // down, no proxy). The attempt fails as soon as a quorum of acks is
    // impossible, so its counts depend on arrival order; the driver then
    // waits for the answers that can still decide, and the outcome and
    // reason do not.
    let table: Vec<(&str, [Option<OnAccept>; 3], &str, &str)> = vec![
        (
            "every accept answered 502 (proxy: node down)",
            [Some(Status(502)), Some(Status(502)), Some(Status(502))],
            "fail",
            "no accept request was delivered",
        ),
        (
            "rejected, 502, connection refused",
            [Some(Nack), Some(Status(502)), None],
            "fail",
            "every accept that was delivered was rejected",
        ),
        (
            "every accept rejected",
            [Some(Nack), Some(Nack), Some(Nack)],
            "fail",
            "every accept was rejected",
        ),
        (
            "504 (proxy: forwarded, no answer in time) may have been processed",
            [Some(Status(504)), Some(Status(502)), Some(Nack)],
            "info",
            "an accept got no answer: it may have taken effect",
        ),
        (
            "a connection closed with no answer is unknown",
            [Some(HangUp), Some(Nack), Some(Nack)],
            "info",
            "an accept got no answer: it may have taken effect",
        ),
        (
            "one ack short of a quorum",
            [Some(Ack), Some(Status(502)), None],
            "info",
            "an acceptor accepted it but no quorum did: it may still be chosen",
        ),
        (
            "a quorum of acks",
            [Some(Ack), Some(Ack), Some(Status(502))],
            "ok",
            "",
        ),
    ];
    for (case, acceptors, kind, reason) in table {
        let mut addrs = Vec::new();
        for on_accept in acceptors {
            addrs.push(match on_accept {
                Some(how) => fake_acceptor(how).await,
                None => closed_port(),
            });
        }
        let mut config = ClientConfig::new(addrs, 7, 1);
        config.max_attempts = 1;
        let mut client = ProposerClient::new(config, ChaCha8Rng::seed_from_u64(1)).unwrap();
        let outcome = client.propose("k", "v").await;
        assert_eq!(outcome.kind(), kind, "{case}: {outcome:?}");
        match outcome.error() {
            None => assert_eq!(outcome, Outcome::Ok(Some("v".into())), "{case}"),
            Some(why) => assert!(
                why.starts_with("no quorum in 1 attempts (accept 1.7: ")
                    && why.ends_with(&format!(" of 3 (quorum 2)); {reason}")),
                "{case}: {why}"
            ),
        }
    }
}

#[test]
fn no_acceptors_is_an_error() {
    let config = ClientConfig::new(Vec::new(), 1, 1);
    let err = ProposerClient::new(config, ChaCha8Rng::seed_from_u64(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a proposer needs at least one acceptor address"
    );
}
