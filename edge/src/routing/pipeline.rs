//! The answer pipeline, with routing and resilience: a [`plan`] (the route, chosen by content
//! for `auto`; its chain ordered by live health, open circuits left out) made before the first
//! byte, then the decision loop along the chain, whose steps a [`Run`] takes: attempts,
//! retries with backoff on the same target, fallback down the chain, the route's last resort
//! when every target is down. Streams (`chat_stream`, `invoke_stream`) re-send the answer as
//! [`StreamEvent`]s as it arrives; whole answers (`chat_once`, `invoke_once`) go through the
//! same steps.
//!
//! A stream is `meta`, any `fallback` events, `delta`s, then exactly one `done` or `error`.
//! Retries and fallbacks happen only before the first `delta`: after it, a failure ends the
//! stream with `error`. Every request writes one log line and reports each target's outcome
//! to the shared health state (deferred by the platform, never delaying the client).

use crate::{
    bedrock::{
        error::{BedrockError, BedrockErrorKind},
        operation::NativeBody,
    },
    config::{policy::Tier, settings::Settings, Config, Resolved},
    platform::Platform,
    routing::{
        classifier::classify,
        plan::{chat_candidates, invoke_candidates, plan, Candidate},
        request_log::LogLine,
        retry::Next,
        run::{AttemptOutcome, Run, Step},
    },
};
use async_stream::stream;
use futures::{Stream, StreamExt};
use shared::{ChatRequest, ChatResponse, Done, Meta, StreamEvent};
use std::{pin::pin, rc::Rc};

/// What every answer needs to know about its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub request_id: String,
    /// The API path, for the log line (`/api/chat`, `/api/generate`, ...).
    pub path: String,
    /// When the request reached the edge.
    pub started_ms: u64,
    /// Trace headers passed on to Bedrock, unsigned (`traceparent`, `X-Amzn-Trace-Id`).
    pub trace: Vec<(String, String)>,
    /// The client whose token budget pays for the answer (none for the edge's own jobs).
    pub billed: Option<String>,
}

impl RequestContext {
    pub fn new(request_id: impl Into<String>, started_ms: u64) -> Self {
        Self {
            request_id: request_id.into(),
            path: "/api/chat".into(),
            started_ms,
            trace: Vec::new(),
            billed: None,
        }
    }
}

/// A whole answer and the time spent upstream (for `Server-Timing`).
#[derive(Debug)]
pub struct Once<T> {
    pub result: Result<T, BedrockError>,
    pub upstream_ms: u64,
}

/// The route that answers a request, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// A route with a chain of targets.
    pub route: String,
    /// The auto route's tier, when it chose.
    pub tier: Option<Tier>,
    /// Why, when the edge chose (the auto route).
    pub reason: Option<String>,
}

impl Choice {
    /// A chain route, named.
    pub fn route(name: impl Into<String>) -> Self {
        Self {
            route: name.into(),
            tier: None,
            reason: None,
        }
    }
}

/// Resolves the route a request names (the default when `None`); the auto route classifies
/// `request` and chooses only among the routes `open` says the caller may use: the tier's own
/// when open, else the nearest open tier below it, else above it. `Err` is the client's
/// mistake, naming the available routes.
pub fn choose_route(
    config: &Config,
    name: Option<&str>,
    request: &ChatRequest,
    open: &dyn Fn(&str) -> bool,
) -> Result<Choice, String> {
    match config.resolve(name)? {
        Resolved::Chain(route, chain) if chain.async_invoke.is_some() => Err(format!(
            "{route:?} runs as a Bedrock async invocation: submit it with POST /api/jobs"
        )),
        Resolved::Chain(route, _) => Ok(Choice {
            route: route.to_owned(),
            tier: None,
            reason: None,
        }),
        Resolved::Auto(auto) => {
            let classification = classify(request, &auto.thresholds);
            let wanted = classification.tier;
            let tier = wanted
                .nearest()
                .into_iter()
                .find(|tier| open(auto.route_for(*tier)))
                .ok_or_else(|| {
                    format!(
                        "{:?} chooses among routes this caller may not use",
                        auto.name
                    )
                })?;
            let route = auto.route_for(tier).to_owned();
            let note = if tier == wanted {
                String::new()
            } else {
                format!(" ({} is not open to this caller)", auto.route_for(wanted))
            };
            Ok(Choice {
                reason: Some(format!(
                    "{}: {route} for {}{note}",
                    auto.name, classification.reason
                )),
                route,
                tier: Some(tier),
            })
        }
    }
}

