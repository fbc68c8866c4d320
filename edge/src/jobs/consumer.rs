//! The queue consumer: what one [`JobMessage`] does, and whether the queue should forget it
//! ([`Disposition::Ack`]) or deliver it again later ([`Disposition::Retry`]; after the queue's
//! `max_retries` it goes to the dead-letter queue).
//!
//! * `run`: a final job is only acked (its callback queued if still pending): a retried
//!   message never calls Bedrock again nor stores a second result. Otherwise the job is
//!   started (one more attempt), run through [`chat_once`] (routing, retries, fallback), and
//!   its result stored with a version check. Transient failures (throttling, every target
//!   down) put it back to `queued` and retry the message with backoff; others fail it.
//! * `poll`: reads a running async invocation's status, and polls again later until final.
//! * `callback`: delivers a final job to its callback URL if the allowed hosts still admit it,
//!   signed, one delivery at a time, retried with backoff by sending itself again with a delay.
//! * From the dead-letter queue: the job is marked `failed` with the reason.

use super::{
    async_invoke::{self, AsyncInvokeOutput, Progress},
    callback,
    record::JobRecord,
    store::{update, StoreError, Updated},
    JobMessage, Jobs,
};
use crate::{
    config::settings::Settings,
    platform::{with_timeout, Platform, UpstreamRequest},
    routing::pipeline::{chat_once, Choice, RequestContext},
    text::mask::mask_account_ids,
};
use futures::StreamExt;
use serde::Serialize;
use shared::{
    jobs::{CallbackState, JobError, JobKind},
    ChatRequest, ErrorCode,
};
use std::rc::Rc;

/// What the queue should do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Done with it (processed, or nothing left to do).
    Ack,
    /// Deliver it again after `delay_s` seconds.
    Retry { delay_s: u32 },
}

/// Which queue a batch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Jobs,
    DeadLetter,
}

#[derive(Serialize)]
struct Event<'a> {
    event: &'a str,
    job: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    detail: &'a str,
}

/// One structured log line about a job (never prompt or answer text).
pub fn log_event<P: Platform>(platform: &P, event: &str, job: &str, detail: &str) {
    let detail: String = mask_account_ids(detail).chars().take(300).collect();
    let line = Event {
        event,
        job,
        detail: &detail,
    };
    platform.log(&serde_json::to_string(&line).unwrap_or_default());
}

/// Everything a message needs.
pub struct Consumer<'a, P: Platform> {
    pub platform: &'a P,
    pub settings: &'a Rc<Settings>,
    pub jobs: &'a Jobs,
}

