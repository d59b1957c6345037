//! The async runtime every command runs on.

use std::future::Future;

use ballot_core::verdict::Validity;

use crate::error::Error;

/// Runs a command's future on a new multi-threaded runtime; a runtime that
/// cannot start is a harness failure.
pub fn block_on(command: impl Future<Output = Result<Validity, Error>>) -> Result<Validity, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?
        .block_on(command)
}
