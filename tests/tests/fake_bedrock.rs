//! The fake Bedrock over real HTTP: requests signed by `aws-sigv4` (the signer the edge uses),
//! sent with reqwest, streams decoded with the edge's event-stream decoder.
#![allow(
    clippy::unwrap_used,
    reason = "a test crate: in its helpers too, a failed unwrap is a failed test"
)]

use aws_sigv4::{
    http_request::{sign, SignableBody, SignableRequest, SigningSettings},
    sign::v4,
};
use edge::bedrock::eventstream::{Frame, FrameDecoder};
use futures::StreamExt;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use std::time::Duration;
use tests::fake_bedrock::{reply_text, FakeBedrock, FakeConfig, Fault, FaultRule, StreamException};

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const PROFILE: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
const PROFILE_ARN: &str = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0";
const APP_PROFILE_ARN: &str =
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/jf2sje1c0jnb";
const NOVA: &str = "amazon.nova-lite-v1:0";
const PROMPT: &str = "Tell me about streaming.";
const OPERATIONS: [&str; 4] = [
    "converse",
    "converse-stream",
    "invoke",
    "invoke-with-response-stream",
];
/// Everything but unreserved characters, as the SDKs encode path labels.
const LABEL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How a test request authenticates.
#[derive(Clone)]
enum Auth {
    SigV4 {
        secret: String,
        region: &'static str,
    },
    Bearer(&'static str),
    None,
}

fn sigv4(region: &'static str) -> Auth {
    Auth::SigV4 {
        secret: FakeConfig::default().secret_access_key,
        region,
    }
}

async fn start(token_delay_ms: u64) -> FakeBedrock {
    FakeBedrock::start(
        FakeConfig {
            token_delay_ms,
            ..FakeConfig::default()
        },
        0,
    )
    .await
    .unwrap()
}

/// The body each operation needs (Nova bodies for `amazon.nova` invokes).
fn body_for(operation: &str, model: &str) -> Value {
    if operation.starts_with("converse") || model.contains("amazon.nova") {
        json!({"messages": [{"role": "user", "content": [{"text": PROMPT}]}], "inferenceConfig": {"maxTokens": 512}})
    } else {
        json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 512, "messages": [{"role": "user", "content": PROMPT}]})
    }
}

/// Sends `method url` with `body`, authenticated as `auth`.
async fn send(
    method: &str,
    url: String,
    body: Vec<u8>,
    auth: &Auth,
    timeout: Duration,
) -> reqwest::Result<reqwest::Response> {
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    match auth {
        Auth::SigV4 { secret, region } => {
            let identity = aws_credential_types::Credentials::new(
                FakeConfig::default().access_key_id,
                secret,
                None,
                None,
                "test",
            )
            .into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(region)
                .name("bedrock")
                .time(tests::wall_clock::now())
                .settings(SigningSettings::default())
                .build()
                .unwrap()
                .into();
            let signable = SignableRequest::new(
                method,
                &url,
                headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                SignableBody::Bytes(&body),
            )
            .unwrap();
            let (instructions, _) = sign(signable, &params).unwrap().into_parts();
            headers.extend(
                instructions
                    .headers()
                    .map(|(n, v)| (n.to_owned(), v.to_owned())),
            );
        }
        Auth::Bearer(token) => headers.push(("authorization".into(), format!("Bearer {token}"))),
        Auth::None => {}
    }
    let client = reqwest::Client::new();
    let mut request = client
        .request(method.parse().unwrap(), &url)
        .body(body)
        .timeout(timeout);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await
}

/// POSTs a model operation with the id percent-encoded like the SDKs do.
async fn call(fake: &FakeBedrock, model: &str, operation: &str, auth: &Auth) -> reqwest::Response {
    let url = format!(
        "{}/model/{}/{operation}",
        fake.url(),
        utf8_percent_encode(model, LABEL)
    );
    send(
        "POST",
        url,
        body_for(operation, model).to_string().into_bytes(),
        auth,
        Duration::from_secs(10),
    )
    .await
    .unwrap()
}

/// The frames of a streamed body, and how it ended: `Ok` for a clean end, else the problem.
async fn frames(response: reqwest::Response) -> (Vec<Frame>, Result<(), String>) {
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => decoder.push(&bytes),
            Err(error) => return (frames, Err(format!("body error: {error}"))),
        }
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame.to_frame()),
                Ok(None) => break,
                Err(error) => return (frames, Err(format!("decode error: {error}"))),
            }
        }
    }
    (
        frames,
        decoder.finish().map_err(|e| format!("decode error: {e}")),
    )
}

