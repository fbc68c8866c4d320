//! The Converse API: the JSON body built from a chat request, the mapping of ConverseStream's
//! events to text, stop and usage events, and the parser of a whole (non-streamed) answer.

use crate::bedrock::{
    decode::{json, EventMapper, Metrics, StreamDecoder, UpstreamEvent},
    error::BedrockError,
    eventstream::FrameView,
};
use serde::{Deserialize, Serialize};
use shared::{ChatRequest, Role, Usage};
use std::borrow::Cow;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConverseBody<'a> {
    messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<Text<'a>>,
    inference_config: InferenceConfig<'a>,
}

#[derive(Serialize)]
struct Message<'a> {
    role: Role,
    /// The client's blocks as they came: the chat API writes them in Converse's shape.
    content: Cow<'a, [shared::ContentBlock]>,
}

#[derive(Serialize)]
struct Text<'a> {
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InferenceConfig<'a> {
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sequences: Option<&'a [String]>,
}

/// The Converse / ConverseStream request body. `max_tokens` defaults to `default_max_tokens`
/// and never exceeds `max_tokens_cap`.
pub fn build_body(request: &ChatRequest, max_tokens_cap: u32, default_max_tokens: u32) -> Vec<u8> {
    let body = ConverseBody {
        messages: request
            .messages
            .iter()
            .map(|m| Message {
                role: m.role,
                content: m.content.blocks(),
            })
            .collect(),
        system: request
            .system
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|text| Text { text })
            .into_iter()
            .collect(),
        inference_config: InferenceConfig {
            max_tokens: request
                .max_tokens
                .unwrap_or(default_max_tokens)
                .min(max_tokens_cap),
            temperature: request.temperature,
            top_p: request.top_p,
            stop_sequences: request.stop_sequences.as_deref(),
        },
    };
    // Strings and numbers only: serialising cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

#[derive(Deserialize)]
struct BlockDelta {
    delta: DeltaBody,
}

/// A union; only `text` matters here (tool use and reasoning deltas are skipped).
#[derive(Deserialize)]
struct DeltaBody {
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageStop {
    stop_reason: String,
}

#[derive(Deserialize)]
struct Metadata {
    usage: TokenUsage,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenUsage {
    input_tokens: u32,
    output_tokens: u32,
}

/// ConverseStream's events (`contentBlockDelta`, `messageStop`, `metadata`; others are
/// skipped), also the inner events of Amazon Nova's invoke stream, which has the same shapes.
#[derive(Debug, Default)]
pub struct ConverseEvents {
    stopped: bool,
}

impl ConverseEvents {
    /// The ConverseStream decoder.
    pub fn decoder() -> StreamDecoder {
        StreamDecoder::new(Self::default())
    }

    /// Handles an event: its text, stop reason or usage.
    fn on(&mut self, event: ConverseEvent, out: &mut Vec<UpstreamEvent>) {
        let text = event.content_block_delta.and_then(|d| d.delta.text);
        out.extend(text.filter(|t| !t.is_empty()).map(UpstreamEvent::Text));
        if let Some(stop) = event.message_stop {
            self.stopped = true;
            out.push(UpstreamEvent::Stop {
                reason: stop.stop_reason,
            });
        }
        if let Some(Metadata { usage }) = event.metadata {
            out.push(UpstreamEvent::Usage {
                input: usage.input_tokens,
                output: usage.output_tokens,
            });
        }
    }

    /// Handles one of Amazon Nova's invoke chunks (`{"<eventType>": payload}`); Bedrock's
    /// metrics, on the last chunk, are left to the caller.
    pub fn on_chunk(
        &mut self,
        chunk: &[u8],
        out: &mut Vec<UpstreamEvent>,
    ) -> Result<Option<Metrics>, BedrockError> {
        let mut event: ConverseEvent = json("chunk bytes", chunk)?;
        let metrics = event.metrics.take();
        self.on(event, out);
        Ok(metrics)
    }
}

/// The events used, each under its name: a ConverseStream frame's payload goes under its
/// `:event-type`; a Nova invoke chunk is already that object, with Bedrock's metrics on the
/// last one. Other events (tool use, reasoning) are skipped unparsed.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseEvent {
    content_block_delta: Option<BlockDelta>,
    message_stop: Option<MessageStop>,
    metadata: Option<Metadata>,
    #[serde(rename = "amazon-bedrock-invocationMetrics")]
    metrics: Option<Metrics>,
}

impl EventMapper for ConverseEvents {
    fn on_event(
        &mut self,
        frame: &FrameView<'_>,
        out: &mut Vec<UpstreamEvent>,
    ) -> Result<(), BedrockError> {
        let (name, payload) = (frame.event_type().unwrap_or_default(), frame.payload);
        let event = match name {
            "contentBlockDelta" => ConverseEvent {
                content_block_delta: Some(json(name, payload)?),
                ..ConverseEvent::default()
            },
            "messageStop" => ConverseEvent {
                message_stop: Some(json(name, payload)?),
                ..ConverseEvent::default()
            },
            "metadata" => ConverseEvent {
                metadata: Some(json(name, payload)?),
                ..ConverseEvent::default()
            },
            _ => return Ok(()),
        };
        self.on(event, out);
        Ok(())
    }

