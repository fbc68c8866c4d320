//! The edge core's CPU per streamed answer, natively (`tests/benches/edge_core.rs`, and rows of
//! `scripts/bench`). Two figures for a 1,000-token answer:
//!
//! - codec: decode the ConverseStream frames (`ConverseEvents::decoder`, CRCs and JSON) and
//!   encode each text as an SSE `delta` (`shared::sse::encode`): the per-token work;
//! - pipeline: one whole `POST /api/chat` through `Edge::handle` (settings and route table
//!   parsed once, as per Worker isolate; validation, plan, SigV4 signing, decoding, SSE encoding, health, log line) with an
//!   upstream that replays the same frames from memory.

use super::{routes_json, stats, table::Row};
use edge::{
    bedrock::{
        converse::ConverseEvents,
        decode::UpstreamEvent,
        eventstream::{encode, Frame},
    },
    config::{settings::Settings, RateLimitClass, TokenBudget},
    http::{ApiBody, ApiRequest, Edge},
    platform::{
        health::{HealthQuery, HealthRecord, TargetView},
        Platform, TransportError, UpstreamRequest, UpstreamResponse,
    },
    routing::health::HealthStore,
};
use futures::StreamExt;
use serde_json::json;
use shared::{sse, Delta, StreamEvent};
use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    hint::black_box,
    rc::Rc,
    time::Duration,
};

/// Tokens (text deltas) per answer.
pub const TOKENS: usize = 1000;
/// Target: a 1,000-token answer under 1 ms of edge core CPU.
pub const LIMIT_US: f64 = 1000.0;

const WORDS: [&str; 8] = [
    " the", " edge", " streams", " tokens", " as", " they", " arrive", ".",
];

