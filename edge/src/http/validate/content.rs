//! Content blocks, checked before anything is sent: no blank text, images and documents as
//! Bedrock takes them ([`crate::bedrock::media`]; their number in the conversation), document
//! names in Bedrock's character set. Errors name the block's field
//! (`messages[2].content[1].image.source.bytes`).

use crate::{
    bedrock::media::{check_bytes, Media},
    config::limits::{ValidationError, MAX_DOCUMENTS, MAX_DOCUMENT_NAME, MAX_IMAGES},
};
use shared::{content::Source, ContentBlock};

/// The media a conversation holds so far, counted against its limits.
#[derive(Debug, Default)]
pub struct MediaCount {
    images: usize,
    documents: usize,
}

/// Checks the blocks of message `i`, counting its media into `count`.
pub fn check_blocks(
    i: usize,
    blocks: &[ContentBlock],
    count: &mut MediaCount,
) -> Result<(), ValidationError> {
    if blocks.is_empty() {
        return Err(ValidationError::new(
            format!("messages[{i}].content"),
            "must not be empty",
        ));
    }
    for (j, block) in blocks.iter().enumerate() {
        let at = format!("messages[{i}].content[{j}]");
        match block {
            ContentBlock::Text(text) if text.trim().is_empty() => {
                return Err(ValidationError::new(
                    format!("{at}.text"),
                    "must not be blank",
                ));
            }
            ContentBlock::Text(_) => {}
            ContentBlock::Image(image) => {
                count.images += 1;
                if count.images > MAX_IMAGES {
                    return Err(ValidationError::new(
                        at,
                        format!("a conversation may hold at most {MAX_IMAGES} images"),
                    ));
                }
                check_source(&image.source, &format!("{at}.image"), Media::Image)?;
            }
            ContentBlock::Document(document) => {
                count.documents += 1;
                if count.documents > MAX_DOCUMENTS {
                    return Err(ValidationError::new(
                        at,
                        format!("a conversation may hold at most {MAX_DOCUMENTS} documents"),
                    ));
                }
                check_name(&document.name, &format!("{at}.document.name"))?;
                check_source(&document.source, &format!("{at}.document"), Media::Document)?;
            }
        }
    }
    Ok(())
}

/// The bytes of `source` checked as `media`, the problem named at `<at>.source.bytes`.
fn check_source(source: &Source, at: &str, media: Media) -> Result<(), ValidationError> {
    check_bytes(&source.bytes, media)
        .map_err(|problem| ValidationError::new(format!("{at}.source.bytes"), problem))
}

/// Letters, digits, single spaces, hyphens, parentheses and square brackets.
fn check_name(name: &str, at: &str) -> Result<(), ValidationError> {
    let allowed = name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '(' | ')' | '[' | ']'));
    let valid = allowed
        && !name.contains("  ")
        && !name.starts_with(' ')
        && !name.ends_with(' ')
        && (1..=MAX_DOCUMENT_NAME).contains(&name.chars().count());
    if valid {
        Ok(())
    } else {
        Err(ValidationError::new(
            at,
            format!(
                "must be 1 to {MAX_DOCUMENT_NAME} letters, digits, single spaces, hyphens, \
                 parentheses or square brackets"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::http::validate::validate;
    use base64::{engine::general_purpose::STANDARD, Engine};
    use serde_json::{json, Value};
    use shared::ChatRequest;

    /// The header of an 8001 x 20 px PNG.
    fn wide_png() -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        bytes.extend(8001u32.to_be_bytes());
        bytes.extend(20u32.to_be_bytes());
        bytes
    }

    /// A one-pixel PNG.
    const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

    fn image(bytes: &str) -> Value {
        json!({"image": {"format": "png", "source": {"bytes": bytes}}})
    }

    fn document(name: &str) -> Value {
        json!({"document": {"format": "txt", "name": name, "source": {"bytes": "aGVsbG8="}}})
    }

    /// The first problem with a conversation whose one user message has `blocks`.
    fn problem(blocks: Vec<Value>) -> Option<String> {
        let request: ChatRequest =
            serde_json::from_value(json!({"messages": [{"role": "user", "content": blocks}]}))
                .unwrap();
        validate(&request).err().map(|e| e.to_string())
    }

    #[test]
    fn images_and_documents_as_bedrock_takes_them_pass() {
        let blocks = vec![
            json!({"text": "What is in these?"}),
            image(PNG),
            document("Notes (v2) [draft]"),
        ];
        assert_eq!(problem(blocks), None);
    }

    #[test]
    fn each_problem_names_its_block() {
        let cases = [
            (vec![], "messages[0].content: must not be empty"),
            (
                vec![json!({"text": "  "})],
                "messages[0].content[0].text: must not be blank",
            ),
            (
                vec![json!({"text": "see"}), image("not base64!")],
                "messages[0].content[1].image.source.bytes: must be base64 (RFC 4648, padded)",
            ),
            (
                vec![image(&"A".repeat(5_000_004))],
                "messages[0].content[0].image.source.bytes: must be at most 3750000 bytes once decoded",
            ),
            (
                vec![image(&STANDARD.encode(wide_png()))],
                "messages[0].content[0].image.source.bytes: the image is 8001x20 px; at most 8000 px a side",
            ),
            (
                vec![document("two  spaces")],
                "messages[0].content[0].document.name: must be 1 to 200 letters, digits, single spaces, hyphens, parentheses or square brackets",
            ),
            (
                vec![document("report.pdf")],
                "messages[0].content[0].document.name: must be 1 to 200 letters, digits, single spaces, hyphens, parentheses or square brackets",
            ),
            (
                (0..21).map(|_| image(PNG)).collect(),
                "messages[0].content[20]: a conversation may hold at most 20 images",
            ),
            (
                (0..6).map(|i| document(&format!("doc {i}"))).collect(),
                "messages[0].content[5]: a conversation may hold at most 5 documents",
            ),
        ];
        for (blocks, expected) in cases {
            assert_eq!(problem(blocks).as_deref(), Some(expected));
        }
    }
}
