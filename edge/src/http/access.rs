//! Who is calling, by the edge's access mode ([`Access`]): its network in `public` mode, the
//! person Cloudflare Access signed for, or the name of its API key. That client is what rate
//! limits, token budgets and jobs count by. A mode that asks for proof refuses a request
//! without one that holds with 401, before anything else is read.

mod jwt;

use super::{error::ApiError, Edge};
use crate::{
    bedrock::send::read_body,
    config::access::{Access, ApiKey},
    crypto::constant_time_eq,
    platform::{nonempty_header, with_timeout, Platform, UpstreamRequest},
    routing::rate_limit::client_bucket,
};
use jwt::{Jwk, KeySet};
use sha2::{Digest, Sha256};
use std::cell::RefCell;

/// How long the team's keys are used before they are fetched again.
const KEYS_TTL_MS: u64 = 10 * 60 * 1_000;
/// A token naming a key the cached set lacks fetches the set again, at most this often.
const REFETCH_GAP_MS: u64 = 30_000;
/// The time the team's key endpoint has to answer, and the most of it that is read.
const KEYS_TIMEOUT_MS: u64 = 5_000;
const MAX_KEYS_BYTES: usize = 64 * 1024;

/// This isolate's copy of a team's keys.
struct CachedKeys {
    url: String,
    keys: KeySet,
    fetched_ms: u64,
}

thread_local! {
    static KEYS: RefCell<Option<CachedKeys>> = const { RefCell::new(None) };
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::unauthorized(message)
}

/// The API key a request presents: `Authorization: Bearer <key>`, else `X-API-Key`.
fn presented_key(headers: &[(String, String)]) -> Option<&str> {
    nonempty_header(headers, "authorization")
        .and_then(|value| {
            value
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, key)| key.trim())
        })
        .or_else(|| nonempty_header(headers, "x-api-key"))
}

/// The name of the key `presented` is, if it is one of `keys` (compared by SHA-256 digest, in
/// constant time, over every key).
fn key_name(keys: &[ApiKey], presented: &str) -> Option<String> {
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let mut found = None;
    for key in keys {
        if constant_time_eq(&key.digest, &digest) {
            found = Some(key.name.clone());
        }
    }
    found
}

impl<P: Platform> Edge<P> {
    /// The client a request counts as: `ip:<network>`, `access:<email>` or `key:<name>`.
    pub(super) async fn authenticate(
        &self,
        headers: &[(String, String)],
    ) -> Result<String, ApiError> {
        match &self.settings.access {
            Access::Public => Ok(client_bucket(headers)),
            Access::ApiKeys(keys) => presented_key(headers)
                .and_then(|key| key_name(keys, key))
                .map(|name| format!("key:{name}"))
                .ok_or_else(|| {
                    unauthorized(
                        "This edge takes API keys only: send Authorization: Bearer <key> with a \
                         key its owner issued.",
                    )
                }),
            Access::CloudflareAccess { team_url, audience } => {
                let token =
                    nonempty_header(headers, "cf-access-jwt-assertion").ok_or_else(|| {
                        unauthorized("This edge is behind Cloudflare Access: sign in through it.")
                    })?;
                let parsed = jwt::parse(token).map_err(unauthorized)?;
                let now_s = self.platform.now_ms() / 1_000;
                let who = parsed
                    .check(team_url, audience, now_s)
                    .map_err(unauthorized)?;
                let key = self.team_key(team_url, &parsed.kid).await.ok_or_else(|| {
                    unauthorized("the Access token is signed with a key the team does not publish")
                })?;
                if !parsed.signed_by(&self.platform, &key).await {
                    return Err(unauthorized("the Access token's signature does not verify"));
                }
                Ok(format!("access:{who}"))
            }
        }
    }

    /// The team's key `kid`, from this isolate's copy of the key set while it is fresh and
    /// has it, else from `<team>/cdn-cgi/access/certs`.
    async fn team_key(&self, team_url: &str, kid: &str) -> Option<Jwk> {
        let url = format!("{team_url}/cdn-cgi/access/certs");
        let now = self.platform.now_ms();
        let cached = KEYS.with_borrow(|cached| {
            let cached = cached.as_ref().filter(|c| c.url == url)?;
            let age = now.saturating_sub(cached.fetched_ms);
            let key = cached.keys.keys.iter().find(|k| k.kid == kid).cloned();
            Some((key, age))
        });
        match cached {
            Some((Some(key), age)) if age < KEYS_TTL_MS => return Some(key),
            // A key the fresh set lacks: a rotation, or a made-up kid; not more than so often.
            Some((None, age)) if age < REFETCH_GAP_MS => return None,
            _ => {}
        }
        let keys = self.fetch_keys(&url).await?;
        let key = keys.keys.iter().find(|k| k.kid == kid).cloned();
        KEYS.set(Some(CachedKeys {
            url,
            keys,
            fetched_ms: now,
        }));
        key
    }

    async fn fetch_keys(&self, url: &str) -> Option<KeySet> {
        let request = UpstreamRequest {
            method: "GET",
            url: url.to_owned(),
            headers: vec![("accept".into(), "application/json".into())],
            body: Vec::new(),
        };
        let fetched = async {
            let response = self.platform.send(request).await.ok()?;
            if response.status != 200 {
                return None;
            }
            let body = read_body(
                &self.platform,
                KEYS_TIMEOUT_MS,
                response.body,
                MAX_KEYS_BYTES,
            )
            .await
            .ok()?;
            serde_json::from_slice::<KeySet>(&body).ok()
        };
        let keys = with_timeout(&self.platform, KEYS_TIMEOUT_MS, fetched)
            .await
            .flatten();
        if keys.is_none() {
            self.platform.log(r#"{"event":"access_keys_unavailable"}"#);
        }
        keys
    }
}

#[cfg(test)]
mod tests;
