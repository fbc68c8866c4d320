//! Converse and ConverseStream (bedrock-wire.md §1.6, §1.7): request validation, the JSON
//! answer, and the stream's events. Amazon Nova's InvokeModel bodies reuse all three.

use super::{errors::ApiError, reply::Answer, stream::Part};
use serde_json::{json, Value};

/// What the fake needs from a Converse-shaped request.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// The text of the last user message.
    pub prompt: String,
    /// Words in all the input text (system and messages).
    pub input_words: u64,
    pub max_tokens: u64,
    /// `inferenceConfig.stopSequences`: the answer ends before the first of them.
    pub stop_sequences: Vec<String>,
}

const CONTENT_BLOCKS: [&str; 15] = [
    "text",
    "image",
    "document",
    "video",
    "audio",
    "toolUse",
    "toolResult",
    "guardContent",
    "cachePoint",
    "reasoningContent",
    "citationsContent",
    "searchResult",
    "toolAddition",
    "toolRemoval",
    "json",
];

/// Validates a Converse body; every refusal is a ValidationException naming the member.
pub fn parse(body: &Value) -> Result<Conversation, ApiError> {
    if !body.is_object() {
        return Err(ApiError::validation(
            "The request body must be a JSON object.",
        ));
    }
    let messages = match body.get("messages") {
        None | Some(Value::Null) => {
            return Err(ApiError::constraint("messages", "Member must not be null"))
        }
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        Some(Value::Array(_)) => {
            return Err(ApiError::constraint(
                "messages",
                "Member must have length greater than or equal to 1",
            ))
        }
        Some(_) => return Err(ApiError::constraint("messages", "Member must be a list")),
    };
    let mut words = 0;
    let mut prompt = String::new();
    for (i, message) in messages.iter().enumerate() {
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if role != "user" && role != "assistant" {
            return Err(ApiError::constraint(
                &format!("messages.{}.member.role", i + 1),
                "Member must satisfy enum value set: [user, assistant]",
            ));
        }
        if i == 0 && role != "user" {
            return Err(ApiError::validation(
                "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
            ));
        }
        let text = blocks_text(
            message.get("content"),
            &format!("messages.{}.member.content", i + 1),
        )?;
        words += super::reply::count_words(&text);
        if role == "user" {
            prompt = text;
        }
    }
    if let Some(system) = body.get("system") {
        words += super::reply::count_words(&blocks_text(Some(system), "system")?);
    }
    let max_tokens = inference_config(body.get("inferenceConfig"))?;
    let stop_sequences = stop_sequences(body.get("inferenceConfig"))?;
    Ok(Conversation {
        prompt,
        input_words: words,
        max_tokens,
        stop_sequences,
    })
}

/// The text of a list of content blocks (joined by spaces), an image or document standing as
/// `[image: png, 67 bytes]` / `[document: Name, 5 bytes]` so that an answer shows what the
/// model was given; checks each block is a union with exactly one known member, that `text`
/// members are strings and that media bytes are base64.
fn blocks_text(blocks: Option<&Value>, path: &str) -> Result<String, ApiError> {
    let Some(Value::Array(blocks)) = blocks else {
        return Err(ApiError::constraint(
            path,
            "Member must be a non-null list of content blocks",
        ));
    };
    let mut texts: Vec<String> = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let member = format!("{path}.{}.member", j + 1);
        let Some(fields) = block.as_object().filter(|f| f.len() == 1) else {
            return Err(ApiError::validation(format!(
                "The content block at '{member}' must set exactly one member."
            )));
        };
        match fields.iter().next() {
            Some((key, Value::String(text))) if key == "text" => texts.push(text.clone()),
            Some((key, _)) if key == "text" => {
                return Err(ApiError::constraint(
                    &format!("{member}.text"),
                    "Member must be a string",
                ))
            }
            Some((key, media)) if key == "image" || key == "document" => {
                texts.push(media_text(key, media, &format!("{member}.{key}"))?);
            }
            Some((key, _)) if CONTENT_BLOCKS.contains(&key.as_str()) => {}
            Some((key, _)) => {
                return Err(ApiError::validation(format!(
                    "Unknown content block member '{key}' at '{member}'."
                )))
            }
            None => {}
        }
    }
    Ok(texts.join(" "))
}

