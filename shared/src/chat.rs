//! The chat request a client sends to `/api/chat` and the non-streamed answer.

use crate::content::Content;
use serde::{Deserialize, Serialize};

/// Who wrote a message in the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    pub role: Role,
    /// A string, or content blocks ([`Content`]).
    pub content: Content,
}

impl ChatMessage {
    pub fn user(content: impl Into<Content>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<Content>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// Body of `POST /api/chat`. Unknown fields are rejected so a client cannot smuggle
/// upstream parameters (a model id, say) past the edge.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling: only the most likely tokens whose probabilities add up to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Texts that end the answer where the model would write them (`done.stop_reason` is then
    /// `stop_sequence`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Route name (`classify`, `generate`, `analyze`, `auto`); the edge's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// `false` asks for one JSON answer instead of a Server-Sent Events stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

/// Token counts reported by the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// A whole answer, returned when the request said `"stream": false`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub request_id: String,
    pub route: String,
    pub model: String,
    pub region: String,
    pub text: String,
    pub stop_reason: String,
    pub usage: Usage,
    pub latency_ms: u64,
    /// Set when no model answered and `text` is the route's configured last resort
    /// (`message` or `cached_answer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_resort: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_and_omits_absent_fields() {
        let request = ChatRequest {
            messages: vec![ChatMessage::user("Hi"), ChatMessage::assistant("Hello")],
            max_tokens: Some(64),
            route: Some("generate".into()),
            ..ChatRequest::default()
        };
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(
            json,
            r#"{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}],"max_tokens":64,"route":"generate"}"#
        );
        assert_eq!(serde_json::from_str::<ChatRequest>(&json).unwrap(), request);
    }

    #[test]
    fn unknown_fields_and_roles_are_rejected_by_name() {
        let err =
            serde_json::from_str::<ChatRequest>(r#"{"messages":[],"model":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `model`"), "{err}");
        let err = serde_json::from_str::<ChatRequest>(
            r#"{"messages":[{"role":"system","content":"x"}]}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("unknown variant `system`"),
            "{err}"
        );
    }
}
