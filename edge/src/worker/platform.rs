//! The core's [`Platform`] on Cloudflare Workers: `fetch` with an abort signal tied to the
//! body's lifetime, `Date.now()`, `setTimeout`, `crypto.getRandomValues()`, the target-health
//! Durable Object (reads cached per isolate, every call bounded in time, writes deferred with
//! `waitUntil`) and the rate limiting bindings.

use super::{
    budget_object::{self, BudgetCall},
    health_object,
};
use crate::{
    config::{rate_limit_binding, Config, ConfigError, RateLimitClass, TokenBudget},
    platform::with_timeout,
    platform::{
        health::{HealthQuery, HealthRecord, TargetView},
        Platform, TransportError, UpstreamRequest, UpstreamResponse,
    },
    routing::health::cache::{HealthCache, STORE_TIMEOUT_MS},
};
use futures::StreamExt;
use std::{cell::RefCell, rc::Rc, time::Duration};
use wasm_bindgen::{JsCast, JsValue};
use worker::{AbortController, Context, Delay, Env, Fetch, Headers, Request};

thread_local! {
    /// This isolate's recent copy of healthy targets' views (see [`HealthCache`]).
    static HEALTH_CACHE: RefCell<HealthCache> = RefCell::new(HealthCache::default());
}

/// One request's platform: the Worker's bindings and the request's context (for `waitUntil`).
#[derive(Clone)]
pub struct WorkerPlatform {
    env: Env,
    ctx: Rc<Context>,
}

impl WorkerPlatform {
    pub fn new(env: Env, ctx: Context) -> Self {
        Self {
            env,
            ctx: Rc::new(ctx),
        }
    }
}

/// The token-budget object's answer to `/spent`.
#[derive(serde::Deserialize)]
struct Spent {
    tokens: u64,
}

/// Every binding `config` needs is present: the health Durable Object, the token-budget one
/// when there is a budget, and the rate limiter of each rate-limit class a route uses. A
/// missing one is a configuration error, reported by name.
pub fn check_bindings(env: &Env, config: &Config) -> Result<(), ConfigError> {
    if config.token_budget.is_some() {
        env.durable_object(budget_object::BINDING).map_err(|_| {
            ConfigError::new(
                "token_budget",
                "no BUDGETS Durable Object binding (wrangler.toml [[durable_objects.bindings]])",
            )
        })?;
    }
    env.durable_object(health_object::BINDING).map_err(|_| {
        ConfigError::new(
            health_object::BINDING,
            "no such Durable Object binding (wrangler.toml [[durable_objects.bindings]])",
        )
    })?;
    for class in config.used_rate_limits() {
        let binding = rate_limit_binding(class);
        env.rate_limiter(&binding).map_err(|_| {
            ConfigError::new(
                format!("rate_limits.{class}"),
                format!("no rate limiting binding {binding} (wrangler.toml [[ratelimits]])"),
            )
        })?;
    }
    Ok(())
}

/// A request that never follows a redirect: a callback URL was checked against the allowed
/// hosts, its redirect target was not (Bedrock and the health object do not redirect). Built
/// with web_sys's `RequestInit`: the bindings' own converts its `cf` options on every call,
/// code this Worker never needs.
fn new_request(
    url: &str,
    method: &str,
    headers: Option<&Headers>,
    body: Option<&JsValue>,
) -> worker::Result<Request> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if let Some(headers) = headers {
        init.set_headers(&headers.0);
    }
    if let Some(body) = body {
        init.set_body(body);
    }
    Ok(web_sys::Request::new_with_str_and_init(url, &init)?.into())
}

/// A Durable Object: its binding and the object's name.
struct Object<'a> {
    binding: &'static str,
    name: &'a str,
}

/// The health object every isolate shares.
const HEALTH: Object<'static> = Object {
    binding: health_object::BINDING,
    name: health_object::OBJECT_NAME,
};

/// One call to a Durable Object and its answer's body, given up after [`STORE_TIMEOUT_MS`]:
/// a slow object must not hold the request (or its `waitUntil`) up.
async fn call_object(
    platform: &WorkerPlatform,
    object: &Object<'_>,
    path: &str,
    body: String,
) -> worker::Result<Vec<u8>> {
    let call = call_object_unbounded(&platform.env, object, path, body);
    with_timeout(platform, STORE_TIMEOUT_MS, call)
        .await
        .unwrap_or_else(|| {
            Err(worker::Error::RustError(format!(
                "{} object did not answer within {STORE_TIMEOUT_MS} ms",
                object.binding
            )))
        })
}

