//! The native wall clock: the one place this crate reads the system time. It is test support
//! that runs only natively; the edge itself takes time from `Platform::now_ms`, because
//! reading the clock panics on wasm32.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as a `SystemTime` (for signing requests in tests).
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}
