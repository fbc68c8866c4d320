//! One attempt at a Bedrock Runtime call, the unit that retries and fallback wrap:
//! [`open`] builds, signs and sends the request for an [`Operation`] with the first-byte
//! timeout and maps HTTP errors; the answer then comes out of [`UpstreamEvents`] as
//! [`UpstreamEvent`]s, with the idle timeout between body chunks.

use crate::{
    bedrock::{
        converse::{build_body, parse_converse_response, ConverseEvents},
        decode::StreamDecoder,
        error::{BedrockError, BedrockErrorKind},
        model_id,
        native::{self, NativeFormat},
        signing::sign,
    },
    config::{
        limits::{DEFAULT_MAX_TOKENS, MAX_TOKENS},
        settings::Settings,
        Target, Timeouts,
    },
    platform::{ByteStream, Platform, UpstreamRequest},
};
use futures::{
    future::{select, Either},
    StreamExt,
};
use shared::ChatRequest;
use std::{collections::VecDeque, future::Future, pin::pin};

pub use crate::bedrock::decode::UpstreamEvent;

/// Most of an error response body that is read.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// Most of a whole (non-streamed) answer that is read (8192 tokens is far less).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// A Bedrock Runtime model operation and its input.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    ConverseStream(ChatRequest),
    Converse(ChatRequest),
    /// InvokeModelWithResponseStream with a validated native `body` in `format`.
    InvokeStream {
        body: Vec<u8>,
        format: NativeFormat,
    },
    /// InvokeModel with a validated native `body` in `format`.
    Invoke {
        body: Vec<u8>,
        format: NativeFormat,
    },
}

impl Operation {
    /// Whether the answer is an event stream.
    pub fn is_streaming(&self) -> bool {
        matches!(self, Self::ConverseStream(_) | Self::InvokeStream { .. })
    }

    /// The last segment of `/model/{id}/…`.
    fn path(&self) -> &'static str {
        match self {
            Self::ConverseStream(_) => "converse-stream",
            Self::Converse(_) => "converse",
            Self::InvokeStream { .. } => "invoke-with-response-stream",
            Self::Invoke { .. } => "invoke",
        }
    }

    fn request(&self, url: String) -> UpstreamRequest {
        let json = || ("content-type".to_owned(), "application/json".to_owned());
        let (headers, body) = match self {
            Self::ConverseStream(chat) | Self::Converse(chat) => (
                vec![json()],
                build_body(chat, MAX_TOKENS, DEFAULT_MAX_TOKENS),
            ),
            // The streaming operation takes the chunks' type in its own header.
            Self::InvokeStream { body, .. } => (
                vec![
                    json(),
                    ("x-amzn-bedrock-accept".into(), "application/json".into()),
                ],
                body.clone(),
            ),
            Self::Invoke { body, .. } => (
                vec![json(), ("accept".into(), "application/json".into())],
                body.clone(),
            ),
        };
        UpstreamRequest {
            method: "POST",
            url,
            headers,
            body,
        }
    }
}

/// How one attempt is made: its timeouts and the trace headers passed on.
#[derive(Debug, Clone, Copy)]
pub struct CallOptions<'a> {
    pub timeouts: Timeouts,
    pub trace: &'a [(String, String)],
}

/// A whole InvokeModel answer: the model's own body, passed on as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeBody {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What the upstream answered to one call, for the request's log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub status: u16,
    /// Bedrock's `x-amzn-RequestId`, for AWS support.
    pub request_id: Option<String>,
}

