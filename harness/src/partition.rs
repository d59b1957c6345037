//! Partition shapes, as pure functions from a cluster size and an RNG to the
//! set of cut links.
//!
//! Host `i` is colocated with node `i` (Jepsen's topology), so "node `a` and
//! node `b` are on different sides" means the links host `a` -> node `b` and
//! host `b` -> node `a` are cut. The shapes, after Jepsen's `nemesis.combined`:
//!
//! - **halves**: shuffle the nodes, split them into a smaller and a larger
//!   half; nothing crosses between the halves.
//! - **isolate-one**: one node is cut off from every other host and node.
//! - **ring** (Jepsen's majorities-ring): place the nodes on a shuffled ring;
//!   each host sees the window of `n/2 + 1` consecutive nodes around its own
//!   position. Every host reaches a majority, but no two hosts reach the same
//!   majority, so there is no stable quorum "side".
//! - **bridge**: two halves that see each other only through one bridge node,
//!   which reaches (and is reached by) everyone.
//! - **one-way**: two halves; requests from side A's hosts to side B's nodes
//!   are cut, while side B's hosts still reach side A's nodes.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use serde_json::{json, Value};

use crate::links::Link;

/// The partition shapes the nemesis can install.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartitionKind {
    /// Two random halves.
    Halves,
    /// One node cut off from everyone.
    IsolateOne,
    /// Jepsen's majorities ring: every host sees a different majority.
    Ring,
    /// Two halves joined only through one bridge node.
    Bridge,
    /// Asymmetric: one side's requests to the other side are cut, not the reverse.
    OneWay,
}

impl PartitionKind {
    /// Every shape, in a fixed order.
    pub const ALL: [PartitionKind; 5] = [
        PartitionKind::Halves,
        PartitionKind::IsolateOne,
        PartitionKind::Ring,
        PartitionKind::Bridge,
        PartitionKind::OneWay,
    ];

    /// The shape's name on the command line and in records.
    pub fn name(self) -> &'static str {
        match self {
            PartitionKind::Halves => "halves",
            PartitionKind::IsolateOne => "isolate-one",
            PartitionKind::Ring => "ring",
            PartitionKind::Bridge => "bridge",
            PartitionKind::OneWay => "one-way",
        }
    }
}

impl fmt::Display for PartitionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown partition shape name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown partition shape {0:?}; known shapes: halves, isolate-one, ring, bridge, one-way")]
pub struct UnknownShape(pub String);

impl FromStr for PartitionKind {
    type Err = UnknownShape;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PartitionKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownShape(s.to_string()))
    }
}

/// Parses a comma-separated list of shapes (`all` for every shape), in
/// the order given, without repeats.
pub fn parse_shapes(list: &str) -> Result<Vec<PartitionKind>, UnknownShape> {
    let mut shapes = Vec::new();
    for name in list.split(',').map(str::trim) {
        let add: Vec<PartitionKind> = if name == "all" {
            PartitionKind::ALL.to_vec()
        } else {
            vec![name.parse()?]
        };
        for shape in add {
            if !shapes.contains(&shape) {
                shapes.push(shape);
            }
        }
    }
    Ok(shapes)
}

/// A partition: its shape, the cut links, and a description for records.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    /// The shape it was drawn from.
    pub kind: PartitionKind,
    /// Cluster size it was drawn for.
    pub n: usize,
    /// The cut directed links (host -> node); every other link passes.
    pub cut: BTreeSet<Link>,
    /// The sides, bridge or views that explain the cut, as JSON.
    pub detail: Value,
}

impl Partition {
    /// Draws a partition of the given shape over `n` nodes.
    pub fn generate<R: Rng + ?Sized>(kind: PartitionKind, n: usize, rng: &mut R) -> Partition {
        match kind {
            PartitionKind::Halves => halves(n, rng),
            PartitionKind::IsolateOne => isolate_one(n, rng),
            PartitionKind::Ring => majorities_ring(n, rng),
            PartitionKind::Bridge => bridge(n, rng),
            PartitionKind::OneWay => one_way(n, rng),
        }
    }

    /// True when host `host` can reach node `node`.
    pub fn reaches(&self, host: usize, node: usize) -> bool {
        !self.cut.contains(&Link::new(host, node))
    }

