//! The edge's runtime settings, read once from the Worker's variables and secrets: Bedrock
//! credentials, an optional endpoint override, the route table, the default upstream
//! timeouts (for routes that set none of their own) and the secret that signs widget tokens.

use crate::config::{
    access::Access,
    host::{authority_host, is_loopback},
    limits::{BODY_LIMIT_RANGE, MAX_BODY_BYTES},
    load::check_region,
    secret::{Credentials, Secret},
    Config, ConfigError, Timeouts,
};

pub use crate::config::{DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS};
/// Region of the built-in routes when `AWS_REGION` is unset.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The shortest `WIDGET_TOKEN_SECRET` accepted: 32 characters (`openssl rand -base64 32`
/// writes 44).
pub const MIN_TOKEN_SECRET_LEN: usize = 32;

#[derive(Debug, Clone)]
pub struct Settings {
    pub credentials: Credentials,
    /// Base URL used for every region instead of `https://bedrock-runtime.{region}.amazonaws.com`
    /// (a fake Bedrock, a proxy). No trailing slash.
    pub endpoint: Option<String>,
    /// The route table; each route carries its timeouts (`UPSTREAM_*_TIMEOUT_MS` are the
    /// defaults of routes that set none).
    pub config: Config,
    /// Signs and checks widget tokens (`WIDGET_TOKEN_SECRET`); always set when the route table
    /// has widget keys.
    pub widget_token_secret: Option<Secret>,
    /// Who may use the chat API (`ACCESS_MODE` and its settings).
    pub access: Access,
    /// The largest request body, in bytes (`MAX_REQUEST_BYTES`, default 10 MiB).
    pub max_body_bytes: usize,
}

impl Settings {
    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
    /// `AWS_BEARER_TOKEN_BEDROCK`, `BEDROCK_ENDPOINT`, `AWS_REGION`, `ROUTES`,
    /// `UPSTREAM_FIRST_BYTE_TIMEOUT_MS` and `UPSTREAM_IDLE_TIMEOUT_MS` (the timeouts of routes
    /// that set none), `MAX_REQUEST_BYTES`, `WIDGET_TOKEN_SECRET` (required when there are
    /// widget keys) and the access mode ([`Access::from_lookup`]) through `get`. Empty values count as unset. Errors name the variable, never its value.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).filter(|value| !value.trim().is_empty());
        let credentials = credentials(&get)?;
        let endpoint = get("BEDROCK_ENDPOINT")
            .map(|url| {
                let url = url.trim().trim_end_matches('/').to_owned();
                let fail = |message| Err(ConfigError::new("BEDROCK_ENDPOINT", message));
                match url.split_once("://") {
                    Some(("https", _)) => Ok(url),
                    Some(("http", rest)) if is_loopback(authority_host(rest)) => Ok(url),
                    Some(("http", _)) => {
                        fail("http:// is only for a loopback host (a local fake); use https://")
                    }
                    _ => fail("must be an http:// or https:// base URL"),
                }
            })
            .transpose()?;
        let defaults = Timeouts {
            first_byte_ms: timeout(&get, "UPSTREAM_FIRST_BYTE_TIMEOUT_MS")?,
            idle_ms: timeout(&get, "UPSTREAM_IDLE_TIMEOUT_MS")?,
        };
        let config = match get("ROUTES") {
            Some(json) => Config::from_json_with(&json, defaults).map_err(|e| {
                if e.path == "ROUTES" {
                    e
                } else {
                    ConfigError::new("ROUTES", e.to_string())
                }
            })?,
            None => {
                let region = get("AWS_REGION").unwrap_or_else(|| DEFAULT_REGION.into());
                check_region(&region).map_err(|m| ConfigError::new("AWS_REGION", m))?;
                Config::builtin_with(&region, defaults)
            }
        };
        let widget_token_secret = widget_token_secret(&get, &config)?;
        Ok(Self {
            credentials,
            endpoint,
            config,
            widget_token_secret,
            access: Access::from_lookup(&get)?,
            max_body_bytes: body_limit(&get)?,
        })
    }

    /// Base URL of Bedrock Runtime for `region`.
    pub fn base_url(&self, region: &str) -> String {
        match &self.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => format!("https://bedrock-runtime.{region}.amazonaws.com"),
        }
    }
}

