//! The bounds of every request the edge accepts, checked before anything costs us, and the
//! error that names the field breaking one (`messages[2].content: ...`).

use std::fmt;

/// Largest accepted JSON request body by default (`MAX_REQUEST_BYTES`): room for attachments.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// The range `MAX_REQUEST_BYTES` may take: 64 KiB to 32 MiB.
pub const BODY_LIMIT_RANGE: std::ops::RangeInclusive<usize> = 64 * 1024..=32 * 1024 * 1024;

pub const MAX_MESSAGES: usize = 200;
pub const MAX_MESSAGE_CHARS: usize = 100_000;
pub const MAX_TOTAL_CHARS: usize = 400_000;
pub const MAX_SYSTEM_CHARS: usize = 20_000;
/// Most images in one conversation, and the largest one (decoded), as Bedrock takes them.
pub const MAX_IMAGES: usize = 20;
pub const MAX_IMAGE_BYTES: usize = 3_750_000;
/// Widest and tallest image, in pixels, where its header says.
pub const MAX_IMAGE_SIDE: u32 = 8_000;
/// Most documents in one conversation, and the largest one (decoded).
pub const MAX_DOCUMENTS: usize = 5;
pub const MAX_DOCUMENT_BYTES: usize = 4_500_000;
/// Longest document name.
pub const MAX_DOCUMENT_NAME: usize = 200;
/// Most stop sequences a request may give (what every Converse model takes), and the longest.
pub const MAX_STOP_SEQUENCES: usize = 4;
pub const MAX_STOP_SEQUENCE_CHARS: usize = 100;
/// Upper bound of `max_tokens`, also the cap on what is asked of Bedrock.
pub const MAX_TOKENS: u32 = 8192;
/// `maxTokens` sent to Bedrock when the request gives none.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// `field: problem`, safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub problem: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// Longest identifier Bedrock accepts (`ConversationalModelId` in the service model).
pub const MAX_MODEL_ID_LEN: usize = 2048;

/// Refuses ids Bedrock could never accept: empty, too long, or with spaces or control or
/// non-ASCII characters. The exact grammar is left to Bedrock.
pub fn check_model_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    if id.len() > MAX_MODEL_ID_LEN {
        return Err(format!("must be at most {MAX_MODEL_ID_LEN} characters"));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_ids_are_refused() {
        assert!(check_model_id("").is_err());
        assert!(check_model_id("model with space").is_err());
        assert!(check_model_id("modèle").is_err());
        assert!(check_model_id("line\nbreak").is_err());
        assert!(check_model_id(&"a".repeat(MAX_MODEL_ID_LEN + 1)).is_err());
        assert_eq!(check_model_id(&"a".repeat(MAX_MODEL_ID_LEN)), Ok(()));
        let profile = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0";
        assert_eq!(check_model_id(profile), Ok(()));
        assert_eq!(check_model_id("amazon.nova-lite-v1:0"), Ok(()));
    }
}
