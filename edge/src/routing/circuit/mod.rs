//! A circuit breaker per upstream target (`model@region`), as a pure state machine: every
//! transition takes the time explicitly, so the same code runs in the Durable Object that shares
//! the state between isolates, in the native test platforms, and in the tests below.
//!
//! # Semantics
//!
//! * **Closed**: requests go through. A failure that counts against the target (see
//!   [`counts_against_target`]) adds to a run of consecutive failures and to a sliding window of
//!   the last `window` outcomes; a success ends the run. The circuit **opens** when the run
//!   reaches `failure_threshold`, or, with `error_rate` set, when the window holds at least
//!   `window` outcomes and the share of failures in it reaches `error_rate`.
//! * **Open**: requests skip the target without calling it (fail fast) until `cool_down_ms`
//!   have passed since it opened.
//! * **Half-open**: the first request to ask after the cool-down is granted the one probe; every
//!   other request keeps skipping the target while the probe is out. A successful probe closes
//!   the circuit (run and window cleared); a failed one opens it again for another cool-down. A
//!   request that ends without using its probe (an earlier target answered, or its client
//!   left) releases it to the next request; a probe that never reports back at all (its
//!   isolate died) expires after `cool_down_ms`.
//!
//! * **Refused**: a target that refuses to serve at all (access denied, model not found there)
//!   opens at once, from any state, for a cool-down: the request moves on along the chain.
//!
//! Client errors (validation, expired credentials) and client disconnects do not count either
//! way: they say nothing about the target's health.

use crate::bedrock::error::BedrockErrorKind;
use crate::{
    config::policy::CircuitPolicy,
    platform::health::{Admission, Outcome},
};
use serde::{Deserialize, Serialize};
use stored::StoredCircuit;

mod stored;

/// The state of one target's circuit. Serialised as stored by the Durable Object
/// ([`stored`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "StoredCircuit", try_from = "StoredCircuit")]
pub enum Circuit {
    Closed {
        /// The current run of failures.
        consecutive_failures: u32,
        /// The last outcomes, newest in bit 0 (1 = failure).
        window_bits: u64,
        /// How many outcomes `window_bits` holds.
        window_len: u32,
    },
    Open {
        opened_ms: u64,
    },
    HalfOpen {
        /// When the probe was granted; it expires a cool-down later.
        probe_started_ms: u64,
    },
}

impl Default for Circuit {
    fn default() -> Self {
        Self::closed()
    }
}

impl Circuit {
    pub fn closed() -> Self {
        Self::Closed {
            consecutive_failures: 0,
            window_bits: 0,
            window_len: 0,
        }
    }

    /// `closed`, `open` or `half_open`, for `/api/health` and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Closed { .. } => "closed",
            Self::Open { .. } => "open",
            Self::HalfOpen { .. } => "half_open",
        }
    }

    /// Asks to use the target at `now_ms`. Grants the probe (and moves to half-open) when an
    /// open circuit has cooled down, or when the previous probe expired.
    pub fn admit(&mut self, now_ms: u64, policy: &CircuitPolicy) -> Admission {
        match *self {
            Self::Closed { .. } => Admission::Allowed,
            Self::Open { opened_ms }
            | Self::HalfOpen {
                probe_started_ms: opened_ms,
            } if now_ms.saturating_sub(opened_ms) >= policy.cool_down_ms => {
                *self = Self::HalfOpen {
                    probe_started_ms: now_ms,
                };
                Admission::Probe
            }
            Self::Open { .. } | Self::HalfOpen { .. } => Admission::Rejected,
        }
    }

    /// What [`admit`](Self::admit) would answer, without granting a probe.
    pub fn peek(&self, now_ms: u64, policy: &CircuitPolicy) -> Admission {
        let mut copy = *self;
        copy.admit(now_ms, policy)
    }

    /// A call to the target succeeded: the circuit closes (from any state).
    pub fn on_success(&mut self) {
        *self = match *self {
            Self::Closed {
                window_bits,
                window_len,
                ..
            } => Self::Closed {
                consecutive_failures: 0,
                window_bits: window_bits << 1,
                window_len: window_len.saturating_add(1),
            },
            Self::Open { .. } | Self::HalfOpen { .. } => Self::closed(),
        };
        self.trim(64);
    }

    /// A call to the target failed at `now_ms` in a way that counts against it.
    pub fn on_failure(&mut self, now_ms: u64, policy: &CircuitPolicy) {
        match *self {
            Self::Closed {
                consecutive_failures,
                window_bits,
                window_len,
            } => {
                let window = policy.window.clamp(1, 64);
                let mut next = Self::Closed {
                    consecutive_failures: consecutive_failures.saturating_add(1),
                    window_bits: (window_bits << 1) | 1,
                    window_len: window_len.saturating_add(1),
                };
                next.trim(window);
                if next.should_open(policy) {
                    next = Self::Open { opened_ms: now_ms };
                }
                *self = next;
            }
            // A failed probe, or a late report from a request admitted before the circuit
            // opened: (re)open for a full cool-down from now.
            Self::HalfOpen { .. } => *self = Self::Open { opened_ms: now_ms },
            Self::Open { .. } => {}
        }
    }

    /// The target refused to serve at `now_ms` (see [`failure_outcome`]): it opens for a full
    /// cool-down from now, whatever its state, and is probed again after it.
    pub fn on_refusal(&mut self, now_ms: u64) {
        *self = Self::Open { opened_ms: now_ms };
    }

    /// The request holding the half-open probe ended without using it: the probe goes to the
    /// next request that asks, instead of after its expiry.
    pub fn release_probe(&mut self, now_ms: u64, policy: &CircuitPolicy) {
        if let Self::HalfOpen { .. } = self {
            *self = Self::Open {
                opened_ms: now_ms.saturating_sub(policy.cool_down_ms),
            };
        }
    }

    /// Keeps only the newest `window` outcomes.
    fn trim(&mut self, window: u32) {
        if let Self::Closed {
            window_bits,
            window_len,
            ..
        } = self
        {
            let window = window.clamp(1, 64);
            if *window_len > window {
                *window_len = window;
            }
            if window < 64 {
                *window_bits &= (1u64 << window) - 1;
            }
        }
    }

    fn should_open(&self, policy: &CircuitPolicy) -> bool {
        let Self::Closed {
            consecutive_failures,
            window_bits,
            window_len,
        } = *self
        else {
            return false;
        };
        if consecutive_failures >= policy.failure_threshold {
            return true;
        }
        match policy.error_rate {
            Some(rate) if window_len >= policy.window.clamp(1, 64) => {
                f64::from(window_bits.count_ones()) / f64::from(window_len) >= rate
            }
            _ => false,
        }
    }
}

