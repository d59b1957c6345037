use super::*;
use ballot_core::protocol::{Accepted, Ballot};

fn change(i: u64) -> Change {
    Change {
        key: format!("k{}", i % 5),
        promised: Some(Ballot::new(i + 1, 1)),
        accepted: (i % 2 == 0).then(|| Accepted {
            ballot: Ballot::new(i + 1, 1),
            value: format!("value-{i}"),
        }),
        learned: None,
    }
}

fn image(changes: &[Change]) -> Vec<u8> {
    let mut buf = Vec::new();
    for c in changes {
        encode_frame(c, &mut buf);
    }
    buf
}

fn replay(changes: &[Change]) -> BTreeMap<String, InstanceState> {
    let mut state = BTreeMap::new();
    for c in changes {
        apply_change(&mut state, c);
    }
    state
}

fn config(dir: &Path) -> StorageConfig {
    StorageConfig::new(dir)
}

#[test]
fn decodes_what_it_encodes() {
    let changes: Vec<_> = (0..10).map(change).collect();
    let bytes = image(&changes);
    assert_eq!(
        decode_log(&bytes),
        Ok(Decoded {
            changes,
            valid_len: bytes.len() as u64
        })
    );
    assert_eq!(
        decode_log(&[]),
        Ok(Decoded {
            changes: vec![],
            valid_len: 0
        })
    );
}

#[test]
fn a_torn_tail_at_every_offset_of_the_last_record_is_dropped() {
    let changes: Vec<_> = (0..3).map(change).collect();
    let full = image(&changes);
    let good = image(&changes[..2]).len();
    for cut in good..full.len() {
        let decoded = decode_log(&full[..cut]).unwrap_or_else(|e| panic!("cut {cut}: {e:?}"));
        assert_eq!(decoded.changes, &changes[..2], "cut at {cut}");
        assert_eq!(decoded.valid_len, good as u64, "cut at {cut}");
    }
}

#[test]
fn a_bad_checksum_on_the_final_frame_is_a_torn_tail() {
    let changes: Vec<_> = (0..3).map(change).collect();
    let mut bytes = image(&changes);
    let good = image(&changes[..2]).len();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    assert_eq!(decode_log(&bytes).unwrap().valid_len, good as u64);
    // zero-filled space after the last good frame is torn too
    let mut zeros = image(&changes);
    zeros.extend_from_slice(&[0; 100]);
    assert_eq!(decode_log(&zeros).unwrap().changes, changes);
}

#[test]
fn a_flipped_byte_in_a_middle_record_names_its_offset() {
    let changes: Vec<_> = (0..3).map(change).collect();
    let bytes = image(&changes);
    let start = image(&changes[..1]).len();
    let end = image(&changes[..2]).len();
    for at in start..end {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x01;
        match decode_log(&damaged) {
            Err((offset, _)) => assert_eq!(offset, start as u64, "flip at {at}"),
            Ok(d) => panic!("flip at {at} went unnoticed: {d:?}"),
        }
    }
    let mut damaged = bytes.clone();
    damaged[start + HEADER + 3] ^= 0x01;
    assert_eq!(
        decode_log(&damaged),
        Err((start as u64, "checksum mismatch".to_owned()))
    );
}

#[test]
fn a_damaged_header_of_the_final_record_is_corruption() {
    let changes: Vec<_> = (0..2).map(change).collect();
    let mut bytes = image(&changes);
    let start = image(&changes[..1]).len();
    bytes[start] ^= 0x10;
    assert_eq!(decode_log(&bytes).unwrap_err().0, start as u64);
}

#[tokio::test]
async fn missing_dir_is_created_and_empty_dir_is_fresh() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b/data");
    let (storage, state) = Storage::open(config(&dir)).unwrap();
    assert!(state.is_empty());
    assert!(dir.join(LOG_FILE).exists());
    storage.close().unwrap();
    // an existing empty log is a fresh state too
    let (_storage, state) = Storage::open(config(&dir)).unwrap();
    assert!(state.is_empty());
}