/// The ConverseStream body of a `tokens`-token answer, one encoded frame per event, each with
/// a `"p"` padding member as Bedrock sends.
pub fn answer_frames(tokens: usize) -> Vec<Vec<u8>> {
    let frame = |event: &str, mut payload: serde_json::Value, i: usize| {
        payload["p"] = json!("abcdefghijklmnopqrstuvwxyz"[..(i % 20) + 4]);
        encode(&Frame::new(
            &[
                (":event-type", event),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            payload.to_string(),
        ))
    };
    let mut frames = vec![frame("messageStart", json!({"role": "assistant"}), 0)];
    for i in 0..tokens {
        let delta = json!({"contentBlockIndex": 0, "delta": {"text": WORDS[i % WORDS.len()]}});
        frames.push(frame("contentBlockDelta", delta, i));
    }
    frames.push(frame(
        "contentBlockStop",
        json!({"contentBlockIndex": 0}),
        1,
    ));
    frames.push(frame("messageStop", json!({"stopReason": "end_turn"}), 2));
    let usage = json!({"inputTokens": 12, "outputTokens": tokens, "totalTokens": tokens + 12});
    frames.push(frame(
        "metadata",
        json!({"usage": usage, "metrics": {"latencyMs": 1000}}),
        3,
    ));
    frames
}

/// Decodes `frames` (one chunk each) and encodes every text as SSE; the SSE bytes produced.
pub fn codec_once(frames: &[Vec<u8>]) -> usize {
    let mut decoder = ConverseEvents::decoder();
    let mut sent = 0;
    for chunk in frames {
        for event in decoder.push(chunk) {
            if let UpstreamEvent::Text(text) = event {
                sent += sse::encode(&StreamEvent::Delta(Delta { text })).len();
            }
        }
    }
    sent + usize::from(decoder.finish().is_ok())
}

/// An upstream that answers every call with the same frames from memory; health in memory,
/// no rate limits, logs dropped. Single-threaded, like a Worker isolate.
#[derive(Clone)]
struct Replay {
    frames: Rc<Vec<Vec<u8>>>,
    health: Rc<RefCell<HealthStore>>,
    ids: Rc<Cell<u64>>,
}

impl Platform for Replay {
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, TransportError> {
        black_box(request);
        let frames = Rc::clone(&self.frames);
        let body = futures::stream::iter((0..frames.len()).map(move |i| Ok(frames[i].clone())));
        Ok(UpstreamResponse {
            status: 200,
            headers: vec![(
                "content-type".into(),
                "application/vnd.amazon.eventstream".into(),
            )],
            body: Box::pin(body),
        })
    }

    fn now_ms(&self) -> u64 {
        crate::wall_clock::now_ms()
    }

    async fn sleep(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    fn random_u64(&self) -> u64 {
        self.ids.set(self.ids.get() + 1);
        self.ids.get()
    }

    fn log(&self, line: &str) {
        black_box(line);
    }

    async fn health_load(&self, query: HealthQuery) -> Vec<TargetView> {
        let now = self.now_ms();
        self.health.borrow_mut().load(&query, now)
    }

    fn health_record(&self, record: HealthRecord) {
        let now = self.now_ms();
        self.health.borrow_mut().record(&record, now);
    }

    async fn rate_limit(
        &self,
        _class: &str,
        _limits: RateLimitClass,
        _bucket: &str,
    ) -> Option<bool> {
        Some(true)
    }

    async fn budget_spent(&self, _client: &str, _budget: TokenBudget) -> Option<u64> {
        Some(0)
    }

    fn budget_charge(&self, _client: &str, _budget: TokenBudget, _tokens: u64) {}

    async fn verify_rs256(&self, _n: &str, _e: &str, _signed: &[u8], _signature: &[u8]) -> bool {
        false
    }
}

/// The Worker's variables for the pipeline run.
fn vars() -> HashMap<String, String> {
    [
        ("AWS_ACCESS_KEY_ID", "AKIAFAKEBEDROCK00000"),
        ("AWS_SECRET_ACCESS_KEY", "fake-bedrock-secret-key"),
        ("BEDROCK_ENDPOINT", "http://127.0.0.1:9"),
        ("ROUTES", routes_json().as_str()),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect()
}

/// One `POST /api/chat` through the edge core, as the Worker runs it (settings parsed once per
/// isolate, an `Edge` per request); the SSE bytes produced.
async fn pipeline_once(settings: &Rc<Settings>, platform: &Replay) -> anyhow::Result<usize> {
    let edge = Edge::new(Rc::clone(settings), platform.clone());
    let request = ApiRequest {
        origin: "http://127.0.0.1:8787".into(),
        method: "POST".into(),
        path: "/api/chat".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"messages":[{"role":"user","content":"Benchmark the edge core, please."}]}"#
            .to_vec(),
        ..ApiRequest::default()
    };
    let response = edge.handle(request).await;
    let ApiBody::Sse(mut events) = response.body else {
        anyhow::bail!("no SSE stream (status {})", response.status);
    };
    let mut sent = 0;
    let mut last = String::new();
    while let Some(event) = events.next().await {
        sent += event.len();
        last = event;
    }
    anyhow::ensure!(
        last.starts_with("event: done"),
        "the stream ended with {last:?}"
    );
    Ok(sent)
}

/// Microseconds per answer: `batches` timed batches of `per_batch` runs after a warm-up.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub p50_us: f64,
    pub min_us: f64,
    pub runs: usize,
}

fn cost(batch_us: &[f64], runs: usize) -> anyhow::Result<Cost> {
    let summary = stats::Summary::of(batch_us).ok_or_else(|| anyhow::anyhow!("no batches"))?;
    Ok(Cost {
        p50_us: summary.p50,
        min_us: summary.min,
        runs,
    })
}

/// The codec figure.
pub fn measure_codec(batches: usize, per_batch: usize) -> anyhow::Result<Cost> {
    let frames = answer_frames(TOKENS);
    anyhow::ensure!(codec_once(&frames) > TOKENS * 20, "the codec lost tokens");
    for _ in 0..per_batch {
        black_box(codec_once(black_box(&frames)));
    }
    let mut batch_us = Vec::new();
    for _ in 0..batches {
        let started = crate::wall_clock::instant();
        for _ in 0..per_batch {
            black_box(codec_once(black_box(&frames)));
        }
        batch_us.push(started.elapsed().as_secs_f64() * 1e6 / per_batch as f64);
    }
    cost(&batch_us, batches * per_batch)
}

/// The pipeline figure (runs on its own single-threaded runtime).
pub fn measure_pipeline(batches: usize, per_batch: usize) -> anyhow::Result<Cost> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let platform = Replay {
        frames: Rc::new(answer_frames(TOKENS)),
        health: Rc::default(),
        ids: Rc::default(),
    };
    let vars = vars();
    let settings = Rc::new(Settings::from_lookup(|name| vars.get(name).cloned())?);
    runtime.block_on(async {
        anyhow::ensure!(
            pipeline_once(&settings, &platform).await? > TOKENS * 20,
            "the pipeline lost tokens"
        );
        for _ in 0..per_batch {
            black_box(pipeline_once(&settings, &platform).await?);
        }
        let mut batch_us = Vec::new();
        for _ in 0..batches {
            let started = crate::wall_clock::instant();
            for _ in 0..per_batch {
                black_box(pipeline_once(&settings, &platform).await?);
            }
            batch_us.push(started.elapsed().as_secs_f64() * 1e6 / per_batch as f64);
        }
        cost(&batch_us, batches * per_batch)
    })
}

/// Both figures as table rows.
pub fn rows() -> anyhow::Result<Vec<Row>> {
    let codec = measure_codec(15, 40)?;
    let pipeline = measure_pipeline(15, 20)?;
    let profile = "native x86-64, this workspace's release profile (opt-level z, LTO, as the \
                   Worker is built); median of 15 batches after a warm-up";
    Ok(vec![
        Row::new(
            "Edge core CPU, codec, 1,000-token answer",
            format!("{:.0} µs (best batch {:.0} µs)", codec.p50_us, codec.min_us),
            format!(
                "decode 1,000 contentBlockDelta frames (+5 others, Bedrock-style `p` padding) with \
                 ConverseEvents::decoder, one chunk per frame, and encode 1,000 SSE `delta` events; \
                 {} runs; {profile}",
                codec.runs
            ),
        )
        .target("< 1 ms", codec.p50_us < LIMIT_US),
        Row::new(
            "Edge core CPU, whole request, 1,000-token answer",
            format!(
                "{:.0} µs (best batch {:.0} µs)",
                pipeline.p50_us, pipeline.min_us
            ),
            format!(
                "one POST /api/chat through Edge::handle (settings and ROUTES parsed once, as the \
                 Worker does per isolate; body parsing, validation, plan, SigV4 signing, decode, SSE encode, health, log \
                 line), upstream frames replayed from memory; {} runs; {profile}",
                pipeline.runs
            ),
        )
        .target("< 1 ms", pipeline.p50_us < LIMIT_US),
    ])
}
