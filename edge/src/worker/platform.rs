//! The core's [`Platform`] on Cloudflare Workers: `fetch` with an abort signal tied to the
//! body's lifetime, `Date.now()`, `setTimeout` and `Math.random()`.

use crate::platform::{Platform, TransportError, UpstreamRequest, UpstreamResponse};
use futures::StreamExt;
use std::time::Duration;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

#[derive(Clone, Copy)]
pub struct WorkerPlatform;

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
        let mut init = RequestInit::new();
        init.with_method(Method::from(request.method.to_owned())).with_headers(headers);
        if !request.body.is_empty() {
            init.with_body(Some(js_sys::Uint8Array::from(request.body.as_slice()).into()));
        }
        let fetch_request = Request::new_with_init(&request.url, &init).map_err(transport)?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let guard = AbortOnDrop(Some(controller));
        let mut response = Fetch::Request(fetch_request).send_with_signal(&signal).await.map_err(transport)?;
        let status = response.status_code();
        let headers = response.headers().entries().collect();
        let body = response.stream().map_err(transport)?.map(move |chunk| {
            let _keep_fetch_alive = &guard;
            chunk.map_err(transport)
        });
        Ok(UpstreamResponse { status, headers, body: Box::pin(body) })
    }

    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    async fn sleep(&self, ms: u64) {
        Delay::from(Duration::from_millis(ms)).await;
    }

    fn random_u64(&self) -> u64 {
        let high = (js_sys::Math::random() * 4_294_967_296.0) as u64;
        let low = (js_sys::Math::random() * 4_294_967_296.0) as u64;
        (high << 32) | low
    }

    fn log(&self, line: &str) {
        worker::console_log!("{line}");
    }
}
