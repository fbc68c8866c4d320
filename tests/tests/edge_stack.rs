//! End-to-end tests of the Worker under `wrangler dev` against the fake Bedrock: one stack is
//! started for the whole file (a second one where a test needs other Worker settings).
//! Needs the built Worker and front end (`scripts/test` builds them first).

use libtest_mimic::Arguments;
use shared::{ChatMessage, ChatRequest, ErrorBody, ErrorCode, StreamEvent};
use std::{sync::Arc, time::Duration};
use tests::{
    access_issuer::{AccessIssuer, KEY_ID},
    client::{chat, chat_raw, ChatOutcome},
    fake_bedrock::{reply_text, FakeBedrock, FakeConfig, Fault, FaultRule},
    harness::{self, case, check, StackWorld},
    stack::{Stack, StackOptions, Upstream, WorkerRuntime},
};
use tokio::runtime::Runtime;

const LIMIT: Duration = Duration::from_secs(30);
const GENERATE_MODEL: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";

struct World {
    runtime: Runtime,
    stack: Stack,
}

impl StackWorld for World {
    fn runtime(&self) -> &Runtime {
        &self.runtime
    }
    fn stack(&self) -> &Stack {
        &self.stack
    }
}

impl World {
    /// The fake Bedrock every stack of these tests calls.
    fn fake(&self) -> anyhow::Result<&FakeBedrock> {
        self.stack
            .fake
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no fake"))
    }

    /// Another stack on the same fake Bedrock (with its credentials), on `runtime`, with more
    /// Worker `vars` and the Durable Object bindings in `hanging_objects` never answering.
    async fn second_stack(
        &self,
        runtime: WorkerRuntime,
        vars: Vec<(String, String)>,
        hanging_objects: Vec<&'static str>,
    ) -> anyhow::Result<Stack> {
        let config = FakeConfig::default();
        Stack::start(StackOptions {
            runtime,
            port: 0,
            upstream: Upstream::Aws(vec![
                ("BEDROCK_ENDPOINT".into(), self.fake()?.url()),
                ("AWS_ACCESS_KEY_ID".into(), config.access_key_id),
                ("AWS_SECRET_ACCESS_KEY".into(), config.secret_access_key),
            ]),
            vars,
            inherit_output: false,
            hanging_objects,
        })
        .await
    }
}

fn main() -> anyhow::Result<()> {
    let args = Arguments::from_args();
    let runtime = Runtime::new()?;
    let stack = runtime.block_on(Stack::start(StackOptions {
        runtime: WorkerRuntime::WranglerDev,
        port: 0,
        upstream: Upstream::Fake { port: 0 },
        vars: vec![],
        inherit_output: false,
        hanging_objects: Vec::new(),
    }))?;
    let world = Arc::new(World { runtime, stack });
    let trials = vec![
        case(
            &world,
            "streams_the_answer_token_by_token",
            streams_the_answer_token_by_token,
        ),
        case(
            &world,
            "invalid_json_is_a_400_naming_the_problem",
            invalid_json_is_a_400_naming_the_problem,
        ),
        case(
            &world,
            "an_oversized_body_is_refused_with_413_without_being_buffered",
            an_oversized_body_is_refused_with_413_without_being_buffered,
        ),
        case(
            &world,
            "invalid_fields_are_a_400_naming_the_field",
            invalid_fields_are_a_400_naming_the_field,
        ),
        case(
            &world,
            "wrong_secret_ends_in_a_clear_error",
            wrong_secret_ends_in_a_clear_error,
        ),
        case(
            &world,
            "a_misconfigured_edge_says_so_without_its_configuration",
            a_misconfigured_edge_says_so_without_its_configuration,
        ),
        case(
            &world,
            "a_spent_token_budget_refuses_the_client_before_bedrock",
            a_spent_token_budget_refuses_the_client_before_bedrock,
        ),
        case(
            &world,
            "behind_cloudflare_access_only_verified_assertions_chat",
            behind_cloudflare_access_only_verified_assertions_chat,
        ),
        case(
            &world,
            "hanging_durable_objects_slow_nothing_down",
            hanging_durable_objects_slow_nothing_down,
        ),
        case(
            &world,
            "a_stop_sequence_ends_the_answer_where_the_model_would_write_it",
            a_stop_sequence_ends_the_answer_where_the_model_would_write_it,
        ),
        case(
            &world,
            "an_image_and_a_document_reach_the_model_and_bad_bytes_do_not",
            an_image_and_a_document_reach_the_model_and_bad_bytes_do_not,
        ),
        case(
            &world,
            "the_chat_ui_is_served_at_the_root",
            the_chat_ui_is_served_at_the_root,
        ),
        case(
            &world,
            "a_burst_over_the_rate_limit_is_refused_before_bedrock",
            a_burst_over_the_rate_limit_is_refused_before_bedrock,
        ),
        case(
            &world,
            "the_circuit_opens_in_the_durable_object_and_fails_fast",
            the_circuit_opens_in_the_durable_object_and_fails_fast,
        ),
    ];
    harness::run(args, world, trials)
}

