//! One attempt at a Bedrock Runtime call, the unit that retries and fallback wrap:
//! [`open`] builds, signs and sends the request for an [`Operation`] with the first-byte
//! timeout and maps HTTP errors; the answer then comes out of [`UpstreamEvents`] as
//! [`UpstreamEvent`]s, with the idle timeout between body chunks.

use crate::{
    bedrock::{
        converse::{parse_converse_response, ConverseEvents},
        decode::StreamDecoder,
        error::{BedrockError, BedrockErrorKind},
        model_id, native,
        operation::{NativeBody, Operation},
        send::{next_chunk, read_body, send_signed, Answered, CallOptions},
    },
    config::{settings::Settings, Target},
    platform::{ByteStream, Platform},
};
use std::collections::VecDeque;

pub use crate::bedrock::decode::UpstreamEvent;

/// Most of a whole (non-streamed) answer that is read (8192 tokens is far less).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Sends `operation` to `target` ([`send_signed`]): its answer events once the headers arrived
/// with status 200 (a whole answer is read completely first), else the error the response, or
/// its absence, means.
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
    let request = operation.request(url);
    let response = send_signed(platform, settings, &target.region, request, call, answered).await?;
    let idle_ms = call.timeouts.idle_ms;
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
