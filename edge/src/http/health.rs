//! `GET /api/health`: every configured target's circuit, latency and error rate, read from
//! the shared health store without claiming probes.

use super::{json, ApiResponse, Edge};
use crate::platform::{health::HealthQuery, Platform};
use shared::health::{HealthResponse, TargetHealthInfo};

impl<P: Platform> Edge<P> {
    /// `GET /api/health`: every configured target's circuit, latency and error rate.
    pub(super) async fn health(&self) -> ApiResponse {
        let config = &self.settings.config;
        let targets = config.all_targets();
        let views = self
            .platform
            .health_load(HealthQuery {
                keys: targets.iter().map(|t| t.key()).collect(),
                circuit: config.circuit,
                claim_probes: false,
            })
            .await;
        let targets: Vec<TargetHealthInfo> = targets
            .iter()
            .zip(views)
            .map(|(target, view)| TargetHealthInfo {
                model: target.public_model(),
                region: target.region.clone(),
                circuit: view.circuit,
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                ttft_ms: view.ttft_ms.map(|ms| ms.round() as u64),
                error_rate: (view.error_rate * 1000.0).round() / 1000.0,
                samples: view.samples,
            })
            .collect();
        let status = if targets.iter().all(|t| t.circuit == "closed") {
            "ok"
        } else {
            "degraded"
        };
        let mut response = json(
            200,
            &HealthResponse {
                status: status.into(),
                targets,
            },
        );
        response
            .headers
            .push(("cache-control".into(), "no-store".into()));
        response
    }
}
