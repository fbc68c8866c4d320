//! Native bodies and invoke-stream decoding, then the invoke pipeline against scripted replies.

use super::*;
use crate::{
    bedrock::{
        converse::tests::exception,
        eventstream::{encode, Frame},
    },
    config::settings::Settings,
    routing::pipeline::{invoke_once, invoke_stream},
    test_support::{body, settings_with, End, Reply, ScriptedPlatform, START_MS},
};
use futures::StreamExt;
use serde_json::json;
use shared::{ErrorCode, StreamEvent};
use std::rc::Rc;

/// A `chunk` frame carrying `inner`, padded like Bedrock's.
pub(crate) fn chunk(inner: &Value) -> Vec<u8> {
    let payload = json!({ "bytes": STANDARD.encode(inner.to_string()), "p": "abcdefghij" });
    encode(&Frame::new(
        &[
            (":event-type", "chunk"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string(),
    ))
}

/// The member Bedrock adds to the last chunk.
const METRICS: &str = "amazon-bedrock-invocationMetrics";

fn metrics(input: u32, output: u32) -> Value {
    json!({"inputTokenCount": input, "outputTokenCount": output, "invocationLatency": 9, "firstByteLatency": 3})
}

/// Claude's stream for `texts`; the metrics on `message_stop` when given.
pub(crate) fn anthropic_stream(texts: &[&str], with_metrics: Option<(u32, u32)>) -> Vec<u8> {
    let mut inner = vec![
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "content": [], "model": "claude", "stop_reason": null, "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ];
    for text in texts {
        inner.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}));
    }
    inner.push(json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a"}}));
    inner.push(json!({"type": "content_block_stop", "index": 0}));
    inner.push(json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 6}}));
    let mut stop = json!({"type": "message_stop"});
    if let Some((input, output)) = with_metrics {
        stop[METRICS] = metrics(input, output);
    }
    inner.push(stop);
    inner.iter().flat_map(chunk).collect()
}

/// Nova's stream for `texts`, metrics on the last chunk.
fn nova_stream(texts: &[&str]) -> Vec<u8> {
    let mut inner = vec![json!({"messageStart": {"role": "assistant"}})];
    for text in texts {
        inner.push(json!({"contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": 0}}));
    }
    inner.push(json!({"contentBlockStop": {"contentBlockIndex": 0}}));
    inner.push(json!({"messageStop": {"stopReason": "max_tokens"}}));
    inner.push(
        json!({"metadata": {"usage": {"inputTokens": 1, "outputTokens": 2}, "metrics": {}},
        METRICS: metrics(30, 40)}),
    );
    inner.iter().flat_map(chunk).collect()
}

fn decode(format: NativeFormat, bytes: &[u8], size: usize) -> Vec<UpstreamEvent> {
    let mut decoder = stream_decoder(format);
    let mut events: Vec<_> = bytes.chunks(size).flat_map(|c| decoder.push(c)).collect();
    if let Err(error) = decoder.finish() {
        events.push(UpstreamEvent::Error(error));
    }
    events
}

fn answer(texts: &[&str], reason: &str, input: u32, output: u32) -> Vec<UpstreamEvent> {
    let mut events: Vec<_> = texts
        .iter()
        .map(|t| UpstreamEvent::Text((*t).into()))
        .collect();
    events.push(UpstreamEvent::Stop {
        reason: reason.into(),
    });
    events.push(UpstreamEvent::Usage { input, output });
    events
}

fn error_kind(events: &[UpstreamEvent]) -> Option<BedrockErrorKind> {
    match events.last() {
        Some(UpstreamEvent::Error(error)) => Some(error.kind),
        _ => None,
    }
}

#[test]
fn anthropic_streams_decode_the_same_at_every_chunk_size() {
    let bytes = anthropic_stream(&["Hel", "lo ", "wörld"], Some((21, 8)));
    let expected = answer(&["Hel", "lo ", "wörld"], "end_turn", 21, 8);
    for size in 1..=bytes.len() {
        assert_eq!(
            decode(NativeFormat::Anthropic, &bytes, size),
            expected,
            "chunk size {size}"
        );
    }
}

