//! Anthropic Claude's native Messages format on Bedrock: the request body the edge accepts
//! for InvokeModel (media only inline, `cache_control` only where the route allows prompt
//! caching), the stream's events (`content_block_delta`, `message_delta`,
//! `message_stop`) as upstream events, and the summary of a whole answer.

use crate::{
    bedrock::{
        converse::WholeAnswer,
        decode::{json, Metrics, UpstreamEvent},
        error::{BedrockError, BedrockErrorKind},
        media::{check_bytes, Media},
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

/// Checks an Anthropic Messages body; `cache_control` markers pass only with
/// `prompt_caching`. The error names the first bad field.
pub fn check(fields: &Map<String, Value>, prompt_caching: bool) -> Result<(), ValidationError> {
    let content_chars = |content: &Value, path: &str| content_chars(content, path, prompt_caching);
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

/// The content blocks the edge passes on, by `type`, each with its fields: text, and the media
/// Claude reads (an image, a PDF document), always inline.
const BLOCKS: [(&str, &[&str]); 3] = [
    ("text", &["type", "text", "cache_control"]),
    ("image", &["type", "source", "cache_control"]),
    (
        "document",
        &["type", "source", "title", "context", "cache_control"],
    ),
];

/// Characters of text in `content`: a non-empty string, or a non-empty array of [`BLOCKS`]
/// (their `cache_control` markers only with `prompt_caching`). Any other kind (tool use and
/// results, search results, thinking) is refused.
fn content_chars(
    content: &Value,
    path: &str,
    prompt_caching: bool,
) -> Result<usize, ValidationError> {
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
        let Some(members) = block.as_object() else {
            return Err(ValidationError::new(
                block_path,
                "must be a content block object",
            ));
        };
        let kind = members.get("type").and_then(Value::as_str);
        let Some((kind, fields)) = BLOCKS.iter().find(|(name, _)| Some(*name) == kind) else {
            let problem = "must be \"text\", \"image\" or \"document\"";
            return Err(ValidationError::new(format!("{block_path}.type"), problem));
        };
        if let Some(marker) = members.get("cache_control") {
            let marker_path = format!("{block_path}.cache_control");
            check_cache_control(marker, &marker_path, prompt_caching)?;
        }
        check_fields(members, &format!("{block_path}."), fields, &[])?;
        if *kind == "text" {
            chars += string_chars(members.get("text"), &format!("{block_path}.text"))?;
        } else {
            let media = if *kind == "image" {
                Media::Image
            } else {
                Media::Document
            };
            check_source(
                members.get("source"),
                &format!("{block_path}.source"),
                media,
            )?;
            for name in ["title", "context"] {
                if let Some(value) = members.get(name) {
                    chars += string_chars(Some(value), &format!("{block_path}.{name}"))?;
                }
            }
        }
    }
    Ok(chars)
}

/// Characters of a string at `path`; anything else is refused.
fn string_chars(value: Option<&Value>, path: &str) -> Result<usize, ValidationError> {
    match value {
        Some(Value::String(text)) => Ok(text.chars().count()),
        _ => Err(ValidationError::new(path, "must be a string")),
    }
}

/// A `cache_control` marker at `path`: refused unless the route allows prompt caching, else
/// `{"type": "ephemeral"}` with an optional `ttl` of `5m` or `1h`.
fn check_cache_control(
    marker: &Value,
    path: &str,
    prompt_caching: bool,
) -> Result<(), ValidationError> {
    if !prompt_caching {
        return Err(ValidationError::new(
            path,
            "this route does not allow prompt caching",
        ));
    }
    let Some(members) = marker.as_object() else {
        return Err(ValidationError::new(path, "must be an object"));
    };
    check_fields(members, &format!("{path}."), &["type", "ttl"], &["type"])?;
    if members.get("type").and_then(Value::as_str) != Some("ephemeral") {
        return Err(ValidationError::new(
            format!("{path}.type"),
            "must be \"ephemeral\"",
        ));
    }
    match members.get("ttl").map(Value::as_str) {
        None | Some(Some("5m" | "1h")) => Ok(()),
        Some(_) => Err(ValidationError::new(
            format!("{path}.ttl"),
            "must be \"5m\" or \"1h\"",
        )),
    }
}

/// The `source` of an image or document at `path`: inline base64 data only. A `url` source
/// would have Bedrock fetch whatever address the caller names; `file` and `text` sources are
/// refused too.
fn check_source(source: Option<&Value>, path: &str, media: Media) -> Result<(), ValidationError> {
    let Some(members) = source.and_then(Value::as_object) else {
        return Err(ValidationError::new(
            path,
            "must be an object with base64 data",
        ));
    };
    if members.get("type").and_then(Value::as_str) != Some("base64") {
        return Err(ValidationError::new(
            format!("{path}.type"),
            "must be \"base64\": sources by URL or file are not accepted",
        ));
    }
    let fields = ["type", "media_type", "data"];
    check_fields(members, &format!("{path}."), &fields, &fields)?;
    match ["media_type", "data"]
        .into_iter()
        .find(|name| !members.get(*name).is_some_and(Value::is_string))
    {
        Some(name) => Err(ValidationError::new(
            format!("{path}.{name}"),
            "must be a string",
        )),
        None => {
            let data = members
                .get("data")
                .and_then(Value::as_str)
                .unwrap_or_default();
            check_bytes(data, media)
                .map_err(|problem| ValidationError::new(format!("{path}.data"), problem))
        }
    }
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