fn ask(prompt: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage::user(prompt)],
        ..ChatRequest::default()
    }
}

async fn streams_the_answer_token_by_token(world: Arc<World>) -> anyhow::Result<()> {
    let prompt = "Tell me about streaming.";
    let outcome = chat(&world.stack.url, "/api/chat", &ask(prompt), LIMIT).await?;
    let ChatOutcome::Stream { status, events } = &outcome else {
        anyhow::bail!("no stream: {outcome:?}")
    };
    check(*status == 200, || format!("status {status}"))?;
    let Some(StreamEvent::Meta(meta)) = events.first().map(|t| &t.event) else {
        anyhow::bail!("first event is not meta: {events:?}")
    };
    check(
        meta.route == "generate" && meta.model == GENERATE_MODEL,
        || format!("meta {meta:?}"),
    )?;
    let expected = reply_text(&meta.model, &meta.region, prompt);
    check(outcome.text() == expected, || {
        format!("text {:?} != {expected:?}", outcome.text())
    })?;
    let deltas: Vec<_> = events
        .iter()
        .filter(|t| matches!(t.event, StreamEvent::Delta(_)))
        .collect();
    check(deltas.len() >= 5, || {
        format!("only {} deltas", deltas.len())
    })?;
    // The fake waits between frames; a buffering edge would deliver every delta at once.
    let (first, last) = (deltas[0].at, deltas[deltas.len() - 1].at);
    check(last - first >= Duration::from_millis(60), || {
        format!("deltas arrived together: {first:?}..{last:?}")
    })?;
    let terminals = events.iter().filter(|t| t.event.is_terminal()).count();
    check(terminals == 1, || format!("{terminals} terminal events"))?;
    match outcome.terminal() {
        Some(StreamEvent::Done(done)) => {
            check(done.usage.output_tokens as usize == deltas.len(), || {
                format!("{done:?}")
            })
        }
        other => anyhow::bail!("stream did not end with done: {other:?}"),
    }
}

async fn invalid_json_is_a_400_naming_the_problem(world: Arc<World>) -> anyhow::Result<()> {
    for (body, expected) in [
        (&b"{not json"[..], "key must be a string"),
        (
            br#"{"messages":[{"role":"user","content":"hi"}],"model":"x"}"#,
            "unknown field `model`",
        ),
    ] {
        let outcome = chat_raw(
            &world.stack.url,
            "/api/chat",
            "application/json",
            body.to_vec(),
            LIMIT,
        )
        .await?;
        let ChatOutcome::Refused { status, error } = outcome else {
            anyhow::bail!("expected a refusal: {outcome:?}")
        };
        check(
            status == 400 && error.error.code == ErrorCode::InvalidJson,
            || format!("{status} {error:?}"),
        )?;
        check(error.error.message.contains(expected), || {
            format!("message {:?} lacks {expected:?}", error.error.message)
        })?;
    }
    Ok(())
}

