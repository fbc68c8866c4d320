//! InvokeModel and InvokeModelWithResponseStream: the native body formats the edge accepts
//! (Anthropic Messages, Amazon Nova), the checks they share, and the decoding of the invoke
//! stream's `chunk` events (base64 JSON, with Bedrock's invocation metrics) into text, stop and
//! usage events.

use crate::{
    bedrock::{
        converse::{parse_converse_response, ConverseEvents, WholeAnswer},
        decode::{json, EventMapper, Metrics, StreamDecoder, UpstreamEvent},
        error::{BedrockError, BedrockErrorKind},
        eventstream::FrameView,
    },
    config::limits::ValidationError,
};
pub mod anthropic;
mod checks;
pub mod nova;

use anthropic::AnthropicEvents;
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

/// What a route and its target let a native body do, beyond the checks every body gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    /// The target's cap on tokens: a larger count is lowered to it.
    pub max_tokens: Option<u32>,
    /// Whether Anthropic `cache_control` markers may be sent (the route's `prompt_caching`).
    pub prompt_caching: bool,
}

/// Checks a client's native body for `model`: the body to send, re-serialised from what was
/// checked (Nova gets the default `max_tokens` when it names none; a token count over the
/// target's cap is lowered to it), and its format. The model always comes from the route;
/// unknown fields are refused, down to the sources of media blocks (only inline data passes).
pub fn prepare(
    model: &str,
    body: &[u8],
    rules: Rules,
) -> Result<(Vec<u8>, NativeFormat), BodyError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| BodyError::Json(e.to_string()))?;
    let Value::Object(mut fields) = value else {
        return Err(ValidationError::new("body", "must be a JSON object").into());
    };
    let format = NativeFormat::detect(model, &fields).ok_or_else(|| {
        ValidationError::new(
            "route",
            "its model takes neither Anthropic Messages nor Amazon Nova bodies",
        )
    })?;
    match format {
        NativeFormat::Anthropic => anthropic::check(&fields, rules.prompt_caching)?,
        NativeFormat::Nova => nova::check(&mut fields, model)?,
    }
    if let Some(cap) = rules.max_tokens {
        let counts = match format {
            NativeFormat::Anthropic => vec![fields.get_mut("max_tokens")],
            NativeFormat::Nova => match fields.get_mut("inferenceConfig") {
                Some(Value::Object(config)) => config
                    .iter_mut()
                    .filter(|(name, _)| *name == "maxTokens" || *name == "max_new_tokens")
                    .map(|(_, value)| Some(value))
                    .collect(),
                _ => Vec::new(),
            },
        };
        for count in counts.into_iter().flatten() {
            if count.as_u64().is_some_and(|n| n > u64::from(cap)) {
                *count = cap.into();
            }
        }
    }
    // A map of plain JSON values: serialising cannot fail.
    let body = serde_json::to_vec(&Value::Object(fields)).unwrap_or_default();
    Ok((body, format))
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
