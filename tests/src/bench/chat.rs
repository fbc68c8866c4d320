//! One streamed chat through the edge, timed and checked: what the overhead, CPU and load
//! benchmarks send.

use anyhow::{bail, Context};
use futures::StreamExt;
use shared::{sse::SseParser, ChatMessage, ChatRequest, StreamEvent};
use std::time::Duration;

/// No answer takes longer than this in a benchmark.
pub const LIMIT: Duration = Duration::from_secs(30);

/// When the first byte and the first token of one answer arrived.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub ttfb: Duration,
    pub ttft: Duration,
    /// Through the edge: its own `done.first_token_ms`, from the request reaching the Worker to
    /// the first text (the Worker's clock, whole milliseconds).
    pub worker_ttft_ms: Option<u64>,
}

/// The chat every request asks.
pub fn chat_request(prompt: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage::user(prompt)],
        ..ChatRequest::default()
    }
}

/// One streamed chat through the edge: its timing and the answer text; any refusal, `error`
/// event or missing `done` is an error.
pub async fn edge_chat(
    client: &reqwest::Client,
    edge_url: &str,
    body: Vec<u8>,
) -> anyhow::Result<(Timing, String)> {
    let started = crate::wall_clock::instant();
    let response = client
        .post(format!("{edge_url}/api/chat"))
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .body(body)
        .timeout(LIMIT)
        .send()
        .await?;
    let ttfb = started.elapsed();
    let status = response.status();
    if status != 200 {
        let text = response.text().await.unwrap_or_default();
        bail!("the edge answered {status}: {text}");
    }
    let mut parser = SseParser::new();
    let mut ttft = None;
    let mut text = String::new();
    let mut done = None;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        for raw in parser.push(&chunk?) {
            match raw.parse() {
                Some(Ok(StreamEvent::Delta(delta))) => {
                    ttft.get_or_insert_with(|| started.elapsed());
                    text.push_str(&delta.text);
                }
                Some(Ok(StreamEvent::Done(end))) => done = Some(end),
                Some(Ok(StreamEvent::Error(error))) => {
                    bail!("error event {:?}: {}", error.code, error.message)
                }
                Some(Err(error)) => bail!("bad event {}: {error}", raw.name),
                _ => {}
            }
        }
    }
    let done = done.context("the stream ended without `done`")?;
    Ok((
        Timing {
            ttfb,
            ttft: ttft.context("no delta")?,
            worker_ttft_ms: done.first_token_ms,
        },
        text,
    ))
}
