//! The stream reader over bodies split at every byte position, and delivery before the end.

use frontend::stream::read_events;
use futures::{channel::mpsc, StreamExt};
use shared::{sse, Delta, Done, Fallback, Meta, StreamEvent, Usage};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

fn sample() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Meta(Meta {
            request_id: "r1".into(),
            route: "generate".into(),
            model: "model-a".into(),
            region: "eu-west-1".into(),
            reason: None,
        }),
        StreamEvent::Fallback(Fallback {
            from: "model-a".into(),
            to: "model-b".into(),
            reason: "throttled".into(),
            model: "model-b".into(),
            region: "us-east-1".into(),
        }),
        StreamEvent::Delta(Delta {
            text: "Grüße — 你好 🎉\n".into(),
        }),
        StreamEvent::Delta(Delta {
            text: "line two".into(),
        }),
        StreamEvent::Done(Done {
            stop_reason: "end_turn".into(),
            usage: Usage {
                input_tokens: 3,
                output_tokens: 7,
            },
            latency_ms: 120,
            first_token_ms: Some(40),
            last_resort: None,
        }),
    ]
}

/// The sample as SSE text, with CRLF line ends and keep-alive comments between events.
fn wire() -> Vec<u8> {
    let text: Vec<String> = sample().iter().map(sse::encode).collect();
    text.join(sse::KEEP_ALIVE)
        .replace('\n', "\r\n")
        .into_bytes()
}

fn chunk(bytes: &[u8]) -> Result<JsValue, JsValue> {
    Ok(js_sys::Uint8Array::from(bytes).into())
}

fn body(chunks: Vec<Result<JsValue, JsValue>>) -> web_sys::ReadableStream {
    wasm_streams::ReadableStream::from_stream(futures::stream::iter(chunks)).into_raw()
}

#[wasm_bindgen_test]
async fn events_survive_every_split_point() {
    let wire = wire();
    for size in 1..=wire.len() {
        let mut events = Vec::new();
        let chunks = wire.chunks(size).map(chunk).collect();
        read_events(body(chunks), &mut |event| events.push(event))
            .await
            .unwrap_or_else(|failure| panic!("chunk size {size}: {failure:?}"));
        assert_eq!(events, sample(), "chunk size {size}");
    }
}

#[wasm_bindgen_test]
async fn a_body_that_ends_before_done_is_a_retryable_failure() {
    let wire = wire();
    let cut = wire.len() - 20;
    let mut events = Vec::new();
    let failure = read_events(body(vec![chunk(&wire[..cut])]), &mut |event| {
        events.push(event)
    })
    .await
    .unwrap_err();
    assert!(failure.retryable);
    assert_eq!(events.len(), 4, "events before the cut are still delivered");
}

#[wasm_bindgen_test]
async fn a_broken_body_is_a_failure() {
    let chunks = vec![chunk(&wire()[..10]), Err(JsValue::from_str("network down"))];
    let failure = read_events(body(chunks), &mut |_| {}).await.unwrap_err();
    assert!(failure.message.contains("broke off"), "{}", failure.message);
}

#[wasm_bindgen_test]
async fn each_event_is_handed_on_as_soon_as_it_is_complete() {
    let (chunks, chunks_rx) = mpsc::unbounded();
    let (events_tx, mut events) = mpsc::unbounded();
    let stream = wasm_streams::ReadableStream::from_stream(chunks_rx).into_raw();
    let (done_tx, done) = futures::channel::oneshot::channel();
    wasm_bindgen_futures::spawn_local(async move {
        let result = read_events(stream, &mut |event| {
            events_tx.unbounded_send(event).unwrap();
        })
        .await;
        done_tx.send(result).unwrap();
    });
    let expected = sample();
    let wire = wire();
    let first_end = sse::encode(&expected[0]).replace('\n', "\r\n").len();
    // The first event plus half of the next arrive; the body stays open.
    chunks
        .unbounded_send(chunk(&wire[..first_end + 7]))
        .unwrap();
    assert_eq!(events.next().await.as_ref(), Some(&expected[0]));
    chunks
        .unbounded_send(chunk(&wire[first_end + 7..]))
        .unwrap();
    for event in &expected[1..] {
        assert_eq!(events.next().await.as_ref(), Some(event));
    }
    assert_eq!(done.await.unwrap(), Ok(()));
}
