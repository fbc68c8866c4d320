//! Where in a JSON document a typed parse failed, as a path (`routes.generate.targets[1]`):
//! the route table is parsed with plain serde, and only a failed parse scans the text up to
//! the error's position to name the place. (A path-tracking deserializer would wrap every
//! value of every parse and cost tens of KB of the Worker's wasm.)

/// An object or array the scan is inside.
enum Frame {
    /// `key` is the member being read: set by its name, cleared by the `,` after its value.
    Object { key: Option<String> },
    /// `index` is the element being read, from just after the `[` or `,` before it.
    Array { index: usize },
}

/// The path of the value being read at line `line`, column `column` (serde_json's 1-based
/// line and its count of bytes read on that line); empty at the top level. The error
/// `message` decides one case: when the position is just after an object key, the key is
/// the path's last part only if the error is that the key is an unknown field (as for a
/// value of that key); for an unknown variant or a duplicate field it is the object.
pub(super) fn path_at(json: &str, line: usize, column: usize, message: &str) -> String {
    let line_start = match line.checked_sub(2) {
        Some(newlines) => json
            .match_indices('\n')
            .nth(newlines)
            .map_or(json.len(), |(i, _)| i + 1),
        None => 0,
    };
    let end = (line_start + column).min(json.len());
    let bytes = json.as_bytes();
    let mut frames: Vec<Frame> = Vec::new();
    let mut after_key = false;
    let mut i = 0;
    while i < end {
        let byte = bytes[i];
        if !byte.is_ascii_whitespace() {
            after_key = false;
        }
        match byte {
            b'{' => frames.push(Frame::Object { key: None }),
            b'[' => frames.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                frames.pop();
            }
            b',' => match frames.last_mut() {
                Some(Frame::Object { key }) => *key = None,
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            b'"' => {
                let close = string_end(bytes, i);
                if let Some(Frame::Object { key: key @ None }) = frames.last_mut() {
                    let token = &json[i..close.min(json.len())];
                    *key = Some(
                        serde_json::from_slice(token.as_bytes())
                            .unwrap_or_else(|_| token.trim_matches('"').to_owned()),
                    );
                    after_key = true;
                }
                i = close;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let last = frames.len().saturating_sub(1);
    let mut path = String::new();
    for (depth, frame) in frames.iter().enumerate() {
        match frame {
            Frame::Object { key: Some(key) } => {
                let names_key = depth < last
                    || !after_key
                    || message.starts_with(&format!("unknown field `{key}`"));
                if names_key {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
            }
            Frame::Array { index } => path.push_str(&format!("[{index}]")),
            Frame::Object { key: None } => {}
        }
    }
    path
}

/// The index just past the string whose opening quote is at `start`.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::path_at;

    /// The path at the end of `prefix`, inside `prefix` + `rest`.
    fn at(prefix: &str, rest: &str, message: &str) -> String {
        let json = format!("{prefix}{rest}");
        let line = prefix.matches('\n').count() + 1;
        let column = prefix.len() - prefix.rfind('\n').map_or(0, |i| i + 1);
        path_at(&json, line, column, message)
    }

    #[test]
    fn names_values_elements_and_keys() {
        let cases = [
            (
                r#"{"a":{"b":[1,{"c":"x""#,
                "}]}}",
                "invalid type",
                "a.b[1].c",
            ),
            (
                r#"{"a":{"b":[1,{"c":"x"}"#,
                "]}}",
                "missing field",
                "a.b[1]",
            ),
            (r#"{"a":{"b":[1,2"#, "]}}", "invalid type", "a.b[1]"),
            (r#"{"a":{"b":[]"#, "}}", "invalid length", "a.b"),
            (r#"{"a":{"b":[1, "#, "{}]}}", "invalid type: map", "a.b[1]"),
            (
                r#"{"a":{"d":1,"zz""#,
                ":1}}",
                "unknown field `zz`, expected",
                "a.zz",
            ),
            (
                r#"{"a":{"d":{"text""#,
                ":1}}}",
                "unknown variant `text`",
                "a.d",
            ),
            (r#"{"a":{"d":1,"d""#, ":1}}", "duplicate field `d`", "a"),
            (
                r#"{"a":{"x.y":{"e\"f":true"#,
                "}}}",
                "invalid type",
                "a.x.y.e\"f",
            ),
            ("5", "", "invalid type", ""),
            (
                "{\n  \"a\": [\n    \"x\"",
                "\n  ]\n}",
                "invalid type",
                "a[0]",
            ),
        ];
        for (prefix, rest, message, path) in cases {
            assert_eq!(at(prefix, rest, message), path, "{prefix}");
        }
    }
}
