//! Everything that can go wrong calling Bedrock, as one typed error: resolved from HTTP error
//! responses and event-stream exception frames, with the retry flag, the client's error code,
//! a safe message and the HTTP status the edge answers with.

use crate::{bedrock::eventstream::FrameView, platform::header};
use shared::ErrorCode;

/// What went wrong. Exhaustive: each property below is decided per kind by a `match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BedrockErrorKind {
    Throttling,
    ModelNotReady,
    ServiceUnavailable,
    InternalServer,
    /// The model did not finish in Bedrock's time (408).
    ModelTimeout,
    /// The model failed (424).
    ModelError,
    /// The model failed mid-stream (424, normally an exception frame).
    ModelStreamError,
    Validation,
    AccessDenied,
    ResourceNotFound,
    ServiceQuotaExceeded,
    Conflict,
    InvalidSignature,
    UnrecognizedClient,
    ExpiredToken,
    MissingAuthentication,
    /// The connection to Bedrock failed, or broke while a whole (non-streamed) body was read.
    Transport,
    /// No response headers within the first-byte timeout.
    FirstByteTimeout,
    /// The answer stalled longer than the idle timeout between two chunks.
    IdleTimeout,
    /// A frame or body could not be decoded (checksum, lengths, JSON).
    BadFrame,
    /// The answer stream ended (or its connection broke) before `messageStop`.
    Truncated,
    /// The edge could not build the request (unsignable endpoint URL, unknown route).
    EdgeMisconfigured,
    /// An error code, or a status, this edge does not know.
    Unknown,
}

/// Bedrock's error names (`x-amzn-ErrorType`, `__type`, `:exception-type`), compared ignoring
/// case so the PascalCase HTTP form and the lowerCamel frame form both match.
const CODES: [(&str, BedrockErrorKind); 18] = [
    ("ThrottlingException", BedrockErrorKind::Throttling),
    ("ModelNotReadyException", BedrockErrorKind::ModelNotReady),
    (
        "ServiceUnavailableException",
        BedrockErrorKind::ServiceUnavailable,
    ),
    ("InternalServerException", BedrockErrorKind::InternalServer),
    ("ModelTimeoutException", BedrockErrorKind::ModelTimeout),
    ("ModelErrorException", BedrockErrorKind::ModelError),
    (
        "ModelStreamErrorException",
        BedrockErrorKind::ModelStreamError,
    ),
    ("ValidationException", BedrockErrorKind::Validation),
    ("AccessDeniedException", BedrockErrorKind::AccessDenied),
    (
        "ResourceNotFoundException",
        BedrockErrorKind::ResourceNotFound,
    ),
    (
        "ServiceQuotaExceededException",
        BedrockErrorKind::ServiceQuotaExceeded,
    ),
    ("ConflictException", BedrockErrorKind::Conflict),
    (
        "InvalidSignatureException",
        BedrockErrorKind::InvalidSignature,
    ),
    (
        "IncompleteSignatureException",
        BedrockErrorKind::InvalidSignature,
    ),
    (
        "UnrecognizedClientException",
        BedrockErrorKind::UnrecognizedClient,
    ),
    ("ExpiredTokenException", BedrockErrorKind::ExpiredToken),
    (
        "MissingAuthenticationTokenException",
        BedrockErrorKind::MissingAuthentication,
    ),
    (
        "MissingAuthenticationToken",
        BedrockErrorKind::MissingAuthentication,
    ),
];

impl BedrockErrorKind {
    fn from_code(code: &str) -> Option<Self> {
        CODES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(code))
            .map(|(_, kind)| *kind)
    }

    /// For an error response whose code is missing or unknown.
    fn from_status(status: u16) -> Self {
        match status {
            429 => Self::Throttling,
            500 => Self::InternalServer,
            502..=504 => Self::ServiceUnavailable,
            _ => Self::Unknown,
        }
    }

    /// A stable snake_case name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttling => "throttling",
            Self::ModelNotReady => "model_not_ready",
            Self::ServiceUnavailable => "service_unavailable",
            Self::InternalServer => "internal_server",
            Self::ModelTimeout => "model_timeout",
            Self::ModelError => "model_error",
            Self::ModelStreamError => "model_stream_error",
            Self::Validation => "validation",
            Self::AccessDenied => "access_denied",
            Self::ResourceNotFound => "resource_not_found",
            Self::ServiceQuotaExceeded => "service_quota_exceeded",
            Self::Conflict => "conflict",
            Self::InvalidSignature => "invalid_signature",
            Self::UnrecognizedClient => "unrecognized_client",
            Self::ExpiredToken => "expired_token",
            Self::MissingAuthentication => "missing_authentication",
            Self::Transport => "transport",
            Self::FirstByteTimeout => "first_byte_timeout",
            Self::IdleTimeout => "idle_timeout",
            Self::BadFrame => "bad_frame",
            Self::Truncated => "truncated",
            Self::EdgeMisconfigured => "edge_misconfigured",
            Self::Unknown => "unknown",
        }
    }
}

