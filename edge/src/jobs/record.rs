//! A job as stored, and its state machine: every change is a pure function from one record
//! to the next (`None` when the change is not allowed from the current state), so a stored
//! record is only ever written through these, with a version check (see [`super::store`]).
//!
//! ```text
//! queued --start--> running --succeed--> succeeded          (final)
//!   ^                  |  \---fail-----> failed             (final)
//!   +----retrying------+
//! ```
//! A final job never changes status again, which makes a redelivered message harmless: it
//! finds the job final and does nothing but make sure the callback is on its way.

use super::async_invoke::AsyncInvokeOutput;
use serde::{Deserialize, Serialize};
use shared::{
    jobs::{
        AsyncInvokeProgress, CallbackInfo, CallbackState, JobError, JobKind, JobStatus, JobView,
    },
    ChatResponse,
};

/// One job, as the store keeps it (one D1 row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    /// The owner (see [`super::client`]); only it can read the job.
    pub client_id: String,
    pub idempotency_key: Option<String>,
    pub kind: JobKind,
    /// The chain route (Converse) or async-invoke route that runs the job.
    pub route: String,
    /// The input as JSON: a `ChatRequest` (Converse) or the model's native input (async invoke).
    pub input: String,
    pub status: JobStatus,
    /// Times a consumer took the job up.
    pub attempts: u32,
    /// Why the job failed, or why its last attempt did.
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// JSON: the `ChatResponse` (Converse) or the `AsyncInvokeOutput` (async invoke).
    pub result: Option<String>,
    pub callback_url: Option<String>,
    /// Set when a job with a callback becomes final.
    pub callback_state: Option<CallbackState>,
    pub callback_attempts: u32,
    /// A delivery in progress holds the callback until then (Unix ms).
    pub callback_lease_until: Option<u64>,
    pub created_ms: u64,
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
    pub updated_ms: u64,
    /// Incremented by every change; a write succeeds only over the version it was made from.
    pub version: u32,
}

/// What a new job needs.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub id: String,
    pub client_id: String,
    pub idempotency_key: Option<String>,
    pub kind: JobKind,
    pub route: String,
    pub input: String,
    pub callback_url: Option<String>,
}

impl JobRecord {
    /// A job just submitted: `queued`, version 1.
    pub fn new(job: NewJob, now_ms: u64) -> Self {
        Self {
            id: job.id,
            client_id: job.client_id,
            idempotency_key: job.idempotency_key,
            kind: job.kind,
            route: job.route,
            input: job.input,
            status: JobStatus::Queued,
            attempts: 0,
            error_code: None,
            error_message: None,
            result: None,
            callback_url: job.callback_url,
            callback_state: None,
            callback_attempts: 0,
            callback_lease_until: None,
            created_ms: now_ms,
            started_ms: None,
            finished_ms: None,
            updated_ms: now_ms,
            version: 1,
        }
    }

    /// The next version, changed by `change`.
    fn next(&self, now_ms: u64, change: impl FnOnce(&mut Self)) -> Self {
        let mut next = self.clone();
        change(&mut next);
        next.version = self.version.wrapping_add(1);
        next.updated_ms = now_ms;
        next
    }

    fn set_error(&mut self, error: Option<JobError>) {
        (self.error_code, self.error_message) = match error {
            Some(error) => (Some(error.code), Some(error.message)),
            None => (None, None),
        };
    }

    /// A consumer takes the job up (again): `running`, one more attempt.
    pub fn start(&self, now_ms: u64) -> Option<Self> {
        (!self.status.is_final()).then(|| {
            self.next(now_ms, |job| {
                job.status = JobStatus::Running;
                job.attempts = job.attempts.saturating_add(1);
                job.started_ms.get_or_insert(now_ms);
            })
        })
    }

    /// An attempt failed in a way a later one may not: back to `queued`, with the reason.
    pub fn retrying(&self, error: JobError, now_ms: u64) -> Option<Self> {
        (!self.status.is_final()).then(|| {
            self.next(now_ms, |job| {
                job.status = JobStatus::Queued;
                job.set_error(Some(error));
            })
        })
    }

    /// An async invocation started (or its status was read): still `running`, with `output`.
    pub fn invoked(&self, output: &AsyncInvokeOutput, now_ms: u64) -> Option<Self> {
        let result = serde_json::to_string(output).ok()?;
        (!self.status.is_final() && self.result.as_deref() != Some(&result)).then(|| {
            self.next(now_ms, |job| {
                job.status = JobStatus::Running;
                job.result = Some(result);
            })
        })
    }

