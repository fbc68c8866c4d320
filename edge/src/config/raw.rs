//! The `ROUTES` JSON as serde reads it, before any check: [`super::load`] validates it into
//! [`super::Config`].

use super::{
    policy::{CircuitPolicy, RetryPolicy, RoutingPolicy, Thresholds},
    widget_keys::WidgetKey,
    AsyncInvoke, LastResort, RateLimitClass, Target, TokenBudget,
};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) default_route: String,
    pub(super) routes: BTreeMap<String, RawRoute>,
    #[serde(default)]
    pub(super) rate_limits: BTreeMap<String, RateLimitClass>,
    #[serde(default)]
    pub(super) circuit: CircuitPolicy,
    #[serde(default)]
    pub(super) routing: RoutingPolicy,
    #[serde(default)]
    pub(super) widget_keys: BTreeMap<String, WidgetKey>,
    #[serde(default)]
    pub(super) token_budget: Option<TokenBudget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) targets: Option<Vec<Target>>,
    #[serde(default)]
    pub(super) auto: Option<RawAuto>,
    #[serde(default)]
    pub(super) retry: Option<RetryPolicy>,
    #[serde(default)]
    pub(super) timeouts: Option<RawTimeouts>,
    #[serde(default)]
    pub(super) last_resort: Option<LastResort>,
    #[serde(default)]
    pub(super) rate_limit: Option<String>,
    #[serde(default)]
    pub(super) async_invoke: Option<AsyncInvoke>,
    #[serde(default)]
    pub(super) prompt_caching: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuto {
    pub(super) simple: String,
    pub(super) medium: String,
    pub(super) complex: String,
    #[serde(default)]
    pub(super) thresholds: Thresholds,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTimeouts {
    #[serde(default)]
    pub(super) first_byte_ms: Option<u64>,
    #[serde(default)]
    pub(super) idle_ms: Option<u64>,
}
