//! Concurrent streaming chats through the edge for a fixed time: each of `concurrency` clients
//! sends a chat, reads the whole stream, checks it, and sends the next until time is up; then
//! every stream in flight is waited for. A stream counts as completed only when it ends with
//! `done` and carries exactly the fake's answer; refusals, `error` events, broken or wrong
//! streams are errors; a request with no complete answer within the time limit is lost.
//! [`row`] makes the table row of one run.

use super::{
    chat::{chat_request, edge_chat},
    stats::{ms, Summary},
    table::Row,
    MODEL, REGION,
};
use crate::{
    fake_bedrock::{reply_deltas, reply_text},
    stack::WorkerRuntime,
};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

pub const PROMPT: &str = "Load test: please stream an answer.";
/// A request still unanswered after this long is lost.
pub const PER_REQUEST_LIMIT: Duration = Duration::from_secs(20);

/// What one load run saw.
#[derive(Debug, Default)]
pub struct LoadResult {
    pub concurrency: usize,
    /// How long clients kept sending new chats.
    pub duration: Duration,
    pub elapsed: Duration,
    pub started: u64,
    pub completed: u64,
    pub errors: u64,
    pub lost: u64,
    /// Time to first token of the completed streams, ms.
    pub ttft: Vec<f64>,
    /// Error messages and how often each was seen.
    pub error_kinds: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Tally {
    started: u64,
    completed: u64,
    errors: u64,
    lost: u64,
    ttft: Vec<f64>,
    error_kinds: BTreeMap<String, u64>,
}

/// Runs `concurrency` clients against `edge_url` for `duration`.
pub async fn run(
    edge_url: &str,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let body = serde_json::to_vec(&chat_request(PROMPT))?;
    let expected: Arc<str> = reply_text(MODEL, REGION, PROMPT).into();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = crate::wall_clock::instant();
    let deadline = started + duration;
    let mut clients = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (client, body, expected, tally) = (
            client.clone(),
            body.clone(),
            expected.clone(),
            tally.clone(),
        );
        let edge_url = edge_url.to_owned();
        clients.push(tokio::spawn(async move {
            while crate::wall_clock::instant() < deadline {
                record(&tally, |t| t.started += 1);
                let answer = tokio::time::timeout(
                    PER_REQUEST_LIMIT,
                    edge_chat(&client, &edge_url, body.clone()),
                )
                .await;
                match answer {
                    Ok(Ok((timing, text))) if *text == *expected => record(&tally, |t| {
                        t.completed += 1;
                        t.ttft.push(ms(timing.ttft));
                    }),
                    Ok(Ok((_, text))) => error(&tally, format!("wrong answer text: {text:.60}")),
                    Ok(Err(problem)) => error(&tally, format!("{problem:#}")),
                    Err(_) => record(&tally, |t| t.lost += 1),
                }
            }
        }));
    }
    for client in clients {
        client.await?;
    }
    let elapsed = started.elapsed();
    let tally = std::mem::take(&mut *tally.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    // Anything started and neither answered nor refused is lost too.
    let unaccounted = tally
        .started
        .saturating_sub(tally.completed + tally.errors + tally.lost);
    Ok(LoadResult {
        concurrency,
        duration,
        elapsed,
        started: tally.started,
        completed: tally.completed,
        errors: tally.errors,
        lost: tally.lost + unaccounted,
        ttft: tally.ttft,
        error_kinds: tally.error_kinds,
    })
}

fn record(tally: &Mutex<Tally>, change: impl FnOnce(&mut Tally)) {
    if let Ok(mut tally) = tally.lock() {
        change(&mut tally);
    }
}

fn error(tally: &Mutex<Tally>, message: String) {
    // Error kinds without the varying parts (request ids, timings) would need parsing; the
    // first 120 characters group them well enough.
    let kind: String = message.chars().take(120).collect();
    record(tally, |t| {
        t.errors += 1;
        *t.error_kinds.entry(kind).or_default() += 1;
    });
}

/// The table row of `result`, measured on `runtime` with the fake pacing `token_ms` per frame.
pub fn row(result: &LoadResult, runtime: WorkerRuntime, token_ms: u64) -> Row {
    let deltas = reply_deltas(&reply_text(MODEL, REGION, PROMPT)).len();
    let mut value = format!(
        "{} completed ({:.0}/s), {} errors, {} lost",
        result.completed,
        result.completed as f64 / result.elapsed.as_secs_f64(),
        result.errors,
        result.lost
    );
    if let Some(ttft) = Summary::of(&result.ttft) {
        value.push_str(&format!(
            "; TTFT p50 {:.1} ms, p99 {:.1} ms",
            ttft.p50, ttft.p99
        ));
    }
    for (kind, count) in result.error_kinds.iter().take(3) {
        value.push_str(&format!("; {count}× {kind}"));
    }
    Row::new(
        format!(
            "Load, {} concurrent streams, {}",
            result.concurrency,
            runtime.label()
        ),
        value,
        format!(
            "{} clients in a loop for {} s through the Worker served by {}, then in-flight \
             streams finished ({:.1} s in all); the fake paces {token_ms} ms per frame ({deltas} \
             deltas, ~{:.2} s per answer); a stream completes only with `done` and the exact \
             expected text; lost = no answer within {} s",
            result.concurrency,
            result.duration.as_secs(),
            runtime.path(),
            result.elapsed.as_secs_f64(),
            (deltas + 4) as f64 * token_ms as f64 / 1000.0,
            PER_REQUEST_LIMIT.as_secs()
        ),
    )
    .target("0 errors, 0 lost", result.errors == 0 && result.lost == 0)
}