/// What a failure of this kind says of the target's health. Exhaustive on purpose: a new kind
/// must be placed here. Throttling and faults count as failures (the target cannot take more
/// now); a refusal to serve this caller at all (access denied, no such model in that region,
/// a signature or client the region does not accept) opens the target's circuit at once,
/// since every request would get the same; requests the target rightly refused (validation,
/// quotas), expired or missing credentials (the same for every target) and the edge's own
/// problems say nothing.
pub fn failure_outcome(kind: BedrockErrorKind) -> Option<Outcome> {
    if refuses_to_serve(kind) {
        return Some(Outcome::Refused);
    }
    let counts = match kind {
        BedrockErrorKind::Throttling
        | BedrockErrorKind::ModelNotReady
        | BedrockErrorKind::ServiceUnavailable
        | BedrockErrorKind::InternalServer
        | BedrockErrorKind::ModelTimeout
        | BedrockErrorKind::ModelError
        | BedrockErrorKind::ModelStreamError
        | BedrockErrorKind::Transport
        | BedrockErrorKind::FirstByteTimeout
        | BedrockErrorKind::IdleTimeout
        | BedrockErrorKind::BadFrame
        | BedrockErrorKind::Truncated => true,
        BedrockErrorKind::Validation
        | BedrockErrorKind::AccessDenied
        | BedrockErrorKind::ResourceNotFound
        | BedrockErrorKind::ServiceQuotaExceeded
        | BedrockErrorKind::Conflict
        | BedrockErrorKind::InvalidSignature
        | BedrockErrorKind::UnrecognizedClient
        | BedrockErrorKind::ExpiredToken
        | BedrockErrorKind::MissingAuthentication
        | BedrockErrorKind::EdgeMisconfigured
        | BedrockErrorKind::Unknown => false,
    };
    counts.then_some(Outcome::Failure)
}