/// Bodies over the limit get the JSON 413 without being read: one declares 16 MiB in its
/// `Content-Length` and sends none of it, one streams chunks with no length and never ends.
/// An edge that waited for either body to end would never answer. On Miniflare, the runtime
/// `wrangler dev` drives: wrangler's own dev proxy in front of it reads whole request bodies
/// before the Worker sees them, which a deployed Worker does not do.
async fn an_oversized_body_is_refused_with_413_without_being_buffered(
    _world: Arc<World>,
) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stack = Stack::start(StackOptions {
        runtime: WorkerRuntime::Miniflare,
        port: 0,
        upstream: Upstream::Fake { port: 0 },
        vars: vec![],
        inherit_output: false,
        hanging_objects: Vec::new(),
    })
    .await?;
    let host = stack.url.trim_start_matches("http://").to_owned();
    let head = |framing: &str| {
        format!(
            "POST /api/chat HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             {framing}\r\nConnection: close\r\n\r\n"
        )
    };
    let chunk = [
        format!("{:x}\r\n", 65_536).into_bytes(),
        vec![b' '; 65_536],
        b"\r\n".to_vec(),
    ]
    .concat();
    let cases = [
        ("declared", head("Content-Length: 16777216").into_bytes()),
        (
            "streamed",
            [
                head("Transfer-Encoding: chunked").into_bytes(),
                chunk.repeat(170),
            ]
            .concat(),
        ),
    ];
    for (name, request) in cases {
        let socket = tokio::net::TcpStream::connect(&host).await?;
        let (mut reader, mut writer) = socket.into_split();
        // The writer may block once the edge stops reading: it runs on its own.
        let writing = tokio::spawn(async move {
            let _ = writer.write_all(&request).await;
            writer
        });
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        let read = tokio::time::timeout(LIMIT, async {
            while !String::from_utf8_lossy(&answer).contains("}}") {
                let n = reader.read(&mut buffer).await?;
                if n == 0 {
                    break;
                }
                answer.extend_from_slice(&buffer[..n]);
            }
            Ok::<_, std::io::Error>(())
        })
        .await;
        writing.abort();
        check(read.is_ok(), || {
            format!("{name}: no answer within {LIMIT:?}")
        })?;
        let answer = String::from_utf8_lossy(&answer);
        check(
            answer.starts_with("HTTP/1.1 413") && answer.contains(r#""code":"payload_too_large""#),
            || format!("{name}: {answer}"),
        )?;
    }
    Ok(())
}

async fn invalid_fields_are_a_400_naming_the_field(world: Arc<World>) -> anyhow::Result<()> {
    let cases = [
        (ChatRequest::default(), "messages"),
        (
            ChatRequest {
                temperature: Some(3.0),
                ..ask("hi")
            },
            "temperature",
        ),
        (
            ChatRequest {
                route: Some("nope".into()),
                ..ask("hi")
            },
            "route",
        ),
        (
            ChatRequest {
                messages: vec![ChatMessage::assistant("hi")],
                ..ChatRequest::default()
            },
            "messages[0].role",
        ),
    ];
    for (request, field) in cases {
        let outcome = chat(&world.stack.url, "/api/chat", &request, LIMIT).await?;
        let ChatOutcome::Refused { status, error } = outcome else {
            anyhow::bail!("expected a refusal for {field}: {outcome:?}")
        };
        check(
            status == 400 && error.error.code == ErrorCode::InvalidRequest,
            || format!("{field}: {status} {error:?}"),
        )?;
        check(error.error.message.starts_with(field), || {
            format!("message {:?} does not name {field}", error.error.message)
        })?;
    }
    Ok(())
}

async fn wrong_secret_ends_in_a_clear_error(world: Arc<World>) -> anyhow::Result<()> {
    let fake = world.fake()?;
    let wrong_secret = "not-the-secret-the-fake-expects";
    let misconfigured = Stack::start(StackOptions {
        runtime: WorkerRuntime::WranglerDev,
        port: 0,
        upstream: Upstream::Aws(vec![
            ("BEDROCK_ENDPOINT".into(), fake.url()),
            (
                "AWS_ACCESS_KEY_ID".into(),
                FakeConfig::default().access_key_id,
            ),
            ("AWS_SECRET_ACCESS_KEY".into(), wrong_secret.into()),
        ]),
        vars: vec![],
        inherit_output: false,
        hanging_objects: Vec::new(),
    })
    .await?;
    let outcome = chat(&misconfigured.url, "/api/chat", &ask("hello"), LIMIT).await?;
    let log = misconfigured.log();
    drop(misconfigured);
    let Some(StreamEvent::Error(error)) = outcome.terminal() else {
        anyhow::bail!("expected an error event: {outcome:?}")
    };
    check(
        error.code == ErrorCode::UpstreamAuth && !error.retryable,
        || format!("{error:?}"),
    )?;
    check(error.message.contains("credentials"), || {
        format!("unclear message {:?}", error.message)
    })?;
    check(
        !format!("{outcome:?}").contains(wrong_secret) && !log.contains(wrong_secret),
        || "the secret leaked into the answer or the log".into(),
    )
}