impl<P: Platform> Consumer<'_, P> {
    /// Handles one message body from `source`. Never fails: a store or queue failure retries
    /// the message.
    pub async fn handle(&self, source: Source, body: &str) -> Disposition {
        let message: JobMessage = match serde_json::from_slice(body.as_bytes()) {
            Ok(message) => message,
            Err(error) => {
                // No job to mark: it can never be processed. Logged, not silently dropped.
                log_event(
                    self.platform,
                    "job_message_unreadable",
                    "",
                    &error.to_string(),
                );
                return Disposition::Ack;
            }
        };
        let id = message.job();
        let outcome = match (source, &message) {
            (Source::Jobs, JobMessage::Run { .. }) => self.run(id).await,
            (Source::Jobs, JobMessage::Poll { .. }) => self.poll(id).await,
            (Source::Jobs, JobMessage::Callback { .. }) => self.deliver(id).await,
            (Source::DeadLetter, _) => self.dead_letter(&message).await,
        };
        outcome.unwrap_or_else(|error| {
            log_event(self.platform, "job_store_failed", id, &error.0);
            Disposition::Retry {
                delay_s: self.jobs.settings.retry_delay_s,
            }
        })
    }

    fn now(&self) -> u64 {
        self.platform.now_ms()
    }

    fn log(&self, event: &str, job: &JobRecord, detail: &str) {
        log_event(self.platform, event, &job.id, detail);
    }

    /// Queues the callback of a final job if it is still to be delivered.
    async fn ensure_callback(&self, job: &JobRecord) -> Result<(), StoreError> {
        if job.callback_state == Some(CallbackState::Pending) {
            let message = JobMessage::Callback {
                job: job.id.clone(),
            };
            self.jobs.queue.send(&message, 0).await?;
        }
        Ok(())
    }

    async fn run(&self, id: &str) -> Result<Disposition, StoreError> {
        let store = self.jobs.store.as_ref();
        let Some(job) = store.get(id).await? else {
            log_event(self.platform, "job_missing", id, "");
            return Ok(Disposition::Ack);
        };
        if job.status.is_final() {
            self.ensure_callback(&job).await?;
            return Ok(Disposition::Ack);
        }
        let now = self.now();
        let job = match update(store, id, Some(job), |j| j.start(now)).await? {
            Updated::Applied(job) => job,
            Updated::Refused(job) => {
                self.ensure_callback(&job).await?;
                return Ok(Disposition::Ack);
            }
            Updated::Missing => return Ok(Disposition::Ack),
        };
        match job.kind {
            JobKind::Converse => self.run_converse(job).await,
            JobKind::AsyncInvoke => self.start_async(job).await,
        }
    }

    async fn run_converse(&self, job: JobRecord) -> Result<Disposition, StoreError> {
        let Ok(request) = serde_json::from_slice::<ChatRequest>(job.input.as_bytes()) else {
            let error = JobError {
                code: ErrorCode::Internal.as_str().to_owned(),
                message: "The stored job could not be read.".into(),
            };
            return self.finish(job, Err(error)).await;
        };
        let context = RequestContext {
            request_id: job.id.clone(),
            path: "/api/jobs".into(),
            started_ms: self.now(),
            trace: Vec::new(),
            billed: None,
        };
        let once = chat_once(
            self.platform.clone(),
            Rc::clone(self.settings),
            context,
            Choice::route(job.route.clone()),
            request,
        )
        .await;
        let answer = match once.result {
            Ok(answer) if answer.last_resort.is_none() => answer,
            // A canned answer is no result for a job that can wait: try again later.
            Ok(_) => {
                let error = JobError {
                    code: ErrorCode::UpstreamUnavailable.as_str().to_owned(),
                    message: "Every model of the route was unavailable.".into(),
                };
                return self.retry(job, error).await;
            }
            Err(error) => {
                let reason = JobError {
                    code: error.code().as_str().to_owned(),
                    message: error.client_message(),
                };
                return if error.retryable() {
                    self.retry(job, reason).await
                } else {
                    self.finish(job, Err(reason)).await
                };
            }
        };
        let result = serde_json::to_string(&answer).unwrap_or_default();
        self.finish(job, Ok(result)).await
    }

    /// Stores the job's one outcome (a result or a failure) and queues its callback.
    async fn finish(
        &self,
        job: JobRecord,
        outcome: Result<String, JobError>,
    ) -> Result<Disposition, StoreError> {
        let now = self.now();
        let id = job.id.clone();
        let stored = update(
            self.jobs.store.as_ref(),
            &id,
            Some(job),
            |j| match &outcome {
                Ok(result) => j.succeed(result.clone(), now),
                Err(error) => j.fail(error.clone(), now),
            },
        )
        .await?;
        let (Updated::Applied(job) | Updated::Refused(job)) = stored else {
            return Ok(Disposition::Ack);
        };
        self.log(&format!("job_{}", job.status.as_str()), &job, "");
        self.ensure_callback(&job).await?;
        Ok(Disposition::Ack)
    }

    /// Back to `queued` with the reason; the message comes back after the backoff.
    async fn retry(&self, job: JobRecord, error: JobError) -> Result<Disposition, StoreError> {
        let now = self.now();
        let attempt = job.attempts;
        let id = job.id.clone();
        self.log("job_retrying", &job, &error.code);
        update(self.jobs.store.as_ref(), &id, Some(job), |j| {
            j.retrying(error.clone(), now)
        })
        .await?;
        Ok(Disposition::Retry {
            delay_s: self.jobs.settings.run_retry_delay_s(attempt),
        })
    }

    /// StartAsyncInvoke with the job id as its token, then a poll later.
    async fn start_async(&self, job: JobRecord) -> Result<Disposition, StoreError> {
        let route = self.settings.config.routes.get(&job.route);
        let (Some(route), Ok(input)) = (route, serde_json::from_slice(job.input.as_bytes())) else {
            let error = JobError {
                code: ErrorCode::Internal.as_str().to_owned(),
                message: "The job's route is no longer configured for async invoke.".into(),
            };
            return self.finish(job, Err(error)).await;
        };
        let Some(async_config) = &route.async_invoke else {
            let error = JobError {
                code: ErrorCode::Internal.as_str().to_owned(),
                message: "The job's route is no longer configured for async invoke.".into(),
            };
            return self.finish(job, Err(error)).await;
        };
        // Checked when submitted; again here, for a job stored before a check was added.
        if let Err(error) = async_invoke::check_input(&input, "model_input") {
            let error = JobError {
                code: ErrorCode::InvalidRequest.as_str().to_owned(),
                message: error.to_string(),
            };
            return self.finish(job, Err(error)).await;
        }
        let target = route.primary();
        let request = async_invoke::start_request(
            &self.settings.base_url(&target.region),
            &target.model,
            &input,
            &async_config.s3_output_uri,
            &job.id,
        );
        let started = async_invoke::call(
            self.platform,
            self.settings,
            &target.region,
            route.timeouts.first_byte_ms,
            request,
        )
        .await
        .and_then(|body| async_invoke::parse_start(&body));
        match started {
            Ok(arn) => {
                let output = AsyncInvokeOutput {
                    invocation_arn: arn,
                    bedrock_status: Progress::InProgress.bedrock_status().into(),
                    s3_output_uri: async_config.s3_output_uri.clone(),
                };
                let now = self.now();
                let id = job.id.clone();
                update(self.jobs.store.as_ref(), &id, Some(job), |j| {
                    j.invoked(&output, now)
                })
                .await?;
                self.jobs
                    .queue
                    .send(&JobMessage::Poll { job: id }, poll_delay_s(0))
                    .await?;
                Ok(Disposition::Ack)
            }
            Err(error) => {
                let reason = JobError {
                    code: error.code().as_str().to_owned(),
                    message: error.client_message(),
                };
                if error.retryable() {
                    self.retry(job, reason).await
                } else {
                    self.finish(job, Err(reason)).await
                }
            }
        }
    }

    async fn poll(&self, id: &str) -> Result<Disposition, StoreError> {
        let Some(job) = self.jobs.store.get(id).await? else {
            return Ok(Disposition::Ack);
        };
        if job.status.is_final() {
            self.ensure_callback(&job).await?;
            return Ok(Disposition::Ack);
        }
        match refresh_async(self.platform, self.settings, self.jobs, job).await? {
            Ok(job) if job.status.is_final() => {
                self.ensure_callback(&job).await?;
                Ok(Disposition::Ack)
            }
            Ok(job) => {
                let elapsed = self
                    .now()
                    .saturating_sub(job.started_ms.unwrap_or(job.created_ms));
                let message = JobMessage::Poll {
                    job: job.id.clone(),
                };
                self.jobs
                    .queue
                    .send(&message, poll_delay_s(elapsed))
                    .await?;
                Ok(Disposition::Ack)
            }
            Err(error) => {
                log_event(self.platform, "async_poll_failed", id, &error);
                Ok(Disposition::Retry {
                    delay_s: self.jobs.settings.retry_delay_s,
                })
            }
        }
    }

    /// One delivery attempt of a final job's callback.
    async fn deliver(&self, id: &str) -> Result<Disposition, StoreError> {
        let store = self.jobs.store.as_ref();
        let now = self.now();
        let claimed = update(store, id, None, |j| {
            j.claim_callback(now, callback::LEASE_MS)
        })
        .await?;
        // Delivered, given up, or another delivery holds it: nothing to do.
        let Updated::Applied(job) = claimed else {
            return Ok(Disposition::Ack);
        };
        // The URL is checked again: the allowed hosts may have been narrowed since the job was
        // submitted.
        let settings = &self.jobs.settings;
        let target = match (&job.callback_url, &settings.callback_secret) {
            (Some(url), Some(secret)) => match settings.callback_allowed_hosts.check(url) {
                Ok(()) => Ok((url.clone(), secret)),
                Err(why) => Err(format!("callback URL no longer allowed: {why}")),
            },
            _ => Err("no callback secret configured".to_owned()),
        };
        let (url, secret) = match target {
            Ok(target) => target,
            Err(why) => {
                self.log("job_callback_failed", &job, &why);
                update(store, id, Some(job), |j| {
                    j.callback_ended(CallbackState::Failed, now)
                })
                .await?;
                return Ok(Disposition::Ack);
            }
        };
        let body = serde_json::to_vec(&job.view()).unwrap_or_default();
        let payload = callback::Payload {
            job_id: &job.id,
            submitter: &job.client_id,
            body: &body,
        };
        let request = UpstreamRequest {
            method: "POST",
            url,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                (
                    callback::SIGNATURE_HEADER.into(),
                    callback::sign(secret.expose(), now / 1000, &payload),
                ),
                (callback::JOB_ID_HEADER.into(), job.id.clone()),
                (callback::SUBMITTER_HEADER.into(), job.client_id.clone()),
                (
                    "x-delivery-attempt".into(),
                    job.callback_attempts.to_string(),
                ),
            ],
            body,
        };
        let sent = with_timeout(self.platform, callback::TIMEOUT_MS, async {
            let mut response = self.platform.send(request).await?;
            // Read (and drop) the answer so the connection finishes cleanly.
            while let Some(chunk) = response.body.next().await {
                chunk?;
            }
            Ok::<u16, crate::platform::TransportError>(response.status)
        })
        .await;
        let outcome = match sent {
            Some(Ok(status)) if (200..300).contains(&status) => Ok(()),
            Some(Ok(status)) => Err(format!("HTTP {status}")),
            Some(Err(error)) => Err(error.0),
            None => Err(format!("no answer within {} ms", callback::TIMEOUT_MS)),
        };
        let now = self.now();
        match outcome {
            Ok(()) => {
                self.log("job_callback_delivered", &job, "");
                update(store, id, Some(job), |j| {
                    j.callback_ended(CallbackState::Delivered, now)
                })
                .await?;
            }
            Err(why) => {
                let delay = callback::retry_delay_s(
                    self.jobs.settings.retry_delay_s,
                    job.callback_attempts,
                );
                self.log("job_callback_attempt_failed", &job, &why);
                let state = if delay.is_some() {
                    CallbackState::Pending
                } else {
                    CallbackState::Failed
                };
                update(store, id, Some(job), |j| j.callback_ended(state, now)).await?;
                if let Some(delay_s) = delay {
                    let message = JobMessage::Callback { job: id.to_owned() };
                    self.jobs.queue.send(&message, delay_s).await?;
                }
            }
        }
        Ok(Disposition::Ack)
    }

    /// A message the queue gave up on: its job fails (or its callback is given up), with
    /// the reason.
    async fn dead_letter(&self, message: &JobMessage) -> Result<Disposition, StoreError> {
        let store = self.jobs.store.as_ref();
        let id = message.job();
        let now = self.now();
        let Some(job) = store.get(id).await? else {
            log_event(self.platform, "job_missing", id, "dead letter");
            return Ok(Disposition::Ack);
        };
        log_event(self.platform, "job_dead_lettered", id, message.kind());
        if let JobMessage::Callback { .. } = message {
            update(store, id, Some(job), |j| {
                j.callback_ended(CallbackState::Failed, now)
            })
            .await?;
            return Ok(Disposition::Ack);
        }
        let last = job
            .error_message
            .clone()
            .unwrap_or_else(|| "the consumer kept failing".into());
        let reason = JobError {
            code: "dead_lettered".into(),
            message: format!(
                "Gave up after {} attempt(s); the job was moved to the dead-letter queue. Last error: {last}",
                job.attempts
            ),
        };
        let updated = update(store, id, Some(job), |j| j.fail(reason.clone(), now)).await?;
        if let Updated::Applied(job) | Updated::Refused(job) = updated {
            self.ensure_callback(&job).await?;
        }
        Ok(Disposition::Ack)
    }
}

