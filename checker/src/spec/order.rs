//! In which order did one node process one key's exchanges? Pure: a
//! bounded search over the orders real time allows, checked against the
//! recorded replies with the pure acceptor ([`super::sim`]).
//!
//! # Why the proxy's order is not enough
//!
//! The proxy stamps `delivered` when it forwards a request, but the node
//! serves several connections at once: two exchanges that overlap in time
//! (A.delivered < B.delivered < A.replied) may reach the acceptor in either
//! order, and the recorded replies say which. Replaying A before B when the
//! node did B first gives different replies, and the replayed message log
//! then shows accepts whose promises were (in the replay) refused.
//!
//! # The search
//!
//! The *steps* of one (node, key) are its exchanges and the state snapshots
//! the run took of that node (right after each restart, and at the end),
//! split into *epochs* by the node's kills. Each step has an interval:
//! `[delivered, replied]` for an exchange (`replied` unknown: open-ended),
//! `[snapshot request sent, restart recorded]` for a restart snapshot.
//! Real time orders A before B whenever A's interval ends before B's
//! starts; within that freedom the search picks, step by step, a step that
//! may come next and whose simulated reply equals the recorded one (a
//! snapshot: whose state equals the simulated state), depth first, trying
//! candidates in `delivered` order and backtracking on a dead end.
//! Searched-out positions (done set, state) are remembered, so equivalent
//! interleavings are not searched twice, and the whole search is bounded by
//! a budget of steps tried.
//!
//! # Exchanges without a reply
//!
//! An exchange with no recorded reply (or a `5xx`) fits any reply, and may
//! also never have been processed at all (a request in flight when the node
//! was killed, or one it failed to persist): it is *optional*. An optional
//! step never holds up another step, and none is required to end an epoch;
//! it is applied only when the search chooses to (after the answered
//! candidates), and it *expires* (was never processed) as soon as a step
//! that started after its interval ended has been taken, since it cannot
//! come after that one. So the search never branches on when to give one
//! up: with k requests in flight to a paused node, that choice alone made
//! 2^k positions at every step.
//!
//! Keys are independent Paxos instances (the acceptor keeps nothing shared
//! between them), so searching each key alone loses nothing and keeps the
//! search small.
//!
//! # Restarts
//!
//! Between epochs the node was killed and restarted; what it recovered
//! depends on its bugs ([`Recovery`]): a correct node keeps everything it
//! processed; `memory-only` forgets everything; `promise-only` forgets
//! accepted proposals; `reply-before-durable` keeps some prefix of what it
//! processed since its last restart (the log is flushed in the background),
//! so every such prefix is a candidate, newest first. The restart snapshot
//! then tells which, as a step of the next epoch.
//!
//! If no order explains the replies, that is a finding: the search reports
//! the end of the longest explained prefix ([`Stuck`]) and completes the
//! order greedily from there, so the replay can still run.

use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use ballot_core::acceptor::Acceptor;
use ballot_core::bugs::{BugSet, NodeBug};
use ballot_core::protocol::InstanceState;
use serde_json::{json, Value};

use super::sim::{apply, Recorded, Reply, Request};

/// Smallest search budget (steps tried) of one (node, key).
pub const MIN_BUDGET: usize = 2_000_000;
/// Budget per step of one (node, key), when that is larger.
pub const BUDGET_PER_STEP: usize = 256;

/// What one step of a (node, key) history is.
#[derive(Clone, Debug, PartialEq)]
pub enum What {
    /// A recorded exchange.
    Exchange {
        /// Index in `messages.jsonl`.
        index: usize,
        /// The parsed request.
        request: Request,
        /// The recorded answer.
        recorded: Recorded,
    },
    /// A snapshot the run took of the node: the key's state at some instant of the interval.
    Read {
        /// Index in `snapshots.jsonl`.
        snapshot: usize,
        /// The key's recorded state (default when the snapshot lacks the key).
        state: InstanceState,
    },
}

/// One step: its epoch, its real-time interval, and what it is.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderStep {
    /// How many kills of the node came before it.
    pub epoch: usize,
    /// Earliest time it can have happened (ns).
    pub start: u64,
    /// Latest time it can have happened (ns); `u64::MAX` when unknown.
    pub end: u64,
    /// The step.
    pub what: What,
}

