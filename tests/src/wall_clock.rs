//! The native clocks: the one place this crate reads the system time or the monotonic clock
//! (the workspace's clippy configuration refuses both elsewhere). It is test support that runs
//! only natively; the edge itself takes time from `Platform::now_ms`, because reading the clock
//! panics on wasm32.

#![allow(
    clippy::disallowed_methods,
    reason = "this module is the native tests' one clock"
)]

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Now, as a `SystemTime` (for signing requests in tests).
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// Now on the monotonic clock, for measuring elapsed time and deadlines.
pub fn instant() -> Instant {
    Instant::now()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}
