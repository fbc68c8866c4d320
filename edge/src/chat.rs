//! The chat pipeline: one Bedrock call per request, signed and timed, re-streamed as
//! [`StreamEvent`]s as frames arrive (`chat_stream`) or answered whole (`chat_once`).
//!
//! A stream is `meta`, any number of `delta`, then exactly one `done` or `error`.

use crate::{
    bedrock_error::{BedrockError, BedrockErrorKind},
    config::Target,
    converse::{
        build_body, parse_converse_response, ConverseAnswer, ConverseStreamDecoder, UpstreamEvent,
    },
    model_id,
    platform::{ByteStream, Platform, UpstreamRequest, UpstreamResponse},
    request_log::{LogLine, RequestLog},
    settings::Settings,
    signing::sign,
    validate::{DEFAULT_MAX_TOKENS, MAX_TOKENS},
};
use async_stream::stream;
use futures::{
    future::{select, Either},
    Stream, StreamExt,
};
use shared::{ChatRequest, ChatResponse, Delta, Done, Meta, StreamError, StreamEvent, Usage};
use std::{future::Future, pin::pin, rc::Rc};

/// Most of an error response body that is read.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// Most of a whole Converse answer that is read (8192 tokens is far less).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Streams the answer to `request` on route `route_name`. `started_ms` is when the request
/// reached the edge, for `latency_ms` and `first_token_ms`. Dropping the stream drops the
/// upstream response (the host aborts the fetch) and logs the request as `client_closed`.
pub fn chat_stream<P: Platform>(
    platform: P,
    settings: Rc<Settings>,
    request_id: String,
    route_name: String,
    request: ChatRequest,
    started_ms: u64,
) -> impl Stream<Item = StreamEvent> {
    stream! {
        let mut log = RequestLog::new(
            platform.clone(),
            chat_log_line(&request_id, &route_name, true),
            started_ms,
        );
        let target = match find_target(&settings, &route_name) {
            Ok(target) => target,
            Err(error) => {
                yield fail(&mut log, &error);
                return;
            }
        };
        log.line.model = Some(target.model.clone());
        log.line.region = Some(target.region.clone());
        yield StreamEvent::Meta(Meta {
            request_id: request_id.clone(),
            route: route_name.clone(),
            model: target.model.clone(),
            region: target.region.clone(),
            reason: None,
        });
        let sent = call(&platform, &settings, &target, "converse-stream", &request, &mut log.line);
        let mut body = match sent.await {
            Ok(response) => response.body,
            Err(error) => {
                yield fail(&mut log, &error);
                return;
            }
        };
        let idle_ms = settings.idle_timeout_ms;
        let mut decoder = ConverseStreamDecoder::new();
        let mut stop_reason: Option<String> = None;
        let mut usage: Option<Usage> = None;
        let mut first_token_ms: Option<u64> = None;
        let outcome = 'read: loop {
            if let (Some(reason), Some(usage)) = (&stop_reason, usage) {
                // `metadata` is the last event: no need to wait for the connection to close.
                break Ok((reason.clone(), usage));
            }
            let chunk = match next_chunk(&platform, idle_ms, &mut body, BedrockErrorKind::Truncated)
                .await
            {
                Ok(Some(chunk)) => chunk,
                // `finish` is `Ok` only after `messageStop`; `metadata` may be missing.
                Ok(None) => break decoder.finish().map(|()| {
                    (stop_reason.clone().unwrap_or_default(), usage.unwrap_or_default())
                }),
                Err(error) => break Err(error),
            };
            for event in decoder.push(&chunk) {
                match event {
                    UpstreamEvent::Text(text) => {
                        first_token_ms
                            .get_or_insert_with(|| platform.now_ms().saturating_sub(started_ms));
                        yield StreamEvent::Delta(Delta { text });
                    }
                    UpstreamEvent::Stop { reason } => stop_reason = Some(reason),
                    UpstreamEvent::Usage { input, output } => {
                        usage = Some(Usage { input_tokens: input, output_tokens: output });
                    }
                    UpstreamEvent::Error(error) => break 'read Err(error),
                }
            }
        };
        log.line.first_token_ms = first_token_ms;
        match outcome {
            Ok((stop_reason, usage)) => {
                record_usage(&mut log.line, usage);
                log.write("ok");
                yield StreamEvent::Done(Done {
                    stop_reason,
                    usage,
                    latency_ms: log.line.latency_ms,
                    first_token_ms,
                });
            }
            Err(error) => yield fail(&mut log, &error),
        }
    }
}

/// Answers `request` whole, through the non-streaming Converse operation, with the same
/// timeouts: the first byte, then each body chunk.
pub async fn chat_once<P: Platform>(
    platform: P,
    settings: Rc<Settings>,
    request_id: String,
    route_name: String,
    request: ChatRequest,
    started_ms: u64,
) -> Result<ChatResponse, BedrockError> {
    let mut log = RequestLog::new(
        platform.clone(),
        chat_log_line(&request_id, &route_name, false),
        started_ms,
    );
    let result: Result<(Target, ConverseAnswer), BedrockError> = async {
        let target = find_target(&settings, &route_name)?;
        log.line.model = Some(target.model.clone());
        log.line.region = Some(target.region.clone());
        let response = call(
            &platform,
            &settings,
            &target,
            "converse",
            &request,
            &mut log.line,
        )
        .await?;
        let body = read_body(
            &platform,
            settings.idle_timeout_ms,
            response.body,
            MAX_ANSWER_BYTES,
        )
        .await?;
        Ok((target, parse_converse_response(&body)?))
    }
    .await;
    match result {
        Ok((target, answer)) => {
            record_usage(&mut log.line, answer.usage);
            log.line.status = Some(200);
            log.write("ok");
            Ok(ChatResponse {
                request_id,
                route: route_name,
                model: target.model,
                region: target.region,
                text: answer.text,
                stop_reason: answer.stop_reason,
                usage: answer.usage,
                latency_ms: log.line.latency_ms,
            })
        }
        Err(error) => {
            log.line.status = Some(error.http_status());
            record_error(&mut log.line, &error);
            log.write("error");
            Err(error)
        }
    }
}

