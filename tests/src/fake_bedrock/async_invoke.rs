//! StartAsyncInvoke, GetAsyncInvoke and ListAsyncInvokes (bedrock-wire.md §1.9), in memory.
//! A job is `InProgress` for 200 ms, then `Completed`, or `Failed` if a fault was set for its model.

use super::{clock, errors::ApiError, faults::Control, model_id};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::{Mutex, PoisonError};

/// How long a job runs.
const RUN_MS: i64 = 200;
const ACCOUNT: &str = "123456789012";

#[derive(Debug, Default)]
pub struct AsyncJobs {
    jobs: Mutex<Vec<Job>>,
}

#[derive(Debug, Clone)]
struct Job {
    arn: String,
    region: String,
    model_arn: String,
    client_token: Option<String>,
    submitted_ms: i64,
    failure: Option<String>,
    output: Value,
}

impl Job {
    fn status(&self, now_ms: i64) -> &'static str {
        match (now_ms - self.submitted_ms >= RUN_MS, &self.failure) {
            (false, _) => "InProgress",
            (true, None) => "Completed",
            (true, Some(_)) => "Failed",
        }
    }

    fn summary(&self, now_ms: i64) -> Value {
        let status = self.status(now_ms);
        let ended = self.submitted_ms + RUN_MS;
        let mut summary = json!({
            "invocationArn": self.arn,
            "modelArn": self.model_arn,
            "status": status,
            "submitTime": clock::iso8601(self.submitted_ms),
            "lastModifiedTime": clock::iso8601(if status == "InProgress" { self.submitted_ms } else { ended }),
            "outputDataConfig": self.output,
        });
        if let Some(token) = &self.client_token {
            summary["clientRequestToken"] = json!(token);
        }
        if status != "InProgress" {
            summary["endTime"] = json!(clock::iso8601(ended));
        }
        if let (Some(message), "Failed") = (&self.failure, status) {
            summary["failureMessage"] = json!(message);
        }
        summary
    }
}

fn is_printable(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic())
}

impl AsyncJobs {
    fn jobs(&self) -> std::sync::MutexGuard<'_, Vec<Job>> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// StartAsyncInvoke: `{"invocationArn"}`. Idempotent on `clientRequestToken`.
    pub fn start(
        &self,
        control: &Control,
        region: &str,
        body: &[u8],
        now_ms: i64,
    ) -> Result<Value, ApiError> {
        let body: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::validation(format!("Malformed request body: {e}")))?;
        let model = body
            .get("modelId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let model_ok = model.len() <= 256
            && model
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-/:".contains(&b))
            && model_id::check(model).is_ok();
        if !model_ok {
            return Err(ApiError::constraint(
                "modelId",
                "Member must satisfy regular expression pattern: [a-zA-Z_\\.\\-/0-9:]+",
            ));
        }
        if body.get("modelInput").is_none_or(Value::is_null) {
            return Err(ApiError::constraint(
                "modelInput",
                "Member must not be null",
            ));
        }
        let output = body.get("outputDataConfig").cloned().unwrap_or(Value::Null);
        if !output["s3OutputDataConfig"]["s3Uri"]
            .as_str()
            .is_some_and(|uri| uri.starts_with("s3://"))
        {
            return Err(ApiError::constraint(
                "outputDataConfig.s3OutputDataConfig.s3Uri",
                "Member must be an s3:// URI",
            ));
        }
        let token = match body.get("clientRequestToken") {
            None | Some(Value::Null) => None,
            Some(Value::String(token)) if is_printable(token, 256) => Some(token.clone()),
            Some(_) => {
                return Err(ApiError::constraint(
                    "clientRequestToken",
                    "Member must satisfy regular expression pattern: [!-~]*",
                ))
            }
        };
        control.record_call(model, region);
        let mut jobs = self.jobs();
        if let Some(job) = jobs
            .iter()
            .find(|j| j.client_token.is_some() && j.client_token == token && j.region == region)
        {
            return Ok(json!({ "invocationArn": job.arn }));
        }
        let failure = control.take_fault(model, region).map(|fault| {
            fault
                .http_error(false)
                .map_or_else(|| format!("The model failed: {fault:?}"), |e| e.message)
        });
        let arn = format!(
            "arn:aws:bedrock:{region}:{ACCOUNT}:async-invoke/{}",
            job_id(jobs.len(), now_ms, token.as_deref())
        );
        jobs.push(Job {
            arn: arn.clone(),
            region: region.to_owned(),
            model_arn: model_id::model_arn(model, region),
            client_token: token,
            submitted_ms: now_ms,
            failure,
            output,
        });
        Ok(json!({ "invocationArn": arn }))
    }

