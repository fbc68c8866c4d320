//! Routing and resilience of the edge core (`edge::http::Edge` on the native platform) against
//! the real fake Bedrock and its fault control (`POST /_fake/faults`): a table of fault
//! scenarios, each asserting the upstream calls per model and what the client saw; then rate
//! limiting, request validation, the auto route and the observability headers. Each test gets
//! its own fake and edge, so call counts are its own. Nothing here waits on the clock: what
//! depends on time (a hang's first-byte timeout, a circuit's cool-down) is tested on the
//! scripted platform with a paused clock (`edge/src/routing/pipeline/chain_tests.rs`).
//!
//! Run: `cargo test -p tests --test edge_resilience`.

// A test crate: its helpers assert by panicking, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::panic)]

use edge::config::settings::Settings;
use edge::http::{ApiBody, ApiRequest, ApiResponse, Edge};
use serde_json::{json, Value};
use shared::{sse::SseParser, ErrorCode, StreamEvent};
use std::{collections::HashMap, time::Duration};
use tests::{
    fake_bedrock::{FakeBedrock, FakeConfig},
    native_platform::NativePlatform,
};

const SONNET: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
const HAIKU: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
const NOVA: &str = "amazon.nova-lite-v1:0";
const REGION: &str = "us-east-1";
const LAST_RESORT: &str = "Everything is busy: please try again in a minute.";

/// Small backoffs, so every scenario takes well under a second; timeouts far above any answer
/// time, so a busy machine cannot fire one.
fn routes() -> String {
    let retry =
        json!({"max_attempts": 3, "base_backoff_ms": 5, "max_backoff_ms": 40, "deadline_ms": 3000});
    let timeouts = json!({"first_byte_ms": 4_000, "idle_ms": 4_000});
    json!({
        "default_route": "generate",
        "routes": {
            "generate": {
                "description": "Sonnet, then Haiku",
                "targets": [{"model": SONNET, "region": REGION}, {"model": HAIKU, "region": REGION}],
                "retry": retry, "timeouts": timeouts,
                "last_resort": {"message": LAST_RESORT},
                "rate_limit": "roomy"
            },
            "classify": {
                "targets": [{"model": HAIKU, "region": REGION}],
                "retry": retry, "timeouts": timeouts, "rate_limit": "roomy"
            },
            "analyze": {
                "targets": [{"model": SONNET, "region": REGION}],
                "retry": retry, "timeouts": timeouts, "rate_limit": "roomy"
            },
            "limited": {
                "targets": [{"model": NOVA, "region": REGION}],
                "timeouts": timeouts, "rate_limit": "strict"
            },
            "auto": {"auto": {"simple": "classify", "medium": "generate", "complex": "analyze"}}
        },
        "rate_limits": {"roomy": {"limit": 1000, "period_s": 60}, "strict": {"limit": 3, "period_s": 60}}
    })
    .to_string()
}

struct World {
    fake: FakeBedrock,
    edge: Edge<NativePlatform>,
    platform: NativePlatform,
    http: reqwest::Client,
}

impl World {
    async fn start() -> World {
        let config = FakeConfig {
            token_delay_ms: 1,
            ..FakeConfig::default()
        };
        let fake = FakeBedrock::start(config.clone(), 0).await.unwrap();
        let routes = routes();
        let vars: HashMap<&str, String> = HashMap::from([
            ("BEDROCK_ENDPOINT", fake.url()),
            ("AWS_ACCESS_KEY_ID", config.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", config.secret_access_key.clone()),
            ("ROUTES", routes),
        ]);
        let settings = Settings::from_lookup(|name| vars.get(name).cloned()).unwrap();
        let platform = NativePlatform::default();
        World {
            edge: Edge::new(settings, platform.clone()),
            fake,
            platform,
            http: reqwest::Client::new(),
        }
    }

    /// Adds a fault through the fake's HTTP control API.
    async fn fault(&self, rule: Value) {
        let response = self
            .http
            .post(format!("{}/_fake/faults", self.fake.url()))
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "fault {rule} refused");
    }

    fn calls(&self, model: &str) -> u32 {
        self.fake.calls(model)
    }

