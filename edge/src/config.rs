//! The route table: which named routes a client may ask for and the Bedrock model and region
//! behind each. Parsed strictly from the `ROUTES` JSON, or built in; errors name the path.

use crate::model_id;
use serde::Deserialize;
use std::collections::BTreeMap;
use thiserror::Error;

/// A configuration problem: `path` is a setting (`ROUTES`, `AWS_REGION`) or a path inside one
/// (`routes.generate.target.region`). Never carries a secret.
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

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The route used when a request names none.
    pub default_route: String,
    pub routes: BTreeMap<String, Route>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub description: String,
    pub target: Target,
}

/// Where a route's requests go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Model id, inference-profile id or ARN.
    pub model: String,
    /// Bedrock Runtime region (also the SigV4 signing region).
    pub region: String,
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

fn check_route_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err("route names must be 1 to 64 characters of a-z, 0-9, '-' and '_'".into())
    }
}

impl Config {
    /// The built-in routes, all in `region`.
    pub fn builtin(region: &str) -> Self {
        let route = |description: &str, model: &str| Route {
            description: description.into(),
            target: Target {
                model: model.into(),
                region: region.into(),
            },
        };
        Self {
            default_route: "generate".into(),
            routes: BTreeMap::from([
                (
                    "classify".into(),
                    route(
                        "Fast and cheap: short answers, labels, extraction.",
                        "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                    ),
                ),
                (
                    "generate".into(),
                    route(
                        "Balanced: writing and everyday questions.",
                        "us.anthropic.claude-sonnet-4-20250514-v1:0",
                    ),
                ),
                (
                    "analyze".into(),
                    route(
                        "Most capable: long documents and careful reasoning.",
                        "us.anthropic.claude-opus-4-20250514-v1:0",
                    ),
                ),
            ]),
        }
    }

    /// Parses and validates a `ROUTES` JSON document.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let config: Self =
            serde_json::from_str(json).map_err(|e| ConfigError::new("ROUTES", e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Every route well formed, and the default one defined.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.routes.is_empty() {
            return Err(ConfigError::new("routes", "must define at least one route"));
        }
        for (name, route) in &self.routes {
            check_route_name(name).map_err(|m| ConfigError::new(format!("routes.{name}"), m))?;
            let path = format!("routes.{name}.target");
            model_id::check(&route.target.model)
                .map_err(|m| ConfigError::new(format!("{path}.model"), m))?;
            check_region(&route.target.region)
                .map_err(|m| ConfigError::new(format!("{path}.region"), m))?;
        }
        if !self.routes.contains_key(&self.default_route) {
            return Err(ConfigError::new(
                "default_route",
                format!("no route is named {:?}", self.default_route),
            ));
        }
        Ok(())
    }

    /// The route `name`, or the default when `None`. `Err` names the available routes.
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_routes_are_valid() {
        let config = Config::builtin("us-east-1");
        assert_eq!(config.validate(), Ok(()));
        let (name, route) = config.route(None).unwrap();
        assert_eq!(name, "generate");
        assert_eq!(
            route.target.model,
            "us.anthropic.claude-sonnet-4-20250514-v1:0"
        );
        assert_eq!(
            config.route(Some("classify")).unwrap().1.target.model,
            "us.anthropic.claude-3-5-haiku-20241022-v1:0"
        );
        assert_eq!(
            config.route(Some("analyze")).unwrap().1.target.model,
            "us.anthropic.claude-opus-4-20250514-v1:0"
        );
        assert_eq!(
            config.route(Some("gpt")).unwrap_err(),
            r#"unknown route "gpt"; available routes: analyze, classify, generate"#
        );
    }

    #[test]
    fn json_routes_parse() {
        let config = Config::from_json(
            r#"{"default_route":"fast","routes":{"fast":{"description":"d","target":{"model":"arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abcdefghijkl","region":"eu-west-1"}}}}"#,
        )
        .unwrap();
        assert_eq!(config.route(None).unwrap().1.target.region, "eu-west-1");
    }

    #[test]
    fn errors_name_the_path() {
        let generate = |target: &str| {
            format!(
                r#"{{"default_route":"generate","routes":{{"generate":{{"description":"d","target":{target}}}}}}}"#
            )
        };
        let cases = [
            (
                generate(r#"{"model":"m","region":"mars-1"}"#),
                r#"routes.generate.target.region: unknown region "mars-1""#,
            ),
            (
                generate(r#"{"model":"","region":"us-east-1"}"#),
                "routes.generate.target.model: must not be empty",
            ),
            (
                r#"{"default_route":"x","routes":{"generate":{"description":"d","target":{"model":"m","region":"us-east-1"}}}}"#.into(),
                r#"default_route: no route is named "x""#,
            ),
            (
                r#"{"default_route":"x","routes":{}}"#.into(),
                "routes: must define at least one route",
            ),
            (
                r#"{"default_route":"Bad Name","routes":{"Bad Name":{"description":"d","target":{"model":"m","region":"us-east-1"}}}}"#.into(),
                "routes.Bad Name: route names must be 1 to 64 characters of a-z, 0-9, '-' and '_'",
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(Config::from_json(&json).unwrap_err().to_string(), expected);
        }
        let unknown = Config::from_json(&generate(
            r#"{"model":"m","region":"us-east-1","temperature":1}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(
            unknown.starts_with("ROUTES: unknown field `temperature`"),
            "{unknown}"
        );
    }

    #[test]
    fn region_shapes() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "ap-southeast-4",
            "us-gov-west-1",
            "cn-north-1",
        ] {
            assert_eq!(check_region(ok), Ok(()), "{ok}");
        }
        for bad in [
            "mars-1",
            "",
            "us-east",
            "US-EAST-1",
            "us--1",
            "xx-east-1",
            "us-east-1a",
        ] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
    }
}