    /// GetAsyncInvoke.
    pub fn get(&self, region: &str, arn: &str, now_ms: i64) -> Result<Value, ApiError> {
        self.jobs()
            .iter()
            .find(|job| job.arn == arn && job.region == region)
            .map(|job| job.summary(now_ms))
            .ok_or_else(|| ApiError::validation(format!("The async invoke {arn} was not found.")))
    }

    /// ListAsyncInvokes: filters, sort order, and pages with an opaque `nextToken`.
    pub fn list(&self, region: &str, query: Option<&str>, now_ms: i64) -> Result<Value, ApiError> {
        let params = ListParams::parse(query.unwrap_or_default())?;
        let mut summaries: Vec<Value> = self
            .jobs()
            .iter()
            .filter(|job| job.region == region)
            .filter(|job| {
                params
                    .status
                    .as_deref()
                    .is_none_or(|s| s == job.status(now_ms))
            })
            .filter(|job| params.after.is_none_or(|t| job.submitted_ms / 1000 > t))
            .filter(|job| params.before.is_none_or(|t| job.submitted_ms / 1000 < t))
            .map(|job| job.summary(now_ms))
            .collect();
        if params.descending {
            summaries.reverse();
        }
        let end = params
            .offset
            .saturating_add(params.max_results)
            .min(summaries.len());
        let page: Vec<Value> = summaries
            .get(params.offset..end)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        let mut answer = json!({ "asyncInvokeSummaries": page });
        if end < summaries.len() {
            answer["nextToken"] = json!(URL_SAFE_NO_PAD.encode(format!("fake-bedrock:{end}")));
        }
        Ok(answer)
    }
}

/// 12 lowercase alphanumerics.
fn job_id(sequence: usize, now_ms: i64, token: Option<&str>) -> String {
    let hash = Sha256::digest(format!("{sequence}/{now_ms}/{}", token.unwrap_or_default()));
    hash.iter()
        .take(12)
        .map(|b| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[usize::from(*b) % 36]))
        .collect()
}

struct ListParams {
    status: Option<String>,
    max_results: usize,
    offset: usize,
    descending: bool,
    after: Option<i64>,
    before: Option<i64>,
}

impl ListParams {
    fn parse(query: &str) -> Result<Self, ApiError> {
        let mut params = Self {
            status: None,
            max_results: 1000,
            offset: 0,
            descending: true,
            after: None,
            before: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode_str(raw).decode_utf8_lossy().into_owned();
            let time = |name: &str| {
                clock::parse_iso8601(&value).ok_or_else(|| {
                    ApiError::constraint(name, "Member must be an ISO-8601 timestamp")
                })
            };
            match key {
                "statusEquals"
                    if ["InProgress", "Completed", "Failed"].contains(&value.as_str()) =>
                {
                    params.status = Some(value)
                }
                "statusEquals" => {
                    return Err(ApiError::constraint(
                        "statusEquals",
                        "Member must satisfy enum value set: [InProgress, Completed, Failed]",
                    ))
                }
                "maxResults" => {
                    params.max_results = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| {
                            ApiError::constraint(
                                "maxResults",
                                "Member must have value between 1 and 1000",
                            )
                        })?;
                }
                "nextToken" => params.offset = decode_token(&value)?,
                "sortOrder" => {
                    params.descending = match value.as_str() {
                        "Descending" => true,
                        "Ascending" => false,
                        _ => {
                            return Err(ApiError::constraint(
                                "sortOrder",
                                "Member must satisfy enum value set: [Ascending, Descending]",
                            ))
                        }
                    }
                }
                "sortBy" if value == "SubmissionTime" => {}
                "sortBy" => {
                    return Err(ApiError::constraint(
                        "sortBy",
                        "Member must satisfy enum value set: [SubmissionTime]",
                    ))
                }
                "submitTimeAfter" => params.after = Some(time("submitTimeAfter")?),
                "submitTimeBefore" => params.before = Some(time("submitTimeBefore")?),
                _ => {}
            }
        }
        Ok(params)
    }
}

fn decode_token(token: &str) -> Result<usize, ApiError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("fake-bedrock:")?.parse().ok())
        .ok_or_else(|| ApiError::validation("The pagination token is invalid."))
}

#[cfg(test)]
#[path = "async_invoke_tests.rs"]
mod tests;
