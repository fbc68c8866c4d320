//! The jobs HTTP API: `POST /api/jobs` (validate, store `queued`, enqueue, `202`),
//! `GET /api/jobs/{id}` and `GET /api/jobs?status=&limit=` (the client's own jobs within their
//! time to live, read from the store only: a read never costs a Bedrock call).

use super::{
    endpoint::JobEndpoint,
    error::ApiError,
    json,
    validate::{check_json_body, validate},
    ApiRequest, ApiResponse, Edge,
};
use crate::{
    config::{access::Access, limits::ValidationError, settings::Settings, RateLimitClass},
    jobs::{
        async_invoke,
        client::client_id,
        consumer,
        record::{JobRecord, NewJob},
        store, JobMessage, Jobs,
    },
    platform::{nonempty_header, Platform},
    routing::pipeline::choose_route,
};
use serde::Serialize;
use shared::{
    jobs::{JobAccepted, JobError, JobKind, JobList, JobStatus, JobSubmission},
    ChatRequest, ErrorCode,
};

/// Largest chat request a job stores (a D1 row holds at most 2 MB).
pub const MAX_JOB_REQUEST_BYTES: usize = 1024 * 1024;
/// Longest `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;
/// Most jobs one `GET /api/jobs` lists.
pub const MAX_LIST: u32 = 100;
const DEFAULT_LIST: u32 = 50;

impl<P: Platform> Edge<P> {
    /// `POST /api/jobs`, `GET /api/jobs` and `GET /api/jobs/{id}`; 503 when the host has no
    /// jobs system. Every call counts against the default route's rate-limit class before
    /// anything is parsed; a submission then counts against its own route's other classes.
    pub(super) async fn jobs(
        &self,
        endpoint: JobEndpoint<'_>,
        request: &ApiRequest,
        client: &str,
    ) -> Result<ApiResponse, ApiError> {
        let Some(jobs) = &self.jobs else {
            return Err(ApiError::unavailable(
                "Background jobs are not available on this edge.",
            ));
        };
        let (platform, settings) = (&self.platform, self.settings.as_ref());
        let counted = settings.config.limits_of(None);
        self.rate_limit(counted.as_slice(), client).await?;
        // Who owns the jobs: the authenticated client, or in public mode the client that
        // names itself with X-Client-Id.
        let owner = match settings.access {
            Access::Public => client_id(&request.headers).map_err(ApiError::invalid)?,
            _ => client.to_owned(),
        };
        match endpoint {
            JobEndpoint::Submit => {
                let id = new_job_id(platform);
                let prepared = prepare(settings, jobs, request, id, owner)?;
                let classes: Vec<_> = prepared
                    .limits
                    .iter()
                    .map(|(c, l)| (c.as_str(), *l))
                    .filter(|(class, _)| counted.is_none_or(|(done, _)| done != *class))
                    .collect();
                self.rate_limit(&classes, client).await?;
                submit(platform, jobs, prepared).await
            }
            JobEndpoint::List => list(platform, jobs, &request.query, &owner).await,
            JobEndpoint::Get(id) => get(platform, jobs, id, &owner).await,
        }
    }
}

/// A JSON answer no cache keeps: a job's state changes.
fn no_store_json(status: u16, body: &impl Serialize) -> ApiResponse {
    let mut response = json(status, body);
    response
        .headers
        .push(("cache-control".into(), "no-store".into()));
    response
}

/// 503: the jobs' store or queue cannot be reached.
fn unavailable(what: &str) -> ApiError {
    ApiError::unavailable(format!(
        "The job {what} is unavailable right now; try again shortly."
    ))
}

/// A checked submission, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub job: NewJob,
    /// The rate-limit classes the submission counts against, and their numbers.
    pub limits: Vec<(String, RateLimitClass)>,
}

