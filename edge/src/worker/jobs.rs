//! The jobs seams on Workers: [`D1Store`] (the `DB` binding, table `jobs` from
//! `edge/migrations/`), [`QueueSender`] (the `JOBS` producer binding), and the queue consumer
//! that hands each message to [`Consumer`]. The consumer never returns an error (that would
//! abort the Wasm instance): each message is acked or retried on its own.

use super::platform::WorkerPlatform;
use crate::{
    config::settings::Settings,
    jobs::{
        consumer::{log_event, Consumer, Disposition, Source},
        record::JobRecord,
        store::{JobQueue, JobStore, LocalFuture, StoreError},
        JobMessage, JobSettings, Jobs,
    },
};
use futures::future::join_all;
use js_sys::{Promise, Reflect, JSON};
use serde::Serialize;
use shared::jobs::JobStatus;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use worker::{
    Context, D1Database, D1PreparedStatement, Env, MessageBatch, MessageBuilder, MessageExt, Queue,
    QueueRetryOptionsBuilder,
};

/// The D1 binding of the job records.
pub const DB_BINDING: &str = "DB";
/// The queue producer binding.
pub const QUEUE_BINDING: &str = "JOBS";
/// A queue whose name ends so is a dead-letter queue (wrangler.toml).
pub const DEAD_LETTER_SUFFIX: &str = "-dlq";

const COLUMNS: &str = "id, client_id, idempotency_key, kind, route, input, status, attempts, \
    error_code, error_message, result, callback_url, callback_state, callback_attempts, \
    callback_lease_until, created_ms, started_ms, finished_ms, updated_ms, version";

/// Deletes expired jobs ([`crate::jobs::sweep`]) and logs how many.
pub async fn sweep(env: &Env) {
    let Ok(settings) = JobSettings::from_lookup(|name| super::lookup(env, name)) else {
        worker::console_error!("{{\"event\":\"jobs_sweep_skipped\",\"detail\":\"job settings\"}}");
        return;
    };
    let Some(jobs) = backend(env, settings) else {
        return;
    };
    let event = match crate::jobs::sweep(&jobs, js_sys::Date::now() as u64).await {
        Ok(deleted) => format!("{{\"event\":\"jobs_swept\",\"deleted\":{deleted}}}"),
        Err(error) => format!(
            "{{\"event\":\"jobs_sweep_failed\",\"detail\":{:?}}}",
            error.0
        ),
    };
    worker::console_log!("{event}");
}

/// The jobs system, when the Worker has both bindings.
pub fn backend(env: &Env, settings: JobSettings) -> Option<Jobs> {
    let db = env.d1(DB_BINDING).ok()?;
    let queue = env.queue(QUEUE_BINDING).ok()?;
    Some(Jobs {
        store: Rc::new(D1Store(db)),
        queue: Rc::new(QueueSender(queue)),
        settings: Rc::new(settings),
    })
}

pub struct D1Store(D1Database);

fn store_error(error: worker::Error) -> StoreError {
    StoreError(format!("D1: {error}"))
}

fn text(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from_str)
}

fn number(value: Option<u64>) -> JsValue {
    value.map_or(JsValue::NULL, |n| JsValue::from_f64(n as f64))
}

/// An enum's wire name (`queued`, `converse`).
fn name(value: &impl Serialize) -> JsValue {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(JsValue::from_str))
        .unwrap_or(JsValue::NULL)
}

