//! InvokeModel and InvokeModelWithResponseStream: the native body formats the edge accepts
//! (Anthropic Messages, Amazon Nova), the checks they share, and the decoding of the invoke
//! stream's `chunk` events (base64 JSON, with Bedrock's invocation metrics) into text, stop and
//! usage events.

use crate::{
    anthropic::{self, AnthropicEvents},
    bedrock_error::{BedrockError, BedrockErrorKind},
    converse::{parse_converse_response, ConverseEvents, WholeAnswer},
    eventstream::FrameView,
    nova,
    upstream_decode::{json, EventMapper, StreamDecoder, UpstreamEvent},
    validate::{ValidationError, MAX_MESSAGES, MAX_MESSAGE_CHARS, MAX_TOKENS, MAX_TOTAL_CHARS},
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The native body format a model speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeFormat {
    /// Anthropic Messages (`anthropic_version: bedrock-2023-05-31`).
    Anthropic,
    /// Amazon Nova (`messages`, `system`, `inferenceConfig`).
    Nova,
}

impl NativeFormat {
    /// The format of `model`: from its id when it names the provider (`anthropic.`,
    /// `amazon.nova`), else, for ARNs that hide it (application inference profiles,
    /// provisioned models), from the body: `anthropic_version` means Anthropic. `None` for
    /// models of other providers.
    pub fn detect(model: &str, body: &Map<String, Value>) -> Option<Self> {
        if model.contains("anthropic.") {
            Some(Self::Anthropic)
        } else if model.contains("amazon.nova") {
            Some(Self::Nova)
        } else if model.starts_with("arn:") {
            Some(if body.contains_key("anthropic_version") {
                Self::Anthropic
            } else {
                Self::Nova
            })
        } else {
            None
        }
    }
}

/// Why a native body was refused; the text is safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Not JSON at all.
    Json(String),
    /// JSON, but a field is missing, unknown or out of bounds.
    Invalid(ValidationError),
}

impl From<ValidationError> for BodyError {
    fn from(error: ValidationError) -> Self {
        Self::Invalid(error)
    }
}

/// Checks a client's native body for `model`: the body to send, re-serialised from what was
/// checked (Nova gets the default `max_tokens` when it names none), and its format. The
/// model always comes from the route; unknown top-level fields are refused.
pub fn prepare(model: &str, body: &[u8]) -> Result<(Vec<u8>, NativeFormat), BodyError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| BodyError::Json(e.to_string()))?;
    let Value::Object(mut fields) = value else {
        return Err(invalid("body", "must be a JSON object").into());
    };
    let format = NativeFormat::detect(model, &fields).ok_or_else(|| {
        invalid(
            "route",
            "its model takes neither Anthropic Messages nor Amazon Nova bodies",
        )
    })?;
    match format {
        NativeFormat::Anthropic => anthropic::check(&fields)?,
        NativeFormat::Nova => nova::check(&mut fields, model)?,
    }
    // A map of plain JSON values: serialising cannot fail.
    let body = serde_json::to_vec(&Value::Object(fields)).unwrap_or_default();
    Ok((body, format))
}

pub(crate) fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Refuses fields outside `allowed` (in key order) and requires those in `required`.
/// `prefix` is the path of the object (`""` or `"inferenceConfig."`).
pub(crate) fn check_fields(
    fields: &Map<String, Value>,
    prefix: &str,
    allowed: &[&str],
    required: &[&str],
) -> Result<(), ValidationError> {
    if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        let problem = format!("unknown field; accepted fields: {}", allowed.join(", "));
        return Err(invalid(format!("{prefix}{unknown}"), problem));
    }
    match required.iter().find(|name| !fields.contains_key(**name)) {
        Some(missing) => Err(invalid(format!("{prefix}{missing}"), "is required")),
        None => Ok(()),
    }
}

/// `messages`: 1 to [`MAX_MESSAGES`] objects of `role` (`user` first, or `assistant`) and
/// non-empty `content`, whose text `content_chars` counts (and checks), within the chat limits.
pub(crate) fn check_messages(
    messages: Option<&Value>,
    content_chars: impl Fn(&Value, &str) -> Result<usize, ValidationError>,
) -> Result<(), ValidationError> {
    let Some(messages) = messages.and_then(Value::as_array) else {
        return Err(invalid("messages", "must be an array of messages"));
    };
    if messages.is_empty() || messages.len() > MAX_MESSAGES {
        let problem = format!("must have 1 to {MAX_MESSAGES} messages");
        return Err(invalid("messages", problem));
    }
    let mut total = 0;
    for (i, message) in messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        let Some(fields) = message.as_object() else {
            return Err(invalid(path, "must be an object with role and content"));
        };
        check_fields(fields, &format!("{path}."), &["role", "content"], &["role"])?;
        match fields.get("role").and_then(Value::as_str) {
            Some("user") => {}
            Some("assistant") if i > 0 => {}
            Some("assistant") => {
                let problem = "the conversation must start with a user message";
                return Err(invalid(format!("{path}.role"), problem));
            }
            _ => return Err(invalid(format!("{path}.role"), "must be user or assistant")),
        }
        let content_path = format!("{path}.content");
        let content = fields.get("content").unwrap_or(&Value::Null);
        let chars = content_chars(content, &content_path)?;
        if chars > MAX_MESSAGE_CHARS {
            let problem = format!("must be at most {MAX_MESSAGE_CHARS} characters");
            return Err(invalid(content_path, problem));
        }
        total += chars;
    }
    if total > MAX_TOTAL_CHARS {
        let problem = format!("must total at most {MAX_TOTAL_CHARS} characters");
        return Err(invalid("messages", problem));
    }
    Ok(())
}

