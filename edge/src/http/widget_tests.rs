//! Widget keys, their tokens and other origins at the HTTP layer: refused with 401 or 403
//! before any upstream call, tokens issued per address and counted per visitor, CORS only for
//! the key's origins, preflights, the key's routes and rate limits.

use super::*;
use crate::{
    bedrock::converse::tests::answer,
    config::{secret::Secret, Config, RateLimitClass, Timeouts, DEMO_WIDGET_KEY},
    test_support::{
        body, one_call_config, settings_with, End, Reply, ScriptedPlatform, START_MS, TOKEN_SECRET,
    },
};
use widget::token::{self, Claims, TOKEN_LIFETIME_S};

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

/// A token the edge signed for visitor `n` of `key` on `host`, issued at the tests' start.
fn token_for(host: &str, key: &str, n: u64) -> String {
    token::sign(
        &Secret::new(TOKEN_SECRET),
        &Claims {
            key: key.into(),
            origin: host.into(),
            visitor: token::visitor_id(n, n),
            expires_s: START_MS / 1000 + TOKEN_LIFETIME_S,
        },
    )
}

/// The widget frame's request: same origin as the edge, with a token for the host page.
fn framed(host: &str, key: &str, json: &str) -> ApiRequest {
    framed_with(&token_for(host, key, 1), json)
}

fn framed_with(token: &str, json: &str) -> ApiRequest {
    request(
        "POST",
        "/api/chat",
        &[
            ("origin", EDGE),
            ("x-widget-token", token),
            ("cf-connecting-ip", "203.0.113.9"),
        ],
        json,
    )
}

/// The frame asking for a token for the page `host`, from address `ip`.
fn token_request(host: &str, ip: &str) -> ApiRequest {
    request(
        "POST",
        "/api/widget/token",
        &[
            ("origin", EDGE),
            ("x-widget-key", DEMO_WIDGET_KEY),
            ("cf-connecting-ip", ip),
        ],
        &format!(r#"{{"origin":"{host}"}}"#),
    )
}

/// The token of a 200 answer to a token request.
fn issued(response: &ApiResponse) -> shared::widget::TokenResponse {
    assert_eq!(response.status, 200, "{:?}", error_of(response));
    let ApiBody::Json(text) = &response.body else {
        panic!("expected a JSON body");
    };
    serde_json::from_str(text).unwrap()
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

/// Sends `request` to an edge with no upstream replies: a 403 before any upstream call, and
/// CORS headers only for an origin the key lists. Returns the message.
async fn forbidden(request: ApiRequest) -> String {
    let (edge, platform) = edge_with(config(), vec![]);
    let listed = crate::platform::header(&request.headers, "origin")
        .filter(|origin| *origin != EDGE)
        .filter(|origin| config().widget_keys[DEMO_WIDGET_KEY].allows_origin(origin))
        .map(str::to_owned);
    let response = edge.handle(request).await;
    assert_eq!(response.status, 403);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.header("access-control-allow-origin"),
        listed.as_deref()
    );
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
    // Straight from another origin: its browser-set Origin decides, whatever else it claims,
    // and a token of the site does not travel to another page.
    for credential in [
        ("x-widget-origin", SITE.to_owned()),
        ("x-widget-token", token_for(SITE, DEMO_WIDGET_KEY, 1)),
    ] {
        let direct = request(
            "POST",
            "/api/chat",
            &[
                ("origin", "https://evil.example"),
                ("x-widget-key", DEMO_WIDGET_KEY),
                (credential.0, &credential.1),
            ],
            HELLO,
        );
        assert!(forbidden(direct).await.contains("https://evil.example"));
    }
    let keyless = request("POST", "/api/chat", &[("origin", SITE)], HELLO);
    assert!(forbidden(keyless).await.contains("need a widget key"));
    let message = forbidden(framed(SITE, "pk_not_a_key", HELLO)).await;
    assert!(message.contains("key is not valid"), "{message}");
    // No token is issued for such a page either.
    let message = forbidden(token_request("http://127.0.0.1:9999", "203.0.113.9")).await;
    assert!(
        message.contains("not enabled on http://127.0.0.1:9999"),
        "{message}"
    );
    let mut bad_key = token_request(SITE, "203.0.113.9");
    bad_key.headers.retain(|(name, _)| name != "x-widget-key");
    bad_key
        .headers
        .push(("x-widget-key".into(), "pk_not_a_key".into()));
    assert!(forbidden(bad_key).await.contains("key is not valid"));
}

#[tokio::test(start_paused = true)]
async fn a_key_without_a_token_is_refused_whatever_origin_it_claims() {
    // What a script outside a browser can send: the key, and a listed origin it made up.
    let forged = request(
        "POST",
        "/api/chat",
        &[
            ("x-widget-key", DEMO_WIDGET_KEY),
            ("x-widget-origin", SITE),
            ("cf-connecting-ip", "203.0.113.9"),
        ],
        HELLO,
    );
    let (edge, platform) = edge_with(config(), streamed());
    let response = edge.handle(forged).await;
    assert_eq!(response.status, 401);
    assert!(platform.requests().is_empty(), "no upstream call");
    let (code, message) = error_of(&response);
    assert_eq!(code, "unauthorized");
    assert!(message.contains("X-Widget-Token"), "{message}");
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
    // The page asks for its token itself: its browser's Origin names it.
    let ask = request(
        "POST",
        "/api/widget/token",
        &[("origin", SITE), ("x-widget-key", DEMO_WIDGET_KEY)],
        "",
    );
    let answer = edge.handle(ask).await;
    assert_eq!(answer.header("access-control-allow-origin"), Some(SITE));
    let token = issued(&answer).token;
    let direct = request(
        "POST",
        "/api/generate",
        &[("origin", SITE), ("x-widget-token", &token)],
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
                    "content-type,x-widget-key,x-widget-token",
                ),
            ],
            "",
        )
    };
    let (edge, platform) = edge_with(config(), vec![]);
    let response = edge.handle(preflight(SITE)).await;
    assert_eq!(response.status, 204);
    assert_eq!(response.header("access-control-allow-origin"), Some(SITE));
    for once in [
        "access-control-allow-origin",
        "vary",
        "access-control-expose-headers",
    ] {
        let count = response.headers.iter().filter(|(n, _)| n == once).count();
        assert_eq!(count, 1, "{once}");
    }
    assert!(response
        .header("access-control-allow-headers")
        .is_some_and(|h| {
            h.contains("x-widget-key") && h.contains("x-widget-token") && h.contains("content-type")
        }));
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

