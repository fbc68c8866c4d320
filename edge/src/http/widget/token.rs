//! Widget tokens: the edge's signed word that it let one visitor of a widget key in, from one
//! of the key's origins, until a time. Pure functions of the secret, the token and the clock;
//! whether the key still exists and still lists the origin is checked by the caller
//! ([`super::identify`]), so that removing either revokes the token at once.
//!
//! ```text
//! v1.<key>.<origin, base64url>.<visitor id, 32 hex>.<expiry, unix s>.<HMAC-SHA256, base64url>
//! ```
//!
//! The HMAC, keyed with `WIDGET_TOKEN_SECRET`, covers everything before the last `.`. None of
//! the fields can hold a `.` (keys are `pk_` and `[A-Za-z0-9_-]`, base64url has no dot), so
//! a token splits one way only.

use crate::config::secret::Secret;
use crate::crypto::{constant_time_eq, hmac_sha256};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

/// How long a token is valid: 15 minutes. The frame asks for a new one before that.
pub const TOKEN_LIFETIME_S: u64 = 15 * 60;
const VERSION: &str = "v1";
/// Hex digits of a visitor id (128 random bits).
const VISITOR_LEN: usize = 32;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The widget key it was issued for.
    pub key: String,
    /// The page it was issued to, one of the key's origins then.
    pub origin: String,
    /// The visitor it names: the per-visitor rate-limit bucket.
    pub visitor: String,
    /// When it stops being valid, in Unix seconds.
    pub expires_s: u64,
}

/// Why a token was refused, before any look at the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not the shape of a token this edge issues.
    Malformed,
    /// Not signed with this edge's secret (altered, forged, or from before a secret rotation).
    BadSignature,
    /// Genuine, but past its expiry.
    Expired,
}

/// A visitor id from two random words: 32 lowercase hex digits.
pub fn visitor_id(first: u64, second: u64) -> String {
    format!("{first:016x}{second:016x}")
}

fn signature(secret: &Secret, signed: &str) -> [u8; 32] {
    hmac_sha256(secret.expose().as_bytes(), signed.as_bytes())
}

/// The token carrying `claims`, signed with `secret`.
pub fn sign(secret: &Secret, claims: &Claims) -> String {
    let signed = format!(
        "{VERSION}.{}.{}.{}.{}",
        claims.key,
        URL_SAFE_NO_PAD.encode(claims.origin.as_bytes()),
        claims.visitor,
        claims.expires_s
    );
    let mac = URL_SAFE_NO_PAD.encode(signature(secret, &signed));
    format!("{signed}.{mac}")
}

/// The claims of `token` if `secret` signed it and it has not expired at `now_s`. The
/// signature is checked first, in constant time, and before any field is read.
pub fn verify(secret: &Secret, token: &str, now_s: u64) -> Result<Claims, TokenError> {
    let (signed, mac) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let mac = URL_SAFE_NO_PAD
        .decode(mac)
        .map_err(|_| TokenError::Malformed)?;
    if !constant_time_eq(&mac, &signature(secret, signed)) {
        return Err(TokenError::BadSignature);
    }
    let parts: Vec<&str> = signed.split('.').collect();
    let [VERSION, key, origin, visitor, expires_s] = parts.as_slice() else {
        return Err(TokenError::Malformed);
    };
    let origin = URL_SAFE_NO_PAD
        .decode(origin)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(TokenError::Malformed)?;
    let visitor_ok = visitor.len() == VISITOR_LEN && visitor.bytes().all(|b| b.is_ascii_hexdigit());
    let expires_s = expires_s
        .parse::<u64>()
        .map_err(|_| TokenError::Malformed)?;
    if !visitor_ok || key.is_empty() || origin.is_empty() {
        return Err(TokenError::Malformed);
    }
    if now_s >= expires_s {
        return Err(TokenError::Expired);
    }
    Ok(Claims {
        key: (*key).to_owned(),
        origin,
        visitor: (*visitor).to_owned(),
        expires_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn secret() -> Secret {
        Secret::new("test-widget-token-secret-0123456789abcdef")
    }

    fn claims() -> Claims {
        Claims {
            key: "pk_shop_1234".into(),
            origin: "https://shop.example.com".into(),
            visitor: visitor_id(0x0123_4567_89ab_cdef, 42),
            expires_s: NOW + TOKEN_LIFETIME_S,
        }
    }

    #[test]
    fn a_token_names_its_key_origin_visitor_and_expiry_and_verifies() {
        let token = sign(&secret(), &claims());
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 6, "{token}");
        assert_eq!(parts[..2], ["v1", "pk_shop_1234"]);
        assert_eq!(parts[2], "aHR0cHM6Ly9zaG9wLmV4YW1wbGUuY29t");
        assert_eq!(parts[3], "0123456789abcdef000000000000002a");
        assert_eq!(parts[4], (NOW + 900).to_string());
        assert_eq!(parts[5].len(), 43, "32 bytes of base64url, unpadded");
        assert!(!token.contains(secret().expose()));
        assert_eq!(verify(&secret(), &token, NOW), Ok(claims()));
        assert_eq!(verify(&secret(), &token, NOW + 899), Ok(claims()));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let token = sign(&secret(), &claims());
        assert_eq!(
            verify(&secret(), &token, NOW + 900),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(&secret(), &token, NOW + 86_400),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn altered_or_foreign_tokens_are_refused() {
        let token = sign(&secret(), &claims());
        let replace = |at: usize, with: &str| {
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            parts[at] = with.to_owned();
            parts.join(".")
        };
        let other_origin = URL_SAFE_NO_PAD.encode("https://evil.example");
        let tampered = [
            replace(1, "pk_other_key"),
            replace(2, &other_origin),
            replace(3, &visitor_id(1, 2)),
            replace(4, &(NOW + 86_400).to_string()),
            replace(0, "v2"),
        ];
        for altered in tampered {
            assert_eq!(
                verify(&secret(), &altered, NOW),
                Err(TokenError::BadSignature),
                "{altered}"
            );
        }
        // Signed with another secret (or before the secret was rotated).
        let rotated = Secret::new("another-secret-of-enough-length-0123456789");
        assert_eq!(verify(&rotated, &token, NOW), Err(TokenError::BadSignature));
        // A token for another key or origin is one this edge signed: its claims say so, and
        // the caller checks them against the configuration.
        let other = Claims {
            key: "pk_other_key".into(),
            origin: "https://other.example".into(),
            ..claims()
        };
        assert_eq!(verify(&secret(), &sign(&secret(), &other), NOW), Ok(other));
    }

    #[test]
    fn malformed_tokens_are_refused_without_a_panic() {
        for junk in [
            "",
            ".",
            "v1",
            "not a token",
            "v1.pk_shop_1234.aHR0cHM.0123.1.%%%",
            "a.b.c.d.e.f.g",
        ] {
            assert!(
                matches!(
                    verify(&secret(), junk, NOW),
                    Err(TokenError::Malformed | TokenError::BadSignature)
                ),
                "{junk}"
            );
        }
        // Well signed but of the wrong shape: still refused.
        let signed = "v1.pk_shop_1234.aHR0cHM6Ly9zaG9wLmV4YW1wbGUuY29t.short.99999999999";
        let mac = URL_SAFE_NO_PAD.encode(signature(&secret(), signed));
        assert_eq!(
            verify(&secret(), &format!("{signed}.{mac}"), NOW),
            Err(TokenError::Malformed)
        );
    }
}
