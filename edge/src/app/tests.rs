//! The HTTP layer as a client sees it: statuses, headers and bodies.

use super::*;
use crate::{
    config::Config,
    converse::tests::answer,
    secret::Secret,
    signing::Credentials,
    test_support::{body, End, Reply, ScriptedPlatform},
};
use shared::{sse::SseParser, StreamEvent};

fn new_edge(replies: Vec<Reply>) -> (Edge<ScriptedPlatform>, ScriptedPlatform) {
    let platform = ScriptedPlatform::new(replies);
    let settings = Settings {
        credentials: Credentials::SigV4 {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI"),
            session_token: None,
        },
        endpoint: None,
        config: Config::builtin("us-east-1"),
        first_byte_timeout_ms: 1_000,
        idle_timeout_ms: 1_000,
    };
    (Edge::new(settings, platform.clone()), platform)
}

fn post_chat(body: &str) -> ApiRequest {
    ApiRequest {
        method: "POST".into(),
        path: "/api/chat".into(),
        headers: vec![(
            "Content-Type".into(),
            "application/json; charset=utf-8".into(),
        )],
        body: body.as_bytes().to_vec(),
        ..ApiRequest::default()
    }
}

fn json_body(response: &ApiResponse) -> serde_json::Value {
    match &response.body {
        ApiBody::Json(text) => serde_json::from_str(text).unwrap(),
        _ => panic!("expected a JSON body"),
    }
}