/// A property of a JS object (`undefined` when it has none).
fn property(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// D1's result object (`results`, `meta`) of a started statement. It is read as JS and with
/// serde_json, like every other parse in the Worker, rather than with the bindings'
/// serde_wasm_bindgen: a second deserializer would double the code of each row type.
async fn settle(started: Result<Promise, JsValue>) -> Result<JsValue, StoreError> {
    let result = match started {
        Ok(promise) => JsFuture::from(promise).await,
        Err(error) => Err(error),
    };
    result.map_err(|error| store_error(error.into()))
}

impl D1Store {
    fn statement(&self, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement, StoreError> {
        self.0.prepare(sql).bind(args).map_err(store_error)
    }

    /// The rows a query answers.
    async fn rows(&self, sql: &str, args: &[JsValue]) -> Result<Vec<JobRecord>, StoreError> {
        let result = settle(self.statement(sql, args)?.inner().all()).await?;
        let json = JSON::stringify(&property(&result, "results"))
            .map(String::from)
            .map_err(|error| store_error(error.into()))?;
        serde_json::from_slice(json.as_bytes()).map_err(|e| StoreError(format!("D1 rows: {e}")))
    }

    async fn first(&self, sql: &str, args: &[JsValue]) -> Result<Option<JobRecord>, StoreError> {
        Ok(self.rows(sql, args).await?.into_iter().next())
    }

    /// Runs a statement; the number of rows it changed.
    async fn run(&self, sql: &str, args: &[JsValue]) -> Result<usize, StoreError> {
        let result = settle(self.statement(sql, args)?.inner().run()).await?;
        let changes = property(&property(&result, "meta"), "changes").as_f64();
        Ok(changes.unwrap_or(0.0) as usize)
    }
}

impl JobStore for D1Store {
    fn insert<'a>(
        &'a self,
        job: &'a JobRecord,
    ) -> LocalFuture<'a, Result<Option<JobRecord>, StoreError>> {
        Box::pin(async move {
            let sql = format!(
                "INSERT INTO jobs ({COLUMNS}) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20) \
                 ON CONFLICT DO NOTHING"
            );
            let args = [
                JsValue::from_str(&job.id),
                JsValue::from_str(&job.client_id),
                text(job.idempotency_key.as_deref()),
                name(&job.kind),
                JsValue::from_str(&job.route),
                JsValue::from_str(&job.input),
                name(&job.status),
                number(Some(u64::from(job.attempts))),
                text(job.error_code.as_deref()),
                text(job.error_message.as_deref()),
                text(job.result.as_deref()),
                text(job.callback_url.as_deref()),
                job.callback_state.as_ref().map_or(JsValue::NULL, name),
                number(Some(u64::from(job.callback_attempts))),
                number(job.callback_lease_until),
                number(Some(job.created_ms)),
                number(job.started_ms),
                number(job.finished_ms),
                number(Some(job.updated_ms)),
                number(Some(u64::from(job.version))),
            ];
            if self.run(&sql, &args).await? == 1 {
                return Ok(None);
            }
            // The client's idempotency key names an existing job.
            let existing = self
                .first(
                    &format!(
                        "SELECT {COLUMNS} FROM jobs WHERE client_id = ?1 AND idempotency_key = ?2"
                    ),
                    &[
                        JsValue::from_str(&job.client_id),
                        text(job.idempotency_key.as_deref()),
                    ],
                )
                .await?;
            existing
                .map(Some)
                .ok_or_else(|| StoreError("insert ignored without a matching job".into()))
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> LocalFuture<'a, Result<Option<JobRecord>, StoreError>> {
        Box::pin(async move {
            self.first(
                &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
                &[JsValue::from_str(id)],
            )
            .await
        })
    }

    fn list<'a>(
        &'a self,
        client_id: &'a str,
        status: Option<JobStatus>,
        limit: u32,
    ) -> LocalFuture<'a, Result<Vec<JobRecord>, StoreError>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT {COLUMNS} FROM jobs WHERE client_id = ?1 AND (?2 IS NULL OR status = ?2) \
                 ORDER BY created_ms DESC, id LIMIT ?3"
            );
            let args = [
                JsValue::from_str(client_id),
                status.as_ref().map_or(JsValue::NULL, name),
                JsValue::from_f64(f64::from(limit)),
            ];
            self.rows(&sql, &args).await
        })
    }

    fn delete_expired<'a>(
        &'a self,
        before_ms: u64,
        limit: u32,
    ) -> LocalFuture<'a, Result<u32, StoreError>> {
        Box::pin(async move {
            let sql = "DELETE FROM jobs WHERE id IN \
                       (SELECT id FROM jobs WHERE updated_ms < ?1 LIMIT ?2)";
            let args = [number(Some(before_ms)), JsValue::from_f64(f64::from(limit))];
            let deleted = self.run(sql, &args).await?;
            Ok(u32::try_from(deleted).unwrap_or(u32::MAX))
        })
    }

    fn replace<'a>(&'a self, job: &'a JobRecord) -> LocalFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let sql = "UPDATE jobs SET status = ?1, attempts = ?2, error_code = ?3, \
                error_message = ?4, result = ?5, callback_state = ?6, callback_attempts = ?7, \
                callback_lease_until = ?8, started_ms = ?9, finished_ms = ?10, updated_ms = ?11, \
                version = ?12 WHERE id = ?13 AND version = ?14";
            let args = [
                name(&job.status),
                number(Some(u64::from(job.attempts))),
                text(job.error_code.as_deref()),
                text(job.error_message.as_deref()),
                text(job.result.as_deref()),
                job.callback_state.as_ref().map_or(JsValue::NULL, name),
                number(Some(u64::from(job.callback_attempts))),
                number(job.callback_lease_until),
                number(job.started_ms),
                number(job.finished_ms),
                number(Some(job.updated_ms)),
                number(Some(u64::from(job.version))),
                JsValue::from_str(&job.id),
                number(Some(u64::from(job.version.wrapping_sub(1)))),
            ];
            Ok(self.run(sql, &args).await? == 1)
        })
    }
}

