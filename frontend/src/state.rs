//! The conversation model: messages with reactive text and status, the saved form of a
//! message, and how stream events change an answer.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use shared::{ChatMessage, Role, StreamEvent, Usage};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why an answer did not complete, in words for the reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub message: String,
    pub retryable: bool,
    /// Seconds to wait before retrying, when the server said (HTTP 429).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

/// Where an answer stands.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Streaming,
    #[default]
    Done,
    Stopped,
    Failed(Failure),
}

/// Who answered and how it went, from the `meta`, `fallback` and `done` events.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AnswerInfo {
    pub route: String,
    pub model: String,
    pub region: String,
    /// One notice per `fallback` event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_ms: Option<u64>,
}

/// A message as saved with its conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub role: Role,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<AnswerInfo>,
    #[serde(default)]
    pub status: Status,
}

/// A message on screen. Clones share the same signals; views get read-only ones.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: u64,
    pub role: Role,
    text: ArcRwSignal<String>,
    info: ArcRwSignal<Option<AnswerInfo>>,
    status: ArcRwSignal<Status>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Message {
    pub fn new(role: Role, text: String, status: Status) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            role,
            text: ArcRwSignal::new(text),
            info: ArcRwSignal::new(None),
            status: ArcRwSignal::new(status),
        }
    }

    /// An empty answer that is about to stream.
    pub fn pending_answer() -> Self {
        Self::new(Role::Assistant, String::new(), Status::Streaming)
    }

    pub fn restore(saved: StoredMessage) -> Self {
        // An answer saved mid-stream (the page closed) can no longer grow.
        let status = match saved.status {
            Status::Streaming => Status::Stopped,
            status => status,
        };
        let message = Self::new(saved.role, saved.content, status);
        message.info.set(saved.info);
        message
    }

    pub fn snapshot(&self) -> StoredMessage {
        StoredMessage {
            role: self.role,
            content: self.text.get_untracked(),
            info: self.info.get_untracked(),
            status: self.status.get_untracked(),
        }
    }

    pub fn text(&self) -> ArcReadSignal<String> {
        self.text.read_only()
    }

    pub fn info(&self) -> ArcReadSignal<Option<AnswerInfo>> {
        self.info.read_only()
    }

    pub fn status(&self) -> ArcReadSignal<Status> {
        self.status.read_only()
    }

    /// Ends this answer with `status`, unless it has already ended.
    pub fn end(&self, status: Status) {
        if self.is_streaming() {
            self.status.set(status);
        }
    }

    /// Shows a whole answer at once (a background job's result).
    pub fn fill(&self, text: String, info: AnswerInfo) {
        self.text.set(text);
        self.info.set(Some(info));
    }

    fn is_streaming(&self) -> bool {
        self.status
            .with_untracked(|status| *status == Status::Streaming)
    }

    /// Applies one stream event to this answer. Events after the answer ended are ignored.
    pub fn apply(&self, event: StreamEvent) {
        if !self.is_streaming() {
            return;
        }
        match event {
            StreamEvent::Meta(meta) => self.info.set(Some(AnswerInfo {
                route: meta.route,
                model: meta.model,
                region: meta.region,
                ..AnswerInfo::default()
            })),
            StreamEvent::Delta(delta) => self.text.update(|text| text.push_str(&delta.text)),
            StreamEvent::Fallback(fallback) => self.info.update(|info| {
                let info = info.get_or_insert_with(AnswerInfo::default);
                info.fallbacks.push(format!(
                    "{} was unavailable ({}); answered by {} instead.",
                    fallback.from, fallback.reason, fallback.to
                ));
                info.model = fallback.model;
                info.region = fallback.region;
            }),
            StreamEvent::Done(done) => {
                self.info.update(|info| {
                    let info = info.get_or_insert_with(AnswerInfo::default);
                    info.usage = Some(done.usage);
                    info.latency_ms = Some(done.latency_ms);
                    info.first_token_ms = done.first_token_ms;
                });
                self.status.set(Status::Done);
            }
            StreamEvent::Error(error) => self.status.set(Status::Failed(Failure {
                message: error.message,
                retryable: error.retryable,
                retry_after_secs: None,
            })),
        }
    }
}

/// The messages to send for a conversation: empty answers are left out and consecutive
/// messages of one role are joined, since the model expects turns to alternate.
pub fn history<'a>(messages: impl IntoIterator<Item = (Role, &'a str)>) -> Vec<ChatMessage> {
    let mut turns: Vec<(Role, String)> = Vec::new();
    for (role, text) in messages {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, joined)) if *last == role => {
                joined.push_str("\n\n");
                joined.push_str(text);
            }
            _ => turns.push((role, text.to_owned())),
        }
    }
    turns
        .into_iter()
        .map(|(role, text)| ChatMessage {
            role,
            content: text.into(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn history_skips_empty_answers_and_joins_repeated_roles() {
        let history = history([
            (Role::User, "first"),
            (Role::Assistant, ""),
            (Role::User, " second "),
            (Role::Assistant, "answer"),
            (Role::User, "third"),
        ]);
        assert_eq!(
            history,
            [
                ChatMessage::user("first\n\nsecond"),
                ChatMessage::assistant("answer"),
                ChatMessage::user("third"),
            ]
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn stored_messages_round_trip_and_default_to_done() {
        let saved = StoredMessage {
            role: Role::Assistant,
            content: "hi".into(),
            info: None,
            status: Status::Failed(Failure {
                message: "slow down".into(),
                retryable: true,
                retry_after_secs: Some(3),
            }),
        };
        let json = serde_json::to_string(&saved).unwrap();
        assert_eq!(serde_json::from_str::<StoredMessage>(&json).unwrap(), saved);
        let old: StoredMessage = serde_json::from_str(r#"{"role":"user","content":"x"}"#).unwrap();
        assert_eq!(old.status, Status::Done);
    }
}
