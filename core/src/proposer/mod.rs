//! The Basic Paxos proposer, as pure logic (no I/O, no clock).
//!
//! # The algorithm (Lamport, *Paxos Made Simple*; docs/design.md "Proposers")
//!
//! Each key is an independent write-once register decided by Basic Paxos.
//! A proposer that wants value `v` chosen runs attempts (rounds) until one
//! succeeds or it gives up:
//!
//! 1. **Fresh ballot.** It picks a ballot `(round, id)` whose round is
//!    strictly above its own last round and every round it has seen in a
//!    reply, with its own proposer id, so no two proposers share a ballot.
//! 2. **Phase 1 (prepare).** It sends `prepare(b)` to every acceptor and
//!    waits for a *quorum*: `n/2 + 1` distinct acceptors (two quorums always
//!    share one). A promise says "I will refuse ballots below b" and reports
//!    the highest-ballot proposal the acceptor accepted (P1a).
//! 3. **Value choice (P2c).** If any promise reports an accepted proposal,
//!    the proposer must propose the value of the one with the highest
//!    ballot; only if none does may it propose its own `v`. The safety
//!    argument is written at that branch, in [`rules::choose_value`].
//! 4. **Phase 2 (accept).** It sends `accept(b, value)` to every acceptor.
//!    Once a quorum acked the same ballot the value is chosen: the proposer
//!    tells the acceptors (learn) and returns it, even if it is not `v`.
//! 5. A rejection carries the acceptor's promise; when a quorum is no longer
//!    possible the attempt fails and the next one starts above that promise.
//!
//! A read is the same round without a value of its own: if no promise of a
//! quorum reports an accepted proposal, nothing is chosen yet (`Ok(None)`,
//! no phase 2); otherwise it completes phase 2 for the highest-ballot value
//! and returns it only once a quorum accepted it, because the highest
//! accepted value may be an unchosen leftover (S10).
//!
//! # Outcome taxonomy
//!
//! Every operation ends in exactly one [`Outcome`], which the harness writes
//! to the history as Jepsen's `ok`, `fail` or `info`:
//!
//! - `Ok(Some(v))`: `v` is chosen (a quorum accepted it at one ballot). For a
//!   propose it may differ from the proposed value.
//! - `Ok(None)` (reads only): a quorum promised and none had accepted
//!   anything, so no value was chosen when the read began.
//! - `Fail(reason)`: certainly no effect: no acceptor can have accepted any
//!   of its proposals. Each accept request it asked for was explicitly
//!   rejected (`ok: false`), certainly not delivered (connection refused,
//!   the harness proxy's `502`), or never sent; or it sent none at all.
//! - `Indeterminate(reason)`: everything else (an ack short of a quorum, a
//!   timeout or a connection closed with no answer, an accept still in
//!   flight). An accept that reached even one acceptor may be adopted by a
//!   later proposer and chosen at any time; the checker must allow both.
//!
//! The rule and its reasons live in [`outcome`]. The driver reports each
//! request's fate as an [`Event`]; an accept it never reports counts as
//! possibly delivered, so a forgetful driver errs towards `info`, never
//! towards a false `fail`.
//!
//! # Layout
//!
//! - [`outcome`]: the outcome taxonomy and the fail-versus-info rule.
//! - [`rules`]: quorum size, fresh ballots, which value phase 2 proposes.
//! - [`machine`]: one operation as a state machine over reply events.
//! - [`bugs`]: the proposer bug catalogue (`--client-bug`).

pub mod bugs;
pub mod machine;
pub mod outcome;
pub mod rules;

#[cfg(test)]
mod tests;

pub use bugs::{ClientBug, UnknownClientBug};
pub use machine::{Action, Event, Goal, Proposer, ProposerConfig, Undelivered};
pub use outcome::{reason, AcceptSummary, Outcome};
pub use rules::{choose_value, next_ballot, quorum_size, Choice};
