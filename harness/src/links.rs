//! Link behaviours: what the proxy does to the messages on one directed link.
//!
//! A *link* is the path from client host `host` to node `node`; it carries a
//! request one way and its response back. Its [`LinkBehaviour`] is plain
//! data: cut it, drop requests or responses with some probability, delay
//! them (with jitter), or deliver requests twice. The proxy asks
//! [`LinkBehaviour::decide`] once per exchange, with the link's own seeded
//! RNG, and then carries the [`Decision`] out; so which exchange is dropped
//! depends only on the seed and the order of exchanges on that link.

use std::time::Duration;

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

/// A directed link: requests from client host `host` to node `node` (and their responses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Link {
    /// The client host (host `i` is colocated with node `i`).
    pub host: usize,
    /// The node.
    pub node: usize,
}

impl Link {
    /// The link from `host` to `node`.
    pub const fn new(host: usize, node: usize) -> Self {
        Link { host, node }
    }

    /// Every link of an `n`-host, `n`-node mesh, host-major.
    pub fn all(n: usize) -> impl Iterator<Item = Link> {
        (0..n).flat_map(move |host| (0..n).map(move |node| Link { host, node }))
    }
}

/// What the proxy does to the exchanges on one link. `Default` passes everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkBehaviour {
    /// The link is cut: no request reaches the node.
    pub cut: bool,
    /// Probability that a request is dropped before it reaches the node.
    pub drop_request: f64,
    /// Probability that the node's response is dropped before it reaches the client.
    pub drop_response: f64,
    /// Delay added before a request is forwarded.
    pub delay: Duration,
    /// Up to this much more delay, drawn uniformly per exchange.
    pub jitter: Duration,
    /// Probability that the request is delivered a second time.
    pub duplicate: f64,
}

/// Why a [`LinkBehaviour`] is not usable.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LinkError {
    /// A probability is outside `[0, 1]` (or not a number).
    #[error("{field} must be a probability between 0 and 1, got {value}")]
    BadProbability {
        /// Which field.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// A host or node index is outside the mesh.
    #[error("link {host} -> {node} is outside a mesh of {hosts} hosts and {nodes} nodes")]
    NoSuchLink {
        /// Host index.
        host: usize,
        /// Node index.
        node: usize,
        /// Hosts in the mesh.
        hosts: usize,
        /// Nodes in the mesh.
        nodes: usize,
    },
}

/// The longest extra wait before a duplicate is delivered, after the original.
pub const MAX_DUPLICATE_LAG: Duration = Duration::from_millis(5);

/// What the proxy does with one exchange, drawn from a [`LinkBehaviour`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// The link is cut: refuse the request.
    pub cut: bool,
    /// Drop the request: the node never sees it.
    pub drop_request: bool,
    /// Forward it, but drop the response.
    pub drop_response: bool,
    /// Wait this long before forwarding.
    pub delay: Duration,
    /// Deliver it a second time, this long after the original delivery.
    pub duplicate: Option<Duration>,
}

impl LinkBehaviour {
    /// Pass everything, untouched.
    pub const PASS: LinkBehaviour = LinkBehaviour {
        cut: false,
        drop_request: 0.0,
        drop_response: 0.0,
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
        duplicate: 0.0,
    };

    /// A cut link: nothing passes.
    pub const fn cut() -> Self {
        LinkBehaviour {
            cut: true,
            ..Self::PASS
        }
    }

    /// True when the behaviour changes nothing.
    pub fn is_pass(&self) -> bool {
        *self == Self::PASS
    }

    /// Checks that every probability lies in `[0, 1]`.
    pub fn validate(&self) -> Result<(), LinkError> {
        for (field, value) in [
            ("drop_request", self.drop_request),
            ("drop_response", self.drop_response),
            ("duplicate", self.duplicate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(LinkError::BadProbability { field, value });
            }
        }
        Ok(())
    }