fn chat_log_line(request_id: &str, route_name: &str, stream: bool) -> LogLine {
    LogLine {
        request_id: request_id.to_owned(),
        method: "POST".into(),
        path: "/api/chat".into(),
        status: Some(200),
        stream: Some(stream),
        route: Some(route_name.to_owned()),
        ..LogLine::default()
    }
}

fn find_target(settings: &Settings, route_name: &str) -> Result<Target, BedrockError> {
    settings
        .config
        .routes
        .get(route_name)
        .map(|route| route.target.clone())
        .ok_or_else(|| {
            BedrockError::new(
                BedrockErrorKind::EdgeMisconfigured,
                format!("no route named {route_name:?}"),
            )
        })
}

fn record_usage(line: &mut LogLine, usage: Usage) {
    line.input_tokens = Some(usage.input_tokens);
    line.output_tokens = Some(usage.output_tokens);
}

fn record_error(line: &mut LogLine, error: &BedrockError) {
    line.error = Some(error.kind.as_str().to_owned());
    line.set_detail(error.loggable_message());
}

/// Logs the failure and turns it into the stream's terminal `error` event.
fn fail<P: Platform>(log: &mut RequestLog<P>, error: &BedrockError) -> StreamEvent {
    record_error(&mut log.line, error);
    log.write("error");
    StreamEvent::Error(StreamError {
        code: error.code(),
        message: error.client_message(),
        retryable: error.retryable(),
    })
}

/// `None` when `ms` passes before `future` completes.
async fn with_timeout<P: Platform, T>(
    platform: &P,
    ms: u64,
    future: impl Future<Output = T>,
) -> Option<T> {
    match select(pin!(future), pin!(platform.sleep(ms))).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(_) => None,
    }
}

/// Builds, signs and sends `POST {base}/model/{id}/{operation}`; a 200 response, or the error
/// the response (or its absence) means.
async fn call<P: Platform>(
    platform: &P,
    settings: &Settings,
    target: &Target,
    operation: &str,
    request: &ChatRequest,
    line: &mut LogLine,
) -> Result<UpstreamResponse, BedrockError> {
    let mut upstream = UpstreamRequest {
        method: "POST",
        url: format!(
            "{}/model/{}/{operation}",
            settings.base_url(&target.region),
            model_id::encode(&target.model)
        ),
        // `host` is signed too, taken from the URL, as the HTTP client will send it.
        headers: vec![("content-type".into(), "application/json".into())],
        body: build_body(request, MAX_TOKENS, DEFAULT_MAX_TOKENS),
    };
    sign(
        &mut upstream,
        &settings.credentials,
        &target.region,
        platform.now_ms(),
    )
    .map_err(|e| BedrockError::new(BedrockErrorKind::EdgeMisconfigured, e.to_string()))?;
    let response = with_timeout(
        platform,
        settings.first_byte_timeout_ms,
        platform.send(upstream),
    )
    .await
    .ok_or_else(|| {
        BedrockError::new(
            BedrockErrorKind::FirstByteTimeout,
            format!(
                "no response headers within {} ms",
                settings.first_byte_timeout_ms
            ),
        )
    })?
    .map_err(|e| BedrockError::new(BedrockErrorKind::Transport, e.0))?;
    line.upstream_status = Some(response.status);
    line.upstream_request_id = response.header("x-amzn-requestid").map(str::to_owned);
    if response.status == 200 {
        return Ok(response);
    }
    // An unreadable error body still leaves the status to go by.
    let body = read_body(
        platform,
        settings.idle_timeout_ms,
        response.body,
        MAX_ERROR_BODY_BYTES,
    )
    .await
    .unwrap_or_default();
    Err(BedrockError::from_http(
        response.status,
        &response.headers,
        &body,
    ))
}

/// The next body chunk, `None` at the end. `broken` is the kind of error a failed connection
/// is: a cut-off stream or a transport failure.
async fn next_chunk<P: Platform>(
    platform: &P,
    idle_ms: u64,
    body: &mut ByteStream,
    broken: BedrockErrorKind,
) -> Result<Option<Vec<u8>>, BedrockError> {
    match with_timeout(platform, idle_ms, body.next()).await {
        None => Err(BedrockError::new(
            BedrockErrorKind::IdleTimeout,
            format!("no data from Bedrock for {idle_ms} ms"),
        )),
        Some(None) => Ok(None),
        Some(Some(Ok(chunk))) => Ok(Some(chunk)),
        Some(Some(Err(error))) => Err(BedrockError::new(broken, error.0)),
    }
}

/// Reads a whole body, at most `limit` bytes, with `idle_ms` allowed between chunks.
async fn read_body<P: Platform>(
    platform: &P,
    idle_ms: u64,
    mut body: ByteStream,
    limit: usize,
) -> Result<Vec<u8>, BedrockError> {
    let mut bytes = Vec::new();
    while let Some(chunk) =
        next_chunk(platform, idle_ms, &mut body, BedrockErrorKind::Transport).await?
    {
        if bytes.len() + chunk.len() > limit {
            return Err(BedrockError::new(
                BedrockErrorKind::BadFrame,
                format!("response body over {limit} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests;
