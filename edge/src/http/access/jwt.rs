//! Cloudflare Access's signed assertion (`Cf-Access-Jwt-Assertion`): a JWT signed RS256 with
//! one of the team's keys. Parsing and the claim checks are pure; the signature is checked by
//! the platform ([`Platform::verify_rs256`], Web Crypto on Workers) against the key the token
//! names among the team's published keys.

use crate::platform::Platform;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::Deserialize;

/// Clock difference tolerated on `exp` and `nbf`.
pub const LEEWAY_S: u64 = 60;

/// One of the team's public keys (an RSA JWK).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Jwk {
    pub kid: String,
    /// Modulus and exponent, base64url.
    pub n: String,
    pub e: String,
}

/// The team's key set, as `/cdn-cgi/access/certs` publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KeySet {
    pub keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: Audience,
    exp: u64,
    #[serde(default)]
    nbf: Option<u64>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    sub: Option<String>,
}

/// A token split and decoded, its signature not yet checked.
pub struct Parsed {
    pub kid: String,
    /// `header.payload`, the bytes the signature covers.
    pub signed: Vec<u8>,
    pub signature: Vec<u8>,
    claims: Claims,
}

/// Why a token is refused (said to the client: it names no secret).
pub type Refusal = &'static str;

/// Splits and decodes `token`; only RS256 is accepted (never `none`, never a MAC).
pub fn parse(token: &str) -> Result<Parsed, Refusal> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the Access token is not a JWT");
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| "the Access token is not a JWT")
    };
    let head: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| "the Access token is not a JWT")?;
    if head.alg != "RS256" {
        return Err("the Access token is not signed RS256");
    }
    let claims: Claims = serde_json::from_slice(&decode(payload)?)
        .map_err(|_| "the Access token lacks its claims")?;
    Ok(Parsed {
        kid: head.kid,
        signed: format!("{header}.{payload}").into_bytes(),
        signature: decode(signature)?,
        claims,
    })
}

impl Parsed {
    /// Checks issuer, audience and time at `now_s`; the identity the token names (its email,
    /// else its subject).
    pub fn check(&self, team_url: &str, audience: &str, now_s: u64) -> Result<String, Refusal> {
        let claims = &self.claims;
        if claims.iss.trim_end_matches('/') != team_url {
            return Err("the Access token is from another team");
        }
        let for_us = match &claims.aud {
            Audience::One(aud) => aud == audience,
            Audience::Many(auds) => auds.iter().any(|aud| aud == audience),
        };
        if !for_us {
            return Err("the Access token is for another application");
        }
        if claims.exp.saturating_add(LEEWAY_S) <= now_s {
            return Err("the Access token has expired");
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now_s.saturating_add(LEEWAY_S))
        {
            return Err("the Access token is not valid yet");
        }
        claims
            .email
            .clone()
            .or_else(|| claims.sub.clone())
            .filter(|who| !who.is_empty())
            .ok_or("the Access token names nobody")
    }

    /// Whether the signature is `key`'s.
    pub async fn signed_by<P: Platform>(&self, platform: &P, key: &Jwk) -> bool {
        platform
            .verify_rs256(&key.n, &key.e, &self.signed, &self.signature)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims),
            URL_SAFE_NO_PAD.encode(b"sig")
        )
    }

    const TEAM: &str = "https://acme.cloudflareaccess.com";
    const HEADER: &str = r#"{"alg":"RS256","kid":"k1"}"#;

    fn checked(claims: &str, now: u64) -> Result<String, Refusal> {
        parse(&token(HEADER, claims))?.check(TEAM, "aud-1", now)
    }

    #[test]
    fn claims_are_checked_and_name_the_person() {
        let good = r#"{"iss":"https://acme.cloudflareaccess.com","aud":["aud-1"],"exp":1000,"email":"ana@example.com","sub":"s"}"#;
        assert_eq!(checked(good, 900), Ok("ana@example.com".into()));
        assert_eq!(checked(good, 1_059), Ok("ana@example.com".into()), "leeway");
        assert_eq!(checked(good, 1_060), Err("the Access token has expired"));
        let other_aud =
            r#"{"iss":"https://acme.cloudflareaccess.com","aud":"aud-2","exp":1000,"sub":"s"}"#;
        assert_eq!(
            checked(other_aud, 900),
            Err("the Access token is for another application")
        );
        let other_team =
            r#"{"iss":"https://evil.cloudflareaccess.com","aud":"aud-1","exp":1000,"sub":"s"}"#;
        assert_eq!(
            checked(other_team, 900),
            Err("the Access token is from another team")
        );
        let service = r#"{"iss":"https://acme.cloudflareaccess.com","aud":"aud-1","exp":1000,"sub":"svc-42"}"#;
        assert_eq!(checked(service, 900), Ok("svc-42".into()));
    }

    #[test]
    fn only_rs256_jwts_parse() {
        let claims = r#"{"iss":"x","aud":"a","exp":1}"#;
        for header in [
            r#"{"alg":"none","kid":"k"}"#,
            r#"{"alg":"HS256","kid":"k"}"#,
        ] {
            assert_eq!(
                parse(&token(header, claims)).err(),
                Some("the Access token is not signed RS256")
            );
        }
        for junk in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert!(parse(junk).is_err(), "{junk}");
        }
    }
}
