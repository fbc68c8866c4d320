//! Model ids, inference-profile ids and ARNs as they go into a Bedrock URL path: the
//! percent-encoding SDKs use (`:` → `%3A`, `/` → `%2F`).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but the RFC 3986 unreserved characters is escaped (smithy-rs `label.rs`).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The id as one percent-encoded path segment, for `/model/{id}/converse-stream`.
pub fn encode(id: &str) -> String {
    utf8_percent_encode(id, PATH_SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_encode_like_the_sdks() {
        let cases = [
            (
                "anthropic.claude-3-haiku-20240307-v1:0",
                "anthropic.claude-3-haiku-20240307-v1%3A0",
            ),
            ("amazon.nova-lite-v1:0", "amazon.nova-lite-v1%3A0"),
            (
                "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                "us.anthropic.claude-3-5-haiku-20241022-v1%3A0",
            ),
            (
                "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
                "eu.anthropic.claude-3-7-sonnet-20250219-v1%3A0",
            ),
            (
                "apac.amazon.nova-pro-v1:0",
                "apac.amazon.nova-pro-v1%3A0",
            ),
            (
                "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "global.anthropic.claude-sonnet-4-5-20250929-v1%3A0",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-sonnet-20241022-v2%3A0",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/jf2sje1c0jnb",
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fjf2sje1c0jnb",
            ),
        ];
        for (id, encoded) in cases {
            assert_eq!(encode(id), encoded);
        }
        assert_eq!(encode("a b~c_d"), "a%20b~c_d");
    }
}