/// A broken `ROUTES` answers every API call with a 500 that says the edge is misconfigured,
/// and nothing of the configuration: the detail is in the operator's log.
async fn a_misconfigured_edge_says_so_without_its_configuration(
    _world: Arc<World>,
) -> anyhow::Result<()> {
    let broken = r#"{"routes": {"internal-arn-route": {"targets": 5}}}"#;
    let misconfigured = Stack::start(StackOptions {
        runtime: WorkerRuntime::Miniflare,
        port: 0,
        upstream: Upstream::Fake { port: 0 },
        vars: vec![("ROUTES".into(), broken.into())],
        inherit_output: false,
        hanging_objects: Vec::new(),
    })
    .await?;
    let response = reqwest::Client::new()
        .post(format!("{}/api/chat", misconfigured.url))
        .json(&ask("hello"))
        .send()
        .await?;
    let status = response.status().as_u16();
    let body = response.text().await?;
    let log = misconfigured.log();
    drop(misconfigured);
    let error: ErrorBody = serde_json::from_str(&body)?;
    check(
        status == 500 && error.error.code == ErrorCode::Internal,
        || format!("{status} {body}"),
    )?;
    check(
        !body.contains("ROUTES")
            && !body.contains("internal-arn-route")
            && !body.contains("targets"),
        || format!("the configuration reached the client: {body}"),
    )?;
    check(
        log.contains("config_error") && log.contains("ROUTES"),
        || "the operator's log lacks the detail".into(),
    )
}

/// A budget of one token: the first answer spends it (charged through the client's Durable
/// Object once the answer ends), and from then on the client is refused before Bedrock.
async fn a_spent_token_budget_refuses_the_client_before_bedrock(
    world: Arc<World>,
) -> anyhow::Result<()> {
    let fake = world.fake()?;
    let model = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
    let routes = format!(
        r#"{{"default_route": "generate",
            "routes": {{"generate": {{"targets": [{{"model": "{model}", "region": "us-east-1"}}]}}}},
            "token_budget": {{"tokens": 1, "period_s": 3600}}}}"#
    );
    let stack = world
        .second_stack(
            WorkerRuntime::WranglerDev,
            vec![("ROUTES".into(), routes)],
            Vec::new(),
        )
        .await?;
    let before = fake.calls(model);
    let first = chat(&stack.url, "/api/chat", &ask("spend it"), LIMIT).await?;
    check(
        matches!(first.terminal(), Some(StreamEvent::Done(_))),
        || format!("{first:?}"),
    )?;
    // The charge is written after the answer (waitUntil): give it a moment to land.
    let client = reqwest::Client::new();
    let mut refused = None;
    for _ in 0..50 {
        let response = client
            .post(format!("{}/api/chat", stack.url))
            .json(&ask("and more"))
            .timeout(LIMIT)
            .send()
            .await?;
        if response.status() == 429 {
            refused = Some(response.json::<ErrorBody>().await?);
            break;
        }
        response.bytes().await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = refused.ok_or_else(|| anyhow::anyhow!("the budget never ran out"))?;
    check(
        refused.error.code == ErrorCode::RateLimited
            && refused.error.message.starts_with("Token budget spent"),
        || format!("{refused:?}"),
    )?;
    let calls = fake.calls(model);
    let again = client
        .post(format!("{}/api/chat", stack.url))
        .json(&ask("once more"))
        .timeout(LIMIT)
        .send()
        .await?;
    check(again.status() == 429, || format!("{}", again.status()))?;
    check(fake.calls(model) == calls && calls > before, || {
        "a refused client reached Bedrock".into()
    })
}