#[test]
fn without_metrics_claude_counts_its_own_usage() {
    let bytes = anthropic_stream(&["a"], None);
    assert_eq!(
        decode(NativeFormat::Anthropic, &bytes, 64),
        answer(&["a"], "end_turn", 12, 6)
    );
}

#[test]
fn nova_streams_decode_the_same_at_every_chunk_size() {
    let bytes = nova_stream(&["Bon", "jour"]);
    let expected = answer(&["Bon", "jour"], "max_tokens", 30, 40);
    for size in 1..=bytes.len() {
        assert_eq!(
            decode(NativeFormat::Nova, &bytes, size),
            expected,
            "chunk size {size}"
        );
    }
}

#[test]
fn exception_frames_end_invoke_streams() {
    let cases = [
        ("modelTimeoutException", ErrorCode::UpstreamTimeout, false),
        ("throttlingException", ErrorCode::UpstreamThrottled, true),
        ("modelStreamErrorException", ErrorCode::ModelError, false),
        (
            "internalServerException",
            ErrorCode::UpstreamUnavailable,
            true,
        ),
    ];
    for (name, code, retryable) in cases {
        let whole = anthropic_stream(&["one", "two"], None);
        let first_three: Vec<u8> = [
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 1}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "one"}}),
        ]
        .iter()
        .flat_map(chunk)
        .collect();
        let bytes = [first_three, exception(name, "UPSTREAM TEXT"), whole].concat();
        let events = decode(NativeFormat::Anthropic, &bytes, 7);
        assert_eq!(events.len(), 2, "{name}: {events:?}");
        assert_eq!(events[0], UpstreamEvent::Text("one".into()));
        let UpstreamEvent::Error(error) = &events[1] else {
            panic!("{events:?}")
        };
        assert_eq!(
            (error.code(), error.retryable()),
            (code, retryable),
            "{name}"
        );
    }
}

#[test]
fn broken_chunks_are_bad_frames() {
    let not_base64 = encode(&Frame::new(
        &[(":event-type", "chunk"), (":message-type", "event")],
        r#"{"bytes":"%%%"}"#,
    ));
    let not_json = chunk(&json!("just a string"));
    let no_bytes = encode(&Frame::new(
        &[(":event-type", "chunk"), (":message-type", "event")],
        r#"{"p":"x"}"#,
    ));
    let anthropic_error = chunk(&json!({"type": "error", "error": {"type": "overloaded_error"}}));
    for (bytes, kind) in [
        (not_base64, BedrockErrorKind::BadFrame),
        (not_json, BedrockErrorKind::BadFrame),
        (no_bytes, BedrockErrorKind::BadFrame),
        (anthropic_error, BedrockErrorKind::ModelStreamError),
    ] {
        let events = decode(NativeFormat::Anthropic, &bytes, 5);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(error_kind(&events), Some(kind));
    }
    // Unknown event types around the chunks are ignored.
    let mut bytes = encode(&Frame::new(
        &[(":event-type", "somethingNew"), (":message-type", "event")],
        "{}",
    ));
    bytes.extend(nova_stream(&["x"]));
    assert_eq!(
        decode(NativeFormat::Nova, &bytes, 3),
        answer(&["x"], "max_tokens", 30, 40)
    );
}

#[test]
fn streams_without_a_stop_reason_are_truncated() {
    let whole = anthropic_stream(&["a", "b"], None);
    let deltas_only: Vec<u8> =
        [json!({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "a"}})]
            .iter()
            .flat_map(chunk)
            .collect();
    for bytes in [deltas_only.as_slice(), &whole[..whole.len() - 5]] {
        let events = decode(NativeFormat::Anthropic, bytes, 11);
        assert_eq!(error_kind(&events), Some(BedrockErrorKind::Truncated));
    }
}

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const NOVA: &str = "amazon.nova-lite-v1:0";
const APP_PROFILE: &str =
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/jf2sje1c0jnb";

