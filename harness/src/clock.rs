//! The run's clock: nanoseconds since the test began, monotonic.
//!
//! One `Clock` is shared (it is `Copy`) by the history writer, the proxy, the
//! nemesis and the snapshot taker, so their records can be ordered against
//! each other.

use std::time::{Duration, Instant};

/// A monotonic clock whose zero is the start of the test.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// Starts the clock now.
    pub fn start() -> Self {
        Clock {
            start: Instant::now(),
        }
    }

    /// Nanoseconds since the clock started.
    pub fn now(&self) -> u64 {
        self.elapsed().as_nanos() as u64
    }

    /// Time since the clock started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_goes_backwards() {
        let clock = Clock::start();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
    }
}
