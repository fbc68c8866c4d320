//! The jobs system end to end in memory: the HTTP API and the consumer against scripted
//! upstream replies, the memory store and the memory queue.

use super::{
    callback,
    consumer::{Consumer, Disposition, Source},
    store::{
        memory::{MemoryQueue, MemoryStore},
        JobStore,
    },
    JobMessage, JobSettings, Jobs,
};
use crate::{
    config::{secret::Secret, settings::Settings, AsyncInvoke, Timeouts},
    http::{ApiBody, ApiRequest, ApiResponse, Edge},
    platform::{Platform, UpstreamRequest},
    test_support::{one_call_config, settings_with, Reply, ScriptedPlatform, START_MS},
};
use serde_json::{json, Value};
use shared::jobs::{CallbackState, JobStatus};
use std::rc::Rc;

const CONVERSE_OK: &str = r#"{"output":{"message":{"role":"assistant","content":[{"text":"Hello there"}]}},"stopReason":"end_turn","usage":{"inputTokens":5,"outputTokens":2,"totalTokens":7}}"#;
const CLIENT: &str = "client-0123456789abcdef";
const OTHER: &str = "client-fedcba9876543210";
const SECRET: &str = "callback-secret";
/// The default time to live: seven days.
const TTL_MS: u64 = 7 * 24 * 60 * 60 * 1_000;

struct World {
    edge: Edge<ScriptedPlatform>,
    platform: ScriptedPlatform,
    settings: Rc<Settings>,
    jobs: Jobs,
    store: MemoryStore,
    queue: MemoryQueue,
}

fn settings() -> Settings {
    let mut config = one_call_config(Timeouts {
        first_byte_ms: 1_000,
        idle_ms: 1_000,
    });
    let mut video = config.routes["classify"].clone();
    video.targets[0].model = "amazon.nova-reel-v1:0".into();
    video.async_invoke = Some(AsyncInvoke {
        s3_output_uri: "s3://bucket/out".into(),
    });
    config.routes.insert("video".into(), video);
    Settings {
        endpoint: Some("http://bedrock.test".into()),
        ..settings_with(config)
    }
}

fn world(replies: Vec<Reply>) -> World {
    let platform = ScriptedPlatform::new(replies);
    let store = MemoryStore::default();
    let queue = MemoryQueue::default();
    let jobs = Jobs {
        store: Rc::new(store.clone()),
        queue: Rc::new(queue.clone()),
        settings: Rc::new(JobSettings {
            callback_secret: Some(Secret::new(SECRET)),
            callback_allowed_hosts: callback::AllowedHosts::parse("hooks.example.com", false)
                .unwrap(),
            retry_delay_s: 2,
            ..JobSettings::default()
        }),
    };
    World {
        edge: Edge::new(settings(), platform.clone()).with_jobs(Some(jobs.clone())),
        platform,
        settings: Rc::new(settings()),
        jobs,
        store,
        queue,
    }
}

fn request(method: &str, path: &str, client: &str, body: Value) -> ApiRequest {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    ApiRequest {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-client-id".into(), client.into()),
        ],
        body: if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        },
        ..ApiRequest::default()
    }
}

/// The owner the store keeps for `client` (a digest of its id).
fn owner(client: &str) -> String {
    super::client::client_id(&[("x-client-id".into(), client.into())]).unwrap()
}

fn ask(prompt: &str) -> Value {
    json!({"request": {"messages": [{"role": "user", "content": prompt}]}})
}

fn body(response: &ApiResponse) -> Value {
    match &response.body {
        ApiBody::Json(text) => serde_json::from_str(text).unwrap(),
        _ => panic!("expected JSON"),
    }
}

impl World {
    async fn submit(&self, body: Value) -> String {
        let response = self
            .edge
            .handle(request("POST", "/api/jobs", CLIENT, body))
            .await;
        assert_eq!(response.status, 202, "{}", self::body(&response));
        body_id(&response)
    }

    async fn get(&self, id: &str) -> Value {
        let path = format!("/api/jobs/{id}");
        let response = self
            .edge
            .handle(request("GET", &path, CLIENT, Value::Null))
            .await;
        assert_eq!(response.status, 200);
        body(&response)
    }

