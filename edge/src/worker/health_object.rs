//! The Durable Object that holds every target's health (circuit breaker, latency and error
//! moving averages) for all isolates of the Worker: one object, named [`OBJECT_NAME`], with
//! one SQLite row per target. Its two calls, both JSON over `fetch`:
//!
//! * `POST /load` with a [`HealthQuery`]: the views of its keys, in order. With
//!   `claim_probes` the half-open probes it grants are stored before it answers, so exactly one
//!   request across all isolates carries each probe.
//! * `POST /record` with a [`HealthRecord`]: folds the outcomes in; answers 204.
//!
//! Each call reads, changes and writes its rows without awaiting in between, so calls never
//! interleave. The transitions themselves are [`crate::routing::health`]'s, the same as in native tests.

use crate::{
    platform::health::{HealthQuery, HealthRecord},
    routing::health::{HealthStore, TargetHealth},
};
use serde::de::DeserializeOwned;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue,
    State,
};

/// The binding in `wrangler.toml` (`[[durable_objects.bindings]]`).
pub const BINDING: &str = "HEALTH";
/// The one object every isolate talks to.
pub const OBJECT_NAME: &str = "targets";

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS target_health (key TEXT PRIMARY KEY, health TEXT NOT NULL)";

#[durable_object]
pub struct HealthState {
    state: State,
}

/// The stored rows of `keys` (missing or unreadable rows are left out: they start fresh).
fn load(sql: &SqlStorage, keys: &[String]) -> Result<HealthStore> {
    let mut store = HealthStore::default();
    for key in keys {
        let rows = sql
            .exec(
                "SELECT health FROM target_health WHERE key = ?",
                vec![SqlStorageValue::from(key.as_str())],
            )?
            .raw();
        for row in rows {
            if let [SqlStorageValue::String(health)] = row?.as_slice() {
                if let Ok(health) = serde_json::from_slice::<TargetHealth>(health.as_bytes()) {
                    store.targets.insert(key.clone(), health);
                }
            }
        }
    }
    Ok(store)
}

/// The request's JSON body (read with serde_json, as every parse in the Worker).
async fn body<T: DeserializeOwned>(request: &mut Request) -> Result<T> {
    Ok(serde_json::from_slice(&request.bytes().await?)?)
}

fn save(sql: &SqlStorage, store: &HealthStore) -> Result<()> {
    for (key, health) in &store.targets {
        sql.exec(
            "INSERT INTO target_health (key, health) VALUES (?, ?) \
             ON CONFLICT(key) DO UPDATE SET health = excluded.health",
            vec![
                SqlStorageValue::from(key.as_str()),
                SqlStorageValue::from(serde_json::to_string(health)?),
            ],
        )?;
    }
    Ok(())
}

impl DurableObject for HealthState {
    fn new(state: State, _env: Env) -> Self {
        if let Err(error) = state.storage().sql().exec(SCHEMA, Vec::new()) {
            worker::console_error!(
                "{{\"event\":\"health_schema_error\",\"error\":{:?}}}",
                error.to_string()
            );
        }
        Self { state }
    }

    async fn fetch(&self, mut request: Request) -> Result<Response> {
        let now_ms = js_sys::Date::now() as u64;
        let sql = self.state.storage().sql();
        match request.path().as_str() {
            "/load" => {
                let query: HealthQuery = body(&mut request).await?;
                let mut store = load(&sql, &query.keys)?;
                let views = store.load(&query, now_ms);
                if query.claim_probes {
                    save(&sql, &store)?;
                }
                Response::from_json(&views)
            }
            "/record" => {
                let record: HealthRecord = body(&mut request).await?;
                let keys: Vec<String> = record.reports.iter().map(|r| r.key.clone()).collect();
                let mut store = load(&sql, &keys)?;
                store.record(&record, now_ms);
                save(&sql, &store)?;
                Ok(Response::empty()?.with_status(204))
            }
            _ => Response::error("not found", 404),
        }
    }
}
