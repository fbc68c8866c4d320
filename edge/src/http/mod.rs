//! The platform-neutral HTTP layer, the one entry the Worker calls: `POST /api/chat` and
//! `POST /api/{route}` (`/api/classify`, `/api/generate`, `/api/analyze`, `/api/auto`: checked,
//! validated, rate limited, routed, then streamed as SSE or answered as JSON),
//! `POST /api/invoke/{route}` (a model-native body, the same way, answered with the model's own
//! JSON), `GET /api/routes` and `GET /api/health`. Every response carries `x-request-id` and
//! `Server-Timing`; every error body is `{"error": {"code", "message"}}`. `/api/jobs` is the
//! background-jobs API ([`crate::jobs`]). Widget keys and
//! other origins are checked first ([`crate::http::widget`]): refused with 403, or answered with
//! CORS headers for that origin alone; `OPTIONS` answers CORS preflights.

pub mod jobs;
pub mod validate;
pub mod widget;

use crate::{
    bedrock::{
        error::BedrockError,
        native::{prepare, BodyError},
    },
    config::{settings::Settings, RateLimitClass, Resolved},
    jobs::Jobs,
    platform::{header, health::HealthQuery, Platform},
    routing::{
        pipeline::{
            chat_once, chat_stream, choose_route, invoke_once, invoke_stream, RequestContext,
        },
        rate_limit::{client_buckets, client_ip},
        request_log::{LogLine, RequestLog},
    },
};
use futures::{Stream, StreamExt};
use serde::Serialize;
use shared::{
    health::{HealthResponse, TargetHealthInfo},
    sse, ChatRequest, ErrorBody, ErrorCode, StreamEvent,
};
use std::{pin::Pin, rc::Rc};
use validate::validate;
use widget::Caller;

/// An HTTP request as the Worker received it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiRequest {
    /// The edge's own origin as the request URL names it (`https://chat.example.com`); an
    /// `Origin` header naming another one is a cross-origin call.
    pub origin: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: ApiBody,
}

impl ApiResponse {
    /// A header value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::platform::header(&self.headers, name)
    }
}

pub enum ApiBody {
    Empty,
    Json(String),
    Sse(SseStream),
}

/// SSE text, one encoded event ([`shared::sse::encode`]) per item.
pub type SseStream = Pin<Box<dyn Stream<Item = String>>>;

/// The edge's API, built once per settings and platform.
pub struct Edge<P: Platform> {
    settings: Rc<Settings>,
    platform: P,
    /// The background-jobs system (`/api/jobs`), when the host has one.
    jobs: Option<Jobs>,
}

/// A request refused before any upstream call.
struct Rejection {
    status: u16,
    code: ErrorCode,
    message: String,
    headers: Vec<(String, String)>,
    retry_after_secs: Option<u64>,
}

impl Rejection {
    fn new(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
            retry_after_secs: None,
        }
    }

    fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, ErrorCode::Forbidden, message)
    }

    fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            headers: vec![("allow".into(), allow.into())],
            ..Self::new(
                405,
                ErrorCode::MethodNotAllowed,
                format!("This endpoint only accepts {allow}."),
            )
        }
    }

    /// 429 with `Retry-After`: the client is over `class`'s limit.
    fn rate_limited(class: &str, limits: RateLimitClass) -> Self {
        let secs = u64::from(limits.period_s);
        Self {
            headers: vec![("retry-after".into(), secs.to_string())],
            retry_after_secs: Some(secs),
            ..Self::new(
                429,
                ErrorCode::RateLimited,
                format!(
                    "Too many requests: at most {} per {} s on this route ({class}). Try again in {secs} s.",
                    limits.limit, limits.period_s
                ),
            )
        }
    }

    fn respond<P: Platform>(self, log: &mut RequestLog<P>) -> ApiResponse {
        log.line.status = Some(self.status);
        log.line.error = serde_json::to_value(self.code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        log.write("rejected");
        let mut body = ErrorBody::new(self.code, self.message);
        body.error.retry_after_secs = self.retry_after_secs;
        let mut response = json(self.status, &body);
        response.headers.extend(self.headers);
        response
    }
}

/// An answer, and the time its upstream calls took when it was whole.
struct Answer {
    response: ApiResponse,
    upstream_ms: Option<u64>,
}