fn claude_body(extra: Value) -> Value {
    let mut body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hi"}]});
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    body
}

fn nova_body(extra: Value) -> Value {
    let mut body = json!({"messages": [{"role": "user", "content": [{"text": "Hi"}]}]});
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    body
}

fn refusal(model: &str, body: &Value) -> String {
    match prepare(model, body.to_string().as_bytes(), Rules::default()) {
        Err(BodyError::Invalid(error)) => error.to_string(),
        other => panic!("{body}: {other:?}"),
    }
}

#[test]
fn good_native_bodies_pass_and_the_format_follows_the_model() {
    let full = claude_body(json!({"system": [{"type": "text", "text": "Be brief."}],
        "temperature": 0.5, "top_p": 0.9, "top_k": 40, "stop_sequences": ["\n\nHuman:"],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]},
            {"role": "assistant", "content": "Hello"}]}));
    let (sent, format) = prepare(HAIKU, full.to_string().as_bytes(), Rules::default()).unwrap();
    assert_eq!(format, NativeFormat::Anthropic);
    assert_eq!(serde_json::from_slice::<Value>(&sent).unwrap(), full);
    let (_, format) = prepare(
        APP_PROFILE,
        claude_body(json!({})).to_string().as_bytes(),
        Rules::default(),
    )
    .unwrap();
    assert_eq!(format, NativeFormat::Anthropic);

    let (sent, format) = prepare(
        NOVA,
        nova_body(json!({})).to_string().as_bytes(),
        Rules::default(),
    )
    .unwrap();
    assert_eq!(format, NativeFormat::Nova);
    let sent: Value = serde_json::from_slice(&sent).unwrap();
    assert_eq!(sent["inferenceConfig"], json!({"max_new_tokens": 1024}));
    let nova2 = "global.amazon.nova-2-lite-v1:0";
    let (sent, _) = prepare(
        nova2,
        nova_body(json!({})).to_string().as_bytes(),
        Rules::default(),
    )
    .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&sent).unwrap()["inferenceConfig"],
        json!({"maxTokens": 1024})
    );
    let tuned = nova_body(
        json!({"schemaVersion": "messages-v1", "system": [{"text": "s"}],
        "inferenceConfig": {"maxTokens": 50, "topP": 0.5, "top_k": 3, "stopSequences": ["x"]}}),
    );
    let (sent, format) =
        prepare(APP_PROFILE, tuned.to_string().as_bytes(), Rules::default()).unwrap();
    assert_eq!(format, NativeFormat::Nova);
    assert_eq!(serde_json::from_slice::<Value>(&sent).unwrap(), tuned);
}

#[test]
fn a_token_count_over_the_target_s_cap_is_lowered_to_it() {
    let sent = |model: &str, body: Value, cap| {
        let (sent, _) = prepare(
            model,
            body.to_string().as_bytes(),
            Rules {
                max_tokens: Some(cap),
                ..Rules::default()
            },
        )
        .unwrap();
        serde_json::from_slice::<Value>(&sent).unwrap()
    };
    let claude = claude_body(json!({"max_tokens": 4000}));
    assert_eq!(sent(HAIKU, claude.clone(), 1000)["max_tokens"], 1000);
    assert_eq!(
        sent(HAIKU, claude, 8000)["max_tokens"],
        4000,
        "under the cap: as sent"
    );
    let nova = nova_body(json!({"inferenceConfig": {"maxTokens": 5000}}));
    assert_eq!(sent(NOVA, nova, 512)["inferenceConfig"]["maxTokens"], 512);
    let defaulted = sent(NOVA, nova_body(json!({})), 512);
    assert_eq!(defaulted["inferenceConfig"], json!({"max_new_tokens": 512}));
}

