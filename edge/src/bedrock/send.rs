//! The one signed call path to Bedrock Runtime: every request, model calls and async-invoke
//! alike, is signed for its region, sent with a first-byte timeout, and a refusal is read
//! (bounded) into the [`BedrockError`] it means. Bodies are read with an idle timeout between
//! chunks and a size bound.

use crate::{
    bedrock::{
        error::{BedrockError, BedrockErrorKind},
        signing::sign,
    },
    config::{settings::Settings, Timeouts},
    platform::{with_timeout, ByteStream, Platform, UpstreamRequest, UpstreamResponse},
};
use futures::StreamExt;

/// Most of an error response body that is read.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// How one attempt is made: its timeouts and the trace headers passed on.
#[derive(Debug, Clone, Copy)]
pub struct CallOptions<'a> {
    pub timeouts: Timeouts,
    pub trace: &'a [(String, String)],
}

/// What the upstream answered to one call, for the request's log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub status: u16,
    /// Bedrock's `x-amzn-RequestId`, for AWS support.
    pub request_id: Option<String>,
}

/// Signs `request` for `region` and sends it: the response once its headers arrived with
/// status 200, else the error the response, or its absence, means. `call.trace` headers
/// (`traceparent`, `X-Amzn-Trace-Id`) are added after signing, unsigned. Sets `answered` once a
/// response arrived. A refusal's `Retry-After` / `x-amz-retry-after` is on the error
/// ([`BedrockError::retry_after_ms`]).
pub async fn send_signed<P: Platform>(
    platform: &P,
    settings: &Settings,
    region: &str,
    mut request: UpstreamRequest,
    call: &CallOptions<'_>,
    answered: &mut Option<Answered>,
) -> Result<UpstreamResponse, BedrockError> {
    // `host` is signed too, taken from the URL, as the HTTP client will send it.
    sign(
        &mut request,
        &settings.credentials,
        region,
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
    if response.status != 200 {
        // An unreadable error body still leaves the status to go by.
        let body = read_body(
            platform,
            call.timeouts.idle_ms,
            response.body,
            MAX_ERROR_BODY_BYTES,
        )
        .await
        .unwrap_or_default();
        return Err(BedrockError::from_http(
            response.status,
            &response.headers,
            &body,
        ));
    }
    Ok(response)
}

/// The next body chunk, `None` at the end. `broken` is the kind of error a failed connection
/// is: a cut-off stream or a transport failure.
pub(super) async fn next_chunk<P: Platform>(
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
pub async fn read_body<P: Platform>(
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
