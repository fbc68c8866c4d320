//! What a message holds: a string (one text block, as every client has sent so far) or a list
//! of content blocks in Converse's own JSON shape, so that nothing is translated twice:
//! `{"text"}`, `{"image": {"format", "source": {"bytes"}}}`,
//! `{"document": {"format", "name", "source": {"bytes"}}}`. Bytes are base64; only inline
//! bytes are a source (an `s3Location` would make the edge's AWS identity read S3 objects the
//! caller names).

use serde::{
    de::{self, SeqAccess, Visitor},
    Deserialize, Deserializer, Serialize,
};
use std::{borrow::Cow, fmt};

/// A message's content.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Blocks(Vec<ContentBlock>),
}

/// One content block, as Converse writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentBlock {
    Text(String),
    Image(Image),
    Document(Document),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Png,
    Jpeg,
    Gif,
    Webp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentFormat {
    Pdf,
    Csv,
    Doc,
    Docx,
    Xls,
    Xlsx,
    Html,
    Txt,
    Md,
}

/// Where a block's bytes are: inline, base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub bytes: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub format: ImageFormat,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub format: DocumentFormat,
    /// Shown to the model; Bedrock allows letters, digits, single spaces, hyphens,
    /// parentheses and square brackets.
    pub name: String,
    pub source: Source,
}

impl Content {
    /// The text of the message: the string, or its text blocks joined by blank lines.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Self::Text(text) => Cow::Borrowed(text),
            Self::Blocks(blocks) => {
                let texts: Vec<&str> = blocks
                    .iter()
                    .filter_map(|block| match block {
                        ContentBlock::Text(text) => Some(text.as_str()),
                        _ => None,
                    })
                    .collect();
                match texts.as_slice() {
                    [one] => Cow::Borrowed(one),
                    _ => Cow::Owned(texts.join("\n\n")),
                }
            }
        }
    }

    /// The content as blocks (a string is one text block).
    pub fn blocks(&self) -> Cow<'_, [ContentBlock]> {
        match self {
            Self::Text(text) => Cow::Owned(vec![ContentBlock::Text(text.clone())]),
            Self::Blocks(blocks) => Cow::Borrowed(blocks),
        }
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

/// A string, or a list of blocks whose errors name what is wrong in the block (an untagged
/// enum would only say that nothing matched).
impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;

        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = Content;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of content blocks")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Content, E> {
                Ok(Content::Text(text.to_owned()))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<Content, E> {
                Ok(Content::Text(text))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut blocks = Vec::new();
                while let Some(block) = seq.next_element::<ContentBlock>()? {
                    blocks.push(block);
                }
                Ok(Content::Blocks(blocks))
            }
        }

        deserializer.deserialize_any(ContentVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_converse_blocks_both_parse_and_write_back_as_they_came() {
        let text: Content = serde_json::from_str(r#""Hello""#).unwrap();
        assert_eq!(text, Content::Text("Hello".into()));
        let json = r#"[{"text":"What is this?"},{"image":{"format":"png","source":{"bytes":"iVBORw0KGgo="}}},{"document":{"format":"pdf","name":"Report (2024)","source":{"bytes":"JVBERi0="}}}]"#;
        let blocks: Content = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&blocks).unwrap(), json);
        assert_eq!(blocks.text(), "What is this?");
    }

    #[test]
    fn a_bad_block_says_what_is_wrong() {
        let error = |json: &str| {
            serde_json::from_str::<Content>(json)
                .unwrap_err()
                .to_string()
        };
        assert!(error(r#"[{"video":{}}]"#).contains("unknown variant `video`"));
        assert!(error(r#"[{"image":{"format":"bmp","source":{"bytes":""}}}]"#).contains("bmp"));
        assert!(error(
            r#"[{"image":{"format":"png","source":{"s3Location":{"uri":"s3://b/k"}}}}]"#
        )
        .contains("unknown field `s3Location`"));
        assert!(error("5").contains("a string or a list of content blocks"));
    }
}