#[test]
fn bad_native_bodies_name_the_field() {
    let claude_cases = [
        (json!({"model": "anthropic.claude-opus"}), "model: unknown field; accepted fields: anthropic_version, messages, max_tokens, system, temperature, top_p, top_k, stop_sequences"),
        (json!({"stream": true}), "stream: unknown field"),
        (json!({"tools": []}), "tools: unknown field"),
        (json!({"anthropic_version": "2023-06-01"}), "anthropic_version: must be \"bedrock-2023-05-31\""),
        (json!({"max_tokens": 8193}), "max_tokens: must be between 1 and 8192"),
        (json!({"max_tokens": 0}), "max_tokens: must be between 1 and 8192"),
        (json!({"max_tokens": "10"}), "max_tokens: must be between 1 and 8192"),
        (json!({"messages": []}), "messages: must have 1 to 200 messages"),
        (json!({"messages": {}}), "messages: must be an array of messages"),
        (json!({"messages": [{"role": "assistant", "content": "x"}]}), "messages[0].role: the conversation must start with a user message"),
        (json!({"messages": [{"role": "system", "content": "x"}]}), "messages[0].role: must be user or assistant"),
        (json!({"messages": [{"role": "user", "content": "x", "name": "n"}]}), "messages[0].name: unknown field"),
        (json!({"messages": [{"role": "user", "content": " "}]}), "messages[0].content: must be a non-empty string or array of content blocks"),
        (json!({"messages": [{"role": "user", "content": [{"type": "tool_use"}]}]}), "messages[0].content[0].type: must be \"text\", \"image\" or \"document\""),
        (json!({"messages": [{"role": "user", "content": [{"type": "text"}]}]}), "messages[0].content[0].text: must be a string"),
        (json!({"messages": [{"role": "user", "content": "x".repeat(100_001)}]}), "messages[0].content: must be at most 100000 characters"),
        (json!({"system": "s".repeat(20_001)}), "system: must be at most 20000 characters"),
        (json!({"temperature": 1.5}), "temperature: must be between 0 and 1"),
        (json!({"top_p": "high"}), "top_p: must be between 0 and 1"),
        (json!({"top_k": -1}), "top_k: must be a whole number of at least 0"),
        (json!({"stop_sequences": "stop"}), "stop_sequences: must be at most 16 strings of 1 to 200 characters"),
    ];
    for (extra, expected) in claude_cases {
        let message = refusal(HAIKU, &claude_body(extra));
        assert!(message.starts_with(expected), "{message}");
    }
    let mut missing = claude_body(json!({}));
    missing.as_object_mut().unwrap().remove("max_tokens");
    assert_eq!(refusal(HAIKU, &missing), "max_tokens: is required");

    let nova_cases = [
        (json!({"anthropic_version": "bedrock-2023-05-31"}), "anthropic_version: unknown field; accepted fields: schemaVersion, messages, system, inferenceConfig"),
        (json!({"toolConfig": {}}), "toolConfig: unknown field"),
        (json!({"schemaVersion": "v2"}), "schemaVersion: must be \"messages-v1\""),
        (json!({"inferenceConfig": {"maxTokens": 9000}}), "inferenceConfig.maxTokens: must be between 1 and 8192"),
        (json!({"inferenceConfig": {"max_new_tokens": 0}}), "inferenceConfig.max_new_tokens: must be between 1 and 8192"),
        (json!({"inferenceConfig": {"reasoningConfig": {}}}), "inferenceConfig.reasoningConfig: unknown field"),
        (json!({"inferenceConfig": {"topP": 2}}), "inferenceConfig.topP: must be between 0 and 1"),
        (json!({"inferenceConfig": []}), "inferenceConfig: must be an object"),
        (json!({"messages": [{"role": "user", "content": "plain"}]}), "messages[0].content: must be a non-empty array of content blocks"),
        (json!({"messages": [{"role": "user", "content": [{"text": "a", "image": {}}]}]}), "messages[0].content[0]: must have exactly one member"),
        (json!({"messages": [{"role": "user", "content": [{"toolUse": {}}]}]}), "messages[0].content[0]: must have exactly one member"),
        (json!({"messages": [{"role": "user", "content": [{"text": 1}]}]}), "messages[0].content[0].text: must be a string"),
        (json!({"system": "plain"}), "system: must be a non-empty array of content blocks"),
    ];
    for (extra, expected) in nova_cases {
        let message = refusal(NOVA, &nova_body(extra));
        assert!(message.starts_with(expected), "{message}");
    }
    assert!(matches!(
        prepare(NOVA, b"{\"messages\": [", Rules::default()),
        Err(BodyError::Json(_))
    ));
    assert_eq!(refusal(NOVA, &json!([1])), "body: must be a JSON object");
    assert_eq!(
        refusal("meta.llama3-70b-instruct-v1:0", &nova_body(json!({}))),
        "route: its model takes neither Anthropic Messages nor Amazon Nova bodies"
    );
}

