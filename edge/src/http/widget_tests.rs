//! Widget keys and other origins at the HTTP layer: refused with 403 before any upstream call,
//! CORS only for the key's origins, preflights, the key's routes and rate limits.

use super::*;
use crate::{
    bedrock::converse::tests::answer,
    config::{Config, RateLimitClass, Timeouts, DEMO_WIDGET_KEY},
    test_support::{body, one_call_config, settings_with, End, Reply, ScriptedPlatform},
};

const EDGE: &str = "https://chat.example.com";
const SITE: &str = "http://127.0.0.1:8789";
const HELLO: &str = r#"{"messages":[{"role":"user","content":"hello"}],"route":"generate"}"#;

fn edge_with(config: Config, replies: Vec<Reply>) -> (Edge<ScriptedPlatform>, ScriptedPlatform) {
    let platform = ScriptedPlatform::new(replies);
    (Edge::new(settings_with(config), platform.clone()), platform)
}

fn config() -> Config {
    one_call_config(Timeouts {
        first_byte_ms: 1_000,
        idle_ms: 1_000,
    })
}

fn streamed() -> Vec<Reply> {
    vec![Reply::stream(body(vec![answer(&["Hi"])], End::Close))]
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], json: &str) -> ApiRequest {
    let mut all = vec![("content-type".to_owned(), "application/json".to_owned())];
    all.extend(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    ApiRequest {
        origin: EDGE.into(),
        method: method.into(),
        path: path.into(),
        headers: all,
        body: json.as_bytes().to_vec(),
        ..ApiRequest::default()
    }
}

/// The widget frame's request: same origin as the edge, the host page in `x-widget-origin`.
fn framed(host: &str, key: &str, json: &str) -> ApiRequest {
    request(
        "POST",
        "/api/chat",
        &[
            ("origin", EDGE),
            ("x-widget-key", key),
            ("x-widget-origin", host),
            ("cf-connecting-ip", "203.0.113.9"),
        ],
        json,
    )
}

/// Reads a streamed body to its end (upstream calls happen as it is read); the status.
async fn drained(response: ApiResponse) -> u16 {
    if let ApiBody::Sse(stream) = response.body {
        let _: Vec<String> = stream.collect().await;
    }
    response.status
}

fn error_of(response: &ApiResponse) -> (String, String) {
    let ApiBody::Json(text) = &response.body else {
        panic!("expected a JSON body");
    };
    let body: serde_json::Value = serde_json::from_str(text).unwrap();
    (
        body["error"]["code"].as_str().unwrap().to_owned(),
        body["error"]["message"].as_str().unwrap().to_owned(),
    )
}

/// Sends `request` to an edge with no upstream replies: a 403 before any upstream call, no
/// CORS header. Returns the message.
async fn forbidden(request: ApiRequest) -> String {
    let (edge, platform) = edge_with(config(), vec![]);
    let response = edge.handle(request).await;
    assert_eq!(response.status, 403);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("access-control-allow-origin"), None);
    assert!(platform.requests().is_empty(), "no upstream call");
    assert_eq!(platform.logs()[0]["outcome"], "rejected");
    let (code, message) = error_of(&response);
    assert_eq!(code, "forbidden");
    message
}

