//! The route table: which named routes a client may ask for, and behind each an ordered chain
//! of Bedrock targets with its retry policy, timeouts, last resort and rate-limit class; the
//! `auto` route's tiers; the circuit-breaker, routing and rate-limit settings. Parsed strictly
//! from the `ROUTES` JSON (unknown fields refused) or built in, and validated at start-up;
//! every error names its path (`routes.generate.targets[1].region: unknown region "mars-1"`).
//! Only what is configured here can be reached: the edge is never an open Bedrock proxy.
//! The embeddable widget's keys (`widget_keys`) live here too, checked by [`crate::widget`].

use crate::{
    circuit::CircuitPolicy,
    classifier::{Thresholds, Tier},
    health::RoutingPolicy,
    model_id,
    retry::RetryPolicy,
    validate::MAX_TOKENS,
    widget::{self, WidgetKey},
};
use serde::Deserialize;
use serde_json::error::Category;
use shared::routes::{AutoTiers, RouteInfo, RoutesResponse, TargetInfo};
use std::collections::BTreeMap;
use thiserror::Error;

mod json_path;

/// A configuration problem: `path` is a setting (`ROUTES`, `AWS_REGION`) or a path inside one
/// (`routes.generate.targets[0].region`). Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

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

    /// `model@region`: the name of this target in health state, logs and `fallback` events.
    pub fn key(&self) -> String {
        format!("{}@{}", self.model, self.region)
    }

    fn with_max_tokens(self, max_tokens: u32) -> Self {
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
/// `Retry-After` of a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitClass {
    pub limit: u32,
    pub period_s: u32,
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

// ---- The JSON form ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    default_route: String,
    routes: BTreeMap<String, RawRoute>,
    #[serde(default)]
    rate_limits: BTreeMap<String, RateLimitClass>,
    #[serde(default)]
    circuit: CircuitPolicy,
    #[serde(default)]
    routing: RoutingPolicy,
    #[serde(default)]
    widget_keys: BTreeMap<String, WidgetKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    #[serde(default)]
    description: String,
    #[serde(default)]
    targets: Option<Vec<Target>>,
    #[serde(default)]
    auto: Option<RawAuto>,
    #[serde(default)]
    retry: Option<RetryPolicy>,
    #[serde(default)]
    timeouts: Option<RawTimeouts>,
    #[serde(default)]
    last_resort: Option<LastResort>,
    #[serde(default)]
    rate_limit: Option<String>,
    #[serde(default)]
    async_invoke: Option<AsyncInvoke>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuto {
    simple: String,
    medium: String,
    complex: String,
    #[serde(default)]
    thresholds: Thresholds,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    #[serde(default)]
    first_byte_ms: Option<u64>,
    #[serde(default)]
    idle_ms: Option<u64>,
}

/// First parts of AWS region names (`us-east-1`, `ap-southeast-2`, `us-gov-west-1`).
const REGION_AREAS: [&str; 10] = ["af", "ap", "ca", "cn", "eu", "il", "me", "mx", "sa", "us"];

/// Checks the shape of an AWS region name, so a typo fails at start rather than as a DNS error
/// on the first request. The list of regions itself is left to AWS.
pub fn check_region(region: &str) -> Result<(), String> {
    let parts: Vec<&str> = region.split('-').collect();
    let known = parts.len() >= 3
        && REGION_AREAS.contains(&parts[0])
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if known {
        Ok(())
    } else {
        Err(format!("unknown region {region:?}"))
    }
}

/// Paths under `/api/` that are not routes.
pub const RESERVED_ROUTE_NAMES: [&str; 5] = ["chat", "routes", "health", "invoke", "jobs"];

fn check_name(name: &str, what: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{what} names must be 1 to 64 characters of a-z, 0-9, '-' and '_'"
        ))
    }
}

/// `s3://bucket[/prefix]`.
fn check_s3_uri(uri: &str) -> Result<(), String> {
    let bucket = uri
        .strip_prefix("s3://")
        .and_then(|rest| rest.split('/').next());
    let valid = bucket.is_some_and(|b| (3..=63).contains(&b.len()))
        && uri.len() <= 1024
        && uri.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(())
    } else {
        Err("must be an s3://bucket/prefix URI".into())
    }
}

fn check_timeout(ms: u64) -> Result<u64, String> {
    if (1..=MAX_TIMEOUT_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!(
            "must be a whole number of milliseconds from 1 to {MAX_TIMEOUT_MS}"
        ))
    }
}

