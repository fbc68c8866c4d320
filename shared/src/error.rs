//! Error codes and the JSON error body (`{"error": {"code", "message"}}`) returned before a
//! stream starts; the same codes appear in the SSE `error` event.

use serde::{Deserialize, Serialize, Serializer};

/// Machine-readable error category. Clients match on it; the message is for people. Written
/// as its [`ErrorCode::as_str`] name (one table of names, not a second one from the derive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
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
    /// No proof the edge accepts: a widget call without a valid token (ask for a new one), or
    /// a call without the API key or Access assertion the edge's access mode asks for.
    Unauthorized,
    /// A widget call whose token has expired: ask for a new one.
    TokenExpired,
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

impl ErrorCode {
    /// The code's wire name, as it is serialised (`"rate_limited"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::InvalidRequest => "invalid_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Unauthorized => "unauthorized",
            Self::TokenExpired => "token_expired",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::UpstreamThrottled => "upstream_throttled",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::UpstreamAuth => "upstream_auth",
            Self::UpstreamRejected => "upstream_rejected",
            Self::ModelError => "model_error",
            Self::StreamInterrupted => "stream_interrupted",
            Self::Internal => "internal",
            Self::Unknown => "unknown",
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The inner object of an error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds to wait before trying again, when the edge knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    /// The request field at fault (`messages[2].content`), when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
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
                field: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::{value::Error, Deserializer, Error as _, Visitor};

    /// Records the variant names serde's derived `Deserialize` knows, all of them.
    struct VariantNames(&'static [&'static str]);

    impl<'de> Deserializer<'de> for &mut VariantNames {
        type Error = Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(Error::custom("only an enum is expected"))
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _: &'static str,
            variants: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Error> {
            self.0 = variants;
            Err(Error::custom("names recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
            ignored_any
        }
    }

    #[test]
    fn every_code_is_read_and_written_by_its_one_name() {
        let mut names = VariantNames(&[]);
        assert!(ErrorCode::deserialize(&mut names).is_err());
        assert!(names.0.contains(&"unknown"), "{:?}", names.0);
        for name in names.0 {
            let code: ErrorCode = serde_json::from_value(serde_json::json!(name)).unwrap();
            assert_eq!(code.as_str(), *name);
            assert_eq!(serde_json::to_value(code).unwrap(), *name);
        }
    }

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
