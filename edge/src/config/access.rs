//! Who may use the chat API, chosen by the owner (`ACCESS_MODE`):
//!
//! * `public`: anyone who reaches the edge; each client is its network, bounded by the rate
//!   limits and the token budget. What `scripts/dev` and the tests run.
//! * `cloudflare_access`: Cloudflare Access stands in front of the edge and signs each request
//!   it lets through (`Cf-Access-Jwt-Assertion`, RS256); the edge verifies that token against
//!   the team's published keys (`ACCESS_TEAM_DOMAIN`) and its application audience
//!   (`ACCESS_AUD`), and each client is the person it names.
//! * `api_keys`: only callers with a key of `API_KEYS` (a secret: `name:key` pairs, comma
//!   separated; `Authorization: Bearer <key>` or `X-API-Key`); each client is its key's name.
//!
//! Widget keys keep their own rules in every mode: a key's listed sites reach its routes.

use super::{
    host::{authority_host, is_loopback},
    secret::Secret,
    ConfigError,
};
use sha2::{Digest, Sha256};

/// Shortest API key: 128 bits of base64 or hex.
pub const MIN_API_KEY_LEN: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Access {
    #[default]
    Public,
    CloudflareAccess {
        /// `https://<team>.cloudflareaccess.com`: the tokens' issuer; its keys are at
        /// `<team>/cdn-cgi/access/certs`.
        team_url: String,
        /// The Access application's audience tag (`aud`).
        audience: String,
    },
    ApiKeys(Vec<ApiKey>),
}

/// One API key: its name (what logs and limits see) and the SHA-256 of the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub name: String,
    pub digest: [u8; 32],
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey({})", self.name)
    }
}

impl Access {
    /// Reads `ACCESS_MODE` (default `public`), and with it `ACCESS_TEAM_DOMAIN` and
    /// `ACCESS_AUD`, or `API_KEYS`. Errors name the variable, never a key.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mode = get("ACCESS_MODE").map(|m| m.trim().to_owned());
        match mode.as_deref() {
            None | Some("public") => Ok(Self::Public),
            Some("cloudflare_access") => {
                let required = |name: &str| {
                    get(name)
                        .map(|v| v.trim().to_owned())
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| {
                            ConfigError::new(name, "not set (ACCESS_MODE is cloudflare_access)")
                        })
                };
                let domain = required("ACCESS_TEAM_DOMAIN")?;
                Ok(Self::CloudflareAccess {
                    team_url: team_url(&domain)?,
                    audience: required("ACCESS_AUD")?,
                })
            }
            Some("api_keys") => {
                let keys = get("API_KEYS").ok_or_else(|| {
                    ConfigError::new("API_KEYS", "not set (ACCESS_MODE is api_keys)")
                })?;
                Ok(Self::ApiKeys(api_keys(&keys)?))
            }
            Some(_) => Err(ConfigError::new(
                "ACCESS_MODE",
                "must be public, cloudflare_access or api_keys (who may use the chat API; see \
                 the README's \"Who may use the API\")",
            )),
        }
    }
}

/// `ACCESS_TEAM_DOMAIN` (`myteam.cloudflareaccess.com`, with or without `https://`) as the
/// issuer URL; plain http only to a loopback host (a local stand-in in tests).
fn team_url(domain: &str) -> Result<String, ConfigError> {
    let domain = domain.trim_end_matches('/');
    let fail = |message: &str| Err(ConfigError::new("ACCESS_TEAM_DOMAIN", message));
    match domain.split_once("://") {
        None if !domain.is_empty() && !domain.contains(['/', '?', '#', '@']) => {
            Ok(format!("https://{domain}"))
        }
        Some(("https", rest)) if !rest.contains(['/', '?', '#', '@']) => Ok(domain.to_owned()),
        Some(("http", rest)) if is_loopback(authority_host(rest)) => Ok(domain.to_owned()),
        _ => fail("must be the team's domain, e.g. myteam.cloudflareaccess.com"),
    }
}

