//! The one structured (JSON) log line written per API request: who asked for what, where it
//! went (targets tried, attempts, fallbacks), how it ended and how long it took (time to first
//! token, upstream time, tokens). Never prompt text, answer text or secrets.

use crate::platform::Platform;
use serde::Serialize;

/// Longest piece of upstream error text kept in a log line.
const MAX_DETAIL_CHARS: usize = 300;

#[derive(Debug, Default, Serialize)]
pub struct LogLine {
    pub request_id: String,
    pub method: String,
    pub path: String,
    /// `ok`, `last_resort` (every target down; the configured answer given), `error`,
    /// `rejected` (refused before any upstream call) or `client_closed`.
    pub outcome: &'static str,
    /// The edge's HTTP status (200 for a stream that started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The auto route's tier, when the auto route chose `route`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<&'static str>,
    /// The targets called, in order (`model@region`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets_tried: Vec<String>,
    /// Targets left out because their circuit was open.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub circuit_open: Vec<String>,
    /// Upstream calls made, retries included.
    #[serde(skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// Moves down the chain (and to the last resort).
    #[serde(skip_serializing_if = "is_zero")]
    pub fallbacks: u32,
    /// `message` or `cached_answer`, when the last resort answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_resort: Option<&'static str>,
    /// The model and region that answered (or last failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_status: Option<u16>,
    /// Time spent in upstream calls, backoff excluded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_ms: Option<u64>,
    /// Bedrock's `x-amzn-RequestId`, for AWS support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_request_id: Option<String>,
    /// Client error code, or the Bedrock error kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_token_ms: Option<u64>,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u32>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl LogLine {
    /// Keeps upstream error text short: it is for the operator, not an archive.
    pub fn set_detail(&mut self, detail: Option<&str>) {
        self.error_detail = detail
            .filter(|d| !d.is_empty())
            .map(|d| d.chars().take(MAX_DETAIL_CHARS).collect());
    }
}

/// Writes its line exactly once: on [`write`](Self::write), or as `client_closed` when dropped
/// unwritten (the client went away mid-stream).
pub struct RequestLog<P: Platform> {
    platform: P,
    started_ms: u64,
    pub line: LogLine,
    written: bool,
}

impl<P: Platform> RequestLog<P> {
    pub fn new(platform: P, line: LogLine, started_ms: u64) -> Self {
        Self {
            platform,
            started_ms,
            line,
            written: false,
        }
    }

    /// Another part (the chat pipeline) writes this request's line instead.
    pub fn hand_over(&mut self) {
        self.written = true;
    }

    pub fn write(&mut self, outcome: &'static str) {
        if self.written {
            return;
        }
        self.written = true;
        self.line.outcome = outcome;
        self.line.latency_ms = self.platform.now_ms().saturating_sub(self.started_ms);
        // Strings and numbers only: serialising cannot fail.
        self.platform
            .log(&serde_json::to_string(&self.line).unwrap_or_default());
    }
}

impl<P: Platform> Drop for RequestLog<P> {
    fn drop(&mut self) {
        self.write("client_closed");
    }
}