/// What a node keeps across a kill and restart, by its bugs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// Nothing survives (`memory-only`).
    pub forget: bool,
    /// Some prefix of what it processed since its last restart survives (`reply-before-durable`).
    pub any_prefix: bool,
    /// Accepted proposals do not survive (`promise-only`).
    pub drop_accepted: bool,
}

impl Recovery {
    /// The recovery model of a node running with `bugs`.
    pub fn of(bugs: BugSet) -> Recovery {
        Recovery {
            forget: bugs.has(NodeBug::MemoryOnly),
            any_prefix: bugs.has(NodeBug::ReplyBeforeDurable),
            drop_accepted: bugs.has(NodeBug::PromiseOnly),
        }
    }

    /// The states the node may come back with, most likely first, given its
    /// current state and `trail`, its states since its last restart (oldest first).
    fn alternatives(self, state: &InstanceState, trail: &[InstanceState]) -> Vec<InstanceState> {
        let survive = |s: &InstanceState| InstanceState {
            accepted: if self.drop_accepted {
                None
            } else {
                s.accepted.clone()
            },
            ..s.clone()
        };
        let mut out: Vec<InstanceState> = Vec::new();
        if self.forget {
            out.push(InstanceState::default());
        } else if self.any_prefix {
            for s in trail.iter().rev() {
                let s = survive(s);
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        } else {
            out.push(survive(state));
        }
        out
    }
}

/// A candidate at the point where the search got stuck, and what the acceptor makes of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Position in the steps.
    pub step: usize,
    /// The simulated reply (an exchange) or the simulated state (a snapshot).
    pub simulated: Value,
}

/// Where no order explains the recorded replies.
#[derive(Clone, Debug, PartialEq)]
pub struct Stuck {
    /// The last step of the longest explained prefix (none: stuck at the start).
    pub after: Option<usize>,
    /// The epoch it got stuck in.
    pub epoch: usize,
    /// The steps that could come next; none of them fits.
    pub candidates: Vec<Candidate>,
    /// True when the budget ran out (some order might still exist); false
    /// when every order real time allows was tried.
    pub exhausted: bool,
}

/// The processing order found for one (node, key).
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// Positions of the steps in processing order (exchanges and snapshots).
    pub order: Vec<usize>,
    /// Positions of unreplied exchanges the node never processed.
    pub skipped: Vec<usize>,
    /// The key's state right after each restart (entry `e - 1`: entering epoch `e`).
    pub restarts: Vec<InstanceState>,
    /// Set when no order explains the replies (the order is then completed greedily).
    pub stuck: Option<Stuck>,
    /// Steps tried.
    pub tried: usize,
}

/// One move of the search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Choice {
    /// Process the step (an exchange) or observe it (a snapshot).
    Apply(usize),
    /// An optional exchange that changes nothing wherever it goes: marked
    /// done without being taken (it constrains nothing).
    Skip(usize),
    /// Restart into the next epoch with the n-th recovery alternative.
    Restart(usize),
}

/// How a search ended: the path that explains every step, or the longest
/// dead end found.
struct Outcome {
    path: Vec<Choice>,
    explained: bool,
    exhausted: bool,
    tried: usize,
}

/// How to take a move back.
#[derive(Clone, Debug)]
struct Undo {
    state: InstanceState,
    first: usize,
    epoch: usize,
    clock: u64,
    left: usize,
    trail: Option<Vec<InstanceState>>,
    trail_len: usize,
    step: Option<usize>,
    /// Optional steps marked done by this move (expired, or left at a restart).
    expired: Vec<usize>,
}

#[derive(Clone, Debug)]
struct Cursor {
    done: Vec<bool>,
    /// The first step of the epoch not done.
    first: usize,
    epoch: usize,
    /// Required steps of the epoch not done yet.
    left: usize,
    /// Latest start of a step taken in this epoch: an optional step that
    /// ended before it can no longer be taken.
    clock: u64,
    state: InstanceState,
    trail: Vec<InstanceState>,
    zobrist: u64,
}

