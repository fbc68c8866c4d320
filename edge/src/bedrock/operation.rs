//! The Bedrock Runtime model operations the edge calls, each with its input: the path under
//! `/model/{id}/` and the request it is sent as.

use crate::{
    bedrock::{converse::build_body, native::NativeFormat},
    config::limits::{DEFAULT_MAX_TOKENS, MAX_TOKENS},
    platform::UpstreamRequest,
};
use shared::ChatRequest;

/// A Bedrock Runtime model operation and its input.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    ConverseStream(ChatRequest),
    Converse(ChatRequest),
    /// InvokeModelWithResponseStream with a validated native `body` in `format`.
    InvokeStream {
        body: Vec<u8>,
        format: NativeFormat,
    },
    /// InvokeModel with a validated native `body` in `format`.
    Invoke {
        body: Vec<u8>,
        format: NativeFormat,
    },
}

impl Operation {
    /// Whether the answer is an event stream.
    pub fn is_streaming(&self) -> bool {
        matches!(self, Self::ConverseStream(_) | Self::InvokeStream { .. })
    }

    /// The last segment of `/model/{id}/…`.
    pub(super) fn path(&self) -> &'static str {
        match self {
            Self::ConverseStream(_) => "converse-stream",
            Self::Converse(_) => "converse",
            Self::InvokeStream { .. } => "invoke-with-response-stream",
            Self::Invoke { .. } => "invoke",
        }
    }

    pub(super) fn request(&self, url: String) -> UpstreamRequest {
        let json = || ("content-type".to_owned(), "application/json".to_owned());
        let (headers, body) = match self {
            Self::ConverseStream(chat) | Self::Converse(chat) => (
                vec![json()],
                build_body(chat, MAX_TOKENS, DEFAULT_MAX_TOKENS),
            ),
            // The streaming operation takes the chunks' type in its own header.
            Self::InvokeStream { body, .. } => (
                vec![
                    json(),
                    ("x-amzn-bedrock-accept".into(), "application/json".into()),
                ],
                body.clone(),
            ),
            Self::Invoke { body, .. } => (
                vec![json(), ("accept".into(), "application/json".into())],
                body.clone(),
            ),
        };
        UpstreamRequest {
            method: "POST",
            url,
            headers,
            body,
        }
    }
}

/// A whole InvokeModel answer: the model's own body, passed on as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeBody {
    pub content_type: String,
    pub bytes: Vec<u8>,
}