fn credentials(get: &impl Fn(&str) -> Option<String>) -> Result<Credentials, ConfigError> {
    if let Some(access_key_id) = get("AWS_ACCESS_KEY_ID") {
        let secret_access_key = get("AWS_SECRET_ACCESS_KEY").ok_or_else(|| {
            ConfigError::new(
                "AWS_SECRET_ACCESS_KEY",
                "not set (it is required with AWS_ACCESS_KEY_ID)",
            )
        })?;
        return Ok(Credentials::SigV4 {
            access_key_id: access_key_id.trim().to_owned(),
            secret_access_key: Secret::new(secret_access_key.trim()),
            session_token: get("AWS_SESSION_TOKEN").map(|t| Secret::new(t.trim())),
        });
    }
    match get("AWS_BEARER_TOKEN_BEDROCK") {
        Some(key) => Ok(Credentials::Bearer(Secret::new(key.trim()))),
        None => Err(ConfigError::new(
            "AWS_ACCESS_KEY_ID",
            "not set; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_BEARER_TOKEN_BEDROCK)",
        )),
    }
}

/// `WIDGET_TOKEN_SECRET`: required as soon as the route table has a widget key (the built-in
/// table has one), at least [`MIN_TOKEN_SECRET_LEN`] characters.
fn widget_token_secret(
    get: &impl Fn(&str) -> Option<String>,
    config: &Config,
) -> Result<Option<Secret>, ConfigError> {
    const NAME: &str = "WIDGET_TOKEN_SECRET";
    let Some(secret) = get(NAME) else {
        if config.widget_keys.is_empty() {
            return Ok(None);
        }
        return Err(ConfigError::new(
            NAME,
            "not set; the route table has widget keys (widget_keys), whose tokens it signs: \
             set it with `wrangler secret put WIDGET_TOKEN_SECRET` (a random string of at \
             least 32 characters, e.g. from `openssl rand -base64 32`)",
        ));
    };
    let secret = secret.trim();
    if secret.chars().count() < MIN_TOKEN_SECRET_LEN {
        return Err(ConfigError::new(
            NAME,
            format!("must be at least {MIN_TOKEN_SECRET_LEN} characters (e.g. from `openssl rand -base64 32`)"),
        ));
    }
    Ok(Some(Secret::new(secret)))
}

/// `MAX_REQUEST_BYTES`: whole bytes within [`BODY_LIMIT_RANGE`].
fn body_limit(get: &impl Fn(&str) -> Option<String>) -> Result<usize, ConfigError> {
    let Some(value) = get("MAX_REQUEST_BYTES") else {
        return Ok(MAX_BODY_BYTES);
    };
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|bytes| BODY_LIMIT_RANGE.contains(bytes))
        .ok_or_else(|| {
            ConfigError::new(
                "MAX_REQUEST_BYTES",
                format!(
                    "must be a whole number of bytes from {} to {}",
                    BODY_LIMIT_RANGE.start(),
                    BODY_LIMIT_RANGE.end()
                ),
            )
        })
}