/// `ACCESS_MODE=cloudflare_access` against a stand-in team serving its key set: Web Crypto in
/// workerd checks each assertion's RS256 signature, and only a good one for this application
/// chats.
async fn behind_cloudflare_access_only_verified_assertions_chat(
    world: Arc<World>,
) -> anyhow::Result<()> {
    let issuer = AccessIssuer::new()?;
    let team = issuer.serve().await?;
    let vars = vec![
        ("ACCESS_MODE".into(), "cloudflare_access".into()),
        ("ACCESS_TEAM_DOMAIN".into(), team.clone()),
        ("ACCESS_AUD".into(), "aud-e2e".into()),
    ];
    let stack = world
        .second_stack(WorkerRuntime::Miniflare, vars, Vec::new())
        .await?;
    let now = tests::wall_clock::now_ms() / 1000;
    let claims = |aud: &str, email: &str| serde_json::json!({"iss": team, "aud": [aud], "exp": now + 600, "iat": now, "email": email});
    let good = issuer.sign(KEY_ID, &claims("aud-e2e", "ana@example.com"));
    let other_app = issuer.sign(KEY_ID, &claims("another-app", "ana@example.com"));
    // The signature of one set of claims on another: the payload was changed.
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged_claims = issuer.sign(KEY_ID, &claims("aud-e2e", "eve@example.com"));
    let eve_payload = forged_claims.split('.').nth(1).unwrap_or_default();
    parts[1] = eve_payload;
    let tampered = parts.join(".");
    let client = reqwest::Client::new();
    let status_with = |assertion: Option<String>| {
        let client = client.clone();
        let url = format!("{}/api/chat", stack.url);
        async move {
            let mut request = client.post(url).json(&ask("who am I?")).timeout(LIMIT);
            if let Some(assertion) = assertion {
                request = request.header("cf-access-jwt-assertion", assertion);
            }
            let response = request.send().await?;
            let status = response.status().as_u16();
            let body = response.text().await?;
            Ok::<_, anyhow::Error>((status, body))
        }
    };
    for (what, assertion) in [
        ("no assertion", None),
        ("another application's", Some(other_app)),
        ("a changed payload", Some(tampered)),
    ] {
        let (status, body) = status_with(assertion).await?;
        check(status == 401 && body.contains("unauthorized"), || {
            format!("{what}: {status} {body}")
        })?;
    }
    let (status, body) = status_with(Some(good)).await?;
    drop(stack);
    check(status == 200 && body.contains("event: done"), || {
        format!("a good assertion: {status} {body}")
    })
}

/// The health and budget objects never answer: every call to them is given up after its
/// bound, planning goes on with what the isolate knows, and chat and `/api/health` answer.
async fn hanging_durable_objects_slow_nothing_down(world: Arc<World>) -> anyhow::Result<()> {
    let stack = world
        .second_stack(
            WorkerRuntime::Miniflare,
            Vec::new(),
            vec!["HEALTH", "BUDGETS"],
        )
        .await?;
    for _ in 0..2 {
        let outcome = chat(&stack.url, "/api/chat", &ask("still there?"), LIMIT).await?;
        check(
            matches!(outcome.terminal(), Some(StreamEvent::Done(_))),
            || format!("{outcome:?}"),
        )?;
    }
    let health = reqwest::Client::new()
        .get(format!("{}/api/health", stack.url))
        .timeout(LIMIT)
        .send()
        .await?;
    check(health.status() == 200, || {
        format!("/api/health: {}", health.status())
    })?;
    let log = stack.log();
    check(
        log.contains("HEALTH object did not answer within 500 ms")
            && log.contains("BUDGETS object did not answer within 500 ms"),
        || format!("no sign of the bounded calls in the log:\n{log}"),
    )
}

/// `stop_sequences` and `top_p` reach Bedrock's `inferenceConfig`: the answer ends before the
/// first stop sequence, and says so.
async fn a_stop_sequence_ends_the_answer_where_the_model_would_write_it(
    world: Arc<World>,
) -> anyhow::Result<()> {
    let request = ChatRequest {
        top_p: Some(0.9),
        stop_sequences: Some(vec!["said".into()]),
        ..ask("where do you stop?")
    };
    let outcome = chat(&world.stack.url, "/api/chat", &request, LIMIT).await?;
    let Some(StreamEvent::Done(done)) = outcome.terminal() else {
        anyhow::bail!("no done: {outcome:?}")
    };
    check(done.stop_reason == "stop_sequence", || format!("{done:?}"))?;
    let text = outcome.text();
    check(text.ends_with("You ") && !text.contains("said"), || {
        format!("the answer went on: {text:?}")
    })
}

