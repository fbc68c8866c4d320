//! The validated route table and what a request resolves to.

use super::{
    policy::{CircuitPolicy, RetryPolicy, RoutingPolicy, Thresholds, Tier},
    widget_keys::WidgetKey,
};
use serde::Deserialize;
use shared::routes::{AutoTiers, RouteInfo, RoutesResponse, TargetInfo};
use std::collections::BTreeMap;

/// The built-in widget key, for the example page served on port 8789 of this machine
/// (`examples/widget/`); it allows only `http://127.0.0.1:8789` and `http://localhost:8789`.
pub const DEMO_WIDGET_KEY: &str = "pk_demo_local";

/// Most targets in one chain.
pub const MAX_TARGETS: usize = 8;
/// Longest timeout accepted (10 minutes).
pub const MAX_TIMEOUT_MS: u64 = 600_000;
/// Default of both upstream timeouts.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Rate-limit periods the Workers rate limiting binding supports.
pub const RATE_LIMIT_PERIODS: [u32; 2] = [10, 60];

/// The validated route table.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The route used when a request names none (a chain route or the auto route).
    pub default_route: String,
    /// The routes with a chain of targets, by name.
    pub routes: BTreeMap<String, Route>,
    /// The content-classified route, when configured.
    pub auto: Option<AutoRoute>,
    /// Rate-limit classes, by name.
    pub rate_limits: BTreeMap<String, RateLimitClass>,
    pub circuit: CircuitPolicy,
    pub routing: RoutingPolicy,
    /// Public keys of the embeddable widget, by key: allowed origins, routes, rate limits.
    pub widget_keys: BTreeMap<String, WidgetKey>,
    /// The tokens (input and output) one client may spend per window on chat and invoke.
    pub token_budget: Option<TokenBudget>,
}

/// At most `tokens` tokens (input plus output, as Bedrock reports them) per client per
/// `period_s` seconds, in fixed windows aligned to the epoch. An answer is charged when it
/// ends; a client whose window is spent is refused (429) until the next window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBudget {
    pub tokens: u64,
    pub period_s: u32,
}

impl TokenBudget {
    /// Longest window: 31 days.
    pub const MAX_PERIOD_S: u32 = 31 * 24 * 60 * 60;

    /// The window that holds `now_ms` (its number since the epoch).
    pub fn window(&self, now_ms: u64) -> u64 {
        now_ms / (u64::from(self.period_s.max(1)) * 1_000)
    }

    /// Whole seconds from `now_ms` to the next window (at least 1).
    pub fn seconds_left(&self, now_ms: u64) -> u64 {
        let period_ms = u64::from(self.period_s.max(1)) * 1_000;
        let next = (self.window(now_ms) + 1) * period_ms;
        next.saturating_sub(now_ms).div_ceil(1_000).max(1)
    }
}

/// A route with its chain of targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub description: String,
    /// Tried in order (health may swap equivalent ones), until one answers.
    pub targets: Vec<Target>,
    pub retry: RetryPolicy,
    pub timeouts: Timeouts,
    /// What to answer when every target is down.
    pub last_resort: Option<LastResort>,
    /// The rate-limit class, if requests on this route are limited.
    pub rate_limit: Option<String>,
    /// Set when the route's jobs run as Bedrock async invocations (StartAsyncInvoke on the
    /// first target); such a route is reachable only through `POST /api/jobs`.
    pub async_invoke: Option<AsyncInvoke>,
    /// Whether native bodies may ask Bedrock to cache their prompt (Anthropic `cache_control`
    /// markers). Off by default: a cached prompt is billed differently and kept by Bedrock for
    /// minutes, so a route opts in.
    pub prompt_caching: bool,
}

/// Bedrock's own asynchronous invocation for a route: the model writes its output to S3.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsyncInvoke {
    /// `s3://bucket/prefix` the output is written under.
    pub s3_output_uri: String,
}

impl Route {
    /// The first target of the chain (validation keeps chains non-empty).
    pub fn primary(&self) -> &Target {
        &self.targets[0]
    }

    /// The rate-limit class and its numbers, if this route is limited.
    pub fn limits<'a>(&'a self, config: &'a Config) -> Option<(&'a str, RateLimitClass)> {
        let class = self.rate_limit.as_deref()?;
        config.rate_limits.get(class).map(|limits| (class, *limits))
    }
}