impl From<ApiResponse> for Answer {
    fn from(response: ApiResponse) -> Self {
        Self {
            response,
            upstream_ms: None,
        }
    }
}

/// Trace headers passed on to Bedrock when well formed: W3C `traceparent` / `tracestate` and
/// AWS `X-Amzn-Trace-Id`.
fn trace_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    let printable = |v: &str, max: usize| {
        !v.is_empty() && v.len() <= max && v.bytes().all(|b| (0x20..0x7f).contains(&b))
    };
    let traceparent = |v: &str| {
        let parts: Vec<&str> = v.split('-').collect();
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        parts.len() == 4
            && hex(parts[0], 2)
            && hex(parts[1], 32)
            && hex(parts[2], 16)
            && hex(parts[3], 2)
    };
    let mut trace = Vec::new();
    for (name, check) in [
        ("traceparent", &traceparent as &dyn Fn(&str) -> bool),
        ("tracestate", &|v: &str| printable(v, 512)),
        ("x-amzn-trace-id", &|v: &str| printable(v, 256)),
    ] {
        if let Some(value) = header(headers, name).map(str::trim).filter(|v| check(v)) {
            trace.push((name.to_owned(), value.to_owned()));
        }
    }
    trace
}

fn json(status: u16, body: &impl Serialize) -> ApiResponse {
    ApiResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        // Plain data types: serialising cannot fail.
        body: ApiBody::Json(serde_json::to_string(body).unwrap_or_default()),
    }
}

/// [`validate::check_json_body`], as a rejection.
fn check_json_body(body: &[u8], headers: &[(String, String)]) -> Result<(), Rejection> {
    validate::check_json_body(body, headers)
        .map_err(|refusal| Rejection::new(refusal.status, refusal.code, refusal.message))
}

/// Whether an invoke request asks for a stream: `?stream=true`, or an `Accept` naming
/// `text/event-stream` (unless `?stream=false`).
fn wants_stream(query: &str, headers: &[(String, String)]) -> bool {
    let stream = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("stream="));
    match stream {
        Some(value) => value == "true",
        None => header(headers, "accept").is_some_and(|accept| {
            accept
                .split(',')
                .any(|media| media.trim().starts_with(sse::CONTENT_TYPE))
        }),
    }
}

fn sse_response(events: impl Stream<Item = StreamEvent> + 'static) -> ApiResponse {
    ApiResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), sse::CONTENT_TYPE.into()),
            ("cache-control".into(), "no-cache".into()),
        ],
        body: ApiBody::Sse(Box::pin(events.map(|event| sse::encode(&event)))),
    }
}

fn error_response(error: &BedrockError) -> ApiResponse {
    json(
        error.http_status(),
        &ErrorBody::new(error.code(), error.client_message()),
    )
}

impl<P: Platform> Edge<P> {
    pub fn new(settings: impl Into<Rc<Settings>>, platform: P) -> Self {
        Self {
            settings: settings.into(),
            platform,
            jobs: None,
        }
    }

    /// Serves `/api/jobs` with `jobs` (without it, those endpoints answer 503).
    pub fn with_jobs(self, jobs: Option<Jobs>) -> Self {
        Self { jobs, ..self }
    }