/// Seconds before the next status read of an async invocation running for `elapsed_ms`:
/// about half the time it has run, from 1 s to 5 minutes.
pub fn poll_delay_s(elapsed_ms: u64) -> u32 {
    u32::try_from(elapsed_ms / 2000)
        .unwrap_or(u32::MAX)
        .clamp(1, 300)
}

/// Writes an async invocation's `progress` into its job: still running, succeeded or failed.
async fn apply_progress<P: Platform>(
    platform: &P,
    jobs: &Jobs,
    job: JobRecord,
    progress: &Progress,
) -> Result<Updated, StoreError> {
    let Some(output) = job.async_output() else {
        return Ok(Updated::Refused(job));
    };
    let output = AsyncInvokeOutput {
        bedrock_status: progress.bedrock_status().into(),
        ..output
    };
    let now = platform.now_ms();
    let json = serde_json::to_string(&output).unwrap_or_default();
    let id = job.id.clone();
    if let Progress::Failed(message) = progress {
        // Bedrock's text can name the account, its roles and buckets: the log keeps it.
        log_event(platform, "job_async_failed", &id, message);
    }
    let updated = update(jobs.store.as_ref(), &id, Some(job), |j| match progress {
        Progress::InProgress => j.invoked(&output, now),
        Progress::Completed => j.succeed(json.clone(), now),
        Progress::Failed(_) => j.fail_with_result(
            json.clone(),
            JobError {
                code: ErrorCode::ModelError.as_str().to_owned(),
                message: "Bedrock reported the invocation as failed.".into(),
            },
            now,
        ),
    })
    .await?;
    if let Updated::Applied(job) = &updated {
        if job.status.is_final() && job.callback_state == Some(CallbackState::Pending) {
            jobs.queue
                .send(
                    &JobMessage::Callback {
                        job: job.id.clone(),
                    },
                    0,
                )
                .await?;
        }
    }
    Ok(updated)
}

