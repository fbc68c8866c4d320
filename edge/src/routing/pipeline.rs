//! The answer pipeline, with routing and resilience: a [`Plan`] (the route, chosen by content
//! for `auto`; its chain ordered by live health, open circuits left out) made before the first
//! byte, then attempts along the chain through [`call::open`]: retries with backoff on the
//! same target, fallback down the chain, the route's last resort when every target is down.
//! Streams (`chat_stream`, `invoke_stream`) re-send the answer as [`StreamEvent`]s as it
//! arrives; whole answers (`chat_once`, `invoke_once`) go through the same steps.
//!
//! A stream is `meta`, any `fallback` events, `delta`s, then exactly one `done` or `error`.
//! Retries and fallbacks happen only before the first `delta`: after it, a failure ends the
//! stream with `error`. Every request writes one log line and reports each target's outcome
//! to the shared health state (deferred by the platform, never delaying the client).

use crate::{
    bedrock::{
        call::{self, UpstreamEvent},
        error::{BedrockError, BedrockErrorKind},
        native::NativeFormat,
        operation::{NativeBody, Operation},
        send::CallOptions,
    },
    config::{
        limits::{DEFAULT_MAX_TOKENS, MAX_TOKENS},
        policy::{RetryPolicy, Tier},
        settings::Settings,
        Config, LastResort, Resolved, Target, Timeouts,
    },
    platform::{
        health::{HealthQuery, HealthRecord, HealthReport, Outcome},
        Platform,
    },
    routing::{
        circuit::counts_against_target,
        classifier::classify,
        health,
        request_log::{LogLine, RequestLog},
        retry::{next_step, Deadline, Failure, Next},
    },
};
use async_stream::stream;
use futures::{Stream, StreamExt};
use shared::{
    ChatRequest, ChatResponse, Delta, Done, Fallback, Meta, StreamError, StreamEvent, Usage,
};
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
}

