//! Bedrock error responses as they look on the wire (bedrock-wire.md §4.1): status,
//! `x-amzn-ErrorType: Name:http://internal.amazon.com/coral/<namespace>/`, JSON `{"message"}`.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{json, Map, Value};

const BEDROCK: &str = "com.amazon.bedrock";
/// Errors raised by the AWS front door (authentication, unknown operations).
const CORAL: &str = "com.amazon.coral.service";

/// One error answer. Converted to a response by [`IntoResponse`].
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub name: &'static str,
    pub message: String,
    namespace: &'static str,
    /// More members of the error shape, e.g. `originalStatusCode`.
    extra: Map<String, Value>,
}

impl ApiError {
    fn new(status: u16, name: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            name,
            message: message.into(),
            namespace: BEDROCK,
            extra: Map::new(),
        }
    }

    fn front_door(status: u16, name: &'static str, message: impl Into<String>) -> Self {
        Self {
            namespace: CORAL,
            ..Self::new(status, name, message)
        }
    }

    /// Adds a member to the JSON body.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "ValidationException", message)
    }

    /// A constraint violation on a request member, worded like Bedrock's own messages.
    pub fn constraint(path: &str, constraint: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value at '{path}' failed to satisfy constraint: {constraint}"
        ))
    }

    pub fn access_denied() -> Self {
        Self::new(
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
        )
    }

    pub fn throttling() -> Self {
        Self::new(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        )
    }

    pub fn model_not_ready() -> Self {
        Self::new(
            429,
            "ModelNotReadyException",
            "Model is not ready to serve inference requests. The AWS SDK will automatically retry the operation up to 5 times. For information about configuring automatic retries, see Retry behavior in the AWS SDKs and Tools reference guide.",
        )
    }

    pub fn model_timeout() -> Self {
        Self::new(
            408,
            "ModelTimeoutException",
            "Model has timed out in processing the request. Try your request again.",
        )
    }

    pub fn model_error() -> Self {
        Self::new(
            424,
            "ModelErrorException",
            "Received error from the model. Try your request again.",
        )
        .with("originalStatusCode", json!(500))
    }

    pub fn model_stream_error() -> Self {
        Self::new(
            424,
            "ModelStreamErrorException",
            "The model stream was interrupted. Try your request again.",
        )
        .with("originalStatusCode", json!(500))
    }

    pub fn internal() -> Self {
        Self::new(
            500,
            "InternalServerException",
            "The system encountered an unexpected error during processing. Try your request again.",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            503,
            "ServiceUnavailableException",
            "Bedrock is unable to process your request.",
        )
    }

    pub fn missing_token() -> Self {
        Self::front_door(
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        )
    }

    pub fn unrecognized_client() -> Self {
        Self::front_door(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    }

    pub fn invalid_signature(message: impl Into<String>) -> Self {
        Self::front_door(403, "InvalidSignatureException", message)
    }

    pub fn incomplete_signature(message: impl Into<String>) -> Self {
        Self::front_door(403, "IncompleteSignatureException", message)
    }

    pub fn unknown_operation() -> Self {
        Self::front_door(
            404,
            "UnknownOperationException",
            "The requested operation is not recognized by the service.",
        )
    }

    /// The `x-amzn-ErrorType` header value.
    pub fn error_type(&self) -> String {
        format!(
            "{}:http://internal.amazon.com/coral/{}/",
            self.name, self.namespace
        )
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = self.extra.clone();
        body.insert("message".into(), Value::String(self.message.clone()));
        Value::Object(body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.body().to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(value) = HeaderValue::from_str(&self.error_type()) {
            headers.insert("x-amzn-errortype", value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_coral_error_type() {
        let throttle = ApiError::throttling();
        assert_eq!(
            throttle.error_type(),
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"
        );
        // The message real Bedrock sends with a 429.
        assert_eq!(
            throttle.body().to_string(),
            r#"{"message":"Too many requests, please wait before trying again."}"#
        );
        assert_eq!(
            ApiError::unrecognized_client().error_type(),
            "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/"
        );
        let response = ApiError::model_error().into_response();
        assert_eq!(response.status(), 424);
        assert_eq!(response.headers()["content-type"], "application/json");
    }
}
