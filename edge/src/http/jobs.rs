//! The jobs HTTP API: `POST /api/jobs` (validate, store `queued`, enqueue, `202`),
//! `GET /api/jobs/{id}` and `GET /api/jobs?status=&limit=` (the client's own jobs only; an
//! async invocation's status is refreshed from Bedrock on read).

use super::{
    validate::{check_json_body, validate},
    ApiBody, ApiRequest, ApiResponse,
};
use crate::{
    config::{settings::Settings, RateLimitClass, Resolved},
    jobs::{
        async_invoke, callback,
        client::client_id,
        consumer,
        record::{JobRecord, NewJob},
        store::{self, Updated},
        JobMessage, Jobs,
    },
    platform::{nonempty_header, Platform},
    routing::pipeline::choose_route,
};
use serde::Serialize;
use shared::{
    jobs::{JobAccepted, JobError, JobKind, JobList, JobStatus, JobSubmission},
    ChatRequest, ErrorCode,
};
use std::collections::BTreeMap;

/// Longest `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;
/// Most jobs one `GET /api/jobs` lists.
pub const MAX_LIST: u32 = 100;
const DEFAULT_LIST: u32 = 50;

/// A refused request: status, code and a message that names the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    /// The `Allow` header of a 405.
    pub allow: Option<&'static str>,
}

impl ApiFailure {
    fn new(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, ErrorCode::InvalidRequest, message)
    }

    fn not_found() -> Self {
        Self::new(404, ErrorCode::NotFound, "No such job.")
    }

    fn unavailable(what: &str) -> Self {
        Self::new(
            503,
            ErrorCode::Internal,
            format!("The job {what} is unavailable right now; try again shortly."),
        )
    }
}

/// Which jobs endpoint a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    Submit,
    List,
    Get(&'a str),
}

/// Whether `path` belongs to the jobs API.
pub fn is_jobs_path(path: &str) -> bool {
    path == "/api/jobs" || path.starts_with("/api/jobs/")
}

/// The endpoint of `method path` (a jobs path); a 404 or 405 otherwise.
pub fn endpoint<'a>(method: &str, path: &'a str) -> Result<Endpoint<'a>, ApiFailure> {
    let not_allowed = |allow| ApiFailure {
        allow: Some(allow),
        ..ApiFailure::new(
            405,
            ErrorCode::MethodNotAllowed,
            format!("This endpoint only accepts {allow}."),
        )
    };
    match path.strip_prefix("/api/jobs") {
        Some("" | "/") => match method {
            "POST" => Ok(Endpoint::Submit),
            "GET" => Ok(Endpoint::List),
            _ => Err(not_allowed("GET, POST")),
        },
        Some(rest) => {
            let id = rest.trim_start_matches('/');
            if id.contains('/') || id.is_empty() {
                return Err(ApiFailure::new(
                    404,
                    ErrorCode::NotFound,
                    "No such API endpoint.",
                ));
            }
            match method {
                "GET" => Ok(Endpoint::Get(id)),
                _ => Err(not_allowed("GET")),
            }
        }
        None => Err(ApiFailure::new(
            404,
            ErrorCode::NotFound,
            "No such API endpoint.",
        )),
    }
}

fn json(status: u16, body: &impl Serialize) -> ApiResponse {
    ApiResponse {
        status,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("cache-control".into(), "no-store".into()),
        ],
        // Plain data types: serialising cannot fail.
        body: ApiBody::Json(serde_json::to_string(body).unwrap_or_default()),
    }
}

/// A checked submission, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub job: NewJob,
    /// The rate-limit class of the route asked for, and its numbers.
    pub limits: Option<(String, RateLimitClass)>,
}

