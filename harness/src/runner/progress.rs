//! The progress line on stderr while a test runs: elapsed time against the
//! limit, ops ok/fail/info, and the fault in force. Hidden when stderr is
//! not a terminal (CI logs get the summary only).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::clients::ClientStats;
use crate::nemesis::Schedule;

/// The fault the schedule has in force `elapsed` after the nemesis started,
/// described for a person, e.g. `kill [1]`.
pub fn fault_at(schedule: &Schedule, elapsed: Duration) -> Option<String> {
    schedule
        .steps
        .iter()
        .find(|s| s.start <= elapsed && elapsed < s.start + s.duration)
        .map(|s| {
            let nodes: Vec<String> = s.nodes.iter().map(usize::to_string).collect();
            format!("{} [{}]", s.fault.name(), nodes.join(","))
        })
}

/// One progress line, e.g. `12s/30s  ok 140  fail 3  info 2  fault: kill [1]`.
pub fn line(
    elapsed: Duration,
    limit: Duration,
    counts: (u64, u64, u64),
    fault: Option<&str>,
) -> String {
    let (ok, fail, info) = counts;
    format!(
        "{}s/{}s  ok {ok}  fail {fail}  info {info}  fault: {}",
        elapsed.as_secs(),
        limit.as_secs_f64().ceil() as u64,
        fault.unwrap_or("none")
    )
}

/// The live progress line.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A progress line on stderr, or a hidden one when stderr is not a terminal.
    pub fn new() -> Progress {
        let bar = ProgressBar::new_spinner();
        if std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Progress { bar }
    }

    /// Redraws the line.
    pub fn update(
        &self,
        elapsed: Duration,
        limit: Duration,
        stats: &Arc<ClientStats>,
        schedule: &Schedule,
    ) {
        let fault = fault_at(schedule, elapsed);
        self.bar
            .set_message(line(elapsed, limit, stats.counts(), fault.as_deref()));
        self.bar.tick();
    }

    /// Shows a phase name instead of the counters (e.g. "final phase: healing").
    pub fn phase(&self, text: &str) {
        self.bar.set_message(text.to_string());
        self.bar.tick();
    }

    /// Removes the line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::{FaultKind, FaultParams, FaultStep};

    #[test]
    fn the_line_shows_time_counts_and_fault() {
        assert_eq!(
            line(
                Duration::from_millis(12_700),
                Duration::from_secs(30),
                (140, 3, 2),
                Some("kill [1]")
            ),
            "12s/30s  ok 140  fail 3  info 2  fault: kill [1]"
        );
        assert_eq!(
            line(Duration::ZERO, Duration::from_millis(2500), (0, 0, 0), None),
            "0s/3s  ok 0  fail 0  info 0  fault: none"
        );
    }

    #[test]
    fn the_fault_in_force_comes_from_the_schedule() {
        let schedule = Schedule {
            steps: vec![FaultStep {
                start: Duration::from_secs(2),
                duration: Duration::from_secs(3),
                fault: FaultKind::Kill,
                nodes: vec![0, 2],
                params: FaultParams::None,
            }],
        };
        // Table: elapsed seconds -> fault.
        for (t, fault) in [
            (1, None),
            (2, Some("kill [0,2]")),
            (4, Some("kill [0,2]")),
            (5, None),
        ] {
            assert_eq!(
                fault_at(&schedule, Duration::from_secs(t)).as_deref(),
                fault,
                "t={t}"
            );
        }
    }
}