/// Where a route's requests may go.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Model id, inference-profile id or ARN.
    pub model: String,
    /// Bedrock Runtime region (also the SigV4 signing region).
    pub region: String,
    /// Cap on `maxTokens` sent to this target.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Sent when the request gives no temperature.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Relative cost, for cost-aware ordering of equivalent targets (`routing.cost_weight_ms`).
    #[serde(default = "one")]
    pub cost: f64,
}

fn one() -> f64 {
    1.0
}

impl Target {
    pub fn new(model: &str, region: &str) -> Self {
        Self {
            model: model.into(),
            region: region.into(),
            max_tokens: None,
            temperature: None,
            cost: 1.0,
        }
    }

    /// `model@region`: the name of this target in the shared health state.
    pub fn key(&self) -> String {
        format!("{}@{}", self.model, self.region)
    }

    /// The model as clients and logs see it: an ARN's account id masked
    /// (`arn:aws:bedrock:us-east-1:***:inference-profile/…`).
    pub fn public_model(&self) -> String {
        let mut fields: Vec<&str> = self.model.splitn(6, ':').collect();
        if fields.len() == 6 && fields[0] == "arn" && !fields[4].is_empty() {
            fields[4] = "***";
        }
        fields.join(":")
    }

    /// `model@region` with [`Target::public_model`]: the target's name in `meta`, `fallback`
    /// events, `/api/routes`, `/api/health` and log lines.
    pub fn public_key(&self) -> String {
        format!("{}@{}", self.public_model(), self.region)
    }

    pub(super) fn with_max_tokens(self, max_tokens: u32) -> Self {
        Self {
            max_tokens: Some(max_tokens),
            ..self
        }
    }
}

/// Upstream timeouts of one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From sending a call until its response headers arrive.
    pub first_byte_ms: u64,
    /// Between two chunks of a response body.
    pub idle_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            first_byte_ms: DEFAULT_TIMEOUT_MS,
            idle_ms: DEFAULT_TIMEOUT_MS,
        }
    }
}

/// The answer given when every target of a route is down: `{"message": "..."}` (a notice) or
/// `{"cached_answer": "..."}` (a canned answer). Either is marked as a last resort to clients.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum LastResort {
    Message(String),
    CachedAnswer(String),
}

impl LastResort {
    pub fn text(&self) -> &str {
        match self {
            Self::Message(text) | Self::CachedAnswer(text) => text,
        }
    }

    /// `message` or `cached_answer`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Message(_) => "message",
            Self::CachedAnswer(_) => "cached_answer",
        }
    }
}

/// The content-classified route: each request goes to the route of its tier.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoRoute {
    pub name: String,
    pub description: String,
    pub simple: String,
    pub medium: String,
    pub complex: String,
    pub thresholds: Thresholds,
    pub rate_limit: Option<String>,
}

impl AutoRoute {
    /// The route name of `tier`.
    pub fn route_for(&self, tier: Tier) -> &str {
        match tier {
            Tier::Simple => &self.simple,
            Tier::Medium => &self.medium,
            Tier::Complex => &self.complex,
        }
    }
}

/// A rate-limit class: `limit` requests per `period_s` seconds per client. On Workers the
/// binding `RATE_LIMIT_<NAME>` enforces it (its `simple = {limit, period}` in `wrangler.toml`
/// must match); native test platforms enforce the numbers here. `period_s` is also the
/// `Retry-After` of a 429. With `fail_closed`, a limiter that cannot be asked refuses the
/// request (503) instead of letting it through: for routes whose calls are expensive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitClass {
    pub limit: u32,
    pub period_s: u32,
    #[serde(default)]
    pub fail_closed: bool,
}

/// The binding that enforces rate-limit class `class` on Workers: `RATE_LIMIT_CHAT` for `chat`.
pub fn rate_limit_binding(class: &str) -> String {
    format!(
        "RATE_LIMIT_{}",
        class.to_ascii_uppercase().replace('-', "_")
    )
}

/// A route named in a request, resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'a> {
    Chain(&'a str, &'a Route),
    Auto(&'a AutoRoute),
}

impl Config {
    /// The rate-limit classes of a request that named `asked` and goes to chain route
    /// `chosen`, each once: `auto`'s own class when it chose, and the chosen route's.
    pub fn limits_for(&self, asked: Option<&str>, chosen: &str) -> Vec<(&str, RateLimitClass)> {
        let auto = match self.resolve(asked) {
            Ok(Resolved::Auto(_)) => self.limits_of(asked),
            _ => None,
        };
        let route = self.limits_of(Some(chosen));
        let mut classes = Vec::new();
        for (class, limits) in [auto, route].into_iter().flatten() {
            if classes.iter().all(|(c, _)| *c != class) {
                classes.push((class, limits));
            }
        }
        classes
    }

