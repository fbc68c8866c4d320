//! Lowercase hexadecimal of bytes, as digests appear in signatures and rate-limit keys.

/// `bytes` as lowercase hex, two digits each.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
