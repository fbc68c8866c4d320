//! A [`HealthReport`] as it is posted to the health store: `{"key":"m@r","outcome":"success",
//! "ttft_ms":5}`, `{"key":"m@r","outcome":"failure"}`, `"refused"` or `"released"`. Written and read as a flat struct:
//! serde's flattened, internally tagged enums buffer every value before reading it, code that
//! cost the Worker several KB.

use super::{HealthReport, Outcome};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub(super) struct WireReport {
    key: String,
    /// `success`, `failure`, `refused` or `released`.
    outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttft_ms: Option<u64>,
}

impl From<HealthReport> for WireReport {
    fn from(report: HealthReport) -> Self {
        let (outcome, ttft_ms) = match report.outcome {
            Outcome::Success { ttft_ms } => ("success", ttft_ms),
            Outcome::Failure => ("failure", None),
            Outcome::Refused => ("refused", None),
            Outcome::Released => ("released", None),
        };
        Self {
            key: report.key,
            outcome: outcome.to_owned(),
            ttft_ms,
        }
    }
}

impl TryFrom<WireReport> for HealthReport {
    type Error = String;

    fn try_from(wire: WireReport) -> Result<Self, String> {
        let outcome = match wire.outcome.as_str() {
            "success" => Outcome::Success {
                ttft_ms: wire.ttft_ms,
            },
            "failure" => Outcome::Failure,
            "refused" => Outcome::Refused,
            "released" => Outcome::Released,
            other => return Err(format!("unknown outcome `{other}`")),
        };
        Ok(Self {
            key: wire.key,
            outcome,
        })
    }
}
