//! How an operation ends: the [`Outcome`] taxonomy, and the rule that
//! classifies an operation that ended without a chosen value.
//!
//! # Fail versus info
//!
//! An operation with no chosen value is `Fail` only when it is *certain*
//! that no acceptor accepted its proposal, because a single acceptance is
//! enough for a later proposer to adopt the value and get it chosen (P2c):
//! then the operation may take effect at any time, which is `info`.
//!
//! Prepares change no value, so only accepts matter. Each accept request the
//! proposer asked for (one per acceptor per accept ballot) ends in exactly
//! one of these, counted in an [`AcceptSummary`]:
//!
//! | accept request | can it have been accepted? |
//! |---|---|
//! | acked (`ok: true`) | yes |
//! | no reply (timeout, connection closed with no answer, `504`, ...) | maybe |
//! | still unanswered (in flight, or held by a scripted run) | maybe |
//! | rejected (`ok: false`) | no |
//! | refused (connection refused, proxy `502`: node down) | no |
//! | never sent | no |
//!
//! So: `Fail` iff every accept request is rejected, refused or never sent
//! (including the case of no accept request at all); else `Info` (indeterminate).
//! The reasons below say which case it was, for a person reading a history.

/// How an operation ended; the harness writes it to the history as
/// Jepsen's `ok`, `fail` or `info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It took effect: the chosen value, or `None` for a read that found no value.
    Ok(Option<String>),
    /// It certainly had no effect, and why.
    Fail(String),
    /// Indeterminate (Jepsen's `info`): it may take effect at any time after
    /// its invocation, or never, and why that is not known. The process that
    /// saw it is retired.
    Info(String),
}

impl Outcome {
    /// Whether the process that saw this outcome must be retired.
    pub fn retires_process(&self) -> bool {
        matches!(self, Outcome::Info(_))
    }

    /// Jepsen's event type for this outcome: `ok`, `fail` or `info`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Ok(_) => "ok",
            Outcome::Fail(_) => "fail",
            Outcome::Info(_) => "info",
        }
    }

    /// The reason of a `Fail` or `Info`; `None` for `Ok`.
    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Ok(_) => None,
            Outcome::Fail(why) | Outcome::Info(why) => Some(why),
        }
    }
}

/// The endings of an undecided operation, as `give_up` appends them to the
/// cause (`"<cause>; <reason>"`).
pub mod reason {
    /// Fail: no accept request was ever put on the wire.
    pub const NO_ACCEPT_SENT: &str = "no accept request was sent";
    /// Fail: accept requests were sent, but none reached an acceptor.
    pub const NO_ACCEPT_DELIVERED: &str = "no accept request was delivered";
    /// Fail: some accepts reached acceptors and each was rejected; the rest never arrived.
    pub const DELIVERED_ACCEPTS_REJECTED: &str = "every accept that was delivered was rejected";
    /// Fail: every acceptor was asked and rejected.
    pub const ALL_ACCEPTS_REJECTED: &str = "every accept was rejected";
    /// Info: an acceptor accepted, but no quorum did at one ballot.
    pub const ACCEPTED_BY_MINORITY: &str =
        "an acceptor accepted it but no quorum did: it may still be chosen";
    /// Info: an accept got no usable answer and may have been accepted.
    pub const ACCEPT_NO_REPLY: &str = "an accept got no answer: it may have taken effect";
    /// Info: an accept is still in flight (or held) and may yet be accepted.
    pub const ACCEPT_IN_FLIGHT: &str = "an accept is still in flight: it may take effect";
    /// The `minority-fail` bug's (wrong) definite failure.
    pub const MINORITY_FAIL_BUG: &str = "accepted by a minority only";
}

/// What an operation's accept requests came to, over every ballot it asked
/// to send accept at (one count per acceptor per such ballot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AcceptSummary {
    /// Answered `ok: true`.
    pub acked: usize,
    /// Answered `ok: false`.
    pub rejected: usize,
    /// Sent, but no usable answer: may have been delivered.
    pub no_reply: usize,
    /// Asked for, and nothing heard about it yet.
    pub unanswered: usize,
    /// Sent, but certainly not delivered (refused, proxy `502`).
    pub refused: usize,
    /// Certainly never sent.
    pub not_sent: usize,
}

