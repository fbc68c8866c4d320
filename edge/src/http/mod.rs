//! The platform-neutral HTTP layer, the one entry the Worker calls. Each request is parsed
//! once into an [`Endpoint`]; each endpoint has its handler in a file of its own:
//! [`chat`] (`POST /api/chat`, `POST /api/{route}`), [`invoke`] (`POST /api/invoke/{route}`),
//! [`health`] (`GET /api/health`), [`jobs`] (`/api/jobs`), [`widget_token`]
//! (`POST /api/widget/token`), and `GET /api/routes` here. Every refusal is one [`ApiError`],
//! answered as `{"error": {"code", "message"}}`; every response carries `x-request-id` and
//! `Server-Timing`. Widget tokens and other origins are checked first ([`widget`]): refused
//! with 401 or 403; a widget key's origins get CORS headers for themselves alone; `OPTIONS`
//! answers CORS preflights. Request bodies are bounded and validated
//! ([`validate`]), and counted against rate limits ([`limits`]) before anything is sent.

mod access;
mod chat;
pub mod endpoint;
pub mod error;
mod health;
mod invoke;
pub mod jobs;
mod limits;
mod trace;
pub mod validate;
pub mod widget;
mod widget_token;

pub use endpoint::Endpoint;
pub use error::ApiError;

use crate::{
    config::settings::Settings,
    jobs::Jobs,
    platform::Platform,
    routing::{
        pipeline::RequestContext,
        rate_limit::client_bucket,
        request_log::{LogLine, RequestLog},
    },
};
use futures::{Stream, StreamExt};
use serde::Serialize;
use shared::{sse, StreamEvent};
use std::{pin::Pin, rc::Rc};
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

/// A handled request's answer, its log line written with the answer's status.
fn logged<P: Platform>(log: &mut RequestLog<P>, response: ApiResponse) -> Answer {
    log.line.status = Some(response.status);
    log.write("ok");
    response.into()
}

fn json(status: u16, body: &impl Serialize) -> ApiResponse {
    ApiResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        // Plain data types: serialising cannot fail.
        body: ApiBody::Json(serde_json::to_string(body).unwrap_or_default()),
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
            trace: trace::trace_headers(&request.headers),
            billed: None,
        };
        let config = &self.settings.config;
        let endpoint = Endpoint::parse(&request.method, &request.path, config);
        let (caller, mut refused) = match self.gate(&request, endpoint.as_ref().ok().copied()) {
            Ok(caller) => (caller, None),
            Err(refused) => (Caller::Direct, Some(refused)),
        };
        // Who the client is: a widget's visitor counts by its network; anyone else proves
        // itself as the access mode asks (a preflight carries no credentials).
        let mut client = client_bucket(&request.headers);
        let needs_proof = matches!(caller, Caller::Direct)
            && !matches!(
                endpoint,
                Ok(Endpoint::Preflight) | Ok(Endpoint::WidgetToken) | Err(_)
            );
        if refused.is_none() && needs_proof {
            match self.authenticate(&request.headers).await {
                Ok(who) => client = who,
                Err(error) => refused = Some(error),
            }
        }
        let outcome = match (endpoint, refused) {
            (Ok(Endpoint::Preflight), _) => self.preflight(&request).map(|r| logged(&mut log, r)),
            (_, Some(refused)) | (Err(refused), None) => Err(refused),
            (Ok(Endpoint::Chat { route }), None) => self
                .chat(route, &request, &caller, &client, context)
                .await
                .inspect(|_| log.hand_over()),
            (Ok(Endpoint::Invoke { route }), None) => self
                .invoke(route, &request, &client, context)
                .await
                .inspect(|_| log.hand_over()),
            (Ok(Endpoint::Routes), None) => {
                let routes = match &caller {
                    Caller::Widget(widget) => widget.routes(config),
                    Caller::Direct => config.routes_response(),
                };
                Ok(logged(&mut log, json(200, &routes)))
            }
            (Ok(Endpoint::Health), None) => Ok(logged(&mut log, self.health().await)),
            (Ok(Endpoint::WidgetToken), None) => self
                .widget_token(&request)
                .await
                .map(|r| logged(&mut log, r)),
            (Ok(Endpoint::Jobs(endpoint)), None) => self
                .jobs(endpoint, &request, &client)
                .await
                .map(|r| logged(&mut log, r)),
        };
        let answer = outcome.unwrap_or_else(|error| error.respond(&mut log).into());
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
        // A widget key's origin may read every answer (a preflight's carries them already).
        let cors = widget::cors_origin(config, &request.origin, &request.headers);
        let answered = response.header("access-control-allow-origin").is_some();
        if let Some(origin) = cors.filter(|_| !answered) {
            response.headers.extend(widget::cors_headers(origin));
        }
        response
    }

    /// Who is calling, refused when a widget call or another origin is not allowed here: 401
    /// for a widget key without a valid token, 403 for an unknown key, an origin the key does
    /// not list, a foreign origin without a key, or a widget token on anything but the chat
    /// endpoints. `POST /api/widget/token` checks its key and origin itself.
    fn gate(
        &self,
        request: &ApiRequest,
        endpoint: Option<Endpoint<'_>>,
    ) -> Result<Caller<'_>, ApiError> {
        if endpoint == Some(Endpoint::WidgetToken) {
            return Ok(Caller::Direct);
        }
        let caller = widget::identify(
            &self.settings.config,
            &request.origin,
            &request.headers,
            self.settings.widget_token_secret.as_ref(),
            self.platform.now_ms() / 1000,
        )?;
        let for_widgets = endpoint.is_some_and(Endpoint::is_for_widgets);
        if matches!(caller, Caller::Widget(_)) && !for_widgets {
            return Err(ApiError::forbidden(
                "A widget key opens only the chat endpoints (POST /api/chat, POST /api/{route}, \
                 GET /api/routes).",
            ));
        }
        Ok(caller)
    }

    /// `OPTIONS`: a CORS preflight, answered for the origins of the widget keys only.
    fn preflight(&self, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let headers = widget::preflight(&self.settings.config, &request.origin, &request.headers)
            .map_err(ApiError::forbidden)?;
        Ok(ApiResponse {
            status: 204,
            headers,
            body: ApiBody::Empty,
        })
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod widget_tests;
