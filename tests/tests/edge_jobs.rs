//! Background jobs end to end: the Worker under `wrangler dev` with its local Queues (jobs
//! queue and dead-letter queue) and D1, the fake Bedrock, and a callback receiver on loopback
//! that checks every signature. One stack serves every case; each case uses its own client id
//! (and model, where it sets faults). Callbacks to loopback need `JOB_CALLBACK_ALLOW_LOOPBACK`,
//! which the stack sets. Needs the built Worker and front end.
//!
//! Run: `source scripts/lib/common.sh; build_frontend; build_worker;
//! cargo test -p tests --test edge_jobs`.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::post,
    Router,
};
use hmac::{Hmac, KeyInit, Mac};
use libtest_mimic::Arguments;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use shared::jobs::{JobList, JobStatus, JobView};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};
use tests::{
    fake_bedrock::{reply_text, Fault, FaultRule},
    harness::{self, case, check, StackWorld},
    stack::{Stack, StackOptions, Upstream, WorkerRuntime},
};
use tokio::runtime::Runtime;

const SONNET: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
const HAIKU: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
const OPUS: &str = "us.anthropic.claude-opus-4-20250514-v1:0";
const REGION: &str = "us-east-1";
const SECRET: &str = "test-callback-secret";
/// The longest any case waits for jobs to finish.
const PATIENCE: Duration = Duration::from_secs(60);

/// `generate` (Sonnet) for ordinary jobs, `flaky` (Haiku) and `poison` (Opus) for fault
/// cases, `video` for Bedrock async invoke. Quick in-request retries, circuits that stay shut.
fn routes() -> String {
    let retry = json!({"max_attempts": 2, "base_backoff_ms": 20, "max_backoff_ms": 100, "deadline_ms": 10000});
    let target = |model: &str| json!([{"model": model, "region": REGION}]);
    json!({
        "default_route": "generate",
        "routes": {
            "generate": {"targets": target(SONNET), "retry": retry},
            "flaky": {"targets": target(HAIKU), "retry": retry},
            "poison": {"targets": target(OPUS), "retry": retry},
            "video": {
                "targets": target("amazon.nova-reel-v1:0"),
                "async_invoke": {"s3_output_uri": "s3://test-bucket/jobs"}
            }
        },
        "circuit": {"failure_threshold": 1000, "cool_down_ms": 1000, "window": 20}
    })
    .to_string()
}

/// One POST the callback receiver got.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Post {
    /// `x-job-id`.
    job: String,
    /// `x-job-submitter`.
    submitter: String,
    /// Whether the signature verified over the job, the submitter and the body, and the body
    /// is that job's.
    valid: bool,
}

/// What the callback receiver got, per hook name.
#[derive(Default)]
struct Received {
    posts: BTreeMap<String, Vec<Post>>,
    /// Hook names that answer 500 to their first POST.
    fail_first: Vec<String>,
}

type Receiver = Arc<Mutex<Received>>;

struct World {
    runtime: Runtime,
    stack: Stack,
    hooks: String,
    received: Receiver,
    http: reqwest::Client,
}

impl StackWorld for World {
    fn runtime(&self) -> &Runtime {
        &self.runtime
    }
    fn stack(&self) -> &Stack {
        &self.stack
    }
}

