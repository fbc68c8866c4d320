//! The platform-neutral HTTP layer, the one entry the Worker calls: `POST /api/chat` (checked,
//! validated, routed, then streamed as SSE or answered as JSON) and `GET /api/routes`.
//! Every response carries `x-request-id`; every error body is `{"error": {"code", "message"}}`.

use crate::{
    chat::{chat_once, chat_stream},
    platform::Platform,
    request_log::{LogLine, RequestLog},
    settings::Settings,
    validate::{validate, MAX_BODY_BYTES},
};
use futures::{Stream, StreamExt};
use serde::Serialize;
use shared::{
    routes::{RouteInfo, RoutesResponse},
    sse, ChatRequest, ErrorBody, ErrorCode,
};
use std::{pin::Pin, rc::Rc};

/// An HTTP request as the Worker received it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiRequest {
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
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
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
}

/// A request refused before any upstream call.
struct Rejection {
    status: u16,
    code: ErrorCode,
    message: String,
    allow: Option<&'static str>,
}

impl Rejection {
    fn new(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }

    fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(
                405,
                ErrorCode::MethodNotAllowed,
                format!("This endpoint only accepts {allow}."),
            )
        }
    }

    fn respond<P: Platform>(self, log: &mut RequestLog<P>) -> ApiResponse {
        log.line.status = Some(self.status);
        log.line.error = serde_json::to_value(self.code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        log.write("rejected");
        let mut response = json(self.status, &ErrorBody::new(self.code, self.message));
        if let Some(allow) = self.allow {
            response.headers.push(("allow".into(), allow.into()));
        }
        response
    }
}

fn json(status: u16, body: &impl Serialize) -> ApiResponse {
    ApiResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        // Plain data types: serialising cannot fail.
        body: ApiBody::Json(serde_json::to_string(body).unwrap_or_default()),
    }
}

/// Whether a `Content-Type` is JSON (`application/json`, parameters allowed).
fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

impl<P: Platform> Edge<P> {
    pub fn new(settings: Settings, platform: P) -> Self {
        Self {
            settings: Rc::new(settings),
            platform,
        }
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
        let mut response = match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/api/chat") => {
                match self
                    .chat(request.body, &request.headers, &request_id, started_ms)
                    .await
                {
                    Ok(response) => {
                        // The chat pipeline writes this request's line.
                        log.hand_over();
                        response
                    }
                    Err(rejection) => rejection.respond(&mut log),
                }
            }
            ("GET", "/api/routes") => {
                log.line.status = Some(200);
                log.write("ok");
                self.routes()
            }
            (_, "/api/chat") => Rejection::method_not_allowed("POST").respond(&mut log),
            (_, "/api/routes") => Rejection::method_not_allowed("GET").respond(&mut log),
            _ => {
                Rejection::new(404, ErrorCode::NotFound, "No such API endpoint.").respond(&mut log)
            }
        };
        response.headers.push(("x-request-id".into(), request_id));
        response
    }

    fn routes(&self) -> ApiResponse {
        let config = &self.settings.config;
        json(
            200,
            &RoutesResponse {
                default_route: config.default_route.clone(),
                routes: config
                    .routes
                    .iter()
                    .map(|(name, route)| RouteInfo {
                        name: name.clone(),
                        description: route.description.clone(),
                        model: route.target.model.clone(),
                        region: route.target.region.clone(),
                    })
                    .collect(),
            },
        )
    }

    async fn chat(
        &self,
        body: Vec<u8>,
        headers: &[(String, String)],
        request_id: &str,
        started_ms: u64,
    ) -> Result<ApiResponse, Rejection> {
        if body.len() > MAX_BODY_BYTES {
            return Err(Rejection::new(
                413,
                ErrorCode::PayloadTooLarge,
                format!("The request body must be at most {MAX_BODY_BYTES} bytes."),
            ));
        }
        let content_type = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str());
        if !is_json(content_type) {
            return Err(Rejection::new(
                415,
                ErrorCode::UnsupportedMediaType,
                "Content-Type must be application/json.",
            ));
        }
        let request: ChatRequest = serde_json::from_slice(&body)
            .map_err(|e| Rejection::new(400, ErrorCode::InvalidJson, e.to_string()))?;
        validate(&request)
            .map_err(|e| Rejection::new(400, ErrorCode::InvalidRequest, e.to_string()))?;
        let route = self
            .settings
            .config
            .route(request.route.as_deref())
            .map_err(|m| Rejection::new(400, ErrorCode::InvalidRequest, format!("route: {m}")))?
            .0
            .to_owned();
        let platform = self.platform.clone();
        let settings = Rc::clone(&self.settings);
        let request_id = request_id.to_owned();
        if request.stream == Some(false) {
            return Ok(
                match chat_once(platform, settings, request_id, route, request, started_ms).await {
                    Ok(answer) => json(200, &answer),
                    Err(error) => json(
                        error.http_status(),
                        &ErrorBody::new(error.code(), error.client_message()),
                    ),
                },
            );
        }
        let events = chat_stream(platform, settings, request_id, route, request, started_ms)
            .map(|event| sse::encode(&event));
        Ok(ApiResponse {
            status: 200,
            headers: vec![
                ("content-type".into(), sse::CONTENT_TYPE.into()),
                ("cache-control".into(), "no-cache".into()),
            ],
            body: ApiBody::Sse(Box::pin(events)),
        })
    }
}

#[cfg(test)]
mod tests;
