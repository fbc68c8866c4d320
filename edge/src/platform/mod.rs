//! What the core needs from its host: an HTTP client for upstream calls, a wall clock, timers,
//! randomness, logging, and state shared between requests (target health, rate limits). The
//! Worker supplies `worker::Fetch`, `Date.now()`, a Durable Object and the rate limiting
//! bindings; native tests supply scripted fakes or a real socket client with state in memory.

pub mod health;

use crate::{
    config::{RateLimitClass, TokenBudget},
    platform::health::{HealthQuery, HealthRecord, TargetView},
};
use futures::{
    future::{select, Either},
    Stream,
};
use std::{
    future::Future,
    pin::{pin, Pin},
};
use thiserror::Error;

/// A request to Bedrock, already signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A response body arriving in chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, TransportError>>>>;

/// Status and headers of an upstream response; the body is read as it arrives.
pub struct UpstreamResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: ByteStream,
}

/// The value of header `name` (case-insensitive) among `headers`, without surrounding
/// whitespace.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// The same, treating an empty value as absent.
pub fn nonempty_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    header(headers, name).filter(|v| !v.is_empty())
}

impl UpstreamResponse {
    /// A header value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// The connection failed or broke; the text is for logs, never for clients.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("transport error: {0}")]
pub struct TransportError(pub String);

/// The host environment of the core. Implementations are cheap handles (`Clone`).
pub trait Platform: Clone + 'static {
    /// Sends a request; resolves once the status and headers have arrived.
    fn send(
        &self,
        request: UpstreamRequest,
    ) -> impl Future<Output = Result<UpstreamResponse, TransportError>>;
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Resolves after `ms` milliseconds.
    fn sleep(&self, ms: u64) -> impl Future<Output = ()>;
    /// A uniformly random `u64` (request ids, retry jitter).
    fn random_u64(&self) -> u64;
    /// Writes one structured log line (JSON). Callers never pass prompt text or secrets.
    fn log(&self, line: &str);
    /// The shared health of `query.keys`, one view per key in order, in one round trip;
    /// claims half-open probes when asked (see [`crate::routing::circuit`]). A store that cannot be
    /// reached answers every target as unknown (healthy): health steers, it never blocks.
    fn health_load(&self, query: HealthQuery) -> impl Future<Output = Vec<TargetView>>;
    /// Folds a request's outcomes into the shared health without delaying the caller: the
    /// Worker hands the write to `waitUntil`.
    fn health_record(&self, record: HealthRecord);
    /// Counts one request of `bucket` (a client: `ip:…`, `widget:…`) against rate-limit
    /// `class`: `Some(false)` when it is over the limit, `None` when the limiter could not be
    /// asked (the class says whether that lets the request through). On Workers the class's
    /// binding enforces its own numbers (`limits` must match them); elsewhere `limits` are
    /// enforced in memory.
    fn rate_limit(
        &self,
        class: &str,
        limits: RateLimitClass,
        bucket: &str,
    ) -> impl Future<Output = Option<bool>>;
    /// The tokens `client` has spent in `budget`'s current window; `None` when the store
    /// cannot be asked (the request goes on: budgets bound cost, they never take chat down).
    fn budget_spent(&self, client: &str, budget: TokenBudget) -> impl Future<Output = Option<u64>>;
    /// Adds `tokens` to `client`'s current window without delaying the caller (the Worker
    /// hands the write to `waitUntil`).
    fn budget_charge(&self, client: &str, budget: TokenBudget, tokens: u64);
    /// Whether `signature` is an RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature of `signed`
    /// by the RSA key of base64url modulus `n` and exponent `e`: Web Crypto on Workers.
    fn verify_rs256(
        &self,
        n: &str,
        e: &str,
        signed: &[u8],
        signature: &[u8],
    ) -> impl Future<Output = bool>;
}

/// `None` when `ms` passes before `future` completes.
pub async fn with_timeout<P: Platform, T>(
    platform: &P,
    ms: u64,
    future: impl Future<Output = T>,
) -> Option<T> {
    match select(pin!(future), pin!(platform.sleep(ms))).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(_) => None,
    }
}