    /// The nodes host `host` can reach, in order.
    pub fn reachable(&self, host: usize) -> Vec<usize> {
        (0..self.n).filter(|&j| self.reaches(host, j)).collect()
    }

    /// Nodes whose links the partition touches (either end of a cut link).
    pub fn touched_nodes(&self) -> Vec<usize> {
        let set: BTreeSet<usize> = self.cut.iter().flat_map(|l| [l.host, l.node]).collect();
        set.into_iter().collect()
    }

    /// JSON for history and nemesis records: shape, detail and cut links.
    pub fn to_json(&self) -> Value {
        json!({
            "shape": self.kind.name(),
            "detail": self.detail,
            "cut": self.cut.iter().map(|l| [l.host, l.node]).collect::<Vec<_>>(),
        })
    }
}

/// A random order of the nodes `0..n`.
fn shuffled<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Vec<usize> {
    let mut nodes: Vec<usize> = (0..n).collect();
    nodes.shuffle(rng);
    nodes
}

/// Cuts both directions between every node of `a` and every node of `b`.
fn cut_between(a: &[usize], b: &[usize], cut: &mut BTreeSet<Link>) {
    for &x in a {
        for &y in b {
            cut.insert(Link::new(x, y));
            cut.insert(Link::new(y, x));
        }
    }
}

fn sorted(mut v: Vec<usize>) -> Vec<usize> {
    v.sort_unstable();
    v
}

/// Two random halves (the first has `n / 2` nodes); nothing crosses.
pub fn halves<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Partition {
    let order = shuffled(n, rng);
    let (a, b) = order.split_at(n / 2);
    let mut cut = BTreeSet::new();
    cut_between(a, b, &mut cut);
    Partition {
        kind: PartitionKind::Halves,
        n,
        cut,
        detail: json!({ "sides": [sorted(a.to_vec()), sorted(b.to_vec())] }),
    }
}

/// Node `lone` cut off from every other host and node (an isolate-one
/// partition chosen by the cluster's state, not drawn).
pub fn isolate(lone: usize, n: usize) -> Partition {
    let rest: Vec<usize> = (0..n).filter(|&j| j != lone).collect();
    let mut cut = BTreeSet::new();
    cut_between(&[lone], &rest, &mut cut);
    Partition {
        kind: PartitionKind::IsolateOne,
        n,
        cut,
        detail: json!({ "isolated": lone }),
    }
}

/// One random node cut off from every other host and node.
pub fn isolate_one<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Partition {
    let order = shuffled(n, rng);
    let mut cut = BTreeSet::new();
    if let Some((&lone, rest)) = order.split_first() {
        cut_between(&[lone], rest, &mut cut);
    }
    Partition {
        kind: PartitionKind::IsolateOne,
        n,
        cut,
        detail: json!({ "isolated": order.first() }),
    }
}

/// Jepsen's majorities ring: each host sees the `n/2 + 1` nodes around its
/// own position on a shuffled ring.
///
/// Host at ring position `p` reaches positions `p - l ..= p + r` (mod `n`)
/// with `l = (m - 1) / 2` and `r = m - 1 - l`, `m = n/2 + 1`. The windows are
/// distinct because their centres are, and for odd `m` the relation is
/// symmetric (host `a` reaches node `b` iff host `b` reaches node `a`).
pub fn majorities_ring<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Partition {
    let ring = shuffled(n, rng);
    let m = n / 2 + 1;
    let left = (m - 1) / 2;
    let mut cut = BTreeSet::new();
    let mut views = Vec::with_capacity(n);
    for p in 0..n {
        let window: BTreeSet<usize> = (0..m).map(|k| ring[(p + n - left + k) % n]).collect();
        for node in 0..n {
            if !window.contains(&node) {
                cut.insert(Link::new(ring[p], node));
            }
        }
        views.push((ring[p], window.into_iter().collect::<Vec<_>>()));
    }
    views.sort();
    Partition {
        kind: PartitionKind::Ring,
        n,
        cut,
        detail: json!({
            "ring": ring,
            "views": views.into_iter().map(|(h, v)| json!({"host": h, "reaches": v})).collect::<Vec<_>>(),
        }),
    }
}