    /// Delivers one message to the consumer.
    async fn deliver(&self, source: Source, message: &JobMessage) -> Disposition {
        let consumer = Consumer {
            platform: &self.platform,
            settings: &self.settings,
            jobs: &self.jobs,
        };
        consumer
            .handle(source, &serde_json::to_string(message).unwrap())
            .await
    }

    /// The callback deliveries posted so far.
    fn callback_posts(&self) -> Vec<UpstreamRequest> {
        self.platform
            .requests()
            .into_iter()
            .filter(|r| r.url == "https://hooks.example.com/done")
            .collect()
    }

    fn upstream_calls(&self, fragment: &str) -> usize {
        self.platform
            .requests()
            .iter()
            .filter(|r| r.url.contains(fragment))
            .count()
    }
}

fn body_id(response: &ApiResponse) -> String {
    body(response)["id"].as_str().unwrap().to_owned()
}

fn run(id: &str) -> JobMessage {
    JobMessage::Run { job: id.into() }
}

#[tokio::test(start_paused = true)]
async fn a_job_is_queued_run_once_and_read_by_its_owner_only() {
    let w = world(vec![Reply::json(CONVERSE_OK)]);
    let response = w
        .edge
        .handle(request("POST", "/api/jobs", CLIENT, ask("Hi")))
        .await;
    assert_eq!(response.status, 202);
    let id = body_id(&response);
    assert!(id.starts_with("job_") && id.len() == 36, "{id}");
    assert_eq!(body(&response)["status_url"], format!("/api/jobs/{id}"));
    assert_eq!(
        response.header("location"),
        Some(format!("/api/jobs/{id}").as_str())
    );
    assert_eq!(w.queue.take(), vec![(run(&id), 0)]);
    assert_eq!(w.get(&id).await["status"], "queued");

    assert_eq!(w.deliver(Source::Jobs, &run(&id)).await, Disposition::Ack);
    let job = w.get(&id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["text"], "Hello there");
    assert_eq!(job["result"]["usage"]["output_tokens"], 2);
    assert_eq!(job["attempts"], 1);
    assert!(job["finished_ms"].as_u64() >= job["started_ms"].as_u64());

    // At least once: the same message again changes nothing and calls nothing.
    assert_eq!(w.deliver(Source::Jobs, &run(&id)).await, Disposition::Ack);
    assert_eq!(w.upstream_calls("/converse"), 1);
    assert_eq!(w.get(&id).await, job);

    let theirs = w
        .edge
        .handle(request(
            "GET",
            &format!("/api/jobs/{id}"),
            OTHER,
            Value::Null,
        ))
        .await;
    assert_eq!(theirs.status, 404);
    let listed = w
        .edge
        .handle(request(
            "GET",
            "/api/jobs?status=succeeded",
            CLIENT,
            Value::Null,
        ))
        .await;
    assert_eq!(body(&listed)["jobs"][0]["id"], id);
    let none = w
        .edge
        .handle(request(
            "GET",
            "/api/jobs?status=queued",
            CLIENT,
            Value::Null,
        ))
        .await;
    assert_eq!(body(&none)["jobs"], json!([]));
    let others = w
        .edge
        .handle(request("GET", "/api/jobs", OTHER, Value::Null))
        .await;
    assert_eq!(body(&others)["jobs"], json!([]));

    // The store keeps a digest of the client id, never the id a reader would need.
    assert!(w
        .store
        .all()
        .iter()
        .all(|job| !job.client_id.contains(CLIENT)));
}

#[tokio::test(start_paused = true)]
async fn without_a_client_id_there_are_no_jobs_to_share_behind_one_address() {
    let w = world(vec![]);
    for (method, path, body) in [
        ("POST", "/api/jobs", ask("Hi")),
        ("GET", "/api/jobs", Value::Null),
        ("GET", "/api/jobs/job_0123", Value::Null),
    ] {
        let mut anonymous = request(method, path, CLIENT, body);
        anonymous.headers = vec![
            ("content-type".into(), "application/json".into()),
            ("cf-connecting-ip".into(), "203.0.113.9".into()),
        ];
        let response = w.edge.handle(anonymous).await;
        assert_eq!(response.status, 400, "{method} {path}");
        let error = self::body(&response);
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("X-Client-Id:"),
            "{error}"
        );
    }
    assert!(w.store.all().is_empty());
}