pub struct QueueSender(Queue);

impl JobQueue for QueueSender {
    fn send<'a>(
        &'a self,
        message: &'a JobMessage,
        delay_s: u32,
    ) -> LocalFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let body = serde_json::to_string(message)
                .map_err(|e| StoreError(format!("queue message: {e}")))?;
            let mut builder = MessageBuilder::new(body);
            if delay_s > 0 {
                builder = builder.delay_seconds(delay_s);
            }
            self.0
                .send(builder.build())
                .await
                .map_err(|e| StoreError(format!("queue: {e}")))
        })
    }
}

/// The queue handler: every message of the batch at once, each acked or retried on its own.
pub async fn consume(
    batch: MessageBatch<String>,
    env: Env,
    ctx: Context,
    settings: Result<Rc<Settings>, String>,
    job_settings: Result<JobSettings, String>,
) {
    let platform = WorkerPlatform::new(env.clone(), ctx);
    let queue = batch.queue();
    let source = if queue.ends_with(DEAD_LETTER_SUFFIX) {
        Source::DeadLetter
    } else {
        Source::Jobs
    };
    let jobs = job_settings.and_then(|s| {
        backend(&env, s).ok_or_else(|| format!("missing {DB_BINDING} or {QUEUE_BINDING} binding"))
    });
    let (settings, jobs) = match (settings, jobs) {
        (Ok(settings), Ok(jobs)) => (settings, jobs),
        (Err(error), _) | (_, Err(error)) => {
            // Nothing can run: the queue tries again later (then the dead-letter queue).
            log_event(&platform, "jobs_config_error", &queue, &error);
            batch.retry_all();
            return;
        }
    };
    let consumer = Consumer {
        platform: &platform,
        settings: &settings,
        jobs: &jobs,
    };
    let messages: Vec<_> = batch.raw_iter().collect();
    join_all(messages.iter().map(|message| {
        let consumer = &consumer;
        async move {
            let body = message.body().as_string().unwrap_or_default();
            match consumer.handle(source, &body).await {
                Disposition::Ack => message.ack(),
                Disposition::Retry { delay_s } => message.retry_with_options(
                    &QueueRetryOptionsBuilder::new()
                        .with_delay_seconds(delay_s)
                        .build(),
                ),
            }
        }
    }))
    .await;
}
