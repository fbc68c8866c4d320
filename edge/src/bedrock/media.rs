//! Media as Bedrock takes it inline, whichever API carries it (Converse blocks, Anthropic and
//! Nova bodies): base64 that decodes within the kind's size, and an image within
//! [`MAX_IMAGE_SIDE`] px a side where its header says.

mod image_size;

use crate::config::limits::{MAX_DOCUMENT_BYTES, MAX_IMAGE_BYTES, MAX_IMAGE_SIDE};
use base64::{engine::general_purpose::STANDARD, Engine};

/// What a block of bytes is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Image,
    Document,
}

impl Media {
    fn limit(self) -> usize {
        match self {
            Self::Image => MAX_IMAGE_BYTES,
            Self::Document => MAX_DOCUMENT_BYTES,
        }
    }
}

/// Checks base64 `encoded` as `media`: `Err` says what is wrong with it, for the caller to
/// put after the field's path. The decoded size is known before decoding, so an oversized
/// block costs no decoding.
pub fn check_bytes(encoded: &str, media: Media) -> Result<(), String> {
    let limit = media.limit();
    let too_large = || format!("must be at most {limit} bytes once decoded");
    let unpadded = encoded.trim_end_matches('=');
    if unpadded.is_empty() {
        return Err("must not be empty".into());
    }
    if unpadded.len() / 4 * 3 > limit {
        return Err(too_large());
    }
    let bytes = STANDARD
        .decode(encoded.as_bytes())
        .map_err(|_| "must be base64 (RFC 4648, padded)".to_owned())?;
    if bytes.len() > limit {
        return Err(too_large());
    }
    if media == Media::Image {
        if let Some((width, height)) = image_size::dimensions(&bytes) {
            if width.max(height) > MAX_IMAGE_SIDE {
                return Err(format!(
                    "the image is {width}x{height} px; at most {MAX_IMAGE_SIDE} px a side"
                ));
            }
        }
    }
    Ok(())
}