    /// Answers one `/api/*` request. Never fails: every problem is an error response or a
    /// terminal SSE `error` event.
    pub async fn handle(&self, request: ApiRequest) -> ApiResponse {
        let started_ms = self.platform.now_ms();
        let request_id = format!("{:016x}", self.platform.random_u64());
        let mut log = RequestLog::new(
            self.platform.clone(),
            LogLine {
                request_id: request_id.clone(),
                method: request.method.clone(),
                path: request.path.clone(),
                ..LogLine::default()
            },
            started_ms,
        );
        let context = RequestContext {
            request_id: request_id.clone(),
            path: request.path.clone(),
            started_ms,
            trace: trace_headers(&request.headers),
        };
        let invoke_route = request.path.strip_prefix("/api/invoke/");
        // `/api/{route}` for every configured route (names of other endpoints are reserved).
        let named_route = request
            .path
            .strip_prefix("/api/")
            .filter(|name| self.settings.config.resolve(Some(name)).is_ok());
        let method = request.method.as_str();
        let (caller, refused) = match self.gate(&request, named_route.is_some()) {
            Ok(caller) => (caller, None),
            Err(refused) => (Caller::Direct, Some(refused)),
        };
        let handled = match (method, request.path.as_str()) {
            ("OPTIONS", _) => Some(self.preflight(&request, &mut log)),
            _ if refused.is_some() => refused.map(Err),
            ("POST", "/api/chat") => Some(self.chat(None, &request, &caller, context).await),
            ("POST", _) if invoke_route.is_some() => {
                let route = invoke_route.unwrap_or_default();
                Some(self.invoke(route, &request, context).await)
            }
            ("POST", _) if named_route.is_some() => {
                Some(self.chat(named_route, &request, &caller, context).await)
            }
            _ => None,
        };
        let answer = match (handled, method, request.path.as_str()) {
            (Some(Ok(answer)), _, _) => {
                // The answer pipeline writes this request's line.
                log.hand_over();
                answer
            }
            (Some(Err(rejection)), _, _) => rejection.respond(&mut log).into(),
            (None, "GET", "/api/routes") => {
                log.line.status = Some(200);
                log.write("ok");
                let config = &self.settings.config;
                match &caller {
                    Caller::Widget(widget) => json(200, &widget.routes(config)).into(),
                    Caller::Direct => json(200, &config.routes_response()).into(),
                }
            }
            (None, "GET", "/api/health") => {
                log.line.status = Some(200);
                log.write("ok");
                self.health().await.into()
            }
            (None, _, "/api/chat") => Rejection::method_not_allowed("POST")
                .respond(&mut log)
                .into(),
            (None, _, "/api/routes" | "/api/health") => Rejection::method_not_allowed("GET")
                .respond(&mut log)
                .into(),
            (None, _, _) if invoke_route.is_some() || named_route.is_some() => {
                Rejection::method_not_allowed("POST")
                    .respond(&mut log)
                    .into()
            }
            (None, _, path) if jobs::is_jobs_path(path) => {
                self.jobs(&request, &mut log).await.into()
            }
            _ => Rejection::new(404, ErrorCode::NotFound, "No such API endpoint.")
                .respond(&mut log)
                .into(),
        };
        let mut response = answer.response;
        let elapsed = self.platform.now_ms().saturating_sub(started_ms);
        let timing = match answer.upstream_ms {
            Some(upstream) => format!(
                "edge;dur={};desc=\"edge\", upstream;dur={upstream};desc=\"bedrock\"",
                elapsed.saturating_sub(upstream)
            ),
            None => format!("edge;dur={elapsed};desc=\"edge\""),
        };
        response.headers.push(("server-timing".into(), timing));
        response.headers.push(("x-request-id".into(), request_id));
        if let Caller::Widget(widget) = &caller {
            if widget.cross_origin {
                response
                    .headers
                    .extend(widget::cors_headers(&widget.origin));
            }
        }
        response
    }