/// Streams the answer to `request` on `choice` (ConverseStream). Dropping the stream drops
/// the upstream response (the host aborts the fetch) and logs the request as `client_closed`.
pub fn chat_stream<P: Platform>(
    platform: P,
    settings: Rc<Settings>,
    context: RequestContext,
    choice: Choice,
    request: ChatRequest,
) -> impl Stream<Item = StreamEvent> {
    let line = log_line(&context, context.path.clone(), &choice, true);
    let candidates = chat_candidates(&settings, &choice.route, &request, true);
    let steps = run(platform, settings, context, choice, candidates, line);
    steps.filter_map(|step| futures::future::ready(step.into_event()))
}

/// Answers `request` whole (Converse), with the same plan, retries and fallbacks.
pub async fn chat_once<P: Platform>(
    platform: P,
    settings: Rc<Settings>,
    context: RequestContext,
    choice: Choice,
    request: ChatRequest,
) -> Once<ChatResponse> {
    let line = log_line(&context, context.path.clone(), &choice, false);
    let candidates = chat_candidates(&settings, &choice.route, &request, false);
    let request_id = context.request_id.clone();
    let route = choice.route.clone();
    let whole = collect(run(platform, settings, context, choice, candidates, line)).await;
    Once {
        upstream_ms: whole.upstream_ms,
        result: whole.result.map(|done| ChatResponse {
            request_id,
            route,
            model: whole.model,
            region: whole.region,
            text: whole.text,
            stop_reason: done.stop_reason,
            usage: done.usage,
            latency_ms: done.latency_ms,
            last_resort: done.last_resort,
        }),
    }
}

/// Streams the answer to a checked native `body` (InvokeModelWithResponseStream), as the same
/// events as [`chat_stream`]. The chain keeps the targets that take the body's format.
pub fn invoke_stream<P: Platform>(
    platform: P,
    settings: Rc<Settings>,
    context: RequestContext,
    route: String,
    raw_body: Vec<u8>,
) -> impl Stream<Item = StreamEvent> {
    let choice = Choice::route(route);
    let line = log_line(&context, invoke_path(&choice.route), &choice, true);
    let candidates = invoke_candidates(&settings, &choice.route, &raw_body, true);
    let steps = run(platform, settings, context, choice, candidates, line);
    steps.filter_map(|step| futures::future::ready(step.into_event()))
}

/// Answers a checked native `body` whole (InvokeModel): the model's own body. A last resort
/// has no native form: it answers as an error.
pub async fn invoke_once<P: Platform>(
    platform: P,
    settings: Rc<Settings>,
    context: RequestContext,
    route: String,
    raw_body: Vec<u8>,
) -> Once<NativeBody> {
    let choice = Choice::route(route);
    let line = log_line(&context, invoke_path(&choice.route), &choice, false);
    let candidates = invoke_candidates(&settings, &choice.route, &raw_body, false);
    let whole = collect(run(platform, settings, context, choice, candidates, line)).await;
    let native = whole.native;
    Once {
        upstream_ms: whole.upstream_ms,
        result: whole.result.and_then(|_| {
            native.ok_or_else(|| {
                BedrockError::new(
                    BedrockErrorKind::ServiceUnavailable,
                    "no target answered (the last resort has no native body)",
                )
            })
        }),
    }
}

fn invoke_path(route_name: &str) -> String {
    format!("/api/invoke/{route_name}")
}

fn log_line(context: &RequestContext, path: String, choice: &Choice, stream: bool) -> LogLine {
    LogLine {
        request_id: context.request_id.clone(),
        method: "POST".into(),
        path,
        status: Some(200),
        stream: Some(stream),
        route: Some(choice.route.clone()),
        tier: choice.tier.map(Tier::as_str),
        ..LogLine::default()
    }
}