/// Checks a `POST /api/jobs` of `client_id` (its owner): the body (JSON, a chat request or an
/// async route's input), the `Idempotency-Key` and the callback URL. No I/O.
pub fn prepare(
    settings: &Settings,
    jobs: &Jobs,
    request: &ApiRequest,
    job_id: String,
    client_id: String,
) -> Result<Prepared, ApiError> {
    check_json_body(&request.body, &request.headers, settings.max_body_bytes)?;
    let idempotency_key = nonempty_header(&request.headers, "idempotency-key")
        .map(|key| {
            let valid =
                key.len() <= MAX_IDEMPOTENCY_KEY && key.bytes().all(|b| b.is_ascii_graphic());
            if valid {
                Ok(key.to_owned())
            } else {
                Err(ApiError::invalid(format!(
                    "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"
                )))
            }
        })
        .transpose()?;
    let submission: JobSubmission =
        serde_json::from_slice(&request.body).map_err(|e| ApiError::invalid_json(e.to_string()))?;
    if let Some(url) = &submission.callback_url {
        jobs.settings
            .callback_allowed_hosts
            .check(url)
            .map_err(|m| ApiError::invalid(format!("callback_url: {m}")))?;
    }
    let config = &settings.config;
    let (kind, route, input, limits) = match (submission.request, submission.model_input) {
        (Some(chat), None) => {
            validate(&chat).map_err(|e| {
                ApiError::from(ValidationError::new(
                    format!("request.{}", e.field),
                    e.problem,
                ))
            })?;
            let asked = match (submission.route, chat.route.clone()) {
                (Some(a), Some(b)) if a != b => {
                    return Err(ApiError::invalid(
                        "route: request.route names another route; give one of them",
                    ))
                }
                (a, b) => a.or(b),
            };
            let choice = choose_route(config, asked.as_deref(), &chat, &|_| true)
                .map_err(|m| ApiError::invalid(format!("route: {m}")))?;
            let limits = config
                .limits_for(asked.as_deref(), &choice.route)
                .into_iter()
                .map(|(class, limits)| (class.to_owned(), limits))
                .collect();
            let stored = ChatRequest {
                route: Some(choice.route.clone()),
                stream: None,
                ..chat
            };
            let input = serde_json::to_string(&stored).unwrap_or_default();
            if input.len() > MAX_JOB_REQUEST_BYTES {
                return Err(ValidationError::new(
                    "request",
                    format!(
                        "a job's request must be at most {MAX_JOB_REQUEST_BYTES} bytes (it is \
                         stored with the job); send large attachments to /api/chat"
                    ),
                )
                .into());
            }
            (JobKind::Converse, choice.route, input, limits)
        }
        (None, Some(model_input)) => {
            let name = submission
                .route
                .ok_or_else(|| ApiError::invalid("route: required with model_input"))?;
            let (name, route) = config
                .route(Some(&name))
                .map_err(|m| ApiError::invalid(format!("route: {m}")))?;
            if route.async_invoke.is_none() {
                return Err(ApiError::invalid(format!(
                    "model_input: route {name:?} runs Converse; send a chat request as request"
                )));
            }
            async_invoke::check_input(&model_input, "model_input")?;
            let limits = route
                .limits(config)
                .map(|(class, limits)| (class.to_owned(), limits))
                .into_iter()
                .collect();
            (
                JobKind::AsyncInvoke,
                name.to_owned(),
                model_input.to_string(),
                limits,
            )
        }
        (Some(_), Some(_)) => return Err(ApiError::invalid(
            "send either request (a chat request) or model_input (async-invoke routes), not both",
        )),
        (None, None) => {
            return Err(ApiError::invalid(
                "request: required (a chat request; model_input for async-invoke routes)",
            ))
        }
    };
    Ok(Prepared {
        job: NewJob {
            id: job_id,
            client_id,
            idempotency_key,
            kind,
            route,
            input,
            callback_url: submission.callback_url,
        },
        limits,
    })
}

/// A new job id: `job_` and 32 hex digits.
pub fn new_job_id<P: Platform>(platform: &P) -> String {
    format!(
        "job_{:016x}{:016x}",
        platform.random_u64(),
        platform.random_u64()
    )
}