/// Sends `operation` to `target`: the answer once its headers arrived with status 200 (a whole
/// answer is read completely first), else the error the response, or its absence, means.
/// Sets `answered` once a response arrived. `trace` headers (`traceparent`,
/// `X-Amzn-Trace-Id`) are added after signing, unsigned. A refusal's `Retry-After` /
/// `x-amz-retry-after` is on the error ([`BedrockError::retry_after_ms`]).
pub async fn open<P: Platform>(
    platform: &P,
    settings: &Settings,
    target: &Target,
    operation: &Operation,
    call: &CallOptions<'_>,
    answered: &mut Option<Answered>,
) -> Result<UpstreamEvents<P>, BedrockError> {
    let url = format!(
        "{}/model/{}/{}",
        settings.base_url(&target.region),
        model_id::encode(&target.model),
        operation.path()
    );
    // `host` is signed too, taken from the URL, as the HTTP client will send it.
    let mut request = operation.request(url);
    sign(
        &mut request,
        &settings.credentials,
        &target.region,
        platform.now_ms(),
    )
    .map_err(|e| BedrockError::new(BedrockErrorKind::EdgeMisconfigured, e.to_string()))?;
    request.headers.extend(call.trace.iter().cloned());
    let first_byte_ms = call.timeouts.first_byte_ms;
    let response = with_timeout(platform, first_byte_ms, platform.send(request))
        .await
        .ok_or_else(|| {
            BedrockError::new(
                BedrockErrorKind::FirstByteTimeout,
                format!("no response headers within {first_byte_ms} ms"),
            )
        })?
        .map_err(|e| BedrockError::new(BedrockErrorKind::Transport, e.0))?;
    *answered = Some(Answered {
        status: response.status,
        request_id: response.header("x-amzn-requestid").map(str::to_owned),
    });
    let idle_ms = call.timeouts.idle_ms;
    if response.status != 200 {
        // An unreadable error body still leaves the status to go by.
        let body = read_body(platform, idle_ms, response.body, MAX_ERROR_BODY_BYTES)
            .await
            .unwrap_or_default();
        return Err(BedrockError::from_http(
            response.status,
            &response.headers,
            &body,
        ));
    }
    let content_type = response
        .header("content-type")
        .unwrap_or("application/json")
        .to_owned();
    let decoder = match operation {
        Operation::ConverseStream(_) => ConverseEvents::decoder(),
        Operation::InvokeStream { format, .. } => native::stream_decoder(*format),
        Operation::Converse(_) => {
            let body = read_body(platform, idle_ms, response.body, MAX_ANSWER_BYTES).await?;
            let events = parse_converse_response(&body)?.into_events();
            return Ok(UpstreamEvents::whole(platform, events, None));
        }
        Operation::Invoke { format, .. } => {
            let bytes = read_body(platform, idle_ms, response.body, MAX_ANSWER_BYTES).await?;
            let events = native::summarize(*format, &bytes)?.into_events();
            let native = NativeBody {
                content_type,
                bytes,
            };
            return Ok(UpstreamEvents::whole(platform, events, Some(native)));
        }
    };
    Ok(UpstreamEvents {
        platform: platform.clone(),
        idle_ms,
        body: Some((response.body, decoder)),
        pending: VecDeque::new(),
        stopped: false,
        counted: false,
        native: None,
    })
}

/// The events of one answer, in order: any number of `Text`, the `Stop` and `Usage`, or an
/// `Error` as the last one. Dropping it drops the upstream response (the host aborts the fetch).
pub struct UpstreamEvents<P: Platform> {
    platform: P,
    idle_ms: u64,
    /// The body still being read, and its decoder.
    body: Option<(ByteStream, StreamDecoder)>,
    pending: VecDeque<UpstreamEvent>,
    stopped: bool,
    counted: bool,
    native: Option<NativeBody>,
}

impl<P: Platform> UpstreamEvents<P> {
    fn whole(platform: &P, events: Vec<UpstreamEvent>, native: Option<NativeBody>) -> Self {
        Self {
            platform: platform.clone(),
            idle_ms: 0,
            body: None,
            pending: events.into(),
            stopped: false,
            counted: false,
            native,
        }
    }

    /// The next event; `None` once the answer is over. A stream that stalls longer than the
    /// idle timeout, breaks, or ends before its stop event ends with an `Error`.
    pub async fn next(&mut self) -> Option<UpstreamEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                match &event {
                    UpstreamEvent::Stop { .. } => self.stopped = true,
                    UpstreamEvent::Usage { .. } => self.counted = true,
                    UpstreamEvent::Error(_) => {
                        self.pending.clear();
                        self.body = None;
                    }
                    UpstreamEvent::Text(_) => {}
                }
                return Some(event);
            }
            if self.stopped && self.counted {
                // Usage is the last thing sent: no need to wait for the connection to close.
                self.body = None;
            }
            let (body, decoder) = self.body.as_mut()?;
            let broken = BedrockErrorKind::Truncated;
            let chunk = next_chunk(&self.platform, self.idle_ms, body, broken).await;
            match chunk {
                Ok(Some(chunk)) => {
                    self.pending.extend(decoder.push(&chunk));
                    continue;
                }
                Ok(None) => {
                    if let Err(error) = decoder.finish() {
                        self.pending.push_back(UpstreamEvent::Error(error));
                    }
                }
                Err(error) => self.pending.push_back(UpstreamEvent::Error(error)),
            }
            self.body = None;
        }
    }

    /// The model's own body, for InvokeModel.
    pub fn take_native(&mut self) -> Option<NativeBody> {
        self.native.take()
    }
}

/// `None` when `ms` passes before `future` completes.
pub(crate) async fn with_timeout<P: Platform, T>(
    platform: &P,
    ms: u64,
    future: impl Future<Output = T>,
) -> Option<T> {
    match select(pin!(future), pin!(platform.sleep(ms))).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(_) => None,
    }
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
pub(crate) async fn read_body<P: Platform>(
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