/// Whether the target refused to serve at all: another target (region, account, model) may
/// well serve, so the request moves on along the chain without retrying this one.
pub fn refuses_to_serve(kind: BedrockErrorKind) -> bool {
    matches!(
        kind,
        BedrockErrorKind::AccessDenied
            | BedrockErrorKind::ResourceNotFound
            | BedrockErrorKind::InvalidSignature
            | BedrockErrorKind::UnrecognizedClient
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: CircuitPolicy = CircuitPolicy {
        failure_threshold: 3,
        cool_down_ms: 1_000,
        window: 4,
        error_rate: None,
    };

    #[test]
    fn opens_after_n_consecutive_failures_and_fails_fast() {
        let mut circuit = Circuit::closed();
        circuit.on_failure(10, &POLICY);
        circuit.on_failure(20, &POLICY);
        assert_eq!(circuit.admit(25, &POLICY), Admission::Allowed);
        // A success ends the run.
        circuit.on_success();
        circuit.on_failure(30, &POLICY);
        circuit.on_failure(40, &POLICY);
        assert_eq!(circuit.name(), "closed");
        circuit.on_failure(50, &POLICY);
        assert_eq!(circuit, Circuit::Open { opened_ms: 50 });
        assert_eq!(circuit.admit(51, &POLICY), Admission::Rejected);
        assert_eq!(circuit.admit(1_049, &POLICY), Admission::Rejected);
        // More failures (late reports) do not extend the cool-down.
        circuit.on_failure(900, &POLICY);
        assert_eq!(circuit, Circuit::Open { opened_ms: 50 });
    }

    #[test]
    fn half_opens_after_the_cool_down_with_one_probe() {
        let mut circuit = Circuit::Open { opened_ms: 0 };
        assert_eq!(circuit.peek(1_000, &POLICY), Admission::Probe);
        assert_eq!(
            circuit,
            Circuit::Open { opened_ms: 0 },
            "peek changes nothing"
        );
        assert_eq!(circuit.admit(1_000, &POLICY), Admission::Probe);
        assert_eq!(
            circuit,
            Circuit::HalfOpen {
                probe_started_ms: 1_000
            }
        );
        // Everyone else keeps failing fast while the probe is out.
        assert_eq!(circuit.admit(1_001, &POLICY), Admission::Rejected);
        assert_eq!(circuit.admit(1_999, &POLICY), Admission::Rejected);

        let mut succeeded = circuit;
        succeeded.on_success();
        assert_eq!(succeeded, Circuit::closed());
        assert_eq!(succeeded.admit(1_500, &POLICY), Admission::Allowed);

        let mut failed = circuit;
        failed.on_failure(1_500, &POLICY);
        assert_eq!(failed, Circuit::Open { opened_ms: 1_500 });
        assert_eq!(failed.admit(2_499, &POLICY), Admission::Rejected);
        assert_eq!(failed.admit(2_500, &POLICY), Admission::Probe);
    }

    #[test]
    fn a_lost_probe_expires_after_a_cool_down() {
        let mut circuit = Circuit::HalfOpen {
            probe_started_ms: 5_000,
        };
        assert_eq!(circuit.admit(5_999, &POLICY), Admission::Rejected);
        assert_eq!(circuit.admit(6_000, &POLICY), Admission::Probe);
        assert_eq!(
            circuit,
            Circuit::HalfOpen {
                probe_started_ms: 6_000
            }
        );
    }

    #[test]
    fn error_rate_over_a_full_window_opens() {
        let policy = CircuitPolicy {
            failure_threshold: 100,
            error_rate: Some(0.5),
            ..POLICY
        };
        let mut circuit = Circuit::closed();
        // fail, ok, fail: the window (4) is not full yet.
        circuit.on_failure(1, &policy);
        circuit.on_success();
        circuit.on_failure(2, &policy);
        assert_eq!(circuit.name(), "closed");
        circuit.on_success();
        // ok fail ok fail -> [fail ok fail ok] then one more failure: 3 of the last 4 failed.
        circuit.on_failure(3, &policy);
        assert_eq!(circuit, Circuit::Open { opened_ms: 3 });

        // A window of successes keeps it closed.
        let mut healthy = Circuit::closed();
        for t in 0..10 {
            healthy.on_success();
            if t % 4 == 0 {
                healthy.on_failure(t, &policy);
            }
        }
        assert_eq!(healthy.name(), "closed");
    }

    #[test]
    fn state_round_trips_as_stored() {
        let cases = [
            (
                Circuit::Closed {
                    consecutive_failures: 2,
                    window_bits: 5,
                    window_len: 3,
                },
                r#"{"state":"closed","consecutive_failures":2,"window_bits":5,"window_len":3}"#,
            ),
            (
                Circuit::Open { opened_ms: 7 },
                r#"{"state":"open","opened_ms":7}"#,
            ),
            (
                Circuit::HalfOpen {
                    probe_started_ms: 9,
                },
                r#"{"state":"half_open","probe_started_ms":9}"#,
            ),
        ];
        for (circuit, json) in cases {
            assert_eq!(serde_json::to_string(&circuit).unwrap(), json);
            assert_eq!(serde_json::from_str::<Circuit>(json).unwrap(), circuit);
        }
        for bad in [
            r#"{"state":"open"}"#,
            r#"{"state":"closed","window_bits":0,"window_len":0}"#,
            r#"{"state":"ajar","opened_ms":1}"#,
        ] {
            assert!(serde_json::from_str::<Circuit>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn policy_bounds() {
        assert_eq!(CircuitPolicy::default().check(), Ok(()));
        let bad = [
            CircuitPolicy {
                failure_threshold: 0,
                ..POLICY
            },
            CircuitPolicy {
                cool_down_ms: 0,
                ..POLICY
            },
            CircuitPolicy {
                window: 65,
                ..POLICY
            },
            CircuitPolicy {
                error_rate: Some(0.0),
                ..POLICY
            },
            CircuitPolicy {
                error_rate: Some(1.5),
                ..POLICY
            },
        ];
        for policy in bad {
            assert!(policy.check().is_err(), "{policy:?}");
        }
    }

    #[test]
    fn which_failures_count() {
        let outcome = failure_outcome;
        assert_eq!(
            outcome(BedrockErrorKind::Throttling),
            Some(Outcome::Failure)
        );
        assert_eq!(
            outcome(BedrockErrorKind::FirstByteTimeout),
            Some(Outcome::Failure)
        );
        assert_eq!(outcome(BedrockErrorKind::Validation), None);
        assert_eq!(outcome(BedrockErrorKind::ExpiredToken), None);
        assert_eq!(
            outcome(BedrockErrorKind::AccessDenied),
            Some(Outcome::Refused)
        );
    }
}
