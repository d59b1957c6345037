//! The records of a scripted run, kept in memory and written as a run folder.
//!
//! A scenario runs one step at a time, so its records need no concurrent
//! writers: they are plain vectors, written out once at the end in the same
//! formats as `ballot test` (`history.jsonl`, `messages.jsonl`,
//! `nemesis.jsonl`, `snapshots.jsonl`, `test.json`), so the same checker
//! judges them.
//!
//! Time is *virtual*: every record takes the next tick of a counter
//! ([`TICK`] ns apart) instead of reading a clock. Steps run one after the
//! other, so the ticks keep the real order, and two runs of one scenario
//! write identical files.

use std::path::Path;

use ballot_core::fault::FaultKind;
use ballot_core::protocol::NodeId;
use ballot_core::records::{
    Event, EventType, Exchange, FaultPhase, NemesisRecord, Process, Snapshot, HISTORY_FILE,
    MESSAGES_FILE, NEMESIS_FILE, SNAPSHOTS_FILE,
};
use ballot_core::run_folder::write_jsonl;
use serde_json::{json, Value};

use crate::store::StoreError;

/// Nanoseconds between two consecutive records.
pub const TICK: u64 = 1_000;

/// Everything a scripted run recorded so far.
#[derive(Clone, Debug, Default)]
pub struct Records {
    now: u64,
    /// `history.jsonl`.
    pub history: Vec<Event>,
    /// `messages.jsonl`, indexed by exchange id.
    pub messages: Vec<Exchange>,
    /// `nemesis.jsonl`.
    pub nemesis: Vec<NemesisRecord>,
    /// `snapshots.jsonl`.
    pub snapshots: Vec<Snapshot>,
}

impl Records {
    /// The next virtual time.
    pub fn tick(&mut self) -> u64 {
        self.now += TICK;
        self.now
    }

    /// Appends a history event at the next tick.
    pub fn event(
        &mut self,
        process: Process,
        kind: EventType,
        f: &str,
        key: Option<&str>,
        value: Value,
        error: Option<String>,
    ) {
        let time = self.tick();
        self.history.push(Event {
            index: self.history.len() as u64,
            time,
            process,
            kind,
            f: f.to_string(),
            key: key.map(str::to_string),
            value,
            error,
        });
    }

    /// Records a fault in `nemesis.jsonl` and as a nemesis history event, at one time.
    pub fn fault(&mut self, phase: FaultPhase, fault: FaultKind, node: usize, detail: Value) {
        let f = match phase {
            FaultPhase::Start => format!("start-{fault}"),
            FaultPhase::Stop => format!("stop-{fault}"),
        };
        let mut value = detail.clone();
        if let Value::Object(map) = &mut value {
            map.insert("nodes".into(), json!([node]));
        }
        self.event(Process::nemesis(), EventType::Info, &f, None, value, None);
        let time = self.now;
        self.nemesis.push(NemesisRecord {
            time,
            phase,
            fault,
            nodes: vec![node as NodeId],
            detail,
        });
    }

    /// A new exchange (id = its position), returned for filling in.
    pub fn exchange(&mut self, mut ex: Exchange) -> usize {
        ex.id = self.messages.len() as u64;
        self.messages.push(ex);
        self.messages.len() - 1
    }

    /// Writes the four JSONL files into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), StoreError> {
        write_jsonl(&dir.join(HISTORY_FILE), &self.history)?;
        write_jsonl(&dir.join(MESSAGES_FILE), &self.messages)?;
        write_jsonl(&dir.join(NEMESIS_FILE), &self.nemesis)?;
        write_jsonl(&dir.join(SNAPSHOTS_FILE), &self.snapshots)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_order_every_record() {
        let mut r = Records::default();
        r.event(
            Process::Client(1),
            EventType::Invoke,
            "propose",
            Some("x"),
            json!("7"),
            None,
        );
        r.fault(FaultPhase::Start, FaultKind::Kill, 2, json!({"pids": [9]}));
        assert_eq!(r.history[0].time, TICK);
        assert_eq!(r.history[1].time, 2 * TICK);
        assert_eq!(r.history[1].index, 1);
        assert_eq!(r.history[1].f, "start-kill");
        assert_eq!(r.history[1].value, json!({"pids": [9], "nodes": [2]}));
        assert_eq!(r.nemesis[0].time, 2 * TICK);
        assert_eq!(r.nemesis[0].nodes, vec![2]);
        let dir = tempfile::tempdir().unwrap();
        r.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(HISTORY_FILE)).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(MESSAGES_FILE)).unwrap(),
            ""
        );
    }
}