#[tokio::test(start_paused = true)]
async fn one_idempotency_key_is_one_job() {
    let w = world(vec![]);
    let with_key = |body: Value| {
        let mut r = request("POST", "/api/jobs", CLIENT, body);
        r.headers
            .push(("Idempotency-Key".into(), "order-42".into()));
        r
    };
    let first = w.edge.handle(with_key(ask("Hi"))).await;
    let second = w.edge.handle(with_key(ask("Hi"))).await;
    assert_eq!((first.status, second.status), (202, 200));
    assert_eq!(body_id(&first), body_id(&second));
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(w.store.all().len(), 1);
    assert_eq!(w.queue.take().len(), 1, "queued once");
    let other = w.edge.handle(with_key(ask("Something else"))).await;
    assert_eq!(other.status, 409);

    // Another client's same key is its own job, never the first client's.
    let mut theirs = request("POST", "/api/jobs", OTHER, ask("Hi"));
    theirs
        .headers
        .push(("Idempotency-Key".into(), "order-42".into()));
    let theirs = w.edge.handle(theirs).await;
    assert_eq!(theirs.status, 202);
    assert_ne!(body_id(&theirs), body_id(&first));
}

#[tokio::test(start_paused = true)]
async fn submissions_are_checked_before_anything_is_stored() {
    let w = world(vec![]);
    for (body, client, status, fragment) in [
        (
            json!({"request": {"messages": []}}),
            CLIENT,
            400,
            "request.messages",
        ),
        (
            json!({"prompt": "x"}),
            CLIENT,
            400,
            "unknown field `prompt`",
        ),
        (json!({}), CLIENT, 400, "request: required"),
        (
            json!({"request": {"messages": [{"role": "user", "content": "x"}]}, "model_input": {}}),
            CLIENT,
            400,
            "not both",
        ),
        (
            json!({"request": {"messages": [{"role": "user", "content": "x"}], "route": "nope"}}),
            CLIENT,
            400,
            "unknown route",
        ),
        (
            json!({"request": {"messages": [{"role": "user", "content": "x"}], "route": "video"}}),
            CLIENT,
            400,
            "POST /api/jobs",
        ),
        (
            json!({"route": "generate", "model_input": {}}),
            CLIENT,
            400,
            "runs Converse",
        ),
        (
            json!({"request": {"messages": [{"role": "user", "content": "x"}]}, "callback_url": "https://evil.example.com/"}),
            CLIENT,
            400,
            "callback_url: host",
        ),
        (ask("x"), "short", 400, "X-Client-Id"),
    ] {
        let response = w
            .edge
            .handle(request("POST", "/api/jobs", client, body.clone()))
            .await;
        let answer = self::body(&response);
        assert_eq!(response.status, status, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(fragment), "{body}: {message}");
    }
    assert!(w.store.all().is_empty());
    let wrong_method = w
        .edge
        .handle(request("DELETE", "/api/jobs/job_1", CLIENT, Value::Null))
        .await;
    assert_eq!(
        (wrong_method.status, wrong_method.header("allow")),
        (405, Some("GET"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_throttled_job_is_retried_later_and_then_succeeds() {
    let throttled = || Reply::error(429, "ThrottlingException", "Too many requests");
    let w = world(vec![throttled(), Reply::json(CONVERSE_OK)]);
    let id = w.submit(ask("Hi")).await;
    let first = w.deliver(Source::Jobs, &run(&id)).await;
    assert_eq!(first, Disposition::Retry { delay_s: 2 });
    let waiting = w.get(&id).await;
    assert_eq!(waiting["status"], "queued");
    assert_eq!(waiting["error"]["code"], "upstream_throttled");
    assert_eq!(w.deliver(Source::Jobs, &run(&id)).await, Disposition::Ack);
    let done = w.get(&id).await;
    assert_eq!(
        (done["status"].as_str(), done["attempts"].as_u64()),
        (Some("succeeded"), Some(2))
    );
    assert_eq!(done.get("error"), None);
}

#[tokio::test(start_paused = true)]
async fn a_job_bedrock_refuses_fails_at_once_and_a_dead_letter_fails_with_its_reason() {
    let w = world(vec![
        Reply::error(400, "ValidationException", "bad"),
        Reply::error(503, "ServiceUnavailableException", "down"),
    ]);
    let refused = w.submit(ask("Hi")).await;
    assert_eq!(
        w.deliver(Source::Jobs, &run(&refused)).await,
        Disposition::Ack
    );
    let job = w.get(&refused).await;
    assert_eq!(
        (job["status"].as_str(), job["error"]["code"].as_str()),
        (Some("failed"), Some("upstream_rejected"))
    );

    let poison = w.submit(ask("Hi")).await;
    assert!(matches!(
        w.deliver(Source::Jobs, &run(&poison)).await,
        Disposition::Retry { .. }
    ));
    // The queue gave up on it: the dead-letter consumer gets the same message.
    assert_eq!(
        w.deliver(Source::DeadLetter, &run(&poison)).await,
        Disposition::Ack
    );
    let job = w.get(&poison).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["error"]["code"], "dead_lettered");
    let message = job["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("1 attempt") && message.contains("unavailable"),
        "{message}"
    );
    // A succeeded job is never turned into a failure by a late dead letter.
    assert_eq!(
        w.deliver(Source::DeadLetter, &run(&refused)).await,
        Disposition::Ack
    );
    assert_eq!(w.get(&refused).await["error"]["code"], "upstream_rejected");
}

#[tokio::test(start_paused = true)]
async fn a_callback_is_signed_delivered_once_and_retried_with_backoff() {
    let w = world(vec![
        Reply::json(CONVERSE_OK),
        Reply::error(500, "Oops", "receiver down"),
        Reply::json("{}"),
    ]);
    let mut submission = ask("Hi");
    submission["callback_url"] = json!("https://hooks.example.com/done");
    let id = w.submit(submission).await;
    w.queue.take();
    assert_eq!(w.deliver(Source::Jobs, &run(&id)).await, Disposition::Ack);
    let callback = JobMessage::Callback { job: id.clone() };
    assert_eq!(w.queue.take(), vec![(callback.clone(), 0)]);

    // The receiver fails the first time: a second delivery is queued after the backoff.
    assert_eq!(w.deliver(Source::Jobs, &callback).await, Disposition::Ack);
    assert_eq!(w.queue.take(), vec![(callback.clone(), 2)]);
    assert_eq!(w.get(&id).await["callback"]["state"], "pending");
    assert_eq!(w.deliver(Source::Jobs, &callback).await, Disposition::Ack);
    let job = w.get(&id).await;
    assert_eq!(
        job["callback"],
        json!({"url": "https://hooks.example.com/done", "state": "delivered", "attempts": 2})
    );
    // Already delivered: a duplicate message posts nothing.
    assert_eq!(w.deliver(Source::Jobs, &callback).await, Disposition::Ack);
    assert!(w.queue.take().is_empty());

    let posts = w.callback_posts();
    assert_eq!(posts.len(), 2);
    let post = &posts[1];
    let header = |name: &str| {
        post.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    // The receiver verifies with the job and submitter the headers name: the owner's
    // record `client_id`, as it is.
    assert_eq!(header("x-job-id"), id);
    assert_eq!(header("x-job-submitter"), owner(CLIENT));
    assert_eq!(header("x-delivery-attempt"), "2");
    let (job_id, submitter) = (header("x-job-id"), header("x-job-submitter"));
    let payload = callback::Payload {
        job_id: &job_id,
        submitter: &submitter,
        body: &post.body,
    };
    let now_s = START_MS / 1000;
    let signature = header("x-signature");
    assert_eq!(
        callback::verify(
            SECRET,
            &signature,
            &payload,
            now_s,
            callback::REPLAY_TOLERANCE_S
        ),
        Ok(())
    );
    let other_owner = owner(OTHER);
    let forged = callback::Payload {
        submitter: &other_owner,
        ..payload
    };
    assert_eq!(
        callback::verify(
            SECRET,
            &signature,
            &forged,
            now_s,
            callback::REPLAY_TOLERANCE_S
        ),
        Err("signature mismatch")
    );
    let sent: Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(
        (sent["id"].as_str(), sent["status"].as_str()),
        (Some(id.as_str()), Some("succeeded"))
    );
    assert_eq!(sent["result"]["text"], "Hello there");
}

#[tokio::test(start_paused = true)]
async fn a_callback_to_a_host_no_longer_allowed_is_given_up_unsent() {
    let mut w = world(vec![Reply::json(CONVERSE_OK)]);
    let mut submission = ask("Hi");
    submission["callback_url"] = json!("https://hooks.example.com/done");
    let id = w.submit(submission).await;
    w.queue.take();
    assert_eq!(w.deliver(Source::Jobs, &run(&id)).await, Disposition::Ack);
    let callback = JobMessage::Callback { job: id.clone() };
    assert_eq!(w.queue.take(), vec![(callback.clone(), 0)]);

    // The allowed hosts were narrowed after the job was submitted.
    w.jobs.settings = Rc::new(JobSettings {
        callback_allowed_hosts: callback::AllowedHosts::parse("other.example.com", false).unwrap(),
        ..(*w.jobs.settings).clone()
    });
    assert_eq!(w.deliver(Source::Jobs, &callback).await, Disposition::Ack);
    assert!(w.callback_posts().is_empty());
    assert!(w.queue.take().is_empty());
    assert_eq!(w.get(&id).await["callback"]["state"], "failed");
}

#[tokio::test(start_paused = true)]
async fn a_store_or_queue_failure_mid_job_never_loses_nor_duplicates_the_result() {
    let w = world(vec![
        Reply::json(CONVERSE_OK),
        Reply::json(CONVERSE_OK),
        Reply::json("{}"),
    ]);
    let mut submission = ask("Hi");
    submission["callback_url"] = json!("https://hooks.example.com/done");
    let id = w.submit(submission).await;
    w.queue.take();
    // Run 1: Bedrock answered, then the store failed the result's write: nothing is stored
    // and the message is not acknowledged.
    w.store.fail_next_result.set(true);
    assert_eq!(
        w.deliver(Source::Jobs, &run(&id)).await,
        Disposition::Retry { delay_s: 2 }
    );
    assert_eq!(w.get(&id).await["status"], "running");
    // Run 2 stores the result, then the queue fails the callback's message.
    *w.queue.fail.borrow_mut() = true;
    assert_eq!(
        w.deliver(Source::Jobs, &run(&id)).await,
        Disposition::Retry { delay_s: 2 }
    );
    *w.queue.fail.borrow_mut() = false;
    let stored = w.get(&id).await;
    assert_eq!(stored["status"], "succeeded");
    assert_eq!(stored["result"]["text"], "Hello there");
    assert!(w.queue.take().is_empty());
    // Run 3 finds it done: no Bedrock call, the callback is queued, then delivered once.
    assert_eq!(w.deliver(Source::Jobs, &run(&id)).await, Disposition::Ack);
    assert_eq!(w.upstream_calls("/converse"), 2);
    assert_eq!(w.get(&id).await["result"], stored["result"]);
    let callback = JobMessage::Callback { job: id.clone() };
    assert_eq!(w.queue.take(), vec![(callback.clone(), 0)]);
    let record = w.store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (record.attempts, record.callback_state),
        (2, Some(CallbackState::Pending))
    );
    assert_eq!(w.deliver(Source::Jobs, &callback).await, Disposition::Ack);
    let posts = w.callback_posts();
    assert_eq!(posts.len(), 1, "one callback delivered");
    let record = w.store.get(&id).await.unwrap().unwrap();
    assert_eq!(record.callback_state, Some(CallbackState::Delivered));
}

#[tokio::test(start_paused = true)]
async fn an_async_invoke_route_starts_and_polls_a_bedrock_invocation() {
    let arn = "arn:aws:bedrock:us-east-1:123456789012:async-invoke/abc123def456";
    let w = world(vec![
        Reply::json(&json!({"invocationArn": arn}).to_string()),
        Reply::json(&json!({"invocationArn": arn, "status": "InProgress"}).to_string()),
        Reply::json(&json!({"invocationArn": arn, "status": "Completed"}).to_string()),
    ]);
    let id = w
        .submit(json!({"route": "video", "model_input": {"taskType": "TEXT_VIDEO"}}))
        .await;
    w.queue.take();
    assert_eq!(w.deliver(Source::Jobs, &run(&id)).await, Disposition::Ack);
    let start = &w.platform.requests()[0];
    assert_eq!(start.url, "http://bedrock.test/async-invoke");
    let sent: Value = serde_json::from_slice(&start.body).unwrap();
    assert_eq!(sent["clientRequestToken"], id.as_str());
    assert_eq!(sent["modelId"], "amazon.nova-reel-v1:0");
    assert_eq!(
        w.queue.take(),
        vec![(JobMessage::Poll { job: id.clone() }, 1)]
    );

    let poll = JobMessage::Poll { job: id.clone() };
    assert_eq!(w.deliver(Source::Jobs, &poll).await, Disposition::Ack);
    assert_eq!(w.queue.take().len(), 1, "still running: polled again later");
    // Reads are served from the store: however many, they cost Bedrock nothing, and show
    // neither the invocation's ARN (its account) nor the S3 location.
    for _ in 0..5 {
        let running = w.get(&id).await;
        assert_eq!(running["status"], "running", "{running}");
        assert_eq!(running["output"], json!({"bedrock_status": "InProgress"}));
    }
    assert_eq!(w.upstream_calls("/async-invoke/arn"), 1);

    assert_eq!(w.deliver(Source::Jobs, &poll).await, Disposition::Ack);
    let done = w.get(&id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["output"], json!({"bedrock_status": "Completed"}));
    assert!(!done.to_string().contains("123456789012"), "{done}");
    assert!(!done.to_string().contains("s3://"), "{done}");
    let status = w.store.get(&id).await.unwrap().unwrap().status;
    assert_eq!(status, JobStatus::Succeeded);
}

/// `{"a": {"a": ... {}}}`, `levels` objects deep.
fn nested(levels: usize) -> Value {
    (1..levels).fold(json!({}), |inner, _| json!({ "a": inner }))
}

#[tokio::test(start_paused = true)]
async fn model_inputs_naming_s3_or_the_output_are_refused_at_their_field() {
    let w = world(vec![]);
    let s3 =
        json!({"s3Location": {"uri": "s3://someone-else/cat.png", "bucketOwner": "123456789012"}});
    let too_big = "x".repeat(super::async_invoke::MAX_INPUT_BYTES);
    let cases = [
        (
            json!({"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "a cat",
                "images": [{"format": "png", "source": s3}]}}),
            "model_input.textToVideoParams.images[0].source.s3Location",
        ),
        (
            json!({"taskType": "MULTI_SHOT_MANUAL", "multiShotManualParams": {"shots": [
                {"text": "one"}, {"text": "two", "image": {"format": "png", "source": s3}}]}}),
            "model_input.multiShotManualParams.shots[1].image.source.s3Location",
        ),
        (
            json!({"mediaSource": {"s3Uri": "s3://someone-else/v.mp4"}}),
            "model_input.mediaSource.s3Uri",
        ),
        (
            json!({"inputVideo": {"uri": " S3://someone-else/v.mp4"}}),
            "model_input.inputVideo.uri",
        ),
        (
            json!({"images": ["s3://someone-else/a.png"]}),
            "model_input.images[0]",
        ),
        (
            json!({"taskType": "TEXT_VIDEO", "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://attacker/out"}}}),
            "model_input.outputDataConfig",
        ),
        (
            json!({"params": {"output_data_config": {"bucket": "attacker"}}}),
            "model_input.params.output_data_config",
        ),
        (
            json!({"kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/abc"}),
            "model_input.kmsKeyId",
        ),
        (
            nested(super::async_invoke::MAX_INPUT_DEPTH + 1),
            "model_input.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a",
        ),
        (json!({"text": too_big}), "model_input"),
        (json!(["TEXT_VIDEO"]), "model_input"),
    ];
    for (model_input, field) in cases {
        let response = w
            .edge
            .handle(request(
                "POST",
                "/api/jobs",
                CLIENT,
                json!({"route": "video", "model_input": model_input}),
            ))
            .await;
        let error = &self::body(&response)["error"];
        assert_eq!(
            (response.status, error["field"].as_str()),
            (400, Some(field)),
            "{error}"
        );
    }
    assert!(w.store.all().is_empty());
    assert!(w.platform.requests().is_empty());

    let inline = json!({"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "a cat on s3://",
        "images": [{"format": "png", "source": {"bytes": "iVBORw0KGgo="}}]},
        "videoGenerationConfig": {"durationSeconds": 6, "fps": 24, "dimension": "1280x720", "seed": 7},
        "deep": nested(super::async_invoke::MAX_INPUT_DEPTH - 1)});
    let id = w
        .submit(json!({"route": "video", "model_input": inline.clone()}))
        .await;
    let stored = w.store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&stored.input).unwrap(),
        inline
    );
}