async fn call_object_unbounded(
    env: &Env,
    object: &Object<'_>,
    path: &str,
    body: String,
) -> worker::Result<Vec<u8>> {
    let stub = env
        .durable_object(object.binding)?
        .get_by_name(object.name)?;
    let request = new_request(
        &format!("https://object{path}"),
        "POST",
        None,
        Some(&JsValue::from_str(&body)),
    )?;
    let mut response = stub.fetch_with_request(request).await?;
    if response.status_code() >= 300 {
        return Err(worker::Error::RustError(format!(
            "{} object answered HTTP {}",
            object.binding,
            response.status_code()
        )));
    }
    response.bytes().await
}

fn log_error(event: &str, error: &worker::Error) {
    worker::console_error!("{{\"event\":{event:?},\"error\":{:?}}}", error.to_string());
}

/// Aborts the upstream fetch when dropped: when the client goes away, the SSE stream is
/// dropped, and with it the Bedrock request. Aborting a finished fetch does nothing.
struct AbortOnDrop(Option<AbortController>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(controller) = self.0.take() {
            controller.abort();
        }
    }
}

fn transport(error: worker::Error) -> TransportError {
    TransportError(error.to_string())
}

impl Platform for WorkerPlatform {
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, TransportError> {
        let headers = Headers::new();
        for (name, value) in &request.headers {
            // `fetch` derives Host from the URL; it was signed from the same URL.
            if !name.eq_ignore_ascii_case("host") {
                headers.set(name, value).map_err(transport)?;
            }
        }
        let body = (!request.body.is_empty())
            .then(|| js_sys::Uint8Array::from(request.body.as_slice()).into());
        let fetch_request =
            new_request(&request.url, request.method, Some(&headers), body.as_ref())
                .map_err(transport)?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let guard = AbortOnDrop(Some(controller));
        let mut response = Fetch::Request(fetch_request)
            .send_with_signal(&signal)
            .await
            .map_err(transport)?;
        let status = response.status_code();
        let headers = response.headers().entries().collect();
        let body = response.stream().map_err(transport)?.map(move |chunk| {
            let _keep_fetch_alive = &guard;
            chunk.map_err(transport)
        });
        Ok(UpstreamResponse {
            status,
            headers,
            body: Box::pin(body),
        })
    }

    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    async fn sleep(&self, ms: u64) {
        Delay::from(Duration::from_millis(ms)).await;
    }

    /// From the Web Crypto API: request and job ids must not be guessable, which
    /// `Math.random()` does not promise.
    fn random_u64(&self) -> u64 {
        let mut bytes = [0u8; 8];
        let filled = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
            .map(JsCast::unchecked_into::<web_sys::Crypto>)
            .and_then(|crypto| crypto.get_random_values_with_u8_array(&mut bytes))
            .is_ok();
        if !filled {
            // Workers always have `crypto`; without it, ids stay unique if guessable.
            let half = || (js_sys::Math::random() * 4_294_967_296.0) as u64;
            return (half() << 32) | half();
        }
        u64::from_le_bytes(bytes)
    }

    fn log(&self, line: &str) {
        worker::console_log!("{line}");
    }

    async fn health_load(&self, query: HealthQuery) -> Vec<TargetView> {
        // This isolate's recent copy, when it can answer (see `HealthCache`).
        let now = self.now_ms();
        if let Some(views) = HEALTH_CACHE.with_borrow(|cache| cache.lookup(&query, now)) {
            return views;
        }
        let unknown =
            |query: &HealthQuery| query.keys.iter().map(|k| TargetView::unknown(k)).collect();
        let body = match serde_json::to_string(&query) {
            Ok(body) => body,
            Err(_) => return unknown(&query),
        };
        let views = async {
            let bytes = call_object(self, &HEALTH, "/load", body).await?;
            Ok::<_, worker::Error>(serde_json::from_slice::<Vec<TargetView>>(&bytes)?)
        };
        match views.await {
            Ok(views) if views.len() == query.keys.len() => {
                let now = self.now_ms();
                HEALTH_CACHE.with_borrow_mut(|cache| cache.store(&views, now));
                views
            }
            Ok(_) => unknown(&query),
            Err(error) => {
                // Slow or down: plan with what this isolate last knew.
                log_error("health_load_failed", &error);
                HEALTH_CACHE.with_borrow(|cache| cache.last_known(&query.keys))
            }
        }
    }

