//! Weaker faults for a failing candidate: a shorter outage (a restart
//! moved up to right after its kill) and a delivered reply instead of a
//! dropped one. Pure: the shrink search tries each and keeps those that
//! still give the same failure.

use ballot_core::records::Fate;

use crate::replay::schedule::{Item, Timed};
use crate::replay::RunData;

/// One way to weaken a candidate's faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weakening {
    /// Move the restart in unit `restart` up to right after the kill in unit `kill`.
    ShortOutage {
        /// Position of the kill's unit.
        kill: usize,
        /// Position of the restart's unit.
        restart: usize,
    },
    /// Deliver the reply of this exchange (index in `messages.jsonl`) instead of dropping it.
    Deliver(usize),
}

/// Every weakening of `units`, outages first (in schedule order), then replies.
pub fn candidates(run: &RunData, units: &[Vec<Timed>], delivered: &[usize]) -> Vec<Weakening> {
    let mut out = Vec::new();
    for (r, unit) in units.iter().enumerate() {
        let [Timed {
            time,
            item: Item::Restart { node, .. },
        }] = unit.as_slice()
        else {
            continue;
        };
        let kill = units[..r].iter().rposition(
            |u| matches!(u.as_slice(), [Timed { item: Item::Kill { node: n }, .. }] if n == node),
        );
        if let Some(k) = kill {
            // Already right after it: nothing lies between them.
            let kill_time = units[k][0].time;
            let between = units
                .iter()
                .flatten()
                .any(|t| t.time > kill_time && t.time < *time);
            if between {
                out.push(Weakening::ShortOutage {
                    kill: k,
                    restart: r,
                });
            }
        }
    }
    for unit in units {
        for t in unit {
            if let Item::Deliver { exchange } = t.item {
                if run.messages[exchange].fate != Fate::Ok && !delivered.contains(&exchange) {
                    out.push(Weakening::Deliver(exchange));
                }
            }
        }
    }
    out
}

/// `units` with the outage shortened (the restart retimed to just after the kill).
pub fn shorten(units: &[Vec<Timed>], kill: usize, restart: usize) -> Vec<Vec<Timed>> {
    let mut out = units.to_vec();
    out[restart][0].time = units[kill][0].time + 1;
    out
}

/// A line for people.
pub fn describe(w: &Weakening, run: &RunData, units: &[Vec<Timed>]) -> String {
    match *w {
        Weakening::ShortOutage { restart, .. } => match units[restart][0].item {
            Item::Restart { node, .. } => {
                format!("the restart of n{node} moved up to right after its kill")
            }
            _ => "an outage shortened".to_string(),
        },
        Weakening::Deliver(exchange) => format!(
            "the reply to exchange {} delivered instead of dropped",
            run.messages[exchange].id
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballot_core::records::Exchange;
    use serde_json::json;

    fn run_with(fates: &[Fate]) -> RunData {
        let messages = fates
            .iter()
            .enumerate()
            .map(|(i, &fate)| Exchange {
                id: i as u64 + 10,
                from: 0,
                to: 1,
                process: Some(1),
                path: "/v1/prepare".into(),
                request: json!({"key": "x", "ballot": {"round": 1, "proposer": 1}}),
                status: Some(200),
                response: Some(json!({"ok": true})),
                sent: 0,
                delivered: Some(1),
                replied: Some(2),
                fate,
                duplicate_of: None,
            })
            .collect();
        RunData {
            dir: "/nonexistent".into(),
            test: Default::default(),
            nodes: 3,
            node_cmd: None,
            bugs: Vec::new(),
            history: Vec::new(),
            messages,
            nemesis: Vec::new(),
            snapshots: Vec::new(),
        }
    }

    fn at(time: u64, item: Item) -> Vec<Timed> {
        vec![Timed { time, item }]
    }

    #[test]
    fn outages_with_steps_inside_and_dropped_replies_can_be_weakened() {
        let run = run_with(&[Fate::Ok, Fate::DroppedResponse]);
        let units = vec![
            at(10, Item::Kill { node: 1 }),
            at(20, Item::Deliver { exchange: 0 }),
            at(
                30,
                Item::Restart {
                    node: 1,
                    snapshot: None,
                },
            ),
            at(40, Item::Deliver { exchange: 1 }),
            at(50, Item::Kill { node: 2 }),
            at(
                60,
                Item::Restart {
                    node: 2,
                    snapshot: None,
                },
            ),
        ];
        let all = candidates(&run, &units, &[]);
        assert_eq!(
            all,
            vec![
                Weakening::ShortOutage {
                    kill: 0,
                    restart: 2
                },
                Weakening::Deliver(1)
            ]
        );
        assert_eq!(candidates(&run, &units, &[1]).len(), 1);
        let short = shorten(&units, 0, 2);
        assert_eq!(short[2][0].time, 11);
        assert_eq!(candidates(&run, &short, &[1]), vec![]);
        assert_eq!(
            describe(&all[0], &run, &units),
            "the restart of n1 moved up to right after its kill"
        );
        assert_eq!(
            describe(&all[1], &run, &units),
            "the reply to exchange 11 delivered instead of dropped"
        );
    }
}