/// Content blocks in Converse's shape: an image and a document reach Bedrock as they were
/// sent (the fake's answer names what it was given), and bytes that are not base64 are a
/// 400 naming the block, before any Bedrock call.
async fn an_image_and_a_document_reach_the_model_and_bad_bytes_do_not(
    world: Arc<World>,
) -> anyhow::Result<()> {
    use base64::{engine::general_purpose::STANDARD, Engine};
    const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let png_len = STANDARD.decode(PNG)?.len();
    let ask_with = |block: serde_json::Value| -> anyhow::Result<ChatRequest> {
        Ok(serde_json::from_value(serde_json::json!({"messages": [
            {"role": "user", "content": [{"text": "What is this?"}, block]}
        ]}))?)
    };
    let image = serde_json::json!({"image": {"format": "png", "source": {"bytes": PNG}}});
    let document = serde_json::json!({"document": {
        "format": "txt", "name": "Notes (v2)", "source": {"bytes": STANDARD.encode("hello")}
    }});
    let mut model = String::new();
    for (block, seen) in [
        (image, format!("[image: png, {png_len} bytes]")),
        (document, "[document: Notes (v2), 5 bytes]".to_owned()),
    ] {
        let outcome = chat(&world.stack.url, "/api/chat", &ask_with(block)?, LIMIT).await?;
        if let Some(StreamEvent::Meta(meta)) = outcome.events().first() {
            model.clone_from(&meta.model);
        }
        check(
            matches!(outcome.terminal(), Some(StreamEvent::Done(_))),
            || format!("{outcome:?}"),
        )?;
        check(outcome.text().contains(&seen), || {
            format!("the model was not given {seen}: {:?}", outcome.text())
        })?;
    }
    let fake = world.fake()?;
    let before = fake.calls(&model);
    let bad = serde_json::json!({"image": {"format": "png", "source": {"bytes": "not base64!"}}});
    let outcome = chat(&world.stack.url, "/api/chat", &ask_with(bad)?, LIMIT).await?;
    let ChatOutcome::Refused { status, error } = outcome else {
        anyhow::bail!("expected a refusal: {outcome:?}")
    };
    check(
        status == 400
            && error.error.field.as_deref() == Some("messages[0].content[1].image.source.bytes"),
        || format!("{status} {error:?}"),
    )?;
    check(fake.calls(&model) == before, || {
        "a refused body reached Bedrock".into()
    })
}

async fn the_chat_ui_is_served_at_the_root(world: Arc<World>) -> anyhow::Result<()> {
    let response = reqwest::get(format!("{}/", world.stack.url)).await?;
    check(response.status() == 200, || {
        format!("status {}", response.status())
    })?;
    let html = response.text().await?;
    check(html.contains(".wasm") || html.contains("frontend"), || {
        format!("not the app page: {html:.200}")
    })
}

/// Routes for the platform-feature tests: a strictly rate-limited route, and a fragile one
/// whose circuit opens after two failures.
const PLATFORM_ROUTES: &str = r#"{
  "default_route": "strict",
  "routes": {
    "strict": {
      "targets": [{"model": "us.anthropic.claude-3-5-haiku-20241022-v1:0", "region": "us-east-1"}],
      "rate_limit": "strict"
    },
    "fragile": {
      "targets": [{"model": "us.anthropic.claude-opus-4-20250514-v1:0", "region": "us-east-1"}],
      "retry": {"max_attempts": 1, "base_backoff_ms": 10, "max_backoff_ms": 10, "deadline_ms": 5000},
      "last_resort": {"message": "The assistant is busy; try again soon."},
      "rate_limit": "chat"
    }
  },
  "rate_limits": {"strict": {"limit": 3, "period_s": 10}, "chat": {"limit": 60, "period_s": 60}},
  "circuit": {"failure_threshold": 2, "cool_down_ms": 60000, "window": 20}
}"#;