    fn complete(&self) -> bool {
        self.stopped
    }
}

/// A whole (non-streamed) answer: Converse's, or the summary of a native InvokeModel body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WholeAnswer {
    pub text: String,
    pub stop_reason: String,
    pub usage: Usage,
}

impl WholeAnswer {
    /// The answer as the events a stream of it would have given.
    pub fn into_events(self) -> Vec<UpstreamEvent> {
        let text = Some(self.text).filter(|t| !t.is_empty());
        text.map(UpstreamEvent::Text)
            .into_iter()
            .chain([
                UpstreamEvent::Stop {
                    reason: self.stop_reason,
                },
                UpstreamEvent::Usage {
                    input: self.usage.input_tokens,
                    output: self.usage.output_tokens,
                },
            ])
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseResponse {
    output: Output,
    stop_reason: String,
    usage: TokenUsage,
}

#[derive(Deserialize)]
struct Output {
    message: OutputMessage,
}

#[derive(Deserialize)]
struct OutputMessage {
    content: Vec<ContentBlock>,
}

#[derive(Deserialize)]
struct ContentBlock {
    text: Option<String>,
}

/// Parses a 200 Converse body (or Amazon Nova's InvokeModel body, the same without
/// `metrics`); its text blocks are joined.
pub fn parse_converse_response(body: &[u8]) -> Result<WholeAnswer, BedrockError> {
    let response: ConverseResponse = json("Converse response", body)?;
    Ok(WholeAnswer {
        text: response
            .output
            .message
            .content
            .into_iter()
            .filter_map(|block| block.text)
            .collect(),
        stop_reason: response.stop_reason,
        usage: Usage {
            input_tokens: response.usage.input_tokens,
            output_tokens: response.usage.output_tokens,
        },
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bedrock::{
        error::BedrockErrorKind,
        eventstream::{encode, Frame},
    };
    use shared::ChatMessage;

    pub(crate) fn event(kind: &str, json: &str) -> Vec<u8> {
        encode(&Frame::new(
            &[
                (":event-type", kind),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            json,
        ))
    }

    pub(crate) fn text(text: &str) -> Vec<u8> {
        let json =
            serde_json::json!({"contentBlockIndex": 0, "delta": {"text": text}, "p": "abcdefgh"});
        event("contentBlockDelta", &json.to_string())
    }

    pub(crate) fn stop_and_usage(reason: &str, input: u32, output: u32) -> Vec<u8> {
        let mut bytes = event("contentBlockStop", r#"{"contentBlockIndex":0}"#);
        bytes.extend(event(
            "messageStop",
            &format!(r#"{{"stopReason":"{reason}","p":"abc"}}"#),
        ));
        bytes.extend(event(
            "metadata",
            &format!(
                r#"{{"usage":{{"inputTokens":{input},"outputTokens":{output},"totalTokens":{}}},"metrics":{{"latencyMs":42}}}}"#,
                input + output
            ),
        ));
        bytes
    }

    pub(crate) fn exception(kind: &str, message: &str) -> Vec<u8> {
        encode(&Frame::new(
            &[
                (":exception-type", kind),
                (":content-type", "application/json"),
                (":message-type", "exception"),
            ],
            serde_json::json!({ "message": message }).to_string(),
        ))
    }

    /// A complete answer: messageStart, the texts, stop and metadata.
    pub(crate) fn answer(texts: &[&str]) -> Vec<u8> {
        let mut bytes = event(
            "messageStart",
            r#"{"p":"abcdefghijklmn","role":"assistant"}"#,
        );
        for t in texts {
            bytes.extend(text(t));
        }
        bytes.extend(stop_and_usage("end_turn", 11, 7));
        bytes
    }

    fn decode_in_chunks(bytes: &[u8], size: usize) -> Vec<UpstreamEvent> {
        let mut decoder = ConverseEvents::decoder();
        let mut events: Vec<_> = bytes.chunks(size).flat_map(|c| decoder.push(c)).collect();
        if let Err(error) = decoder.finish() {
            events.push(UpstreamEvent::Error(error));
        }
        events
    }

    #[test]
    fn body_has_the_converse_shape() {
        let request = ChatRequest {
            messages: vec![
                ChatMessage::user("Hi"),
                ChatMessage::assistant("Hello"),
                ChatMessage::user("Sum \"this\""),
            ],
            system: Some("Be brief.".into()),
            max_tokens: Some(100_000),
            temperature: Some(0.7),
            top_p: Some(0.9),
            stop_sequences: Some(vec!["END".into()]),
            ..ChatRequest::default()
        };
        let body: serde_json::Value =
            serde_json::from_slice(&build_body(&request, 8192, 1024)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "messages": [
                    {"role": "user", "content": [{"text": "Hi"}]},
                    {"role": "assistant", "content": [{"text": "Hello"}]},
                    {"role": "user", "content": [{"text": "Sum \"this\""}]},
                ],
                "system": [{"text": "Be brief."}],
                "inferenceConfig": {
                    "maxTokens": 8192, "temperature": 0.7, "topP": 0.9, "stopSequences": ["END"]
                },
            })
        );
        let with_image: ChatRequest = serde_json::from_value(serde_json::json!({"messages": [
            {"role": "user", "content": [
                {"text": "What is this?"},
                {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}
            ]}
        ]}))
        .unwrap();
        let body: serde_json::Value =
            serde_json::from_slice(&build_body(&with_image, 8192, 1024)).unwrap();
        assert_eq!(
            body["messages"][0]["content"],
            serde_json::json!([
                {"text": "What is this?"},
                {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}
            ]),
            "blocks go to Converse as they came"
        );
        let minimal = ChatRequest {
            messages: vec![ChatMessage::user("Hi")],
            ..ChatRequest::default()
        };
        assert_eq!(
            String::from_utf8(build_body(&minimal, 8192, 1024)).unwrap(),
            r#"{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"inferenceConfig":{"maxTokens":1024}}"#
        );
    }

    #[test]
    fn stream_decodes_the_same_at_every_chunk_size() {
        let mut bytes = answer(&["Hel", "lo ", "wörld"]);
        bytes.extend(event("someFutureEvent", r#"{"x":1}"#));
        let expected = vec![
            UpstreamEvent::Text("Hel".into()),
            UpstreamEvent::Text("lo ".into()),
            UpstreamEvent::Text("wörld".into()),
            UpstreamEvent::Stop {
                reason: "end_turn".into(),
            },
            UpstreamEvent::Usage {
                input: 11,
                output: 7,
            },
        ];
        for size in 1..=bytes.len() {
            assert_eq!(
                decode_in_chunks(&bytes, size),
                expected,
                "chunk size {size}"
            );
        }
    }

    #[test]
    fn tool_use_deltas_are_skipped() {
        let mut bytes = event(
            "contentBlockStart",
            r#"{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"t","name":"n"}}}"#,
        );
        bytes.extend(event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"a\""}}}"#,
        ));
        bytes.extend(stop_and_usage("tool_use", 1, 2));
        let events = decode_in_chunks(&bytes, 5);
        assert_eq!(events.len(), 2);
        assert!(matches!(events[0], UpstreamEvent::Stop { .. }));
    }

    #[test]
    fn exceptions_end_the_stream() {
        let mut bytes = text("partial");
        bytes.extend(exception("throttlingException", "Too many requests"));
        bytes.extend(text("ignored"));
        let events = decode_in_chunks(&bytes, 9);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0], UpstreamEvent::Text("partial".into()));
        match &events[1] {
            UpstreamEvent::Error(e) => assert_eq!(e.kind, BedrockErrorKind::Throttling),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn corruption_and_truncation_are_errors() {
        let whole = answer(&["Hello"]);
        let mut corrupt = whole.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        let events = decode_in_chunks(&corrupt, 64);
        assert!(matches!(
            events.last(),
            Some(UpstreamEvent::Error(BedrockError {
                kind: BedrockErrorKind::BadFrame,
                ..
            }))
        ));
        for cut in [whole.len() - 3, text("x").len() + 5] {
            let events = decode_in_chunks(&whole[..cut], 64);
            assert!(
                matches!(
                    events.last(),
                    Some(UpstreamEvent::Error(BedrockError {
                        kind: BedrockErrorKind::Truncated,
                        ..
                    }))
                ),
                "cut at {cut}: {events:?}"
            );
        }
        let no_stop = [event("messageStart", r#"{"role":"assistant"}"#), text("Hi")].concat();
        assert!(matches!(
            decode_in_chunks(&no_stop, 64).last(),
            Some(UpstreamEvent::Error(BedrockError {
                kind: BedrockErrorKind::Truncated,
                ..
            }))
        ));
        let bad_json = event("messageStop", r#"{"stopReason":"#);
        assert!(matches!(
            decode_in_chunks(&bad_json, 64).as_slice(),
            [UpstreamEvent::Error(BedrockError {
                kind: BedrockErrorKind::BadFrame,
                ..
            })]
        ));
    }

    #[test]
    fn whole_answers_parse() {
        let body = br#"{"output":{"message":{"role":"assistant","content":[{"text":"Hello "},{"toolUse":{}},{"text":"there"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":2,"totalTokens":5},"metrics":{"latencyMs":10},"p":"x"}"#;
        assert_eq!(
            parse_converse_response(body).unwrap(),
            WholeAnswer {
                text: "Hello there".into(),
                stop_reason: "end_turn".into(),
                usage: Usage {
                    input_tokens: 3,
                    output_tokens: 2
                },
            }
        );
        assert_eq!(
            parse_converse_response(b"{}").unwrap_err().kind,
            BedrockErrorKind::BadFrame
        );
    }
}
