//! The four model operations once routed and authenticated: validate the body, apply the
//! call's fault, and answer as JSON or as a paced event stream.

use super::{
    clock, converse,
    errors::ApiError,
    faults::Fault,
    invoke::{self, Format},
    reply::{reply_text, Answer},
    routes::Operation,
    server::Server,
    stream::{self, Part, Piece},
};
use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde_json::Value;
use std::time::Duration;
use tokio::{sync::watch, time::Instant};

/// One authenticated call to a model.
pub struct Call<'a> {
    pub server: &'a Server,
    pub model_id: &'a str,
    pub region: &'a str,
    pub headers: &'a HeaderMap,
}

pub async fn answer(call: Call<'_>, operation: Operation, body: &[u8]) -> Response {
    match run(&call, operation, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn run(call: &Call<'_>, operation: Operation, body: &[u8]) -> Result<Response, ApiError> {
    let started = Instant::now();
    let converse = matches!(operation, Operation::Converse | Operation::ConverseStream);
    check_content_type(call.headers, converse)?;
    let body: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::validation(format!(
            "Malformed input request: the body is not valid JSON ({e})"
        ))
    })?;
    let format = Format::of(call.model_id, &body);
    let conversation = if converse {
        converse::parse(&body)?
    } else {
        format.parse(&body)?
    };

    let fault = call.server.control.take_fault(call.model_id, call.region);
    if let Some(error) = fault
        .as_ref()
        .and_then(|f| f.http_error(operation.streaming()))
    {
        return Err(error);
    }
    let mut shutdown = call.server.shutdown.clone();
    let wait = match fault {
        Some(Fault::Hang) => Duration::MAX,
        Some(Fault::SlowFirstByte { ms }) => Duration::from_millis(ms),
        _ => Duration::ZERO,
    };
    if !wait.is_zero() {
        tokio::select! {
            () = sleep(wait) => {}
            _ = shutdown.wait_for(|stopped| *stopped) => return Err(ApiError::unavailable()),
        }
    }

    let text = call
        .server
        .control
        .reply_for(call.model_id)
        .unwrap_or_else(|| reply_text(call.model_id, call.region, &conversation.prompt));
    let answer = Answer::stopping(
        &text,
        conversation.input_words,
        conversation.max_tokens,
        &conversation.stop_sequences,
    );
    let frame_delay = match fault {
        Some(Fault::SlowTokens { ms }) => Duration::from_millis(ms),
        _ => Duration::from_millis(call.server.config.token_delay_ms),
    };
    let message_id: String = format!("msg_bdrk_{}", clock::request_id().replace('-', ""))
        .chars()
        .take(33)
        .collect();
    if operation.streaming() {
        // The latency the metrics report: the time the frames will take.
        let latency = as_ms(frame_delay) * (answer.deltas.len() as u64 + 4);
        let parts: Vec<Part> = match operation {
            Operation::ConverseStream => converse::stream_parts(&answer, latency),
            _ => invoke::stream_parts(format, call.model_id, &message_id, &answer, latency),
        };
        let pieces = stream::pieces(&parts, fault.as_ref());
        let mut response = Response::new(stream::paced_body(pieces, frame_delay, shutdown));
        set(
            &mut response,
            "content-type",
            "application/vnd.amazon.eventstream",
        );
        if operation == Operation::InvokeStream {
            set(
                &mut response,
                "x-amzn-bedrock-content-type",
                "application/json",
            );
        }
        return Ok(response);
    }

    if let Some(Fault::SlowTokens { ms }) = fault {
        sleep(Duration::from_millis(ms)).await;
    }
    let latency = as_ms(started.elapsed());
    let json = match operation {
        Operation::Converse => converse::response(&answer, latency),
        _ => invoke::response(format, call.model_id, &message_id, &answer),
    };
    let mut response = Response::new(broken_or_whole(
        json.to_string(),
        fault.as_ref(),
        frame_delay,
        shutdown,
    ));
    set(&mut response, "content-type", "application/json");
    if operation == Operation::Invoke {
        set(
            &mut response,
            "x-amzn-bedrock-input-token-count",
            &answer.input_tokens.to_string(),
        );
        set(
            &mut response,
            "x-amzn-bedrock-output-token-count",
            &answer.output_tokens().to_string(),
        );
        set(
            &mut response,
            "x-amzn-bedrock-invocation-latency",
            &latency.to_string(),
        );
    }
    Ok(response)
}

/// Converse needs `Content-Type: application/json`; InvokeModel accepts no Content-Type (botocore
/// sends none when the caller gives none) but refuses any other type.
fn check_content_type(headers: &HeaderMap, required: bool) -> Result<(), ApiError> {
    let content_type = headers
        .get("content-type")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase());
    match content_type {
        Some(value) if value.split(';').next().map(str::trim) == Some("application/json") => Ok(()),
        None if !required => Ok(()),
        other => Err(ApiError::validation(format!(
            "The content type {} is not supported: send application/json.",
            other.unwrap_or_else(|| "(none)".into())
        ))),
    }
}

/// A non-streaming body, cut in half by `drop_after` (aborted) or `truncated_after` (clean end).
/// The pause before the break lets the headers and the first half reach the client.
fn broken_or_whole(
    json: String,
    fault: Option<&Fault>,
    pause: Duration,
    shutdown: watch::Receiver<bool>,
) -> Body {
    let half = || Piece::Bytes(Bytes::from(json.as_bytes()[..json.len() / 2].to_vec()));
    let pause = pause.max(Duration::from_millis(1));
    match fault {
        Some(Fault::DropAfter { .. }) => {
            stream::paced_body(vec![half(), Piece::Abort], pause, shutdown)
        }
        Some(Fault::TruncatedAfter { .. }) => stream::paced_body(vec![half()], pause, shutdown),
        _ => Body::from(json),
    }
}

fn set(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

fn as_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `tokio::time::sleep`, with `Duration::MAX` meaning forever (a plain sleep would overflow).
async fn sleep(duration: Duration) {
    if duration == Duration::MAX {
        std::future::pending::<()>().await;
    } else {
        tokio::time::sleep(duration).await;
    }
}
