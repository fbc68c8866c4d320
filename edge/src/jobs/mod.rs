//! Background jobs, the edge's version of API Gateway → SQS → Lambda → DynamoDB: `POST
//! /api/jobs` stores a job (D1) and queues it (Cloudflare Queues); the queue consumer runs it
//! through the same routing, retries and fallback as chat ([`crate::routing::pipeline::chat_once`]), or as
//! a Bedrock async invocation, stores the result and POSTs a signed callback.
//!
//! Processing is at least once and idempotent: a final job is never changed again (a retried
//! message finds it final and only makes sure its callback is on the way); a message that
//! keeps failing goes to the dead-letter queue, whose consumer marks the job `failed` with
//! the reason. Everything here is plain Rust behind [`store::JobStore`] and
//! [`store::JobQueue`]; the Worker supplies D1 and the queue binding.

pub mod async_invoke;
pub mod callback;
pub mod client;
pub mod consumer;
pub mod record;
pub mod store;

use crate::config::{secret::Secret, ConfigError};
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use store::{JobQueue, JobStore};

/// What travels on the queue: which job, and what to do with it
/// (`{"kind":"run","job":"…"}`, see [`QueuedMessage`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "QueuedMessage", try_from = "QueuedMessage")]
pub enum JobMessage {
    /// Run the job (Converse, or start its async invocation).
    Run { job: String },
    /// Read a running async invocation's status.
    Poll { job: String },
    /// Deliver the finished job to its callback URL.
    Callback { job: String },
}

impl JobMessage {
    pub fn job(&self) -> &str {
        match self {
            Self::Run { job } | Self::Poll { job } | Self::Callback { job } => job,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Run { .. } => "run",
            Self::Poll { .. } => "poll",
            Self::Callback { .. } => "callback",
        }
    }
}

/// A [`JobMessage`] on the queue. That is the JSON of an internally tagged enum, written and
/// read as a flat struct: serde's tagged enums buffer every value before reading it, code that
/// cost the Worker several KB.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueuedMessage {
    kind: String,
    job: String,
}

impl From<JobMessage> for QueuedMessage {
    fn from(message: JobMessage) -> Self {
        Self {
            kind: message.kind().to_owned(),
            job: message.job().to_owned(),
        }
    }
}

impl TryFrom<QueuedMessage> for JobMessage {
    type Error = String;

    fn try_from(QueuedMessage { kind, job }: QueuedMessage) -> Result<Self, String> {
        match kind.as_str() {
            "run" => Ok(Self::Run { job }),
            "poll" => Ok(Self::Poll { job }),
            "callback" => Ok(Self::Callback { job }),
            other => Err(format!(
                "unknown variant `{other}`, expected one of `run`, `poll`, `callback`"
            )),
        }
    }
}

/// Default of `JOB_TTL_DAYS`.
pub const DEFAULT_TTL_DAYS: u64 = 7;
/// Longest `JOB_TTL_DAYS`.
pub const MAX_TTL_DAYS: u64 = 365;
/// Jobs one sweep deletes at most (the next sweep takes the rest).
pub const SWEEP_BATCH: u32 = 1_000;
const DAY_MS: u64 = 24 * 60 * 60 * 1_000;

/// Default of `JOB_RETRY_DELAY_S`.
pub const DEFAULT_RETRY_DELAY_S: u32 = 5;
/// Longest wait between two runs of a job.
pub const MAX_RETRY_DELAY_S: u32 = 600;

/// The jobs settings, from the Worker's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSettings {
    /// `JOB_CALLBACK_SECRET` (a Worker secret): signs callbacks.
    pub callback_secret: Option<Secret>,
    /// `JOB_CALLBACK_ALLOWED_HOSTS` (comma-separated) with `JOB_CALLBACK_ALLOW_LOOPBACK`:
    /// where callbacks may go (empty: nowhere). See [`callback::AllowedHosts`].
    pub callback_allowed_hosts: callback::AllowedHosts,
    /// `JOB_RETRY_DELAY_S`: the wait before a failed job's second run (doubling after), and
    /// before a failed callback's second delivery (4× after). Default 5.
    pub retry_delay_s: u32,
    /// `JOB_TTL_DAYS` (1 to 365, default 7), in ms: how long a job is kept after its last
    /// change. An older job is no longer served, and the sweep deletes it.
    pub ttl_ms: u64,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            callback_secret: None,
            callback_allowed_hosts: callback::AllowedHosts::default(),
            retry_delay_s: DEFAULT_RETRY_DELAY_S,
            ttl_ms: DEFAULT_TTL_DAYS * DAY_MS,
        }
    }
}

