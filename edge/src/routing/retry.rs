//! The one retry path's decisions, pure: full-jitter exponential backoff (randomness passed
//! in), `Retry-After` / `x-amz-retry-after` honoured, a per-target attempt limit and an overall
//! deadline. The pipeline asks [`next_step`] after each failed attempt and does what it says;
//! it never asks once the first `delta` has reached the client.

use crate::bedrock::error::{BedrockError, BedrockErrorKind};
use crate::config::policy::RetryPolicy;
use crate::routing::circuit::refuses_to_serve;

/// Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"): a uniformly random
/// wait from 0 to `min(max, base * 2^(retry - 1))`; `retry` is 1 for the first retry.
pub fn backoff_ms(policy: &RetryPolicy, retry: u32, random: u64) -> u64 {
    let doublings = retry.saturating_sub(1).min(32);
    let ceiling = policy
        .base_backoff_ms
        .saturating_mul(1u64 << doublings)
        .min(policy.max_backoff_ms);
    random % (ceiling + 1)
}

/// The overall time budget of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub at_ms: u64,
}

impl Deadline {
    pub fn new(started_ms: u64, policy: &RetryPolicy) -> Self {
        Self {
            at_ms: started_ms.saturating_add(policy.deadline_ms),
        }
    }

    /// Milliseconds left at `now_ms` (0 once passed).
    pub fn remaining(&self, now_ms: u64) -> u64 {
        self.at_ms.saturating_sub(now_ms)
    }
}

/// What about a failed attempt matters for the next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub retryable: bool,
    /// The target did not answer in time: try another target rather than wait on it again.
    pub timed_out: bool,
    /// The target refuses to serve at all: another one may.
    pub refused: bool,
    /// The wait the upstream asked for.
    pub retry_after_ms: Option<u64>,
}

impl Failure {
    pub fn of(error: &BedrockError) -> Self {
        Self {
            retryable: error.retryable(),
            timed_out: matches!(
                error.kind,
                BedrockErrorKind::FirstByteTimeout | BedrockErrorKind::IdleTimeout
            ),
            refused: refuses_to_serve(error.kind),
            retry_after_ms: error.retry_after_ms,
        }
    }
}

/// What to do after a failed attempt that happened before any text reached the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Call the same target again after `delay_ms`.
    Retry { delay_ms: u64 },
    /// Move down the chain (or to the last resort when it is used up).
    NextTarget,
    /// The error is not one a retry or another target would fix: report it.
    Stop,
}

/// Decides the next step. `attempts` is how many calls this target has had (this one
/// included); `random` feeds the jitter.
pub fn next_step(
    policy: &RetryPolicy,
    failure: Failure,
    attempts: u32,
    now_ms: u64,
    deadline: Deadline,
    random: u64,
) -> Next {
    if failure.refused {
        return Next::NextTarget;
    }
    if !failure.retryable {
        return Next::Stop;
    }
    if failure.timed_out || attempts >= policy.max_attempts {
        return Next::NextTarget;
    }
    let delay_ms = match failure.retry_after_ms {
        Some(ms) if ms > policy.max_backoff_ms => return Next::NextTarget,
        Some(ms) => ms,
        None => backoff_ms(policy, attempts, random),
    };
    // Waiting must leave time for the call itself.
    if delay_ms >= deadline.remaining(now_ms) {
        return Next::NextTarget;
    }
    Next::Retry { delay_ms }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        base_backoff_ms: 100,
        max_backoff_ms: 1_000,
        deadline_ms: 10_000,
    };

    fn retryable() -> Failure {
        Failure {
            retryable: true,
            timed_out: false,
            refused: false,
            retry_after_ms: None,
        }
    }

    #[test]
    fn full_jitter_stays_within_the_doubling_ceiling() {
        let ceilings = [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1_000),
            (40, 1_000),
        ];
        for (retry, ceiling) in ceilings {
            for random in [0, 1, 99, 12_345, u64::MAX - 1, u64::MAX] {
                let wait = backoff_ms(&POLICY, retry, random);
                assert!(wait <= ceiling, "retry {retry}: {wait} > {ceiling}");
            }
            // The whole range is reachable, both ends included.
            assert_eq!(backoff_ms(&POLICY, retry, ceiling), ceiling);
            assert_eq!(backoff_ms(&POLICY, retry, ceiling + 1), 0);
        }
    }

    #[test]
    fn retries_then_moves_down_the_chain() {
        let deadline = Deadline::new(0, &POLICY);
        let step = |attempts| next_step(&POLICY, retryable(), attempts, 0, deadline, 50);
        assert_eq!(step(1), Next::Retry { delay_ms: 50 });
        assert_eq!(step(2), Next::Retry { delay_ms: 50 });
        assert_eq!(step(3), Next::NextTarget);
    }

    #[test]
    fn only_retryable_errors_are_retried_and_timeouts_move_on() {
        let deadline = Deadline::new(0, &POLICY);
        let fatal = Failure {
            retryable: false,
            ..retryable()
        };
        assert_eq!(next_step(&POLICY, fatal, 1, 0, deadline, 0), Next::Stop);
        let timeout = Failure {
            timed_out: true,
            ..retryable()
        };
        assert_eq!(
            next_step(&POLICY, timeout, 1, 0, deadline, 0),
            Next::NextTarget
        );
        let refused = Failure {
            refused: true,
            ..fatal
        };
        assert_eq!(
            next_step(&POLICY, refused, 1, 0, deadline, 0),
            Next::NextTarget
        );
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_backoff_cap() {
        let deadline = Deadline::new(0, &POLICY);
        let after = |ms| Failure {
            retry_after_ms: Some(ms),
            ..retryable()
        };
        assert_eq!(
            next_step(&POLICY, after(700), 1, 0, deadline, 3),
            Next::Retry { delay_ms: 700 }
        );
        assert_eq!(
            next_step(&POLICY, after(1_001), 1, 0, deadline, 3),
            Next::NextTarget
        );
    }

    #[test]
    fn no_wait_runs_past_the_deadline() {
        let deadline = Deadline::new(1_000, &POLICY);
        assert_eq!(deadline.remaining(10_000), 1_000);
        assert_eq!(deadline.remaining(12_000), 0);
        // 80 ms of backoff with 100 ms left: fine; with 80 ms left: move on.
        assert_eq!(
            next_step(&POLICY, retryable(), 1, 10_900, deadline, 80),
            Next::Retry { delay_ms: 80 }
        );
        assert_eq!(
            next_step(&POLICY, retryable(), 1, 10_920, deadline, 80),
            Next::NextTarget
        );
    }

    #[test]
    fn policy_bounds() {
        assert_eq!(RetryPolicy::default().check(), Ok(()));
        for bad in [
            RetryPolicy {
                max_attempts: 0,
                ..POLICY
            },
            RetryPolicy {
                max_backoff_ms: 50,
                ..POLICY
            },
            RetryPolicy {
                deadline_ms: 0,
                ..POLICY
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