    async fn post(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> Seen {
        let mut all = vec![("content-type".to_owned(), "application/json".to_owned())];
        all.extend(
            headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        let request = ApiRequest {
            method: "POST".into(),
            path: path.into(),
            headers: all,
            body: body.to_string().into_bytes(),
            ..ApiRequest::default()
        };
        let response = tokio::time::timeout(Duration::from_secs(5), self.edge.handle(request))
            .await
            .unwrap();
        Seen::read(response).await
    }

    async fn chat(&self, route: &str, prompt: &str) -> Seen {
        let body = json!({"messages": [{"role": "user", "content": prompt}], "route": route});
        self.post("/api/chat", body, &[]).await
    }

    async fn get(&self, path: &str) -> Value {
        let request = ApiRequest {
            method: "GET".into(),
            path: path.into(),
            ..ApiRequest::default()
        };
        match Seen::read(self.edge.handle(request).await).await.body {
            Body::Json(json) => json,
            Body::Events(events) => panic!("{path} streamed {events:?}"),
        }
    }

    /// The last request's log line.
    fn last_log(&self) -> Value {
        let logs = self.platform.logs();
        serde_json::from_str(logs.last().unwrap()).unwrap()
    }
}

#[derive(Debug)]
enum Body {
    Json(Value),
    Events(Vec<StreamEvent>),
}

/// What the client saw.
#[derive(Debug)]
struct Seen {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
}

impl Seen {
    async fn read(response: ApiResponse) -> Seen {
        let body = match response.body {
            ApiBody::Empty => Body::Json(Value::Null),
            ApiBody::Json(text) => Body::Json(serde_json::from_str(&text).unwrap()),
            ApiBody::Sse(stream) => {
                use futures::StreamExt;
                let text: Vec<String> =
                    tokio::time::timeout(Duration::from_secs(5), stream.collect())
                        .await
                        .unwrap();
                let mut parser = SseParser::new();
                let events = parser
                    .push(text.concat().as_bytes())
                    .iter()
                    .filter_map(|raw| raw.parse())
                    .map(Result::unwrap)
                    .collect();
                Body::Events(events)
            }
        };
        Seen {
            status: response.status,
            headers: response.headers,
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn events(&self) -> &[StreamEvent] {
        match &self.body {
            Body::Events(events) => events,
            Body::Json(json) => panic!("no stream ({}): {json}", self.status),
        }
    }

    fn json(&self) -> &Value {
        match &self.body {
            Body::Json(json) => json,
            Body::Events(events) => panic!("a stream: {events:?}"),
        }
    }

    /// `meta`, `fallback`, `delta`... as names, deltas squashed into one.
    fn shape(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for event in self.events() {
            if !(event.name() == "delta" && names.last() == Some(&"delta")) {
                names.push(event.name());
            }
        }
        names
    }

    fn deltas(&self) -> usize {
        self.events().iter().filter(|e| e.name() == "delta").count()
    }

    fn text(&self) -> String {
        self.events()
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Delta(d) => Some(d.text.as_str()),
                _ => None,
            })
            .collect()
    }

    fn fallbacks(&self) -> Vec<(String, String, String)> {
        self.events()
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Fallback(f) => Some((f.from.clone(), f.to.clone(), f.reason.clone())),
                _ => None,
            })
            .collect()
    }

    fn terminal(&self) -> &StreamEvent {
        let events = self.events();
        let terminals = events.iter().filter(|e| e.is_terminal()).count();
        assert_eq!(terminals, 1, "exactly one terminal event: {events:?}");
        let last = events.last().unwrap();
        assert!(last.is_terminal(), "the terminal event is last: {events:?}");
        last
    }
}

fn key(model: &str) -> String {
    format!("{model}@{REGION}")
}

