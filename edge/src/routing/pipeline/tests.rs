//! The pipeline against scripted upstream replies: what the client sees, event by event.

use super::*;
use crate::{
    bedrock::converse::tests::{answer, event, exception, stop_and_usage, text},
    config::secret::{Credentials, Secret},
    platform::UpstreamRequest,
    test_support::{
        body, channel_body, one_call_config, settings_with, End, Reply, ScriptedPlatform, START_MS,
    },
};
use futures::StreamExt;
use shared::{ChatMessage, Delta, ErrorCode, StreamError, Usage};

const SONNET: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
const FIRST_BYTE_MS: u64 = 1_000;
const IDLE_MS: u64 = 2_000;

fn settings() -> Settings {
    settings_with(one_call_config(crate::config::Timeouts {
        first_byte_ms: FIRST_BYTE_MS,
        idle_ms: IDLE_MS,
    }))
}

fn question() -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage::user("What is PROMPT-TEXT?")],
        ..ChatRequest::default()
    }
}

fn run_stream(platform: &ScriptedPlatform, settings: Settings) -> impl Stream<Item = StreamEvent> {
    chat_stream(
        platform.clone(),
        Rc::new(settings),
        RequestContext::new("req-1", START_MS),
        Choice::route("generate"),
        question(),
    )
}

async fn events_for(reply: Reply) -> (Vec<StreamEvent>, ScriptedPlatform) {
    let platform = ScriptedPlatform::new(vec![reply]);
    let events: Vec<StreamEvent> = run_stream(&platform, settings()).collect().await;
    assert_well_formed(&events);
    (events, platform)
}

/// `meta` first, exactly one terminal event, and it is last.
fn assert_well_formed(events: &[StreamEvent]) {
    assert!(
        matches!(events.first(), Some(StreamEvent::Meta(_))),
        "{events:?}"
    );
    let terminals = events.iter().filter(|e| e.is_terminal()).count();
    assert_eq!(terminals, 1, "{events:?}");
    assert!(
        events.last().is_some_and(StreamEvent::is_terminal),
        "{events:?}"
    );
}

fn texts(events: &[StreamEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Delta(d) => Some(d.text.as_str()),
            _ => None,
        })
        .collect()
}

fn error_of(events: &[StreamEvent]) -> &StreamError {
    match events.last() {
        Some(StreamEvent::Error(error)) => error,
        other => panic!("expected an error event, got {other:?}"),
    }
}

fn header<'a>(request: &'a UpstreamRequest, name: &str) -> Option<&'a str> {
    crate::platform::header(&request.headers, name)
}

#[tokio::test(start_paused = true)]
async fn a_streamed_answer_is_meta_deltas_then_done() {
    let bytes = answer(&["Hel", "lo, ", "wörld"]);
    let chunks = bytes.chunks(7).map(<[u8]>::to_vec).collect();
    let (events, platform) = events_for(Reply::stream(body(chunks, End::Close))).await;
    assert_eq!(
        events[0],
        StreamEvent::Meta(Meta {
            request_id: "req-1".into(),
            route: "generate".into(),
            model: SONNET.into(),
            region: "us-east-1".into(),
            reason: None,
        })
    );
    assert_eq!(texts(&events), ["Hel", "lo, ", "wörld"]);
    match events.last() {
        Some(StreamEvent::Done(done)) => {
            assert_eq!(done.stop_reason, "end_turn");
            assert_eq!(
                done.usage,
                Usage {
                    input_tokens: 11,
                    output_tokens: 7
                }
            );
            assert!(done.first_token_ms.is_some());
        }
        other => panic!("{other:?}"),
    }

    let requests = platform.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.url,
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse-stream"
    );
    assert_eq!(header(request, "content-type"), Some("application/json"));
    let authorization = header(request, "authorization").unwrap();
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="),
        "{authorization}"
    );
    assert_eq!(header(request, "x-amz-date"), Some("20231114T221320Z"));
    let sent: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        sent["messages"][0]["content"][0]["text"],
        "What is PROMPT-TEXT?"
    );
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 1024);

    let logs = platform.logs();
    assert_eq!(logs.len(), 1);
    let log = &logs[0];
    assert_eq!(log["request_id"], "req-1");
    assert_eq!(log["outcome"], "ok");
    assert_eq!(log["route"], "generate");
    assert_eq!(log["model"], SONNET);
    assert_eq!(log["region"], "us-east-1");
    assert_eq!(log["upstream_status"], 200);
    assert_eq!(log["upstream_request_id"], "upstream-req-1");
    assert_eq!(
        (log["input_tokens"].as_u64(), log["output_tokens"].as_u64()),
        (Some(11), Some(7))
    );
    let text = log.to_string();
    assert!(!text.contains("PROMPT-TEXT") && !text.contains("wörld") && !text.contains("wJalr"));
}

