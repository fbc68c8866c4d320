//! Golden vectors for the SigV4 verifier: bedrock-wire.md §5.2 (a Bedrock call signed by
//! botocore) and the AWS test suite's post-vanilla case (§5.3), at their pinned time.

use super::*;
use axum::http::HeaderValue;

/// 2015-08-30T12:36:00Z.
const SUITE_TIME: i64 = 1_440_938_160;
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const BODY: &str = r#"{"messages":[{"role":"user","content":[{"text":"Hello"}]}],"inferenceConfig":{"maxTokens":256}}"#;
const PATH: &str = "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse";
const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=2e902534c53042bf0f126182c2d353ea2229455ba3d74e387e7cb8b7403f7647";

fn config() -> FakeConfig {
    FakeConfig {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: SECRET.into(),
        session_token: Some("SESSIONTOKEN".into()),
        ..FakeConfig::default()
    }
}

fn headers(authorization: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "bedrock-runtime.us-east-1.amazonaws.com"),
        ("content-type", "application/json"),
        ("x-amz-date", "20150830T123600Z"),
        ("x-amz-security-token", "SESSIONTOKEN"),
        ("authorization", authorization),
        // Unsigned headers a client or proxy may add do not matter.
        ("user-agent", "Boto3/1.43.11"),
    ] {
        headers.insert(name, HeaderValue::from_str(value).unwrap());
    }
    headers
}

fn check(headers: &HeaderMap, path: &str, body: &str, now: i64) -> Result<String, ApiError> {
    let request = Received {
        method: "POST",
        path,
        query: None,
        headers,
        body: body.as_bytes(),
    };
    authenticate(&request, &config(), now)
}

#[test]
fn bedrock_vector_canonical_request_and_string_to_sign() {
    let headers = headers(AUTHORIZATION);
    let request = Received {
        method: "POST",
        path: PATH,
        query: None,
        headers: &headers,
        body: BODY.as_bytes(),
    };
    let signed = ["content-type", "host", "x-amz-date", "x-amz-security-token"];
    let payload = hex::encode(Sha256::digest(BODY.as_bytes()));
    let canonical = canonical_request(&request, &signed, &payload);
    assert_eq!(
        canonical,
        "POST\n/model/us.anthropic.claude-3-5-haiku-20241022-v1%253A0/converse\n\n\
         content-type:application/json\nhost:bedrock-runtime.us-east-1.amazonaws.com\n\
         x-amz-date:20150830T123600Z\nx-amz-security-token:SESSIONTOKEN\n\n\
         content-type;host;x-amz-date;x-amz-security-token\n\
         d8695502972bd4d482308b656a524b7a7efcebba591a06801fadba6b39700dd1"
    );
    let to_sign = string_to_sign(
        "20150830T123600Z",
        "20150830/us-east-1/bedrock/aws4_request",
        &canonical,
    );
    assert!(to_sign.ends_with("\n06176b884c653db4f97089b6a94168a1bb27a12f102f08f1325c73cf53c9a194"));
}

#[test]
fn bedrock_vector_verifies_at_its_time_and_names_the_region() {
    assert_eq!(
        check(&headers(AUTHORIZATION), PATH, BODY, SUITE_TIME),
        Ok("us-east-1".into())
    );
    // Four minutes of skew either way is fine.
    assert!(check(&headers(AUTHORIZATION), PATH, BODY, SUITE_TIME + 240).is_ok());
    assert!(check(&headers(AUTHORIZATION), PATH, BODY, SUITE_TIME - 240).is_ok());
}

#[test]
fn one_changed_byte_fails() {
    let mismatch = |result: Result<String, ApiError>| {
        let error = result.unwrap_err();
        assert_eq!(
            (error.status, error.name),
            (403, "InvalidSignatureException")
        );
        assert!(
            error
                .message
                .starts_with("The request signature we calculated does not match"),
            "{}",
            error.message
        );
    };
    mismatch(check(
        &headers(AUTHORIZATION),
        PATH,
        &BODY.replace("Hello", "Hellp"),
        SUITE_TIME,
    ));
    mismatch(check(
        &headers(AUTHORIZATION),
        &PATH.replace("converse", "converss"),
        BODY,
        SUITE_TIME,
    ));
    mismatch(check(
        &headers(&AUTHORIZATION.replace("7647", "7648")),
        PATH,
        BODY,
        SUITE_TIME,
    ));
    let mut changed = headers(AUTHORIZATION);
    changed.insert("content-type", HeaderValue::from_static("application/jsoN"));
    mismatch(check(&changed, PATH, BODY, SUITE_TIME));
}

