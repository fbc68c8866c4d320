//! The HTTP application: the unsigned `/_fake/` control API (faults, replies, calls), and one
//! fallback handler that routes on the raw path, authenticates, counts, applies faults and
//! answers Bedrock calls.

use super::{
    async_invoke::AsyncJobs,
    clock,
    errors::ApiError,
    faults::{Control, FaultRule, SetReply},
    model_id, operations,
    routes::{self, Route},
    sigv4::{self, Received},
    FakeConfig,
};
use axum::{
    body::{to_bytes, Body},
    extract::{Request, State},
    http::{HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::watch;

/// Largest request body Bedrock accepts (the `Body` blob maximum).
pub const MAX_BODY: usize = 25_000_000;

/// Everything the handlers share.
#[derive(Debug)]
pub struct Server {
    pub config: FakeConfig,
    pub control: Control,
    pub jobs: AsyncJobs,
    /// Becomes `true` when the handle is dropped: hanging and streaming calls stop.
    pub shutdown: watch::Receiver<bool>,
}

/// The model id a response was for, for the request log.
#[derive(Clone)]
struct LoggedModel(String);

pub fn app(server: Arc<Server>) -> Router {
    Router::new()
        .route(
            "/_fake/faults",
            post(add_fault).delete(clear).get(list_faults),
        )
        .route("/_fake/replies", post(set_reply).get(list_replies))
        .route("/_fake/calls", get(calls))
        .fallback(bedrock)
        .layer(middleware::from_fn_with_state(
            server.clone(),
            request_id_and_log,
        ))
        .with_state(server)
}

/// Adds `x-amzn-RequestId` to every response and, if configured, logs one line per request.
async fn request_id_and_log(
    State(server): State<Arc<Server>>,
    request: Request,
    next: Next,
) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let mut response = next.run(request).await;
    if let Ok(id) = HeaderValue::from_str(&clock::request_id()) {
        response.headers_mut().insert("x-amzn-requestid", id);
    }
    if server.config.log_requests {
        let model = response
            .extensions()
            .get::<LoggedModel>()
            .map_or("-", |m| m.0.as_str());
        eprintln!(
            "fake-bedrock: {method} {path} model={model} status={}",
            response.status().as_u16()
        );
    }
    response
}

async fn add_fault(State(server): State<Arc<Server>>, body: axum::body::Bytes) -> Response {
    let added = serde_json::from_slice::<FaultRule>(&body)
        .map_err(|e| format!("invalid fault rule: {e}"))
        .and_then(|rule| server.control.add(rule.clone()).map(|()| rule));
    match added {
        Ok(rule) => Json(json!({ "added": rule })).into_response(),
        Err(message) => {
            (StatusCode::BAD_REQUEST, Json(json!({ "message": message }))).into_response()
        }
    }
}

async fn set_reply(State(server): State<Arc<Server>>, body: axum::body::Bytes) -> Response {
    let set = serde_json::from_slice::<SetReply>(&body)
        .map_err(|e| format!("invalid reply: {e}"))
        .and_then(|reply| {
            let model = reply.model.clone();
            server.control.set_reply(reply).map(|()| model)
        });
    match set {
        Ok(model) => Json(json!({ "set": model })).into_response(),
        Err(message) => {
            (StatusCode::BAD_REQUEST, Json(json!({ "message": message }))).into_response()
        }
    }
}

async fn list_replies(State(server): State<Arc<Server>>) -> Json<Value> {
    Json(json!({ "replies": server.control.replies() }))
}

async fn clear(State(server): State<Arc<Server>>) -> Json<Value> {
    server.control.reset();
    Json(json!({ "cleared": true }))
}

async fn list_faults(State(server): State<Arc<Server>>) -> Json<Value> {
    Json(json!({ "faults": server.control.rules() }))
}

async fn calls(State(server): State<Arc<Server>>) -> Json<Value> {
    Json(server.control.calls_json())
}

/// Every Bedrock Runtime operation.
async fn bedrock(State(server): State<Arc<Server>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let route = match routes::route(&parts.method, parts.uri.path()) {
        Ok(route) => route,
        Err(error) => return error.into_response(),
    };
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return ApiError::validation(format!(
            "The request body exceeds the maximum of {MAX_BODY} bytes."
        ))
        .into_response();
    };
    let received = Received {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    };
    let region =
        match sigv4::authenticate(&received, &server.config, clock::now_ms().div_euclid(1000)) {
            Ok(region) => region,
            Err(error) => return error.into_response(),
        };
    let now = clock::now_ms();
    let (mut answer, model) = match route {
        Route::Model {
            model_id,
            operation,
        } => {
            server.control.record_call(&model_id, &region);
            let answer = match model_id::check(&model_id) {
                Err(message) => ApiError::validation(message).into_response(),
                Ok(()) => {
                    let call = operations::Call {
                        server: &server,
                        model_id: &model_id,
                        region: &region,
                        headers: &parts.headers,
                    };
                    operations::answer(call, operation, &body).await
                }
            };
            (answer, Some(model_id))
        }
        Route::StartAsyncInvoke => {
            let model = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|b| b["modelId"].as_str().map(str::to_owned));
            (
                json_or_error(server.jobs.start(&server.control, &region, &body, now)),
                model,
            )
        }
        Route::GetAsyncInvoke { invocation_arn } => (
            json_or_error(server.jobs.get(&region, &invocation_arn, now)),
            None,
        ),
        Route::ListAsyncInvokes => (
            json_or_error(server.jobs.list(&region, parts.uri.query(), now)),
            None,
        ),
    };
    if let Some(model) = model {
        answer.extensions_mut().insert(LoggedModel(model));
    }
    answer
}

/// A 200 `application/json` answer, or the error.
fn json_or_error(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(value) => {
            let mut response = Response::new(Body::from(value.to_string()));
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            response
        }
        Err(error) => error.into_response(),
    }
}