impl RequestContext {
    pub fn new(request_id: impl Into<String>, started_ms: u64) -> Self {
        Self {
            request_id: request_id.into(),
            path: "/api/chat".into(),
            started_ms,
            trace: Vec::new(),
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
/// `request`. `Err` is the client's mistake, naming the available routes.
pub fn choose_route(
    config: &Config,
    name: Option<&str>,
    request: &ChatRequest,
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
            let route = auto.route_for(classification.tier).to_owned();
            Ok(Choice {
                reason: Some(format!(
                    "{}: {route} for {}",
                    auto.name, classification.reason
                )),
                route,
                tier: Some(classification.tier),
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

/// One target of a chain and the call it gets.
struct Candidate {
    target: Target,
    operation: Operation,
}

/// The chat request as `target` gets it: `max_tokens` within the target's cap, the target's
/// temperature when the request sets none.
fn for_target(request: &ChatRequest, target: &Target) -> ChatRequest {
    let cap = target.max_tokens.unwrap_or(MAX_TOKENS).min(MAX_TOKENS);
    ChatRequest {
        max_tokens: Some(request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS).min(cap)),
        temperature: request.temperature.or(target.temperature),
        ..request.clone()
    }
}

fn chat_candidates(
    settings: &Settings,
    route: &str,
    request: &ChatRequest,
    stream: bool,
) -> Vec<Candidate> {
    let Some(route) = settings.config.routes.get(route) else {
        return Vec::new();
    };
    route
        .targets
        .iter()
        .map(|target| {
            let request = for_target(request, target);
            Candidate {
                target: target.clone(),
                operation: if stream {
                    Operation::ConverseStream(request)
                } else {
                    Operation::Converse(request)
                },
            }
        })
        .collect()
}

/// The targets of `route` that take `raw_body` in the primary's native format, each with the
/// body as checked for its model. The app checked it against the primary already.
fn invoke_candidates(
    settings: &Settings,
    route: &str,
    raw_body: &[u8],
    stream: bool,
) -> Vec<Candidate> {
    let Some(route) = settings.config.routes.get(route) else {
        return Vec::new();
    };
    let mut format: Option<NativeFormat> = None;
    let mut candidates = Vec::new();
    for target in &route.targets {
        let Ok((body, target_format)) = crate::bedrock::native::prepare(&target.model, raw_body)
        else {
            continue;
        };
        if *format.get_or_insert(target_format) != target_format {
            continue;
        }
        candidates.push(Candidate {
            target: target.clone(),
            operation: if stream {
                Operation::InvokeStream {
                    body,
                    format: target_format,
                }
            } else {
                Operation::Invoke {
                    body,
                    format: target_format,
                }
            },
        });
    }
    candidates
}

/// What the pipeline produces: the client's events, plus what whole answers need.
enum Step {
    Meta(Meta),
    Fallback(Fallback),
    Delta(String),
    Native(NativeBody),
    Done {
        done: Done,
        upstream_ms: u64,
    },
    Failed {
        error: BedrockError,
        upstream_ms: u64,
    },
}

impl Step {
    fn into_event(self) -> Option<StreamEvent> {
        Some(match self {
            Self::Meta(meta) => StreamEvent::Meta(meta),
            Self::Fallback(fallback) => StreamEvent::Fallback(fallback),
            Self::Delta(text) => StreamEvent::Delta(Delta { text }),
            Self::Native(_) => return None,
            Self::Done { done, .. } => StreamEvent::Done(done),
            Self::Failed { error, .. } => StreamEvent::Error(StreamError {
                code: error.code(),
                message: error.client_message(),
                retryable: error.retryable(),
            }),
        })
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

/// The chain in the order to try, decided before the first byte.
struct Plan {
    candidates: Vec<Candidate>,
    /// Keys left out because their circuit is open.
    skipped: Vec<String>,
    /// Why the order differs from the configured one, if it does.
    reason: Option<String>,
}

/// Orders `candidates` by the shared health (one round trip), leaving out open circuits.
async fn plan<P: Platform>(platform: &P, config: &Config, candidates: Vec<Candidate>) -> Plan {
    let targets: Vec<Target> = candidates.iter().map(|c| c.target.clone()).collect();
    let views = platform
        .health_load(HealthQuery {
            keys: targets.iter().map(Target::key).collect(),
            circuit: config.circuit,
            claim_probes: true,
        })
        .await;
    let ordered = health::order(&targets, &views, &config.routing);
    let mut notes = Vec::new();
    if !ordered.skipped.is_empty() {
        notes.push(format!("circuit open: {}", ordered.skipped.join(", ")));
    }
    let reordered = ordered
        .targets
        .iter()
        .enumerate()
        .any(|(i, p)| p.index != i);
    if reordered && ordered.skipped.is_empty() {
        notes.push("equivalent targets ordered by live latency and errors".into());
    }
    let probes: Vec<&str> = ordered
        .targets
        .iter()
        .filter(|p| p.probe)
        .map(|p| p.key.as_str())
        .collect();
    if !probes.is_empty() {
        notes.push(format!("half-open probe: {}", probes.join(", ")));
    }
    let mut slots: Vec<Option<Candidate>> = candidates.into_iter().map(Some).collect();
    Plan {
        candidates: ordered
            .targets
            .iter()
            .filter_map(|p| slots.get_mut(p.index).and_then(Option::take))
            .collect(),
        skipped: ordered.skipped,
        reason: (!notes.is_empty()).then(|| notes.join("; ")),
    }
}

/// Collects the outcomes of one request and hands them to the platform once, when dropped
/// (whatever way the request ends, a client going away included).
struct Reports<P: Platform> {
    platform: P,
    record: HealthRecord,
}

impl<P: Platform> Reports<P> {
    fn new(platform: P, config: &Config) -> Self {
        Self {
            platform,
            record: HealthRecord {
                reports: Vec::new(),
                circuit: config.circuit,
                ewma_alpha: config.routing.ewma_alpha,
            },
        }
    }

    fn add(&mut self, target: &Target, outcome: Outcome) {
        self.record.reports.push(HealthReport {
            key: target.key(),
            outcome,
        });
    }
}

impl<P: Platform> Drop for Reports<P> {
    fn drop(&mut self) {
        if !self.record.reports.is_empty() {
            let record = HealthRecord {
                reports: std::mem::take(&mut self.record.reports),
                ..self.record.clone()
            };
            self.platform.health_record(record);
        }
    }
}

/// A short, safe reason for a `fallback` event: the error's kind (`throttling`,
/// `first_byte_timeout`, ...).
fn fallback_reason(error: &BedrockError) -> String {
    error.kind.as_str().to_owned()
}

/// The pipeline: plan, `meta`, attempts along the chain, then exactly one of `Done` and
/// `Failed`; `Native` before `Done` for InvokeModel.
fn run<P: Platform>(
    platform: P,
    settings: Rc<Settings>,
    context: RequestContext,
    choice: Choice,
    candidates: Vec<Candidate>,
    line: LogLine,
) -> impl Stream<Item = Step> {
    stream! {
        let started_ms = context.started_ms;
        let mut log = RequestLog::new(platform.clone(), line, started_ms);
        let config = &settings.config;
        let Some(route) = config.routes.get(&choice.route) else {
            let error = BedrockError::new(
                BedrockErrorKind::EdgeMisconfigured,
                format!("no route named {:?}", choice.route),
            );
            fail(&mut log, &error);
            yield Step::Failed { error, upstream_ms: 0 };
            return;
        };
        let Some(configured_first) = candidates.first().map(|c| c.target.clone()) else {
            let error = BedrockError::new(
                BedrockErrorKind::Validation,
                "no target of the route takes this body",
            );
            fail(&mut log, &error);
            yield Step::Failed { error, upstream_ms: 0 };
            return;
        };
        let retry: RetryPolicy = route.retry;
        let timeouts: Timeouts = route.timeouts;
        let last_resort: Option<LastResort> = route.last_resort.clone();
        let mut reports = Reports::new(platform.clone(), config);
        let plan = plan(&platform, config, candidates).await;
        log.line.circuit_open = plan.skipped.clone();
        let first = plan
            .candidates
            .first()
            .map_or(configured_first, |c| c.target.clone());
        log.line.model = Some(first.model.clone());
        log.line.region = Some(first.region.clone());
        let reason = match (&choice.reason, &plan.reason) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        yield Step::Meta(Meta {
            request_id: context.request_id.clone(),
            route: choice.route.clone(),
            model: first.model.clone(),
            region: first.region.clone(),
            reason,
        });

        let deadline = Deadline::new(started_ms, &retry);
        let mut upstream_ms = 0u64;
        let mut last_error: Option<BedrockError> = None;
        let mut previous = first.key();
        let mut why = "circuit open".to_owned();
        let mut stopped = false;
        'chain: for (position, candidate) in plan.candidates.iter().enumerate() {
            let target = &candidate.target;
            if position > 0 {
                log.line.fallbacks += 1;
                log.line.model = Some(target.model.clone());
                log.line.region = Some(target.region.clone());
                yield Step::Fallback(Fallback {
                    from: previous.clone(),
                    to: target.key(),
                    reason: why.clone(),
                    model: target.model.clone(),
                    region: target.region.clone(),
                });
            }
            previous = target.key();
            log.line.targets_tried.push(target.key());
            let mut attempts = 0u32;
            loop {
                let remaining = deadline.remaining(platform.now_ms());
                if remaining == 0 {
                    last_error = Some(BedrockError::new(
                        BedrockErrorKind::FirstByteTimeout,
                        format!("no answer started within the {} ms deadline", retry.deadline_ms),
                    ));
                    break 'chain;
                }
                attempts += 1;
                log.line.attempts += 1;
                let call = CallOptions {
                    timeouts: Timeouts {
                        first_byte_ms: timeouts.first_byte_ms.min(remaining),
                        idle_ms: timeouts.idle_ms,
                    },
                    trace: &context.trace,
                };
                let sent_ms = platform.now_ms();
                let mut answered = None;
                let opened = call::open(
                    &platform,
                    &settings,
                    target,
                    &candidate.operation,
                    &call,
                    &mut answered,
                )
                .await;
                if let Some(answered) = answered.take() {
                    log.line.upstream_status = Some(answered.status);
                    log.line.upstream_request_id = answered.request_id;
                }
                let error = match opened {
                    Err(error) => error,
                    Ok(mut events) => {
                        let mut stop_reason = String::new();
                        let mut usage = Usage::default();
                        let mut first_token_ms: Option<u64> = None;
                        let mut failure: Option<BedrockError> = None;
                        while let Some(event) = events.next().await {
                            match event {
                                UpstreamEvent::Text(text) => {
                                    if first_token_ms.is_none() {
                                        // The answer has started: no retry or fallback now.
                                        let now = platform.now_ms();
                                        first_token_ms = Some(now.saturating_sub(started_ms));
                                        let ttft = now.saturating_sub(sent_ms);
                                        reports.add(target, Outcome::Success { ttft_ms: Some(ttft) });
                                    }
                                    yield Step::Delta(text);
                                }
                                UpstreamEvent::Stop { reason } => stop_reason = reason,
                                UpstreamEvent::Usage { input, output } => {
                                    usage = Usage { input_tokens: input, output_tokens: output };
                                }
                                UpstreamEvent::Error(error) => {
                                    failure = Some(error);
                                    break;
                                }
                            }
                        }
                        let spent = platform.now_ms().saturating_sub(sent_ms);
                        log.line.first_token_ms = first_token_ms;
                        match failure {
                            None => {
                                upstream_ms += spent;
                                log.line.upstream_ms = Some(upstream_ms);
                                if first_token_ms.is_none() {
                                    reports.add(target, Outcome::Success { ttft_ms: None });
                                }
                                if let Some(native) = events.take_native() {
                                    yield Step::Native(native);
                                }
                                record_usage(&mut log.line, usage);
                                log.write("ok");
                                yield Step::Done {
                                    done: Done {
                                        stop_reason,
                                        usage,
                                        latency_ms: log.line.latency_ms,
                                        first_token_ms,
                                        last_resort: None,
                                    },
                                    upstream_ms,
                                };
                                return;
                            }
                            Some(error) if first_token_ms.is_some() => {
                                upstream_ms += spent;
                                log.line.upstream_ms = Some(upstream_ms);
                                if counts_against_target(error.kind) {
                                    reports.add(target, Outcome::Failure);
                                }
                                fail(&mut log, &error);
                                yield Step::Failed { error, upstream_ms };
                                return;
                            }
                            Some(error) => error,
                        }
                    }
                };
                let now = platform.now_ms();
                upstream_ms += now.saturating_sub(sent_ms);
                if counts_against_target(error.kind) {
                    reports.add(target, Outcome::Failure);
                }
                let failure = Failure::of(&error);
                let next = next_step(&retry, failure, attempts, now, deadline, platform.random_u64());
                why = fallback_reason(&error);
                last_error = Some(error);
                match next {
                    Next::Retry { delay_ms } => platform.sleep(delay_ms).await,
                    Next::NextTarget => continue 'chain,
                    Next::Stop => {
                        stopped = true;
                        break 'chain;
                    }
                }
            }
        }

        // Every target failed, was skipped, or the error is final.
        log.line.upstream_ms = Some(upstream_ms);
        if !stopped {
            if let Some(last_resort) = &last_resort {
                log.line.fallbacks += 1;
                log.line.last_resort = Some(last_resort.kind());
                if let Some(error) = &last_error {
                    record_error(&mut log.line, error);
                }
                yield Step::Fallback(Fallback {
                    from: previous.clone(),
                    to: "last_resort".into(),
                    reason: why.clone(),
                    model: String::new(),
                    region: String::new(),
                });
                yield Step::Delta(last_resort.text().to_owned());
                log.write("last_resort");
                yield Step::Done {
                    done: Done {
                        stop_reason: "last_resort".into(),
                        usage: Usage::default(),
                        latency_ms: log.line.latency_ms,
                        first_token_ms: None,
                        last_resort: Some(last_resort.kind().into()),
                    },
                    upstream_ms,
                };
                return;
            }
        }
        let error = last_error.unwrap_or_else(|| {
            BedrockError::new(
                BedrockErrorKind::ServiceUnavailable,
                "every target's circuit is open",
            )
        });
        fail(&mut log, &error);
        yield Step::Failed { error, upstream_ms };
    }
}

fn record_usage(line: &mut LogLine, usage: Usage) {
    line.input_tokens = Some(usage.input_tokens);
    line.output_tokens = Some(usage.output_tokens);
}

fn record_error(line: &mut LogLine, error: &BedrockError) {
    line.error = Some(error.kind.as_str().to_owned());
    line.set_detail(error.loggable_message());
}

/// Logs the failure (the whole answer's status is the error's).
fn fail<P: Platform>(log: &mut RequestLog<P>, error: &BedrockError) {
    record_error(&mut log.line, error);
    if log.line.stream == Some(false) {
        log.line.status = Some(error.http_status());
    }
    log.write("error");
}

#[cfg(test)]
mod tests;
