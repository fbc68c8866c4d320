//! The Cloudflare Worker shell: converts `worker::Request`/`Response` to and from the core's
//! platform-neutral types and supplies the platform. `/api/*` goes to the core; the widget
//! frame is the chat page with a policy from its key; everything else is the front end's
//! static files. Also exports the target-health Durable Object, the queue consumer and the
//! cron sweep of expired jobs.

mod budget_object;
mod health_object;
mod jobs;
mod platform;

use crate::bedrock::request_url::RequestUrl;
use crate::config::settings::Settings;
use crate::config::ConfigError;
use crate::http::{validate::declared_too_large, ApiBody, ApiRequest, ApiResponse, Edge};
use futures::StreamExt;
use platform::WorkerPlatform;
use shared::{ErrorBody, ErrorCode};
use std::{cell::RefCell, rc::Rc};
use worker::{
    event, Context, Env, Headers, MessageBatch, Method, Request, Response, ScheduleContext,
    ScheduledEvent,
};

#[event(fetch)]
async fn fetch(request: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    if request.path() == shared::widget::FRAME_PATH {
        return widget_frame(&request, &env).await;
    }
    if !request.path().starts_with("/api/") {
        return env.assets("ASSETS")?.fetch_request(request).await;
    }
    // Never let a platform error escape as an exception page with internals in it.
    match handle_api(request, &env, ctx).await {
        Ok(response) => Ok(response),
        Err(error) => {
            worker::console_error!(
                "{{\"event\":\"worker_error\",\"error\":{:?}}}",
                error.to_string()
            );
            json_response(
                500,
                &ErrorBody::new(
                    ErrorCode::Internal,
                    "The edge failed to handle the request.",
                ),
            )
        }
    }
}

thread_local! {
    /// The settings, parsed and checked once per isolate: its variables, secrets and bindings
    /// do not change while it lives (a new deploy starts new isolates).
    static SETTINGS: RefCell<Option<Rc<Settings>>> = const { RefCell::new(None) };
}

fn settings(env: &Env) -> Result<Rc<Settings>, ConfigError> {
    if let Some(settings) = SETTINGS.with_borrow(Clone::clone) {
        return Ok(settings);
    }
    let settings = Settings::from_lookup(|name| lookup(env, name))?;
    platform::check_bindings(env, &settings.config)?;
    let settings = Rc::new(settings);
    SETTINGS.set(Some(settings.clone()));
    Ok(settings)
}

async fn handle_api(mut request: Request, env: &Env, ctx: Context) -> worker::Result<Response> {
    let settings = match settings(env) {
        Ok(settings) => settings,
        Err(error) => {
            worker::console_error!(
                "{{\"event\":\"config_error\",\"error\":{:?}}}",
                error.to_string()
            );
            // The detail (which variable, what is wrong with it) is the operator's, in the log.
            let body = ErrorBody::new(
                ErrorCode::Internal,
                "The edge is misconfigured; its operator can find the details in its logs.",
            );
            return json_response(500, &body);
        }
    };
    let url = request.inner().url();
    let url = RequestUrl::split(&url);
    let headers: Vec<(String, String)> = request.headers().entries().collect();
    let limit = settings.max_body_bytes;
    let body = if declared_too_large(&headers, limit) {
        Vec::new()
    } else {
        bounded_body(&mut request, limit).await?
    };
    let api_request = ApiRequest {
        origin: url.origin.to_owned(),
        method: request.method().to_string(),
        path: url.path.to_owned(),
        query: url.query.to_owned(),
        headers,
        body,
    };
    let mut edge = Edge::new(settings, WorkerPlatform::new(env.clone(), ctx));
    match crate::jobs::JobSettings::from_lookup(|name| lookup(env, name)) {
        Ok(job_settings) => edge = edge.with_jobs(jobs::backend(env, job_settings)),
        Err(error) => {
            worker::console_error!(
                "{{\"event\":\"config_error\",\"error\":{:?}}}",
                error.to_string()
            );
        }
    }
    into_worker_response(edge.handle(api_request).await)
}

/// The request body, read to at most one byte past the limit, so that a missing or lying
/// `Content-Length` cannot make the isolate buffer more; the core answers 413 for it.
async fn bounded_body(request: &mut Request, limit: usize) -> worker::Result<Vec<u8>> {
    // No body at all (a GET) is an error here: an empty body.
    let Ok(mut stream) = request.stream() else {
        return Ok(Vec::new());
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = limit + 1 - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() > limit {
            break;
        }
    }
    Ok(body)
}

/// The consumer of the jobs queue and of its dead-letter queue (see `jobs::consume`). Always
/// `Ok`: an `Err` here would abort the Wasm instance; failures retry their messages instead.
#[event(queue)]
async fn queue(batch: MessageBatch<String>, env: Env, ctx: Context) -> worker::Result<()> {
    let settings = settings(&env).map_err(|e| e.to_string());
    let job_settings =
        crate::jobs::JobSettings::from_lookup(|name| lookup(&env, name)).map_err(|e| e.to_string());
    jobs::consume(batch, env, ctx, settings, job_settings).await;
    Ok(())
}

/// The cron trigger (`[triggers]` in wrangler.toml): deletes the jobs whose time to live has
/// passed, one batch per run.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    jobs::sweep(&env).await;
}

/// The widget frame: the chat page itself (`index.html`, the same wasm; it starts in widget
/// mode by its path) with a Content-Security-Policy whose `frame-ancestors` comes from the key
/// in the query ([`crate::http::widget::frame_csp`]).
async fn widget_frame(request: &Request, env: &Env) -> worker::Result<Response> {
    let url = request.inner().url();
    let url = RequestUrl::split(&url);
    let settings = settings(env).ok();
    let csp = crate::http::widget::frame_csp(settings.as_ref().map(|s| &s.config), url.query);
    // `fetch_request`: the bindings' `fetch(url, init)` carries the code of their
    // `RequestInit` conversion even when given none.
    let index = Request::new(&format!("{}/", url.origin), Method::Get)?;
    let page = env.assets("ASSETS")?.fetch_request(index).await?;
    // A fetched response's headers are immutable: copy them.
    let headers = Headers::new();
    for (name, value) in page.headers().entries() {
        headers.append(&name, &value)?;
    }
    headers.set("content-security-policy", &csp)?;
    headers.set("cache-control", "no-cache")?;
    Ok(page.with_headers(headers))
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
        ApiBody::Sse(events) => {
            Response::from_stream(events.map(|text| Ok::<_, worker::Error>(text.into_bytes())))?
        }
    };
    Ok(body.with_status(response.status).with_headers(headers))
}

fn json_response(status: u16, body: &ErrorBody) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(Response::from_bytes(serde_json::to_vec(body)?)?
        .with_status(status)
        .with_headers(headers))
}