fn timeout(get: &impl Fn(&str) -> Option<String>, name: &str) -> Result<u64, ConfigError> {
    let Some(value) = get(name) else {
        return Ok(DEFAULT_TIMEOUT_MS);
    };
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|ms| (1..=MAX_TIMEOUT_MS).contains(ms))
        .ok_or_else(|| {
            ConfigError::new(
                name,
                format!("must be a whole number of milliseconds from 1 to {MAX_TIMEOUT_MS}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn loopback_is_this_machine_by_address_not_by_name_prefix() {
        for host in ["localhost", "127.0.0.1", "127.1.2.3", "[::1]", "LOCALHOST"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "127.attacker.example",
            "127.0.0.1.example",
            "128.0.0.1",
            "127.0.0.256",
            "",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
        assert_eq!(authority_host("127.0.0.1:8788/x"), "127.0.0.1");
        assert_eq!(authority_host("[::1]:8788"), "[::1]");
        assert_eq!(authority_host("bedrock.example.com"), "bedrock.example.com");
    }

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    const TOKEN_SECRET: &str = "test-widget-token-secret-0123456789";
    const KEYS: [(&str, &str); 3] = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
        ("WIDGET_TOKEN_SECRET", TOKEN_SECRET),
    ];

    #[test]
    fn defaults_with_access_keys() {
        let s = settings(&KEYS).unwrap();
        assert_eq!(
            s.credentials,
            Credentials::SigV4 {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: Secret::new("wJalrXUtnFEMI"),
                session_token: None,
            }
        );
        assert_eq!(s.endpoint, None);
        assert_eq!(
            s.base_url("us-east-1"),
            "https://bedrock-runtime.us-east-1.amazonaws.com"
        );
        assert_eq!(s.config, Config::builtin("us-east-1"));
        assert_eq!(s.config.routes["generate"].timeouts, Timeouts::default());
        assert_eq!(
            s.widget_token_secret.as_ref().map(Secret::expose),
            Some(TOKEN_SECRET)
        );
        assert!(!format!("{s:?}").contains("wJalr"));
        assert!(!format!("{s:?}").contains(TOKEN_SECRET));
    }

    #[test]
    fn the_token_secret_is_required_with_widget_keys_only() {
        let without = &KEYS[..2];
        // The built-in table has the demo widget key.
        assert_eq!(
            settings(without).unwrap_err().path,
            "WIDGET_TOKEN_SECRET",
            "built-in routes"
        );
        let routes = r#"{"default_route":"a","routes":{"a":{"targets":[{"model":"m.x","region":"us-east-1"}]}}}"#;
        let plain = settings(&[without, &[("ROUTES", routes)]].concat()).unwrap();
        assert_eq!(
            plain.widget_token_secret, None,
            "no widget keys, no secret needed"
        );
        let short = settings(&[without, &[("WIDGET_TOKEN_SECRET", "short")]].concat());
        let error = short.unwrap_err().to_string();
        assert_eq!(
            error,
            "WIDGET_TOKEN_SECRET: must be at least 32 characters (e.g. from `openssl rand -base64 32`)"
        );
        assert!(!error.contains("short"));
    }

    #[test]
    fn every_variable_is_read() {
        let mut vars = KEYS.to_vec();
        vars.extend([
            ("AWS_SESSION_TOKEN", "TOKEN"),
            ("AWS_BEARER_TOKEN_BEDROCK", "ignored when keys are set"),
            ("BEDROCK_ENDPOINT", "http://127.0.0.1:8788/"),
            ("AWS_REGION", "eu-west-1"),
            ("UPSTREAM_FIRST_BYTE_TIMEOUT_MS", "1500"),
            ("UPSTREAM_IDLE_TIMEOUT_MS", "2500"),
            ("MAX_REQUEST_BYTES", "65536"),
        ]);
        let s = settings(&vars).unwrap();
        assert_eq!(s.max_body_bytes, 65_536);
        assert!(matches!(
            &s.credentials,
            Credentials::SigV4 { session_token: Some(t), .. } if t.expose() == "TOKEN"
        ));
        assert_eq!(s.base_url("eu-west-1"), "http://127.0.0.1:8788");
        let timeouts = Timeouts {
            first_byte_ms: 1500,
            idle_ms: 2500,
        };
        assert_eq!(s.config, Config::builtin_with("eu-west-1", timeouts));
        vars.push((
            "ROUTES",
            r#"{"default_route":"a","routes":{"a":{"targets":[{"model":"m.x","region":"ap-south-1"}],"timeouts":{"idle_ms":9}}}}"#,
        ));
        let s = settings(&vars).unwrap();
        let route = s.config.route(None).unwrap().1;
        assert_eq!(route.targets[0].region, "ap-south-1");
        assert_eq!(
            route.timeouts,
            Timeouts {
                first_byte_ms: 1500,
                idle_ms: 9
            }
        );
    }

    #[test]
    fn a_bearer_token_is_used_without_access_keys() {
        let s = settings(&[
            ("AWS_BEARER_TOKEN_BEDROCK", "ABSKkey"),
            ("AWS_ACCESS_KEY_ID", ""),
            ("WIDGET_TOKEN_SECRET", TOKEN_SECRET),
        ])
        .unwrap();
        assert_eq!(s.credentials, Credentials::Bearer(Secret::new("ABSKkey")));
    }

    #[test]
    fn errors_name_the_variable_and_not_its_value() {
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![], "AWS_ACCESS_KEY_ID: not set; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_BEARER_TOKEN_BEDROCK)"),
            (
                vec![("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")],
                "AWS_SECRET_ACCESS_KEY: not set (it is required with AWS_ACCESS_KEY_ID)",
            ),
            (
                [KEYS.as_slice(), &[("BEDROCK_ENDPOINT", "127.0.0.1:8788")]].concat(),
                "BEDROCK_ENDPOINT: must be an http:// or https:// base URL",
            ),
            (
                [KEYS.as_slice(), &[("BEDROCK_ENDPOINT", "http://bedrock.example.com")]].concat(),
                "BEDROCK_ENDPOINT: http:// is only for a loopback host (a local fake); use https://",
            ),
            (
                [KEYS.as_slice(), &[("BEDROCK_ENDPOINT", "http://127.attacker.example:8788")]].concat(),
                "BEDROCK_ENDPOINT: http:// is only for a loopback host (a local fake); use https://",
            ),
            (
                [KEYS.as_slice(), &[("AWS_REGION", "mars-1")]].concat(),
                r#"AWS_REGION: unknown region "mars-1""#,
            ),
            (
                [KEYS.as_slice(), &[("UPSTREAM_IDLE_TIMEOUT_MS", "soon")]].concat(),
                "UPSTREAM_IDLE_TIMEOUT_MS: must be a whole number of milliseconds from 1 to 600000",
            ),
            (
                [KEYS.as_slice(), &[("MAX_REQUEST_BYTES", "100")]].concat(),
                "MAX_REQUEST_BYTES: must be a whole number of bytes from 65536 to 33554432",
            ),
            (
                [KEYS.as_slice(), &[("UPSTREAM_FIRST_BYTE_TIMEOUT_MS", "0")]].concat(),
                "UPSTREAM_FIRST_BYTE_TIMEOUT_MS: must be a whole number of milliseconds from 1 to 600000",
            ),
            (
                [KEYS.as_slice(), &[("ROUTES", r#"{"default_route":"a","routes":{"a":{"targets":[{"model":"m","region":"mars-1"}]}}}"#)]].concat(),
                r#"ROUTES: routes.a.targets[0].region: unknown region "mars-1""#,
            ),
            (
                KEYS[..2].to_vec(),
                "WIDGET_TOKEN_SECRET: not set; the route table has widget keys (widget_keys), whose tokens it signs: set it with `wrangler secret put WIDGET_TOKEN_SECRET` (a random string of at least 32 characters, e.g. from `openssl rand -base64 32`)",
            ),
            (
                [KEYS.as_slice(), &[("ROUTES", r#"{"default_route":"a","routes":{"a":{"target":{}}}}"#)]].concat(),
                "ROUTES: routes.a.target: unknown field `target`, expected one of `description`, `targets`, `auto`, `retry`, `timeouts`, `last_resort`, `rate_limit`, `async_invoke`, `prompt_caching` at line 1 column 44",
            ),
        ];
        for (vars, expected) in cases {
            let error = settings(&vars).unwrap_err().to_string();
            assert_eq!(error, expected);
            assert!(!error.contains("wJalr"));
        }
    }
}
