//! Error codes and the JSON error body (`{"error": {"code", "message"}}`) returned before a
//! stream starts; the same codes appear in the SSE `error` event.

use serde::{Deserialize, Serialize};

/// Machine-readable error category. Clients match on it; the message is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not valid JSON or does not have the expected shape.
    InvalidJson,
    /// The body parsed but a field is out of bounds; the message names the field.
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    NotFound,
    MethodNotAllowed,
    Forbidden,
    RateLimited,
    /// Bedrock throttled every attempt.
    UpstreamThrottled,
    /// Bedrock (or the network to it) is unavailable or failed internally.
    UpstreamUnavailable,
    /// Bedrock did not answer, or stalled mid-answer, within the configured time.
    UpstreamTimeout,
    /// The edge's credentials were refused by Bedrock (a configuration problem).
    UpstreamAuth,
    /// Bedrock rejected the request as invalid (too long a conversation, say).
    UpstreamRejected,
    /// The model itself failed while answering.
    ModelError,
    /// The answer stream broke off (bad frame, dropped connection) after it started.
    StreamInterrupted,
    Internal,
    /// A code this client version does not know yet.
    #[serde(other)]
    Unknown,
}

/// The inner object of an error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds to wait before trying again, when the edge knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

/// `{"error": {...}}`, the body of every non-2xx API response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ApiError,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ApiError {
                code,
                message: message.into(),
                retry_after_secs: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_the_documented_shape() {
        let body = ErrorBody::new(ErrorCode::InvalidRequest, "messages: must not be empty");
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"code":"invalid_request","message":"messages: must not be empty"}}"#
        );
    }

    #[test]
    fn unknown_codes_still_parse() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"brand_new","message":"m"}}"#).unwrap();
        assert_eq!(body.error.code, ErrorCode::Unknown);
    }
}
