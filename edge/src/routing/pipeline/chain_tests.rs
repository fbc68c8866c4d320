//! The chain across attempts and requests, on the scripted platform with a paused clock:
//! a hang falls back after the first-byte timeout, every target down gives the last resort,
//! and a target's circuit opens, half-opens after its cool-down and closes or reopens. Time
//! only moves when the pipeline waits, so timeouts, backoffs and cool-downs take no real time
//! and cannot race a busy machine.

use super::*;
use crate::{
    bedrock::converse::tests::answer,
    test_support::{body, settings_with, End, Reply, ScriptedPlatform, START_MS},
};
use futures::StreamExt;
use serde_json::json;
use shared::{ChatMessage, ErrorCode};
use tokio::time::{sleep, Duration, Instant};

const SONNET: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
const HAIKU: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
const NOVA: &str = "amazon.nova-lite-v1:0";
const REGION: &str = "us-east-1";
const LAST_RESORT: &str = "Everything is busy: please try again in a minute.";
const FIRST_BYTE_MS: u64 = 250;
const COOL_DOWN_MS: u64 = 300;

fn settings() -> Rc<Settings> {
    let retry =
        json!({"max_attempts": 3, "base_backoff_ms": 5, "max_backoff_ms": 40, "deadline_ms": 3000});
    let timeouts = json!({"first_byte_ms": FIRST_BYTE_MS, "idle_ms": 250});
    let routes = json!({
        "default_route": "generate",
        "routes": {
            "generate": {
                "targets": [{"model": SONNET, "region": REGION}, {"model": HAIKU, "region": REGION}],
                "retry": retry, "timeouts": timeouts,
                "last_resort": {"message": LAST_RESORT}
            },
            "regions": {
                "targets": [{"model": SONNET, "region": "us-west-2"}, {"model": SONNET, "region": REGION}],
                "retry": retry, "timeouts": timeouts
            },
            "fragile": {
                "targets": [{"model": NOVA, "region": REGION}],
                "retry": {"max_attempts": 1}, "timeouts": timeouts
            }
        },
        "circuit": {"failure_threshold": 3, "cool_down_ms": COOL_DOWN_MS}
    });
    Rc::new(settings_with(
        Config::from_json(&routes.to_string()).unwrap(),
    ))
}

fn ok(text: &str) -> Reply {
    Reply::stream(body(vec![answer(&[text])], End::Close))
}

fn unavailable() -> Reply {
    Reply::error(503, "ServiceUnavailableException", "down")
}

/// One streamed chat on `route`, as the client sees it.
async fn chat(platform: &ScriptedPlatform, route: &str) -> Vec<StreamEvent> {
    let request = ChatRequest {
        messages: vec![ChatMessage::user("Tell me about resilience.")],
        ..ChatRequest::default()
    };
    let context = RequestContext::new("req-1", START_MS);
    chat_stream(
        platform.clone(),
        settings(),
        context,
        Choice::route(route),
        request,
    )
    .collect()
    .await
}

/// The models called so far, in order.
fn called(platform: &ScriptedPlatform) -> Vec<String> {
    platform
        .requests()
        .iter()
        .map(|r| {
            let model = r.url.split("/model/").nth(1).unwrap_or_default();
            model
                .split('/')
                .next()
                .unwrap_or_default()
                .replace("%3A", ":")
        })
        .collect()
}

fn meta_reason(events: &[StreamEvent]) -> String {
    match events.first() {
        Some(StreamEvent::Meta(meta)) => meta.reason.clone().unwrap_or_default(),
        other => panic!("no meta first: {other:?}"),
    }
}

fn fallbacks(events: &[StreamEvent]) -> Vec<(String, String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Fallback(f) => Some((f.from.clone(), f.to.clone(), f.reason.clone())),
            _ => None,
        })
        .collect()
}

fn key(model: &str) -> String {
    format!("{model}@{REGION}")
}

#[tokio::test(start_paused = true)]
async fn a_hang_falls_back_after_the_first_byte_timeout_without_a_retry() {
    let platform = ScriptedPlatform::new(vec![Reply::Hang, ok("from haiku")]);
    let started = Instant::now();
    let events = chat(&platform, "generate").await;
    assert_eq!(started.elapsed(), Duration::from_millis(FIRST_BYTE_MS));
    assert_eq!(called(&platform), [SONNET, HAIKU]);
    assert_eq!(
        fallbacks(&events),
        [(key(SONNET), key(HAIKU), "first_byte_timeout".into())]
    );
    let names: Vec<&str> = events.iter().map(StreamEvent::name).collect();
    assert_eq!(names, ["meta", "fallback", "delta", "done"]);
    let log = &platform.logs()[0];
    assert_eq!(
        (&log["outcome"], &log["model"]),
        (&json!("ok"), &json!(HAIKU))
    );
}

#[tokio::test(start_paused = true)]
async fn every_target_down_gives_the_last_resort_after_their_retries() {
    let platform = ScriptedPlatform::new((0..6).map(|_| unavailable()).collect());
    let events = chat(&platform, "generate").await;
    assert_eq!(
        called(&platform),
        [SONNET, SONNET, SONNET, HAIKU, HAIKU, HAIKU]
    );
    let names: Vec<&str> = events.iter().map(StreamEvent::name).collect();
    assert_eq!(names, ["meta", "fallback", "fallback", "delta", "done"]);
    assert_eq!(
        fallbacks(&events)[1],
        (
            key(HAIKU),
            "last_resort".into(),
            "service_unavailable".into()
        )
    );
    let StreamEvent::Done(done) = &events[4] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (done.stop_reason.as_str(), done.last_resort.as_deref()),
        ("last_resort", Some("message"))
    );
    assert!(matches!(&events[3], StreamEvent::Delta(d) if d.text == LAST_RESORT));
    let log = &platform.logs()[0];
    assert_eq!(
        (&log["outcome"], &log["attempts"], &log["last_resort"]),
        (&json!("last_resort"), &json!(6), &json!("message"))
    );
}