/// Two halves that only see each other through one bridge node.
///
/// The first side has `(n - 1) / 2` nodes, the second the rest; the larger
/// side plus the bridge is a majority.
pub fn bridge<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Partition {
    let order = shuffled(n, rng);
    let mut cut = BTreeSet::new();
    let detail = match order.split_first() {
        Some((&bridge, rest)) => {
            let (a, b) = rest.split_at((n - 1) / 2);
            cut_between(a, b, &mut cut);
            json!({ "bridge": bridge, "sides": [sorted(a.to_vec()), sorted(b.to_vec())] })
        }
        None => json!({}),
    };
    Partition {
        kind: PartitionKind::Bridge,
        n,
        cut,
        detail,
    }
}

/// Asymmetric halves: requests from side A's hosts to side B's nodes are
/// cut; side B's hosts still reach side A's nodes. Which half is A is a coin flip.
pub fn one_way<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Partition {
    let order = shuffled(n, rng);
    let (small, large) = order.split_at(n / 2);
    let (a, b) = if rng.random::<bool>() {
        (small, large)
    } else {
        (large, small)
    };
    let mut cut = BTreeSet::new();
    for &x in a {
        for &y in b {
            cut.insert(Link::new(x, y));
        }
    }
    Partition {
        kind: PartitionKind::OneWay,
        n,
        cut,
        detail: json!({ "from": sorted(a.to_vec()), "to": sorted(b.to_vec()) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::ChaCha8Rng;
    use rand::SeedableRng;

    const SEEDS: u64 = 50;

    /// Every (n, seed) the property tests cover.
    fn draws(kind: PartitionKind) -> impl Iterator<Item = Partition> {
        (3..=7).flat_map(move |n| {
            (0..SEEDS)
                .map(move |seed| Partition::generate(kind, n, &mut ChaCha8Rng::seed_from_u64(seed)))
        })
    }

    fn majority(n: usize) -> usize {
        n / 2 + 1
    }

    fn sides(p: &Partition, key: &str) -> Vec<Vec<usize>> {
        serde_json::from_value(p.detail[key].clone()).unwrap()
    }

    #[test]
    fn no_shape_cuts_a_host_from_its_own_node() {
        for kind in PartitionKind::ALL {
            for p in draws(kind) {
                for i in 0..p.n {
                    assert!(p.reaches(i, i), "{kind} {p:?}");
                }
                assert!(p.cut.iter().all(|l| l.host < p.n && l.node < p.n));
            }
        }
    }

    #[test]
    fn halves_split_into_two_sides_with_nothing_crossing() {
        for p in draws(PartitionKind::Halves) {
            let s = sides(&p, "sides");
            assert_eq!(s[0].len(), p.n / 2);
            assert_eq!(s[0].len() + s[1].len(), p.n);
            for i in 0..p.n {
                for j in 0..p.n {
                    let same = s[0].contains(&i) == s[0].contains(&j);
                    assert_eq!(p.reaches(i, j), same, "{i}->{j} in {p:?}");
                }
            }
            // The smaller side never holds a majority; the larger does iff n is odd.
            assert!(s[0].len() < majority(p.n));
            assert_eq!(s[1].len() >= majority(p.n), p.n % 2 == 1);
        }
    }

    #[test]
    fn isolate_one_cuts_exactly_one_node_off() {
        for p in draws(PartitionKind::IsolateOne) {
            let lone = p.detail["isolated"].as_u64().unwrap() as usize;
            assert_eq!(p.cut.len(), 2 * (p.n - 1));
            assert_eq!(p.reachable(lone), vec![lone]);
            for i in (0..p.n).filter(|&i| i != lone) {
                assert!(!p.reaches(i, lone));
                assert_eq!(p.reachable(i).len(), p.n - 1);
            }
        }
    }

    #[test]
    fn ring_gives_every_host_a_different_majority() {
        for p in draws(PartitionKind::Ring) {
            let views: BTreeSet<Vec<usize>> = (0..p.n).map(|i| p.reachable(i)).collect();
            assert_eq!(views.len(), p.n, "two hosts share a majority: {p:?}");
            for i in 0..p.n {
                assert_eq!(p.reachable(i).len(), majority(p.n), "{p:?}");
            }
            if majority(p.n) % 2 == 1 {
                for i in 0..p.n {
                    for j in 0..p.n {
                        assert_eq!(p.reaches(i, j), p.reaches(j, i), "{p:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn bridge_reaches_everyone_and_the_sides_only_meet_through_it() {
        for p in draws(PartitionKind::Bridge) {
            let b = p.detail["bridge"].as_u64().unwrap() as usize;
            let s = sides(&p, "sides");
            assert_eq!(s[0].len() + s[1].len() + 1, p.n);
            assert!(!s[0].is_empty() && !s[1].is_empty());
            assert_eq!(p.reachable(b).len(), p.n);
            for i in 0..p.n {
                assert!(p.reaches(i, b));
            }
            for &x in &s[0] {
                for &y in &s[1] {
                    assert!(!p.reaches(x, y) && !p.reaches(y, x));
                }
            }
            // The larger side with the bridge is a majority.
            assert!(s[1].len() + 1 >= majority(p.n), "{p:?}");
        }
    }

    #[test]
    fn one_way_cuts_only_one_direction() {
        let mut flipped = BTreeSet::new();
        for p in draws(PartitionKind::OneWay) {
            let from: Vec<usize> = serde_json::from_value(p.detail["from"].clone()).unwrap();
            let to: Vec<usize> = serde_json::from_value(p.detail["to"].clone()).unwrap();
            assert_eq!(from.len() + to.len(), p.n);
            flipped.insert(from.len() < to.len());
            assert_eq!(p.cut.len(), from.len() * to.len());
            for l in &p.cut {
                assert!(from.contains(&l.host) && to.contains(&l.node));
                assert!(
                    p.reaches(l.node, l.host),
                    "reverse direction cut too: {p:?}"
                );
            }
        }
        assert_eq!(flipped.len(), 2, "the cut side should vary with the seed");
    }

    #[test]
    fn same_seed_same_partition_and_seeds_vary_it() {
        for kind in PartitionKind::ALL {
            let a = Partition::generate(kind, 5, &mut ChaCha8Rng::seed_from_u64(1));
            let b = Partition::generate(kind, 5, &mut ChaCha8Rng::seed_from_u64(1));
            assert_eq!(a, b);
            let distinct: BTreeSet<Vec<Link>> = (0..20)
                .map(|s| {
                    let p = Partition::generate(kind, 5, &mut ChaCha8Rng::seed_from_u64(s));
                    p.cut.into_iter().collect()
                })
                .collect();
            assert!(distinct.len() > 1, "{kind} ignores its RNG");
        }
    }

    #[test]
    fn tiny_clusters_do_not_panic() {
        for kind in PartitionKind::ALL {
            for n in 0..3 {
                let p = Partition::generate(kind, n, &mut ChaCha8Rng::seed_from_u64(0));
                assert!(p.cut.iter().all(|l| l.host < n && l.node < n));
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for kind in PartitionKind::ALL {
            assert_eq!(kind.name().parse::<PartitionKind>(), Ok(kind));
        }
        assert!("majority".parse::<PartitionKind>().is_err());
    }

    #[test]
    fn shape_lists() {
        use PartitionKind::*;
        assert_eq!(parse_shapes("all"), Ok(PartitionKind::ALL.to_vec()));
        assert_eq!(parse_shapes("ring,bridge"), Ok(vec![Ring, Bridge]));
        assert_eq!(parse_shapes("bridge, ring,bridge"), Ok(vec![Bridge, Ring]));
        assert_eq!(parse_shapes("ring,all").map(|s| s.len()), Ok(5));
        assert_eq!(parse_shapes("ring,moon"), Err(UnknownShape("moon".into())));
        assert_eq!(parse_shapes(""), Err(UnknownShape("".into())));
    }

    #[test]
    fn json_lists_shape_and_cut_links() {
        let p = isolate_one(3, &mut ChaCha8Rng::seed_from_u64(0));
        let j = p.to_json();
        assert_eq!(j["shape"], "isolate-one");
        assert_eq!(j["cut"].as_array().unwrap().len(), 4);
    }
}