/// A fixed pseudo-random value per position (splitmix64), for the done-set hash.
fn zobrist(i: usize) -> u64 {
    let mut z = (i as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash_state(s: &InstanceState, h: &mut DefaultHasher) {
    s.promised.hash(h);
    s.accepted.hash(h);
    s.learned.hash(h);
}

struct Search<'a> {
    steps: &'a [OrderStep],
    /// `[lo, hi)` of each epoch's steps.
    bounds: Vec<(usize, usize)>,
    key: &'a str,
    bugs: BugSet,
    recovery: Recovery,
}

impl Search<'_> {
    fn fresh(&self) -> Cursor {
        let mut c = Cursor {
            done: vec![false; self.steps.len()],
            first: 0,
            epoch: 0,
            left: self.required_in(0),
            clock: 0,
            state: InstanceState::default(),
            trail: Vec::new(),
            zobrist: 0,
        };
        if self.recovery.any_prefix {
            c.trail.push(InstanceState::default());
        }
        c
    }

    /// Whether step `i` may never have been processed (no reply, or a `5xx`).
    fn optional(&self, i: usize) -> bool {
        matches!(&self.steps[i].what,
            What::Exchange { recorded, .. } if recorded.may_be_unprocessed())
    }

    /// How many steps of `epoch` must be taken.
    fn required_in(&self, epoch: usize) -> usize {
        let (lo, hi) = self.bounds[epoch];
        (lo..hi).filter(|&i| !self.optional(i)).count()
    }

    fn finished(&self, c: &Cursor) -> bool {
        c.epoch + 1 == self.bounds.len() && c.left == 0
    }

    /// Runs an exchange on a copy of `state`: the reply and the new state.
    fn simulate(&self, state: &InstanceState, request: &Request) -> (Reply, InstanceState) {
        simulate(state, request, self.key, self.bugs)
    }

    /// The steps that may come next: not done, in the current epoch, and
    /// not after the end of a required step that is not done.
    fn window(&self, c: &Cursor) -> Vec<usize> {
        let hi = self.bounds[c.epoch].1;
        let mut min_end = u64::MAX;
        let mut seen = Vec::new();
        for i in c.first..hi {
            if c.done[i] {
                continue;
            }
            let s = &self.steps[i];
            if s.start > min_end {
                break; // sorted by start: every later step starts later still
            }
            if !self.optional(i) {
                min_end = min_end.min(s.end);
            }
            seen.push(i);
        }
        seen.retain(|&i| self.steps[i].start <= min_end);
        seen
    }

    /// Whether step `i` fits in state `state`.
    fn fits(&self, state: &InstanceState, i: usize) -> bool {
        match &self.steps[i].what {
            What::Exchange {
                request, recorded, ..
            } => recorded.fits(&self.simulate(state, request).0),
            What::Read { state: read, .. } => read == state,
        }
    }

    fn choices(&self, c: &Cursor) -> Vec<Choice> {
        let window = self.window(c);
        if c.left == 0 {
            if c.epoch + 1 == self.bounds.len() {
                return Vec::new();
            }
            // Only optional steps are left: one that can change nothing is
            // given up at once; else restart now (the rest were never
            // processed), or first process one of them.
            if let Some(&i) = window.iter().find(|&&i| self.stays_inert(&c.state, i)) {
                return vec![Choice::Skip(i)];
            }
            let n = self.recovery.alternatives(&c.state, &c.trail).len();
            let mut out: Vec<Choice> = (0..n).map(Choice::Restart).collect();
            out.extend(window.into_iter().map(Choice::Apply));
            return out;
        }
        let fitting: Vec<usize> = window
            .iter()
            .copied()
            .filter(|&i| self.fits(&c.state, i))
            .collect();
        // A step that fits and can never change the state from here on is
        // taken at once, with no alternative (see `stays_inert`): an
        // optional one is marked done untaken; a required one only when
        // taking it now lets no optional step expire.
        let optional_end = window
            .iter()
            .filter(|&&i| self.optional(i))
            .map(|&i| self.steps[i].end)
            .min()
            .unwrap_or(u64::MAX);
        let forced = fitting.iter().find(|&&i| {
            self.stays_inert(&c.state, i)
                && (self.optional(i) || self.steps[i].start <= optional_end)
        });
        if let Some(&i) = forced {
            return vec![if self.optional(i) {
                Choice::Skip(i)
            } else {
                Choice::Apply(i)
            }];
        }
        // Answered steps first: an optional one is applied only as a later
        // reply needs it.
        fitting
            .iter()
            .filter(|&&i| !self.optional(i))
            .chain(fitting.iter().filter(|&&i| self.optional(i)))
            .map(|&i| Choice::Apply(i))
            .collect()
    }

    /// Whether step `i`, which fits `state`, leaves it unchanged now and in
    /// every later state of this epoch, so taking it at once loses no order:
    /// the steps before and after it see the same states wherever it goes.
    /// Only for the correct acceptor, whose state only grows within an
    /// epoch: a snapshot; a prepare at or below the promise (the promise
    /// never falls); an accept below the promise; a learn once the key has
    /// learned (a learned value never changes); a request that is not a
    /// valid protocol request. An accept at exactly the promise is not
    /// inert: a second value at the same ballot (a proposer's bug) would
    /// change the accepted proposal back and forth.
    fn stays_inert(&self, state: &InstanceState, i: usize) -> bool {
        if self.bugs != BugSet::NONE {
            return false;
        }
        let What::Exchange { request, .. } = &self.steps[i].what else {
            return true;
        };
        let promised = state.promised;
        match request {
            Request::Prepare(r) => promised.is_some_and(|p| r.ballot <= p),
            Request::Accept(r) => promised.is_some_and(|p| r.ballot < p),
            Request::Learn(_) => state.learned.is_some(),
            Request::Invalid | Request::Other => true,
        }
    }

    fn mark_done(&self, c: &mut Cursor, i: usize) {
        c.done[i] = true;
        c.zobrist ^= zobrist(i);
        if !self.optional(i) {
            c.left -= 1;
        }
        let hi = self.bounds[c.epoch].1;
        while c.first < hi && c.done[c.first] {
            c.first += 1;
        }
    }

    fn unmark(&self, c: &mut Cursor, i: usize) {
        c.done[i] = false;
        c.zobrist ^= zobrist(i);
    }

    /// Marks done every optional step of the epoch that ended before the
    /// clock (it can no longer come next), or every one left when `all`.
    fn expire(&self, c: &mut Cursor, all: bool) -> Vec<usize> {
        let hi = self.bounds[c.epoch].1;
        let mut expired = Vec::new();
        for i in c.first..hi {
            let s = &self.steps[i];
            if !all && s.start > c.clock {
                break; // it ends after it starts, so after the clock
            }
            if !c.done[i] && self.optional(i) && (all || s.end < c.clock) {
                expired.push(i);
            }
        }
        for &i in &expired {
            self.mark_done(c, i);
        }
        expired
    }

    fn apply(&self, c: &mut Cursor, choice: Choice) -> Undo {
        let undo = Undo {
            state: c.state.clone(),
            first: c.first,
            epoch: c.epoch,
            clock: c.clock,
            left: c.left,
            trail: None,
            trail_len: c.trail.len(),
            step: None,
            expired: Vec::new(),
        };
        match choice {
            Choice::Apply(i) => {
                if let What::Exchange { request, .. } = &self.steps[i].what {
                    let (_, after) = self.simulate(&c.state, request);
                    if self.recovery.any_prefix && after != c.state {
                        c.trail.push(after.clone());
                    }
                    c.state = after;
                }
                self.mark_done(c, i);
                c.clock = c.clock.max(self.steps[i].start);
                let expired = self.expire(c, false);
                Undo {
                    step: Some(i),
                    expired,
                    ..undo
                }
            }
            Choice::Skip(i) => {
                self.mark_done(c, i);
                Undo {
                    step: Some(i),
                    ..undo
                }
            }
            Choice::Restart(n) => {
                let expired = self.expire(c, true);
                let alt = self
                    .recovery
                    .alternatives(&c.state, &c.trail)
                    .swap_remove(n);
                let old_trail = std::mem::take(&mut c.trail);
                if self.recovery.any_prefix {
                    c.trail.push(alt.clone());
                }
                c.state = alt;
                c.epoch += 1;
                c.first = self.bounds[c.epoch].0;
                c.left = self.required_in(c.epoch);
                c.clock = 0;
                Undo {
                    trail: Some(old_trail),
                    expired,
                    ..undo
                }
            }
        }
    }

    fn undo(&self, c: &mut Cursor, u: Undo) {
        if let Some(i) = u.step {
            self.unmark(c, i);
        }
        for &i in &u.expired {
            self.unmark(c, i);
        }
        c.state = u.state;
        c.first = u.first;
        c.epoch = u.epoch;
        c.clock = u.clock;
        c.left = u.left;
        match u.trail {
            Some(t) => c.trail = t,
            None => c.trail.truncate(u.trail_len),
        }
    }

    fn memo_key(&self, c: &Cursor) -> (u64, u64) {
        let mut h = DefaultHasher::new();
        c.epoch.hash(&mut h);
        hash_state(&c.state, &mut h);
        c.trail.len().hash(&mut h);
        for s in &c.trail {
            hash_state(s, &mut h);
        }
        (c.zobrist, h.finish())
    }

    /// Depth-first search; the path of choices that explains every step,
    /// or the longest dead end and whether the budget ran out.
    fn search(&self, budget: usize) -> Outcome {
        struct Frame {
            key: (u64, u64),
            choices: Vec<Choice>,
            tried: usize,
            undo: Option<Undo>,
        }
        let mut cur = self.fresh();
        let mut stack: Vec<Frame> = Vec::new();
        let mut memo: HashSet<(u64, u64)> = HashSet::new();
        let mut best: Option<Vec<Choice>> = None;
        let path = |stack: &[Frame]| -> Vec<Choice> {
            stack
                .iter()
                .filter(|f| f.tried > 0)
                .map(|f| f.choices[f.tried - 1])
                .collect()
        };
        let mut spent = 0;
        loop {
            if self.finished(&cur) {
                return Outcome {
                    path: path(&stack),
                    explained: true,
                    exhausted: false,
                    tried: spent,
                };
            }
            let key = self.memo_key(&cur);
            let choices = if memo.contains(&key) {
                Vec::new()
            } else {
                self.choices(&cur)
            };
            if choices.is_empty() && best.as_ref().is_none_or(|b| b.len() < stack.len()) {
                best = Some(path(&stack));
            }
            stack.push(Frame {
                key,
                choices,
                tried: 0,
                undo: None,
            });
            loop {
                let Some(f) = stack.last_mut() else {
                    return Outcome {
                        path: best.unwrap_or_default(),
                        explained: false,
                        exhausted: false,
                        tried: spent,
                    };
                };
                if let Some(u) = f.undo.take() {
                    self.undo(&mut cur, u);
                }
                if f.tried < f.choices.len() {
                    if spent >= budget {
                        return Outcome {
                            path: best.unwrap_or_default(),
                            explained: false,
                            exhausted: true,
                            tried: spent,
                        };
                    }
                    let choice = f.choices[f.tried];
                    f.tried += 1;
                    spent += 1;
                    f.undo = Some(self.apply(&mut cur, choice));
                    break;
                }
                memo.insert(f.key);
                stack.pop();
            }
        }
    }

    /// Follows `path`, then completes the order greedily: a fitting step if
    /// there is one, else the earliest possible step regardless.
    fn complete(&self, path: &[Choice], exhausted: bool) -> Found {
        let mut cur = self.fresh();
        let mut found = Found {
            order: Vec::new(),
            skipped: Vec::new(),
            restarts: Vec::new(),
            stuck: None,
            tried: 0,
        };
        let take = |cur: &mut Cursor, found: &mut Found, choice: Choice| {
            match choice {
                Choice::Apply(i) => found.order.push(i),
                Choice::Skip(_) | Choice::Restart(_) => {}
            }
            self.apply(cur, choice);
            if let Choice::Restart(_) = choice {
                found.restarts.push(cur.state.clone());
            }
        };
        for &choice in path {
            take(&mut cur, &mut found, choice);
        }
        while !self.finished(&cur) {
            if let Some(&choice) = self.choices(&cur).first() {
                take(&mut cur, &mut found, choice);
                continue;
            }
            // Nothing fits: this is where the replies stop being explained.
            let window = self.window(&cur);
            if found.stuck.is_none() {
                found.stuck = Some(Stuck {
                    after: found.order.last().copied(),
                    epoch: cur.epoch,
                    candidates: window
                        .iter()
                        .map(|&i| Candidate {
                            step: i,
                            simulated: match &self.steps[i].what {
                                What::Exchange { request, .. } => {
                                    self.simulate(&cur.state, request).0.to_json()
                                }
                                What::Read { .. } => json!(cur.state),
                            },
                        })
                        .collect(),
                    exhausted,
                });
            }
            let next = window[0];
            take(&mut cur, &mut found, Choice::Apply(next));
        }
        let taken: HashSet<usize> = found.order.iter().copied().collect();
        found.skipped = (0..self.steps.len())
            .filter(|&i| self.optional(i) && !taken.contains(&i))
            .collect();
        found
    }
}

