//! Bedrock's own asynchronous invocation (bedrock-wire.md §1.9) behind the jobs API, for
//! routes configured with `async_invoke`: StartAsyncInvoke with the job id as the idempotency
//! token (a retried start cannot start twice), and GetAsyncInvoke for a job's status, asked by
//! the queue's scheduled polls only (reads are served from the store). A caller's model input
//! is checked ([`check_input`]); requests are built and answers parsed by pure functions;
//! [`call`] signs and sends one.

use crate::{
    bedrock::{
        error::{BedrockError, BedrockErrorKind},
        send::{read_body, send_signed, CallOptions},
    },
    config::{limits::ValidationError, settings::Settings, Timeouts},
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

/// Largest model input, as compact JSON: room for a Nova Reel input with a 1280×720 keyframe
/// inline (a JPEG's base64 is a few hundred KB), and a bound on what each job stores (a D1
/// row holds at most 2 MB).
pub const MAX_INPUT_BYTES: usize = 768 * 1024;
/// Deepest nesting of objects and arrays in a model input, the input itself being level 1.
/// Native inputs need about six (`multiShotManualParams.shots[i].image.source`); the bound
/// keeps the walk over it, and what Bedrock gets, shallow.
pub const MAX_INPUT_DEPTH: usize = 16;

/// Output keys (compared as [`key_problem`] does): where the output goes and which key
/// encrypts it. The output goes only to the route's `s3_output_uri`, set by [`start_request`].
const OUTPUT_KEYS: [&str; 4] = [
    "outputdataconfig",
    "outputlocation",
    "outputuri",
    "kmskeyid",
];

/// Why a model input may not hold `key`, if it may not. Keys are compared in lower case
/// without `_` and `-`: any key starting with `s3` (`s3Location`, `s3Uri`) or `bucketOwner`
/// names an S3 input, and the [`OUTPUT_KEYS`] the output.
fn key_problem(key: &str) -> Option<&'static str> {
    let name: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    if name.starts_with("s3") || name == "bucketowner" {
        Some("S3 locations are not accepted: send media inline as base64 bytes")
    } else if OUTPUT_KEYS.contains(&name.as_str()) {
        Some("the output location is the route's own and cannot be set")
    } else {
        None
    }
}

/// Whether `text` is an `s3://` URI (any case, leading spaces ignored).
fn is_s3_uri(text: &str) -> bool {
    text.trim_start()
        .get(..5)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("s3://"))
}

/// One step down a JSON value: a member or an element.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `field` followed by `steps` (`model_input.shots[1].image`).
fn path_of(field: &str, steps: &[Step<'_>]) -> String {
    let mut path = field.to_owned();
    for step in steps {
        match step {
            Step::Key(key) => {
                path.push('.');
                path.push_str(key);
            }
            Step::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    path
}

/// Checks a caller's model input, named `field` in errors: a JSON object of at most
/// [`MAX_INPUT_BYTES`] and [`MAX_INPUT_DEPTH`] levels that names no S3 location (no `s3…` key,
/// no `s3://` string) and no output location: Bedrock would read or write those with the
/// edge's own AWS identity, wherever the caller says. The error names the first bad field.
pub fn check_input(input: &Value, field: &str) -> Result<(), ValidationError> {
    if !input.is_object() {
        return Err(ValidationError::new(field, "must be a JSON object"));
    }
    // Serialising a JSON value cannot fail.
    let size = serde_json::to_vec(input).map_or(usize::MAX, |json| json.len());
    if size > MAX_INPUT_BYTES {
        return Err(ValidationError::new(
            field,
            format!("must be at most {MAX_INPUT_BYTES} bytes of JSON"),
        ));
    }
    check_value(input, field, &mut Vec::new())
}

/// Walks `value`, reached from the input by `steps`: [`check_input`]'s checks but the size.
fn check_value<'a>(
    value: &'a Value,
    field: &str,
    steps: &mut Vec<Step<'a>>,
) -> Result<(), ValidationError> {
    let refuse = |steps: &[Step<'_>], problem: &str| {
        Err(ValidationError::new(path_of(field, steps), problem))
    };
    let nested = matches!(value, Value::Object(_) | Value::Array(_));
    if nested && steps.len() >= MAX_INPUT_DEPTH {
        let problem = format!("nests objects and arrays deeper than {MAX_INPUT_DEPTH} levels");
        return refuse(steps, &problem);
    }
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                steps.push(Step::Key(key));
                if let Some(problem) = key_problem(key) {
                    return refuse(steps, problem);
                }
                check_value(member, field, steps)?;
                steps.pop();
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                steps.push(Step::Index(i));
                check_value(item, field, steps)?;
                steps.pop();
            }
        }
        Value::String(text) if is_s3_uri(text) => {
            return refuse(
                steps,
                "S3 URIs are not accepted: send media inline as base64 bytes",
            );
        }
        _ => {}
    }
    Ok(())
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
    fn input_keys_are_compared_in_any_spelling() {
        for key in [
            "s3Location",
            "S3_Location",
            "s3uri",
            "bucket-owner",
            "OutputURI",
            "KMS_KEY_ID",
        ] {
            let input = json!({"video": {key: "x"}});
            let error = check_input(&input, "model_input").unwrap_err();
            assert_eq!(error.field, format!("model_input.video.{key}"));
        }
        let fine = json!({"output_format": "mp4", "seed": 3, "source": {"bytes": "AA=="},
            "text": "upload it to s3://later", "style": "S3"});
        assert_eq!(check_input(&fine, "model_input"), Ok(()));
        let uri = json!({"frames": [{}, {"ref": "\n S3://b/k"}]});
        assert_eq!(
            check_input(&uri, "model_input").unwrap_err().field,
            "model_input.frames[1].ref"
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