    /// The rate-limit class of the route `name` names (the default when `None`): a chain's
    /// own, or `auto`'s; what a request is counted against before its body is read.
    pub fn limits_of(&self, name: Option<&str>) -> Option<(&str, RateLimitClass)> {
        let class = match self.resolve(name).ok()? {
            Resolved::Chain(_, route) => route.rate_limit.as_deref()?,
            Resolved::Auto(auto) => auto.rate_limit.as_deref()?,
        };
        self.rate_limits
            .get_key_value(class)
            .map(|(class, limits)| (class.as_str(), *limits))
    }

    /// The route `name` (the default when `None`), chain or auto. `Err` names the available
    /// routes.
    pub fn resolve(&self, name: Option<&str>) -> Result<Resolved<'_>, String> {
        let name = name.unwrap_or(&self.default_route);
        if let Some((name, route)) = self.routes.get_key_value(name) {
            return Ok(Resolved::Chain(name, route));
        }
        match &self.auto {
            Some(auto) if auto.name == name => Ok(Resolved::Auto(auto)),
            _ => Err(format!(
                "unknown route {name:?}; available routes: {}",
                self.route_names().join(", ")
            )),
        }
    }

    /// The chain route `name`, or the default when `None`. `Err` names the chain routes.
    pub fn route(&self, name: Option<&str>) -> Result<(&str, &Route), String> {
        let name = name.unwrap_or(&self.default_route);
        self.routes
            .get_key_value(name)
            .map(|(name, route)| (name.as_str(), route))
            .ok_or_else(|| {
                let names: Vec<&str> = self.routes.keys().map(String::as_str).collect();
                format!(
                    "unknown route {name:?}; available routes: {}",
                    names.join(", ")
                )
            })
    }

    /// Every route name, sorted.
    pub fn route_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.routes.keys().map(String::as_str).collect();
        if let Some(auto) = &self.auto {
            names.push(&auto.name);
        }
        names.sort_unstable();
        names
    }

    /// Every target of every chain, once each, in route then chain order.
    pub fn all_targets(&self) -> Vec<&Target> {
        let mut all: Vec<&Target> = Vec::new();
        for target in self.routes.values().flat_map(|r| &r.targets) {
            if !all.iter().any(|t| t.key() == target.key()) {
                all.push(target);
            }
        }
        all
    }

    /// The rate-limit classes some route uses.
    pub fn used_rate_limits(&self) -> Vec<&str> {
        let mut used: Vec<&str> = self
            .routes
            .values()
            .filter_map(|r| r.rate_limit.as_deref())
            .chain(self.auto.iter().filter_map(|a| a.rate_limit.as_deref()))
            .chain(self.widget_keys.values().flat_map(|k| {
                [k.rate_limit.as_deref(), k.key_rate_limit.as_deref()]
                    .into_iter()
                    .flatten()
            }))
            .collect();
        used.sort_unstable();
        used.dedup();
        used
    }

    /// What `GET /api/routes` answers.
    pub fn routes_response(&self) -> RoutesResponse {
        let mut routes: Vec<RouteInfo> = self
            .routes
            .iter()
            .map(|(name, route)| RouteInfo {
                name: name.clone(),
                description: route.description.clone(),
                model: route.primary().public_model(),
                region: route.primary().region.clone(),
                targets: route
                    .targets
                    .iter()
                    .map(|t| TargetInfo {
                        model: t.public_model(),
                        region: t.region.clone(),
                    })
                    .collect(),
                tiers: None,
            })
            .collect();
        if let Some(auto) = &self.auto {
            routes.push(RouteInfo {
                name: auto.name.clone(),
                description: auto.description.clone(),
                model: "auto".into(),
                region: "auto".into(),
                targets: Vec::new(),
                tiers: Some(AutoTiers {
                    simple: auto.simple.clone(),
                    medium: auto.medium.clone(),
                    complex: auto.complex.clone(),
                }),
            });
        }
        routes.sort_by(|a, b| a.name.cmp(&b.name));
        RoutesResponse {
            default_route: self.default_route.clone(),
            routes,
        }
    }
}
