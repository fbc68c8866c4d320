//! The harness of `edge_core_faults`: an edge on the native platform with its own fake
//! Bedrock, the requests of each operation, what the client saw, and the checks on it.

use anyhow::{bail, ensure, Context};
use edge::{
    config::settings::Settings,
    http::{ApiBody, ApiRequest, ApiResponse, Edge},
};
use futures::{stream, StreamExt};
use serde_json::{json, Value};
use shared::{sse::SseParser, ErrorBody, ErrorCode, StreamEvent};
use std::{collections::HashMap, future::Future, pin::Pin};
use tests::{
    fake_bedrock::{reply_text, FakeBedrock, FakeConfig},
    native_platform::NativePlatform,
};

pub const PROMPT: &str = "What is an edge worker?";
/// Both upstream timeouts of the edge under test.
pub const TIMEOUT_MS: u64 = 500;
/// Cases run at once (each is mostly waiting).
pub const PARALLEL: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    ChatStream,
    ChatOnce,
    InvokeStream,
    InvokeOnce,
}

pub const OPS: [Op; 4] = [
    Op::ChatStream,
    Op::ChatOnce,
    Op::InvokeStream,
    Op::InvokeOnce,
];

impl Op {
    pub fn streaming(self) -> bool {
        matches!(self, Self::ChatStream | Self::InvokeStream)
    }
}

/// Credentials and model of one edge, pointed at its own fake.
pub struct World {
    pub fake: FakeBedrock,
    pub edge: Edge<NativePlatform>,
    pub platform: NativePlatform,
}

impl World {
    /// A fake, and an edge with one route `m` to `model` in `region`, no retries, and the
    /// given credential variables.
    pub async fn start(
        model: &str,
        region: &str,
        credentials: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let config = FakeConfig {
            token_delay_ms: 5,
            ..FakeConfig::default()
        };
        let fake = FakeBedrock::start(config, 0).await?;
        let route = json!({
            "description": "under test",
            "targets": [{ "model": model, "region": region }],
            "retry": { "max_attempts": 1 },
        });
        let routes = json!({ "default_route": "m", "routes": { "m": route } }).to_string();
        let timeout = TIMEOUT_MS.to_string();
        let vars: HashMap<String, String> = [
            ("BEDROCK_ENDPOINT", fake.url().as_str()),
            ("ROUTES", routes.as_str()),
            ("UPSTREAM_FIRST_BYTE_TIMEOUT_MS", timeout.as_str()),
            ("UPSTREAM_IDLE_TIMEOUT_MS", timeout.as_str()),
        ]
        .iter()
        .chain(credentials)
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
        let settings = Settings::from_lookup(|name| vars.get(name).cloned())?;
        let platform = NativePlatform::default();
        Ok(Self {
            edge: Edge::new(settings, platform.clone()),
            fake,
            platform,
        })
    }

    /// With the fake's default access keys.
    pub async fn signed(model: &str, region: &str) -> anyhow::Result<Self> {
        let defaults = FakeConfig::default();
        let keys = [
            ("AWS_ACCESS_KEY_ID", defaults.access_key_id.as_str()),
            ("AWS_SECRET_ACCESS_KEY", defaults.secret_access_key.as_str()),
        ];
        Self::start(model, region, &keys).await
    }

    /// Adds a fault rule through the fake's HTTP control API.
    pub async fn fault(&self, model: &str, fault: &Value) -> anyhow::Result<()> {
        reqwest::Client::new()
            .post(format!("{}/_fake/faults", self.fake.url()))
            .json(&json!({ "model": model, "fault": fault }))
            .send()
            .await?
            .error_for_status()
            .context("the fake refused the fault rule")?;
        Ok(())
    }

    /// Sends one request for `op` to the edge; `model` decides the native body's format.
    pub async fn run(&self, op: Op, model: &str) -> anyhow::Result<Outcome> {
        let chat = |stream: bool| {
            let mut body = json!({ "messages": [{ "role": "user", "content": PROMPT }] });
            if !stream {
                body["stream"] = json!(false);
            }
            body
        };
        let native = if model.contains("nova") {
            json!({ "messages": [{ "role": "user", "content": [{ "text": PROMPT }] }],
                "inferenceConfig": { "maxTokens": 200 } })
        } else {
            json!({ "anthropic_version": "bedrock-2023-05-31", "max_tokens": 200,
                "messages": [{ "role": "user", "content": PROMPT }] })
        };
        let (path, query, body) = match op {
            Op::ChatStream => ("/api/chat", "", chat(true)),
            Op::ChatOnce => ("/api/chat", "", chat(false)),
            Op::InvokeStream => ("/api/invoke/m", "stream=true", native),
            Op::InvokeOnce => ("/api/invoke/m", "", native),
        };
        let request = ApiRequest {
            method: "POST".into(),
            path: path.into(),
            query: query.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
            ..ApiRequest::default()
        };
        Outcome::read(self.edge.handle(request).await).await
    }
}

/// What the client saw.
#[derive(Debug)]
pub struct Outcome {
    pub status: u16,
    /// The SSE events, for a stream.
    pub events: Vec<StreamEvent>,
    /// The JSON body, for a whole answer or a refusal.
    pub json: Option<Value>,
    /// Everything the client received, headers included.
    pub raw: String,
}

