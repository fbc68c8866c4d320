//! Client for the edge API: `POST /api/chat` streamed as Server-Sent Events,
//! `GET /api/routes` and `POST /api/widget/token`. Every request can be cancelled with an
//! `AbortSignal`, and can carry extra headers (the embeddable widget sends its token).

use crate::{state::Failure, stream::read_events};
use gloo_net::http::Request;
use shared::{
    routes::RoutesResponse,
    widget::{TokenRequest, TokenResponse, KEY_HEADER, TOKEN_PATH},
    ChatRequest, ErrorBody, StreamEvent,
};
use web_sys::AbortSignal;

/// How a streamed request ended without its terminal event.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatError {
    /// The caller aborted it (Stop, or the view went away).
    Aborted,
    /// The edge refused the widget token (HTTP 401: expired, or signed with a secret it no
    /// longer uses); a new token may work.
    Unauthorized(Failure),
    Failed(Failure),
}

/// Sends `request` to `{base}/api/chat` (with `headers` besides the usual ones, e.g. a widget
/// key) and hands each event to `on_event` as it arrives. `Ok` once the stream's `done` or
/// `error` event has been delivered.
pub async fn stream_chat(
    base: &str,
    headers: &[(String, String)],
    request: &ChatRequest,
    signal: &AbortSignal,
    on_event: &mut dyn FnMut(StreamEvent),
) -> Result<(), ChatError> {
    let fail = |error: Failure| {
        if signal.aborted() {
            ChatError::Aborted
        } else {
            ChatError::Failed(error)
        }
    };
    let mut builder = Request::post(&format!("{base}/api/chat"))
        .abort_signal(Some(signal))
        .header("accept", shared::sse::CONTENT_TYPE);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let response = builder
        .json(request)
        .map_err(|error| fail(network(&error)))?
        .send()
        .await
        .map_err(|error| fail(network(&error)))?;
    if !response.ok() {
        let body = response.text().await.unwrap_or_default();
        let failure = http_failure(response.status(), &body);
        return Err(match response.status() {
            401 if !signal.aborted() => ChatError::Unauthorized(failure),
            _ => fail(failure),
        });
    }
    let body = response
        .body()
        .ok_or_else(|| fail(network(&"empty body")))?;
    read_events(body, on_event).await.map_err(fail)
}

/// The failure for a non-2xx answer, from its `{"error": {...}}` body when it has one.
pub fn http_failure(status: u16, body: &str) -> Failure {
    let retryable = status == 429 || status >= 500;
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => Failure {
            message: error.message,
            retryable,
            retry_after_secs: error.retry_after_secs,
        },
        Err(_) => Failure {
            message: format!("The server answered with HTTP {status}."),
            retryable,
            retry_after_secs: None,
        },
    }
}

fn network(error: &dyn std::fmt::Display) -> Failure {
    Failure {
        message: format!("Could not reach the server: {error}"),
        retryable: true,
        retry_after_secs: None,
    }
}

/// The routes the edge offers.
pub async fn fetch_routes(base: &str, signal: &AbortSignal) -> Result<RoutesResponse, String> {
    fetch_routes_with(base, &[], signal)
        .await
        .map_err(|failure| failure.message)
}

/// The routes the edge offers to a caller sending `headers` (a widget sees only its own);
/// a refusal carries the edge's message.
pub async fn fetch_routes_with(
    base: &str,
    headers: &[(String, String)],
    signal: &AbortSignal,
) -> Result<RoutesResponse, Failure> {
    let mut builder = Request::get(&format!("{base}/api/routes")).abort_signal(Some(signal));
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let response = builder.send().await.map_err(|error| network(&error))?;
    if !response.ok() {
        let body = response.text().await.unwrap_or_default();
        return Err(http_failure(response.status(), &body));
    }
    response.json().await.map_err(|error| network(&error))
}

/// A widget token for a visitor of the widget key `key` on the page `origin`.
pub async fn fetch_widget_token(
    base: &str,
    key: &str,
    origin: &str,
    signal: &AbortSignal,
) -> Result<TokenResponse, Failure> {
    let asked = TokenRequest {
        origin: Some(origin.to_owned()),
    };
    let response = Request::post(&format!("{base}{TOKEN_PATH}"))
        .abort_signal(Some(signal))
        .header(KEY_HEADER, key)
        .json(&asked)
        .map_err(|error| network(&error))?
        .send()
        .await
        .map_err(|error| network(&error))?;
    if !response.ok() {
        let body = response.text().await.unwrap_or_default();
        return Err(http_failure(response.status(), &body));
    }
    response.json().await.map_err(|error| network(&error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn error_bodies_become_failures() {
        let limited = http_failure(
            429,
            r#"{"error":{"code":"rate_limited","message":"Too many requests.","retry_after_secs":7}}"#,
        );
        assert_eq!(
            limited,
            Failure {
                message: "Too many requests.".into(),
                retryable: true,
                retry_after_secs: Some(7),
            }
        );
        let bad = http_failure(400, "not json");
        assert_eq!(bad.message, "The server answered with HTTP 400.");
        assert!(!bad.retryable);
    }
}