#[tokio::test(start_paused = true)]
async fn the_circuit_opens_after_repeated_failures_and_half_opens_after_the_cool_down() {
    let platform = ScriptedPlatform::new(
        [unavailable(), unavailable(), unavailable(), ok("probe ok")]
            .into_iter()
            .chain((0..4).map(|_| unavailable()))
            .collect(),
    );
    for n in 1..=3 {
        let events = chat(&platform, "fragile").await;
        assert!(
            matches!(events.last(), Some(StreamEvent::Error(e)) if e.code == ErrorCode::UpstreamUnavailable),
            "{events:?}"
        );
        assert_eq!(
            called(&platform).len(),
            n,
            "one call per request while closed"
        );
    }

    // Open: fails fast, without calling the target.
    let events = chat(&platform, "fragile").await;
    assert!(matches!(events.last(), Some(StreamEvent::Error(_))));
    assert_eq!(called(&platform).len(), 3, "no call while open");
    assert!(meta_reason(&events).contains("circuit open"), "{events:?}");
    assert_eq!(platform.logs()[3]["circuit_open"], json!([key(NOVA)]));

    // After the cool-down one probe goes through; it succeeds and closes the circuit.
    sleep(Duration::from_millis(COOL_DOWN_MS)).await;
    let events = chat(&platform, "fragile").await;
    assert!(
        matches!(events.last(), Some(StreamEvent::Done(_))),
        "{events:?}"
    );
    assert!(
        meta_reason(&events).contains("half-open probe"),
        "{events:?}"
    );
    assert_eq!(called(&platform).len(), 4);

    // A failed probe opens it again for another cool-down.
    for _ in 0..3 {
        chat(&platform, "fragile").await;
    }
    assert_eq!(called(&platform).len(), 7);
    chat(&platform, "fragile").await;
    assert_eq!(called(&platform).len(), 7, "open again: no call");
    sleep(Duration::from_millis(COOL_DOWN_MS)).await;
    chat(&platform, "fragile").await;
    assert_eq!(called(&platform).len(), 8, "three failures, then one probe");
    chat(&platform, "fragile").await;
    assert_eq!(
        called(&platform).len(),
        8,
        "the failed probe reopened the circuit"
    );
}

#[tokio::test(start_paused = true)]
async fn a_region_that_refuses_is_passed_over_and_left_out_for_a_while() {
    let platform = ScriptedPlatform::new(vec![
        Reply::error(403, "AccessDeniedException", "no access to this model"),
        ok("from the east"),
        ok("from the east again"),
    ]);
    let events = chat(&platform, "regions").await;
    assert_eq!(
        fallbacks(&events),
        [(
            format!("{SONNET}@us-west-2"),
            key(SONNET),
            "access_denied".into()
        )]
    );
    assert!(
        matches!(events.last(), Some(StreamEvent::Done(_))),
        "{events:?}"
    );
    assert_eq!(called(&platform).len(), 2, "a refusal is not retried");

    // The refusing region is left out until its cool-down has passed.
    let events = chat(&platform, "regions").await;
    assert!(matches!(events.last(), Some(StreamEvent::Done(_))));
    assert_eq!(called(&platform).len(), 3);
    assert_eq!(
        platform.logs()[1]["circuit_open"],
        json!([format!("{SONNET}@us-west-2")])
    );
}

#[tokio::test(start_paused = true)]
async fn when_every_target_refuses_the_client_hears_why_not_the_last_resort() {
    let refused = || Reply::error(403, "AccessDeniedException", "no access");
    let platform = ScriptedPlatform::new(vec![refused(), refused()]);
    let events = chat(&platform, "generate").await;
    assert_eq!(called(&platform), [SONNET, HAIKU], "each refuses once");
    assert!(
        matches!(events.last(), Some(StreamEvent::Error(e)) if e.code == ErrorCode::UpstreamAuth),
        "{events:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_probe_the_request_never_used_is_released_for_the_next_one() {
    let platform = ScriptedPlatform::new(
        (0..3)
            .map(|_| unavailable())
            .chain([ok("probe ok")])
            .collect(),
    );
    for _ in 0..3 {
        chat(&platform, "fragile").await;
    }
    sleep(Duration::from_millis(COOL_DOWN_MS)).await;

    // This request is granted the probe, and its client leaves before the call is made.
    let request = ChatRequest {
        messages: vec![ChatMessage::user("Hello?")],
        ..ChatRequest::default()
    };
    let context = RequestContext::new("req-left", START_MS);
    let mut stream = Box::pin(chat_stream(
        platform.clone(),
        settings(),
        context,
        Choice::route("fragile"),
        request,
    ));
    let meta = stream.next().await;
    assert!(
        meta_reason(&[meta.unwrap()]).contains("half-open probe"),
        "the leaving request held the probe"
    );
    drop(stream);
    assert_eq!(called(&platform).len(), 3);

    // The next request gets the probe at once, not a cool-down later.
    let events = chat(&platform, "fragile").await;
    assert!(
        matches!(events.last(), Some(StreamEvent::Done(_))),
        "{events:?}"
    );
    assert_eq!(called(&platform).len(), 4);
}
