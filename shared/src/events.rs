//! The named Server-Sent Events of a streamed answer. Every stream is
//! `meta`, then any number of `fallback` and `delta`, then exactly one `done` or `error`.

use crate::{chat::Usage, error::ErrorCode};
use serde::{Deserialize, Serialize};

/// Which route, model and region are answering, sent first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub request_id: String,
    pub route: String,
    pub model: String,
    pub region: String,
    /// Why this route was chosen, when the edge chose it (the `auto` route).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A piece of answer text, to be appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub text: String,
}

/// The edge moved to the next target before any text was sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fallback {
    pub from: String,
    pub to: String,
    pub reason: String,
    /// Model and region of the new target.
    pub model: String,
    pub region: String,
}

/// The answer is complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Done {
    pub stop_reason: String,
    pub usage: Usage,
    /// Whole request time at the edge, in milliseconds.
    pub latency_ms: u64,
    /// Time from the request reaching the edge to the first text, when there was text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_ms: Option<u64>,
    /// Set when no model answered and the text is the route's configured last resort:
    /// `message` (a notice) or `cached_answer` (a canned answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_resort: Option<String>,
}

/// The answer failed; nothing more follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamError {
    pub code: ErrorCode,
    pub message: String,
    /// Whether sending the same request again may succeed.
    pub retryable: bool,
}

/// The SSE `event:` names, one per [`StreamEvent`] variant.
pub mod names {
    pub const META: &str = "meta";
    pub const DELTA: &str = "delta";
    pub const FALLBACK: &str = "fallback";
    pub const DONE: &str = "done";
    pub const ERROR: &str = "error";
}

/// One SSE event; the variant is the SSE `event:` name, the payload its `data:` JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Meta(Meta),
    Delta(Delta),
    Fallback(Fallback),
    Done(Done),
    Error(StreamError),
}

impl StreamEvent {
    /// The SSE `event:` field.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Meta(_) => names::META,
            Self::Delta(_) => names::DELTA,
            Self::Fallback(_) => names::FALLBACK,
            Self::Done(_) => names::DONE,
            Self::Error(_) => names::ERROR,
        }
    }

    /// `done` and `error` end a stream.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Done(_) | Self::Error(_))
    }

    /// Appends the SSE `data:` field (one line of JSON) to `out`.
    pub fn write_data_json(&self, out: &mut Vec<u8>) {
        let written = match self {
            Self::Meta(v) => serde_json::to_writer(&mut *out, v),
            Self::Delta(v) => serde_json::to_writer(&mut *out, v),
            Self::Fallback(v) => serde_json::to_writer(&mut *out, v),
            Self::Done(v) => serde_json::to_writer(&mut *out, v),
            Self::Error(v) => serde_json::to_writer(&mut *out, v),
        };
        // These types are plain structs of strings and numbers and a `Vec` cannot fail to
        // grow: serialising cannot fail.
        written.unwrap_or_default();
    }

    /// Rebuilds an event from its SSE name and data. `None` for names this version does not know,
    /// which clients skip.
    pub fn from_parts(name: &str, data: &str) -> Option<Result<Self, serde_json::Error>> {
        let event = match name {
            names::META => serde_json::from_str(data).map(Self::Meta),
            names::DELTA => serde_json::from_str(data).map(Self::Delta),
            names::FALLBACK => serde_json::from_str(data).map(Self::Fallback),
            names::DONE => serde_json::from_str(data).map(Self::Done),
            names::ERROR => serde_json::from_str(data).map(Self::Error),
            _ => return None,
        };
        Some(event)
    }
}
