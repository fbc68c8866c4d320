//! InvokeModel and InvokeModelWithResponseStream bodies (bedrock-wire.md §3): Anthropic
//! Messages (`anthropic_version: bedrock-2023-05-31`) and Amazon Nova (Converse-like).

use super::{converse, converse::Conversation, errors::ApiError, reply::Answer, stream::Part};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};

/// Which native body format a model speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Anthropic,
    Nova,
}

impl Format {
    /// `anthropic.` ids speak Anthropic Messages, `amazon.nova` ids Nova; opaque ids (ARNs of
    /// application profiles, provisioned models) by whether the body has `anthropic_version`.
    pub fn of(model_id: &str, body: &Value) -> Self {
        if model_id.contains("anthropic.") {
            Self::Anthropic
        } else if model_id.contains("amazon.nova") || body.get("anthropic_version").is_none() {
            Self::Nova
        } else {
            Self::Anthropic
        }
    }

    pub fn parse(self, body: &Value) -> Result<Conversation, ApiError> {
        match self {
            Self::Anthropic => parse_anthropic(body),
            Self::Nova => converse::parse(body),
        }
    }
}

fn malformed(problem: &str) -> ApiError {
    ApiError::validation(format!(
        "Malformed input request: {problem}, please reformat your input and try again."
    ))
}

/// Validates an Anthropic Messages body (no `model`, no `stream`).
fn parse_anthropic(body: &Value) -> Result<Conversation, ApiError> {
    if !body.is_object() {
        return Err(malformed("#: expected type: JSONObject"));
    }
    match body.get("anthropic_version").and_then(Value::as_str) {
        Some("bedrock-2023-05-31") => {}
        Some(other) => {
            return Err(malformed(&format!(
                "#/anthropic_version: {other} is not a valid enum value (bedrock-2023-05-31)"
            )))
        }
        None => return Err(malformed("#: required key [anthropic_version] not found")),
    }
    let max_tokens = match body.get("max_tokens") {
        None => return Err(malformed("#: required key [max_tokens] not found")),
        Some(value) => value
            .as_u64()
            .filter(|n| *n >= 1)
            .ok_or_else(|| malformed("#/max_tokens: must be an integer >= 1"))?,
    };
    for name in ["temperature", "top_p"] {
        if body
            .get(name)
            .is_some_and(|v| !v.as_f64().is_some_and(|v| (0.0..=1.0).contains(&v)))
        {
            return Err(malformed(&format!(
                "#/{name}: must be a number between 0 and 1"
            )));
        }
    }
    let Some(messages) = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
    else {
        return Err(malformed("#: required key [messages] not found or empty"));
    };
    let mut words = 0;
    let mut prompt = String::new();
    for (i, message) in messages.iter().enumerate() {
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if role != "user" && role != "assistant" {
            return Err(malformed(&format!(
                "#/messages/{i}/role: must be user or assistant"
            )));
        }
        if i == 0 && role != "user" {
            return Err(ApiError::validation(
                "messages: first message must use the \"user\" role",
            ));
        }
        let text = anthropic_text(message.get("content"), &format!("#/messages/{i}/content"))?;
        words += super::reply::count_words(&text);
        if role == "user" {
            prompt = text;
        }
    }
    if let Some(system) = body.get("system") {
        words += super::reply::count_words(&anthropic_text(Some(system), "#/system")?);
    }
    Ok(Conversation {
        prompt,
        input_words: words,
        max_tokens,
        stop_sequences: Vec::new(),
    })
}

/// The text of Anthropic content: a string, or blocks with a `type` (text blocks joined by spaces).
fn anthropic_text(content: Option<&Value>, path: &str) -> Result<String, ApiError> {
    match content {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(blocks)) => {
            let mut texts = Vec::new();
            for (j, block) in blocks.iter().enumerate() {
                match (block.get("type").and_then(Value::as_str), block.get("text")) {
                    (Some("text"), Some(Value::String(text))) => texts.push(text.as_str()),
                    (Some("text"), _) => {
                        return Err(malformed(&format!(
                            "{path}/{j}: required key [text] not found"
                        )))
                    }
                    (Some(_), _) => {}
                    (None, _) => {
                        return Err(malformed(&format!(
                            "{path}/{j}: required key [type] not found"
                        )))
                    }
                }
            }
            Ok(texts.join(" "))
        }
        _ => Err(malformed(&format!(
            "{path}: expected a string or an array of content blocks"
        ))),
    }
}

