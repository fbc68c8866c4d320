//! Reads a Server-Sent Events body (a `ReadableStream` of bytes) chunk by chunk and hands each
//! event on as soon as it is complete. Framing is `shared::sse::SseParser`.

use crate::state::Failure;
use futures::StreamExt;
use shared::{sse::SseParser, StreamEvent};

/// Feeds every event of `body` to `on_event` until the terminal `done` or `error` event.
/// A body that ends or breaks before that is a [`Failure`].
pub async fn read_events(
    body: web_sys::ReadableStream,
    on_event: &mut dyn FnMut(StreamEvent),
) -> Result<(), Failure> {
    let mut chunks = wasm_streams::ReadableStream::from_raw(body).into_stream();
    let mut parser = SseParser::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| interrupted())?;
        let bytes = js_sys::Uint8Array::new(&chunk).to_vec();
        for raw in parser.push(&bytes) {
            let Some(event) = raw.parse() else {
                continue;
            };
            let event = event.map_err(|_| Failure {
                message: format!("The server sent a malformed `{}` event.", raw.name),
                retryable: true,
                retry_after_secs: None,
            })?;
            let last = event.is_terminal();
            on_event(event);
            if last {
                return Ok(());
            }
        }
    }
    Err(interrupted())
}

fn interrupted() -> Failure {
    Failure {
        message: "The answer stream broke off before it finished.".into(),
        retryable: true,
        retry_after_secs: None,
    }
}