#[tokio::test]
async fn what_was_durable_survives_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let changes: Vec<_> = (0..20).map(change).collect();
    let (storage, _) = Storage::open(config(tmp.path())).unwrap();
    let mut last = 0;
    for c in &changes {
        last = storage.submit(c.clone());
    }
    storage.wait_durable(last).await.unwrap();
    assert_eq!(storage.position(), 20);
    // Forget the handle without a clean close: what is durable must be there.
    storage.abandon();
    let (_storage, state) = Storage::open(config(tmp.path())).unwrap();
    assert_eq!(state, replay(&changes));
}

#[tokio::test]
async fn open_truncates_a_torn_tail_and_refuses_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let changes: Vec<_> = (0..3).map(change).collect();
    let bytes = image(&changes);
    let path = tmp.path().join(LOG_FILE);
    fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
    let (storage, state) = Storage::open(config(tmp.path())).unwrap();
    assert_eq!(state, replay(&changes[..2]));
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        image(&changes[..2]).len() as u64
    );
    // appending after the truncation produces a clean log
    let seq = storage.submit(changes[2].clone());
    storage.wait_durable(seq).await.unwrap();
    storage.close().unwrap();
    assert_eq!(fs::read(&path).unwrap(), bytes);

    let mut damaged = bytes.clone();
    let start = image(&changes[..1]).len();
    damaged[start + HEADER + 1] ^= 0x20;
    fs::write(&path, &damaged).unwrap();
    let err = Storage::open(config(tmp.path())).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "corrupt log {} at byte offset {start}: checksum mismatch",
            path.display()
        )
    );
    // refusing must not have touched the file
    assert_eq!(fs::read(&path).unwrap(), damaged);
}

#[tokio::test]
async fn compaction_preserves_state_and_bounds_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path());
    cfg.compact_bytes = 2_000;
    let (storage, _) = Storage::open(cfg.clone()).unwrap();
    let changes: Vec<_> = (0..500).map(change).collect();
    for c in &changes {
        let seq = storage.submit(c.clone());
        storage.wait_durable(seq).await.unwrap();
    }
    assert!(storage.compaction_count() > 0);
    storage.close().unwrap();
    let len = fs::metadata(tmp.path().join(LOG_FILE)).unwrap().len();
    assert!(len <= 4_000, "log is {len} bytes after compaction");
    assert!(!tmp.path().join(TMP_FILE).exists());
    let (_storage, state) = Storage::open(cfg).unwrap();
    assert_eq!(state, replay(&changes));
}

#[tokio::test]
async fn a_leftover_snapshot_file_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let changes: Vec<_> = (0..3).map(change).collect();
    fs::write(tmp.path().join(LOG_FILE), image(&changes)).unwrap();
    fs::write(tmp.path().join(TMP_FILE), b"half a snapshot").unwrap();
    let (_storage, state) = Storage::open(config(tmp.path())).unwrap();
    assert_eq!(state, replay(&changes));
    assert!(!tmp.path().join(TMP_FILE).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_share_fsyncs() {
    let tmp = tempfile::tempdir().unwrap();
    let (storage, _) = Storage::open(config(tmp.path())).unwrap();
    let storage = Arc::new(storage);
    const N: u64 = 200;
    let barrier = Arc::new(tokio::sync::Barrier::new(N as usize));
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let storage = storage.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let seq = storage.submit(change(i));
                storage.wait_durable(seq).await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let fsyncs = storage.fsync_count();
    assert!(fsyncs >= 1);
    assert!(fsyncs < N, "{fsyncs} fsyncs for {N} concurrent records");
    assert_eq!(storage.position(), N);
}

#[tokio::test]
async fn flush_delay_defers_durability() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path());
    cfg.flush_delay = Some(Duration::from_secs(30));
    let (storage, _) = Storage::open(cfg).unwrap();
    let seq = storage.submit(change(0));
    let waited = tokio::time::timeout(Duration::from_millis(100), storage.wait_durable(seq)).await;
    assert!(waited.is_err(), "durable long before the flush delay");
    assert_eq!(storage.fsync_count(), 0);
    // closing flushes without waiting out the delay
    storage.close().unwrap();
    let (_storage, state) = Storage::open(config(tmp.path())).unwrap();
    assert_eq!(state, replay(&[change(0)]));
}
