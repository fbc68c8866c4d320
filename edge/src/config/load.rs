//! Parsing and validating a `ROUTES` document into a [`Config`]: every error names its path.

use super::{
    json_path,
    limits::{check_model_id, MAX_TOKENS},
    policy::RetryPolicy,
    raw::{RawConfig, RawTimeouts},
    widget_keys, AutoRoute, Config, ConfigError, Resolved, Route, Target, Timeouts, TokenBudget,
    MAX_TARGETS, MAX_TIMEOUT_MS, RATE_LIMIT_PERIODS,
};
use serde_json::error::Category;
use std::collections::BTreeMap;

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
    check_model_id(&target.model).map_err(|m| fail("model", m))?;
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
        if let Some(budget) = raw.token_budget {
            if budget.tokens == 0 {
                return Err(ConfigError::new(
                    "token_budget.tokens",
                    "must be at least 1",
                ));
            }
            if !(60..=TokenBudget::MAX_PERIOD_S).contains(&budget.period_s) {
                return Err(ConfigError::new(
                    "token_budget.period_s",
                    format!("must be from 60 to {} (31 days)", TokenBudget::MAX_PERIOD_S),
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
                        prompt_caching: route.prompt_caching,
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
                        ("prompt_caching", route.prompt_caching),
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
            token_budget: raw.token_budget,
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
        widget_keys::check_keys(&config)?;
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
            prompt_caching: false,
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
}
