//! Authenticates a Bedrock request: SigV4 (service `bedrock`) through the `aws-sigv4` crate with
//! the time passed in, or a Bedrock API key as `Authorization: Bearer`.

use crate::{platform::UpstreamRequest, secret::Secret};
use aws_sigv4::{
    http_request::{self, SignableBody, SignableRequest, SigningSettings},
    sign::v4,
};
use aws_smithy_runtime_api::client::identity::Identity;
use std::time::{Duration, UNIX_EPOCH};
use thiserror::Error;

/// SigV4 signing name of Bedrock Runtime (not `bedrock-runtime`).
const SIGNING_NAME: &str = "bedrock";

/// Request headers covered by the signature, besides the `x-amz-date` and
/// `x-amz-security-token` the signer adds. Anything else (user agent, trace id) stays unsigned,
/// so a proxy that changes it cannot break the signature.
const SIGNED_HEADERS: [&str; 2] = ["host", "content-type"];

/// The headers signing writes; any earlier value is replaced.
const AUTH_HEADERS: [&str; 3] = ["authorization", "x-amz-date", "x-amz-security-token"];

/// How the edge proves itself to Bedrock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    SigV4 {
        access_key_id: String,
        secret_access_key: Secret,
        session_token: Option<Secret>,
    },
    /// A Bedrock API key (`AWS_BEARER_TOKEN_BEDROCK`).
    Bearer(Secret),
}

/// The request could not be signed (its URL does not parse, say). Carries no secret.
#[derive(Debug, Error)]
#[error("could not sign the Bedrock request: {0}")]
pub struct SigningError(String);

/// Adds the authentication headers to `request`. `now_ms` is the signing time (Unix ms).
pub fn sign(
    request: &mut UpstreamRequest,
    credentials: &Credentials,
    region: &str,
    now_ms: u64,
) -> Result<(), SigningError> {
    let added = match credentials {
        Credentials::Bearer(key) => {
            vec![(
                "authorization".to_owned(),
                format!("Bearer {}", key.expose()),
            )]
        }
        Credentials::SigV4 {
            access_key_id,
            secret_access_key,
            session_token,
        } => sigv4_headers(
            request,
            access_key_id,
            secret_access_key,
            session_token.as_ref(),
            region,
            now_ms,
        )?,
    };
    request
        .headers
        .retain(|(name, _)| !AUTH_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)));
    request.headers.extend(added);
    Ok(())
}