impl Outcome {
    pub async fn read(response: ApiResponse) -> anyhow::Result<Self> {
        let (status, mut raw) = (response.status, format!("{:?}", response.headers));
        ensure!(response.header("x-request-id").is_some(), "no x-request-id");
        let (events, json) = match response.body {
            ApiBody::Sse(stream) => {
                let wire: String = stream.collect::<Vec<_>>().await.concat();
                raw.push_str(&wire);
                let mut events = Vec::new();
                for event in SseParser::new().push(wire.as_bytes()) {
                    match event.parse() {
                        Some(parsed) => events.push(parsed?),
                        None => bail!("unknown event {event:?}"),
                    }
                }
                check_well_formed(&events)?;
                (events, None)
            }
            ApiBody::Json(text) => {
                raw.push_str(&text);
                (Vec::new(), Some(serde_json::from_str(&text)?))
            }
            ApiBody::Empty => bail!("empty body"),
        };
        Ok(Self {
            status,
            events,
            json,
            raw,
        })
    }

    pub fn deltas(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Delta(_)))
            .count()
    }

    /// The answer text: the deltas, the chat answer's `text`, or the native body's text.
    pub fn text(&self) -> String {
        let Some(json) = &self.json else {
            return self
                .events
                .iter()
                .filter_map(|e| match e {
                    StreamEvent::Delta(d) => Some(d.text.as_str()),
                    _ => None,
                })
                .collect();
        };
        let found = ["/text", "/content/0/text", "/output/message/content/0/text"]
            .iter()
            .find_map(|pointer| json.pointer(pointer).and_then(Value::as_str));
        found.unwrap_or_default().to_owned()
    }

    /// The error code, and for streams the retryable flag.
    pub fn error(&self) -> Option<(ErrorCode, Option<bool>)> {
        match (&self.json, self.events.last()) {
            (None, Some(StreamEvent::Error(e))) => Some((e.code, Some(e.retryable))),
            (Some(json), _) if self.status != 200 => {
                serde_json::from_value::<ErrorBody>(json.clone())
                    .ok()
                    .map(|b| (b.error.code, None))
            }
            _ => None,
        }
    }
}

/// `meta` first, exactly one terminal event, and it is last.
pub fn check_well_formed(events: &[StreamEvent]) -> anyhow::Result<()> {
    ensure!(
        matches!(events.first(), Some(StreamEvent::Meta(_))),
        "no meta first: {events:?}"
    );
    let terminals = events.iter().filter(|e| e.is_terminal()).count();
    ensure!(terminals == 1, "{terminals} terminal events: {events:?}");
    ensure!(
        events.last().is_some_and(StreamEvent::is_terminal),
        "terminal not last: {events:?}"
    );
    Ok(())
}

/// No credential of the fake in anything the client got or the edge logged.
pub fn check_no_secrets(world: &World, outcome: &Outcome, secrets: &[&str]) -> anyhow::Result<()> {
    let logs = world.platform.logs().join("\n");
    for secret in secrets {
        ensure!(
            !outcome.raw.contains(secret),
            "the response leaks a secret: {}",
            outcome.raw
        );
        ensure!(!logs.contains(secret), "the logs leak a secret: {logs}");
    }
    Ok(())
}

pub const SECRETS: [&str; 2] = ["fake-bedrock-secret-key", "fake-bedrock-api-key"];

/// How a case ends for the client.
#[derive(Debug, Clone, Copy)]
pub enum End {
    /// The whole answer, as the fake gives it.
    Answer,
    /// Streams: `deltas` deltas then an `error` event with `code` and `retryable`. Whole
    /// answers: HTTP `status` with `code`.
    Fail {
        deltas: usize,
        code: ErrorCode,
        retryable: bool,
        status: u16,
    },
}

pub fn fail(code: ErrorCode, retryable: bool, status: u16) -> End {
    End::Fail {
        deltas: 0,
        code,
        retryable,
        status,
    }
}

/// Checks `outcome` against `end` for `op` on `model`.
pub fn check_end(
    op: Op,
    model: &str,
    region: &str,
    end: End,
    outcome: &Outcome,
) -> anyhow::Result<()> {
    match end {
        End::Answer => {
            ensure!(
                outcome.status == 200,
                "status {}: {outcome:?}",
                outcome.status
            );
            let expected = reply_text(model, region, PROMPT);
            ensure!(
                outcome.text() == expected,
                "text {:?} != {expected:?}",
                outcome.text()
            );
            if op.streaming() {
                ensure!(outcome.deltas() > 5, "{} deltas", outcome.deltas());
                ensure!(
                    matches!(outcome.events.last(), Some(StreamEvent::Done(_))),
                    "{outcome:?}"
                );
            }
        }
        End::Fail {
            deltas,
            code,
            retryable,
            status,
        } => {
            let expected_status = if op.streaming() { 200 } else { status };
            ensure!(
                outcome.status == expected_status,
                "status {}: {outcome:?}",
                outcome.status
            );
            let expected = (code, op.streaming().then_some(retryable));
            ensure!(
                outcome.error() == Some(expected),
                "error {:?} != {expected:?}: {outcome:?}",
                outcome.error()
            );
            if op.streaming() {
                ensure!(
                    outcome.deltas() == deltas,
                    "{} deltas, not {deltas}",
                    outcome.deltas()
                );
            }
        }
    }
    Ok(())
}

/// One named check, not yet run.
pub type Check = (String, Pin<Box<dyn Future<Output = anyhow::Result<()>>>>);

/// Runs `cases` concurrently; fails with every failure's description.
pub async fn run_all(cases: Vec<Check>) -> anyhow::Result<()> {
    let count = cases.len();
    let failures: Vec<String> = stream::iter(cases)
        .map(|(name, case)| async move { case.await.err().map(|e| format!("{name}: {e:#}")) })
        .buffer_unordered(PARALLEL)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    ensure!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}
