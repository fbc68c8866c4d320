//! Authenticates a Bedrock request: SigV4 (service `bedrock`) or a Bedrock API key as
//! `Authorization: Bearer`. The SigV4 signing key and signature come from the `aws-sigv4`
//! crate, with the time passed in; the canonical request is written here for the requests the
//! edge sends, and checked against the crate's own HTTP signer in the tests. (That signer
//! parses every header name and URI with the `http` crate: linked into the Worker, it was a
//! quarter of the wasm's gzipped size.)

use crate::config::secret::Credentials;
use crate::{
    bedrock::request_url::RequestUrl,
    config::secret::Secret,
    platform::UpstreamRequest,
    text::{hex::hex, utc},
};
use aws_sigv4::sign::v4;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
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

/// What SigV4 percent-encodes: everything but RFC 3986's unreserved characters.
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// The same in a path, whose `/` separators stay.
const ENCODED_IN_PATH: &AsciiSet = &ENCODED.remove(b'/');

/// The request could not be signed (its URL has no host, say). Carries no secret.
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
    let amz_date = utc::amz_date(now_ms);
    let mut added = vec![("x-amz-date".to_owned(), amz_date.clone())];
    if let Some(token) = session_token {
        added.push(("x-amz-security-token".into(), token.expose().into()));
    }
    let (canonical, signed_headers) = canonical_request(request, &added)?;
    let scope = format!("{}/{region}/{SIGNING_NAME}/aws4_request", &amz_date[..8]);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let time = UNIX_EPOCH + Duration::from_millis(now_ms);
    let key = v4::generate_signing_key(secret_access_key.expose(), time, region, SIGNING_NAME);
    let signature = v4::calculate_signature(key, string_to_sign.as_bytes());
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, \
         SignedHeaders={signed_headers}, Signature={signature}"
    );
    added.push(("authorization".to_owned(), authorization));
    Ok(added)
}

/// SigV4's canonical request of `request` with the signer's `added` headers, and the list of
/// the headers it signs (`content-type;host;x-amz-date`).
fn canonical_request(
    request: &UpstreamRequest,
    added: &[(String, String)],
) -> Result<(String, String), SigningError> {
    let url = RequestUrl::split(&request.url);
    let host = host(&url).ok_or_else(|| SigningError("the URL has no valid host".into()))?;
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .filter(|(name, _)| SIGNED_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)))
        .map(|(name, value)| (name.to_ascii_lowercase(), trim_all(value)))
        .collect();
    if !headers.iter().any(|(name, _)| name == "host") {
        headers.push(("host".into(), host.into()));
    }
    headers.extend_from_slice(added);
    headers.sort();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut canonical = format!(
        "{}\n{}\n{}\n",
        request.method,
        canonical_path(url.path),
        canonical_query(url.query)
    );
    for (name, value) in &headers {
        canonical.push_str(&format!("{name}:{value}\n"));
    }
    canonical.push_str(&format!(
        "\n{signed_headers}\n{}",
        hex(&Sha256::digest(&request.body))
    ));
    Ok((canonical, signed_headers))
}

/// The URL's `host[:port]`, without the scheme's default port (as a client sends `Host`):
/// letters, digits, `-`, `.`, and the `:` and `[]` of a port or an IPv6 address.
fn host<'a>(url: &RequestUrl<'a>) -> Option<&'a str> {
    let (scheme, host) = url.origin.split_once("://")?;
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let host = host.strip_suffix(default_port).unwrap_or(host);
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    valid.then_some(host)
}

