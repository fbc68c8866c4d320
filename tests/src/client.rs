//! A Rust client of the edge's chat API, as a program would use it: post a request, read the
//! SSE answer as it arrives, and note when each event came. Used by tests and benchmarks.

use futures::StreamExt;
use shared::{sse::SseParser, ChatRequest, ErrorBody, StreamEvent};
use std::time::Duration;

/// An event and how long after sending the request it arrived.
#[derive(Debug, Clone)]
pub struct Timed {
    pub at: Duration,
    pub event: StreamEvent,
}

/// What the client saw.
#[derive(Debug)]
pub enum ChatOutcome {
    /// A stream was opened; its events in order.
    Stream { status: u16, events: Vec<Timed> },
    /// The request was refused before a stream started.
    Refused { status: u16, error: ErrorBody },
}

impl ChatOutcome {
    pub fn events(&self) -> Vec<StreamEvent> {
        match self {
            Self::Stream { events, .. } => events.iter().map(|t| t.event.clone()).collect(),
            Self::Refused { .. } => Vec::new(),
        }
    }

    /// The concatenated `delta` texts.
    pub fn text(&self) -> String {
        self.events()
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Delta(d) => Some(d.text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The last event, which for a well-formed stream is the single `done` or `error`.
    pub fn terminal(&self) -> Option<StreamEvent> {
        self.events().last().cloned()
    }
}

/// Posts a chat request to `{base}{path}` and reads the whole answer, giving up after `limit`.
pub async fn chat(
    base: &str,
    path: &str,
    request: &ChatRequest,
    limit: Duration,
) -> anyhow::Result<ChatOutcome> {
    let body = serde_json::to_vec(request)?;
    chat_raw(base, path, "application/json", body, limit).await
}

/// Like [`chat`] with any body and content type (for invalid-input tests).
pub async fn chat_raw(
    base: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
    limit: Duration,
) -> anyhow::Result<ChatOutcome> {
    let started = crate::wall_clock::instant();
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", content_type)
        .body(body)
        .timeout(limit)
        .send()
        .await?;
    let status = response.status().as_u16();
    let is_stream = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(shared::sse::CONTENT_TYPE));
    if !is_stream {
        let error = serde_json::from_slice(&response.bytes().await?)?;
        return Ok(ChatOutcome::Refused { status, error });
    }
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        for raw in parser.push(&chunk?) {
            if let Some(event) = raw.parse() {
                events.push(Timed {
                    at: started.elapsed(),
                    event: event?,
                });
            }
        }
    }
    Ok(ChatOutcome::Stream { status, events })
}