#[tokio::test(start_paused = true)]
async fn a_stored_input_naming_s3_is_never_started() {
    let w = world(vec![]);
    let job = super::record::JobRecord::new(
        super::record::NewJob {
            id: "job_old".into(),
            client_id: super::client::client_id(&[("x-client-id".into(), CLIENT.into())]).unwrap(),
            idempotency_key: None,
            kind: shared::jobs::JobKind::AsyncInvoke,
            route: "video".into(),
            input: json!({"image": {"source": {"s3Location": {"uri": "s3://x/y"}}}}).to_string(),
            callback_url: None,
        },
        START_MS,
    );
    w.store.insert(&job).await.unwrap();
    assert_eq!(
        w.deliver(Source::Jobs, &run("job_old")).await,
        Disposition::Ack
    );
    assert!(w.platform.requests().is_empty(), "Bedrock never called");
    let failed = w.get("job_old").await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "invalid_request");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("model_input.image.source.s3Location: "),
        "{failed}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_job_expires_its_time_to_live_after_its_last_change_and_is_swept() {
    let w = world(vec![Reply::json(CONVERSE_OK)]);
    let id = w.submit(ask("Hi")).await;
    assert_eq!(w.deliver(Source::Jobs, &run(&id)).await, Disposition::Ack);
    // A job still queued expires too: the sweep deletes by last change, whatever the status.
    w.submit(ask("Never run")).await;
    tokio::time::advance(std::time::Duration::from_millis(TTL_MS - 1)).await;
    assert_eq!(w.get(&id).await["status"], "succeeded");

    tokio::time::advance(std::time::Duration::from_millis(2)).await;
    let path = format!("/api/jobs/{id}");
    let gone = w
        .edge
        .handle(request("GET", &path, CLIENT, Value::Null))
        .await;
    assert_eq!(gone.status, 404, "expired jobs are not served");
    let listed = w
        .edge
        .handle(request("GET", "/api/jobs", CLIENT, Value::Null))
        .await;
    assert_eq!(body(&listed)["jobs"], json!([]));

    let swept = super::sweep(&w.jobs, w.platform.now_ms()).await.unwrap();
    assert_eq!(swept, 2);
    assert!(w.store.all().is_empty());
}