/// What a scenario expects the client to see.
enum Expect {
    /// A normal answer: `done`, after these fallbacks (from, to, reason).
    Answer {
        fallbacks: Vec<(&'static str, &'static str, &'static str)>,
    },
    /// `deltas` deltas, then an `error` with `code`; no fallback.
    ErrorAfter { deltas: usize, code: ErrorCode },
    /// The route's last resort, after these moves down the chain.
    LastResort { fallbacks: usize },
}

struct Scenario {
    name: &'static str,
    faults: Vec<Value>,
    /// Upstream calls per model.
    calls: [(&'static str, u32); 2],
    expect: Expect,
}

fn scenarios() -> Vec<Scenario> {
    let fault = |model: &str, times: Option<u32>, fault: Value| {
        let mut rule = json!({"model": model, "fault": fault});
        if let Some(times) = times {
            rule["times"] = json!(times);
        }
        rule
    };
    vec![
        Scenario {
            name: "throttled twice, then success on the same target",
            faults: vec![fault(SONNET, Some(2), json!({"kind": "throttle"}))],
            calls: [(SONNET, 3), (HAIKU, 0)],
            expect: Expect::Answer { fallbacks: vec![] },
        },
        Scenario {
            name: "primary always 503: retried, then the fallback answers",
            faults: vec![fault(SONNET, None, json!({"kind": "unavailable"}))],
            calls: [(SONNET, 3), (HAIKU, 1)],
            expect: Expect::Answer {
                fallbacks: vec![(SONNET, HAIKU, "service_unavailable")],
            },
        },
        Scenario {
            name: "exception after 3 deltas: error event, no retry, no fallback",
            faults: vec![fault(
                SONNET,
                None,
                json!({"kind": "exception_after", "deltas": 3, "exception": "throttlingException"}),
            )],
            calls: [(SONNET, 1), (HAIKU, 0)],
            expect: Expect::ErrorAfter {
                deltas: 3,
                code: ErrorCode::UpstreamThrottled,
            },
        },
        Scenario {
            name: "a model error is final: no retry, no fallback, no last resort",
            faults: vec![fault(SONNET, None, json!({"kind": "model_error"}))],
            calls: [(SONNET, 1), (HAIKU, 0)],
            expect: Expect::ErrorAfter {
                deltas: 0,
                code: ErrorCode::ModelError,
            },
        },
        Scenario {
            name: "every target down: the last resort, marked as such",
            faults: vec![
                fault(SONNET, None, json!({"kind": "unavailable"})),
                fault(HAIKU, None, json!({"kind": "throttle"})),
            ],
            calls: [(SONNET, 3), (HAIKU, 3)],
            expect: Expect::LastResort { fallbacks: 2 },
        },
    ]
}

#[tokio::test]
async fn fault_scenarios() {
    for scenario in scenarios() {
        let world = World::start().await;
        for rule in &scenario.faults {
            world.fault(rule.clone()).await;
        }
        let seen = world.chat("generate", "Tell me about resilience.").await;
        let name = scenario.name;
        assert_eq!(seen.status, 200, "{name}");
        for (model, calls) in scenario.calls {
            assert_eq!(world.calls(model), calls, "{name}: calls to {model}");
        }
        let StreamEvent::Meta(meta) = &seen.events()[0] else {
            panic!("{name}: no meta first")
        };
        assert_eq!(
            (meta.route.as_str(), meta.model.as_str()),
            ("generate", SONNET),
            "{name}"
        );
        let terminal = seen.terminal().clone();
        let log = world.last_log();
        match scenario.expect {
            Expect::Answer { fallbacks } => {
                let StreamEvent::Done(done) = terminal else {
                    panic!("{name}: {terminal:?}")
                };
                assert_eq!(done.last_resort, None, "{name}");
                let expected: Vec<_> = fallbacks
                    .iter()
                    .map(|(f, t, r)| (key(f), key(t), (*r).to_owned()))
                    .collect();
                assert_eq!(seen.fallbacks(), expected, "{name}");
                // Fallback events come before the first delta.
                let shape = seen.shape();
                let mut want = vec!["meta"];
                want.extend(fallbacks.iter().map(|_| "fallback"));
                want.extend(["delta", "done"]);
                assert_eq!(shape, want, "{name}");
                let answering = fallbacks.last().map_or(SONNET, |(_, to, _)| to);
                assert!(
                    seen.text().contains(answering),
                    "{name}: answered by {answering}: {}",
                    seen.text()
                );
                assert_eq!(log["outcome"], "ok", "{name}");
                assert_eq!(log["model"], answering, "{name}");
                assert!(log["first_token_ms"].is_u64(), "{name}: {log}");
                assert!(log["output_tokens"].as_u64().unwrap() > 0, "{name}: {log}");
            }
            Expect::ErrorAfter { deltas, code } => {
                let StreamEvent::Error(error) = terminal else {
                    panic!("{name}: {terminal:?}")
                };
                assert_eq!(error.code, code, "{name}");
                assert_eq!(seen.deltas(), deltas, "{name}");
                assert!(seen.fallbacks().is_empty(), "{name}");
                assert_eq!(log["outcome"], "error", "{name}");
                assert_eq!(log["attempts"], 1, "{name}");
            }
            Expect::LastResort { fallbacks } => {
                let StreamEvent::Done(done) = terminal else {
                    panic!("{name}: {terminal:?}")
                };
                assert_eq!(done.last_resort.as_deref(), Some("message"), "{name}");
                assert_eq!(done.stop_reason, "last_resort", "{name}");
                assert_eq!(seen.text(), LAST_RESORT, "{name}");
                let moves = seen.fallbacks();
                assert_eq!(moves.len(), fallbacks, "{name}");
                assert_eq!(
                    moves.last().map(|m| m.1.as_str()),
                    Some("last_resort"),
                    "{name}"
                );
                assert_eq!(
                    seen.shape(),
                    ["meta", "fallback", "fallback", "delta", "done"],
                    "{name}"
                );
                assert_eq!(log["outcome"], "last_resort", "{name}");
                assert_eq!(log["last_resort"], "message", "{name}");
            }
        }
        // One log line per request: targets tried, attempts and fallbacks; never prompt text.
        let tried: u32 = scenario.calls.iter().map(|(_, n)| n).sum();
        assert_eq!(log["attempts"], tried, "{name}: {log}");
        assert!(
            !log.to_string().contains("resilience"),
            "{name}: prompt text in {log}"
        );
        assert_eq!(world.platform.logs().len(), 1, "{name}");
    }
}

#[tokio::test]
async fn whole_answers_retry_and_fall_back_too() {
    let world = World::start().await;
    world
        .fault(json!({"model": SONNET, "fault": {"kind": "unavailable"}}))
        .await;
    let body = json!({"messages": [{"role": "user", "content": "Hi"}], "stream": false});
    let seen = world.post("/api/generate", body, &[]).await;
    assert_eq!(seen.status, 200, "{:?}", seen.body);
    assert_eq!(seen.json()["model"], HAIKU);
    assert_eq!((world.calls(SONNET), world.calls(HAIKU)), (3, 1));
    let timing = seen.header("server-timing").unwrap();
    assert!(
        timing.starts_with("edge;dur=") && timing.contains("upstream;dur="),
        "{timing}"
    );

    // Everything down: the whole answer is the last resort, marked as such.
    world
        .fault(json!({"model": HAIKU, "fault": {"kind": "unavailable"}}))
        .await;
    let body = json!({"messages": [{"role": "user", "content": "Hi"}], "stream": false});
    let seen = world.post("/api/generate", body, &[]).await;
    assert_eq!(seen.json()["text"], LAST_RESORT);
    assert_eq!(seen.json()["last_resort"], "message");
}

#[tokio::test]
async fn a_burst_over_the_rate_limit_is_refused_with_429_before_any_upstream_call() {
    let world = World::start().await;
    let ask = json!({"messages": [{"role": "user", "content": "Hi"}], "route": "limited"});
    let client = [("cf-connecting-ip", "203.0.113.7")];
    for _ in 0..3 {
        let seen = world.post("/api/chat", ask.clone(), &client).await;
        assert_eq!(seen.status, 200);
        assert!(matches!(seen.terminal(), StreamEvent::Done(_)));
    }
    for _ in 0..2 {
        let seen = world.post("/api/chat", ask.clone(), &client).await;
        assert_eq!(seen.status, 429);
        assert_eq!(seen.header("retry-after"), Some("60"));
        assert_eq!(seen.json()["error"]["code"], "rate_limited");
        assert_eq!(seen.json()["error"]["retry_after_secs"], 60);
        assert_eq!(world.last_log()["outcome"], "rejected");
    }
    assert_eq!(
        world.calls(NOVA),
        3,
        "no upstream call for refused requests"
    );
    // Another client has its own allowance; other routes their own class.
    let other = world
        .post(
            "/api/chat",
            ask.clone(),
            &[("cf-connecting-ip", "198.51.100.2")],
        )
        .await;
    assert_eq!(other.status, 200);
    let classify = world
        .post(
            "/api/classify",
            json!({"messages": [{"role": "user", "content": "Hi"}]}),
            &client,
        )
        .await;
    assert_eq!(classify.status, 200);
}

#[tokio::test]
async fn invalid_bodies_are_4xx_naming_the_field_before_any_upstream_call() {
    let world = World::start().await;
    let user = |text: &str| json!({"role": "user", "content": text});
    let cases = [
        (json!({"messages": []}), 400, "messages: must not be empty"),
        (
            json!({"messages": [{"role": "assistant", "content": "a"}]}),
            400,
            "messages[0].role",
        ),
        (
            json!({"messages": [user("a"), user("b")]}),
            400,
            "messages[1].role: must alternate",
        ),
        (
            json!({"messages": [user("a")], "max_tokens": 0}),
            400,
            "max_tokens: must be between 1 and 8192",
        ),
        (
            json!({"messages": [user("a")], "temperature": 2}),
            400,
            "temperature: must be between 0 and 1",
        ),
        (
            json!({"messages": [user("a")], "route": "gpt"}),
            400,
            "route: unknown route \"gpt\"",
        ),
        (
            json!({"messages": [user("a")], "model": SONNET}),
            400,
            "unknown field `model`",
        ),
        (
            json!({"messages": [user(&"x".repeat(100_001))]}),
            400,
            "messages[0].content: must be at most",
        ),
        (
            json!({"messages": [user("a")], "route": "classify"}),
            400,
            "route: the path names route \"generate\"",
        ),
    ];
    for (body, status, says) in cases {
        let path = if body["route"] == "classify" {
            "/api/generate"
        } else {
            "/api/chat"
        };
        let seen = world.post(path, body.clone(), &[]).await;
        assert_eq!(seen.status, status, "{body}");
        let message = seen.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(says), "{message} should say {says}");
    }
    let big = json!({"messages": [user(&"x".repeat(11 * 1024 * 1024))]});
    assert_eq!(world.post("/api/chat", big, &[]).await.status, 413);
    assert_eq!(
        world.calls(SONNET) + world.calls(HAIKU) + world.calls(NOVA),
        0
    );
}

#[tokio::test]
async fn static_routes_auto_routing_and_observability() {
    let world = World::start().await;
    // `/api/{route}` maps to the route's chain.
    let hi = json!({"messages": [{"role": "user", "content": "Hi there"}]});
    let seen = world.post("/api/classify", hi.clone(), &[]).await;
    let StreamEvent::Meta(meta) = &seen.events()[0] else {
        panic!()
    };
    assert_eq!(
        (meta.route.as_str(), meta.model.as_str()),
        ("classify", HAIKU)
    );
    assert_eq!(world.calls(HAIKU), 1);

    // `auto` classifies the whole conversation and says why in `meta`.
    let code = "```rust\nfn main() {\n    let v = vec![1];\n}\n```";
    let hard = json!({"messages": [
        {"role": "user", "content": format!("Debug this and explain step by step why it fails:\n{code}")},
        {"role": "assistant", "content": "Which error do you see?"},
        {"role": "user", "content": "A borrow error."}
    ]});
    let seen = world.post("/api/auto", hard, &[]).await;
    let StreamEvent::Meta(meta) = &seen.events()[0] else {
        panic!()
    };
    assert_eq!(meta.route, "analyze");
    let reason = meta.reason.as_deref().unwrap_or_default();
    assert!(reason.starts_with("auto: analyze for complex"), "{reason}");
    let log = world.last_log();
    assert_eq!(
        (&log["tier"], &log["path"], &log["route"]),
        (&json!("complex"), &json!("/api/auto"), &json!("analyze"))
    );
    let simple = json!({"messages": [{"role": "user", "content": "Hi!"}], "route": "auto"});
    let seen = world.post("/api/chat", simple, &[]).await;
    let StreamEvent::Meta(meta) = &seen.events()[0] else {
        panic!()
    };
    assert_eq!(meta.route, "classify");

    // Request id and Server-Timing on every response, the id also in `meta`.
    let traced = [(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )];
    let seen = world.post("/api/generate", hi, &traced).await;
    let StreamEvent::Meta(meta) = &seen.events()[0] else {
        panic!()
    };
    assert_eq!(seen.header("x-request-id"), Some(meta.request_id.as_str()));
    assert!(seen
        .header("server-timing")
        .is_some_and(|t| t.starts_with("edge;dur=")));

    // The routes list shows the chains and the auto tiers.
    let routes = world.get("/api/routes").await;
    let generate = routes["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "generate")
        .unwrap()
        .clone();
    assert_eq!(generate["targets"].as_array().map(Vec::len), Some(2));
    let auto = routes["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "auto")
        .unwrap()
        .clone();
    assert_eq!(auto["tiers"]["complex"], "analyze");
}
