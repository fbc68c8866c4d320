//! The embeddable widget's keys (`widget_keys` in the route table): public, origin-bound keys,
//! each opening some routes under its rate-limit classes. Their shape and start-up checks; who
//! may use them is decided in `http::widget`.

use super::{Config, ConfigError};
use serde::Deserialize;

/// One widget key: where it may be embedded or called from, which routes it opens, and its
/// rate limits. Keys are public; the origins are what binds them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetKey {
    /// Exact origins (`https://www.example.com`, `http://127.0.0.1:8789`); no wildcards.
    pub origins: Vec<String>,
    /// Routes the widget may use (the first is its default).
    pub routes: Vec<String>,
    /// Rate-limit class counted per visitor (per IP) of this key.
    #[serde(default)]
    pub rate_limit: Option<String>,
    /// Rate-limit class counted for every visitor of this key together.
    #[serde(default)]
    pub key_rate_limit: Option<String>,
}

impl WidgetKey {
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
    }
}

/// Checks a key's name: `pk_` and 4 to 64 characters of A-Z, a-z, 0-9, `_` and `-`.
fn check_key_name(name: &str) -> Result<(), String> {
    let rest = name.strip_prefix("pk_").unwrap_or_default();
    let valid = (4..=64).contains(&rest.len())
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(
            r#"widget keys must be "pk_" and 4 to 64 characters of A-Z, a-z, 0-9, '_' and '-'"#
                .into(),
        )
    }
}

/// Checks that `origin` is a serialised web origin: `http` or `https`, a lowercase host, an
/// optional port, and nothing else (no path, no trailing slash, no wildcard, no IPv6 literal).
pub fn check_origin(origin: &str) -> Result<(), String> {
    let fail = || {
        Err(format!(
            "{origin:?} is not an origin: write scheme, host and optional port, like \
             \"https://www.example.com\" or \"http://127.0.0.1:8789\" (no path, no wildcard, no default port such as :443)"
        ))
    };
    let Some((scheme, rest)) = origin.split_once("://") else {
        return fail();
    };
    if scheme != "http" && scheme != "https" {
        return fail();
    }
    // IPv6 literals are not accepted: list a host name instead.
    let (host, port) = match rest.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-'))
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    // Browsers serialise an origin without its scheme's default port: `https://a:443` would
    // never match the `Origin` they send.
    let default_port = if scheme == "https" { "443" } else { "80" };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && !p.starts_with('0')
            && p != default_port
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    });
    if host_ok && port_ok {
        Ok(())
    } else {
        fail()
    }
}

/// Validates `config.widget_keys` against its routes and rate-limit classes; errors name the
/// path (`widget_keys.pk_site.origins[1]: ...`).
pub fn check_keys(config: &Config) -> Result<(), ConfigError> {
    for (name, key) in &config.widget_keys {
        let path = format!("widget_keys.{name}");
        check_key_name(name).map_err(|m| ConfigError::new(&path, m))?;
        if key.origins.is_empty() {
            return Err(ConfigError::new(
                format!("{path}.origins"),
                "must list at least one origin",
            ));
        }
        for (i, origin) in key.origins.iter().enumerate() {
            let at = format!("{path}.origins[{i}]");
            check_origin(origin).map_err(|m| ConfigError::new(&at, m))?;
            if key.origins[..i].contains(origin) {
                return Err(ConfigError::new(at, "lists the same origin twice"));
            }
        }
        if key.routes.is_empty() {
            return Err(ConfigError::new(
                format!("{path}.routes"),
                "must list at least one route",
            ));
        }
        for (i, route) in key.routes.iter().enumerate() {
            config
                .resolve(Some(route))
                .map_err(|m| ConfigError::new(format!("{path}.routes[{i}]"), m))?;
        }
        for (field, class) in [
            ("rate_limit", &key.rate_limit),
            ("key_rate_limit", &key.key_rate_limit),
        ] {
            if let Some(class) = class {
                if !config.rate_limits.contains_key(class) {
                    return Err(ConfigError::new(
                        format!("{path}.{field}"),
                        format!(
                            "no rate-limit class is named {class:?} (define it in rate_limits)"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