/// A whole answer, collected from the steps.
struct Collected {
    model: String,
    region: String,
    text: String,
    native: Option<NativeBody>,
    upstream_ms: u64,
    result: Result<Done, BedrockError>,
}

async fn collect(steps: impl Stream<Item = Step>) -> Collected {
    let mut steps = pin!(steps);
    let mut whole = Collected {
        model: String::new(),
        region: String::new(),
        text: String::new(),
        native: None,
        upstream_ms: 0,
        result: Err(BedrockError::new(
            BedrockErrorKind::EdgeMisconfigured,
            "the pipeline ended without an outcome",
        )),
    };
    while let Some(step) = steps.next().await {
        match step {
            Step::Meta(meta) => (whole.model, whole.region) = (meta.model, meta.region),
            Step::Fallback(fallback) => {
                (whole.model, whole.region) = (fallback.model, fallback.region);
            }
            Step::Delta(text) => whole.text.push_str(&text),
            Step::Native(native) => whole.native = Some(native),
            Step::Done { done, upstream_ms } => {
                whole.upstream_ms = upstream_ms;
                whole.result = Ok(done);
            }
            Step::Failed { error, upstream_ms } => {
                whole.upstream_ms = upstream_ms;
                whole.result = Err(error);
            }
        }
    }
    whole
}

/// The pipeline: the plan, `meta`, then the decision loop along the chain (retry, next
/// target, stop), then the last resort or the error when no target answered. The loop only
/// decides and forwards: [`Run`] makes the attempts and keeps the log and health reports.
fn run<P: Platform>(
    platform: P,
    settings: Rc<Settings>,
    context: RequestContext,
    choice: Choice,
    candidates: Vec<Candidate>,
    line: LogLine,
) -> impl Stream<Item = Step> {
    stream! {
        let trace = context.trace.clone();
        let billed = context.billed.clone();
        let run = Run::new(platform, Rc::clone(&settings), trace, context.started_ms, &choice.route, line, billed);
        let mut run = match run {
            Ok(run) => run,
            Err(failed) => {
                yield failed;
                return;
            }
        };
        let Some(configured_first) = candidates.first().map(|c| c.target.clone()) else {
            let error = BedrockError::new(
                BedrockErrorKind::Validation,
                "no target of the route takes this body",
            );
            yield run.refuse(error);
            return;
        };
        let plan = plan(run.platform(), &settings.config, candidates).await;
        let first = plan
            .candidates
            .first()
            .map_or(configured_first, |c| c.target.clone());
        run.begin(&first, plan.skipped.clone(), plan.probes.clone());
        let reason = match (&choice.reason, &plan.reason) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        yield Step::Meta(Meta {
            request_id: context.request_id.clone(),
            route: choice.route.clone(),
            model: first.public_model(),
            region: first.region.clone(),
            reason,
        });
        let mut stopped = false;
        'chain: for (position, candidate) in plan.candidates.iter().enumerate() {
            if let Some(fallback) = run.start_target(position, &candidate.target) {
                yield Step::Fallback(fallback);
            }
            loop {
                match run.attempt(candidate).await {
                    AttemptOutcome::Answered(mut answer) => {
                        let ending = loop {
                            match answer.next_text().await {
                                Ok(text) => yield Step::Delta(text),
                                Err(ending) => break ending,
                            }
                        };
                        let (native, last) = run.end(&mut answer, ending);
                        if let Some(native) = native {
                            yield native;
                        }
                        yield last;
                        return;
                    }
                    AttemptOutcome::OutOfTime => break 'chain,
                    AttemptOutcome::FailedBeforeFirstByte(error) => match run.after_failure(error) {
                        Next::Retry { delay_ms } => run.platform().sleep(delay_ms).await,
                        Next::NextTarget => continue 'chain,
                        Next::Stop => {
                            stopped = true;
                            break 'chain;
                        }
                    },
                }
            }
        }
        for step in run.give_up(stopped) {
            yield step;
        }
    }
}

#[cfg(test)]
mod chain_tests;
#[cfg(test)]
mod tests;