    fn health_record(&self, record: HealthRecord) {
        HEALTH_CACHE.with_borrow_mut(|cache| cache.note(&record));
        let Ok(body) = serde_json::to_string(&record) else {
            return;
        };
        let platform = self.clone();
        self.ctx.wait_until(async move {
            if let Err(error) = call_object(&platform, &HEALTH, "/record", body).await {
                log_error("health_record_failed", &error);
            }
        });
    }

    async fn rate_limit(&self, class: &str, _limits: RateLimitClass, bucket: &str) -> Option<bool> {
        // The binding holds its own limit and period; `check_bindings` ran at start.
        let outcome = async {
            self.env
                .rate_limiter(&rate_limit_binding(class))?
                .limit(bucket.to_owned())
                .await
        };
        // The class decides what an unanswered count means (`RateLimitClass::fail_closed`).
        match with_timeout(self, STORE_TIMEOUT_MS, outcome).await {
            Some(Ok(outcome)) => Some(outcome.success),
            Some(Err(error)) => {
                log_error("rate_limit_failed", &error);
                None
            }
            None => {
                let slow = worker::Error::RustError("the rate limiter did not answer".into());
                log_error("rate_limit_failed", &slow);
                None
            }
        }
    }

    async fn budget_spent(&self, client: &str, budget: TokenBudget) -> Option<u64> {
        let call = BudgetCall {
            tokens: budget.tokens,
            period_s: budget.period_s,
            charge: 0,
        };
        let object = Object {
            binding: budget_object::BINDING,
            name: client,
        };
        let body = serde_json::to_string(&call).ok()?;
        let spent = async {
            let bytes = call_object(self, &object, "/spent", body).await?;
            Ok::<_, worker::Error>(serde_json::from_slice::<Spent>(&bytes)?.tokens)
        };
        match spent.await {
            Ok(tokens) => Some(tokens),
            Err(error) => {
                log_error("budget_load_failed", &error);
                None
            }
        }
    }

    fn budget_charge(&self, client: &str, budget: TokenBudget, tokens: u64) {
        let call = BudgetCall {
            tokens: budget.tokens,
            period_s: budget.period_s,
            charge: tokens,
        };
        let Ok(body) = serde_json::to_string(&call) else {
            return;
        };
        let (platform, client) = (self.clone(), client.to_owned());
        self.ctx.wait_until(async move {
            let object = Object {
                binding: budget_object::BINDING,
                name: &client,
            };
            if let Err(error) = call_object(&platform, &object, "/charge", body).await {
                log_error("budget_charge_failed", &error);
            }
        });
    }

    /// Web Crypto: the JWK imported for RSASSA-PKCS1-v1_5 with SHA-256, then `verify`.
    async fn verify_rs256(&self, n: &str, e: &str, signed: &[u8], signature: &[u8]) -> bool {
        let verified = async {
            let crypto: web_sys::Crypto =
                js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))?
                    .unchecked_into();
            let subtle = crypto.subtle();
            let object = |pairs: &[(&str, &JsValue)]| -> Result<js_sys::Object, JsValue> {
                let object = js_sys::Object::new();
                for (name, value) in pairs {
                    js_sys::Reflect::set(&object, &JsValue::from_str(name), value)?;
                }
                Ok(object)
            };
            let text = |value: &str| JsValue::from_str(value);
            let jwk = object(&[
                ("kty", &text("RSA")),
                ("n", &text(n)),
                ("e", &text(e)),
                ("alg", &text("RS256")),
            ])?;
            let algorithm = object(&[
                ("name", &text("RSASSA-PKCS1-v1_5")),
                ("hash", &text("SHA-256")),
            ])?;
            let usages = js_sys::Array::of1(&text("verify"));
            let key = wasm_bindgen_futures::JsFuture::from(
                subtle.import_key_with_object("jwk", &jwk, &algorithm, false, &usages)?,
            )
            .await?;
            let verified = wasm_bindgen_futures::JsFuture::from(
                subtle.verify_with_object_and_u8_array_and_u8_array(
                    &algorithm,
                    &key.unchecked_into(),
                    signature,
                    signed,
                )?,
            )
            .await?;
            Ok::<bool, JsValue>(verified.as_bool() == Some(true))
        };
        verified.await.unwrap_or(false)
    }
}
