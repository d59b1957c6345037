use super::*;
use std::time::Duration;

#[test]
fn run_dirs_are_unique_and_latest_follows() {
    let store = tempfile::tempdir().unwrap();
    let a = RunDir::create(store.path(), "register").unwrap();
    let b = RunDir::create(store.path(), "register").unwrap();
    assert_ne!(a.path(), b.path());
    assert!(a.path().join("nodes").is_dir());
    let name = a.path().file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("register-") && name.contains('T'),
        "{name}"
    );
    let latest = fs::read_link(store.path().join("latest")).unwrap();
    assert_eq!(latest, PathBuf::from(b.path().file_name().unwrap()));
    assert!(b.node_dir(2).unwrap().ends_with("nodes/2"));
    let leftovers: Vec<_> = fs::read_dir(store.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn lines_reach_the_file_without_an_explicit_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.jsonl");
    let h = HistoryWriter::create(&path, Clock::start()).unwrap();
    h.invoke(3, "propose", "x", Value::from("3-1")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while fs::read_to_string(&path).unwrap().lines().count() < 1 {
        assert!(std::time::Instant::now() < deadline, "never flushed");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn history_assigns_increasing_index_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let h = HistoryWriter::create(&path, Clock::start()).unwrap();
    let a = h.invoke(3, "propose", "x", Value::from("3-17")).unwrap();
    let b = h
        .nemesis("start-kill", serde_json::json!({"nodes": [1]}))
        .unwrap();
    let c = h
        .complete(
            3,
            EventType::Info,
            "propose",
            "x",
            Value::from("3-17"),
            Some("timeout".into()),
        )
        .unwrap();
    assert_eq!((a.index, b.index, c.index), (0, 1, 2));
    assert!(a.time <= b.time && b.time <= c.time);
    assert_eq!(h.close().unwrap(), 3);
    let events: Vec<Event> = fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events, vec![a, b, c]);
    assert_eq!(events[1].process, Process::nemesis());
    assert_eq!(events[2].error.as_deref(), Some("timeout"));
}