/// `[image: png, 67 bytes]` for an image block (`[document: Name, 5 bytes]`); refuses bytes
/// that are not base64, as Bedrock does.
fn media_text(kind: &str, media: &Value, member: &str) -> Result<String, ApiError> {
    use base64::{engine::general_purpose::STANDARD, Engine};
    let bytes = media
        .pointer("/source/bytes")
        .and_then(Value::as_str)
        .and_then(|b| STANDARD.decode(b).ok())
        .ok_or_else(|| {
            ApiError::constraint(
                &format!("{member}.source.bytes"),
                "Member must be a valid Base64-encoded blob",
            )
        })?;
    let label = match kind {
        "image" => media.get("format").and_then(Value::as_str),
        _ => media.get("name").and_then(Value::as_str),
    }
    .unwrap_or("?");
    Ok(format!("[{kind}: {label}, {} bytes]", bytes.len()))
}

/// `maxTokens >= 1` (Nova's `max_new_tokens` also accepted), `temperature` and `topP` in [0, 1].
fn inference_config(config: Option<&Value>) -> Result<u64, ApiError> {
    let Some(config) = config.filter(|c| !c.is_null()) else {
        return Ok(u64::MAX);
    };
    if !config.is_object() {
        return Err(ApiError::constraint(
            "inferenceConfig",
            "Member must be a structure",
        ));
    }
    for name in ["temperature", "topP"] {
        if let Some(value) = config.get(name) {
            if !value.as_f64().is_some_and(|v| (0.0..=1.0).contains(&v)) {
                return Err(ApiError::constraint(
                    &format!("inferenceConfig.{name}"),
                    "Member must be a number between 0 and 1",
                ));
            }
        }
    }
    let key = if config.get("maxTokens").is_some() {
        "maxTokens"
    } else {
        "max_new_tokens"
    };
    match config.get(key) {
        None => Ok(u64::MAX),
        Some(value) => value.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
            ApiError::constraint(
                &format!("inferenceConfig.{key}"),
                "Member must have value greater than or equal to 1",
            )
        }),
    }
}

/// `inferenceConfig.stopSequences`: a list of strings, when present.
fn stop_sequences(config: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let Some(stops) = config.and_then(|c| c.get("stopSequences")) else {
        return Ok(Vec::new());
    };
    stops
        .as_array()
        .and_then(|stops| {
            stops
                .iter()
                .map(|s| s.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
                .collect::<Option<Vec<String>>>()
        })
        .ok_or_else(|| {
            ApiError::constraint(
                "inferenceConfig.stopSequences",
                "Member must be a list of non-empty strings",
            )
        })
}

fn usage(answer: &Answer) -> Value {
    json!({
        "inputTokens": answer.input_tokens,
        "outputTokens": answer.output_tokens(),
        "totalTokens": answer.input_tokens + answer.output_tokens(),
    })
}

/// The Converse response body.
pub fn response(answer: &Answer, latency_ms: u64) -> Value {
    json!({
        "output": { "message": { "role": "assistant", "content": [{ "text": answer.text() }] } },
        "stopReason": answer.stop_reason,
        "usage": usage(answer),
        "metrics": { "latencyMs": latency_ms },
    })
}

/// Nova's InvokeModel body: the Converse response without `metrics`.
pub fn nova_response(answer: &Answer) -> Value {
    json!({
        "output": { "message": { "role": "assistant", "content": [{ "text": answer.text() }] } },
        "stopReason": answer.stop_reason,
        "usage": usage(answer),
    })
}

/// ConverseStream events: `messageStart`, a `contentBlockDelta` per piece (text blocks get no
/// `contentBlockStart`), `contentBlockStop`, `messageStop`, and `metadata` last.
pub fn stream_parts(answer: &Answer, latency_ms: u64) -> Vec<Part> {
    let mut parts = vec![Part::new("messageStart", json!({ "role": "assistant" }))];
    for text in &answer.deltas {
        parts.push(Part::delta(
            "contentBlockDelta",
            json!({ "contentBlockIndex": 0, "delta": { "text": text } }),
        ));
    }
    parts.push(Part::new(
        "contentBlockStop",
        json!({ "contentBlockIndex": 0 }),
    ));
    parts.push(Part::new(
        "messageStop",
        json!({ "stopReason": answer.stop_reason }),
    ));
    parts.push(Part::new(
        "metadata",
        json!({ "usage": usage(answer), "metrics": { "latencyMs": latency_ms } }),
    ));
    parts
}

#[cfg(test)]
#[path = "converse_tests.rs"]
mod tests;