/// The error `prepare` refuses `body` with under the default rules.
fn refused(model: &str, body: &Value) -> ValidationError {
    refused_by(model, body, Rules::default())
}

fn refused_by(model: &str, body: &Value, rules: Rules) -> ValidationError {
    match prepare(model, body.to_string().as_bytes(), rules) {
        Err(BodyError::Invalid(error)) => error,
        other => panic!("{body}: {other:?}"),
    }
}

/// A Nova user turn of `blocks`.
fn nova_turn(blocks: Value) -> Value {
    nova_body(json!({"messages": [{"role": "user", "content": blocks}]}))
}

#[test]
fn nova_media_must_come_inline_never_from_s3() {
    let s3 = json!({"s3Location": {"uri": "s3://someone-else/secret.mp4", "bucketOwner": "123456789012"}});
    let cases = [
        (
            json!([{"text": "Describe"}, {"video": {"format": "mp4", "source": s3}}]),
            "messages[0].content[1].video.source.s3Location",
        ),
        (
            json!([{"image": {"format": "png", "source": s3}}]),
            "messages[0].content[0].image.source.s3Location",
        ),
        (
            json!([{"document": {"format": "pdf", "name": "report", "source": s3}}]),
            "messages[0].content[0].document.source.s3Location",
        ),
        (
            json!([{"image": {"format": "png", "source": {"bytes": "AA==", "s3Location": {"uri": "s3://b/k"}}}}]),
            "messages[0].content[0].image.source.s3Location",
        ),
        (
            json!([{"image": {"format": "png", "source": {"uri": "https://example.com/a.png"}}}]),
            "messages[0].content[0].image.source.uri",
        ),
        (
            json!([{"image": {"format": "png", "source": {}}}]),
            "messages[0].content[0].image.source.bytes",
        ),
        (
            json!([{"image": {"format": "png", "source": {"bytes": 7}}}]),
            "messages[0].content[0].image.source.bytes",
        ),
        (
            json!([{"image": {"format": "png"}}]),
            "messages[0].content[0].image.source",
        ),
        (
            json!([{"image": {"format": "png", "source": {"bytes": "AA=="}, "s3Location": {}}}]),
            "messages[0].content[0].image.s3Location",
        ),
        (
            json!([{"image": {"source": {"bytes": "AA=="}}}]),
            "messages[0].content[0].image.format",
        ),
        (json!([{"image": "AA=="}]), "messages[0].content[0].image"),
        (
            json!([{"toolResult": {"content": [{"image": {"source": s3}}]}}]),
            "messages[0].content[0]",
        ),
        (
            json!([{"cachePoint": {"type": "default"}}]),
            "messages[0].content[0]",
        ),
    ];
    for (blocks, field) in cases {
        let body = nova_turn(blocks);
        let error = refused(NOVA, &body);
        assert_eq!(error.field, field, "{body}: {error}");
    }
    let error = refused(
        NOVA,
        &nova_turn(json!([{"image": {"format": "png", "source": s3}}])),
    );
    assert!(error.problem.contains("base64"), "{error}");
    let in_system = nova_body(json!({"system": [{"image": {"format": "png", "source": s3}}]}));
    assert_eq!(
        refused(NOVA, &in_system).field,
        "system[0].image.source.s3Location"
    );
    let later_turn = nova_body(json!({"messages": [
        {"role": "user", "content": [{"text": "a"}]},
        {"role": "assistant", "content": [{"text": "b"}]},
        {"role": "user", "content": [{"video": {"format": "mp4", "source": s3}}]}]}));
    assert_eq!(
        refused(NOVA, &later_turn).field,
        "messages[2].content[0].video.source.s3Location"
    );
}

