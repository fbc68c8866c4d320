//! The Cloudflare Worker shell: converts `worker::Request`/`Response` to and from the core's
//! platform-neutral types and supplies the platform. `/api/*` goes to the core; everything
//! else is the front end's static files.

mod platform;

use crate::app::{ApiBody, ApiRequest, ApiResponse, Edge};
use crate::settings::Settings;
use futures::StreamExt;
use platform::WorkerPlatform;
use shared::{ErrorBody, ErrorCode};
use worker::{event, Context, Env, Headers, Request, Response};

#[event(fetch)]
async fn fetch(request: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    if !request.path().starts_with("/api/") {
        return env.assets("ASSETS")?.fetch_request(request).await;
    }
    // Never let a platform error escape as an exception page with internals in it.
    match handle_api(request, &env).await {
        Ok(response) => Ok(response),
        Err(error) => {
            worker::console_error!("{{\"event\":\"worker_error\",\"error\":{:?}}}", error.to_string());
            json_response(500, &ErrorBody::new(ErrorCode::Internal, "The edge failed to handle the request."))
        }
    }
}

async fn handle_api(mut request: Request, env: &Env) -> worker::Result<Response> {
    let settings = match Settings::from_lookup(|name| lookup(env, name)) {
        Ok(settings) => settings,
        Err(error) => {
            worker::console_error!("{{\"event\":\"config_error\",\"error\":{:?}}}", error.to_string());
            let body = ErrorBody::new(ErrorCode::Internal, format!("The edge is not configured: {error}"));
            return json_response(500, &body);
        }
    };
    let url = request.url()?;
    let api_request = ApiRequest {
        method: request.method().to_string(),
        path: url.path().to_owned(),
        query: url.query().unwrap_or_default().to_owned(),
        headers: request.headers().entries().collect(),
        body: request.bytes().await?,
    };
    into_worker_response(Edge::new(settings, WorkerPlatform).handle(api_request).await)
}

/// A secret, else a plain var, else nothing.
fn lookup(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|value| !value.is_empty())
}

fn into_worker_response(response: ApiResponse) -> worker::Result<Response> {
    let headers = Headers::new();
    for (name, value) in &response.headers {
        headers.append(name, value)?;
    }
    let body = match response.body {
        ApiBody::Empty => Response::empty()?,
        ApiBody::Json(json) => Response::from_bytes(json.into_bytes())?,
        ApiBody::Sse(events) => Response::from_stream(events.map(|text| Ok::<_, worker::Error>(text.into_bytes())))?,
    };
    Ok(body.with_status(response.status).with_headers(headers))
}

fn json_response(status: u16, body: &ErrorBody) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(Response::from_bytes(serde_json::to_vec(body)?)?.with_status(status).with_headers(headers))
}