/// `Err` at `path`, for a policy's `check`.
fn at(path: &str, result: Result<(), (&'static str, String)>) -> Result<(), ConfigError> {
    result.map_err(|(field, message)| ConfigError::new(format!("{path}.{field}"), message))
}

fn check_target(target: &Target, path: &str) -> Result<(), ConfigError> {
    let fail = |field: &str, message: String| ConfigError::new(format!("{path}.{field}"), message);
    model_id::check(&target.model).map_err(|m| fail("model", m))?;
    check_region(&target.region).map_err(|m| fail("region", m))?;
    if let Some(max) = target.max_tokens {
        if !(1..=MAX_TOKENS).contains(&max) {
            return Err(fail(
                "max_tokens",
                format!("must be from 1 to {MAX_TOKENS}"),
            ));
        }
    }
    if target
        .temperature
        .is_some_and(|v| !(0.0..=1.0).contains(&v))
    {
        return Err(fail("temperature", "must be from 0 to 1".into()));
    }
    if !(0.0..=1_000.0).contains(&target.cost) {
        return Err(fail("cost", "must be from 0 to 1000".into()));
    }
    Ok(())
}

/// A `ROUTES` document serde refused: a shape error (unknown field, wrong type, missing field)
/// at the path of the value it is about, a syntax error at the document with its position.
fn parse_error(json: &str, error: &serde_json::Error) -> ConfigError {
    let message = error.to_string();
    let path = match error.classify() {
        Category::Data | Category::Syntax => {
            json_path::path_at(json, error.line(), error.column(), &message)
        }
        Category::Eof | Category::Io => String::new(),
    };
    if path.is_empty() {
        ConfigError::new("ROUTES", message)
    } else {
        ConfigError::new(path, message)
    }
}

impl Config {
    /// Parses and validates a `ROUTES` JSON document, with the default timeouts.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        Self::from_json_with(json, Timeouts::default())
    }

    /// Parses and validates a `ROUTES` JSON document; routes without their own timeouts get
    /// `defaults`. Syntax and shape errors name the path too (`routes.a.targets[0]: unknown
    /// field ...`).
    pub fn from_json_with(json: &str, defaults: Timeouts) -> Result<Self, ConfigError> {
        let raw: RawConfig =
            serde_json::from_slice(json.as_bytes()).map_err(|e| parse_error(json, &e))?;
        Self::from_raw(raw, defaults)
    }

    fn from_raw(raw: RawConfig, defaults: Timeouts) -> Result<Self, ConfigError> {
        if raw.routes.is_empty() {
            return Err(ConfigError::new("routes", "must define at least one route"));
        }
        at("circuit", raw.circuit.check())?;
        at("routing", raw.routing.check())?;
        for (name, class) in &raw.rate_limits {
            let path = format!("rate_limits.{name}");
            check_name(name, "rate-limit class").map_err(|m| ConfigError::new(&path, m))?;
            if !(1..=1_000_000).contains(&class.limit) {
                return Err(ConfigError::new(
                    format!("{path}.limit"),
                    "must be from 1 to 1000000",
                ));
            }
            if !RATE_LIMIT_PERIODS.contains(&class.period_s) {
                return Err(ConfigError::new(
                    format!("{path}.period_s"),
                    "must be 10 or 60 (the periods Workers rate limiting supports)",
                ));
            }
        }
        let mut routes = BTreeMap::new();
        let mut auto = None;
        for (name, route) in raw.routes {
            let path = format!("routes.{name}");
            check_name(&name, "route").map_err(|m| ConfigError::new(&path, m))?;
            if RESERVED_ROUTE_NAMES.contains(&name.as_str()) {
                return Err(ConfigError::new(
                    &path,
                    format!("is reserved (/api/{name} is another endpoint)"),
                ));
            }
            if let Some(class) = &route.rate_limit {
                if !raw.rate_limits.contains_key(class) {
                    return Err(ConfigError::new(
                        format!("{path}.rate_limit"),
                        format!(
                            "no rate-limit class is named {class:?} (define it in rate_limits)"
                        ),
                    ));
                }
            }
            match (route.targets, route.auto) {
                (Some(targets), None) => {
                    let chain = Self::chain_route(&path, route.description, targets, defaults)?;
                    let chain = Route {
                        retry: route.retry.unwrap_or_default(),
                        last_resort: route.last_resort,
                        async_invoke: route.async_invoke,
                        rate_limit: route.rate_limit,
                        timeouts: Self::timeouts(&path, route.timeouts, defaults)?,
                        ..chain
                    };
                    at(&format!("{path}.retry"), chain.retry.check())?;
                    if chain
                        .last_resort
                        .as_ref()
                        .is_some_and(|l| l.text().trim().is_empty())
                    {
                        return Err(ConfigError::new(
                            format!("{path}.last_resort"),
                            "must not be empty",
                        ));
                    }
                    if let Some(async_invoke) = &chain.async_invoke {
                        check_s3_uri(&async_invoke.s3_output_uri).map_err(|m| {
                            ConfigError::new(format!("{path}.async_invoke.s3_output_uri"), m)
                        })?;
                    }
                    routes.insert(name, chain);
                }
                (None, Some(tiers)) => {
                    for (field, present) in [
                        ("retry", route.retry.is_some()),
                        ("timeouts", route.timeouts.is_some()),
                        ("last_resort", route.last_resort.is_some()),
                        ("async_invoke", route.async_invoke.is_some()),
                    ] {
                        if present {
                            return Err(ConfigError::new(
                                format!("{path}.{field}"),
                                "not allowed on an auto route: set it on the tier routes",
                            ));
                        }
                    }
                    at(&format!("{path}.auto.thresholds"), tiers.thresholds.check())?;
                    if let Some(AutoRoute { name: other, .. }) = &auto {
                        return Err(ConfigError::new(
                            format!("{path}.auto"),
                            format!("only one auto route is allowed ({other:?} is one)"),
                        ));
                    }
                    auto = Some(AutoRoute {
                        name,
                        description: route.description,
                        simple: tiers.simple,
                        medium: tiers.medium,
                        complex: tiers.complex,
                        thresholds: tiers.thresholds,
                        rate_limit: route.rate_limit,
                    });
                }
                (Some(_), Some(_)) => {
                    return Err(ConfigError::new(
                        path,
                        "has both targets and auto: a route is one or the other",
                    ))
                }
                (None, None) => {
                    return Err(ConfigError::new(
                        path,
                        "needs targets (a chain of models) or auto (tiers)",
                    ))
                }
            }
        }
        if let Some(auto) = &auto {
            for (tier, route) in [
                ("simple", &auto.simple),
                ("medium", &auto.medium),
                ("complex", &auto.complex),
            ] {
                if !routes.contains_key(route) {
                    return Err(ConfigError::new(
                        format!("routes.{}.auto.{tier}", auto.name),
                        format!("no route with targets is named {route:?}"),
                    ));
                }
                if routes.get(route).is_some_and(|r| r.async_invoke.is_some()) {
                    return Err(ConfigError::new(
                        format!("routes.{}.auto.{tier}", auto.name),
                        format!("{route:?} is an async-invoke route (jobs only)"),
                    ));
                }
            }
        }
        let config = Self {
            default_route: raw.default_route,
            routes,
            auto,
            rate_limits: raw.rate_limits,
            circuit: raw.circuit,
            routing: raw.routing,
            widget_keys: raw.widget_keys,
        };
        if config.resolve(Some(&config.default_route)).is_err() {
            return Err(ConfigError::new(
                "default_route",
                format!("no route is named {:?}", config.default_route),
            ));
        }
        if let Ok(Resolved::Chain(_, route)) = config.resolve(Some(&config.default_route)) {
            if route.async_invoke.is_some() {
                return Err(ConfigError::new(
                    "default_route",
                    "must not be an async-invoke route (those are for jobs only)",
                ));
            }
        }
        widget::check_keys(&config)?;
        Ok(config)
    }

    fn chain_route(
        path: &str,
        description: String,
        targets: Vec<Target>,
        defaults: Timeouts,
    ) -> Result<Route, ConfigError> {
        if targets.is_empty() || targets.len() > MAX_TARGETS {
            return Err(ConfigError::new(
                format!("{path}.targets"),
                format!("must list 1 to {MAX_TARGETS} targets"),
            ));
        }
        for (i, target) in targets.iter().enumerate() {
            check_target(target, &format!("{path}.targets[{i}]"))?;
            if targets[..i].iter().any(|t| t.key() == target.key()) {
                return Err(ConfigError::new(
                    format!("{path}.targets[{i}]"),
                    "lists the same model and region twice",
                ));
            }
        }
        Ok(Route {
            description,
            targets,
            retry: RetryPolicy::default(),
            timeouts: defaults,
            last_resort: None,
            rate_limit: None,
            async_invoke: None,
        })
    }

    fn timeouts(
        path: &str,
        raw: Option<RawTimeouts>,
        defaults: Timeouts,
    ) -> Result<Timeouts, ConfigError> {
        let Some(raw) = raw else {
            return Ok(defaults);
        };
        let get = |field: &str, value: Option<u64>, default: u64| {
            value
                .map(check_timeout)
                .unwrap_or(Ok(default))
                .map_err(|m| ConfigError::new(format!("{path}.timeouts.{field}"), m))
        };
        Ok(Timeouts {
            first_byte_ms: get("first_byte_ms", raw.first_byte_ms, defaults.first_byte_ms)?,
            idle_ms: get("idle_ms", raw.idle_ms, defaults.idle_ms)?,
        })
    }

    /// The built-in routes around `region`, with the default timeouts.
    pub fn builtin(region: &str) -> Self {
        Self::builtin_with(region, Timeouts::default())
    }

    /// The built-in routes: `classify` on Claude Haiku, `generate` on Claude Sonnet (falling
    /// back to Haiku), `analyze` on Claude Opus (falling back to Sonnet), each first through
    /// the geography's cross-region inference profile in `region`, then in a second region of
    /// the same geography; and `auto`, which picks one of the three by content. The widget key
    /// [`DEMO_WIDGET_KEY`] opens `generate` to the local example page.
    pub fn builtin_with(region: &str, timeouts: Timeouts) -> Self {
        let (prefix, second) = geography(region);
        let model = |name: &str| format!("{prefix}anthropic.{name}");
        let haiku = model("claude-3-5-haiku-20241022-v1:0");
        let sonnet = model("claude-sonnet-4-20250514-v1:0");
        let opus = model("claude-opus-4-20250514-v1:0");
        let both_regions = |model: &str, max_tokens: u32| {
            let mut chain = vec![Target::new(model, region).with_max_tokens(max_tokens)];
            if let Some(second) = second {
                chain.push(Target::new(model, second).with_max_tokens(max_tokens));
            }
            chain
        };
        let busy = LastResort::Message(
            "The assistant is very busy right now and could not answer. Please try again in a minute."
                .into(),
        );
        let route = |description: &str, targets: Vec<Target>, class: &str| Route {
            description: description.into(),
            targets,
            retry: RetryPolicy::default(),
            timeouts,
            last_resort: Some(busy.clone()),
            rate_limit: Some(class.into()),
            async_invoke: None,
        };
        let mut generate = both_regions(&sonnet, 4096);
        generate.push(Target::new(&haiku, region).with_max_tokens(4096));
        let mut analyze = both_regions(&opus, 8192);
        analyze.push(Target::new(&sonnet, region).with_max_tokens(8192));
        Self {
            default_route: "generate".into(),
            routes: BTreeMap::from([
                (
                    "classify".into(),
                    route(
                        "Fast and cheap: short answers, labels, extraction.",
                        both_regions(&haiku, 1024),
                        "chat",
                    ),
                ),
                (
                    "generate".into(),
                    route(
                        "Balanced: writing and everyday questions.",
                        generate,
                        "chat",
                    ),
                ),
                (
                    "analyze".into(),
                    route(
                        "Most capable: long documents and careful reasoning.",
                        analyze,
                        "heavy",
                    ),
                ),
            ]),
            auto: Some(AutoRoute {
                name: "auto".into(),
                description: "Picks classify, generate or analyze from the conversation.".into(),
                simple: "classify".into(),
                medium: "generate".into(),
                complex: "analyze".into(),
                thresholds: Thresholds::default(),
                rate_limit: Some("chat".into()),
            }),
            rate_limits: BTreeMap::from([
                (
                    "chat".into(),
                    RateLimitClass {
                        limit: 60,
                        period_s: 60,
                    },
                ),
                (
                    "heavy".into(),
                    RateLimitClass {
                        limit: 20,
                        period_s: 60,
                    },
                ),
                (
                    "widget".into(),
                    RateLimitClass {
                        limit: 20,
                        period_s: 60,
                    },
                ),
                (
                    "widget-key".into(),
                    RateLimitClass {
                        limit: 600,
                        period_s: 60,
                    },
                ),
            ]),
            circuit: CircuitPolicy::default(),
            routing: RoutingPolicy::default(),
            widget_keys: BTreeMap::from([(
                DEMO_WIDGET_KEY.into(),
                WidgetKey {
                    origins: vec![
                        "http://127.0.0.1:8789".into(),
                        "http://localhost:8789".into(),
                    ],
                    routes: vec!["generate".into()],
                    rate_limit: Some("widget".into()),
                    key_rate_limit: Some("widget-key".into()),
                },
            )]),
        }
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
                model: route.primary().model.clone(),
                region: route.primary().region.clone(),
                targets: route
                    .targets
                    .iter()
                    .map(|t| TargetInfo {
                        model: t.model.clone(),
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

/// The cross-region inference-profile prefix of `region`'s geography and a second region of
/// it; no prefix and no second region where this table does not know the geography.
fn geography(region: &str) -> (&'static str, Option<&'static str>) {
    const PAIRS: [(&str, &str, &str); 8] = [
        ("us-east-1", "us.", "us-west-2"),
        ("us-east-2", "us.", "us-east-1"),
        ("us-west-2", "us.", "us-east-1"),
        ("eu-west-1", "eu.", "eu-central-1"),
        ("eu-central-1", "eu.", "eu-west-1"),
        ("eu-west-3", "eu.", "eu-central-1"),
        ("ap-northeast-1", "apac.", "ap-southeast-2"),
        ("ap-southeast-2", "apac.", "ap-northeast-1"),
    ];
    PAIRS
        .iter()
        .find(|(r, _, _)| *r == region)
        .map(|(_, prefix, second)| (*prefix, Some(*second)))
        .unwrap_or(("", None))
}

#[cfg(test)]
mod tests;
