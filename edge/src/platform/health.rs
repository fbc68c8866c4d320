//! The messages between the core and the host's shared health store (a Durable Object on
//! Workers, memory in native tests): what is asked, what is recorded, and what a target looks
//! like to a request. Plain data; the transitions live in `routing::health`.

use crate::config::policy::CircuitPolicy;
use serde::{Deserialize, Serialize};
use wire::WireReport;

mod wire;

/// Whether a request may use a target now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Admission {
    /// Closed: go ahead.
    Allowed,
    /// This request carries the half-open probe.
    Probe,
    /// Open, or half-open with the probe out: skip the target.
    Rejected,
}

/// How one call to a target went, as far as its health goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// The target answered; `ttft_ms` from sending the call to its first text (or to the whole
    /// answer, for non-streamed calls), when there was text.
    Success { ttft_ms: Option<u64> },
    /// A failure that counts against the target (`routing::circuit::failure_outcome`).
    Failure,
    /// The target refused to serve at all (access denied, model not found there, signature
    /// refused): it is left out for a cool-down.
    Refused,
    /// The request was granted the target's half-open probe and ended without using it (an
    /// earlier target answered, or the client left): the next request may probe at once.
    Released,
}

/// One outcome of one target. Crosses the seam as a flat object ([`wire`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "WireReport", try_from = "WireReport")]
pub struct HealthReport {
    pub key: String,
    pub outcome: Outcome,
}

/// A request to the store: the state of `keys`; with `claim_probes`, a cooled-down open circuit
/// grants this caller its half-open probe (planning), else nothing changes (`/api/health`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthQuery {
    pub keys: Vec<String>,
    pub circuit: CircuitPolicy,
    pub claim_probes: bool,
}

/// Outcomes to fold into the store, all from one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthRecord {
    pub reports: Vec<HealthReport>,
    pub circuit: CircuitPolicy,
    pub ewma_alpha: f64,
}

/// One target as the store sees it now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetView {
    pub key: String,
    pub admission: Admission,
    /// `closed`, `open` or `half_open`.
    pub circuit: String,
    pub ttft_ms: Option<f64>,
    pub error_rate: f64,
    pub samples: u64,
}

impl TargetView {
    /// A target the store knows nothing about (or could not be asked about): healthy.
    pub fn unknown(key: &str) -> Self {
        Self {
            key: key.to_owned(),
            admission: Admission::Allowed,
            circuit: "closed".into(),
            ttft_ms: None,
            error_rate: 0.0,
            samples: 0,
        }
    }
}
