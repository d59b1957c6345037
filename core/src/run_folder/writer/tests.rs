use super::*;

#[test]
fn writers_keep_order_across_clones_and_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.jsonl");
    let w: JsonlWriter<(usize, usize)> = JsonlWriter::create(&path).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let w = w.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    w.write(&(t, i)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    w.flush().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let recs: Vec<(usize, usize)> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 2000);
    for t in 0..4 {
        let mine: Vec<usize> = recs.iter().filter(|r| r.0 == t).map(|r| r.1).collect();
        assert_eq!(mine, (0..500).collect::<Vec<_>>());
    }
    assert_eq!(w.close().unwrap(), 2000);
    assert!(matches!(
        w.write(&(9, 9)),
        Err(RunFolderError::Closed { .. })
    ));
    assert_eq!(w.close().unwrap(), 0);
}

#[test]
fn write_errors_surface() {
    let w: JsonlWriter<u32> = JsonlWriter::create(Path::new("/dev/full")).unwrap();
    w.write(&1).unwrap();
    assert!(w.flush().is_err());
    let err = w.write(&2).unwrap_err().to_string();
    assert!(
        err.contains("/dev/full") && err.contains("closed ("),
        "{err}"
    );
    assert!(w.close().is_err());
}

#[test]
fn a_whole_file_is_one_line_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.jsonl");
    std::fs::write(&path, "old contents\n").unwrap();
    write_jsonl(&path, &[1, 2, 3]).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n2\n3\n");
}
