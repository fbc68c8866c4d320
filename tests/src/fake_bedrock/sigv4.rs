//! An independent SigV4 (and Bedrock API key) verifier, written from the spec rather than with
//! `aws-sigv4`, so that it cross-checks the edge's signing. Answers the signing region.

use super::{clock, errors::ApiError, FakeConfig};
use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{percent_decode_str, percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// Signatures more than this far from the server clock are refused.
const MAX_SKEW_SECS: i64 = 5 * 60;
const SERVICE: &str = "bedrock";
/// Region assumed for bearer-token calls whose `Host` does not name one.
const DEFAULT_REGION: &str = "us-east-1";

/// Everything but the RFC 3986 unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// The same, keeping `/` (path separators).
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// The parts of a received request that authentication looks at.
pub struct Received<'a> {
    pub method: &'a str,
    /// The path exactly as received (still percent-encoded).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Checks the request's credentials; `Ok(region)` answers the region it was signed for.
pub fn authenticate(
    request: &Received,
    config: &FakeConfig,
    now_secs: i64,
) -> Result<String, ApiError> {
    let Some(authorization) = header(request.headers, "authorization") else {
        return Err(ApiError::missing_token());
    };
    if let Some(token) = authorization.strip_prefix("Bearer ") {
        return match &config.bearer_token {
            Some(expected) if constant_time_eq(token.trim().as_bytes(), expected.as_bytes()) => {
                Ok(host_region(request.headers).unwrap_or_else(|| DEFAULT_REGION.to_owned()))
            }
            _ => Err(ApiError::unrecognized_client()),
        };
    }
    let auth = parse_authorization(&authorization).ok_or_else(|| {
        ApiError::incomplete_signature(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters of an AWS4-HMAC-SHA256 signature.",
        )
    })?;
    verify(request, config, &auth, now_secs)?;
    Ok(auth.region.to_owned())
}

/// The fields of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let params = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for param in params.split(',') {
        match param.trim().split_once('=')? {
            ("Credential", v) => credential = Some(v),
            ("SignedHeaders", v) => signed = Some(v),
            ("Signature", v) => signature = Some(v),
            _ => return None,
        }
    }
    let scope: Vec<&str> = credential?.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = scope[..] else {
        return None;
    };
    let signed_headers: Vec<&str> = signed?.split(';').collect();
    let valid = !access_key.is_empty()
        && !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && signed_headers.iter().all(|h| !h.is_empty());
    valid.then_some(Authorization {
        access_key,
        date,
        region,
        service,
        signed_headers,
        signature: signature?,
    })
}

fn verify(
    request: &Received,
    config: &FakeConfig,
    auth: &Authorization,
    now_secs: i64,
) -> Result<(), ApiError> {
    if auth.service != SERVICE {
        return Err(ApiError::invalid_signature(format!(
            "Credential should be scoped to correct service: '{SERVICE}'."
        )));
    }
    if auth.access_key != config.access_key_id {
        return Err(ApiError::unrecognized_client());
    }
    for required in ["host", "x-amz-date"] {
        if !auth.signed_headers.contains(&required) {
            return Err(ApiError::invalid_signature(format!(
                "'{required}' must be a 'SignedHeader' in the AWS Authorization."
            )));
        }
    }
    let amz_date = header(request.headers, "x-amz-date").unwrap_or_default();
    let signed_at = clock::parse_amz_date(&amz_date).ok_or_else(|| {
        ApiError::incomplete_signature(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
        )
    })?;
    if amz_date.get(..8) != Some(auth.date) {
        return Err(ApiError::invalid_signature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
            auth.date,
            amz_date.get(..8).unwrap_or_default()
        )));
    }
    check_skew(&amz_date, signed_at, now_secs)?;
    if let Some(token) = &config.session_token {
        let sent = header(request.headers, "x-amz-security-token").unwrap_or_default();
        if !constant_time_eq(sent.as_bytes(), token.as_bytes()) {
            return Err(ApiError::unrecognized_client());
        }
    }
    let payload_hash = header(request.headers, "x-amz-content-sha256")
        .unwrap_or_else(|| hex::encode(Sha256::digest(request.body)));
    let canonical = canonical_request(request, &auth.signed_headers, &payload_hash);
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let to_sign = string_to_sign(&amz_date, &scope, &canonical);
    let expected = signature(
        &config.secret_access_key,
        auth.date,
        auth.region,
        auth.service,
        &to_sign,
    );
    if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::invalid_signature(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ))
    }
}

fn check_skew(amz_date: &str, signed_at: i64, now_secs: i64) -> Result<(), ApiError> {
    if signed_at < now_secs - MAX_SKEW_SECS {
        let limit = clock::amz_date(now_secs - MAX_SKEW_SECS);
        let now = clock::amz_date(now_secs);
        return Err(ApiError::invalid_signature(format!(
            "Signature expired: {amz_date} is now earlier than {limit} ({now} - 5 min.)"
        )));
    }
    if signed_at > now_secs + MAX_SKEW_SECS {
        let limit = clock::amz_date(now_secs + MAX_SKEW_SECS);
        let now = clock::amz_date(now_secs);
        return Err(ApiError::invalid_signature(format!(
            "Signature not yet current: {amz_date} is still later than {limit} ({now} + 5 min.)"
        )));
    }
    Ok(())
}

/// The SigV4 canonical request: method, double-encoded path, canonical query, the signed
/// headers, the signed header list and the payload hash.
pub fn canonical_request(
    request: &Received,
    signed_headers: &[&str],
    payload_hash: &str,
) -> String {
    let path = if request.path.is_empty() {
        "/"
    } else {
        request.path
    };
    let uri = percent_encode(path.as_bytes(), PATH).to_string();
    let mut query: Vec<(String, String)> = request
        .query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (reencode(key), reencode(value))
        })
        .collect();
    query.sort();
    let query: Vec<String> = query.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    let headers: String = signed_headers
        .iter()
        .map(|name| format!("{name}:{}\n", canonical_header_value(request.headers, name)))
        .collect();
    format!(
        "{}\n{uri}\n{}\n{headers}\n{}\n{payload_hash}",
        request.method,
        query.join("&"),
        signed_headers.join(";")
    )
}

fn reencode(component: &str) -> String {
    let raw: Vec<u8> = percent_decode_str(component).collect();
    percent_encode(&raw, UNRESERVED).to_string()
}

/// All values of a header, each trimmed with inner whitespace runs collapsed, joined by `,`.
fn canonical_header_value(headers: &HeaderMap, name: &str) -> String {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|value| {
            String::from_utf8_lossy(value.as_bytes())
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    values.join(",")
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let hash = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hash}")
}

/// Hex HMAC of the string to sign with the key derived from the secret and the scope.
pub fn signature(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> String {
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    hex::encode(hmac(&key, string_to_sign.as_bytes()))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail here.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
}

/// The region of a `bedrock-runtime[-fips].REGION.amazonaws.com` host.
fn host_region(headers: &HeaderMap) -> Option<String> {
    let host = header(headers, "host")?;
    let mut labels = host.split(':').next()?.split('.');
    let service = labels.next()?;
    let region = labels.next()?;
    ((service == "bedrock-runtime" || service == "bedrock-runtime-fips") && !region.is_empty())
        .then(|| region.to_owned())
}

#[cfg(test)]
#[path = "sigv4_tests.rs"]
mod tests;