/// Spaces trimmed and runs of them made one, as SigV4 canonicalizes header values.
fn trim_all(value: &str) -> String {
    value
        .split(' ')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The path without `.` and `..` segments (nor empty ones), then encoded once more (the
/// path is already percent-encoded; SigV4 for Bedrock encodes it twice).
fn canonical_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    let trailing = ["/", "/.", "/..", "/./", "/../"]
        .iter()
        .any(|end| path.ends_with(end));
    let mut normalized = format!("/{}", segments.join("/"));
    if trailing && !normalized.ends_with('/') {
        normalized.push('/');
    }
    utf8_percent_encode(&normalized, ENCODED_IN_PATH).to_string()
}

/// The query's parameters decoded (as a form: `+` is a space), encoded the SigV4 way and
/// sorted.
fn canonical_query(query: &str) -> String {
    let decode = |text: &str| {
        let text = text.replace('+', " ");
        let text = percent_decode_str(&text).decode_utf8_lossy().into_owned();
        utf8_percent_encode(&text, ENCODED).to_string()
    };
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|param| !param.is_empty())
        .map(|param| {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            (decode(name), decode(value))
        })
        .collect();
    params.sort();
    params
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    use aws_sigv4::http_request::{self, SignableBody, SignableRequest, SigningSettings};
    use aws_smithy_runtime_api::client::identity::Identity;

    /// 2015-08-30T12:36:00Z, the time of the AWS signing test suites.
    const SUITE_TIME_MS: u64 = 1_440_938_160_000;

    /// The headers `aws-sigv4`'s own HTTP signer adds to `request`, with its default settings
    /// and the same signed headers: the reference for the canonical requests written here.
    fn reference_headers(
        request: &UpstreamRequest,
        credentials: &Credentials,
        now_ms: u64,
    ) -> Vec<(String, String)> {
        let Credentials::SigV4 {
            access_key_id,
            secret_access_key,
            session_token,
        } = credentials
        else {
            panic!("SigV4 credentials only");
        };
        let identity: Identity = aws_credential_types::Credentials::new(
            access_key_id,
            secret_access_key.expose(),
            session_token.as_ref().map(|t| t.expose().to_owned()),
            None,
            "test",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name(SIGNING_NAME)
            .time(UNIX_EPOCH + Duration::from_millis(now_ms))
            .settings(SigningSettings::default())
            .build()
            .unwrap()
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
        .unwrap();
        let (instructions, _) = http_request::sign(signable, &params).unwrap().into_parts();
        let mut headers: Vec<_> = instructions
            .headers()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        headers.sort();
        headers
    }

    #[test]
    fn canonical_requests_match_the_aws_sigv4_signer() {
        let host = "https://bedrock-runtime.us-east-1.amazonaws.com";
        let urls = [
            format!("{host}/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"),
            format!("{host}/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fa1b2/converse-stream"),
            format!("{host}/model/amazon.nova-pro-v1%3A0/invoke-with-response-stream"),
            format!("{host}/async-invoke/arn%3Aaws%3Abedrock%3Aus%2Deast%2D1%3A123456789012%3Aasync%2Dinvoke%2Fabc"),
            format!("{host}/async-invoke?maxResults=1000&sortOrder=Descending&submitTimeAfter=2024%2D01%2D01T00%3A00%3A00Z&nextToken=t%2F1%2Bx"),
            format!("{host}/x?b=2&a=1&a=0&c&d=x+y%20z&e=%7E%21&f="),
            format!("{host}/proxy/./a/../model//m%3A0/converse/"),
            format!("{host}/model/."),
            format!("{host}:443/async-invoke"),
            host.to_owned(),
            format!("{host}?x=1"),
            "http://127.0.0.1:8788/model/m/converse".to_owned(),
            "http://localhost:80/model/m/invoke".to_owned(),
            "http://[::1]:8788/model/m/converse".to_owned(),
        ];
        let header_sets: [&[(&str, &str)]; 4] = [
            &[("content-type", "application/json")],
            &[],
            &[
                ("Content-Type", "  application/json;   charset=utf-8 "),
                ("user-agent", "edge"),
            ],
            &[("host", "example.com:1234"), ("content-type", "text/plain")],
        ];
        let with_token = vector_credentials();
        let Credentials::SigV4 {
            access_key_id,
            secret_access_key,
            ..
        } = with_token.clone()
        else {
            unreachable!()
        };
        let without_token = Credentials::SigV4 {
            access_key_id,
            secret_access_key,
            session_token: None,
        };
        for url in &urls {
            for headers in header_sets {
                for (method, body) in [("POST", &b"{\"a\":1}"[..]), ("GET", &b""[..])] {
                    for credentials in [&with_token, &without_token] {
                        let request = UpstreamRequest {
                            method,
                            url: url.clone(),
                            headers: headers
                                .iter()
                                .map(|(n, v)| (n.to_string(), v.to_string()))
                                .collect(),
                            body: body.to_vec(),
                        };
                        let mut signed = request.clone();
                        sign(&mut signed, credentials, "us-east-1", SUITE_TIME_MS).unwrap();
                        let mut added = signed.headers[request.headers.len()..].to_vec();
                        added.sort();
                        assert_eq!(
                            added,
                            reference_headers(&request, credentials, SUITE_TIME_MS),
                            "{method} {url} {headers:?}"
                        );
                    }
                }
            }
        }
    }

    fn header<'a>(request: &'a UpstreamRequest, name: &str) -> Option<&'a str> {
        crate::platform::header(&request.headers, name)
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