    /// The job is done: its one result is stored. Refused once final, so a retried message
    /// can never store a second result.
    pub fn succeed(&self, result: String, now_ms: u64) -> Option<Self> {
        self.finish(JobStatus::Succeeded, Some(result), None, now_ms)
    }

    /// The job cannot succeed: `failed`, with the reason. Refused once final.
    pub fn fail(&self, error: JobError, now_ms: u64) -> Option<Self> {
        self.finish(JobStatus::Failed, None, Some(error), now_ms)
    }

    /// Failed, keeping `result` (an async invocation's output record).
    pub fn fail_with_result(&self, result: String, error: JobError, now_ms: u64) -> Option<Self> {
        self.finish(JobStatus::Failed, Some(result), Some(error), now_ms)
    }

    fn finish(
        &self,
        status: JobStatus,
        result: Option<String>,
        error: Option<JobError>,
        now_ms: u64,
    ) -> Option<Self> {
        (!self.status.is_final()).then(|| {
            self.next(now_ms, |job| {
                job.status = status;
                if result.is_some() {
                    job.result = result;
                }
                job.set_error(error);
                job.finished_ms = Some(now_ms);
                if job.callback_url.is_some() {
                    job.callback_state = Some(CallbackState::Pending);
                }
            })
        })
    }

    /// A delivery takes the pending callback for `lease_ms` (one more attempt). Refused while
    /// another delivery holds it, and once it was delivered or given up.
    pub fn claim_callback(&self, now_ms: u64, lease_ms: u64) -> Option<Self> {
        let free = self
            .callback_lease_until
            .is_none_or(|until| until <= now_ms);
        (self.callback_state == Some(CallbackState::Pending) && free).then(|| {
            self.next(now_ms, |job| {
                job.callback_attempts = job.callback_attempts.saturating_add(1);
                job.callback_lease_until = Some(now_ms.saturating_add(lease_ms));
            })
        })
    }

    /// The delivery ended: `delivered`, `failed` (given up), or still `pending` (released for
    /// a later attempt).
    pub fn callback_ended(&self, state: CallbackState, now_ms: u64) -> Option<Self> {
        (self.callback_state == Some(CallbackState::Pending)).then(|| {
            self.next(now_ms, |job| {
                job.callback_state = Some(state);
                job.callback_lease_until = None;
            })
        })
    }

    /// The async output, for an async-invoke job that started.
    pub fn async_output(&self) -> Option<AsyncInvokeOutput> {
        match self.kind {
            JobKind::AsyncInvoke => serde_json::from_slice(self.result.as_deref()?.as_bytes()).ok(),
            JobKind::Converse => None,
        }
    }

