//! Anthropic Claude's native Messages format on Bedrock: the request body the edge accepts
//! for InvokeModel, the stream's events (`content_block_delta`, `message_delta`,
//! `message_stop`) as upstream events, and the summary of a whole answer.

use crate::{
    bedrock::{
        converse::WholeAnswer,
        decode::{json, Metrics, UpstreamEvent},
        error::{BedrockError, BedrockErrorKind},
        native::checks::{
            check_count, check_fields, check_max_tokens, check_messages, check_stop_sequences,
            check_unit,
        },
    },
    config::limits::{ValidationError, MAX_SYSTEM_CHARS},
};
use serde::Deserialize;
use serde_json::{Map, Value};
use shared::Usage;

/// The only `anthropic_version` Bedrock accepts.
pub const VERSION: &str = "bedrock-2023-05-31";

/// The documented fields; anything else (`model`, `stream`, `tools`, …) is refused.
const FIELDS: [&str; 8] = [
    "anthropic_version",
    "messages",
    "max_tokens",
    "system",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
];

/// Checks an Anthropic Messages body; the error names the first bad field.
pub fn check(fields: &Map<String, Value>) -> Result<(), ValidationError> {
    check_fields(
        fields,
        "",
        &FIELDS,
        &["anthropic_version", "max_tokens", "messages"],
    )?;
    if fields.get("anthropic_version").and_then(Value::as_str) != Some(VERSION) {
        return Err(ValidationError::new(
            "anthropic_version",
            format!("must be \"{VERSION}\""),
        ));
    }
    check_max_tokens(
        fields.get("max_tokens").unwrap_or(&Value::Null),
        "max_tokens",
    )?;
    check_messages(fields.get("messages"), content_chars)?;
    if let Some(system) = fields.get("system") {
        if content_chars(system, "system")? > MAX_SYSTEM_CHARS {
            let problem = format!("must be at most {MAX_SYSTEM_CHARS} characters");
            return Err(ValidationError::new("system", problem));
        }
    }
    check_unit(fields.get("temperature"), "temperature")?;
    check_unit(fields.get("top_p"), "top_p")?;
    check_count(fields.get("top_k"), "top_k")?;
    check_stop_sequences(fields.get("stop_sequences"), "stop_sequences")
}

/// Characters of text in `content`: a non-empty string, or a non-empty array of `text` and
/// `image` blocks.
fn content_chars(content: &Value, path: &str) -> Result<usize, ValidationError> {
    let blocks = match content {
        Value::String(text) if !text.trim().is_empty() => return Ok(text.chars().count()),
        Value::Array(blocks) if !blocks.is_empty() => blocks,
        _ => {
            let problem = "must be a non-empty string or array of content blocks";
            return Err(ValidationError::new(path, problem));
        }
    };
    let mut chars = 0;
    for (j, block) in blocks.iter().enumerate() {
        let block_path = format!("{path}[{j}]");
        match block.get("type").and_then(Value::as_str) {
            Some("text") => match block.get("text").and_then(Value::as_str) {
                Some(text) => chars += text.chars().count(),
                None => {
                    return Err(ValidationError::new(
                        format!("{block_path}.text"),
                        "must be a string",
                    ))
                }
            },
            Some("image") if block.get("source").is_some_and(Value::is_object) => {}
            Some("image") => {
                return Err(ValidationError::new(
                    format!("{block_path}.source"),
                    "must be an object",
                ))
            }
            _ => {
                let problem = "must be \"text\" or \"image\"";
                return Err(ValidationError::new(format!("{block_path}.type"), problem));
            }
        }
    }
    Ok(chars)
}

#[derive(Deserialize)]
struct Counts {
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct StartMessage {
    usage: Option<Counts>,
}

/// The `delta` of `content_block_delta` (`type`, `text`) or of `message_delta` (`stop_reason`).
#[derive(Deserialize)]
struct Delta {
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<String>,
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// One streamed event; which members are set depends on `type`. Bedrock adds its metrics to
/// the last one.
#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    message: Option<StartMessage>,
    delta: Option<Delta>,
    usage: Option<Counts>,
    error: Option<ErrorDetail>,
    #[serde(rename = "amazon-bedrock-invocationMetrics")]
    metrics: Option<Metrics>,
}

/// The events of Claude's stream: text from `text_delta`s, the stop reason from
/// `message_delta`, and usage (counted from `message_start` and `message_delta`) at
/// `message_stop`. Other events and deltas (tool input, thinking) are skipped.
#[derive(Debug, Default)]
pub struct AnthropicEvents {
    usage: Usage,
    stopped: bool,
}

impl AnthropicEvents {
    /// Handles one invoke chunk (an event's JSON); Bedrock's metrics, on the last chunk, are
    /// left to the caller.
    pub fn on_chunk(
        &mut self,
        chunk: &[u8],
        out: &mut Vec<UpstreamEvent>,
    ) -> Result<Option<Metrics>, BedrockError> {
        let mut event: Event = json("chunk bytes", chunk)?;
        let metrics = event.metrics.take();
        match event.kind.as_str() {
            "message_start" => self.count(event.message.and_then(|m| m.usage)),
            "content_block_delta" => {
                let text = event
                    .delta
                    .filter(|d| d.kind.as_deref() == Some("text_delta"))
                    .and_then(|d| d.text)
                    .filter(|t| !t.is_empty());
                out.extend(text.map(UpstreamEvent::Text));
            }
            "message_delta" => {
                self.count(event.usage);
                if let Some(reason) = event.delta.and_then(|d| d.stop_reason) {
                    self.stopped = true;
                    out.push(UpstreamEvent::Stop { reason });
                }
            }
            "message_stop" => {
                self.stopped = true;
                out.push(UpstreamEvent::Usage {
                    input: self.usage.input_tokens,
                    output: self.usage.output_tokens,
                });
            }
            "error" => {
                let kind = event.error.and_then(|e| e.kind).unwrap_or_default();
                return Err(BedrockError::new(
                    BedrockErrorKind::ModelStreamError,
                    format!("model stream error event: {kind}"),
                ));
            }
            _ => {}
        }
        Ok(metrics)
    }

    /// Whether the stop reason (or `message_stop`) has been seen.
    pub fn complete(&self) -> bool {
        self.stopped
    }

    fn count(&mut self, counts: Option<Counts>) {
        if let Some(counts) = counts {
            let usage = &mut self.usage;
            usage.input_tokens = counts.input_tokens.unwrap_or(usage.input_tokens);
            usage.output_tokens = counts.output_tokens.unwrap_or(usage.output_tokens);
        }
    }
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: Counts,
}

/// Summarises a whole InvokeModel answer (an Anthropic Message); its text blocks are joined.
pub fn parse_response(body: &[u8]) -> Result<WholeAnswer, BedrockError> {
    let message: Message = json("Anthropic message", body)?;
    Ok(WholeAnswer {
        text: message
            .content
            .into_iter()
            .filter(|block| block.kind == "text")
            .filter_map(|block| block.text)
            .collect(),
        stop_reason: message.stop_reason.unwrap_or_default(),
        usage: Usage {
            input_tokens: message.usage.input_tokens.unwrap_or_default(),
            output_tokens: message.usage.output_tokens.unwrap_or_default(),
        },
    })
}
