//! Jepsen's exit codes, in one place below every command (so `cli` can sit
//! on top): a verdict's code comes from [`Validity::exit_code`], a failure's
//! from [`crate::Error::exit_code`], and [`code`] picks between them.

use ballot_core::verdict::Validity;

use crate::error::Error;

/// Exit code: the test ran and every checker found the history valid.
pub const EXIT_VALID: i32 = 0;
/// Exit code: a checker found a violation.
pub const EXIT_INVALID: i32 = 1;
/// Exit code: a checker could not decide.
pub const EXIT_UNKNOWN: i32 = 2;
/// Exit code: the command line was wrong.
pub const EXIT_BAD_ARGS: i32 = 254;
/// Exit code: the harness itself failed (a node did not start, a port was
/// in use, an I/O error); never a verdict.
pub const EXIT_HARNESS_FAILURE: i32 = 255;

/// The exit code of a command's outcome; an error is printed on stderr first.
pub fn code(outcome: Result<Validity, Error>) -> i32 {
    match outcome {
        Ok(validity) => validity.exit_code(),
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_and_failures_have_jepsen_codes() {
        assert_eq!(code(Ok(Validity::Valid)), EXIT_VALID);
        assert_eq!(code(Ok(Validity::Invalid)), EXIT_INVALID);
        assert_eq!(code(Ok(Validity::Unknown)), EXIT_UNKNOWN);
        assert_eq!(code(Err(Error::Input("bad".into()))), EXIT_BAD_ARGS);
        assert_eq!(code(Err(Error::Check("io".into()))), EXIT_HARNESS_FAILURE);
    }
}
