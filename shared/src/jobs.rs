//! Background jobs: the body of `POST /api/jobs`, its `202` answer, and the job as
//! `GET /api/jobs/{id}`, `GET /api/jobs` and the signed callback show it.

use crate::ChatRequest;
use serde::{Deserialize, Serialize};

/// Where a job is in its life. `queued` and `running` may repeat (a retried job goes back to
/// `queued`); `succeeded` and `failed` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// `queued`, `running`, `succeeded` or `failed`.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    /// `succeeded` or `failed`: nothing more will happen to the job.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// How a job runs: a Converse call through the route's chain, or Bedrock's own asynchronous
/// invocation (StartAsyncInvoke, the output written to S3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Converse,
    AsyncInvoke,
}

/// Body of `POST /api/jobs`. A Converse route takes `request` (a chat request, its `route`
/// naming the route); a route configured for async invoke takes `route` and `model_input`
/// (the model's native JSON). `callback_url` asks for a signed POST of the finished job.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSubmission {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<ChatRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_input: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// The `202 Accepted` answer of `POST /api/jobs` (also given, with the job's current status,
/// when an `Idempotency-Key` names an existing job).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobAccepted {
    pub id: String,
    pub status: JobStatus,
    /// `/api/jobs/{id}`.
    pub status_url: String,
}

/// Why a job failed, or (while it is retried) why its last attempt did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    /// An [`ErrorCode`](crate::ErrorCode) name (`upstream_throttled`, `dead_lettered`, ...).
    pub code: String,
    pub message: String,
}

/// How an async-invoke job's Bedrock invocation is doing. Its ARN (which names the edge's
/// account) and its S3 output location stay on the edge: the output is the owner's to hand out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsyncInvokeProgress {
    /// Bedrock's status: `InProgress`, `Completed` or `Failed`.
    pub bedrock_status: String,
}

/// Delivery of the callback: `pending` until the receiver answers 2xx (`delivered`) or every
/// attempt failed (`failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackState {
    Pending,
    Delivered,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackInfo {
    pub url: String,
    /// `None` until the job is final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<CallbackState>,
    pub attempts: u32,
}

/// A job as its owner sees it. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    pub id: String,
    pub status: JobStatus,
    pub kind: JobKind,
    pub route: String,
    pub created_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<u64>,
    pub updated_ms: u64,
    /// Times a consumer took the job up.
    pub attempts: u32,
    /// The answer (with its usage) of a succeeded Converse job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<crate::ChatResponse>,
    /// An async-invoke job's progress at Bedrock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<AsyncInvokeProgress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackInfo>,
}

/// The answer of `GET /api/jobs`: the client's jobs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobList {
    pub jobs: Vec<JobView>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChatMessage;

    #[test]
    fn submission_round_trips_and_refuses_unknown_fields() {
        let submission = JobSubmission {
            request: Some(ChatRequest {
                messages: vec![ChatMessage::user("Hi")],
                ..ChatRequest::default()
            }),
            callback_url: Some("https://hooks.example.com/done".into()),
            ..JobSubmission::default()
        };
        let json = serde_json::to_string(&submission).unwrap();
        assert_eq!(
            json,
            r#"{"request":{"messages":[{"role":"user","content":"Hi"}]},"callback_url":"https://hooks.example.com/done"}"#
        );
        assert_eq!(
            serde_json::from_str::<JobSubmission>(&json).unwrap(),
            submission
        );
        let err = serde_json::from_str::<JobSubmission>(r#"{"model":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `model`"), "{err}");
    }

    #[test]
    fn statuses_parse_and_print_the_same_names() {
        for status in [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Succeeded,
            JobStatus::Failed,
        ] {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert_eq!(JobStatus::parse("done"), None);
        assert!(JobStatus::Failed.is_final() && !JobStatus::Running.is_final());
    }
}
