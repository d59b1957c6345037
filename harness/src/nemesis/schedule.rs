//! The pure, seeded fault schedule: the same config, cluster size, seed and
//! time limit always lay out the same faults.

use std::time::Duration;

pub use ballot_core::fault::FaultKind;
use rand::rngs::ChaCha8Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use serde_json::Value;

use crate::links::LinkBehaviour;
use crate::partition::{Partition, PartitionKind};

use super::*;

/// A whole run's faults, in start order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schedule {
    /// The faults.
    pub steps: Vec<FaultStep>,
}

/// Mixed into the seed so the schedule's RNG stream differs from the proxy's.
pub(super) const SCHEDULE_SALT: u64 = 0x6E65_6D65_7369_7321;

/// `interval` scaled by a factor drawn from `[0.5, 1.5)`.
pub(super) fn around(interval: Duration, rng: &mut ChaCha8Rng) -> Duration {
    interval.mul_f64(rng.random_range(0.5..1.5))
}

/// `k` distinct random nodes of `0..n`, sorted.
pub(super) fn pick(n: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut nodes: Vec<usize> = (0..n).collect();
    nodes.shuffle(rng);
    nodes.truncate(k);
    nodes.sort_unstable();
    nodes
}

impl Schedule {
    /// Lays out the faults for `n` nodes over `time_limit`, from `seed` alone.
    /// A fault that would outlast the time limit is cut short to end at it.
    pub fn generate(config: &NemesisConfig, n: usize, seed: u64, time_limit: Duration) -> Schedule {
        let mut steps = Vec::new();
        if config.faults.is_empty() || n == 0 || config.interval.is_zero() {
            return Schedule { steps };
        }
        let shapes: &[PartitionKind] = if config.partitions.is_empty() {
            &PartitionKind::ALL
        } else {
            &config.partitions
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ SCHEDULE_SALT);
        let mut t = around(config.interval, &mut rng);
        while t < time_limit {
            let fault = *config.faults.choose(&mut rng).expect("faults is not empty");
            let duration = around(config.interval, &mut rng).min(time_limit - t);
            let k = config.targets.count(n);
            let (nodes, params) = match fault {
                FaultKind::Kill
                | FaultKind::Pause
                | FaultKind::PowerFail
                | FaultKind::Crash
                | FaultKind::Links
                | FaultKind::KillOnAck
                | FaultKind::SplitOnDisagreement => (pick(n, k, &mut rng), FaultParams::None),
                FaultKind::MinimalQuorum => ((0..n).collect(), FaultParams::None),
                FaultKind::Partition => {
                    let shape = *shapes.choose(&mut rng).expect("shapes is not empty");
                    let p = Partition::generate(shape, n, &mut rng);
                    (p.touched_nodes(), FaultParams::Partition(p))
                }
                FaultKind::Drop => {
                    let b = LinkBehaviour {
                        drop_request: rng.random_range(0.1..0.4),
                        drop_response: rng.random_range(0.1..0.4),
                        ..LinkBehaviour::PASS
                    };
                    (pick(n, k, &mut rng), FaultParams::Links(b))
                }
                FaultKind::Delay => {
                    let delay = Duration::from_millis(rng.random_range(10..=100));
                    let b = LinkBehaviour {
                        delay,
                        jitter: delay / 2,
                        ..LinkBehaviour::PASS
                    };
                    (pick(n, k, &mut rng), FaultParams::Links(b))
                }
                FaultKind::Duplicate => {
                    let b = LinkBehaviour {
                        duplicate: rng.random_range(0.2..0.6),
                        ..LinkBehaviour::PASS
                    };
                    (pick(n, k, &mut rng), FaultParams::Links(b))
                }
            };
            steps.push(FaultStep {
                start: t,
                duration,
                fault,
                nodes,
                params,
            });
            t += duration + around(config.interval, &mut rng);
        }
        Schedule { steps }
    }

    /// The schedule as a JSON array of [`FaultStep::to_json`].
    pub fn to_json(&self) -> Value {
        Value::Array(self.steps.iter().map(FaultStep::to_json).collect())
    }
}