#[tokio::test(start_paused = true)]
async fn without_a_jobs_system_the_endpoints_say_so() {
    let edge = Edge::new(settings(), ScriptedPlatform::new(vec![]));
    let response = edge
        .handle(request("POST", "/api/jobs", CLIENT, ask("Hi")))
        .await;
    assert_eq!(response.status, 503);
}

#[test]
fn settings_are_read_strictly() {
    let get = |vars: &'static [(&'static str, &'static str)]| {
        JobSettings::from_lookup(move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    };
    let defaults = get(&[]).unwrap();
    assert_eq!(defaults.retry_delay_s, 5);
    assert!(defaults.callback_allowed_hosts.is_empty());
    let set = get(&[
        (
            "JOB_CALLBACK_ALLOWED_HOSTS",
            " Hooks.Example.com, 127.0.0.1 ",
        ),
        ("JOB_CALLBACK_ALLOW_LOOPBACK", "true"),
        ("JOB_CALLBACK_SECRET", "s"),
        ("JOB_RETRY_DELAY_S", "1"),
    ])
    .unwrap();
    let hosts = &set.callback_allowed_hosts;
    assert_eq!(hosts.check("https://hooks.example.com/x"), Ok(()));
    assert_eq!(hosts.check("http://127.0.0.1:9/x"), Ok(()));
    assert_eq!((set.run_retry_delay_s(1), set.run_retry_delay_s(3)), (1, 4));
    let error = get(&[("JOB_CALLBACK_ALLOWED_HOSTS", "a.com")]).unwrap_err();
    assert_eq!(error.path, "JOB_CALLBACK_SECRET");
    // Loopback needs the flag; a wildcard must not cover a public suffix.
    for vars in [
        &[
            ("JOB_CALLBACK_ALLOWED_HOSTS", "127.0.0.1"),
            ("JOB_CALLBACK_SECRET", "s"),
        ][..],
        &[
            ("JOB_CALLBACK_ALLOWED_HOSTS", "*.com"),
            ("JOB_CALLBACK_SECRET", "s"),
        ],
        &[
            ("JOB_CALLBACK_ALLOWED_HOSTS", "*.co.uk"),
            ("JOB_CALLBACK_SECRET", "s"),
        ],
    ] {
        let error = get(vars).unwrap_err();
        assert_eq!(error.path, "JOB_CALLBACK_ALLOWED_HOSTS", "{vars:?}");
    }
    let error = get(&[("JOB_CALLBACK_ALLOW_LOOPBACK", "yes")]).unwrap_err();
    assert_eq!(error.path, "JOB_CALLBACK_ALLOW_LOOPBACK");
    let error = get(&[("JOB_RETRY_DELAY_S", "soon")]).unwrap_err();
    assert_eq!(error.path, "JOB_RETRY_DELAY_S");
    assert!(!format!("{set:?}").contains("\"s\""));
}

