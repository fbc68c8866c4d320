//! The one refusal of the HTTP layer: a status, an [`ErrorCode`], a message that names the
//! problem for people, the request field at fault when there is one, and the headers the
//! status calls for (`Allow`, `Retry-After`). Every front door answers it the same way, as
//! `{"error": {"code", "message", ...}}`.

use super::{json, ApiResponse};
use crate::{
    bedrock::{error::BedrockError, native::BodyError},
    config::{limits::ValidationError, RateLimitClass, TokenBudget},
    platform::Platform,
    routing::request_log::RequestLog,
};
use shared::{ErrorBody, ErrorCode};

/// A request refused before (or instead of) any upstream call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    /// The request field at fault (`messages[2].content`), when one is.
    pub field: Option<String>,
    /// Headers that go with the status: `Allow` on a 405, `Retry-After` on a 429.
    pub headers: Vec<(String, String)>,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            headers: Vec::new(),
            retry_after_secs: None,
        }
    }

    /// 400 `invalid_request`: the body parsed, but something in it is wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, ErrorCode::InvalidRequest, message)
    }

    /// 400 `invalid_json`: the body is not JSON of the expected shape.
    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::new(400, ErrorCode::InvalidJson, message)
    }

    /// 401 `unauthorized`: no widget token this edge signed, or no proof its access mode
    /// accepts.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, ErrorCode::Unauthorized, message)
    }

    /// 401 `token_expired`: a widget call whose token has run out.
    pub fn token_expired(message: impl Into<String>) -> Self {
        Self::new(401, ErrorCode::TokenExpired, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, ErrorCode::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, ErrorCode::NotFound, message)
    }

    /// 405 with `Allow`: the path exists, the method does not.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            headers: vec![("allow".into(), allow.into())],
            ..Self::new(
                405,
                ErrorCode::MethodNotAllowed,
                format!("This endpoint only accepts {allow}."),
            )
        }
    }

    /// 429 with `Retry-After`: the client has spent its token budget until the next window.
    pub fn budget_spent(budget: TokenBudget, now_ms: u64) -> Self {
        let secs = budget.seconds_left(now_ms);
        Self {
            headers: vec![("retry-after".into(), secs.to_string())],
            retry_after_secs: Some(secs),
            ..Self::new(
                429,
                ErrorCode::RateLimited,
                format!(
                    "Token budget spent: at most {} tokens per {} s for each client. Try again in {secs} s.",
                    budget.tokens, budget.period_s
                ),
            )
        }
    }

    /// 429 with `Retry-After`: the client is over `class`'s limit.
    pub fn rate_limited(class: &str, limits: RateLimitClass) -> Self {
        let secs = u64::from(limits.period_s);
        Self {
            headers: vec![("retry-after".into(), secs.to_string())],
            retry_after_secs: Some(secs),
            ..Self::new(
                429,
                ErrorCode::RateLimited,
                format!(
                    "Too many requests: at most {} per {} s on this route ({class}). Try again in {secs} s.",
                    limits.limit, limits.period_s
                ),
            )
        }
    }

    /// 503: a store or queue of this edge cannot be reached; nothing was done.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, ErrorCode::Internal, message)
    }

    /// The response, with the request's log line written as `rejected`.
    pub fn respond<P: Platform>(self, log: &mut RequestLog<P>) -> ApiResponse {
        log.line.status = Some(self.status);
        log.line.error = Some(self.code.as_str().to_owned());
        log.write("rejected");
        self.into_response()
    }

    /// The response: the JSON error body with this error's status and headers.
    pub fn into_response(self) -> ApiResponse {
        let mut body = ErrorBody::new(self.code, self.message);
        body.error.retry_after_secs = self.retry_after_secs;
        body.error.field = self.field;
        let mut response = json(self.status, &body);
        response.headers.extend(self.headers);
        response
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        Self {
            field: Some(error.field.clone()),
            ..Self::invalid(error.to_string())
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::Json(message) => Self::invalid_json(message),
            BodyError::Invalid(error) => error.into(),
        }
    }
}

/// A failed upstream call, as the client sees it: the status and code its kind maps to, and a
/// message with nothing of Bedrock's own text.
pub fn upstream_error_response(error: &BedrockError) -> ApiResponse {
    ApiError::new(error.http_status(), error.code(), error.client_message()).into_response()
}