/// How long the upstream asked to wait: `x-amz-retry-after` (milliseconds) or `Retry-After`
/// (whole seconds; the HTTP-date form is ignored). Bedrock itself does not appear to send
/// either (bedrock-wire.md §4.1), proxies in front of it may.
pub fn retry_after_ms(headers: &[(String, String)]) -> Option<u64> {
    let number = |name: &str| header(headers, name).and_then(|v| v.parse::<u64>().ok());
    number("x-amz-retry-after").or_else(|| number("retry-after").map(|s| s.saturating_mul(1000)))
}

/// A failed Bedrock call. `message` is Bedrock's (or the transport's) own text: for logs only,
/// never for clients, since it can quote the canonical request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedrockError {
    pub kind: BedrockErrorKind,
    pub message: String,
    /// The wait the upstream asked for, when it refused with `Retry-After`.
    pub retry_after_ms: Option<u64>,
}

impl BedrockError {
    pub fn new(kind: BedrockErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// From a non-200 response (bedrock-wire.md §4.1): the code is `x-amzn-ErrorType`, else
    /// the body's `__type`, else its `code`, cut at the first `:` and after any `#`; the
    /// status decides when there is no known code.
    pub fn from_http(status: u16, headers: &[(String, String)], body: &[u8]) -> Self {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let body_field = |name: &str| json.get(name).and_then(|v| v.as_str());
        let raw_code = crate::platform::header(headers, "x-amzn-errortype")
            .or_else(|| body_field("__type"))
            .or_else(|| body_field("code"));
        let code = raw_code.map(|code| {
            let code = code.split(':').next().unwrap_or_default();
            code.rsplit('#').next().unwrap_or_default().trim()
        });
        let kind = code
            .and_then(BedrockErrorKind::from_code)
            .unwrap_or_else(|| BedrockErrorKind::from_status(status));
        let message = body_field("message")
            .or_else(|| body_field("Message"))
            .unwrap_or_default();
        Self {
            retry_after_ms: retry_after_ms(headers),
            ..Self::new(
                kind,
                format!("HTTP {status} {}: {message}", code.unwrap_or("(no code)")),
            )
        }
    }

    /// From an event-stream frame whose `:message-type` is `exception` (modelled,
    /// `:exception-type` + JSON `{"message"}`) or `error` (`:error-code`, `:error-message`).
    pub fn from_exception_frame(frame: &FrameView<'_>) -> Self {
        let (code, message) = if frame.message_type() == Some("error") {
            (
                frame.header(":error-code"),
                frame
                    .header(":error-message")
                    .unwrap_or_default()
                    .to_owned(),
            )
        } else {
            let json: serde_json::Value = serde_json::from_slice(frame.payload).unwrap_or_default();
            let message = json
                .get("message")
                .or_else(|| json.get("Message"))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            (frame.header(":exception-type"), message)
        };
        let kind = code
            .and_then(BedrockErrorKind::from_code)
            .unwrap_or(BedrockErrorKind::Unknown);
        Self::new(
            kind,
            format!("stream {}: {message}", code.unwrap_or("(no code)")),
        )
    }

    /// Whether the same request, sent again, may succeed. Follows the SDKs (§4.4): throttling,
    /// not-ready, 5xx and connection failures are transient; 4xx are not, nor is a model
    /// timeout (408: a retry would likely time out again). Decided here: a stalled, corrupted
    /// or cut-off stream is a transient network fault (retryable); a model stream error is
    /// the model's own failure (424, not retryable); unknown codes are not retried.
    pub fn retryable(&self) -> bool {
        match self.kind {
            BedrockErrorKind::Throttling
            | BedrockErrorKind::ModelNotReady
            | BedrockErrorKind::ServiceUnavailable
            | BedrockErrorKind::InternalServer
            | BedrockErrorKind::Transport
            | BedrockErrorKind::FirstByteTimeout
            | BedrockErrorKind::IdleTimeout
            | BedrockErrorKind::BadFrame
            | BedrockErrorKind::Truncated => true,
            BedrockErrorKind::ModelTimeout
            | BedrockErrorKind::ModelError
            | BedrockErrorKind::ModelStreamError
            | BedrockErrorKind::Validation
            | BedrockErrorKind::AccessDenied
            | BedrockErrorKind::ResourceNotFound
            | BedrockErrorKind::ServiceQuotaExceeded
            | BedrockErrorKind::Conflict
            | BedrockErrorKind::InvalidSignature
            | BedrockErrorKind::UnrecognizedClient
            | BedrockErrorKind::ExpiredToken
            | BedrockErrorKind::MissingAuthentication
            | BedrockErrorKind::EdgeMisconfigured
            | BedrockErrorKind::Unknown => false,
        }
    }

    /// The code clients see.
    pub fn code(&self) -> ErrorCode {
        match self.kind {
            BedrockErrorKind::Throttling | BedrockErrorKind::ServiceQuotaExceeded => {
                ErrorCode::UpstreamThrottled
            }
            BedrockErrorKind::ModelNotReady
            | BedrockErrorKind::ServiceUnavailable
            | BedrockErrorKind::InternalServer
            | BedrockErrorKind::Transport
            | BedrockErrorKind::Unknown => ErrorCode::UpstreamUnavailable,
            BedrockErrorKind::ModelTimeout
            | BedrockErrorKind::FirstByteTimeout
            | BedrockErrorKind::IdleTimeout => ErrorCode::UpstreamTimeout,
            BedrockErrorKind::ModelError | BedrockErrorKind::ModelStreamError => {
                ErrorCode::ModelError
            }
            BedrockErrorKind::Validation
            | BedrockErrorKind::ResourceNotFound
            | BedrockErrorKind::Conflict => ErrorCode::UpstreamRejected,
            BedrockErrorKind::AccessDenied
            | BedrockErrorKind::InvalidSignature
            | BedrockErrorKind::UnrecognizedClient
            | BedrockErrorKind::ExpiredToken
            | BedrockErrorKind::MissingAuthentication => ErrorCode::UpstreamAuth,
            BedrockErrorKind::BadFrame | BedrockErrorKind::Truncated => {
                ErrorCode::StreamInterrupted
            }
            BedrockErrorKind::EdgeMisconfigured => ErrorCode::Internal,
        }
    }

    /// A sentence for the user. Never Bedrock's own text.
    pub fn client_message(&self) -> String {
        let text = match self.kind {
            BedrockErrorKind::Throttling => "Bedrock is throttling requests; try again shortly.",
            BedrockErrorKind::ServiceQuotaExceeded => {
                "The edge's Bedrock account has reached a service quota; try again later."
            }
            BedrockErrorKind::ModelNotReady => {
                "The model is not ready to serve requests yet; try again shortly."
            }
            BedrockErrorKind::ServiceUnavailable => {
                "Bedrock is temporarily unavailable; try again shortly."
            }
            BedrockErrorKind::InternalServer => {
                "Bedrock failed with an internal error; try again shortly."
            }
            BedrockErrorKind::Transport => "The edge could not reach Bedrock; try again shortly.",
            BedrockErrorKind::Unknown => "Bedrock failed with an unexpected error.",
            BedrockErrorKind::ModelTimeout => {
                "The model took too long to answer; try a shorter request."
            }
            BedrockErrorKind::FirstByteTimeout => {
                "Bedrock did not start answering in time; try again shortly."
            }
            BedrockErrorKind::IdleTimeout => "The answer stalled before it was complete.",
            BedrockErrorKind::ModelError => "The model failed while answering.",
            BedrockErrorKind::ModelStreamError => "The model failed partway through its answer.",
            BedrockErrorKind::Validation => {
                "Bedrock rejected the request as invalid (the conversation may be too long for this model)."
            }
            BedrockErrorKind::ResourceNotFound => {
                "The model configured for this route was not found by Bedrock (check the route's model and region)."
            }
            BedrockErrorKind::Conflict => "Bedrock rejected the request as conflicting.",
            BedrockErrorKind::AccessDenied => {
                "The edge's AWS identity is not allowed to use this model (check its IAM permissions and model access)."
            }
            BedrockErrorKind::InvalidSignature => {
                "The edge's AWS credentials were rejected by Bedrock (check AWS_SECRET_ACCESS_KEY)."
            }
            BedrockErrorKind::UnrecognizedClient => {
                "The edge's AWS credentials were not recognised by Bedrock (check AWS_ACCESS_KEY_ID and AWS_SESSION_TOKEN)."
            }
            BedrockErrorKind::ExpiredToken => {
                "The edge's AWS credentials have expired (renew AWS_SESSION_TOKEN)."
            }
            BedrockErrorKind::MissingAuthentication => {
                "Bedrock received no usable credentials from the edge (check its AWS configuration)."
            }
            BedrockErrorKind::BadFrame => "The answer stream from Bedrock was corrupted.",
            BedrockErrorKind::Truncated => "The answer stream from Bedrock broke off early.",
            BedrockErrorKind::EdgeMisconfigured => {
                "The edge is misconfigured and could not call Bedrock."
            }
        };
        text.to_owned()
    }

    /// The status of the edge's answer when nothing was streamed yet: 4xx only when the
    /// client's request itself was refused or limited, 502/503/504 for upstream failures
    /// (including the edge's own bad credentials, which the client cannot fix).
    pub fn http_status(&self) -> u16 {
        match self.kind {
            BedrockErrorKind::Throttling | BedrockErrorKind::ServiceQuotaExceeded => 429,
            BedrockErrorKind::Validation | BedrockErrorKind::Conflict => 400,
            BedrockErrorKind::ModelNotReady | BedrockErrorKind::ServiceUnavailable => 503,
            BedrockErrorKind::ModelTimeout
            | BedrockErrorKind::FirstByteTimeout
            | BedrockErrorKind::IdleTimeout => 504,
            BedrockErrorKind::InternalServer
            | BedrockErrorKind::Transport
            | BedrockErrorKind::Unknown
            | BedrockErrorKind::ModelError
            | BedrockErrorKind::ModelStreamError
            | BedrockErrorKind::ResourceNotFound
            | BedrockErrorKind::AccessDenied
            | BedrockErrorKind::InvalidSignature
            | BedrockErrorKind::UnrecognizedClient
            | BedrockErrorKind::ExpiredToken
            | BedrockErrorKind::MissingAuthentication
            | BedrockErrorKind::BadFrame
            | BedrockErrorKind::Truncated => 502,
            BedrockErrorKind::EdgeMisconfigured => 500,
        }
    }

    /// Bedrock's text, when it is safe to log: auth errors can quote the canonical request,
    /// which includes the session token, so their text is dropped.
    pub fn loggable_message(&self) -> Option<&str> {
        (self.code() != ErrorCode::UpstreamAuth).then_some(self.message.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        bedrock::eventstream::{encode, Frame, FrameDecoder},
        test_support::headers,
    };

    fn coral(name: &str) -> Vec<(String, String)> {
        vec![(
            "x-amzn-ErrorType".into(),
            format!("{name}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        )]
    }

    #[test]
    fn http_codes_resolve_from_header_then_type_then_code() {
        let throttled = BedrockError::from_http(
            429,
            &coral("ThrottlingException"),
            br#"{"message":"Too many tokens, please wait before trying again."}"#,
        );
        assert_eq!(throttled.kind, BedrockErrorKind::Throttling);
        assert!(throttled.message.contains("Too many tokens"));
        let by_type = BedrockError::from_http(
            400,
            &[],
            br#"{"__type":"com.amazon.bedrock#ValidationException","Message":"bad"}"#,
        );
        assert_eq!(by_type.kind, BedrockErrorKind::Validation);
        assert!(by_type.message.contains("bad"));
        let by_code = BedrockError::from_http(404, &[], br#"{"code":"ResourceNotFoundException"}"#);
        assert_eq!(by_code.kind, BedrockErrorKind::ResourceNotFound);
        let signature = BedrockError::from_http(
            403,
            &[(
                "X-Amzn-ErrorType".into(),
                "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/".into(),
            )],
            b"{}",
        );
        assert_eq!(signature.kind, BedrockErrorKind::InvalidSignature);
    }

    #[test]
    fn unknown_codes_fall_back_on_the_status() {
        let cases = [
            (429, BedrockErrorKind::Throttling),
            (500, BedrockErrorKind::InternalServer),
            (502, BedrockErrorKind::ServiceUnavailable),
            (503, BedrockErrorKind::ServiceUnavailable),
            (418, BedrockErrorKind::Unknown),
        ];
        for (status, kind) in cases {
            assert_eq!(
                BedrockError::from_http(status, &coral("BrandNewException"), b"<html>").kind,
                kind
            );
            assert_eq!(BedrockError::from_http(status, &[], b"").kind, kind);
        }
    }

    /// The error an exception frame resolves to, once encoded and decoded.
    fn from_frame(frame: &Frame) -> BedrockError {
        let mut decoder = FrameDecoder::new();
        decoder.push(&encode(frame));
        let view = decoder.next_frame().unwrap().unwrap();
        BedrockError::from_exception_frame(&view)
    }

    #[test]
    fn exception_and_error_frames_resolve() {
        let exception = Frame::new(
            &[
                (":exception-type", "modelStreamErrorException"),
                (":content-type", "application/json"),
                (":message-type", "exception"),
            ],
            r#"{"message":"model broke","originalStatusCode":500}"#,
        );
        let error = from_frame(&exception);
        assert_eq!(error.kind, BedrockErrorKind::ModelStreamError);
        assert!(error.message.contains("model broke"));
        let unmodelled = Frame::new(
            &[
                (":message-type", "error"),
                (":error-code", "InternalFailure"),
                (":error-message", "oops"),
            ],
            "",
        );
        let error = from_frame(&unmodelled);
        assert_eq!(error.kind, BedrockErrorKind::Unknown);
        assert!(error.message.contains("InternalFailure") && error.message.contains("oops"));
        let throttled = Frame::new(
            &[
                (":exception-type", "throttlingException"),
                (":message-type", "exception"),
            ],
            r#"{"message":"slow down"}"#,
        );
        assert_eq!(from_frame(&throttled).kind, BedrockErrorKind::Throttling);
    }

    #[test]
    fn properties_per_kind() {
        use BedrockErrorKind as K;
        // kind, retryable, code, status
        let table = [
            (K::Throttling, true, ErrorCode::UpstreamThrottled, 429),
            (K::ModelNotReady, true, ErrorCode::UpstreamUnavailable, 503),
            (
                K::ServiceUnavailable,
                true,
                ErrorCode::UpstreamUnavailable,
                503,
            ),
            (K::InternalServer, true, ErrorCode::UpstreamUnavailable, 502),
            (K::Transport, true, ErrorCode::UpstreamUnavailable, 502),
            (K::FirstByteTimeout, true, ErrorCode::UpstreamTimeout, 504),
            (K::IdleTimeout, true, ErrorCode::UpstreamTimeout, 504),
            (K::ModelTimeout, false, ErrorCode::UpstreamTimeout, 504),
            (K::BadFrame, true, ErrorCode::StreamInterrupted, 502),
            (K::Truncated, true, ErrorCode::StreamInterrupted, 502),
            (K::Validation, false, ErrorCode::UpstreamRejected, 400),
            (K::AccessDenied, false, ErrorCode::UpstreamAuth, 502),
            (K::InvalidSignature, false, ErrorCode::UpstreamAuth, 502),
            (K::ExpiredToken, false, ErrorCode::UpstreamAuth, 502),
            (K::ResourceNotFound, false, ErrorCode::UpstreamRejected, 502),
            (K::ModelError, false, ErrorCode::ModelError, 502),
            (K::ModelStreamError, false, ErrorCode::ModelError, 502),
            (
                K::ServiceQuotaExceeded,
                false,
                ErrorCode::UpstreamThrottled,
                429,
            ),
            (K::Unknown, false, ErrorCode::UpstreamUnavailable, 502),
            (K::EdgeMisconfigured, false, ErrorCode::Internal, 500),
        ];
        for (kind, retryable, code, status) in table {
            let error = BedrockError::new(kind, "UPSTREAM-SECRET-TEXT");
            assert_eq!(error.retryable(), retryable, "{kind:?}");
            assert_eq!(error.code(), code, "{kind:?}");
            assert_eq!(error.http_status(), status, "{kind:?}");
            assert!(!error.client_message().contains("UPSTREAM"), "{kind:?}");
        }
    }

    #[test]
    fn signature_error_text_is_never_logged() {
        let error = BedrockError::from_http(
            403,
            &coral("InvalidSignatureException"),
            br#"{"message":"The canonical String for this request should have been x-amz-security-token:SESSIONTOKEN"}"#,
        );
        assert_eq!(error.loggable_message(), None);
        assert!(!error.client_message().contains("SESSIONTOKEN"));
    }

    #[test]
    fn retry_after_headers() {
        assert_eq!(
            retry_after_ms(&headers(&[("Retry-After", "2")])),
            Some(2_000)
        );
        assert_eq!(
            retry_after_ms(&headers(&[
                ("x-amz-retry-after", "350"),
                ("retry-after", "9")
            ])),
            Some(350)
        );
        assert_eq!(
            retry_after_ms(&headers(&[(
                "retry-after",
                "Wed, 21 Oct 2015 07:28:00 GMT"
            )])),
            None
        );
        assert_eq!(retry_after_ms(&headers(&[])), None);
        let refused = BedrockError::from_http(503, &headers(&[("Retry-After", "3")]), b"");
        assert_eq!(refused.retry_after_ms, Some(3_000));
    }
}