fn payload(frame: &Frame) -> Value {
    serde_json::from_slice(&frame.payload).unwrap()
}

/// The JSON inside an invoke-stream `chunk` frame.
fn chunk(frame: &Frame) -> Value {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload(frame)["bytes"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The answer text of any operation's response.
async fn answer_text(operation: &str, response: reqwest::Response) -> String {
    match operation {
        "converse" => response.json::<Value>().await.unwrap()["output"]["message"]["content"][0]
            ["text"]
            .as_str()
            .unwrap()
            .to_owned(),
        "invoke" => {
            let body: Value = response.json().await.unwrap();
            body["content"][0]["text"]
                .as_str()
                .or(body["output"]["message"]["content"][0]["text"].as_str())
                .unwrap()
                .to_owned()
        }
        _ => {
            let (frames, end) = frames(response).await;
            assert_eq!(end, Ok(()));
            frames
                .iter()
                .map(|f| {
                    if f.header(":event-type") == Some("chunk") {
                        chunk(f)
                    } else {
                        payload(f)
                    }
                })
                .filter_map(|p| {
                    let delta = p.get("contentBlockDelta").unwrap_or(&p);
                    delta["delta"]["text"].as_str().map(str::to_owned)
                })
                .collect()
        }
    }
}

fn error_type(response: &reqwest::Response) -> String {
    let value = response
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_owned());
    value
        .unwrap_or_default()
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn every_operation_round_trips_for_every_model_id_form() {
    let fake = start(1).await;
    for model in [HAIKU, PROFILE, PROFILE_ARN, APP_PROFILE_ARN, NOVA] {
        for operation in OPERATIONS {
            let response = call(&fake, model, operation, &sigv4("us-west-2")).await;
            assert_eq!(response.status(), 200, "{operation} {model}");
            let headers = response.headers();
            assert!(headers.contains_key("x-amzn-requestid") && headers.contains_key("date"));
            let streaming = operation.ends_with("stream");
            let expected_type = if streaming {
                "application/vnd.amazon.eventstream"
            } else {
                "application/json"
            };
            assert_eq!(headers["content-type"], expected_type);
            if operation == "invoke" {
                assert!(
                    headers["x-amzn-bedrock-output-token-count"]
                        .to_str()
                        .unwrap()
                        .parse::<u32>()
                        .unwrap()
                        > 5
                );
            }
            if operation == "invoke-with-response-stream" {
                assert_eq!(headers["x-amzn-bedrock-content-type"], "application/json");
            }
            assert_eq!(
                answer_text(operation, response).await,
                reply_text(model, "us-west-2", PROMPT),
                "{operation} {model}"
            );
        }
        assert_eq!(fake.calls(model), 4);
    }
    // A raw `:` is accepted too (the Anthropic SDK sends it).
    let url = format!(
        "{}/model/{}/invoke",
        fake.url(),
        APP_PROFILE_ARN.replace('/', "%2F")
    );
    let body = body_for("invoke", APP_PROFILE_ARN).to_string().into_bytes();
    let response = send(
        "POST",
        url,
        body,
        &sigv4("us-east-1"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn converse_stream_events_come_in_bedrock_order() {
    let fake = start(15).await;
    let started = tests::wall_clock::instant();
    let (frames, end) =
        frames(call(&fake, PROFILE, "converse-stream", &sigv4("eu-west-1")).await).await;
    assert_eq!(end, Ok(()));
    let names: Vec<&str> = frames
        .iter()
        .map(|f| f.header(":event-type").unwrap())
        .collect();
    let deltas = names.iter().filter(|n| **n == "contentBlockDelta").count();
    assert_eq!(names[0], "messageStart");
    assert_eq!(names[1..=deltas], vec!["contentBlockDelta"; deltas][..]);
    assert_eq!(
        names[deltas + 1..],
        ["contentBlockStop", "messageStop", "metadata"]
    );
    // Paced: 15 ms between frames.
    assert!(started.elapsed() >= Duration::from_millis(15 * (frames.len() as u64 - 1)));
    assert!(
        frames.iter().any(|f| payload(f).get("p").is_some()),
        "some events carry padding"
    );
    let metadata = payload(&frames[frames.len() - 1]);
    assert_eq!(metadata["usage"]["outputTokens"], deltas);
    assert_eq!(metadata["usage"]["inputTokens"], 4);
    assert_eq!(payload(&frames[frames.len() - 2])["stopReason"], "end_turn");
}

#[tokio::test]
async fn authentication_failures_are_front_door_errors() {
    let fake = start(1).await;
    let wrong_secret = Auth::SigV4 {
        secret: "not-the-secret".into(),
        region: "us-east-1",
    };
    for (auth, status, name) in [
        (wrong_secret, 403, "InvalidSignatureException"),
        (
            Auth::Bearer("wrong-key"),
            403,
            "UnrecognizedClientException",
        ),
        (Auth::None, 403, "MissingAuthenticationTokenException"),
        (Auth::Bearer("fake-bedrock-api-key"), 200, ""),
    ] {
        let response = call(&fake, HAIKU, "converse", &auth).await;
        assert_eq!(
            (response.status().as_u16(), error_type(&response)),
            (status, name.to_owned())
        );
        if status == 403 {
            assert!(response.json::<Value>().await.unwrap()["message"].is_string());
        } else {
            assert_eq!(
                answer_text("converse", response).await,
                reply_text(HAIKU, "us-east-1", PROMPT)
            );
        }
    }
    // Only authenticated calls count.
    assert_eq!(fake.calls(HAIKU), 1);
}

#[tokio::test]
async fn bad_requests_are_validation_or_unknown_operation_errors() {
    let fake = start(1).await;
    let auth = sigv4("us-east-1");
    let post = |path: &str, body: &[u8]| {
        send(
            "POST",
            format!("{}{path}", fake.url()),
            body.to_vec(),
            &auth,
            Duration::from_secs(30),
        )
    };
    for (path, body, status, name) in [
        (
            "/model/not-a-model-id/converse",
            &br#"{}"#[..],
            400,
            "ValidationException",
        ),
        (
            "/model/amazon.nova-lite-v1%3A0/chat",
            b"{}",
            404,
            "UnknownOperationException",
        ),
        (
            "/model/amazon.nova-lite-v1%3A0/converse",
            b"{\"messages\":[]}",
            400,
            "ValidationException",
        ),
        (
            "/model/amazon.nova-lite-v1%3A0/converse",
            b"not json",
            400,
            "ValidationException",
        ),
        (
            "/model/anthropic.claude-v2/invoke",
            b"{\"max_tokens\":5,\"messages\":[]}",
            400,
            "ValidationException",
        ),
    ] {
        let response = post(path, body).await.unwrap();
        assert_eq!(
            (response.status().as_u16(), error_type(&response)),
            (status, name.to_owned()),
            "{path}"
        );
    }
    let huge = vec![b' '; 25_000_001];
    let response = post("/model/amazon.nova-lite-v1%3A0/converse", &huge)
        .await
        .unwrap();
    assert_eq!(
        (response.status().as_u16(), error_type(&response)),
        (400, "ValidationException".to_owned())
    );
}

#[tokio::test]
async fn http_faults_answer_with_their_bedrock_errors() {
    let fake = start(1).await;
    let exception = StreamException::ThrottlingException;
    for (fault, status, name) in [
        (Fault::Throttle, 429, "ThrottlingException"),
        (Fault::Unavailable, 503, "ServiceUnavailableException"),
        (Fault::Internal, 500, "InternalServerException"),
        (Fault::ModelError, 424, "ModelErrorException"),
        (Fault::ModelTimeout, 408, "ModelTimeoutException"),
        (Fault::ModelNotReady, 429, "ModelNotReadyException"),
        (Fault::Validation, 400, "ValidationException"),
        (Fault::AccessDenied, 403, "AccessDeniedException"),
        (
            Fault::ExceptionAfter {
                deltas: 1,
                exception,
            },
            429,
            "ThrottlingException",
        ),
        (
            Fault::BadCrcAfter { deltas: 1 },
            500,
            "InternalServerException",
        ),
    ] {
        for operation in OPERATIONS {
            if matches!(
                fault,
                Fault::ExceptionAfter { .. } | Fault::BadCrcAfter { .. }
            ) && operation.ends_with("stream")
            {
                continue;
            }
            fake.set_fault(FaultRule::new(HAIKU, fault.clone()).times(1))
                .unwrap();
            let response = call(&fake, HAIKU, operation, &sigv4("us-east-1")).await;
            assert_eq!(
                (response.status().as_u16(), error_type(&response)),
                (status, name.to_owned()),
                "{fault:?} {operation}"
            );
            assert!(response.headers().contains_key("x-amzn-requestid"));
            assert!(response.json::<Value>().await.unwrap()["message"].is_string());
        }
    }
}

#[tokio::test]
async fn stream_faults_break_the_stream_as_described() {
    let fake = start(1).await;
    let exception = StreamException::ModelStreamErrorException;
    for operation in ["converse-stream", "invoke-with-response-stream"] {
        fake.set_fault(
            FaultRule::new(
                HAIKU,
                Fault::ExceptionAfter {
                    deltas: 2,
                    exception,
                },
            )
            .times(1),
        )
        .unwrap();
        let (got, end) = frames(call(&fake, HAIKU, operation, &sigv4("us-east-1")).await).await;
        let last = got.last().unwrap();
        assert_eq!(
            (last.header(":message-type"), last.header(":exception-type")),
            (Some("exception"), Some("modelStreamErrorException"))
        );
        assert!(payload(last)["message"].is_string());
        assert_eq!(end, Ok(()));
        let deltas = got
            .iter()
            .filter(|f| f.header(":event-type").is_some())
            .count();
        assert_eq!(
            deltas,
            if operation == "converse-stream" { 3 } else { 4 },
            "start events + 2 deltas"
        );

        for (fault, expected) in [
            (
                Fault::BadCrcAfter { deltas: 2 },
                "decode error: event-stream message checksum mismatch",
            ),
            (
                Fault::TruncatedAfter { deltas: 2 },
                "decode error: event stream ended in the middle of a frame",
            ),
            (Fault::DropAfter { deltas: 2 }, "body error"),
        ] {
            fake.set_fault(FaultRule::new(HAIKU, fault.clone()).times(1))
                .unwrap();
            let (_, end) = frames(call(&fake, HAIKU, operation, &sigv4("us-east-1")).await).await;
            assert!(
                end.as_ref().unwrap_err().starts_with(expected),
                "{fault:?} {operation}: {end:?}"
            );
        }
    }
    // Non-streaming calls: the JSON body breaks off.
    fake.set_fault(FaultRule::new(HAIKU, Fault::DropAfter { deltas: 0 }).times(1))
        .unwrap();
    assert!(call(&fake, HAIKU, "converse", &sigv4("us-east-1"))
        .await
        .bytes()
        .await
        .is_err());
}

#[tokio::test]
async fn hang_and_slow_faults_delay_the_answer() {
    let fake = start(1).await;
    fake.set_fault(FaultRule::new(NOVA, Fault::Hang).times(1))
        .unwrap();
    let url = format!(
        "{}/model/{}/converse-stream",
        fake.url(),
        utf8_percent_encode(NOVA, LABEL)
    );
    let body = body_for("converse-stream", NOVA).to_string().into_bytes();
    let error = send(
        "POST",
        url,
        body,
        &sigv4("us-east-1"),
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert!(error.is_timeout(), "{error}");

    fake.set_fault(FaultRule::new(NOVA, Fault::SlowFirstByte { ms: 300 }).times(1))
        .unwrap();
    let started = tests::wall_clock::instant();
    assert_eq!(
        call(&fake, NOVA, "converse", &sigv4("us-east-1"))
            .await
            .status(),
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(300));

    fake.set_fault(FaultRule::new(NOVA, Fault::SlowTokens { ms: 40 }).times(1))
        .unwrap();
    let started = tests::wall_clock::instant();
    let (got, end) = frames(call(&fake, NOVA, "converse-stream", &sigv4("us-east-1")).await).await;
    assert_eq!(end, Ok(()));
    assert!(started.elapsed() >= Duration::from_millis(40 * (got.len() as u64 - 1)));
}

#[tokio::test]
async fn a_fault_for_two_calls_then_success_counted_by_the_control_api() {
    let fake = start(1).await;
    let client = reqwest::Client::new();
    let rule =
        json!({"model": PROFILE, "region": "us-east-2", "times": 2, "fault": {"kind": "throttle"}});
    let added = client
        .post(format!("{}/_fake/faults", fake.url()))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);
    let refused = client
        .post(format!("{}/_fake/faults", fake.url()))
        .json(&json!({"model": "m", "fault": {"kind": "nope"}}))
        .send()
        .await;
    assert_eq!(refused.unwrap().status(), 400);

    // Another region is not affected.
    assert_eq!(
        call(&fake, PROFILE, "converse", &sigv4("us-west-2"))
            .await
            .status(),
        200
    );
    let statuses = [
        call(&fake, PROFILE, "converse-stream", &sigv4("us-east-2"))
            .await
            .status()
            .as_u16(),
        call(&fake, PROFILE, "converse-stream", &sigv4("us-east-2"))
            .await
            .status()
            .as_u16(),
        call(&fake, PROFILE, "converse-stream", &sigv4("us-east-2"))
            .await
            .status()
            .as_u16(),
    ];
    assert_eq!(statuses, [429, 429, 200]);
    let calls: Value = client
        .get(format!("{}/_fake/calls", fake.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["calls"][PROFILE], 4);
    assert_eq!(calls["by_region"][format!("{PROFILE}@us-east-2")], 3);
    assert_eq!(calls["by_region"][format!("{PROFILE}@us-west-2")], 1);

    let cleared = client
        .delete(format!("{}/_fake/faults", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 200);
    assert_eq!(fake.calls(PROFILE), 0);
}

#[tokio::test]
async fn a_set_reply_answers_every_operation_until_cleared() {
    let fake = start(0).await;
    let client = reqwest::Client::new();
    let text = "# A title\n\nA *long* answer:\n\n- one\n- two\n";
    let set = client
        .post(format!("{}/_fake/replies", fake.url()))
        .json(&json!({"model": HAIKU, "text": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    for bad in [json!({"model": HAIKU, "text": ""}), json!({"model": HAIKU})] {
        let refused = client
            .post(format!("{}/_fake/replies", fake.url()))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400, "{bad}");
    }
    for operation in OPERATIONS {
        let response = call(&fake, HAIKU, operation, &sigv4("us-east-1")).await;
        assert_eq!(answer_text(operation, response).await, text, "{operation}");
    }
    // Other models keep their generated answer.
    let other = call(&fake, PROFILE, "converse", &sigv4("us-east-1")).await;
    assert_eq!(
        answer_text("converse", other).await,
        reply_text(PROFILE, "us-east-1", PROMPT)
    );
    client
        .delete(format!("{}/_fake/faults", fake.url()))
        .send()
        .await
        .unwrap();
    let after = call(&fake, HAIKU, "converse", &sigv4("us-east-1")).await;
    assert_eq!(
        answer_text("converse", after).await,
        reply_text(HAIKU, "us-east-1", PROMPT)
    );
}

#[tokio::test]
async fn async_invoke_lifecycle_and_idempotency() {
    let fake = start(1).await;
    let auth = sigv4("us-east-1");
    let start_job = |token: &str| {
        let body = json!({"clientRequestToken": token, "modelId": "amazon.nova-reel-v1:0",
            "modelInput": {"taskType": "TEXT_VIDEO"}, "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://b/o"}}});
        send(
            "POST",
            format!("{}/async-invoke", fake.url()),
            body.to_string().into_bytes(),
            &auth,
            Duration::from_secs(5),
        )
    };
    let arn = |v: Value| v["invocationArn"].as_str().unwrap().to_owned();
    let first = arn(start_job("token-a").await.unwrap().json().await.unwrap());
    assert_eq!(
        arn(start_job("token-a").await.unwrap().json().await.unwrap()),
        first
    );
    assert!(first.starts_with("arn:aws:bedrock:us-east-1:123456789012:async-invoke/"));

    let get_url = format!(
        "{}/async-invoke/{}",
        fake.url(),
        utf8_percent_encode(&first, LABEL)
    );
    let get = || async {
        send(
            "GET",
            get_url.clone(),
            Vec::new(),
            &auth,
            Duration::from_secs(5),
        )
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()
    };
    assert_eq!(get().await["status"], "InProgress");
    let deadline = tests::wall_clock::instant() + Duration::from_secs(5);
    while get().await["status"] == "InProgress" {
        assert!(
            tests::wall_clock::instant() < deadline,
            "the job never finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get().await["status"], "Completed");

    let list_url = format!(
        "{}/async-invoke?maxResults=5&statusEquals=Completed",
        fake.url()
    );
    let list: Value = send("GET", list_url, Vec::new(), &auth, Duration::from_secs(5))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["asyncInvokeSummaries"][0]["invocationArn"],
        first.as_str()
    );
}