/// The body is still open when the first delta comes out: text is relayed as frames arrive.
#[tokio::test(start_paused = true)]
async fn deltas_are_yielded_before_the_body_ends() {
    let (sender, stream_body) = channel_body();
    let platform = ScriptedPlatform::new(vec![Reply::stream(stream_body)]);
    let mut events = Box::pin(run_stream(&platform, settings()));
    assert!(matches!(events.next().await, Some(StreamEvent::Meta(_))));
    sender
        .unbounded_send(
            [
                event("messageStart", r#"{"role":"assistant"}"#),
                text("first"),
            ]
            .concat(),
        )
        .unwrap();
    assert_eq!(
        events.next().await,
        Some(StreamEvent::Delta(Delta {
            text: "first".into()
        }))
    );
    sender.unbounded_send(text("second")).unwrap();
    assert_eq!(
        events.next().await,
        Some(StreamEvent::Delta(Delta {
            text: "second".into()
        }))
    );
    sender
        .unbounded_send(stop_and_usage("max_tokens", 1, 2))
        .unwrap();
    // `metadata` ends the answer even though the connection has not closed yet.
    assert!(matches!(
        events.next().await,
        Some(StreamEvent::Done(Done { ref stop_reason, .. })) if stop_reason == "max_tokens"
    ));
    assert_eq!(events.next().await, None);
    drop(sender);
}

#[tokio::test(start_paused = true)]
async fn a_stream_closed_after_message_stop_without_metadata_is_done() {
    let bytes = [
        text("Hi"),
        event("messageStop", r#"{"stopReason":"end_turn"}"#),
    ]
    .concat();
    let (events, _) = events_for(Reply::stream(body(vec![bytes], End::Close))).await;
    assert!(matches!(events.last(), Some(StreamEvent::Done(d)) if d.usage == Usage::default()));
}

#[tokio::test(start_paused = true)]
async fn exception_frames_end_the_stream_with_the_right_error() {
    let cases = [
        ("throttlingException", ErrorCode::UpstreamThrottled, true),
        (
            "serviceUnavailableException",
            ErrorCode::UpstreamUnavailable,
            true,
        ),
        (
            "internalServerException",
            ErrorCode::UpstreamUnavailable,
            true,
        ),
        ("modelStreamErrorException", ErrorCode::ModelError, false),
        ("validationException", ErrorCode::UpstreamRejected, false),
    ];
    for (kind, code, retryable) in cases {
        let bytes = [
            text("partial"),
            exception(kind, "UPSTREAM-TEXT: Too many requests"),
            text("after the exception"),
            stop_and_usage("end_turn", 1, 1),
        ]
        .concat();
        let (events, platform) = events_for(Reply::stream(body(vec![bytes], End::Close))).await;
        assert_eq!(texts(&events), ["partial"], "{kind}");
        let error = error_of(&events);
        assert_eq!((error.code, error.retryable), (code, retryable), "{kind}");
        assert!(!error.message.contains("UPSTREAM-TEXT"), "{kind}");
        assert_eq!(platform.logs()[0]["outcome"], "error");
    }
}

#[tokio::test(start_paused = true)]
async fn an_unmodelled_error_frame_is_an_error() {
    let frame = crate::bedrock::eventstream::encode(&crate::bedrock::eventstream::Frame::new(
        &[
            (":message-type", "error"),
            (":error-code", "InternalFailure"),
            (":error-message", "x"),
        ],
        "",
    ));
    let (events, _) = events_for(Reply::stream(body(vec![text("a"), frame], End::Close))).await;
    assert_eq!(error_of(&events).code, ErrorCode::UpstreamUnavailable);
}

#[tokio::test(start_paused = true)]
async fn a_bad_checksum_interrupts_the_stream() {
    let mut bytes = answer(&["one", "two"]);
    let second_text_start = event(
        "messageStart",
        r#"{"p":"abcdefghijklmn","role":"assistant"}"#,
    )
    .len()
        + text("one").len();
    bytes[second_text_start + 20] ^= 0x01;
    let (events, platform) = events_for(Reply::stream(body(vec![bytes], End::Close))).await;
    assert_eq!(texts(&events), ["one"]);
    let error = error_of(&events);
    assert_eq!(error.code, ErrorCode::StreamInterrupted);
    assert!(error.retryable);
    assert_eq!(platform.logs()[0]["error"], "bad_frame");
}

#[tokio::test(start_paused = true)]
async fn truncated_streams_are_errors_never_a_silent_done() {
    let whole = answer(&["Hello"]);
    let bodies = [
        body(vec![whole[..whole.len() - 10].to_vec()], End::Close),
        body(
            vec![[event("messageStart", "{}"), text("Hello")].concat()],
            End::Close,
        ),
        body(vec![text("Hello")], End::Fail),
        body(vec![], End::Close),
    ];
    for stream_body in bodies {
        let (events, platform) = events_for(Reply::stream(stream_body)).await;
        assert_eq!(error_of(&events).code, ErrorCode::StreamInterrupted);
        assert_eq!(platform.logs()[0]["error"], "truncated");
    }
}

#[tokio::test(start_paused = true)]
async fn http_errors_become_safe_error_events() {
    let cases = [
        (
            429,
            "ThrottlingException",
            ErrorCode::UpstreamThrottled,
            true,
            "throttling",
        ),
        (
            403,
            "InvalidSignatureException",
            ErrorCode::UpstreamAuth,
            false,
            "AWS_SECRET_ACCESS_KEY",
        ),
        (
            403,
            "UnrecognizedClientException",
            ErrorCode::UpstreamAuth,
            false,
            "AWS_ACCESS_KEY_ID",
        ),
        (
            500,
            "InternalServerException",
            ErrorCode::UpstreamUnavailable,
            true,
            "internal error",
        ),
        (
            503,
            "ServiceUnavailableException",
            ErrorCode::UpstreamUnavailable,
            true,
            "unavailable",
        ),
        (
            400,
            "ValidationException",
            ErrorCode::UpstreamRejected,
            false,
            "invalid",
        ),
        (
            404,
            "ResourceNotFoundException",
            ErrorCode::UpstreamRejected,
            false,
            "not found",
        ),
        (
            424,
            "ModelErrorException",
            ErrorCode::ModelError,
            false,
            "model failed",
        ),
        (
            408,
            "ModelTimeoutException",
            ErrorCode::UpstreamTimeout,
            false,
            "too long",
        ),
    ];
    for (status, error_type, code, retryable, says) in cases {
        let upstream = "UPSTREAM-TEXT: The canonical request was POST /model/x%253A0 x-amz-security-token:TOKEN";
        let (events, platform) = events_for(Reply::error(status, error_type, upstream)).await;
        assert_eq!(events.len(), 2, "{error_type}: only meta and the error");
        let error = error_of(&events);
        assert_eq!(
            (error.code, error.retryable),
            (code, retryable),
            "{error_type}"
        );
        assert!(
            error.message.contains(says),
            "{error_type}: {}",
            error.message
        );
        assert!(!error.message.contains("UPSTREAM-TEXT"), "{error_type}");
        let log = &platform.logs()[0];
        assert_eq!(log["upstream_status"], status);
        if code == ErrorCode::UpstreamAuth {
            assert!(!log.to_string().contains("TOKEN"), "{log}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn no_response_headers_is_a_first_byte_timeout() {
    let (events, platform) = events_for(Reply::Hang).await;
    let error = error_of(&events);
    assert_eq!(
        (error.code, error.retryable),
        (ErrorCode::UpstreamTimeout, true)
    );
    assert_eq!(platform.logs()[0]["error"], "first_byte_timeout");
    assert_eq!(platform.logs()[0]["latency_ms"], FIRST_BYTE_MS);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_is_an_idle_timeout() {
    let first = [event("messageStart", "{}"), text("Hel")].concat();
    let (events, platform) = events_for(Reply::stream(body(vec![first], End::Hang))).await;
    assert_eq!(texts(&events), ["Hel"]);
    assert_eq!(error_of(&events).code, ErrorCode::UpstreamTimeout);
    assert_eq!(platform.logs()[0]["error"], "idle_timeout");
    assert_eq!(platform.logs()[0]["latency_ms"], IDLE_MS);
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_is_unavailable() {
    let (events, _) = events_for(Reply::Fail).await;
    let error = error_of(&events);
    assert_eq!(
        (error.code, error.retryable),
        (ErrorCode::UpstreamUnavailable, true)
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_that_goes_away_is_logged_once() {
    let (sender, stream_body) = channel_body();
    let platform = ScriptedPlatform::new(vec![Reply::stream(stream_body)]);
    let mut events = Box::pin(run_stream(&platform, settings()));
    sender.unbounded_send(text("partial")).unwrap();
    assert!(matches!(events.next().await, Some(StreamEvent::Meta(_))));
    assert!(matches!(events.next().await, Some(StreamEvent::Delta(_))));
    drop(events);
    let logs = platform.logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["outcome"], "client_closed");
}

#[tokio::test(start_paused = true)]
async fn bearer_keys_and_a_custom_endpoint_are_used() {
    let platform =
        ScriptedPlatform::new(vec![Reply::stream(body(vec![answer(&["ok"])], End::Close))]);
    let custom = Settings {
        credentials: Credentials::Bearer(Secret::new("ABSKkey")),
        endpoint: Some("http://127.0.0.1:8788".into()),
        ..settings()
    };
    let events: Vec<_> = run_stream(&platform, custom).collect().await;
    assert!(matches!(events.last(), Some(StreamEvent::Done(_))));
    let request = &platform.requests()[0];
    assert_eq!(
        request.url,
        "http://127.0.0.1:8788/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse-stream"
    );
    assert_eq!(header(request, "authorization"), Some("Bearer ABSKkey"));
    assert_eq!(header(request, "x-amz-date"), None);
}

const CONVERSE_OK: &str = r#"{"output":{"message":{"role":"assistant","content":[{"text":"Hello there"}]}},"stopReason":"end_turn","usage":{"inputTokens":5,"outputTokens":2,"totalTokens":7},"metrics":{"latencyMs":12}}"#;

async fn once(reply: Reply) -> (Result<ChatResponse, BedrockError>, ScriptedPlatform) {
    let platform = ScriptedPlatform::new(vec![reply]);
    let result = chat_once(
        platform.clone(),
        Rc::new(settings()),
        RequestContext::new("req-2", START_MS),
        Choice::route("classify"),
        question(),
    )
    .await
    .result;
    assert_eq!(platform.logs().len(), 1);
    (result, platform)
}

#[tokio::test(start_paused = true)]
async fn a_whole_answer_uses_converse() {
    let (result, platform) = once(Reply::json(CONVERSE_OK)).await;
    assert_eq!(
        result.unwrap(),
        ChatResponse {
            request_id: "req-2".into(),
            route: "classify".into(),
            model: "us.anthropic.claude-3-5-haiku-20241022-v1:0".into(),
            region: "us-east-1".into(),
            text: "Hello there".into(),
            stop_reason: "end_turn".into(),
            usage: Usage {
                input_tokens: 5,
                output_tokens: 2
            },
            latency_ms: 0,
            last_resort: None,
        }
    );
    assert!(platform.requests()[0]
        .url
        .ends_with("/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"));
    assert_eq!(platform.logs()[0]["stream"], false);
}

#[tokio::test(start_paused = true)]
async fn whole_answers_fail_with_typed_errors() {
    let (result, _) = once(Reply::error(429, "ThrottlingException", "slow")).await;
    assert_eq!(result.unwrap_err().kind, BedrockErrorKind::Throttling);
    let (result, _) = once(Reply::Hang).await;
    assert_eq!(result.unwrap_err().kind, BedrockErrorKind::FirstByteTimeout);
    let stalled = Reply::Respond {
        status: 200,
        headers: vec![],
        body: body(vec![b"{\"output\"".to_vec()], End::Hang),
    };
    let (result, _) = once(stalled).await;
    assert_eq!(result.unwrap_err().kind, BedrockErrorKind::IdleTimeout);
    let (result, _) = once(Reply::json("not json")).await;
    assert_eq!(result.unwrap_err().kind, BedrockErrorKind::BadFrame);
}