fn main() -> anyhow::Result<()> {
    let args = Arguments::from_args();
    let runtime = Runtime::new()?;
    let received = Receiver::default();
    let hooks = runtime.block_on(start_receiver(received.clone()))?;
    let stack = runtime.block_on(Stack::start(StackOptions {
        runtime: WorkerRuntime::WranglerDev,
        port: 0,
        upstream: Upstream::Fake { port: 0 },
        vars: vec![
            ("ROUTES".into(), routes()),
            ("JOB_CALLBACK_ALLOWED_HOSTS".into(), "127.0.0.1".into()),
            ("JOB_CALLBACK_ALLOW_LOOPBACK".into(), "true".into()),
            ("JOB_CALLBACK_SECRET".into(), SECRET.into()),
            ("JOB_RETRY_DELAY_S".into(), "1".into()),
        ],
        inherit_output: false,
        hanging_objects: Vec::new(),
    }))?;
    let world = Arc::new(World {
        runtime,
        stack,
        hooks,
        received,
        http: reqwest::Client::new(),
    });
    let trials = vec![
        case(
            &world,
            "a_hundred_jobs_at_once_all_finish_with_one_signed_callback_each",
            a_hundred_jobs_at_once_all_finish_with_one_signed_callback_each,
        ),
        case(
            &world,
            "a_throttled_job_finishes_after_retries",
            a_throttled_job_finishes_after_retries,
        ),
        case(
            &world,
            "a_poison_job_lands_in_the_dead_letter_queue_and_reads_failed",
            a_poison_job_lands_in_the_dead_letter_queue_and_reads_failed,
        ),
        case(
            &world,
            "the_same_idempotency_key_twice_gives_one_job",
            the_same_idempotency_key_twice_gives_one_job,
        ),
        case(
            &world,
            "a_failing_callback_receiver_is_retried_with_backoff",
            a_failing_callback_receiver_is_retried_with_backoff,
        ),
        case(
            &world,
            "a_client_reads_only_its_own_jobs",
            a_client_reads_only_its_own_jobs,
        ),
        case(
            &world,
            "an_async_invoke_job_reflects_bedrock_status",
            an_async_invoke_job_reflects_bedrock_status,
        ),
    ];
    harness::run(args, world, trials)
}

// ---- The callback receiver ----

async fn start_receiver(received: Receiver) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let app = Router::new()
        .route("/hook/{name}", post(hook))
        .with_state(received);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

/// A request header as text (empty when missing or not text).
fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Verifies `x-signature: t=...,v1=...` as a receiver would (an HMAC implementation other than
/// the edge's): HMAC-SHA256 over `"{t}\n{x-job-id}\n{x-job-submitter}\n{body}"`, timestamp
/// within 5 minutes.
fn signature_ok(headers: &HeaderMap, body: &[u8]) -> bool {
    let signature = header(headers, "x-signature");
    let field = |name: &str| {
        signature
            .split(',')
            .find_map(|part| part.trim().strip_prefix(name))
            .map(str::to_owned)
    };
    let (Some(t), Some(v1)) = (field("t="), field("v1=")) else {
        return false;
    };
    let now = tests::wall_clock::now_ms() / 1000;
    let fresh = t.parse::<u64>().is_ok_and(|t| t.abs_diff(now) <= 300);
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()) else {
        return false;
    };
    for field in [
        t.as_str(),
        header(headers, "x-job-id"),
        header(headers, "x-job-submitter"),
    ] {
        mac.update(field.as_bytes());
        mac.update(b"\n");
    }
    mac.update(body);
    let expected = hex::decode(v1).unwrap_or_default();
    fresh && mac.verify_slice(&expected).is_ok()
}

async fn hook(
    State(received): State<Receiver>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let job = header(&headers, "x-job-id").to_owned();
    let body_job = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_owned));
    let post = Post {
        valid: signature_ok(&headers, &body) && body_job.as_ref() == Some(&job),
        submitter: header(&headers, "x-job-submitter").to_owned(),
        job,
    };
    let Ok(mut received) = received.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR;
    };
    let fail =
        received.fail_first.contains(&name) && received.posts.get(&name).is_none_or(Vec::is_empty);
    received.posts.entry(name).or_default().push(post);
    if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

impl World {
    fn hook_url(&self, name: &str) -> String {
        format!("{}/hook/{name}", self.hooks)
    }

