//! Checks a chat request against the edge's limits before any upstream call, the way an API
//! gateway would; each error names the offending field (`messages[2].role: …`).

use super::error::ApiError;
use crate::config::limits::{
    ValidationError, MAX_MESSAGES, MAX_MESSAGE_CHARS, MAX_STOP_SEQUENCES, MAX_STOP_SEQUENCE_CHARS,
    MAX_SYSTEM_CHARS, MAX_TOKENS, MAX_TOTAL_CHARS,
};
use crate::platform::header;
use content::{check_blocks, MediaCount};
use shared::{ChatRequest, Content, ErrorCode, Role};

mod content;

/// Whether `Content-Length` already says the body is over `limit`: the host then does not
/// read it at all (see `worker`), and reads any other body only to one byte past the limit.
pub fn declared_too_large(headers: &[(String, String)], limit: usize) -> bool {
    header(headers, "content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > limit as u64)
}

/// The body's size (at most `limit` bytes) and `Content-Type` (`application/json`, parameters
/// allowed). Refused with 413 or 415 before the body is read as JSON.
pub fn check_json_body(
    body: &[u8],
    headers: &[(String, String)],
    limit: usize,
) -> Result<(), ApiError> {
    if body.len() > limit || declared_too_large(headers, limit) {
        return Err(ApiError::new(
            413,
            ErrorCode::PayloadTooLarge,
            format!("The request body must be at most {limit} bytes."),
        ));
    }
    let is_json = header(headers, "content-type")
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(
            415,
            ErrorCode::UnsupportedMediaType,
            "Content-Type must be application/json.",
        ));
    }
    Ok(())
}
/// The first problem found, in field order.
pub fn validate(request: &ChatRequest) -> Result<(), ValidationError> {
    let messages = &request.messages;
    if messages.is_empty() {
        return Err(ValidationError::new("messages", "must not be empty"));
    }
    if messages.len() > MAX_MESSAGES {
        return Err(ValidationError::new(
            "messages",
            format!("must have at most {MAX_MESSAGES} messages"),
        ));
    }
    let mut total = 0;
    let mut media = MediaCount::default();
    for (i, message) in messages.iter().enumerate() {
        let text = message.content.text();
        let chars = text.chars().count();
        match &message.content {
            Content::Text(text) if text.trim().is_empty() => {
                return Err(ValidationError::new(
                    format!("messages[{i}].content"),
                    "must not be empty",
                ));
            }
            Content::Text(_) => {}
            Content::Blocks(blocks) => check_blocks(i, blocks, &mut media)?,
        }
        if chars > MAX_MESSAGE_CHARS {
            return Err(ValidationError::new(
                format!("messages[{i}].content"),
                format!("must be at most {MAX_MESSAGE_CHARS} characters"),
            ));
        }
        total += chars;
        let role_problem = match i.checked_sub(1).map(|p| messages[p].role) {
            None if message.role != Role::User => {
                Some("the conversation must start with a user message")
            }
            Some(previous) if previous == message.role => {
                Some("must alternate with the previous message")
            }
            _ => None,
        };
        if let Some(problem) = role_problem {
            return Err(ValidationError::new(format!("messages[{i}].role"), problem));
        }
    }
    let last = messages.len() - 1;
    if messages[last].role != Role::User {
        return Err(ValidationError::new(
            format!("messages[{last}].role"),
            "the conversation must end with a user message",
        ));
    }
    if total > MAX_TOTAL_CHARS {
        return Err(ValidationError::new(
            "messages",
            format!("must total at most {MAX_TOTAL_CHARS} characters"),
        ));
    }
    if let Some(system) = &request.system {
        if system.chars().count() > MAX_SYSTEM_CHARS {
            return Err(ValidationError::new(
                "system",
                format!("must be at most {MAX_SYSTEM_CHARS} characters"),
            ));
        }
    }
    if let Some(max_tokens) = request.max_tokens {
        if !(1..=MAX_TOKENS).contains(&max_tokens) {
            return Err(ValidationError::new(
                "max_tokens",
                format!("must be between 1 and {MAX_TOKENS}"),
            ));
        }
    }
    for (field, value) in [
        ("temperature", request.temperature),
        ("top_p", request.top_p),
    ] {
        if value.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
            return Err(ValidationError::new(field, "must be between 0 and 1"));
        }
    }
    if let Some(stops) = &request.stop_sequences {
        if stops.len() > MAX_STOP_SEQUENCES {
            return Err(ValidationError::new(
                "stop_sequences",
                format!("must list at most {MAX_STOP_SEQUENCES}"),
            ));
        }
        for (i, stop) in stops.iter().enumerate() {
            if stop.trim().is_empty() || stop.chars().count() > MAX_STOP_SEQUENCE_CHARS {
                return Err(ValidationError::new(
                    format!("stop_sequences[{i}]"),
                    format!("must be 1 to {MAX_STOP_SEQUENCE_CHARS} characters, not all blank"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ChatMessage;

    fn request(messages: Vec<ChatMessage>) -> ChatRequest {
        ChatRequest {
            messages,
            ..ChatRequest::default()
        }
    }

    fn error(request: &ChatRequest) -> String {
        validate(request).unwrap_err().to_string()
    }

    fn conversation(n: usize) -> Vec<ChatMessage> {
        (0..n)
            .map(|i| {
                if i % 2 == 0 {
                    ChatMessage::user("q")
                } else {
                    ChatMessage::assistant("a")
                }
            })
            .collect()
    }

    #[test]
    fn good_requests_pass() {
        let mut ok = request(conversation(MAX_MESSAGES - 1));
        ok.system = Some("s".repeat(MAX_SYSTEM_CHARS));
        ok.max_tokens = Some(MAX_TOKENS);
        ok.temperature = Some(0.0);
        assert_eq!(validate(&ok), Ok(()));
        ok.max_tokens = Some(1);
        ok.temperature = Some(1.0);
        assert_eq!(validate(&ok), Ok(()));
    }

    #[test]
    fn each_problem_names_its_field() {
        use ChatMessage as M;
        let cases: Vec<(ChatRequest, &str)> = vec![
            (request(vec![]), "messages: must not be empty"),
            (
                request(vec![M::assistant("a"), M::user("q")]),
                "messages[0].role: the conversation must start with a user message",
            ),
            (
                request(vec![
                    M::user("q"),
                    M::assistant("a"),
                    M::assistant("b"),
                    M::user("q"),
                ]),
                "messages[2].role: must alternate with the previous message",
            ),
            (
                request(vec![
                    M::user("q"),
                    M::assistant("a"),
                    M::user("q"),
                    M::assistant(" \n"),
                ]),
                "messages[3].content: must not be empty",
            ),
            (
                request(vec![M::user("q"), M::assistant("a")]),
                "messages[1].role: the conversation must end with a user message",
            ),
            (
                request(conversation(MAX_MESSAGES + 1)),
                "messages: must have at most 200 messages",
            ),
            (
                request(vec![M::user("é".repeat(MAX_MESSAGE_CHARS + 1))]),
                "messages[0].content: must be at most 100000 characters",
            ),
            (
                request(
                    (0..5)
                        .map(|i| {
                            let text = "x".repeat(MAX_MESSAGE_CHARS);
                            if i % 2 == 0 {
                                M::user(text)
                            } else {
                                M::assistant(text)
                            }
                        })
                        .collect(),
                ),
                "messages: must total at most 400000 characters",
            ),
            (
                ChatRequest {
                    system: Some("s".repeat(MAX_SYSTEM_CHARS + 1)),
                    ..request(vec![M::user("q")])
                },
                "system: must be at most 20000 characters",
            ),
            (
                ChatRequest {
                    max_tokens: Some(0),
                    ..request(vec![M::user("q")])
                },
                "max_tokens: must be between 1 and 8192",
            ),
            (
                ChatRequest {
                    max_tokens: Some(MAX_TOKENS + 1),
                    ..request(vec![M::user("q")])
                },
                "max_tokens: must be between 1 and 8192",
            ),
            (
                ChatRequest {
                    temperature: Some(1.5),
                    ..request(vec![M::user("q")])
                },
                "temperature: must be between 0 and 1",
            ),
            (
                ChatRequest {
                    temperature: Some(-0.1),
                    ..request(vec![M::user("q")])
                },
                "temperature: must be between 0 and 1",
            ),
            (
                ChatRequest {
                    top_p: Some(1.01),
                    ..request(vec![M::user("q")])
                },
                "top_p: must be between 0 and 1",
            ),
            (
                ChatRequest {
                    stop_sequences: Some(vec!["a".into(); 5]),
                    ..request(vec![M::user("q")])
                },
                "stop_sequences: must list at most 4",
            ),
            (
                ChatRequest {
                    stop_sequences: Some(vec!["END".into(), " ".into()]),
                    ..request(vec![M::user("q")])
                },
                "stop_sequences[1]: must be 1 to 100 characters, not all blank",
            ),
        ];
        for (request, expected) in cases {
            assert_eq!(error(&request), expected);
        }
    }
}
