//! The answer of `GET /api/health`: each configured target's circuit state and recent latency
//! and error rate, as the edge's shared health state holds them.

use serde::{Deserialize, Serialize};

/// One target (`model` in `region`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetHealthInfo {
    pub model: String,
    pub region: String,
    /// `closed` (calls go through), `open` (skipped until the cool-down ends) or `half_open`
    /// (one probe call is out).
    pub circuit: String,
    /// Moving average of the time from sending a call to its first text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<u64>,
    /// Moving average of failures, 0 to 1.
    pub error_rate: f64,
    /// Outcomes recorded so far.
    pub samples: u64,
}

/// Every target of every route, once each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// `ok` when every circuit is closed, else `degraded`.
    pub status: String,
    pub targets: Vec<TargetHealthInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_has_the_documented_shape() {
        let health = HealthResponse {
            status: "degraded".into(),
            targets: vec![TargetHealthInfo {
                model: "m".into(),
                region: "us-east-1".into(),
                circuit: "open".into(),
                ttft_ms: Some(420),
                error_rate: 0.5,
                samples: 12,
            }],
        };
        let json = serde_json::to_string(&health).unwrap();
        assert_eq!(
            json,
            r#"{"status":"degraded","targets":[{"model":"m","region":"us-east-1","circuit":"open","ttft_ms":420,"error_rate":0.5,"samples":12}]}"#
        );
        assert_eq!(
            serde_json::from_str::<HealthResponse>(&json).unwrap(),
            health
        );
    }
}