    /// The POSTs hook `name` received.
    fn posts(&self, name: &str) -> Vec<Post> {
        self.received
            .lock()
            .map(|r| r.posts.get(name).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    fn fake(&self) -> anyhow::Result<&tests::fake_bedrock::FakeBedrock> {
        self.stack
            .fake
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no fake Bedrock"))
    }

    /// `POST /api/jobs` as `client`: the status and the body.
    async fn submit(
        &self,
        client: &str,
        key: Option<&str>,
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .post(format!("{}/api/jobs", self.stack.url))
            .header("x-client-id", client)
            .json(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.timeout(Duration::from_secs(30)).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// Submits and expects a 202: the job id.
    async fn submit_ok(&self, client: &str, body: &Value) -> anyhow::Result<String> {
        let (status, answer) = self.submit(client, None, body).await?;
        check(status == 202, || format!("submit: {status} {answer}"))?;
        answer["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no id in {answer}"))
    }

    async fn get(&self, client: &str, path: &str) -> anyhow::Result<(u16, Value)> {
        let response = self
            .http
            .get(format!("{}{path}", self.stack.url))
            .header("x-client-id", client)
            .timeout(Duration::from_secs(30))
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    async fn job(&self, client: &str, id: &str) -> anyhow::Result<JobView> {
        let (status, body) = self.get(client, &format!("/api/jobs/{id}")).await?;
        check(status == 200, || format!("GET job {id}: {status} {body}"))?;
        Ok(serde_json::from_value(body)?)
    }

    /// Polls until every job in `ids` satisfies `done`, or `PATIENCE` passes.
    async fn wait_jobs(
        &self,
        client: &str,
        ids: &[String],
        done: impl Fn(&JobView) -> bool,
    ) -> anyhow::Result<Vec<JobView>> {
        let deadline = tests::wall_clock::instant() + PATIENCE;
        let mut views: BTreeMap<String, JobView> = BTreeMap::new();
        loop {
            for id in ids {
                if views.get(id).is_some_and(&done) {
                    continue;
                }
                views.insert(id.clone(), self.job(client, id).await?);
            }
            if ids.iter().all(|id| views.get(id).is_some_and(&done)) {
                return Ok(ids.iter().filter_map(|id| views.remove(id)).collect());
            }
            if tests::wall_clock::instant() > deadline {
                let pending: Vec<_> = views.values().filter(|v| !done(v)).collect();
                anyhow::bail!("{} job(s) not done in time: {pending:?}", pending.len());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until `condition` holds (checked every 100 ms), or `PATIENCE` passes.
    async fn wait_until(&self, what: &str, condition: impl Fn() -> bool) -> anyhow::Result<()> {
        let deadline = tests::wall_clock::instant() + PATIENCE;
        while !condition() {
            if tests::wall_clock::instant() > deadline {
                anyhow::bail!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}

fn chat_job(prompt: &str, route: &str, callback: Option<String>) -> Value {
    let mut body =
        json!({"request": {"messages": [{"role": "user", "content": prompt}], "route": route}});
    if let Some(url) = callback {
        body["callback_url"] = json!(url);
    }
    body
}

fn succeeded(job: &JobView) -> bool {
    job.status == JobStatus::Succeeded
}

fn finished(job: &JobView) -> bool {
    job.status.is_final()
}

// ---- The cases ----

async fn a_hundred_jobs_at_once_all_finish_with_one_signed_callback_each(
    world: Arc<World>,
) -> anyhow::Result<()> {
    let client = "burst-client-0123456789";
    let submissions = (0..100).map(|i| {
        let world = world.clone();
        async move {
            let body = chat_job(
                &format!("Job number {i}."),
                "generate",
                Some(world.hook_url("burst")),
            );
            world.submit_ok(client, &body).await
        }
    });
    let ids: Vec<String> = futures::future::try_join_all(submissions).await?;
    let views = world.wait_jobs(client, &ids, finished).await?;
    for (i, job) in views.iter().enumerate() {
        check(succeeded(job), || {
            format!("job {i} did not succeed: {job:?}")
        })?;
        let expected = reply_text(SONNET, REGION, &format!("Job number {i}."));
        let text = job.result.as_ref().map(|r| r.text.as_str());
        check(text == Some(expected.as_str()), || {
            format!("job {i} answered {text:?}, expected {expected:?}")
        })?;
        check(job.attempts == 1, || {
            format!("job {i}: {} attempts", job.attempts)
        })?;
    }
    let (status, listed) = world
        .get(client, "/api/jobs?status=succeeded&limit=100")
        .await?;
    let listed: JobList = serde_json::from_value(listed)?;
    check(status == 200 && listed.jobs.len() == 100, || {
        format!("listed {} jobs", listed.jobs.len())
    })?;
    check(world.fake()?.calls(SONNET) == 100, || {
        format!(
            "{} Bedrock calls for 100 jobs",
            world.fake().map(|f| f.calls(SONNET)).unwrap_or(0)
        )
    })?;
    // Exactly one correctly signed POST per job.
    world
        .wait_until("100 callbacks", || world.posts("burst").len() >= 100)
        .await?;
    let views = world
        .wait_jobs(client, &ids, |job| {
            job.callback.as_ref().and_then(|c| c.state)
                == Some(shared::jobs::CallbackState::Delivered)
        })
        .await?;
    let posts = world.posts("burst");
    check(posts.iter().all(|post| post.valid), || {
        "a callback signature did not verify".into()
    })?;
    let submitter = submitter_of(client);
    check(posts.iter().all(|post| post.submitter == submitter), || {
        format!("a callback named another submitter than {submitter}")
    })?;
    for job in &views {
        let count = posts.iter().filter(|post| post.job == job.id).count();
        check(count == 1, || format!("{} callbacks for {}", count, job.id))?;
    }
    check(posts.len() == 100, || format!("{} callbacks", posts.len()))
}

async fn a_throttled_job_finishes_after_retries(world: Arc<World>) -> anyhow::Result<()> {
    let client = "throttle-client-0123456789";
    // Two calls per run (the route retries once in the request): the first run is throttled
    // through, the second gets one more throttle, then an answer.
    world
        .fake()?
        .set_fault(FaultRule::new(HAIKU, Fault::Throttle).times(3))?;
    let id = world
        .submit_ok(client, &chat_job("Throttled?", "flaky", None))
        .await?;
    let job = world.wait_jobs(client, &[id], finished).await?.remove(0);
    check(succeeded(&job), || format!("{job:?}"))?;
    check(job.attempts == 2, || format!("{} attempts", job.attempts))?;
    check(job.error.is_none(), || format!("{job:?}"))?;
    let calls = world.fake()?.calls(HAIKU);
    check(calls == 4, || format!("{calls} Bedrock calls"))
}

async fn a_poison_job_lands_in_the_dead_letter_queue_and_reads_failed(
    world: Arc<World>,
) -> anyhow::Result<()> {
    let client = "poison-client-0123456789";
    world
        .fake()?
        .set_fault(FaultRule::new(OPUS, Fault::Throttle))?;
    let id = world
        .submit_ok(client, &chat_job("Never answered.", "poison", None))
        .await?;
    let job = world.wait_jobs(client, &[id], finished).await?.remove(0);
    world.fake()?.reset();
    check(job.status == JobStatus::Failed, || format!("{job:?}"))?;
    let error = job.error.clone().unwrap_or_else(|| shared::jobs::JobError {
        code: String::new(),
        message: String::new(),
    });
    check(error.code == "dead_lettered", || format!("{job:?}"))?;
    check(
        error.message.contains("dead-letter") && error.message.contains("throttling"),
        || format!("unclear reason: {}", error.message),
    )?;
    // max_retries = 3 in wrangler.toml: four runs, then the dead-letter queue.
    check(job.attempts == 4, || format!("{} runs", job.attempts))?;
    check(world.stack.log().contains("to dead letter queue"), || {
        "wrangler did not move a message to the dead-letter queue".into()
    })
}

async fn the_same_idempotency_key_twice_gives_one_job(world: Arc<World>) -> anyhow::Result<()> {
    let client = "idem-client-0123456789";
    let body = chat_job("Only once.", "generate", None);
    let (first, second) = tokio::join!(
        world.submit(client, Some("order-42"), &body),
        world.submit(client, Some("order-42"), &body)
    );
    let (first, second) = (first?, second?);
    let statuses = [first.0, second.0];
    check(statuses.contains(&202) && statuses.contains(&200), || {
        format!("statuses {statuses:?}")
    })?;
    check(first.1["id"] == second.1["id"], || {
        format!("{} vs {}", first.1, second.1)
    })?;
    let (_, again) = world.submit(client, Some("order-42"), &body).await?;
    check(again["id"] == first.1["id"], || format!("{again}"))?;
    let id = first.1["id"].as_str().unwrap_or_default().to_owned();
    world.wait_jobs(client, &[id], finished).await?;
    let (_, listed) = world.get(client, "/api/jobs").await?;
    let listed: JobList = serde_json::from_value(listed)?;
    check(listed.jobs.len() == 1, || {
        format!("{} jobs", listed.jobs.len())
    })?;
    let calls = world.fake()?.calls(SONNET);
    check(calls == 1, || format!("{calls} Bedrock calls"))?;
    let (status, other) = world
        .submit(
            client,
            Some("order-42"),
            &chat_job("Something else.", "generate", None),
        )
        .await?;
    check(status == 409, || format!("{status} {other}"))
}

async fn a_failing_callback_receiver_is_retried_with_backoff(
    world: Arc<World>,
) -> anyhow::Result<()> {
    let client = "flaky-hook-client-0123";
    if let Ok(mut received) = world.received.lock() {
        received.fail_first.push("flaky".into());
    }
    let id = world
        .submit_ok(
            client,
            &chat_job("Call me back.", "generate", Some(world.hook_url("flaky"))),
        )
        .await?;
    let delivered = |job: &JobView| {
        job.callback.as_ref().and_then(|c| c.state) == Some(shared::jobs::CallbackState::Delivered)
    };
    let job = world
        .wait_jobs(client, std::slice::from_ref(&id), delivered)
        .await?
        .remove(0);
    let attempts = job.callback.as_ref().map(|c| c.attempts);
    check(attempts == Some(2), || format!("{job:?}"))?;
    let posts = world.posts("flaky");
    let post = Post {
        job: id,
        submitter: submitter_of(client),
        valid: true,
    };
    check(posts == vec![post.clone(), post], || format!("{posts:?}"))
}

async fn a_client_reads_only_its_own_jobs(world: Arc<World>) -> anyhow::Result<()> {
    let owner = "owner-client-0123456789";
    let stranger = "stranger-client-01234567";
    let id = world
        .submit_ok(owner, &chat_job("Mine.", "generate", None))
        .await?;
    world
        .wait_jobs(owner, std::slice::from_ref(&id), finished)
        .await?;
    let (status, body) = world.get(stranger, &format!("/api/jobs/{id}")).await?;
    check(status == 404, || {
        format!("a stranger read it: {status} {body}")
    })?;
    let (_, listed) = world.get(stranger, "/api/jobs").await?;
    let listed: JobList = serde_json::from_value(listed)?;
    check(listed.jobs.is_empty(), || format!("{listed:?}"))?;
    let (status, body) = world.get(owner, "/api/jobs?status=done").await?;
    check(status == 400, || format!("{status} {body}"))
}

async fn an_async_invoke_job_reflects_bedrock_status(world: Arc<World>) -> anyhow::Result<()> {
    let client = "async-client-0123456789";
    let body = json!({
        "route": "video",
        "model_input": {"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "A sunrise"}}
    });
    let id = world.submit_ok(client, &body).await?;
    let job = world
        .wait_jobs(client, std::slice::from_ref(&id), finished)
        .await?
        .remove(0);
    check(succeeded(&job), || format!("{job:?}"))?;
    let output = job
        .output
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no output: {job:?}"))?;
    check(output.bedrock_status == "Completed", || {
        format!("{output:?}")
    })?;
    // The invocation's ARN (the edge's account) and its S3 location stay on the edge.
    let (_, raw) = world.get(client, &format!("/api/jobs/{id}")).await?;
    check(
        !raw.to_string().contains("arn:aws") && !raw.to_string().contains("s3://"),
        || raw.to_string(),
    )?;
    let (_, listed) = world.get(client, "/api/jobs?status=succeeded").await?;
    let listed: JobList = serde_json::from_value(listed)?;
    check(listed.jobs.len() == 1, || format!("{listed:?}"))
}

/// What a callback names as its submitter: `cid:` and the SHA-256 of the client id, in hex
/// (the id itself is the client's secret and never leaves the edge).
fn submitter_of(client: &str) -> String {
    let digest = Sha256::digest(client.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("cid:{hex}")
}