/// Sends `request` to a fresh edge that has no upstream replies; asserts the error shape.
async fn rejected(request: ApiRequest, status: u16, code: &str) -> String {
    let (edge, platform) = new_edge(vec![]);
    let response = edge.handle(request).await;
    assert_eq!(response.status, status);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("x-request-id").map(str::len), Some(16));
    let body = json_body(&response);
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(platform.requests().is_empty(), "no upstream call");
    let logs = platform.logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["outcome"], "rejected");
    assert_eq!(logs[0]["status"], status);
    body["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test(start_paused = true)]
async fn malformed_bodies_are_invalid_json() {
    let message = rejected(post_chat("{\"messages\": ["), 400, "invalid_json").await;
    assert!(message.contains("EOF"), "{message}");
    let message = rejected(
        post_chat(r#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt"}"#),
        400,
        "invalid_json",
    )
    .await;
    assert!(message.contains("unknown field `model`"), "{message}");
    assert!(message.contains("line 1 column"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn invalid_requests_name_the_field() {
    let message = rejected(
        post_chat(r#"{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}"#),
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(
        message,
        "messages[1].role: must alternate with the previous message"
    );
    let message = rejected(
        post_chat(r#"{"messages":[{"role":"user","content":"a"}],"max_tokens":9000}"#),
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(message, "max_tokens: must be between 1 and 8192");
    let message = rejected(
        post_chat(r#"{"messages":[{"role":"user","content":"a"}],"route":"gpt-5"}"#),
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(
        message,
        r#"route: unknown route "gpt-5"; available routes: analyze, classify, generate"#
    );
}

#[tokio::test(start_paused = true)]
async fn size_media_type_path_and_method_are_checked() {
    let big = format!(
        r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(MAX_BODY_BYTES)
    );
    rejected(post_chat(&big), 413, "payload_too_large").await;
    let mut form = post_chat("{}");
    form.headers = vec![("content-type".into(), "text/plain".into())];
    rejected(form, 415, "unsupported_media_type").await;
    let mut missing = post_chat("{}");
    missing.headers.clear();
    rejected(missing, 415, "unsupported_media_type").await;
    let get = |path: &str| ApiRequest {
        method: "GET".into(),
        path: path.into(),
        ..ApiRequest::default()
    };
    rejected(get("/api/nope"), 404, "not_found").await;
    rejected(get("/api/chat"), 405, "method_not_allowed").await;
    let (edge, _) = new_edge(vec![]);
    let response = edge.handle(get("/api/chat")).await;
    assert_eq!(response.header("allow"), Some("POST"));
    let response = edge
        .handle(ApiRequest {
            method: "DELETE".into(),
            ..get("/api/routes")
        })
        .await;
    assert_eq!(
        (response.status, response.header("allow")),
        (405, Some("GET"))
    );
}

#[tokio::test(start_paused = true)]
async fn routes_are_listed() {
    let (edge, platform) = new_edge(vec![]);
    let response = edge
        .handle(ApiRequest {
            method: "GET".into(),
            path: "/api/routes".into(),
            ..ApiRequest::default()
        })
        .await;
    assert_eq!(response.status, 200);
    assert!(response.header("x-request-id").is_some());
    let body = json_body(&response);
    assert_eq!(body["default_route"], "generate");
    let names: Vec<_> = body["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["analyze", "classify", "generate"]);
    assert_eq!(
        body["routes"][1],
        serde_json::json!({
            "name": "classify",
            "description": "Fast and cheap: short answers, labels, extraction.",
            "model": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            "region": "us-east-1",
        })
    );
    assert_eq!(platform.logs()[0]["outcome"], "ok");
}

#[tokio::test(start_paused = true)]
async fn chat_streams_sse() {
    let (edge, platform) = new_edge(vec![Reply::stream(body(
        vec![answer(&["Hi", " there"])],
        End::Close,
    ))]);
    let response = edge
        .handle(post_chat(
            r#"{"messages":[{"role":"user","content":"hello"}],"route":"analyze"}"#,
        ))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert_eq!(response.header("cache-control"), Some("no-cache"));
    let request_id = response.header("x-request-id").unwrap().to_owned();
    let ApiBody::Sse(stream) = response.body else {
        panic!("expected SSE");
    };
    let wire: String = stream.collect::<Vec<_>>().await.concat();
    let events: Vec<StreamEvent> = SseParser::new()
        .push(wire.as_bytes())
        .iter()
        .map(|raw| raw.parse().unwrap().unwrap())
        .collect();
    let names: Vec<_> = events.iter().map(StreamEvent::name).collect();
    assert_eq!(names, ["meta", "delta", "delta", "done"]);
    match &events[0] {
        StreamEvent::Meta(meta) => {
            assert_eq!(meta.request_id, request_id);
            assert_eq!(meta.route, "analyze");
            assert_eq!(meta.model, "us.anthropic.claude-opus-4-20250514-v1:0");
        }
        other => panic!("{other:?}"),
    }
    let logs = platform.logs();
    assert_eq!(logs.len(), 1, "one line per request");
    assert_eq!(logs[0]["request_id"], request_id.as_str());
}

#[tokio::test(start_paused = true)]
async fn stream_false_answers_json() {
    let converse = r#"{"output":{"message":{"role":"assistant","content":[{"text":"Hello"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2},"metrics":{"latencyMs":1}}"#;
    let (edge, platform) = new_edge(vec![Reply::json(converse)]);
    let response = edge
        .handle(post_chat(
            r#"{"messages":[{"role":"user","content":"hello"}],"stream":false}"#,
        ))
        .await;
    assert_eq!(response.status, 200);
    let body = json_body(&response);
    assert_eq!(body["text"], "Hello");
    assert_eq!(body["route"], "generate");
    assert_eq!(body["request_id"], response.header("x-request-id").unwrap());
    assert_eq!(platform.logs().len(), 1);

    let (throttled, _) = new_edge(vec![Reply::error(
        429,
        "ThrottlingException",
        "UPSTREAM-TEXT",
    )]);
    let response = throttled
        .handle(post_chat(
            r#"{"messages":[{"role":"user","content":"hello"}],"stream":false}"#,
        ))
        .await;
    assert_eq!(response.status, 429);
    let body = json_body(&response);
    assert_eq!(body["error"]["code"], "upstream_throttled");
    assert!(!body.to_string().contains("UPSTREAM-TEXT"));
}