/// Checks a `POST /api/jobs`: the body (JSON, a chat request or an async route's input), the
/// client id, the `Idempotency-Key` and the callback URL. No I/O.
pub fn prepare(
    settings: &Settings,
    jobs: &Jobs,
    request: &ApiRequest,
    job_id: String,
) -> Result<Prepared, ApiFailure> {
    check_json_body(&request.body, &request.headers)
        .map_err(|refusal| ApiFailure::new(refusal.status, refusal.code, refusal.message))?;
    let client_id = client_id(&request.headers).map_err(ApiFailure::invalid)?;
    let idempotency_key = nonempty_header(&request.headers, "idempotency-key")
        .map(|key| {
            let valid =
                key.len() <= MAX_IDEMPOTENCY_KEY && key.bytes().all(|b| b.is_ascii_graphic());
            if valid {
                Ok(key.to_owned())
            } else {
                Err(ApiFailure::invalid(format!(
                    "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"
                )))
            }
        })
        .transpose()?;
    let submission: JobSubmission = serde_json::from_slice(&request.body)
        .map_err(|e| ApiFailure::new(400, ErrorCode::InvalidJson, e.to_string()))?;
    if let Some(url) = &submission.callback_url {
        callback::check_url(url, &jobs.settings.callback_allowed_hosts)
            .map_err(|m| ApiFailure::invalid(format!("callback_url: {m}")))?;
    }
    let config = &settings.config;
    let (kind, route, input, limits) = match (submission.request, submission.model_input) {
        (Some(chat), None) => {
            validate(&chat).map_err(|e| ApiFailure::invalid(format!("request.{e}")))?;
            let asked = match (submission.route, chat.route.clone()) {
                (Some(a), Some(b)) if a != b => {
                    return Err(ApiFailure::invalid(
                        "route: request.route names another route; give one of them",
                    ))
                }
                (a, b) => a.or(b),
            };
            let choice = choose_route(config, asked.as_deref(), &chat)
                .map_err(|m| ApiFailure::invalid(format!("route: {m}")))?;
            let limits = match config.resolve(asked.as_deref()) {
                Ok(Resolved::Auto(auto)) => auto
                    .rate_limit
                    .as_deref()
                    .and_then(|class| config.rate_limits.get_key_value(class))
                    .map(|(class, limits)| (class.clone(), *limits)),
                Ok(Resolved::Chain(_, route)) => route
                    .limits(config)
                    .map(|(class, limits)| (class.to_owned(), limits)),
                Err(_) => None,
            };
            let stored = ChatRequest {
                route: Some(choice.route.clone()),
                stream: None,
                ..chat
            };
            let input = serde_json::to_string(&stored).unwrap_or_default();
            (JobKind::Converse, choice.route, input, limits)
        }
        (None, Some(model_input)) => {
            let name = submission
                .route
                .ok_or_else(|| ApiFailure::invalid("route: required with model_input"))?;
            let (name, route) = config
                .route(Some(&name))
                .map_err(|m| ApiFailure::invalid(format!("route: {m}")))?;
            if route.async_invoke.is_none() {
                return Err(ApiFailure::invalid(format!(
                    "model_input: route {name:?} runs Converse; send a chat request as request"
                )));
            }
            if !model_input.is_object() {
                return Err(ApiFailure::invalid("model_input: must be a JSON object"));
            }
            let limits = route
                .limits(config)
                .map(|(class, limits)| (class.to_owned(), limits));
            (
                JobKind::AsyncInvoke,
                name.to_owned(),
                model_input.to_string(),
                limits,
            )
        }
        (Some(_), Some(_)) => return Err(ApiFailure::invalid(
            "send either request (a chat request) or model_input (async-invoke routes), not both",
        )),
        (None, None) => {
            return Err(ApiFailure::invalid(
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
    let mut response = json(
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
) -> Result<ApiResponse, ApiFailure> {
    let now = platform.now_ms();
    let record = JobRecord::new(prepared.job, now);
    let existing = jobs.store.insert(&record).await.map_err(|error| {
        consumer::log_event(platform, "job_store_failed", &record.id, &error.0);
        ApiFailure::unavailable("store")
    })?;
    if let Some(existing) = existing {
        let same = existing.kind == record.kind
            && existing.route == record.route
            && existing.input == record.input
            && existing.callback_url == record.callback_url;
        if !same {
            return Err(ApiFailure::new(
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
        return Err(ApiFailure::unavailable("queue"));
    }
    Ok(accepted(202, &record))
}

/// The job `id`, if it is the client's. An async invocation still running is refreshed from
/// Bedrock (GetAsyncInvoke) first.
pub async fn get<P: Platform>(
    platform: &P,
    settings: &Settings,
    jobs: &Jobs,
    id: &str,
    headers: &[(String, String)],
) -> Result<ApiResponse, ApiFailure> {
    let client = client_id(headers).map_err(ApiFailure::invalid)?;
    let record = jobs
        .store
        .get(id)
        .await
        .map_err(|_| ApiFailure::unavailable("store"))?
        .filter(|job| job.client_id == client)
        .ok_or_else(ApiFailure::not_found)?;
    let record = match consumer::refresh_async(platform, settings, jobs, record.clone()).await {
        Ok(Ok(fresh)) => fresh,
        // Bedrock or the store could not be reached: show what is stored.
        _ => record,
    };
    Ok(json(200, &record.view()))
}

/// The client's jobs, newest first: `?status=queued|running|succeeded|failed` filters,
/// `?limit=` (1 to 100, default 50) caps. Running async invocations are refreshed from
/// Bedrock (ListAsyncInvokes, one call per region) first.
pub async fn list<P: Platform>(
    platform: &P,
    settings: &Settings,
    jobs: &Jobs,
    query: &str,
    headers: &[(String, String)],
) -> Result<ApiResponse, ApiFailure> {
    let client = client_id(headers).map_err(ApiFailure::invalid)?;
    let mut status = None;
    let mut limit = DEFAULT_LIST;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "status" => {
                status = Some(JobStatus::parse(value).ok_or_else(|| {
                    ApiFailure::invalid("status: must be one of queued, running, succeeded, failed")
                })?)
            }
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIST).contains(n))
                    .ok_or_else(|| {
                        ApiFailure::invalid(format!("limit: must be from 1 to {MAX_LIST}"))
                    })?
            }
            _ => {}
        }
    }
    let records = jobs
        .store
        .list(&client, status, limit)
        .await
        .map_err(|_| ApiFailure::unavailable("store"))?;
    let records = refresh_listed(platform, settings, jobs, records).await;
    let jobs: Vec<_> = records
        .iter()
        .filter(|job| status.is_none_or(|s| job.status == s))
        .map(JobRecord::view)
        .collect();
    Ok(json(200, &JobList { jobs }))
}

/// Refreshes the running async invocations among `records` with one ListAsyncInvokes per
/// region (a few pages at most); anything that fails leaves the stored record.
async fn refresh_listed<P: Platform>(
    platform: &P,
    settings: &Settings,
    jobs: &Jobs,
    mut records: Vec<JobRecord>,
) -> Vec<JobRecord> {
    // Region -> (earliest submission, timeout) of the running invocations there.
    let mut regions: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for job in records
        .iter()
        .filter(|j| j.async_output().is_some() && !j.status.is_final())
    {
        if let Some(route) = settings.config.routes.get(&job.route) {
            let entry = regions
                .entry(route.primary().region.clone())
                .or_insert((job.created_ms, route.timeouts.first_byte_ms));
            entry.0 = entry.0.min(job.created_ms);
        }
    }
    for (region, (earliest, timeout_ms)) in regions {
        let mut token: Option<String> = None;
        let mut summaries = Vec::new();
        for _ in 0..async_invoke::MAX_LIST_PAGES {
            let request = async_invoke::list_request(
                &settings.base_url(&region),
                earliest.saturating_sub(60_000),
                token.as_deref(),
            );
            let page = async_invoke::call(platform, settings, &region, timeout_ms, request)
                .await
                .and_then(|body| async_invoke::parse_list(&body));
            match page {
                Ok((page, next)) => {
                    summaries.extend(page);
                    token = next;
                }
                Err(error) => {
                    consumer::log_event(platform, "async_list_failed", &region, &error.message);
                    break;
                }
            }
            if token.is_none() {
                break;
            }
        }
        for record in records.iter_mut() {
            let Some(output) = record.async_output() else {
                continue;
            };
            let Some(summary) = summaries
                .iter()
                .find(|s| s.invocation_arn == output.invocation_arn)
            else {
                continue;
            };
            if let Ok(Updated::Applied(fresh) | Updated::Refused(fresh)) =
                consumer::apply_progress(platform, jobs, record.clone(), &summary.progress).await
            {
                *record = fresh;
            }
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_endpoints() {
        assert_eq!(endpoint("POST", "/api/jobs"), Ok(Endpoint::Submit));
        assert_eq!(endpoint("GET", "/api/jobs"), Ok(Endpoint::List));
        assert_eq!(
            endpoint("GET", "/api/jobs/job_1"),
            Ok(Endpoint::Get("job_1"))
        );
        assert_eq!(
            endpoint("DELETE", "/api/jobs").unwrap_err().allow,
            Some("GET, POST")
        );
        assert_eq!(endpoint("POST", "/api/jobs/job_1").unwrap_err().status, 405);
        assert_eq!(endpoint("GET", "/api/jobs/a/b").unwrap_err().status, 404);
        assert!(is_jobs_path("/api/jobs/x") && !is_jobs_path("/api/jobsx"));
    }
}