#[test]
fn nova_media_with_inline_bytes_passes_as_sent() {
    let body = nova_turn(json!([
        {"text": "Compare"},
        {"image": {"format": "png", "source": {"bytes": "AA=="}}},
        {"document": {"format": "pdf", "name": "report", "source": {"bytes": "JVBERg=="}}},
        {"video": {"format": "mp4", "source": {"bytes": "AAAAGGZ0eXA="}}},
    ]));
    let (sent, _) = prepare(NOVA, body.to_string().as_bytes(), Rules::default()).unwrap();
    let sent: Value = serde_json::from_slice(&sent).unwrap();
    assert_eq!(sent["messages"], body["messages"]);
}

/// A Claude user turn of `blocks`.
fn claude_turn(blocks: Value) -> Value {
    claude_body(json!({"messages": [{"role": "user", "content": blocks}]}))
}

const CACHING: Rules = Rules {
    max_tokens: None,
    prompt_caching: true,
};

#[test]
fn cache_control_needs_a_route_that_allows_prompt_caching() {
    let ephemeral = json!({"type": "ephemeral"});
    let marked = [
        (
            claude_turn(
                json!([{"type": "text", "text": "Long context", "cache_control": ephemeral}]),
            ),
            "messages[0].content[0].cache_control",
        ),
        (
            claude_body(
                json!({"system": [{"type": "text", "text": "Rules", "cache_control": ephemeral}]}),
            ),
            "system[0].cache_control",
        ),
        (
            claude_body(json!({"messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": [{"type": "text", "text": "c"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="},
                     "cache_control": ephemeral}]}]})),
            "messages[2].content[1].cache_control",
        ),
    ];
    for (body, field) in &marked {
        let error = refused(HAIKU, body);
        assert_eq!(
            (error.field.as_str(), error.problem.as_str()),
            (*field, "this route does not allow prompt caching"),
            "{body}"
        );
        let (sent, _) = prepare(HAIKU, body.to_string().as_bytes(), CACHING).unwrap();
        assert_eq!(&serde_json::from_slice::<Value>(&sent).unwrap(), body);
    }
    let tools = claude_body(
        json!({"tools": [{"name": "t", "input_schema": {}, "cache_control": ephemeral}]}),
    );
    assert_eq!(refused_by(HAIKU, &tools, CACHING).field, "tools");
    let one_hour = claude_turn(
        json!([{"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]),
    );
    assert!(prepare(HAIKU, one_hour.to_string().as_bytes(), CACHING).is_ok());
    let bad_markers = [
        (json!("ephemeral"), "messages[0].content[0].cache_control"),
        (
            json!({"type": "forever"}),
            "messages[0].content[0].cache_control.type",
        ),
        (
            json!({"type": "ephemeral", "ttl": "1d"}),
            "messages[0].content[0].cache_control.ttl",
        ),
        (
            json!({"type": "ephemeral", "scope": "global"}),
            "messages[0].content[0].cache_control.scope",
        ),
    ];
    for (marker, field) in bad_markers {
        let body = claude_turn(json!([{"type": "text", "text": "x", "cache_control": marker}]));
        assert_eq!(refused_by(HAIKU, &body, CACHING).field, field, "{body}");
    }
}

#[test]
fn claude_media_must_come_inline_as_base64() {
    let url = json!({"type": "url", "url": "https://169.254.169.254/latest/meta-data/"});
    let cases = [
        (
            json!([{"type": "text", "text": "What is it?"}, {"type": "image", "source": url}]),
            "messages[0].content[1].source.type",
        ),
        (
            json!([{"type": "document", "source": url}]),
            "messages[0].content[0].source.type",
        ),
        (
            json!([{"type": "document", "source": {"type": "file", "file_id": "file_1"}}]),
            "messages[0].content[0].source.type",
        ),
        (
            json!([{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}]),
            "messages[0].content[0].source.type",
        ),
        (
            json!([{"type": "image", "source": {"media_type": "image/png", "data": "AA=="}}]),
            "messages[0].content[0].source.type",
        ),
        (
            json!([{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA==", "url": "https://x"}}]),
            "messages[0].content[0].source.url",
        ),
        (
            json!([{"type": "image", "source": {"type": "base64", "media_type": "image/png"}}]),
            "messages[0].content[0].source.data",
        ),
        (
            json!([{"type": "image", "source": {"type": "base64", "media_type": 1, "data": "AA=="}}]),
            "messages[0].content[0].source.media_type",
        ),
        (json!([{"type": "image"}]), "messages[0].content[0].source"),
        (
            json!([{"type": "image", "source": "https://x/y.png"}]),
            "messages[0].content[0].source",
        ),
        (
            json!([{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}, "url": "https://x"}]),
            "messages[0].content[0].url",
        ),
        (
            json!([{"type": "text", "text": "x", "citations": [{"type": "web_search_result_location", "url": "https://x"}]}]),
            "messages[0].content[0].citations",
        ),
        (
            json!([{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image", "source": url}]}]),
            "messages[0].content[0].type",
        ),
        (
            json!([{"type": "search_result", "source": "https://x", "title": "t", "content": []}]),
            "messages[0].content[0].type",
        ),
        (json!(["plain"]), "messages[0].content[0]"),
    ];
    for (blocks, field) in cases {
        let body = claude_turn(blocks);
        let error = refused_by(HAIKU, &body, CACHING);
        assert_eq!(error.field, field, "{body}: {error}");
    }
    let error = refused(
        HAIKU,
        &claude_turn(json!([{"type": "image", "source": url}])),
    );
    assert!(error.problem.contains("base64"), "{error}");
    let in_system = claude_body(json!({"system": [{"type": "image", "source": url}]}));
    assert_eq!(refused(HAIKU, &in_system).field, "system[0].source.type");

    let inline = claude_turn(json!([
        {"type": "document", "title": "Report", "context": "Q3",
         "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERg=="}},
        {"type": "text", "text": "Summarise it"},
    ]));
    let (sent, _) = prepare(HAIKU, inline.to_string().as_bytes(), Rules::default()).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&sent).unwrap(), inline);
}

fn settings() -> Settings {
    let mut config = crate::test_support::one_call_config(crate::config::Timeouts {
        first_byte_ms: 1_000,
        idle_ms: 1_000,
    });
    if let Some(route) = config.routes.get_mut("classify") {
        route.targets[0].model = NOVA.into();
    }
    settings_with(config)
}

fn header<'a>(request: &'a crate::platform::UpstreamRequest, name: &str) -> Option<&'a str> {
    crate::platform::header(&request.headers, name)
}

#[tokio::test(start_paused = true)]
async fn invoke_streams_are_relayed_as_chat_events() {
    let bytes = anthropic_stream(&["Hi", " there"], Some((5, 2)));
    let chunks = bytes.chunks(13).map(<[u8]>::to_vec).collect();
    let platform = ScriptedPlatform::new(vec![Reply::stream(body(chunks, End::Hang))]);
    let sent = claude_body(json!({})).to_string().into_bytes();
    let events: Vec<StreamEvent> = invoke_stream(
        platform.clone(),
        Rc::new(settings()),
        crate::routing::pipeline::RequestContext::new("req-9", START_MS),
        "generate".into(),
        sent.clone(),
    )
    .collect()
    .await;
    let names: Vec<_> = events.iter().map(StreamEvent::name).collect();
    assert_eq!(names, ["meta", "delta", "delta", "done"]);
    let StreamEvent::Done(done) = &events[3] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (done.stop_reason.as_str(), done.usage.input_tokens),
        ("end_turn", 5)
    );
    let request = &platform.requests()[0];
    assert!(request.url.ends_with(
        "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/invoke-with-response-stream"
    ));
    assert_eq!(request.body, sent);
    assert_eq!(
        header(request, "x-amzn-bedrock-accept"),
        Some("application/json")
    );
    assert_eq!(header(request, "content-type"), Some("application/json"));
    let log = &platform.logs()[0];
    assert_eq!(
        (&log["path"], &log["outcome"], &log["stream"]),
        (&json!("/api/invoke/generate"), &json!("ok"), &json!(true))
    );
}

#[tokio::test(start_paused = true)]
async fn whole_invoke_answers_pass_the_native_body_through() {
    let native = r#"{"output":{"message":{"role":"assistant","content":[{"text":"Salut"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":1,"totalTokens":4}}"#;
    let run = |reply: Reply| async {
        let platform = ScriptedPlatform::new(vec![reply]);
        let result = invoke_once(
            platform.clone(),
            Rc::new(settings()),
            crate::routing::pipeline::RequestContext::new("req-10", START_MS),
            "classify".into(),
            nova_body(json!({})).to_string().into_bytes(),
        )
        .await
        .result;
        (result, platform)
    };
    let (result, platform) = run(Reply::json(native)).await;
    let answer = result.unwrap();
    assert_eq!(answer.bytes, native.as_bytes());
    assert_eq!(answer.content_type, "application/json");
    let request = &platform.requests()[0];
    assert!(request
        .url
        .ends_with("/model/amazon.nova-lite-v1%3A0/invoke"));
    assert_eq!(header(request, "accept"), Some("application/json"));
    let log = &platform.logs()[0];
    assert_eq!(
        (&log["output_tokens"], &log["stream"]),
        (&json!(1), &json!(false))
    );

    let (result, _) = run(Reply::json(&native[..native.len() / 2])).await;
    assert_eq!(result.unwrap_err().kind, BedrockErrorKind::BadFrame);
    let (result, platform) = run(Reply::error(408, "ModelTimeoutException", "slow")).await;
    let error = result.unwrap_err();
    assert_eq!(
        (error.code(), error.http_status()),
        (ErrorCode::UpstreamTimeout, 504)
    );
    assert_eq!(platform.logs()[0]["error"], "model_timeout");
}

#[test]
fn native_media_meets_the_same_limits_as_chat_blocks() {
    let wide_png = {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        bytes.extend(9000u32.to_be_bytes());
        bytes.extend(10u32.to_be_bytes());
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let nova_cases = [
        (
            json!([{"image": {"format": "png", "source": {"bytes": "not base64!"}}}]),
            "messages[0].content[0].image.source.bytes",
            "must be base64",
        ),
        (
            json!([{"image": {"format": "png", "source": {"bytes": wide_png}}}]),
            "messages[0].content[0].image.source.bytes",
            "9000x10 px",
        ),
        (
            json!([{"document": {"format": "pdf", "name": "big", "source": {"bytes": "A".repeat(6_000_004)}}}]),
            "messages[0].content[0].document.source.bytes",
            "at most 4500000 bytes",
        ),
    ];
    for (blocks, field, problem) in nova_cases {
        let error = refused(NOVA, &nova_turn(blocks));
        assert_eq!(error.field, field, "{error}");
        assert!(error.problem.contains(problem), "{error}");
    }
    let claude = claude_turn(json!([{"type": "image", "source": {
        "type": "base64", "media_type": "image/png", "data": "A".repeat(5_000_004)
    }}]));
    let error = refused(HAIKU, &claude);
    assert_eq!(error.field, "messages[0].content[0].source.data", "{error}");
    assert!(error.problem.contains("at most 3750000 bytes"), "{error}");
}