/// Reads a running async invocation's status from Bedrock (GetAsyncInvoke) and writes it:
/// the job as it now is; `Ok(Err(..))` when Bedrock could not be asked. Other jobs come back
/// as they are.
async fn refresh_async<P: Platform>(
    platform: &P,
    settings: &Settings,
    jobs: &Jobs,
    job: JobRecord,
) -> Result<Result<JobRecord, String>, StoreError> {
    let (Some(output), Some(route)) = (job.async_output(), settings.config.routes.get(&job.route))
    else {
        return Ok(Ok(job));
    };
    if job.status.is_final() {
        return Ok(Ok(job));
    }
    let region = &route.primary().region;
    let request = async_invoke::get_request(&settings.base_url(region), &output.invocation_arn);
    let summary = async_invoke::call(
        platform,
        settings,
        region,
        route.timeouts.first_byte_ms,
        request,
    )
    .await
    .and_then(|body| async_invoke::parse_get(&body));
    match summary {
        Ok(summary) => match apply_progress(platform, jobs, job, &summary.progress).await? {
            Updated::Applied(job) | Updated::Refused(job) => Ok(Ok(job)),
            Updated::Missing => Ok(Err("the job is gone".into())),
        },
        Err(error) => Ok(Err(error.message)),
    }
}