#[test]
fn queue_messages_keep_their_wire_form() {
    let id = || "j1".to_owned();
    for (message, json) in [
        (
            JobMessage::Run { job: id() },
            r#"{"kind":"run","job":"j1"}"#,
        ),
        (
            JobMessage::Poll { job: id() },
            r#"{"kind":"poll","job":"j1"}"#,
        ),
        (
            JobMessage::Callback { job: id() },
            r#"{"kind":"callback","job":"j1"}"#,
        ),
    ] {
        assert_eq!(serde_json::to_string(&message).unwrap(), json);
        assert_eq!(serde_json::from_str::<JobMessage>(json).unwrap(), message);
    }
    for bad in [
        r#"{"kind":"run"}"#,
        r#"{"kind":"stop","job":"j1"}"#,
        r#"{"kind":"run","job":"j1","extra":1}"#,
    ] {
        assert!(serde_json::from_str::<JobMessage>(bad).is_err(), "{bad}");
    }
}

#[tokio::test(start_paused = true)]
async fn bedrock_s_failure_text_stays_in_the_log_with_the_account_masked() {
    let arn = "arn:aws:bedrock:us-east-1:123456789012:async-invoke/abc123def456";
    let failure =
        "AccessDenied: arn:aws:iam::123456789012:role/bedrock-s3 cannot write s3://secret-bucket";
    let w = world(vec![
        Reply::json(&json!({"invocationArn": arn}).to_string()),
        Reply::json(
            &json!({"invocationArn": arn, "status": "Failed", "failureMessage": failure})
                .to_string(),
        ),
    ]);
    let id = w
        .submit(json!({"route": "video", "model_input": {"taskType": "TEXT_VIDEO"}}))
        .await;
    w.queue.take();
    assert_eq!(w.deliver(Source::Jobs, &run(&id)).await, Disposition::Ack);
    let poll = JobMessage::Poll { job: id.clone() };
    assert_eq!(w.deliver(Source::Jobs, &poll).await, Disposition::Ack);
    let job = w.get(&id).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(
        job["error"],
        json!({"code": "model_error", "message": "Bedrock reported the invocation as failed."})
    );
    let logs = w.platform.logs();
    let logged = logs
        .iter()
        .find(|line| line["event"] == "job_async_failed")
        .expect("the failure is logged");
    assert!(logged["detail"].as_str().unwrap().contains("secret-bucket"));
    assert!(!logs
        .iter()
        .any(|line| line.to_string().contains("123456789012")));
}