/// A second stack on the same fake Bedrock with [`PLATFORM_ROUTES`].
async fn platform_stack(world: &World) -> anyhow::Result<Stack> {
    let vars = vec![("ROUTES".into(), PLATFORM_ROUTES.to_owned())];
    world
        .second_stack(WorkerRuntime::WranglerDev, vars, Vec::new())
        .await
}

async fn a_burst_over_the_rate_limit_is_refused_before_bedrock(
    world: Arc<World>,
) -> anyhow::Result<()> {
    let fake = world.fake()?;
    let model = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
    let stack = platform_stack(&world).await?;
    let before = fake.calls(model);
    let client = reqwest::Client::new();
    start_early_in_a_rate_limit_window().await;
    let mut statuses = Vec::new();
    let mut refusal = None;
    for _ in 0..6 {
        let response = client
            .post(format!("{}/api/chat", stack.url))
            .json(&ask("count me"))
            .timeout(LIMIT)
            .send()
            .await?;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body: shared::ErrorBody = response.json().await?;
            refusal = Some((retry_after, body));
        } else {
            response.bytes().await?;
        }
    }
    let allowed = statuses.iter().filter(|s| **s == 200).count() as u32;
    check(statuses == [200, 200, 200, 429, 429, 429], || {
        format!("statuses {statuses:?}")
    })?;
    let (retry_after, body) = refusal.ok_or_else(|| anyhow::anyhow!("no 429"))?;
    check(
        retry_after
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|s| s > 0),
        || format!("Retry-After {retry_after:?}"),
    )?;
    check(body.error.code == ErrorCode::RateLimited, || {
        format!("{body:?}")
    })?;
    // Refused requests never reached Bedrock.
    check(fake.calls(model) - before == allowed, || {
        format!(
            "{} upstream calls for {allowed} allowed",
            fake.calls(model) - before
        )
    })
}

/// The rate-limiting binding counts in fixed windows of `period_s` aligned to the Unix epoch
/// (as wrangler's local runtime implements it), so a burst that straddles a boundary may pass
/// twice the limit. Waits, if need be, so that the burst starts early in a window.
async fn start_early_in_a_rate_limit_window() {
    const WINDOW_MS: u64 = 10_000;
    let into_window = tests::wall_clock::now_ms() % WINDOW_MS;
    if into_window > WINDOW_MS / 2 {
        tokio::time::sleep(Duration::from_millis(WINDOW_MS - into_window + 100)).await;
    }
}

async fn the_circuit_opens_in_the_durable_object_and_fails_fast(
    world: Arc<World>,
) -> anyhow::Result<()> {
    let fake = world.fake()?;
    let model = "us.anthropic.claude-opus-4-20250514-v1:0";
    fake.set_fault(FaultRule::new(model, Fault::Unavailable))?;
    let stack = platform_stack(&world).await?;
    let fragile = ChatRequest {
        route: Some("fragile".into()),
        ..ask("are you there?")
    };
    let before = fake.calls(model);
    for attempt in 0..2 {
        let outcome = chat(&stack.url, "/api/chat", &fragile, LIMIT).await?;
        check(
            matches!(outcome.terminal(), Some(StreamEvent::Done(ref d)) if d.last_resort.is_some()),
            || format!("attempt {attempt}: expected the last resort: {outcome:?}"),
        )?;
    }
    check(fake.calls(model) - before == 2, || {
        format!(
            "{} calls before the circuit opened",
            fake.calls(model) - before
        )
    })?;
    let health: shared::health::HealthResponse = reqwest::get(format!("{}/api/health", stack.url))
        .await?
        .json()
        .await?;
    let target = health
        .targets
        .iter()
        .find(|t| t.model == model)
        .ok_or_else(|| anyhow::anyhow!("{health:?}"))?;
    check(target.circuit == "open", || {
        format!("circuit {:?}", target.circuit)
    })?;
    // Open: the next request is answered from the last resort without calling Bedrock.
    let outcome = chat(&stack.url, "/api/chat", &fragile, LIMIT).await?;
    let calls = fake.calls(model) - before;
    fake.reset();
    check(
        matches!(outcome.terminal(), Some(StreamEvent::Done(ref d)) if d.last_resort.is_some()),
        || format!("{outcome:?}"),
    )?;
    check(calls == 2, || {
        format!("an open circuit still called Bedrock ({calls} calls)")
    })
}