fn sigv4_headers(
    request: &UpstreamRequest,
    access_key_id: &str,
    secret_access_key: &Secret,
    session_token: Option<&Secret>,
    region: &str,
    now_ms: u64,
) -> Result<Vec<(String, String)>, SigningError> {
    // The signer panics on a URL without a host; refuse those here.
    let has_host = request
        .url
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
    if !has_host {
        return Err(SigningError("the URL has no host".into()));
    }
    let identity: Identity = aws_credential_types::Credentials::new(
        access_key_id,
        secret_access_key.expose(),
        session_token.map(|token| token.expose().to_owned()),
        None,
        "edge-settings",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SIGNING_NAME)
        .time(UNIX_EPOCH + Duration::from_millis(now_ms))
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SigningError(e.to_string()))?
        .into();
    let signed = request.headers.iter().filter_map(|(name, value)| {
        SIGNED_HEADERS
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
            .then_some((name.as_str(), value.as_str()))
    });
    let signable = SignableRequest::new(
        request.method,
        request.url.as_str(),
        signed,
        SignableBody::Bytes(&request.body),
    )
    .map_err(|e| SigningError(e.to_string()))?;
    let (instructions, _signature) = http_request::sign(signable, &params)
        .map_err(|e| SigningError(e.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2015-08-30T12:36:00Z, the time of the AWS signing test suites.
    const SUITE_TIME_MS: u64 = 1_440_938_160_000;

    fn header<'a>(request: &'a UpstreamRequest, name: &str) -> Option<&'a str> {
        request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn vector_request() -> UpstreamRequest {
        UpstreamRequest {
            method: "POST",
            url: "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse".into(),
            headers: vec![
                ("host".into(), "bedrock-runtime.us-east-1.amazonaws.com".into()),
                ("content-type".into(), "application/json".into()),
                ("user-agent".into(), "edge/0.1".into()),
                ("x-amzn-trace-id".into(), "Root=1-5759e988-bd862e3fe1be46a994272793".into()),
            ],
            body: br#"{"messages":[{"role":"user","content":[{"text":"Hello"}]}],"inferenceConfig":{"maxTokens":256}}"#.to_vec(),
        }
    }

    fn vector_credentials() -> Credentials {
        Credentials::SigV4 {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: Some(Secret::new("SESSIONTOKEN")),
        }
    }

    /// bedrock-wire.md §5.2, computed with botocore.
    #[test]
    fn bedrock_vector_gives_the_botocore_signature() {
        let mut request = vector_request();
        sign(
            &mut request,
            &vector_credentials(),
            "us-east-1",
            SUITE_TIME_MS,
        )
        .unwrap();
        assert_eq!(
            header(&request, "authorization"),
            Some("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=2e902534c53042bf0f126182c2d353ea2229455ba3d74e387e7cb8b7403f7647")
        );
        assert_eq!(header(&request, "x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(
            header(&request, "x-amz-security-token"),
            Some("SESSIONTOKEN")
        );
        assert_eq!(header(&request, "x-amz-content-sha256"), None);
    }

    #[test]
    fn the_host_is_taken_from_the_url_when_no_header_names_it() {
        let mut with_header = vector_request();
        let mut without = vector_request();
        without.headers.retain(|(n, _)| n != "host");
        sign(
            &mut with_header,
            &vector_credentials(),
            "us-east-1",
            SUITE_TIME_MS,
        )
        .unwrap();
        sign(
            &mut without,
            &vector_credentials(),
            "us-east-1",
            SUITE_TIME_MS,
        )
        .unwrap();
        assert_eq!(
            header(&with_header, "authorization"),
            header(&without, "authorization")
        );
    }

    #[test]
    fn signing_twice_replaces_the_old_signature() {
        let mut request = vector_request();
        sign(
            &mut request,
            &vector_credentials(),
            "us-east-1",
            SUITE_TIME_MS,
        )
        .unwrap();
        sign(
            &mut request,
            &vector_credentials(),
            "us-east-1",
            SUITE_TIME_MS + 1000,
        )
        .unwrap();
        let dates: Vec<_> = request
            .headers
            .iter()
            .filter(|(n, _)| n == "x-amz-date")
            .collect();
        assert_eq!(dates.len(), 1);
        assert_eq!(dates[0].1, "20150830T123601Z");
    }

    #[test]
    fn bearer_keys_send_only_an_authorization_header() {
        let mut request = vector_request();
        let before = request.headers.len();
        let credentials = Credentials::Bearer(Secret::new("ABSKexample"));
        sign(&mut request, &credentials, "us-east-1", SUITE_TIME_MS).unwrap();
        assert_eq!(
            header(&request, "authorization"),
            Some("Bearer ABSKexample")
        );
        assert_eq!(request.headers.len(), before + 1);
    }

    #[test]
    fn credentials_debug_shows_no_secret() {
        let text = format!(
            "{:?} {:?}",
            vector_credentials(),
            Credentials::Bearer(Secret::new("ABSKexample"))
        );
        assert!(!text.contains("wJalr"), "{text}");
        assert!(!text.contains("SESSIONTOKEN"), "{text}");
        assert!(!text.contains("ABSK"), "{text}");
        assert!(text.contains("AKIDEXAMPLE"));
    }

    #[test]
    fn an_unparseable_url_is_an_error_not_a_panic() {
        let mut request = vector_request();
        request.headers.retain(|(n, _)| n != "host");
        for url in [
            "not a url",
            "/model/x/converse",
            "https:///x",
            "http://a b/",
        ] {
            request.url = url.into();
            assert!(
                sign(&mut request, &vector_credentials(), "us-east-1", 0).is_err(),
                "{url}"
            );
        }
    }
}
