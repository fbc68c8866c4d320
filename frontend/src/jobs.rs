//! Background jobs from the browser: `POST /api/jobs` with the conversation, then
//! `GET /api/jobs/{id}` every second until it is done. Jobs belong to this browser's client id
//! (random, kept in `localStorage`, sent as `X-Client-Id`).

use crate::{
    api::{http_failure, ChatError},
    state::{AnswerInfo, Failure, Message},
};
use gloo_net::http::{Request, RequestBuilder};
use shared::{
    jobs::{JobAccepted, JobStatus, JobSubmission, JobView},
    ChatRequest, ChatResponse,
};
use web_sys::AbortSignal;

const CLIENT_ID_KEY: &str = "bedrock-edge-chat.client-id";
const POLL_MS: i32 = 1000;

/// This browser's client id: created once (32 random hex digits) and kept in `localStorage`.
pub fn client_id() -> String {
    let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
    if let Some(id) = storage
        .as_ref()
        .and_then(|s| s.get_item(CLIENT_ID_KEY).ok().flatten())
        .filter(|id| id.len() == 32)
    {
        return id;
    }
    let id: String = (0..4)
        .map(|_| format!("{:08x}", (js_sys::Math::random() * 4_294_967_296.0) as u32))
        .collect();
    if let Some(storage) = storage {
        let _ = storage.set_item(CLIENT_ID_KEY, &id);
    }
    id
}

/// Resolves after `ms` milliseconds.
async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

fn with_headers(
    mut builder: RequestBuilder,
    headers: &[(String, String)],
    signal: &AbortSignal,
) -> RequestBuilder {
    builder = builder
        .abort_signal(Some(signal))
        .header("x-client-id", &client_id());
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder
}

fn failed(signal: &AbortSignal, message: String) -> ChatError {
    if signal.aborted() {
        ChatError::Aborted
    } else {
        ChatError::Failed(Failure {
            message,
            retryable: true,
            retry_after_secs: None,
        })
    }
}

/// Submits `request` as a job and waits for it, reporting each status to `on_status`; the
/// answer once it succeeded. Aborting `signal` stops waiting (the job itself runs on).
pub async fn run_job(
    base: &str,
    headers: &[(String, String)],
    request: &ChatRequest,
    signal: &AbortSignal,
    on_status: &dyn Fn(JobStatus),
) -> Result<ChatResponse, ChatError> {
    let submission = JobSubmission {
        request: Some(request.clone()),
        ..JobSubmission::default()
    };
    let network =
        |e: &dyn std::fmt::Display| failed(signal, format!("Could not reach the server: {e}"));
    let response = with_headers(Request::post(&format!("{base}/api/jobs")), headers, signal)
        .json(&submission)
        .map_err(|e| network(&e))?
        .send()
        .await
        .map_err(|e| network(&e))?;
    if !response.ok() {
        let body = response.text().await.unwrap_or_default();
        return Err(ChatError::Failed(http_failure(response.status(), &body)));
    }
    let accepted: JobAccepted = response.json().await.map_err(|e| network(&e))?;
    on_status(accepted.status);
    loop {
        sleep(POLL_MS).await;
        if signal.aborted() {
            return Err(ChatError::Aborted);
        }
        let url = format!("{base}{}", accepted.status_url);
        let response = with_headers(Request::get(&url), headers, signal)
            .send()
            .await
            .map_err(|e| network(&e))?;
        if !response.ok() {
            let body = response.text().await.unwrap_or_default();
            return Err(ChatError::Failed(http_failure(response.status(), &body)));
        }
        let job: JobView = response.json().await.map_err(|e| network(&e))?;
        on_status(job.status);
        match (job.status, job.result, job.error) {
            (JobStatus::Succeeded, Some(result), _) => return Ok(result),
            (JobStatus::Failed, _, error) => {
                return Err(ChatError::Failed(Failure {
                    message: error.map_or_else(|| "The job failed.".into(), |e| e.message),
                    retryable: true,
                    retry_after_secs: None,
                }))
            }
            _ => {}
        }
    }
}

/// Shows a finished job's answer in `answer`.
pub fn show_result(answer: &Message, result: ChatResponse) {
    let info = AnswerInfo {
        route: result.route,
        model: result.model,
        region: result.region,
        usage: Some(result.usage),
        latency_ms: Some(result.latency_ms),
        ..AnswerInfo::default()
    };
    answer.fill(result.text, info);
}

/// What the composer shows for a job's status.
pub fn status_text(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Queued => "Background job queued…",
        JobStatus::Running => "Background job running…",
        JobStatus::Succeeded => "Background job done.",
        JobStatus::Failed => "Background job failed.",
    }
}