#[tokio::test(start_paused = true)]
async fn job_reads_and_submissions_count_against_the_default_route_s_limit() {
    let w = world(vec![]);
    let edge =
        Edge::new(tight_default_settings(), w.platform.clone()).with_jobs(Some(w.jobs.clone()));
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let read = request("GET", "/api/jobs/job_nope", CLIENT, Value::Null);
        statuses.push(edge.handle(read).await.status);
    }
    assert_eq!(statuses, [404, 404, 429]);

    // A submission is counted before its body is parsed: refused bodies cost a bucket too.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let mut bad = request("POST", "/api/jobs", CLIENT, Value::Null);
        bad.body = b"{not json".to_vec();
        bad.headers
            .push(("cf-connecting-ip".into(), "198.51.100.7".into()));
        statuses.push(edge.handle(bad).await.status);
    }
    assert_eq!(statuses, [400, 400, 429]);
}

/// The settings, with the default route limited to two requests a minute.
fn tight_default_settings() -> Settings {
    let mut settings = settings();
    settings.config.rate_limits.insert(
        "tight".into(),
        crate::config::RateLimitClass {
            limit: 2,
            period_s: 60,
            fail_closed: false,
        },
    );
    let default = settings.config.default_route.clone();
    if let Some(route) = settings.config.routes.get_mut(&default) {
        route.rate_limit = Some("tight".into());
    }
    settings
}