/// A maximum number of tokens: a whole number from 1 to the chat limit.
pub(crate) fn check_max_tokens(value: &Value, field: &str) -> Result<(), ValidationError> {
    match value.as_u64() {
        Some(n) if (1..=u64::from(MAX_TOKENS)).contains(&n) => Ok(()),
        _ => Err(invalid(
            field,
            format!("must be between 1 and {MAX_TOKENS}"),
        )),
    }
}

/// An optional number from 0 to 1 (`temperature`, `top_p`).
pub(crate) fn check_unit(value: Option<&Value>, field: &str) -> Result<(), ValidationError> {
    match value.map(Value::as_f64) {
        None => Ok(()),
        Some(Some(v)) if (0.0..=1.0).contains(&v) => Ok(()),
        Some(_) => Err(invalid(field, "must be between 0 and 1")),
    }
}

/// An optional whole number of at least 0 (`top_k`).
pub(crate) fn check_count(value: Option<&Value>, field: &str) -> Result<(), ValidationError> {
    match value.map(Value::as_u64) {
        None | Some(Some(_)) => Ok(()),
        Some(None) => Err(invalid(field, "must be a whole number of at least 0")),
    }
}

/// Most stop sequences accepted, and their longest length.
const MAX_STOP_SEQUENCES: usize = 16;
const MAX_STOP_SEQUENCE_CHARS: usize = 200;

/// An optional array of short non-empty strings.
pub(crate) fn check_stop_sequences(
    value: Option<&Value>,
    field: &str,
) -> Result<(), ValidationError> {
    let Some(value) = value else { return Ok(()) };
    let fits = |s: &Value| {
        s.as_str()
            .is_some_and(|s| !s.is_empty() && s.chars().count() <= MAX_STOP_SEQUENCE_CHARS)
    };
    match value.as_array() {
        Some(items) if items.len() <= MAX_STOP_SEQUENCES && items.iter().all(fits) => Ok(()),
        _ => Err(invalid(
            field,
            format!("must be at most {MAX_STOP_SEQUENCES} strings of 1 to {MAX_STOP_SEQUENCE_CHARS} characters"),
        )),
    }
}

/// The InvokeModelWithResponseStream decoder for `format`.
pub fn stream_decoder(format: NativeFormat) -> StreamDecoder {
    match format {
        NativeFormat::Anthropic => StreamDecoder::new(InvokeEvents::Anthropic(Default::default())),
        NativeFormat::Nova => StreamDecoder::new(InvokeEvents::Nova(Default::default())),
    }
}

/// The text, stop reason and usage of a whole InvokeModel body in `format`.
pub fn summarize(format: NativeFormat, body: &[u8]) -> Result<WholeAnswer, BedrockError> {
    match format {
        NativeFormat::Anthropic => anthropic::parse_response(body),
        // Nova answers with Converse's shape.
        NativeFormat::Nova => parse_converse_response(body),
    }
}

/// The `chunk` events of an invoke stream, by format. Nova's inner events are ConverseStream's
/// events as `{"<eventType>": payload}`.
enum InvokeEvents {
    Anthropic(AnthropicEvents),
    Nova(ConverseEvents),
}

/// `{"bytes": "<base64 of the model's JSON event>"}`; the `"p"` padding is ignored.
#[derive(Deserialize)]
struct Chunk {
    bytes: String,
}

/// Bedrock's own token counts (`amazon-bedrock-invocationMetrics`), a member of the last
/// chunk's event.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    input_token_count: Option<u32>,
    output_token_count: Option<u32>,
}

impl EventMapper for InvokeEvents {
    fn on_event(
        &mut self,
        frame: &FrameView<'_>,
        out: &mut Vec<UpstreamEvent>,
    ) -> Result<(), BedrockError> {
        if frame.event_type() != Some("chunk") {
            return Ok(());
        }
        let chunk: Chunk = json("chunk", frame.payload)?;
        let bytes = STANDARD.decode(chunk.bytes).map_err(|e| {
            BedrockError::new(BedrockErrorKind::BadFrame, format!("chunk bytes: {e}"))
        })?;
        let start = out.len();
        let metrics = match self {
            Self::Anthropic(events) => events.on_chunk(&bytes, out)?,
            Self::Nova(events) => events.on_chunk(&bytes, out)?,
        };
        if let Some(Metrics {
            input_token_count: Some(input),
            output_token_count: Some(output),
        }) = metrics
        {
            // Bedrock's count, the one billed, replaces the model's own.
            let mut tail = out.split_off(start);
            tail.retain(|event| !matches!(event, UpstreamEvent::Usage { .. }));
            out.extend(tail);
            out.push(UpstreamEvent::Usage { input, output });
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        match self {
            Self::Anthropic(events) => events.complete(),
            Self::Nova(events) => events.complete(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