    /// Draws what happens to the next exchange on the link.
    ///
    /// Always consumes exactly five draws from `rng`, whatever the behaviour,
    /// so a link's later decisions do not shift when its behaviour changes.
    /// A dropped or cut request is never also duplicated.
    pub fn decide<R: Rng + ?Sized>(&self, rng: &mut R) -> Decision {
        let u_drop_request: f64 = rng.random();
        let u_drop_response: f64 = rng.random();
        let u_duplicate: f64 = rng.random();
        let u_jitter: f64 = rng.random();
        let u_lag: f64 = rng.random();
        if self.cut {
            return Decision {
                cut: true,
                ..Decision::default()
            };
        }
        let drop_request = u_drop_request < self.drop_request;
        if drop_request {
            return Decision {
                drop_request: true,
                ..Decision::default()
            };
        }
        Decision {
            cut: false,
            drop_request: false,
            drop_response: u_drop_response < self.drop_response,
            delay: self.delay + self.jitter.mul_f64(u_jitter),
            duplicate: (u_duplicate < self.duplicate).then(|| MAX_DUPLICATE_LAG.mul_f64(u_lag)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::ChaCha8Rng;
    use rand::SeedableRng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    #[test]
    fn pass_changes_nothing() {
        let mut rng = rng();
        assert!(LinkBehaviour::default().is_pass());
        for _ in 0..1000 {
            assert_eq!(LinkBehaviour::PASS.decide(&mut rng), Decision::default());
        }
    }

    #[test]
    fn cut_always_cuts_and_never_duplicates() {
        let mut rng = rng();
        let cut = LinkBehaviour {
            duplicate: 1.0,
            delay: Duration::from_millis(5),
            ..LinkBehaviour::cut()
        };
        for _ in 0..1000 {
            let d = cut.decide(&mut rng);
            assert!(d.cut);
            assert_eq!(d.duplicate, None);
            assert_eq!(d.delay, Duration::ZERO);
        }
    }

    #[test]
    fn certain_probabilities_always_happen() {
        let mut rng = rng();
        let b = LinkBehaviour {
            drop_response: 1.0,
            duplicate: 1.0,
            ..LinkBehaviour::PASS
        };
        for _ in 0..1000 {
            let d = b.decide(&mut rng);
            assert!(d.drop_response && !d.drop_request && !d.cut);
            assert!(d.duplicate.unwrap() <= MAX_DUPLICATE_LAG);
        }
        let b = LinkBehaviour {
            drop_request: 1.0,
            duplicate: 1.0,
            drop_response: 1.0,
            ..LinkBehaviour::PASS
        };
        for _ in 0..1000 {
            let d = b.decide(&mut rng);
            assert_eq!(
                d,
                Decision {
                    drop_request: true,
                    ..Decision::default()
                }
            );
        }
    }

    #[test]
    fn probabilities_are_honoured_roughly() {
        let mut rng = rng();
        let b = LinkBehaviour {
            drop_request: 0.2,
            drop_response: 0.3,
            duplicate: 0.5,
            ..LinkBehaviour::PASS
        };
        let n = 20_000;
        let (mut dreq, mut dresp, mut dup, mut passed) = (0, 0, 0, 0);
        for _ in 0..n {
            let d = b.decide(&mut rng);
            if d.drop_request {
                dreq += 1;
                continue;
            }
            passed += 1;
            dresp += d.drop_response as u32;
            dup += d.duplicate.is_some() as u32;
        }
        let frac = |k: u32, of: u32| k as f64 / of as f64;
        assert!((frac(dreq, n) - 0.2).abs() < 0.02, "{dreq}");
        assert!((frac(dresp, passed) - 0.3).abs() < 0.02, "{dresp}");
        assert!((frac(dup, passed) - 0.5).abs() < 0.02, "{dup}");
    }

    #[test]
    fn delay_stays_within_jitter() {
        let mut rng = rng();
        let b = LinkBehaviour {
            delay: Duration::from_millis(10),
            jitter: Duration::from_millis(4),
            ..LinkBehaviour::PASS
        };
        let delays: Vec<Duration> = (0..1000).map(|_| b.decide(&mut rng).delay).collect();
        assert!(delays
            .iter()
            .all(|d| *d >= Duration::from_millis(10) && *d <= Duration::from_millis(14)));
        assert!(delays.iter().any(|d| *d > Duration::from_millis(13)));
        assert!(delays.iter().any(|d| *d < Duration::from_millis(11)));
    }

    #[test]
    fn draws_do_not_depend_on_the_behaviour() {
        let (mut a, mut b) = (rng(), rng());
        LinkBehaviour::cut().decide(&mut a);
        LinkBehaviour::PASS.decide(&mut b);
        let lossy = LinkBehaviour {
            drop_request: 0.5,
            ..LinkBehaviour::PASS
        };
        for _ in 0..100 {
            assert_eq!(lossy.decide(&mut a), lossy.decide(&mut b));
        }
    }

    #[test]
    fn validate_rejects_bad_probabilities() {
        let cases = [
            (0.0, 0.0, 0.0, true),
            (1.0, 1.0, 1.0, true),
            (-0.1, 0.0, 0.0, false),
            (0.0, 1.5, 0.0, false),
            (0.0, 0.0, f64::NAN, false),
        ];
        for (drop_request, drop_response, duplicate, ok) in cases {
            let b = LinkBehaviour {
                drop_request,
                drop_response,
                duplicate,
                ..LinkBehaviour::PASS
            };
            assert_eq!(b.validate().is_ok(), ok, "{b:?}");
        }
    }

    #[test]
    fn all_links_are_host_major() {
        let links: Vec<Link> = Link::all(2).collect();
        assert_eq!(
            links,
            vec![
                Link::new(0, 0),
                Link::new(0, 1),
                Link::new(1, 0),
                Link::new(1, 1)
            ]
        );
    }
}