/// The Anthropic Message object InvokeModel answers.
pub fn anthropic_response(model_id: &str, message_id: &str, answer: &Answer) -> Value {
    json!({
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model_id,
        "content": [{ "type": "text", "text": answer.text() }],
        "stop_reason": answer.stop_reason,
        "stop_sequence": null,
        "usage": { "input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens() },
    })
}

/// The body of InvokeModel for `format`.
pub fn response(format: Format, model_id: &str, message_id: &str, answer: &Answer) -> Value {
    match format {
        Format::Anthropic => anthropic_response(model_id, message_id, answer),
        Format::Nova => converse::nova_response(answer),
    }
}

/// `amazon-bedrock-invocationMetrics`, carried by the last chunk.
fn invocation_metrics(answer: &Answer, latency_ms: u64, first_byte_ms: u64) -> Value {
    json!({
        "inputTokenCount": answer.input_tokens,
        "outputTokenCount": answer.output_tokens(),
        "invocationLatency": latency_ms,
        "firstByteLatency": first_byte_ms,
    })
}

/// A `chunk` event: `{"bytes": "<base64 of the inner JSON>"}`.
fn chunk(inner: &Value, delta: bool) -> Part {
    let payload = json!({ "bytes": STANDARD.encode(inner.to_string()) });
    Part {
        event_type: "chunk",
        payload,
        delta,
    }
}

/// The chunks of InvokeModelWithResponseStream for `format`.
pub fn stream_parts(
    format: Format,
    model_id: &str,
    message_id: &str,
    answer: &Answer,
    latency_ms: u64,
) -> Vec<Part> {
    let metrics = invocation_metrics(
        answer,
        latency_ms,
        latency_ms / (answer.deltas.len() as u64 + 1),
    );
    match format {
        Format::Anthropic => anthropic_chunks(model_id, message_id, answer, metrics),
        Format::Nova => {
            let mut parts = converse::stream_parts(answer, latency_ms);
            let last = parts.len().saturating_sub(1);
            parts
                .iter_mut()
                .enumerate()
                .map(|(i, part)| {
                    let mut inner = serde_json::Map::new();
                    inner.insert(part.event_type.to_owned(), part.payload.take());
                    if i == last {
                        inner.insert("amazon-bedrock-invocationMetrics".into(), metrics.clone());
                    }
                    chunk(&Value::Object(inner), part.delta)
                })
                .collect()
        }
    }
}

fn anthropic_chunks(
    model_id: &str,
    message_id: &str,
    answer: &Answer,
    metrics: Value,
) -> Vec<Part> {
    let mut start = anthropic_response(model_id, message_id, answer);
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["usage"]["output_tokens"] = json!(1);
    let mut inner = vec![
        (json!({ "type": "message_start", "message": start }), false),
        (
            json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
            false,
        ),
    ];
    for text in &answer.deltas {
        inner.push((json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": text } }), true));
    }
    inner.push((json!({ "type": "content_block_stop", "index": 0 }), false));
    inner.push((
        json!({
            "type": "message_delta",
            "delta": { "stop_reason": answer.stop_reason, "stop_sequence": null },
            "usage": { "output_tokens": answer.output_tokens() },
        }),
        false,
    ));
    inner.push((
        json!({ "type": "message_stop", "amazon-bedrock-invocationMetrics": metrics }),
        false,
    ));
    inner
        .iter()
        .map(|(json, delta)| chunk(json, *delta))
        .collect()
}

#[cfg(test)]
#[path = "invoke_tests.rs"]
mod tests;