/// Runs one exchange on a copy of `state` (key `key`) with an acceptor
/// running `bugs`: the reply and the key's new state.
pub fn simulate(
    state: &InstanceState,
    request: &Request,
    key: &str,
    bugs: BugSet,
) -> (Reply, InstanceState) {
    let mut instances = BTreeMap::new();
    instances.insert(key.to_string(), state.clone());
    let mut acceptor = Acceptor::new(instances, bugs);
    let reply = apply(&mut acceptor, request);
    let after = acceptor.instances().get(key).cloned().unwrap_or_default();
    (reply, after)
}

/// The key's state where the search got stuck, and the steps of the
/// explained prefix that last set its promise, its accepted proposal and
/// its learned value (positions, ascending): the shortest evidence of the
/// state the next step contradicts. `None` when nothing got stuck.
pub fn stuck_state(
    steps: &[OrderStep],
    found: &Found,
    key: &str,
    bugs: BugSet,
) -> Option<(InstanceState, Vec<usize>)> {
    let stuck = found.stuck.as_ref()?;
    let prefix = match stuck.after {
        Some(after) => {
            let at = found.order.iter().position(|&p| p == after)?;
            &found.order[..=at]
        }
        None => &[],
    };
    let mut state = InstanceState::default();
    let mut epoch = 0;
    // Who last set promised, accepted, learned.
    let mut setters: [Option<usize>; 3] = [None; 3];
    let enter = |state: &mut InstanceState, epoch: &mut usize, next: usize| {
        if next > *epoch {
            if let Some(s) = found.restarts.get(next - 1) {
                *state = s.clone();
            }
            *epoch = next;
        }
    };
    for &p in prefix {
        enter(&mut state, &mut epoch, steps[p].epoch);
        if let What::Exchange { request, .. } = &steps[p].what {
            let (_, after) = simulate(&state, request, key, bugs);
            if after.promised != state.promised {
                setters[0] = Some(p);
            }
            if after.accepted != state.accepted {
                setters[1] = Some(p);
            }
            if after.learned != state.learned {
                setters[2] = Some(p);
            }
            state = after;
        }
    }
    enter(&mut state, &mut epoch, stuck.epoch);
    let mut evidence: Vec<usize> = setters.into_iter().flatten().collect();
    evidence.sort_unstable();
    evidence.dedup();
    Some((state, evidence))
}