fn accepted(status: u16, job: &JobRecord) -> ApiResponse {
    let mut response = no_store_json(
        status,
        &JobAccepted {
            id: job.id.clone(),
            status: job.status,
            status_url: format!("/api/jobs/{}", job.id),
        },
    );
    response
        .headers
        .push(("location".into(), format!("/api/jobs/{}", job.id)));
    response
}

/// Stores and enqueues a prepared job: `202` with its id and status URL; `200` with the same
/// job when its `Idempotency-Key` was used before (with the same request).
pub async fn submit<P: Platform>(
    platform: &P,
    jobs: &Jobs,
    prepared: Prepared,
) -> Result<ApiResponse, ApiError> {
    let now = platform.now_ms();
    let record = JobRecord::new(prepared.job, now);
    let existing = jobs.store.insert(&record).await.map_err(|error| {
        consumer::log_event(platform, "job_store_failed", &record.id, &error.0);
        unavailable("store")
    })?;
    if let Some(existing) = existing {
        let same = existing.kind == record.kind
            && existing.route == record.route
            && existing.input == record.input
            && existing.callback_url == record.callback_url;
        if !same {
            return Err(ApiError::new(
                409,
                ErrorCode::InvalidRequest,
                "Idempotency-Key: already used for a different job; use a new key.",
            ));
        }
        let mut response = accepted(200, &existing);
        response
            .headers
            .push(("idempotent-replayed".into(), "true".into()));
        return Ok(response);
    }
    let message = JobMessage::Run {
        job: record.id.clone(),
    };
    if let Err(error) = jobs.queue.send(&message, 0).await {
        consumer::log_event(platform, "job_enqueue_failed", &record.id, &error.0);
        // Never leave it `queued` with nothing to run it: the record says what happened.
        let reason = JobError {
            code: "queue_unavailable".into(),
            message: "The job could not be queued; submit it again with a new Idempotency-Key."
                .into(),
        };
        let _ = store::update(jobs.store.as_ref(), &record.id, Some(record.clone()), |j| {
            j.fail(reason.clone(), now)
        })
        .await;
        return Err(unavailable("queue"));
    }
    Ok(accepted(202, &record))
}

/// The job `id`, if it is `client`'s and within its time to live, as stored.
pub async fn get<P: Platform>(
    platform: &P,
    jobs: &Jobs,
    id: &str,
    client: &str,
) -> Result<ApiResponse, ApiError> {
    let now = platform.now_ms();
    let record = jobs
        .store
        .get(id)
        .await
        .map_err(|_| unavailable("store"))?
        .filter(|job| job.client_id == client && !jobs.settings.expired(job, now))
        .ok_or_else(|| ApiError::not_found("No such job."))?;
    Ok(no_store_json(200, &record.view()))
}

/// The client's jobs within their time to live, newest first:
/// `?status=queued|running|succeeded|failed` filters, `?limit=` (1 to 100, default 50) caps.
pub async fn list<P: Platform>(
    platform: &P,
    jobs: &Jobs,
    query: &str,
    client: &str,
) -> Result<ApiResponse, ApiError> {
    let mut status = None;
    let mut limit = DEFAULT_LIST;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "status" => {
                status = Some(JobStatus::parse(value).ok_or_else(|| {
                    ApiError::invalid("status: must be one of queued, running, succeeded, failed")
                })?)
            }
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIST).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid(format!("limit: must be from 1 to {MAX_LIST}"))
                    })?
            }
            _ => {}
        }
    }
    let now = platform.now_ms();
    let records = jobs
        .store
        .list(client, status, limit)
        .await
        .map_err(|_| unavailable("store"))?;
    let jobs: Vec<_> = records
        .iter()
        .filter(|job| !jobs.settings.expired(job, now))
        .map(JobRecord::view)
        .collect();
    Ok(no_store_json(200, &JobList { jobs }))
}
