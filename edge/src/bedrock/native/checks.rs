//! The field checks the native body formats share: allowed and required fields, messages
//! within the chat limits, token counts, sampling numbers and stop sequences. Each error names
//! the field (`inferenceConfig.maxTokens: ...`).

use crate::config::limits::{
    ValidationError, MAX_MESSAGES, MAX_MESSAGE_CHARS, MAX_TOKENS, MAX_TOTAL_CHARS,
};
use serde_json::{Map, Value};

/// Refuses fields outside `allowed` (in key order) and requires those in `required`.
/// `prefix` is the path of the object (`""` or `"inferenceConfig."`).
pub(super) fn check_fields(
    fields: &Map<String, Value>,
    prefix: &str,
    allowed: &[&str],
    required: &[&str],
) -> Result<(), ValidationError> {
    if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        let problem = format!("unknown field; accepted fields: {}", allowed.join(", "));
        return Err(ValidationError::new(format!("{prefix}{unknown}"), problem));
    }
    match required.iter().find(|name| !fields.contains_key(**name)) {
        Some(missing) => Err(ValidationError::new(
            format!("{prefix}{missing}"),
            "is required",
        )),
        None => Ok(()),
    }
}

/// `messages`: 1 to [`MAX_MESSAGES`] objects of `role` (`user` first, or `assistant`) and
/// non-empty `content`, whose text `content_chars` counts (and checks), within the chat limits.
pub(super) fn check_messages(
    messages: Option<&Value>,
    content_chars: impl Fn(&Value, &str) -> Result<usize, ValidationError>,
) -> Result<(), ValidationError> {
    let Some(messages) = messages.and_then(Value::as_array) else {
        return Err(ValidationError::new(
            "messages",
            "must be an array of messages",
        ));
    };
    if messages.is_empty() || messages.len() > MAX_MESSAGES {
        let problem = format!("must have 1 to {MAX_MESSAGES} messages");
        return Err(ValidationError::new("messages", problem));
    }
    let mut total = 0;
    for (i, message) in messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        let Some(fields) = message.as_object() else {
            return Err(ValidationError::new(
                path,
                "must be an object with role and content",
            ));
        };
        check_fields(fields, &format!("{path}."), &["role", "content"], &["role"])?;
        match fields.get("role").and_then(Value::as_str) {
            Some("user") => {}
            Some("assistant") if i > 0 => {}
            Some("assistant") => {
                let problem = "the conversation must start with a user message";
                return Err(ValidationError::new(format!("{path}.role"), problem));
            }
            _ => {
                return Err(ValidationError::new(
                    format!("{path}.role"),
                    "must be user or assistant",
                ))
            }
        }
        let content_path = format!("{path}.content");
        let content = fields.get("content").unwrap_or(&Value::Null);
        let chars = content_chars(content, &content_path)?;
        if chars > MAX_MESSAGE_CHARS {
            let problem = format!("must be at most {MAX_MESSAGE_CHARS} characters");
            return Err(ValidationError::new(content_path, problem));
        }
        total += chars;
    }
    if total > MAX_TOTAL_CHARS {
        let problem = format!("must total at most {MAX_TOTAL_CHARS} characters");
        return Err(ValidationError::new("messages", problem));
    }
    Ok(())
}

/// A maximum number of tokens: a whole number from 1 to the chat limit.
pub(super) fn check_max_tokens(value: &Value, field: &str) -> Result<(), ValidationError> {
    match value.as_u64() {
        Some(n) if (1..=u64::from(MAX_TOKENS)).contains(&n) => Ok(()),
        _ => Err(ValidationError::new(
            field,
            format!("must be between 1 and {MAX_TOKENS}"),
        )),
    }
}

/// An optional number from 0 to 1 (`temperature`, `top_p`).
pub(super) fn check_unit(value: Option<&Value>, field: &str) -> Result<(), ValidationError> {
    match value.map(Value::as_f64) {
        None => Ok(()),
        Some(Some(v)) if (0.0..=1.0).contains(&v) => Ok(()),
        Some(_) => Err(ValidationError::new(field, "must be between 0 and 1")),
    }
}

/// An optional whole number of at least 0 (`top_k`).
pub(super) fn check_count(value: Option<&Value>, field: &str) -> Result<(), ValidationError> {
    match value.map(Value::as_u64) {
        None | Some(Some(_)) => Ok(()),
        Some(None) => Err(ValidationError::new(
            field,
            "must be a whole number of at least 0",
        )),
    }
}

/// Most stop sequences accepted, and their longest length.
const MAX_STOP_SEQUENCES: usize = 16;
const MAX_STOP_SEQUENCE_CHARS: usize = 200;

/// An optional array of short non-empty strings.
pub(super) fn check_stop_sequences(
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
        _ => Err(ValidationError::new(
            field,
            format!("must be at most {MAX_STOP_SEQUENCES} strings of 1 to {MAX_STOP_SEQUENCE_CHARS} characters"),
        )),
    }
}