/// Finds the order in which a node processed `steps` (one key's exchanges
/// and snapshots, sorted by epoch, then start), starting from a fresh
/// node, with `epochs` epochs (kills + 1). See the module doc.
pub fn find_order(
    steps: &[OrderStep],
    epochs: usize,
    key: &str,
    bugs: BugSet,
    budget: usize,
) -> Found {
    debug_assert!(steps
        .windows(2)
        .all(|w| (w[0].epoch, w[0].start) <= (w[1].epoch, w[1].start)));
    let epochs = epochs.max(steps.last().map_or(1, |s| s.epoch + 1));
    let mut bounds = Vec::with_capacity(epochs);
    let mut lo = 0;
    for e in 0..epochs {
        let hi = lo + steps[lo..].iter().take_while(|s| s.epoch == e).count();
        bounds.push((lo, hi));
        lo = hi;
    }
    let search = Search {
        steps,
        bounds,
        key,
        bugs,
        recovery: Recovery::of(bugs),
    };
    let outcome = search.search(budget);
    let mut found = search.complete(&outcome.path, outcome.exhausted);
    debug_assert!(!outcome.explained || found.stuck.is_none());
    found.tried = outcome.tried;
    found
}

/// The default budget for `n` steps.
pub fn budget_for(n: usize) -> usize {
    MIN_BUDGET.max(BUDGET_PER_STEP.saturating_mul(n))
}

#[cfg(test)]
mod tests;
