//! The HTTP layer as a client sees it: statuses, headers and bodies.

use super::*;
use crate::{
    bedrock::{converse::tests::answer, native::tests::anthropic_stream},
    test_support::{body, one_call_config, settings_with, End, Reply, ScriptedPlatform},
};
use serde_json::json;
use shared::{sse::SseParser, StreamEvent};

fn new_edge(replies: Vec<Reply>) -> (Edge<ScriptedPlatform>, ScriptedPlatform) {
    let platform = ScriptedPlatform::new(replies);
    let settings = settings_with(one_call_config(crate::config::Timeouts {
        first_byte_ms: 1_000,
        idle_ms: 1_000,
    }));
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

/// Sends `request` to a fresh edge that has no upstream replies; asserts the error shape and
/// returns the message.
async fn rejected(request: ApiRequest, status: u16, code: &str) -> String {
    let error = rejected_with(request, status, code).await;
    error["message"].as_str().unwrap().to_owned()
}

/// The same, returning the whole `error` object.
async fn rejected_with(request: ApiRequest, status: u16, code: &str) -> serde_json::Value {
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
    body["error"].clone()
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
    let error = rejected_with(
        post_chat(r#"{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}"#),
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(
        error["message"],
        "messages[1].role: must alternate with the previous message"
    );
    assert_eq!(error["field"], "messages[1].role");
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
        r#"route: unknown route "gpt-5"; available routes: analyze, auto, classify, generate"#
    );
}

#[tokio::test(start_paused = true)]
async fn size_media_type_path_and_method_are_checked() {
    let big = format!(
        r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(crate::config::limits::MAX_BODY_BYTES)
    );
    rejected(post_chat(&big), 413, "payload_too_large").await;
    // Declared too large: refused as it is, the body unread (the host passes none).
    let mut declared = post_chat("");
    declared
        .headers
        .push(("content-length".into(), "52428800".into()));
    rejected(declared, 413, "payload_too_large").await;
    // The owner's limit (MAX_REQUEST_BYTES) is the one applied.
    let (edge, platform) = new_edge(vec![]);
    let mut settings = (*edge.settings).clone();
    settings.max_body_bytes = 65_536;
    let edge = Edge::new(settings, platform);
    let over = format!(
        r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(65_536)
    );
    let refused = edge.handle(post_chat(&over)).await;
    assert_eq!(refused.status, 413);
    assert!(json_body(&refused)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at most 65536 bytes"));
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
    assert_eq!(names, ["analyze", "auto", "classify", "generate"]);
    assert_eq!(
        body["routes"][2],
        serde_json::json!({
            "name": "classify",
            "description": "Fast and cheap: short answers, labels, extraction.",
            "model": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            "region": "us-east-1",
            "targets": [{"model": "us.anthropic.claude-3-5-haiku-20241022-v1:0", "region": "us-east-1"}],
        })
    );
    assert_eq!(body["routes"][1]["tiers"]["complex"], "analyze");
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

const CLAUDE_BODY: &str = r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":64,"messages":[{"role":"user","content":"hello"}]}"#;

fn post_invoke(path_and_query: &str, body: &str) -> ApiRequest {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    ApiRequest {
        path: path.into(),
        query: query.into(),
        ..post_chat(body)
    }
}

async fn sse_names(response: ApiResponse) -> Vec<&'static str> {
    let ApiBody::Sse(stream) = response.body else {
        panic!("expected SSE");
    };
    let wire: String = stream.collect::<Vec<_>>().await.concat();
    SseParser::new()
        .push(wire.as_bytes())
        .iter()
        .map(|raw| raw.parse().unwrap().unwrap().name())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn invoke_streams_sse_on_request() {
    let mut accept = post_invoke("/api/invoke/classify", CLAUDE_BODY);
    accept
        .headers
        .push(("Accept".into(), "text/event-stream".into()));
    for request in [
        post_invoke("/api/invoke/classify?stream=true", CLAUDE_BODY),
        accept,
    ] {
        let stream = Reply::stream(body(vec![anthropic_stream(&["Hi", "!"], None)], End::Close));
        let (edge, platform) = new_edge(vec![stream]);
        let response = edge.handle(request).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some("text/event-stream"));
        assert!(response.header("x-request-id").is_some());
        assert_eq!(
            sse_names(response).await,
            ["meta", "delta", "delta", "done"]
        );
        assert!(platform.requests()[0]
            .url
            .ends_with("%3A0/invoke-with-response-stream"));
        assert_eq!(platform.logs().len(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn invoke_answers_with_the_model_s_own_json() {
    let native = r#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}"#;
    let (edge, platform) = new_edge(vec![Reply::json(native)]);
    let response = edge
        .handle(post_invoke(
            "/api/invoke/classify?stream=false",
            CLAUDE_BODY,
        ))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("x-request-id").map(str::len), Some(16));
    assert!(matches!(&response.body, ApiBody::Json(text) if text == native));
    let request = &platform.requests()[0];
    assert!(request
        .url
        .ends_with("/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke"));
    let sent: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        sent,
        serde_json::from_str::<serde_json::Value>(CLAUDE_BODY).unwrap()
    );
    assert_eq!(platform.logs()[0]["path"], "/api/invoke/classify");

    let (edge, _) = new_edge(vec![Reply::error(
        429,
        "ThrottlingException",
        "UPSTREAM-TEXT",
    )]);
    let response = edge
        .handle(post_invoke("/api/invoke/classify", CLAUDE_BODY))
        .await;
    assert_eq!(response.status, 429);
    let body = json_body(&response);
    assert_eq!(body["error"]["code"], "upstream_throttled");
    assert!(!body.to_string().contains("UPSTREAM-TEXT"));
}

#[tokio::test(start_paused = true)]
async fn invoke_requests_are_checked_before_any_upstream_call() {
    let with_model = CLAUDE_BODY.replace('{', r#"{"model":"anthropic.claude-opus","#);
    let message = rejected(
        post_invoke("/api/invoke/generate", &with_model),
        400,
        "invalid_request",
    )
    .await;
    assert!(message.starts_with("model: unknown field"), "{message}");
    let too_many = CLAUDE_BODY.replace("64", "100000");
    let message = rejected(
        post_invoke("/api/invoke/generate", &too_many),
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(message, "max_tokens: must be between 1 and 8192");
    rejected(
        post_invoke("/api/invoke/generate", "{"),
        400,
        "invalid_json",
    )
    .await;
    let message = rejected(
        post_invoke("/api/invoke/gpt-5", CLAUDE_BODY),
        404,
        "not_found",
    )
    .await;
    assert!(message.starts_with(r#"unknown route "gpt-5""#), "{message}");
    rejected(post_invoke("/api/invoke/", CLAUDE_BODY), 404, "not_found").await;
    let mut form = post_invoke("/api/invoke/generate", CLAUDE_BODY);
    form.headers = vec![("content-type".into(), "text/plain".into())];
    rejected(form, 415, "unsupported_media_type").await;
    let get = ApiRequest {
        method: "GET".into(),
        ..post_invoke("/api/invoke/generate", "")
    };
    rejected(get.clone(), 405, "method_not_allowed").await;
    let (edge, _) = new_edge(vec![]);
    assert_eq!(edge.handle(get).await.header("allow"), Some("POST"));
}

#[tokio::test(start_paused = true)]
async fn prompt_caching_is_refused_unless_the_route_allows_it() {
    let cached = r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":64,"messages":[{"role":"user","content":[{"type":"text","text":"hello","cache_control":{"type":"ephemeral"}}]}]}"#;
    let error = rejected_with(
        post_invoke("/api/invoke/classify", cached),
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(error["field"], "messages[0].content[0].cache_control");
    assert_eq!(
        error["message"],
        "messages[0].content[0].cache_control: this route does not allow prompt caching"
    );

    let native = r#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}"#;
    let (edge, platform) = new_edge(vec![Reply::json(native)]);
    let mut settings = (*edge.settings).clone();
    if let Some(route) = settings.config.routes.get_mut("classify") {
        route.prompt_caching = true;
    }
    let edge = Edge::new(settings, platform.clone());
    let response = edge
        .handle(post_invoke("/api/invoke/classify?stream=false", cached))
        .await;
    assert_eq!(response.status, 200);
    let sent: serde_json::Value = serde_json::from_slice(&platform.requests()[0].body).unwrap();
    assert_eq!(
        sent["messages"][0]["content"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
}

#[tokio::test(start_paused = true)]
async fn native_media_from_elsewhere_is_refused_with_its_field() {
    let by_url = r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":64,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]}"#;
    let error = rejected_with(
        post_invoke("/api/invoke/classify", by_url),
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(error["field"], "messages[0].content[0].source.type");
}

/// An edge on the built-in chains (retries, fallbacks, last resort).
fn resilient_edge(replies: Vec<Reply>) -> (Edge<ScriptedPlatform>, ScriptedPlatform) {
    let (edge, platform) = new_edge(replies);
    let settings = Settings {
        config: crate::config::Config::builtin("us-east-1"),
        ..(*edge.settings).clone()
    };
    (Edge::new(settings, platform.clone()), platform)
}

#[tokio::test(start_paused = true)]
async fn trace_headers_reach_bedrock_unsigned_and_retry_after_is_honoured() {
    let throttled = Reply::Respond {
        status: 429,
        headers: vec![
            ("x-amzn-ErrorType".into(), "ThrottlingException".into()),
            ("retry-after".into(), "1".into()),
        ],
        body: body(vec![br#"{"message":"slow down"}"#.to_vec()], End::Close),
    };
    let (edge, platform) = resilient_edge(vec![
        throttled,
        Reply::json(
            r#"{"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2}}"#,
        ),
    ]);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut request = post_chat(r#"{"messages":[{"role":"user","content":"hi"}],"stream":false}"#);
    request.headers.extend([
        ("traceparent".into(), traceparent.into()),
        (
            "X-Amzn-Trace-Id".into(),
            "Root=1-5759e988-bd862e3fe1be46a994272793".into(),
        ),
        ("tracestate".into(), "bad\u{7f}value".into()),
    ]);
    let started = tokio::time::Instant::now();
    let response = edge.handle(request).await;
    assert_eq!(response.status, 200);
    // The 429 asked for 1 s: the retry waited that long (the backoff alone is under 200 ms).
    assert_eq!(started.elapsed().as_millis(), 1_000);
    let requests = platform.requests();
    assert_eq!(requests.len(), 2);
    let header = |name: &str| crate::platform::header(&requests[1].headers, name);
    assert_eq!(header("traceparent"), Some(traceparent));
    assert!(header("x-amzn-trace-id").is_some());
    assert_eq!(
        header("tracestate"),
        None,
        "malformed trace headers are dropped"
    );
    let authorization = header("authorization").unwrap();
    assert!(!authorization.contains("traceparent"), "{authorization}");
    let timing = response.header("server-timing").unwrap();
    assert!(timing.contains("upstream;dur="), "{timing}");
    let log = &platform.logs()[0];
    assert_eq!(
        (&log["attempts"], &log["outcome"]),
        (&json!(2), &json!("ok"))
    );
    assert_eq!(
        log["targets_tried"],
        json!(["us.anthropic.claude-sonnet-4-20250514-v1:0@us-east-1"])
    );
}

#[tokio::test(start_paused = true)]
async fn health_lists_every_target() {
    let (edge, _) = resilient_edge(vec![]);
    let response = edge
        .handle(ApiRequest {
            method: "GET".into(),
            path: "/api/health".into(),
            ..ApiRequest::default()
        })
        .await;
    assert_eq!(response.status, 200);
    let body = json_body(&response);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["targets"].as_array().map(Vec::len), Some(6));
    assert_eq!(body["targets"][0]["circuit"], "closed");
}

#[tokio::test(start_paused = true)]
async fn account_ids_in_model_arns_never_reach_clients_or_logs() {
    const ACCOUNT: &str = "123456789012";
    let arn = format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:application-inference-profile/abc123");
    let (edge, platform) = new_edge(vec![Reply::stream(body(vec![answer(&["Hi"])], End::Close))]);
    let mut settings = (*edge.settings).clone();
    if let Some(route) = settings.config.routes.get_mut("analyze") {
        route.targets[0].model = arn.clone();
    }
    let edge = Edge::new(settings, platform.clone());
    let response = edge
        .handle(post_chat(
            r#"{"messages":[{"role":"user","content":"hello"}],"route":"analyze"}"#,
        ))
        .await;
    let ApiBody::Sse(stream) = response.body else {
        panic!("expected SSE");
    };
    let wire: String = stream.collect::<Vec<_>>().await.concat();
    assert!(
        wire.contains("arn:aws:bedrock:us-east-1:***:application-inference-profile/abc123"),
        "{wire}"
    );
    let routes = edge
        .handle(ApiRequest {
            method: "GET".into(),
            path: "/api/routes".into(),
            ..ApiRequest::default()
        })
        .await;
    let health = edge
        .handle(ApiRequest {
            method: "GET".into(),
            path: "/api/health".into(),
            ..ApiRequest::default()
        })
        .await;
    let logs = serde_json::to_string(&platform.logs()).unwrap();
    for seen in [
        wire,
        json_body(&routes).to_string(),
        json_body(&health).to_string(),
        logs,
    ] {
        assert!(!seen.contains(ACCOUNT), "{seen}");
    }
    // Bedrock itself still gets the whole ARN.
    let called = &platform.requests()[0].url;
    assert!(
        called.contains(&crate::bedrock::model_id::encode(&arn)),
        "{called}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_async_invoke_route_is_not_reachable_through_invoke() {
    let (edge, platform) = new_edge(vec![]);
    let mut settings = (*edge.settings).clone();
    let mut video = settings.config.routes["classify"].clone();
    video.async_invoke = Some(crate::config::AsyncInvoke {
        s3_output_uri: "s3://bucket/out".into(),
    });
    settings.config.routes.insert("video".into(), video);
    let edge = Edge::new(settings, platform.clone());
    let response = edge
        .handle(post_invoke("/api/invoke/video", CLAUDE_BODY))
        .await;
    assert_eq!(response.status, 400);
    let error = &json_body(&response)["error"];
    assert_eq!(error["field"], "route");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("POST /api/jobs"),
        "{error}"
    );
    assert!(platform.requests().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_limit_is_counted_before_the_body_is_parsed() {
    let (edge, platform) = new_edge(vec![]);
    let mut settings = (*edge.settings).clone();
    let tight = crate::config::RateLimitClass {
        limit: 2,
        period_s: 60,
        fail_closed: false,
    };
    settings.config.rate_limits.insert("tight".into(), tight);
    for route in settings.config.routes.values_mut() {
        route.rate_limit = Some("tight".into());
    }
    let edge = Edge::new(settings, platform.clone());
    let broken = || {
        let mut request = post_chat("{\"messages\": [");
        request.path = "/api/generate".into();
        request
            .headers
            .push(("cf-connecting-ip".into(), "198.51.100.4".into()));
        request
    };
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(edge.handle(broken()).await.status);
    }
    assert_eq!(statuses, [400, 400, 429], "refused bodies count too");
    let mut invoke = post_invoke("/api/invoke/generate", "{");
    invoke
        .headers
        .push(("cf-connecting-ip".into(), "198.51.100.4".into()));
    assert_eq!(
        edge.handle(invoke).await.status,
        429,
        "before the body is read"
    );
    assert!(platform.requests().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_limiter_closes_only_the_classes_that_say_so() {
    let ok = || {
        Reply::json(
            r#"{"output":{"message":{"role":"assistant","content":[{"text":"Hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2}}"#,
        )
    };
    let (edge, platform) = new_edge(vec![ok()]);
    let mut settings = (*edge.settings).clone();
    let class = |fail_closed| crate::config::RateLimitClass {
        limit: 100,
        period_s: 60,
        fail_closed,
    };
    settings
        .config
        .rate_limits
        .insert("open".into(), class(false));
    settings
        .config
        .rate_limits
        .insert("closed".into(), class(true));
    let mut routes = settings.config.routes.keys().cloned();
    let (cheap, dear) = (routes.next().unwrap(), routes.next().unwrap());
    settings.config.routes.get_mut(&cheap).unwrap().rate_limit = Some("open".into());
    settings.config.routes.get_mut(&dear).unwrap().rate_limit = Some("closed".into());
    let edge = Edge::new(settings, platform.clone());
    platform.take_limiter_down();
    let ask = |route: &str| {
        let mut request =
            post_chat(r#"{"messages":[{"role":"user","content":"Hi"}],"stream":false}"#);
        request.path = format!("/api/{route}");
        request
    };
    assert_eq!(edge.handle(ask(&cheap)).await.status, 200, "fails open");
    let refused = edge.handle(ask(&dear)).await;
    assert_eq!(refused.status, 503, "fails closed");
    let error = json_body(&refused);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rate limiter"),
        "{error}"
    );
    assert_eq!(
        platform.requests().len(),
        1,
        "the closed route called nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_s_token_budget_is_charged_with_real_usage_and_then_refuses() {
    let streamed = || Reply::stream(body(vec![answer(&["Hi", " there"])], End::Close));
    let (edge, platform) = new_edge(vec![streamed(), streamed(), streamed()]);
    let mut settings = (*edge.settings).clone();
    let budget = crate::config::TokenBudget {
        tokens: 30,
        period_s: 3_600,
    };
    settings.config.token_budget = Some(budget);
    let edge = Edge::new(settings, platform.clone());
    let from = |ip: &str| {
        let mut request = post_chat(r#"{"messages":[{"role":"user","content":"hello"}]}"#);
        request.headers.push(("cf-connecting-ip".into(), ip.into()));
        request
    };
    // Each answer reports 11 input and 7 output tokens: 18, then 36 of 30.
    for _ in 0..2 {
        let response = edge.handle(from("198.51.100.8")).await;
        assert_eq!(response.status, 200);
        let ApiBody::Sse(stream) = response.body else {
            panic!("expected SSE")
        };
        stream.collect::<Vec<_>>().await;
    }
    assert_eq!(
        platform.budget_spent("ip:198.51.100.8", budget).await,
        Some(36)
    );
    let refused = edge.handle(from("198.51.100.8")).await;
    assert_eq!(refused.status, 429);
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3_600).contains(&wait), "until the next window: {wait}");
    let error = json_body(&refused);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Token budget spent"),
        "{error}"
    );
    assert_eq!(platform.requests().len(), 2, "refused before Bedrock");

    // A client that leaves mid-answer, before the usage arrives, pays for what streamed.
    let response = edge.handle(from("203.0.113.77")).await;
    let ApiBody::Sse(mut stream) = response.body else {
        panic!("expected SSE")
    };
    while let Some(event) = stream.next().await {
        if event.starts_with("event: delta") {
            break;
        }
    }
    drop(stream);
    assert_eq!(
        platform.budget_spent("ip:203.0.113.77", budget).await,
        Some(1),
        "\"Hi\": one token by the estimate"
    );
}
