//! The edge core's [`Platform`] on a native machine: reqwest for upstream calls, tokio timers,
//! the system clock. Lets tests and benchmarks run the core against the fake Bedrock without
//! wrangler, and keeps what the core logged so tests can read it. Shared state (target health,
//! rate limits) lives in memory, shared by the clones of one platform: one platform stands for
//! one deployment.

use edge::{
    config::{RateLimitClass, TokenBudget},
    platform::{
        health::{HealthQuery, HealthRecord, TargetView},
        Platform, TransportError, UpstreamRequest, UpstreamResponse,
    },
    routing::{budget::BudgetBook, health::HealthStore, rate_limit::FixedWindowLimiter},
};
use futures::StreamExt;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

#[derive(Clone, Default)]
pub struct NativePlatform {
    client: reqwest::Client,
    logs: Arc<Mutex<Vec<String>>>,
    health: Arc<Mutex<HealthStore>>,
    limiter: Arc<Mutex<FixedWindowLimiter>>,
    budgets: Arc<Mutex<BudgetBook>>,
}

impl NativePlatform {
    /// The log lines written so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The health state so far.
    pub fn health(&self) -> HealthStore {
        self.health.lock().map(|h| h.clone()).unwrap_or_default()
    }
}

impl Platform for NativePlatform {
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, TransportError> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| TransportError(e.to_string()))?;
        let mut builder = self.client.request(method, &request.url).body(request.body);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| TransportError(e.to_string()))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response.bytes_stream().map(|chunk| {
            chunk
                .map(|bytes| bytes.to_vec())
                .map_err(|e| TransportError(e.to_string()))
        });
        Ok(UpstreamResponse {
            status,
            headers,
            body: Box::pin(body),
        })
    }

    fn now_ms(&self) -> u64 {
        crate::wall_clock::now_ms()
    }

    async fn sleep(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    fn random_u64(&self) -> u64 {
        // std's RandomState is randomly seeded per instance: good enough for ids and jitter.
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    }

    fn log(&self, line: &str) {
        if let Ok(mut logs) = self.logs.lock() {
            logs.push(line.to_owned());
        }
    }

    async fn health_load(&self, query: HealthQuery) -> Vec<TargetView> {
        let now = self.now_ms();
        match self.health.lock() {
            Ok(mut health) => health.load(&query, now),
            Err(_) => query
                .keys
                .iter()
                .map(|key| TargetView::unknown(key))
                .collect(),
        }
    }

    fn health_record(&self, record: HealthRecord) {
        let now = self.now_ms();
        if let Ok(mut health) = self.health.lock() {
            health.record(&record, now);
        }
    }

    async fn rate_limit(&self, class: &str, limits: RateLimitClass, bucket: &str) -> Option<bool> {
        let now = self.now_ms();
        self.limiter
            .lock()
            .ok()
            .map(|mut l| l.hit(class, limits, bucket, now))
    }

    async fn budget_spent(&self, client: &str, budget: TokenBudget) -> Option<u64> {
        let now = self.now_ms();
        self.budgets
            .lock()
            .ok()
            .map(|book| book.spent(client, &budget, now))
    }

    async fn verify_rs256(&self, n: &str, e: &str, signed: &[u8], signature: &[u8]) -> bool {
        crate::access_issuer::verify_rs256(n, e, signed, signature)
    }

    fn budget_charge(&self, client: &str, budget: TokenBudget, tokens: u64) {
        let now = self.now_ms();
        if let Ok(mut book) = self.budgets.lock() {
            book.charge(client, &budget, now, tokens);
        }
    }
}