impl JobSettings {
    /// Whether `job` has outlived its time to live at `now_ms` (it is not served any more).
    pub fn expired(&self, job: &record::JobRecord, now_ms: u64) -> bool {
        now_ms.saturating_sub(job.updated_ms) >= self.ttl_ms
    }

    /// Reads the variables through `get`; errors name the variable, never a secret's value.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).filter(|value| !value.trim().is_empty());
        // Loopback callbacks are for a receiver on the developer's machine: off unless asked.
        let allow_loopback = match get("JOB_CALLBACK_ALLOW_LOOPBACK").as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ConfigError::new(
                    "JOB_CALLBACK_ALLOW_LOOPBACK",
                    "must be true or false",
                ))
            }
        };
        let callback_allowed_hosts = callback::AllowedHosts::parse(
            &get("JOB_CALLBACK_ALLOWED_HOSTS").unwrap_or_default(),
            allow_loopback,
        )
        .map_err(|message| ConfigError::new("JOB_CALLBACK_ALLOWED_HOSTS", message))?;
        let callback_secret = get("JOB_CALLBACK_SECRET").map(|s| Secret::new(s.trim()));
        if !callback_allowed_hosts.is_empty() && callback_secret.is_none() {
            return Err(ConfigError::new(
                "JOB_CALLBACK_SECRET",
                "not set (callbacks need it to be signed; JOB_CALLBACK_ALLOWED_HOSTS is set)",
            ));
        }
        let retry_delay_s = match get("JOB_RETRY_DELAY_S") {
            None => DEFAULT_RETRY_DELAY_S,
            Some(value) => value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|s| *s <= MAX_RETRY_DELAY_S)
                .ok_or_else(|| {
                    ConfigError::new(
                        "JOB_RETRY_DELAY_S",
                        format!("must be a whole number of seconds from 0 to {MAX_RETRY_DELAY_S}"),
                    )
                })?,
        };
        let ttl_days = match get("JOB_TTL_DAYS") {
            None => DEFAULT_TTL_DAYS,
            Some(value) => value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|days| (1..=MAX_TTL_DAYS).contains(days))
                .ok_or_else(|| {
                    ConfigError::new(
                        "JOB_TTL_DAYS",
                        format!("must be a whole number of days from 1 to {MAX_TTL_DAYS}"),
                    )
                })?,
        };
        Ok(Self {
            callback_secret,
            callback_allowed_hosts,
            retry_delay_s,
            ttl_ms: ttl_days * DAY_MS,
        })
    }

    /// Seconds before run `attempt + 1` of a job whose run `attempt` failed.
    pub fn run_retry_delay_s(&self, attempt: u32) -> u32 {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.retry_delay_s
            .saturating_mul(factor)
            .min(MAX_RETRY_DELAY_S)
    }
}

/// Deletes the jobs whose time to live has passed at `now_ms` (one batch of
/// [`SWEEP_BATCH`]); how many. The Worker runs it on its cron trigger.
pub async fn sweep(jobs: &Jobs, now_ms: u64) -> Result<u32, store::StoreError> {
    let before = now_ms.saturating_sub(jobs.settings.ttl_ms);
    jobs.store.delete_expired(before, SWEEP_BATCH).await
}

/// The jobs system of one request or queue batch: its store, queue and settings.
#[derive(Clone)]
pub struct Jobs {
    pub store: Rc<dyn JobStore>,
    pub queue: Rc<dyn JobQueue>,
    pub settings: Rc<JobSettings>,
}

#[cfg(test)]
mod tests;