    /// The job as its owner sees it.
    pub fn view(&self) -> JobView {
        let result = match self.kind {
            JobKind::Converse => self
                .result
                .as_deref()
                .and_then(|json| serde_json::from_slice::<ChatResponse>(json.as_bytes()).ok()),
            JobKind::AsyncInvoke => None,
        };
        let error = match (&self.error_code, &self.error_message) {
            (Some(code), Some(message)) => Some(JobError {
                code: code.clone(),
                message: message.clone(),
            }),
            _ => None,
        };
        JobView {
            id: self.id.clone(),
            status: self.status,
            kind: self.kind,
            route: self.route.clone(),
            created_ms: self.created_ms,
            started_ms: self.started_ms,
            finished_ms: self.finished_ms,
            updated_ms: self.updated_ms,
            attempts: self.attempts,
            result,
            output: self.async_output().map(|output| AsyncInvokeProgress {
                bedrock_status: output.bedrock_status,
            }),
            error,
            callback: self.callback_url.as_ref().map(|url| CallbackInfo {
                url: url.clone(),
                state: self.callback_state,
                attempts: self.callback_attempts,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(callback: bool) -> JobRecord {
        JobRecord::new(
            NewJob {
                id: "job_1".into(),
                client_id: "cid:abc".into(),
                idempotency_key: None,
                kind: JobKind::Converse,
                route: "generate".into(),
                input: "{}".into(),
                callback_url: callback.then(|| "https://hooks.example.com/x".into()),
            },
            1_000,
        )
    }

    fn error(code: &str) -> JobError {
        JobError {
            code: code.into(),
            message: format!("{code} happened"),
        }
    }

    #[test]
    fn a_job_runs_retries_and_succeeds_once() {
        let queued = job(false);
        assert_eq!((queued.status, queued.version), (JobStatus::Queued, 1));
        let running = queued.start(2_000).unwrap();
        assert_eq!(running.status, JobStatus::Running);
        assert_eq!((running.attempts, running.started_ms), (1, Some(2_000)));
        let retrying = running
            .retrying(error("upstream_throttled"), 3_000)
            .unwrap();
        assert_eq!(retrying.status, JobStatus::Queued);
        assert_eq!(retrying.view().error.unwrap().code, "upstream_throttled");
        let again = retrying.start(4_000).unwrap();
        assert_eq!((again.attempts, again.started_ms), (2, Some(2_000)));
        let done = again.succeed("{\"x\":1}".into(), 5_000).unwrap();
        assert_eq!(done.status, JobStatus::Succeeded);
        assert_eq!((done.finished_ms, done.updated_ms), (Some(5_000), 5_000));
        assert_eq!(done.error_code, None, "the last attempt's error is cleared");
        assert_eq!(done.callback_state, None, "no callback asked for");
        assert_eq!(done.version, 5);
        // Final: nothing changes it, so a retried message cannot store a second result.
        assert!(done.succeed("{\"x\":2}".into(), 6_000).is_none());
        assert!(done.fail(error("internal"), 6_000).is_none());
        assert!(done.start(6_000).is_none());
        assert!(done.retrying(error("internal"), 6_000).is_none());
    }

    #[test]
    fn a_failed_job_keeps_its_reason_and_stays_failed() {
        let failed = job(false).fail(error("dead_lettered"), 2_000).unwrap();
        assert_eq!(failed.status, JobStatus::Failed);
        let view = failed.view();
        assert_eq!(view.error.unwrap().message, "dead_lettered happened");
        assert!(failed.succeed("{}".into(), 3_000).is_none());
    }

    #[test]
    fn the_callback_is_claimed_by_one_delivery_at_a_time() {
        let queued = job(true);
        assert!(queued.claim_callback(1_000, 30_000).is_none(), "not final");
        let done = queued.succeed("{}".into(), 2_000).unwrap();
        assert_eq!(done.callback_state, Some(CallbackState::Pending));
        let claimed = done.claim_callback(3_000, 30_000).unwrap();
        assert_eq!(claimed.callback_attempts, 1);
        assert!(
            claimed.claim_callback(4_000, 30_000).is_none(),
            "a second delivery waits for the lease"
        );
        let stolen = claimed.claim_callback(33_000, 30_000).unwrap();
        assert_eq!(
            stolen.callback_attempts, 2,
            "an expired lease is taken over"
        );
        let released = stolen
            .callback_ended(CallbackState::Pending, 34_000)
            .unwrap();
        let retried = released.claim_callback(35_000, 30_000).unwrap();
        let delivered = retried
            .callback_ended(CallbackState::Delivered, 36_000)
            .unwrap();
        assert_eq!(
            delivered.view().callback.unwrap(),
            CallbackInfo {
                url: "https://hooks.example.com/x".into(),
                state: Some(CallbackState::Delivered),
                attempts: 3,
            }
        );
        assert!(delivered.claim_callback(99_000, 30_000).is_none());
        assert!(delivered
            .callback_ended(CallbackState::Failed, 99_000)
            .is_none());
    }

    #[test]
    fn an_async_job_shows_its_progress_while_it_runs_and_never_its_arn() {
        let mut queued = job(false);
        queued.kind = JobKind::AsyncInvoke;
        let output = AsyncInvokeOutput {
            invocation_arn: "arn:aws:bedrock:us-east-1:1:async-invoke/abc".into(),
            bedrock_status: "InProgress".into(),
            s3_output_uri: "s3://bucket/out".into(),
        };
        let running = queued
            .start(2_000)
            .unwrap()
            .invoked(&output, 2_100)
            .unwrap();
        let progress = |status: &str| {
            Some(AsyncInvokeProgress {
                bedrock_status: status.into(),
            })
        };
        assert_eq!(running.view().output, progress("InProgress"));
        assert!(
            running.invoked(&output, 2_200).is_none(),
            "no change, no write"
        );
        let done_output = AsyncInvokeOutput {
            bedrock_status: "Completed".into(),
            ..output
        };
        let json = serde_json::to_string(&done_output).unwrap();
        let done = running.succeed(json, 3_000).unwrap();
        assert_eq!(done.view().output, progress("Completed"));
        assert_eq!(done.view().result, None);
    }
}