    /// Who is calling, refused (403) when a widget key or another origin is not allowed here:
    /// an unknown key, an origin the key does not list, a foreign origin without a key, or a
    /// widget key on anything but the chat endpoints.
    fn gate(&self, request: &ApiRequest, is_route: bool) -> Result<Caller<'_>, Rejection> {
        let caller = widget::identify(&self.settings.config, &request.origin, &request.headers)
            .map_err(Rejection::forbidden)?;
        let chat_endpoint = matches!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/api/chat") | ("GET", "/api/routes")
        ) || (request.method == "POST" && is_route);
        if matches!(caller, Caller::Widget(_)) && !chat_endpoint {
            return Err(Rejection::forbidden(
                "A widget key opens only the chat endpoints (POST /api/chat, POST /api/{route}, \
                 GET /api/routes).",
            ));
        }
        Ok(caller)
    }

    /// `OPTIONS`: a CORS preflight, answered for the origins of the widget keys only.
    fn preflight(
        &self,
        request: &ApiRequest,
        log: &mut RequestLog<P>,
    ) -> Result<Answer, Rejection> {
        let headers = widget::preflight(&self.settings.config, &request.origin, &request.headers)
            .map_err(Rejection::forbidden)?;
        log.line.status = Some(204);
        log.write("ok");
        Ok(ApiResponse {
            status: 204,
            headers,
            body: ApiBody::Empty,
        }
        .into())
    }

    /// Counts a widget request against its key's per-visitor and per-key classes.
    async fn widget_rate_limit(
        &self,
        caller: &Caller<'_>,
        headers: &[(String, String)],
    ) -> Result<(), Rejection> {
        let Caller::Widget(widget) = caller else {
            return Ok(());
        };
        for (class, bucket) in widget.rate_limit_buckets(client_ip(headers)) {
            let Some(limits) = self.settings.config.rate_limits.get(class).copied() else {
                continue;
            };
            if !self.platform.rate_limit(class, limits, &bucket).await {
                return Err(Rejection::rate_limited(class, limits));
            }
        }
        Ok(())
    }

    /// `GET /api/health`: every configured target's circuit, latency and error rate.
    async fn health(&self) -> ApiResponse {
        let config = &self.settings.config;
        let targets = config.all_targets();
        let views = self
            .platform
            .health_load(HealthQuery {
                keys: targets.iter().map(|t| t.key()).collect(),
                circuit: config.circuit,
                claim_probes: false,
            })
            .await;
        let targets: Vec<TargetHealthInfo> = targets
            .iter()
            .zip(views)
            .map(|(target, view)| TargetHealthInfo {
                model: target.model.clone(),
                region: target.region.clone(),
                circuit: view.circuit,
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                ttft_ms: view.ttft_ms.map(|ms| ms.round() as u64),
                error_rate: (view.error_rate * 1000.0).round() / 1000.0,
                samples: view.samples,
            })
            .collect();
        let status = if targets.iter().all(|t| t.circuit == "closed") {
            "ok"
        } else {
            "degraded"
        };
        let mut response = json(
            200,
            &HealthResponse {
                status: status.into(),
                targets,
            },
        );
        response
            .headers
            .push(("cache-control".into(), "no-store".into()));
        response
    }

    /// Counts the request against the route's rate-limit class, per client bucket.
    async fn rate_limit(
        &self,
        limits: Option<(&str, RateLimitClass)>,
        headers: &[(String, String)],
    ) -> Result<(), Rejection> {
        let Some((class, limits)) = limits else {
            return Ok(());
        };
        for bucket in client_buckets(headers) {
            if !self.platform.rate_limit(class, limits, &bucket).await {
                return Err(Rejection::rate_limited(class, limits));
            }
        }
        Ok(())
    }

    /// `/api/jobs` and `/api/jobs/{id}` ([`crate::http::jobs`]).
    async fn jobs(&self, request: &ApiRequest, log: &mut RequestLog<P>) -> ApiResponse {
        let refuse = |failure: jobs::ApiFailure| Rejection {
            headers: failure
                .allow
                .map(|allow| vec![("allow".to_owned(), allow.to_owned())])
                .unwrap_or_default(),
            ..Rejection::new(failure.status, failure.code, failure.message)
        };
        let answer = async {
            let endpoint = jobs::endpoint(&request.method, &request.path).map_err(refuse)?;
            let Some(jobs) = &self.jobs else {
                return Err(Rejection::new(
                    503,
                    ErrorCode::Internal,
                    "Background jobs are not available on this edge.",
                ));
            };
            let (platform, settings) = (&self.platform, self.settings.as_ref());
            match endpoint {
                jobs::Endpoint::Submit => {
                    let id = jobs::new_job_id(platform);
                    let prepared = jobs::prepare(settings, jobs, request, id).map_err(refuse)?;
                    let limits = prepared.limits.as_ref().map(|(c, l)| (c.as_str(), *l));
                    self.rate_limit(limits, &request.headers).await?;
                    jobs::submit(platform, jobs, prepared).await
                }
                jobs::Endpoint::List => {
                    jobs::list(platform, settings, jobs, &request.query, &request.headers).await
                }
                jobs::Endpoint::Get(id) => {
                    jobs::get(platform, settings, jobs, id, &request.headers).await
                }
            }
            .map_err(refuse)
        };
        match answer.await {
            Ok(response) => {
                log.line.status = Some(response.status);
                log.write("ok");
                response
            }
            Err(rejection) => rejection.respond(log),
        }
    }

    /// `POST /api/chat` (`path_route` `None`) or `POST /api/{route}`.
    async fn chat(
        &self,
        path_route: Option<&str>,
        request: &ApiRequest,
        caller: &Caller<'_>,
        context: RequestContext,
    ) -> Result<Answer, Rejection> {
        check_json_body(&request.body, &request.headers)?;
        let chat: ChatRequest = serde_json::from_slice(&request.body)
            .map_err(|e| Rejection::new(400, ErrorCode::InvalidJson, e.to_string()))?;
        validate(&chat)
            .map_err(|e| Rejection::new(400, ErrorCode::InvalidRequest, e.to_string()))?;
        if let (Some(path), Some(body)) = (path_route, chat.route.as_deref()) {
            if path != body {
                return Err(Rejection::new(
                    400,
                    ErrorCode::InvalidRequest,
                    format!(
                        "route: the path names route {path:?}; leave route out or make it match"
                    ),
                ));
            }
        }
        let config = &self.settings.config;
        let asked = path_route.or(chat.route.as_deref());
        // A widget names a route its key opens, or gets the key's default.
        let asked = match caller {
            Caller::Widget(widget) => {
                let route = asked.unwrap_or_else(|| widget.default_route(config));
                widget.allows_route(route).map_err(Rejection::forbidden)?;
                Some(route)
            }
            Caller::Direct => asked,
        };
        let choice = choose_route(config, asked, &chat)
            .map_err(|m| Rejection::new(400, ErrorCode::InvalidRequest, format!("route: {m}")))?;
        let limits = match config.resolve(asked) {
            Ok(Resolved::Auto(auto)) => auto
                .rate_limit
                .as_deref()
                .and_then(|class| config.rate_limits.get_key_value(class))
                .map(|(class, limits)| (class.as_str(), *limits)),
            Ok(Resolved::Chain(_, route)) => route.limits(config),
            Err(_) => None,
        };
        self.rate_limit(limits, &request.headers).await?;
        self.widget_rate_limit(caller, &request.headers).await?;
        let platform = self.platform.clone();
        let settings = Rc::clone(&self.settings);
        if chat.stream == Some(false) {
            let once = chat_once(platform, settings, context, choice, chat).await;
            return Ok(Answer {
                response: match once.result {
                    Ok(answer) => json(200, &answer),
                    Err(error) => error_response(&error),
                },
                upstream_ms: Some(once.upstream_ms),
            });
        }
        let events = chat_stream(platform, settings, context, choice, chat);
        Ok(sse_response(events).into())
    }

    /// `POST /api/invoke/{route}`: the route's models get the checked native body as it is.
    async fn invoke(
        &self,
        route: &str,
        request: &ApiRequest,
        context: RequestContext,
    ) -> Result<Answer, Rejection> {
        let config = &self.settings.config;
        let (route, chain) = match config.route(Some(route)) {
            Ok((name, chain)) => (name.to_owned(), chain),
            Err(message) => return Err(Rejection::new(404, ErrorCode::NotFound, message)),
        };
        check_json_body(&request.body, &request.headers)?;
        prepare(&chain.primary().model, &request.body).map_err(|error| match error {
            BodyError::Json(message) => Rejection::new(400, ErrorCode::InvalidJson, message),
            BodyError::Invalid(error) => {
                Rejection::new(400, ErrorCode::InvalidRequest, error.to_string())
            }
        })?;
        self.rate_limit(chain.limits(config), &request.headers)
            .await?;
        let platform = self.platform.clone();
        let settings = Rc::clone(&self.settings);
        let body = request.body.clone();
        if wants_stream(&request.query, &request.headers) {
            let events = invoke_stream(platform, settings, context, route, body);
            return Ok(sse_response(events).into());
        }
        let once = invoke_once(platform, settings, context, route, body).await;
        Ok(Answer {
            response: match once.result {
                Ok(native) => ApiResponse {
                    status: 200,
                    headers: vec![("content-type".into(), native.content_type)],
                    body: ApiBody::Json(String::from_utf8_lossy(&native.bytes).into_owned()),
                },
                Err(error) => error_response(&error),
            },
            upstream_ms: Some(once.upstream_ms),
        })
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod widget_tests;