/// `API_KEYS`: `name:key` pairs, comma separated.
fn api_keys(value: &str) -> Result<Vec<ApiKey>, ConfigError> {
    let mut keys: Vec<ApiKey> = Vec::new();
    for (i, pair) in value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        let fail = |message: String| ConfigError::new(format!("API_KEYS[{i}]"), message);
        let (name, key) = pair
            .split_once(':')
            .ok_or_else(|| fail("must be name:key".into()))?;
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_name {
            return Err(fail(
                "the name must be 1 to 64 of A-Z, a-z, 0-9, '-', '_'".into(),
            ));
        }
        let key = Secret::new(key.trim());
        if key.expose().len() < MIN_API_KEY_LEN {
            return Err(fail(format!(
                "the key of {name:?} must be at least {MIN_API_KEY_LEN} characters"
            )));
        }
        if keys.iter().any(|k| k.name == name) {
            return Err(fail(format!("{name:?} is listed twice")));
        }
        keys.push(ApiKey {
            name: name.to_owned(),
            digest: Sha256::digest(key.expose().as_bytes()).into(),
        });
    }
    if keys.is_empty() {
        return Err(ConfigError::new("API_KEYS", "lists no key"));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Access, ConfigError> {
        Access::from_lookup(&|name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_mode_is_a_choice_and_each_needs_its_settings() {
        assert_eq!(read(&[]), Ok(Access::Public));
        let unchosen = read(&[(
            "ACCESS_MODE",
            "choose: public | cloudflare_access | api_keys",
        )]);
        assert_eq!(unchosen.unwrap_err().path, "ACCESS_MODE");
        assert_eq!(
            read(&[("ACCESS_MODE", "cloudflare_access")])
                .unwrap_err()
                .path,
            "ACCESS_TEAM_DOMAIN"
        );
        let access = read(&[
            ("ACCESS_MODE", "cloudflare_access"),
            ("ACCESS_TEAM_DOMAIN", "acme.cloudflareaccess.com"),
            ("ACCESS_AUD", "aud-tag"),
        ]);
        assert_eq!(
            access,
            Ok(Access::CloudflareAccess {
                team_url: "https://acme.cloudflareaccess.com".into(),
                audience: "aud-tag".into(),
            })
        );
        for bad in [
            "http://acme.example",
            "https://acme.example/x",
            "http://127.evil.example",
        ] {
            let error = read(&[
                ("ACCESS_MODE", "cloudflare_access"),
                ("ACCESS_TEAM_DOMAIN", bad),
                ("ACCESS_AUD", "a"),
            ]);
            assert_eq!(error.unwrap_err().path, "ACCESS_TEAM_DOMAIN", "{bad}");
        }
    }

    #[test]
    fn api_keys_are_kept_as_digests_by_name() {
        let key = "k3y-0123456789abcdef-0123456789";
        let Ok(Access::ApiKeys(keys)) = read(&[
            ("ACCESS_MODE", "api_keys"),
            ("API_KEYS", &format!("ci:{key}, laptop:{key}-2")),
        ]) else {
            panic!("keys")
        };
        assert!(!format!("{keys:?}").contains(key));
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        assert_eq!((keys[0].name.as_str(), keys[0].digest), ("ci", digest));
        assert_eq!(keys[1].name, "laptop");
        for (bad, path) in [
            ("ci", "API_KEYS[0]"),
            ("ci:short", "API_KEYS[0]"),
            (&format!("ci:{key},ci:{key}x") as &str, "API_KEYS[1]"),
            (" , ", "API_KEYS"),
        ] {
            let error = read(&[("ACCESS_MODE", "api_keys"), ("API_KEYS", bad)]).unwrap_err();
            assert_eq!(error.path, path, "{bad}");
            assert!(!error.to_string().contains(key));
        }
    }
}