#[tokio::test(start_paused = true)]
async fn a_page_not_on_the_key_s_list_is_refused_before_any_upstream_call() {
    let message = forbidden(framed("http://127.0.0.1:9999", DEMO_WIDGET_KEY, HELLO)).await;
    assert_eq!(
        message,
        "This chat widget is not enabled on http://127.0.0.1:9999. The site's owner can add \
         this origin to the widget key."
    );
    // Straight from another origin: its browser-set Origin decides, whatever else it claims.
    let direct = request(
        "POST",
        "/api/chat",
        &[
            ("origin", "https://evil.example"),
            ("x-widget-key", DEMO_WIDGET_KEY),
            ("x-widget-origin", SITE),
        ],
        HELLO,
    );
    assert!(forbidden(direct).await.contains("https://evil.example"));
    let keyless = request("POST", "/api/chat", &[("origin", SITE)], HELLO);
    assert!(forbidden(keyless).await.contains("need a widget key"));
    let message = forbidden(framed(SITE, "pk_not_a_key", HELLO)).await;
    assert!(message.contains("key is not valid"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn widget_keys_open_only_their_routes_and_the_chat_endpoints() {
    let other_route = HELLO.replace("generate", "analyze");
    let message = forbidden(framed(SITE, DEMO_WIDGET_KEY, &other_route)).await;
    assert_eq!(
        message,
        r#"route: "analyze" is not enabled for this chat widget (it may use: generate)"#
    );
    let mut health = framed(SITE, DEMO_WIDGET_KEY, "");
    (health.method, health.path) = ("GET".into(), "/api/health".into());
    assert!(forbidden(health).await.contains("only the chat endpoints"));
    let mut invoke = framed(SITE, DEMO_WIDGET_KEY, "{}");
    invoke.path = "/api/invoke/generate".into();
    forbidden(invoke).await;

    let (edge, _) = edge_with(config(), vec![]);
    let mut routes = framed(SITE, DEMO_WIDGET_KEY, "");
    (routes.method, routes.path) = ("GET".into(), "/api/routes".into());
    let response = edge.handle(routes).await;
    assert_eq!(response.status, 200);
    let ApiBody::Json(text) = &response.body else {
        panic!("expected JSON");
    };
    let listed: shared::routes::RoutesResponse = serde_json::from_str(text).unwrap();
    assert_eq!(listed.default_route, "generate");
    let names: Vec<&str> = listed.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["generate"]);
}

#[tokio::test(start_paused = true)]
async fn the_framed_widget_chats_without_cors_headers() {
    let (edge, platform) = edge_with(config(), streamed());
    // No route named: the key's default.
    let response = edge
        .handle(framed(
            SITE,
            DEMO_WIDGET_KEY,
            r#"{"messages":[{"role":"user","content":"hello"}]}"#,
        ))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert_eq!(response.header("access-control-allow-origin"), None);
    drained(response).await;
    assert_eq!(platform.requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn allowed_origins_get_cors_for_themselves_only() {
    let (edge, platform) = edge_with(config(), streamed());
    let direct = request(
        "POST",
        "/api/generate",
        &[("origin", SITE), ("x-widget-key", DEMO_WIDGET_KEY)],
        r#"{"messages":[{"role":"user","content":"hello"}]}"#,
    );
    let response = edge.handle(direct).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("access-control-allow-origin"), Some(SITE));
    assert_eq!(response.header("vary"), Some("Origin"));
    assert!(response
        .header("access-control-expose-headers")
        .is_some_and(|h| h.contains("x-request-id")));
    drained(response).await;
    assert_eq!(platform.requests().len(), 1);

    // The main UI (same origin, no key) gets no CORS headers at all.
    let (edge, _) = edge_with(config(), streamed());
    let own = request("POST", "/api/chat", &[("origin", EDGE)], HELLO);
    let response = edge.handle(own).await;
    assert_eq!(response.status, 200);
    assert!(response
        .headers
        .iter()
        .all(|(name, _)| !name.starts_with("access-control")));
}

#[tokio::test(start_paused = true)]
async fn preflights_are_answered_for_listed_origins_only() {
    let preflight = |origin: &str| {
        request(
            "OPTIONS",
            "/api/chat",
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "content-type,x-widget-key",
                ),
            ],
            "",
        )
    };
    let (edge, platform) = edge_with(config(), vec![]);
    let response = edge.handle(preflight(SITE)).await;
    assert_eq!(response.status, 204);
    assert_eq!(response.header("access-control-allow-origin"), Some(SITE));
    assert!(response
        .header("access-control-allow-headers")
        .is_some_and(|h| h.contains("x-widget-key") && h.contains("content-type")));
    assert!(response
        .header("access-control-allow-methods")
        .is_some_and(|h| h.contains("POST")));
    assert_eq!(platform.logs()[0]["status"], 204);
    let message = forbidden(preflight("https://evil.example")).await;
    assert_eq!(
        message,
        "Cross-origin requests from https://evil.example are not allowed."
    );
}

#[tokio::test(start_paused = true)]
async fn widget_keys_count_per_visitor_and_per_key() {
    let tight = RateLimitClass {
        limit: 1,
        period_s: 60,
        fail_closed: false,
    };
    let mut config = config();
    config.rate_limits.insert("visitor".into(), tight);
    config.rate_limits.insert(
        "site".into(),
        RateLimitClass {
            limit: 2,
            period_s: 60,
            fail_closed: false,
        },
    );
    if let Some(key) = config.widget_keys.get_mut(DEMO_WIDGET_KEY) {
        key.rate_limit = Some("visitor".into());
        key.key_rate_limit = Some("site".into());
    }
    let replies = streamed().into_iter().chain(streamed()).collect();
    let (edge, platform) = edge_with(config, replies);
    let from = |ip: &str| {
        let mut request = framed(SITE, DEMO_WIDGET_KEY, HELLO);
        request.headers.retain(|(n, _)| n != "cf-connecting-ip");
        request.headers.push(("cf-connecting-ip".into(), ip.into()));
        request
    };
    assert_eq!(drained(edge.handle(from("198.51.100.1")).await).await, 200);
    let again = edge.handle(from("198.51.100.1")).await;
    assert_eq!(again.status, 429, "the same visitor again");
    assert!(error_of(&again).1.contains("(visitor)"));
    assert_eq!(drained(edge.handle(from("198.51.100.2")).await).await, 200);
    let third = edge.handle(from("198.51.100.3")).await;
    assert_eq!(third.status, 429, "the key's visitors together");
    assert!(error_of(&third).1.contains("(site)"));
    assert_eq!(platform.requests().len(), 2);
}

/// A question the classifier puts in the complex tier (many reasoning cues and a code block).
const HARD: &str = r#"{"messages":[{"role":"user","content":"Prove step by step, with a rigorous argument and a careful analysis of every edge case, why the algorithm below terminates; then compare its complexity with the alternatives and explain the trade-offs in depth.\n```\nfn f() {}\n```"}],"route":"auto"}"#;

#[tokio::test(start_paused = true)]
async fn auto_chooses_only_among_the_routes_a_widget_key_opens() {
    let mut config = config();
    if let Some(key) = config.widget_keys.get_mut(DEMO_WIDGET_KEY) {
        key.routes = vec!["auto".into(), "classify".into()];
    }
    let classify = config.routes["classify"].targets[0].model.clone();
    let (edge, platform) = edge_with(config, streamed());
    let response = edge.handle(framed(SITE, DEMO_WIDGET_KEY, HARD)).await;
    let ApiBody::Sse(stream) = response.body else {
        panic!("status {}", response.status)
    };
    let text: String = stream.collect::<Vec<_>>().await.concat();
    assert!(
        text.contains(r#""route":"classify""#),
        "auto must stay within the key's routes: {text}"
    );
    assert!(text.contains("is not open to this caller"), "{text}");
    let requests = platform.requests();
    assert_eq!(requests.len(), 1);
    let encoded = crate::bedrock::model_id::encode(&classify);
    assert!(requests[0].url.contains(&encoded), "{}", requests[0].url);
}

#[tokio::test(start_paused = true)]
async fn auto_counts_against_the_limit_of_the_route_it_chose() {
    let mut config = config();
    config.rate_limits.insert(
        "heavy".into(),
        RateLimitClass {
            limit: 1,
            period_s: 60,
            fail_closed: false,
        },
    );
    if let Some(analyze) = config.routes.get_mut("analyze") {
        analyze.rate_limit = Some("heavy".into());
    }
    let replies = streamed().into_iter().chain(streamed()).collect();
    let (edge, platform) = edge_with(config, replies);
    let ask = || {
        request(
            "POST",
            "/api/chat",
            &[("cf-connecting-ip", "198.51.100.7")],
            HARD,
        )
    };
    assert_eq!(drained(edge.handle(ask()).await).await, 200);
    let again = edge.handle(ask()).await;
    assert_eq!(
        again.status, 429,
        "auto sent both to analyze, limited to one a minute"
    );
    assert!(
        error_of(&again).1.contains("(heavy)"),
        "{:?}",
        error_of(&again)
    );
    assert_eq!(platform.requests().len(), 1);
}
