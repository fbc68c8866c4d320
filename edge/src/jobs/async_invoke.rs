//! Bedrock's own asynchronous invocation (bedrock-wire.md §1.9) behind the jobs API, for
//! routes configured with `async_invoke`: StartAsyncInvoke with the job id as the idempotency
//! token (a retried start cannot start twice), and GetAsyncInvoke for a job's status, asked by
//! the queue's scheduled polls only (reads are served from the store). Requests are built and
//! answers parsed by pure functions; [`call`] signs and sends one.

use crate::{
    bedrock::{
        error::{BedrockError, BedrockErrorKind},
        send::{read_body, send_signed, CallOptions},
    },
    config::{settings::Settings, Timeouts},
    platform::{Platform, UpstreamRequest},
};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Most of an answer that is read.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// A started invocation, as the job record keeps it (its `result` while the job runs). Never
/// shown to clients: the ARN names the edge's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsyncInvokeOutput {
    pub invocation_arn: String,
    /// Bedrock's status: `InProgress`, `Completed` or `Failed`.
    pub bedrock_status: String,
    pub s3_output_uri: String,
}

/// Where a Bedrock invocation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    InProgress,
    Completed,
    Failed(String),
}

impl Progress {
    /// Bedrock's name of the status.
    pub fn bedrock_status(&self) -> &'static str {
        match self {
            Self::InProgress => "InProgress",
            Self::Completed => "Completed",
            Self::Failed(_) => "Failed",
        }
    }
}

/// One invocation as GetAsyncInvoke and ListAsyncInvokes describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub invocation_arn: String,
    pub progress: Progress,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSummary {
    invocation_arn: String,
    status: String,
    #[serde(default)]
    failure_message: Option<String>,
}

impl RawSummary {
    fn parse(self) -> Summary {
        let progress = match self.status.as_str() {
            "Completed" => Progress::Completed,
            "Failed" => Progress::Failed(
                self.failure_message
                    .unwrap_or_else(|| "Bedrock reported the invocation as failed.".into()),
            ),
            _ => Progress::InProgress,
        };
        Summary {
            invocation_arn: self.invocation_arn,
            progress,
        }
    }
}

/// StartAsyncInvoke of `model` with `input`, its output to `s3_uri`; `token` makes it
/// idempotent.
pub fn start_request(
    base_url: &str,
    model: &str,
    input: &Value,
    s3_uri: &str,
    token: &str,
) -> UpstreamRequest {
    let body = json!({
        "clientRequestToken": token,
        "modelId": model,
        "modelInput": input,
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": s3_uri}},
    });
    UpstreamRequest {
        method: "POST",
        url: format!("{base_url}/async-invoke"),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

/// GetAsyncInvoke of `arn` (percent-encoded into the path).
pub fn get_request(base_url: &str, arn: &str) -> UpstreamRequest {
    UpstreamRequest {
        method: "GET",
        url: format!(
            "{base_url}/async-invoke/{}",
            utf8_percent_encode(arn, NON_ALPHANUMERIC)
        ),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

fn bad_answer(what: &str) -> BedrockError {
    BedrockError::new(
        BedrockErrorKind::BadFrame,
        format!("unexpected {what} answer"),
    )
}

/// The `invocationArn` of a StartAsyncInvoke answer.
pub fn parse_start(body: &[u8]) -> Result<String, BedrockError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Started {
        invocation_arn: String,
    }
    serde_json::from_slice::<Started>(body)
        .map(|s| s.invocation_arn)
        .map_err(|_| bad_answer("StartAsyncInvoke"))
}

/// A GetAsyncInvoke answer.
pub fn parse_get(body: &[u8]) -> Result<Summary, BedrockError> {
    serde_json::from_slice::<RawSummary>(body)
        .map(RawSummary::parse)
        .map_err(|_| bad_answer("GetAsyncInvoke"))
}

/// Signs `request` for `region` and sends it ([`send_signed`]): the body of a 200, else the
/// error it means.
pub async fn call<P: Platform>(
    platform: &P,
    settings: &Settings,
    region: &str,
    timeout_ms: u64,
    request: UpstreamRequest,
) -> Result<Vec<u8>, BedrockError> {
    let call = CallOptions {
        timeouts: Timeouts {
            first_byte_ms: timeout_ms,
            idle_ms: timeout_ms,
        },
        trace: &[],
    };
    let response = send_signed(platform, settings, region, request, &call, &mut None).await?;
    read_body(platform, timeout_ms, response.body, MAX_ANSWER_BYTES).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_follow_the_wire_format() {
        let start = start_request(
            "http://fake",
            "amazon.nova-reel-v1:0",
            &json!({"taskType": "TEXT_VIDEO"}),
            "s3://bucket/out",
            "job_1",
        );
        assert_eq!(
            (start.method, start.url.as_str()),
            ("POST", "http://fake/async-invoke")
        );
        let body: Value = serde_json::from_slice(&start.body).unwrap();
        assert_eq!(
            body,
            json!({
                "clientRequestToken": "job_1",
                "modelId": "amazon.nova-reel-v1:0",
                "modelInput": {"taskType": "TEXT_VIDEO"},
                "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/out"}},
            })
        );
        let arn = "arn:aws:bedrock:us-east-1:123456789012:async-invoke/abc123def456";
        assert_eq!(
            get_request("http://fake", arn).url,
            "http://fake/async-invoke/arn%3Aaws%3Abedrock%3Aus%2Deast%2D1%3A123456789012%3Aasync%2Dinvoke%2Fabc123def456"
        );
    }

    #[test]
    fn answers_are_parsed() {
        assert_eq!(
            parse_start(br#"{"invocationArn":"arn:x"}"#).unwrap(),
            "arn:x"
        );
        assert!(parse_start(b"{}").is_err());
        let failed = parse_get(
            br#"{"invocationArn":"arn:x","status":"Failed","failureMessage":"quota","submitTime":"2024-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(failed.progress, Progress::Failed("quota".into()));
        let done = parse_get(br#"{"invocationArn":"arn:x","status":"Completed"}"#).unwrap();
        assert_eq!(done.progress.bedrock_status(), "Completed");
    }
}
