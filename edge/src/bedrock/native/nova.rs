//! Amazon Nova's native request body for InvokeModel (`messages`, `system`,
//! `inferenceConfig`, as in Converse), its content blocks down to their sources (media only
//! inline, never from S3). Its answers have Converse's shapes, decoded by
//! [`crate::bedrock::converse`].

use crate::{
    bedrock::media::{check_bytes, Media},
    bedrock::native::checks::{
        check_count, check_fields, check_max_tokens, check_messages, check_stop_sequences,
        check_unit,
    },
    config::limits::{ValidationError, DEFAULT_MAX_TOKENS, MAX_SYSTEM_CHARS},
};
use serde_json::{Map, Value};

/// The documented fields; anything else (`toolConfig`, `modelId`, …) is refused.
const FIELDS: [&str; 4] = ["schemaVersion", "messages", "system", "inferenceConfig"];

/// `inferenceConfig` members, in Nova 2's camelCase and Nova 1's snake_case spellings.
const CONFIG_FIELDS: [&str; 8] = [
    "maxTokens",
    "max_new_tokens",
    "temperature",
    "topP",
    "top_p",
    "topK",
    "top_k",
    "stopSequences",
];

const SCHEMA_VERSION: &str = "messages-v1";

/// Checks a Nova body for `model`; adds the edge's default token limit when it sets none
/// (`maxTokens` for Nova 2 models, `max_new_tokens` for the others).
pub fn check(fields: &mut Map<String, Value>, model: &str) -> Result<(), ValidationError> {
    check_fields(fields, "", &FIELDS, &["messages"])?;
    if let Some(version) = fields.get("schemaVersion") {
        if version.as_str() != Some(SCHEMA_VERSION) {
            let problem = format!("must be \"{SCHEMA_VERSION}\"");
            return Err(ValidationError::new("schemaVersion", problem));
        }
    }
    check_messages(fields.get("messages"), content_chars)?;
    if let Some(system) = fields.get("system") {
        if content_chars(system, "system")? > MAX_SYSTEM_CHARS {
            let problem = format!("must be at most {MAX_SYSTEM_CHARS} characters");
            return Err(ValidationError::new("system", problem));
        }
    }
    let config = fields
        .entry("inferenceConfig")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(config) = config else {
        return Err(ValidationError::new("inferenceConfig", "must be an object"));
    };
    check_fields(config, "inferenceConfig.", &CONFIG_FIELDS, &[])?;
    let mut limited = false;
    for name in ["maxTokens", "max_new_tokens"] {
        if let Some(value) = config.get(name) {
            check_max_tokens(value, &format!("inferenceConfig.{name}"))?;
            limited = true;
        }
    }
    if !limited {
        let name = if model.contains("nova-2") {
            "maxTokens"
        } else {
            "max_new_tokens"
        };
        config.insert(name.into(), DEFAULT_MAX_TOKENS.into());
    }
    for name in ["temperature", "topP", "top_p"] {
        check_unit(config.get(name), &format!("inferenceConfig.{name}"))?;
    }
    for name in ["topK", "top_k"] {
        check_count(config.get(name), &format!("inferenceConfig.{name}"))?;
    }
    check_stop_sequences(config.get("stopSequences"), "inferenceConfig.stopSequences")
}

/// Content blocks other than `text` the edge passes on, each with its fields: the media
/// Nova reads, always inline.
const MEDIA: [(&str, &[&str]); 3] = [
    ("image", &["format", "source"]),
    ("document", &["format", "name", "source"]),
    ("video", &["format", "source"]),
];

/// Characters of text in a non-empty array of blocks, each with exactly one member: `text`
/// (a string) or one of the [`MEDIA`] (checked by [`check_media`]). Any other kind (tool use
/// and results, cache points, reasoning) is refused.
fn content_chars(content: &Value, path: &str) -> Result<usize, ValidationError> {
    let Some(blocks) = content.as_array().filter(|b| !b.is_empty()) else {
        return Err(ValidationError::new(
            path,
            "must be a non-empty array of content blocks",
        ));
    };
    let mut chars = 0;
    for (j, block) in blocks.iter().enumerate() {
        let block_path = format!("{path}[{j}]");
        let member = block
            .as_object()
            .filter(|members| members.len() == 1)
            .and_then(|members| members.iter().next());
        let media = member.and_then(|(name, _)| MEDIA.iter().find(|(kind, _)| kind == name));
        match (member, media) {
            (Some((name, Value::String(text))), _) if name == "text" => {
                chars += text.chars().count();
            }
            (Some((name, _)), _) if name == "text" => {
                return Err(ValidationError::new(
                    format!("{block_path}.text"),
                    "must be a string",
                ));
            }
            (Some((_, value)), Some((kind, fields))) => {
                check_media(value, fields, &format!("{block_path}.{kind}"))?;
            }
            _ => {
                let problem =
                    "must have exactly one member: \"text\", \"image\", \"document\" or \"video\"";
                return Err(ValidationError::new(block_path, problem));
            }
        }
    }
    Ok(chars)
}

/// A media block at `path`: an object of `fields` with a `format` and a `source` of inline
/// base64 `bytes`. An `s3Location` source is refused: Bedrock would read the object with the
/// edge's own AWS identity, from whatever bucket the caller names.
fn check_media(media: &Value, fields: &[&str], path: &str) -> Result<(), ValidationError> {
    let Some(members) = media.as_object() else {
        return Err(ValidationError::new(path, "must be an object"));
    };
    check_fields(members, &format!("{path}."), fields, &["format", "source"])?;
    for name in ["format", "name"] {
        if members.get(name).is_some_and(|v| !v.is_string()) {
            return Err(ValidationError::new(
                format!("{path}.{name}"),
                "must be a string",
            ));
        }
    }
    let source_path = format!("{path}.source");
    let Some(source) = members.get("source").and_then(Value::as_object) else {
        return Err(ValidationError::new(
            source_path,
            "must be an object with base64 bytes",
        ));
    };
    if source.contains_key("s3Location") {
        return Err(ValidationError::new(
            format!("{source_path}.s3Location"),
            "S3 sources are not accepted: send the content inline as base64 bytes",
        ));
    }
    check_fields(source, &format!("{source_path}."), &["bytes"], &["bytes"])?;
    let bytes_path = format!("{source_path}.bytes");
    let Some(bytes) = source.get("bytes").and_then(Value::as_str) else {
        return Err(ValidationError::new(bytes_path, "must be a base64 string"));
    };
    // Images and documents within Bedrock's limits (a video has its own, left to Bedrock).
    let media = match path.rsplit('.').next() {
        Some("image") => Some(Media::Image),
        Some("document") => Some(Media::Document),
        _ => None,
    };
    match media {
        Some(media) => {
            check_bytes(bytes, media).map_err(|problem| ValidationError::new(bytes_path, problem))
        }
        None => Ok(()),
    }
}