/// The demo key with a per-visitor class of `visitor` a minute and a per-key class of `key`.
fn limited_config(visitor: u32, key: u32) -> Config {
    let mut config = config();
    for (class, limit) in [("visitor", visitor), ("site", key)] {
        config.rate_limits.insert(
            class.into(),
            RateLimitClass {
                limit,
                period_s: 60,
                fail_closed: false,
            },
        );
    }
    if let Some(key) = config.widget_keys.get_mut(DEMO_WIDGET_KEY) {
        key.rate_limit = Some("visitor".into());
        key.key_rate_limit = Some("site".into());
    }
    config
}

#[tokio::test(start_paused = true)]
async fn the_frame_gets_a_token_and_chats_with_it() {
    let (edge, platform) = edge_with(config(), streamed());
    let answer = edge.handle(token_request(SITE, "203.0.113.9")).await;
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("access-control-allow-origin"), None);
    let first = issued(&answer);
    assert_eq!(first.expires_in, 900);
    assert!(
        first.token.starts_with("v1.pk_demo_local."),
        "{}",
        first.token
    );
    assert!(!first.token.contains(TOKEN_SECRET));
    let response = edge.handle(framed_with(&first.token, HELLO)).await;
    assert_eq!(drained(response).await, 200);
    assert_eq!(platform.requests().len(), 1);
    // Fifteen minutes on, the same token has expired: the frame is told to get a new one.
    tokio::time::advance(std::time::Duration::from_secs(TOKEN_LIFETIME_S)).await;
    let late = edge.handle(framed_with(&first.token, HELLO)).await;
    assert_eq!(late.status, 401);
    let (code, message) = error_of(&late);
    assert_eq!(code, "token_expired");
    assert!(message.contains("POST /api/widget/token"), "{message}");
    let fresh = issued(&edge.handle(token_request(SITE, "203.0.113.9")).await);
    assert_ne!(fresh.token, first.token);
}

#[tokio::test(start_paused = true)]
async fn tokens_are_counted_per_address_in_the_visitor_class() {
    let (edge, platform) = edge_with(limited_config(2, 100), vec![]);
    for _ in 0..2 {
        issued(&edge.handle(token_request(SITE, "198.51.100.1")).await);
    }
    let third = edge.handle(token_request(SITE, "198.51.100.1")).await;
    assert_eq!(
        third.status, 429,
        "one address mints visitors no faster than one chats"
    );
    assert!(error_of(&third).1.contains("(visitor)"));
    assert_eq!(third.header("retry-after"), Some("60"));
    issued(&edge.handle(token_request(SITE, "198.51.100.2")).await);
    // An IPv6 client counts as its /64.
    issued(&edge.handle(token_request(SITE, "2001:db8:1:2::1")).await);
    issued(&edge.handle(token_request(SITE, "2001:db8:1:2::2")).await);
    let same_block = edge
        .handle(token_request(SITE, "2001:db8:1:2:ffff::3"))
        .await;
    assert_eq!(same_block.status, 429);
    assert!(platform.requests().is_empty());
}

#[tokio::test(start_paused = true)]
async fn visitors_have_buckets_of_their_own_within_the_key_s_budget() {
    let replies = (0..3).flat_map(|_| streamed()).collect();
    let (edge, platform) = edge_with(limited_config(2, 3), replies);
    // Two visitors behind one address.
    let first = issued(&edge.handle(token_request(SITE, "198.51.100.1")).await).token;
    let second = issued(&edge.handle(token_request(SITE, "198.51.100.1")).await).token;
    let chat = |token: &str| edge.handle(framed_with(token, HELLO));
    assert_eq!(drained(chat(&first).await).await, 200);
    assert_eq!(drained(chat(&first).await).await, 200);
    let again = chat(&first).await;
    assert_eq!(again.status, 429, "the first visitor's own limit");
    assert!(error_of(&again).1.contains("(visitor)"));
    assert_eq!(
        drained(chat(&second).await).await,
        200,
        "the second visitor, same address, has a bucket of its own"
    );
    let over = chat(&second).await;
    assert_eq!(over.status, 429, "the key's visitors together");
    assert!(error_of(&over).1.contains("(site)"));
    assert_eq!(platform.requests().len(), 3);
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
