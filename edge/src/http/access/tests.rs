//! The access modes as a client sees them: 401 before anything is read without proof that
//! holds, the client a proof names counted by the limits, and the team's keys fetched once.

use super::*;
use crate::{
    http::{ApiBody, ApiRequest, ApiResponse},
    test_support::{
        one_call_config, settings_with, Reply, ScriptedPlatform, START_MS, VALID_SIGNATURE,
    },
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::json;
use sha2::{Digest, Sha256};

const TEAM: &str = "https://acme.cloudflareaccess.com";
const CONVERSE_OK: &str = r#"{"output":{"message":{"role":"assistant","content":[{"text":"Hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2}}"#;

fn edge(access: Access, replies: Vec<Reply>) -> (Edge<ScriptedPlatform>, ScriptedPlatform) {
    let platform = ScriptedPlatform::new(replies);
    let mut settings = settings_with(one_call_config(crate::config::Timeouts {
        first_byte_ms: 1_000,
        idle_ms: 1_000,
    }));
    settings.access = access;
    (Edge::new(settings, platform.clone()), platform)
}

fn chat(headers: &[(&str, &str)]) -> ApiRequest {
    let mut all = vec![("content-type".to_owned(), "application/json".to_owned())];
    all.extend(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    ApiRequest {
        method: "POST".into(),
        path: "/api/chat".into(),
        headers: all,
        body: br#"{"messages":[{"role":"user","content":"hello"}],"stream":false}"#.to_vec(),
        ..ApiRequest::default()
    }
}

fn error_of(response: &ApiResponse) -> serde_json::Value {
    match &response.body {
        ApiBody::Json(text) => {
            serde_json::from_str::<serde_json::Value>(text).unwrap()["error"].clone()
        }
        _ => panic!("expected JSON"),
    }
}

/// An assertion for `kid` with `claims`, carrying `signature`.
fn assertion(kid: &str, claims: serde_json::Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "kid": kid}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn claims(email: &str) -> serde_json::Value {
    json!({"iss": TEAM, "aud": ["aud-1"], "exp": START_MS / 1000 + 300, "email": email})
}

#[tokio::test(start_paused = true)]
async fn behind_cloudflare_access_only_a_verified_assertion_gets_in() {
    let certs = json!({"keys": [{"kid": "k-access-1", "kty": "RSA", "n": "AQAB", "e": "AQAB"}]});
    let access = Access::CloudflareAccess {
        team_url: TEAM.into(),
        audience: "aud-1".into(),
    };
    let (edge, platform) = edge(
        access,
        vec![Reply::json(&certs.to_string()), Reply::json(CONVERSE_OK)],
    );
    let refused = edge.handle(chat(&[])).await;
    assert_eq!(refused.status, 401);
    assert_eq!(error_of(&refused)["code"], "unauthorized");
    let forged = assertion("k-access-1", claims("eve@example.com"), b"forged");
    let refused = edge
        .handle(chat(&[("cf-access-jwt-assertion", &forged)]))
        .await;
    assert_eq!(refused.status, 401, "a signature that does not verify");
    let unknown_key = assertion("k-other", claims("eve@example.com"), VALID_SIGNATURE);
    let refused = edge
        .handle(chat(&[("cf-access-jwt-assertion", &unknown_key)]))
        .await;
    assert_eq!(refused.status, 401, "a key the team does not publish");
    let good = assertion("k-access-1", claims("ana@example.com"), VALID_SIGNATURE);
    let answered = edge
        .handle(chat(&[("cf-access-jwt-assertion", &good)]))
        .await;
    assert_eq!(answered.status, 200);
    let requests = platform.requests();
    assert_eq!(
        requests[0].url,
        format!("{TEAM}/cdn-cgi/access/certs"),
        "the team's keys, fetched once for all of these"
    );
    assert_eq!(requests.len(), 2, "then the one chat call");
}

#[tokio::test(start_paused = true)]
async fn with_api_keys_only_a_listed_key_gets_in_and_counts_as_itself() {
    let key = "sk-test-0123456789abcdefghij";
    let access = Access::ApiKeys(vec![ApiKey {
        name: "ci".into(),
        digest: Sha256::digest(key.as_bytes()).into(),
    }]);
    let (edge, _platform) = edge(access, vec![Reply::json(CONVERSE_OK)]);
    for headers in [
        vec![],
        vec![("authorization", "Bearer sk-made-up-0123456789abcdef")],
        vec![("x-api-key", "sk-made-up-0123456789abcdef")],
    ] {
        let refused = edge.handle(chat(&headers)).await;
        assert_eq!(refused.status, 401, "{headers:?}");
        assert!(
            error_of(&refused)["message"]
                .as_str()
                .unwrap()
                .contains("API keys only"),
            "{}",
            error_of(&refused)
        );
    }
    let bearer = format!("Bearer {key}");
    let answered = edge.handle(chat(&[("authorization", &bearer)])).await;
    assert_eq!(answered.status, 200);
    assert_eq!(
        edge.authenticate(&[("x-api-key".into(), key.into())])
            .await
            .ok(),
        Some("key:ci".into())
    );
}
