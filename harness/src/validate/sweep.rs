//! The false-alarm sweep: the correct node and proposer under every
//! nemesis combination, over several seeds and workload profiles. Every
//! run must be valid; an invalid one is a false alarm (a checker or
//! harness bug), an unknown one a run that proved nothing.
//!
//! Seed `i` of the sweep (counting from 0) runs profile `i % 4`, so a few
//! seeds already cover the one-key register, the kv race profile the
//! proposer bugs use, 5 nodes with majority-sized faults and more reads,
//! and an even cluster. The nemesis interval scales with the run length
//! (`seconds / 8`, between 0.5 and 3 s) so even short runs see several
//! faults.

/// The nemesis combinations swept by default: none, each fault alone, the
/// `ballot test` default, and all together.
pub const COMBOS: [&str; 9] = [
    "none",
    "kill",
    "pause",
    "partition",
    "drop",
    "delay",
    "duplicate",
    "kill,partition",
    "all",
];

/// The sweep "combination" that runs `ballot test`'s default profile (its
/// phases bring their own faults): no configuration flag, only the time limit.
pub const DEFAULT_PROFILE: &str = "profile:default";

/// A workload and cluster shape for the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    /// A short name for the report.
    pub name: &'static str,
    /// Its `ballot test` flags.
    pub args: &'static [&'static str],
}

/// The profiles, cycled through by seed.
#[rustfmt::skip] // flag lists read best as command lines
pub const PROFILES: [Profile; 4] = [
    Profile {
        name: "register",
        args: &["--workload", "register"],
    },
    Profile {
        name: "kv-race",
        args: &[
            "--workload", "kv", "--window", "1", "--ops-per-key", "10", "--concurrency", "10",
            "--rate", "1000",
        ],
    },
    Profile {
        name: "kv-5-nodes",
        args: &[
            "--workload", "kv", "--nodes", "5", "--nemesis-targets", "majority",
            "--read-fraction", "0.5",
        ],
    },
    Profile {
        name: "kv-4-nodes",
        args: &[
            "--workload", "kv", "--nodes", "4", "--window", "1", "--ops-per-key", "12",
            "--concurrency", "12", "--rate", "120",
        ],
    },
];

/// One run of the sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRun {
    /// The `--nemesis` list.
    pub nemesis: String,
    /// The workload profile.
    pub profile: Profile,
    /// The seed.
    pub seed: u64,
    /// The time limit in seconds.
    pub seconds: f64,
}

impl SweepRun {
    /// The `ballot test` flags (without `--seed` and `--store`).
    pub fn test_args(&self) -> Vec<String> {
        if self.nemesis == DEFAULT_PROFILE {
            return vec!["--time-limit".to_string(), self.seconds.to_string()];
        }
        let mut args: Vec<String> = self.profile.args.iter().map(|a| a.to_string()).collect();
        args.extend([
            "--nemesis".to_string(),
            self.nemesis.clone(),
            "--nemesis-interval".to_string(),
            nemesis_interval(self.seconds).to_string(),
            "--time-limit".to_string(),
            self.seconds.to_string(),
        ]);
        args
    }
}

/// The nemesis interval for a run of `seconds`: `seconds / 8` within [0.5, 3].
pub fn nemesis_interval(seconds: f64) -> f64 {
    (seconds / 8.0).clamp(0.5, 3.0)
}

/// Every run of a sweep: each combination with seeds `first_seed ..
/// first_seed + seeds`, seed `i` on profile `i % 4`; combination-major.
pub fn plan(combos: &[String], seeds: u64, first_seed: u64, seconds: f64) -> Vec<SweepRun> {
    let mut runs = Vec::new();
    for nemesis in combos {
        for i in 0..seeds {
            runs.push(SweepRun {
                nemesis: nemesis.clone(),
                profile: PROFILES[(i % PROFILES.len() as u64) as usize],
                seed: first_seed.wrapping_add(i),
                seconds,
            });
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse, Command};

    #[test]
    fn plans_cover_every_combination_and_cycle_profiles() {
        let combos: Vec<String> = COMBOS.iter().map(|c| c.to_string()).collect();
        let runs = plan(&combos, 5, 100, 20.0);
        assert_eq!(runs.len(), 45);
        let first: Vec<(&str, u64, &str)> = runs[..5]
            .iter()
            .map(|r| (r.nemesis.as_str(), r.seed, r.profile.name))
            .collect();
        assert_eq!(
            first,
            vec![
                ("none", 100, "register"),
                ("none", 101, "kv-race"),
                ("none", 102, "kv-5-nodes"),
                ("none", 103, "kv-4-nodes"),
                ("none", 104, "register"),
            ]
        );
        assert_eq!(runs[44].nemesis, "all");
        assert!(plan(&combos, 0, 1, 5.0).is_empty());
    }

    #[test]
    fn intervals_scale_with_the_run() {
        for (seconds, want) in [(2.0, 0.5), (5.0, 0.625), (20.0, 2.5), (60.0, 3.0)] {
            assert_eq!(nemesis_interval(seconds), want, "{seconds}");
        }
    }

    #[test]
    fn every_run_parses_as_ballot_test_flags() {
        let combos: Vec<String> = COMBOS.iter().map(|c| c.to_string()).collect();
        for run in plan(&combos, 4, 1, 5.0) {
            let argv = ["ballot".to_string(), "test".to_string()]
                .into_iter()
                .chain(run.test_args());
            match parse(argv).map(|c| c.command) {
                Ok(Command::Test(t)) => {
                    assert_eq!(t.nemesis, run.nemesis);
                    assert!(t.bugs.is_empty() && t.client_bugs.is_empty());
                }
                other => panic!("{run:?}: {other:?}"),
            }
        }
    }
}
