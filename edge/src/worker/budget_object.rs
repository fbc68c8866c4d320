//! The Durable Object that keeps one client's token spending: one object per client (named by
//! its bucket, `ip:…`), holding its current [`SpentWindow`] in one SQLite row. Its two calls, JSON over
//! `fetch`, each with the [`TokenBudget`]:
//!
//! * `POST /spent`: the tokens spent in the current window (`{"tokens": n}`).
//! * `POST /charge` with `tokens`: adds them to the current window; answers 204.
//!
//! One object per client spreads the load, and each object serialises its own calls.

use crate::{config::TokenBudget, routing::budget::SpentWindow};
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue,
    State,
};

/// The binding in `wrangler.toml` (`[[durable_objects.bindings]]`).
pub const BINDING: &str = "BUDGETS";

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS spent (id INTEGER PRIMARY KEY CHECK (id = 1), spent TEXT NOT NULL)";

/// What the Worker sends: the budget, and the tokens to charge (`/charge`).
#[derive(Serialize, Deserialize)]
pub struct BudgetCall {
    pub tokens: u64,
    pub period_s: u32,
    #[serde(default)]
    pub charge: u64,
}

#[durable_object]
pub struct TokenBudgets {
    state: State,
}

/// The stored window (a fresh one when there is none, or it cannot be read).
fn load(sql: &SqlStorage) -> Result<SpentWindow> {
    for row in sql
        .exec("SELECT spent FROM spent WHERE id = 1", Vec::new())?
        .raw()
    {
        if let [SqlStorageValue::String(spent)] = row?.as_slice() {
            return Ok(serde_json::from_slice(spent.as_bytes()).unwrap_or_default());
        }
    }
    Ok(SpentWindow::default())
}

impl DurableObject for TokenBudgets {
    fn new(state: State, _env: Env) -> Self {
        if let Err(error) = state.storage().sql().exec(SCHEMA, Vec::new()) {
            worker::console_error!(
                "{{\"event\":\"budget_schema_error\",\"error\":{:?}}}",
                error.to_string()
            );
        }
        Self { state }
    }

    async fn fetch(&self, mut request: Request) -> Result<Response> {
        let now_ms = js_sys::Date::now() as u64;
        let call: BudgetCall = serde_json::from_slice(&request.bytes().await?)?;
        let budget = TokenBudget {
            tokens: call.tokens,
            period_s: call.period_s,
        };
        let sql = self.state.storage().sql();
        let mut window = load(&sql)?;
        match request.path().as_str() {
            "/spent" => Response::from_json(&serde_json::json!({
                "tokens": window.spent(&budget, now_ms)
            })),
            "/charge" => {
                window.charge(&budget, now_ms, call.charge);
                sql.exec(
                    "INSERT INTO spent (id, spent) VALUES (1, ?) \
                     ON CONFLICT(id) DO UPDATE SET spent = excluded.spent",
                    vec![SqlStorageValue::from(serde_json::to_string(&window)?)],
                )?;
                Ok(Response::empty()?.with_status(204))
            }
            _ => Response::error("not found", 404),
        }
    }
}