impl AcceptSummary {
    /// Whether some accept request may have been accepted.
    pub fn may_have_effect(&self) -> bool {
        self.acked + self.no_reply + self.unanswered > 0
    }

    /// The outcome of an operation that ends now without a chosen value,
    /// `why` being the cause (see the module doc for the rule).
    pub fn outcome(&self, why: &str) -> Outcome {
        use reason::*;
        let maybe = |reason: &str| Outcome::Info(format!("{why}; {reason}"));
        let fail = |reason: &str| Outcome::Fail(format!("{why}; {reason}"));
        // Strongest evidence of a possible effect first.
        if self.acked > 0 {
            maybe(ACCEPTED_BY_MINORITY)
        } else if self.no_reply > 0 {
            maybe(ACCEPT_NO_REPLY)
        } else if self.unanswered > 0 {
            maybe(ACCEPT_IN_FLIGHT)
        } else if self.rejected == 0 && self.refused == 0 {
            fail(NO_ACCEPT_SENT)
        } else if self.rejected == 0 {
            fail(NO_ACCEPT_DELIVERED)
        } else if self.refused + self.not_sent > 0 {
            fail(DELIVERED_ACCEPTS_REJECTED)
        } else {
            fail(ALL_ACCEPTS_REJECTED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_only_when_no_accept_can_have_been_accepted() {
        let s = |acked, rejected, no_reply, unanswered, refused, not_sent| AcceptSummary {
            acked,
            rejected,
            no_reply,
            unanswered,
            refused,
            not_sent,
        };
        // (case, summary, kind, reason); the reasons are pinned literally.
        let table = [
            (
                "no accept asked for",
                s(0, 0, 0, 0, 0, 0),
                "fail",
                "no accept request was sent",
            ),
            (
                "asked for, none sent",
                s(0, 0, 0, 0, 0, 3),
                "fail",
                "no accept request was sent",
            ),
            (
                "all refused",
                s(0, 0, 0, 0, 3, 0),
                "fail",
                "no accept request was delivered",
            ),
            (
                "refused or unsent",
                s(0, 0, 0, 0, 1, 2),
                "fail",
                "no accept request was delivered",
            ),
            (
                "all rejected",
                s(0, 3, 0, 0, 0, 0),
                "fail",
                "every accept was rejected",
            ),
            (
                "rejected, rest unsent",
                s(0, 1, 0, 0, 0, 2),
                "fail",
                "every accept that was delivered was rejected",
            ),
            (
                "rejected, rest refused",
                s(0, 2, 0, 0, 1, 0),
                "fail",
                "every accept that was delivered was rejected",
            ),
            (
                "one ack",
                s(1, 2, 0, 0, 0, 0),
                "info",
                "an acceptor accepted it but no quorum did: it may still be chosen",
            ),
            (
                "ack beats no reply",
                s(1, 0, 1, 1, 0, 0),
                "info",
                "an acceptor accepted it but no quorum did: it may still be chosen",
            ),
            (
                "rejected, one timed out",
                s(0, 2, 1, 0, 0, 0),
                "info",
                "an accept got no answer: it may have taken effect",
            ),
            (
                "no reply beats in flight",
                s(0, 0, 1, 2, 0, 0),
                "info",
                "an accept got no answer: it may have taken effect",
            ),
            (
                "rejected, one still in flight",
                s(0, 2, 0, 1, 0, 0),
                "info",
                "an accept is still in flight: it may take effect",
            ),
            (
                "unsent, one in flight",
                s(0, 0, 0, 1, 0, 2),
                "info",
                "an accept is still in flight: it may take effect",
            ),
        ];
        for (case, summary, kind, reason) in table {
            let outcome = summary.outcome("gave up");
            assert_eq!(outcome.kind(), kind, "{case}");
            assert_eq!(
                outcome.error(),
                Some(format!("gave up; {reason}").as_str()),
                "{case}"
            );
            assert_eq!(summary.may_have_effect(), kind == "info", "{case}");
        }
    }

    #[test]
    fn kinds_and_errors() {
        assert_eq!(Outcome::Ok(None).kind(), "ok");
        assert_eq!(Outcome::Ok(None).error(), None);
        assert_eq!(Outcome::Fail("x".into()).kind(), "fail");
        assert_eq!(Outcome::Info("y".into()).kind(), "info");
        assert_eq!(Outcome::Info("y".into()).error(), Some("y"));
    }
}