#[test]
fn auth_failures_name_the_front_door_error() {
    let outcome = |headers: &HeaderMap, now: i64| {
        let error = check(headers, PATH, BODY, now).unwrap_err();
        (error.status, error.name, error.message)
    };
    let expired = outcome(&headers(AUTHORIZATION), SUITE_TIME + 301);
    assert_eq!((expired.0, expired.1), (403, "InvalidSignatureException"));
    assert!(expired.2.starts_with("Signature expired"), "{}", expired.2);
    assert!(outcome(&headers(AUTHORIZATION), SUITE_TIME - 301)
        .2
        .starts_with("Signature not yet current"));

    let unknown = headers(&AUTHORIZATION.replace("AKIDEXAMPLE", "AKIDOTHER"));
    assert_eq!(
        outcome(&unknown, SUITE_TIME).1,
        "UnrecognizedClientException"
    );
    let wrong_service = headers(&AUTHORIZATION.replace("/bedrock/", "/bedrock-runtime/"));
    assert!(outcome(&wrong_service, SUITE_TIME)
        .2
        .contains("correct service"));
    let mut wrong_token = headers(AUTHORIZATION);
    wrong_token.insert("x-amz-security-token", HeaderValue::from_static("OTHER"));
    assert_eq!(
        outcome(&wrong_token, SUITE_TIME).1,
        "UnrecognizedClientException"
    );
    let unsigned_host = headers(&AUTHORIZATION.replace("content-type;host;", "content-type;"));
    assert!(outcome(&unsigned_host, SUITE_TIME).2.contains("'host'"));
    let mut missing = headers(AUTHORIZATION);
    missing.remove("authorization");
    assert_eq!(
        outcome(&missing, SUITE_TIME),
        (
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token".into()
        )
    );
    assert_eq!(
        outcome(&headers("AWS4-HMAC-SHA256 Credential=x"), SUITE_TIME).1,
        "IncompleteSignatureException"
    );
}

#[test]
fn bearer_tokens_take_the_region_from_the_host() {
    let mut bearer = headers("Bearer fake-bedrock-api-key");
    assert_eq!(
        check(&bearer, PATH, BODY, SUITE_TIME),
        Ok("us-east-1".into())
    );
    bearer.insert(
        "host",
        HeaderValue::from_static("bedrock-runtime.eu-west-3.amazonaws.com"),
    );
    assert_eq!(
        check(&bearer, PATH, BODY, SUITE_TIME),
        Ok("eu-west-3".into())
    );
    bearer.insert("host", HeaderValue::from_static("127.0.0.1:8788"));
    assert_eq!(
        check(&bearer, PATH, BODY, SUITE_TIME),
        Ok("us-east-1".into())
    );
    let wrong = headers("Bearer not-the-key");
    assert_eq!(
        check(&wrong, PATH, BODY, SUITE_TIME).unwrap_err().name,
        "UnrecognizedClientException"
    );
}

#[test]
fn post_vanilla_from_the_aws_suite() {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
    headers.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
    let request = Received {
        method: "POST",
        path: "/",
        query: None,
        headers: &headers,
        body: b"",
    };
    let empty = hex::encode(Sha256::digest(b""));
    let canonical = canonical_request(&request, &["host", "x-amz-date"], &empty);
    assert_eq!(
        canonical,
        "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let to_sign = string_to_sign(
        "20150830T123600Z",
        "20150830/us-east-1/service/aws4_request",
        &canonical,
    );
    assert_eq!(
        signature(SECRET, "20150830", "us-east-1", "service", &to_sign),
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
    );
}

#[test]
fn query_and_header_values_are_canonicalised() {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("h"));
    headers.append("x-multi", HeaderValue::from_static("  a   b  "));
    headers.append("x-multi", HeaderValue::from_static("c"));
    let query =
        Some("statusEquals=InProgress&maxResults=5&submitTimeAfter=2024-01-01T00%3A00%3A00Z&a=%7e");
    let request = Received {
        method: "GET",
        path: "/async-invoke",
        query,
        headers: &headers,
        body: b"",
    };
    let canonical = canonical_request(&request, &["host", "x-multi"], "h");
    assert_eq!(
        canonical,
        "GET\n/async-invoke\na=~&maxResults=5&statusEquals=InProgress&submitTimeAfter=2024-01-01T00%3A00%3A00Z\n\
         host:h\nx-multi:a b,c\n\nhost;x-multi\nh"
    );
}
