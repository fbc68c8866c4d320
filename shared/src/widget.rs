//! The embeddable widget's names on the wire: where the edge serves its frame page, the
//! headers of a widget's requests, and `POST /api/widget/token`, which hands a visitor of an
//! allowed page the short-lived token every other widget call carries.

use serde::{Deserialize, Serialize};

/// Path of the widget's frame page.
pub const FRAME_PATH: &str = "/widget/frame.html";
/// Path of the endpoint that issues widget tokens.
pub const TOKEN_PATH: &str = "/api/widget/token";
/// Request header carrying the widget's public key (to ask for a token).
pub const KEY_HEADER: &str = "x-widget-key";
/// Request header carrying a widget token (every widget call but the one asking for it).
pub const TOKEN_HEADER: &str = "x-widget-token";

/// The body of `POST /api/widget/token`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The page the widget frame is embedded in (its `location.ancestorOrigins[0]`). A page
    /// calling from another origin leaves it out: its browser's `Origin` header says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// The answer of `POST /api/widget/token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// Sent as [`TOKEN_HEADER`] with every widget call until it expires.
    pub token: String,
    /// Seconds the token stays valid from now.
    pub expires_in: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bodies_have_the_documented_shape() {
        let asked: TokenRequest =
            serde_json::from_str(r#"{"origin":"https://a.example"}"#).unwrap();
        assert_eq!(asked.origin.as_deref(), Some("https://a.example"));
        assert_eq!(
            serde_json::from_str::<TokenRequest>("{}").unwrap(),
            TokenRequest::default()
        );
        assert!(serde_json::from_str::<TokenRequest>(r#"{"key":"pk_x"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&TokenRequest::default()).unwrap(),
            "{}"
        );
        let answer = TokenResponse {
            token: "v1.t".into(),
            expires_in: 900,
        };
        let json = serde_json::to_string(&answer).unwrap();
        assert_eq!(json, r#"{"token":"v1.t","expires_in":900}"#);
        assert_eq!(
            serde_json::from_str::<TokenResponse>(&json).unwrap(),
            answer
        );
    }
}
