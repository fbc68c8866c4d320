//! Embeddable-widget keys: public, origin-bound keys from the route table (`widget_keys`), who a
//! request comes from (the edge's own pages, or a visitor of a widget key holding a token the
//! edge signed, [`token`]), CORS for the keys' origins only, and the Content-Security-Policy
//! of the pages (the widget frame's `frame-ancestors` is its key's origins). Pure functions;
//! the HTTP layer applies them.

pub mod token;

use super::error::ApiError;
use crate::config::secret::Secret;
use crate::config::widget_keys::WidgetKey;
use crate::config::Config;
use crate::platform::header;
use percent_encoding::percent_decode_str;
use shared::{
    routes::RoutesResponse,
    widget::{KEY_HEADER, TOKEN_HEADER, TOKEN_PATH},
};
use token::TokenError;

/// The policy of every page of the edge, before `frame-ancestors`: scripts and wasm from the
/// edge only, no inline script or style. `frontend/_headers` sends it for the chat UI (a test
/// keeps the two equal).
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'";

/// Request headers a cross-origin caller may send (answered to preflights).
const ALLOWED_HEADERS: &str =
    "accept, content-type, x-widget-key, x-widget-token, traceparent, tracestate";
/// Response headers a cross-origin caller may read.
const EXPOSED_HEADERS: &str = "x-request-id, retry-after, server-timing";

/// Who sent a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller<'a> {
    /// No widget key or token, and not from another origin: the edge's own pages or a server.
    Direct,
    /// A visitor of a known widget key, holding a valid token for one of its origins.
    Widget(WidgetCaller<'a>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetCaller<'a> {
    pub name: &'a str,
    pub key: &'a WidgetKey,
    /// The page embedding the widget, or the cross-origin caller; one of the key's origins.
    pub origin: String,
    /// The visitor the token names: its per-visitor rate-limit bucket.
    pub visitor: String,
}

impl WidgetCaller<'_> {
    /// `Err` (a message for the visitor) unless the key opens `route`.
    pub fn allows_route(&self, route: &str) -> Result<(), String> {
        if self.key.routes.iter().any(|r| r == route) {
            Ok(())
        } else {
            Err(format!(
                "route: {route:?} is not enabled for this chat widget (it may use: {})",
                self.key.routes.join(", ")
            ))
        }
    }

    /// The route a request naming none uses: the edge's default if the key opens it, else the
    /// key's first route.
    pub fn default_route<'c>(&'c self, config: &'c Config) -> &'c str {
        if self.key.routes.contains(&config.default_route) {
            &config.default_route
        } else {
            self.key
                .routes
                .first()
                .map_or(config.default_route.as_str(), String::as_str)
        }
    }

    /// `GET /api/routes` as this widget sees it: only its routes.
    pub fn routes(&self, config: &Config) -> RoutesResponse {
        let mut all = config.routes_response();
        all.routes.retain(|r| self.key.routes.contains(&r.name));
        all.default_route = self.default_route(config).to_owned();
        all
    }

    /// The per-visitor class with this visitor's bucket (the token's visitor id, not the IP:
    /// visitors behind one address count apart), and the per-key class with the key's.
    pub fn rate_limit_buckets(&self) -> Vec<(&str, String)> {
        let mut buckets = Vec::new();
        if let Some(class) = &self.key.rate_limit {
            buckets.push((
                class.as_str(),
                format!("widget:{}:visitor:{}", self.name, self.visitor),
            ));
        }
        if let Some(class) = &self.key.key_rate_limit {
            buckets.push((class.as_str(), format!("widget:{}", self.name)));
        }
        buckets
    }
}

/// The bucket a token request of key `name` from client network `network` counts against,
/// in the key's per-visitor class: each address mints visitor ids at the pace one visitor
/// may chat, so minting them is no way around the per-visitor limit.
pub fn issuance_bucket(name: &str, network: &str) -> String {
    format!("widget:{name}:ip:{network}")
}

/// The `Origin` header when it names another origin than the edge's own (`own_origin`).
fn foreign_origin<'a>(headers: &'a [(String, String)], own_origin: &str) -> Option<&'a str> {
    header(headers, "origin").filter(|origin| *origin != own_origin)
}

const INVALID_KEY: &str =
    "This chat widget's key is not valid: check the data-key of its script tag.";
const NO_ORIGIN: &str =
    "This chat widget could not tell which site it is on, so it cannot answer here.";

fn not_enabled(origin: &str) -> ApiError {
    ApiError::forbidden(format!(
        "This chat widget is not enabled on {origin}. The site's owner can add this origin to \
         the widget key."
    ))
}

/// The widget key named `name` in `config`, with its name as the configuration spells it.
pub fn known_key<'a>(config: &'a Config, name: &str) -> Result<(&'a str, &'a WidgetKey), ApiError> {
    config
        .widget_keys
        .get_key_value(name)
        .map(|(name, key)| (name.as_str(), key))
        .ok_or_else(|| ApiError::forbidden(INVALID_KEY))
}

/// The origin a token is asked for: the browser's `Origin` when it names another origin than
/// the edge (a page calling directly; pages cannot forge it), else the `origin` of the body
/// (the widget frame, same-origin, names the page it is embedded in). Refused (403) when
/// there is none, when the two disagree, or when `key` does not list it.
pub fn token_origin<'a>(
    key: &WidgetKey,
    own_origin: &str,
    headers: &'a [(String, String)],
    named: Option<&'a str>,
) -> Result<&'a str, ApiError> {
    let foreign = foreign_origin(headers, own_origin);
    let origin = match (foreign, named.filter(|o| !o.is_empty())) {
        (Some(browser), Some(named)) if browser != named => {
            return Err(ApiError::forbidden(format!(
                "origin: the request comes from {browser}, not {named}"
            )))
        }
        (Some(origin), _) | (None, Some(origin)) => origin,
        (None, None) => return Err(ApiError::forbidden(NO_ORIGIN)),
    };
    if key.allows_origin(origin) {
        Ok(origin)
    } else {
        Err(not_enabled(origin))
    }
}

/// Who sent a request with `headers` to the edge at `own_origin`, at `now_s`; refused before
/// anything else happens.
///
/// A widget call carries a token ([`TOKEN_HEADER`]) from `POST /api/widget/token`; without
/// one, or with one this edge did not sign with `secret` or that has expired, it is refused
/// with 401 (the frame then asks for a new one). A token whose key is gone, or whose key no
/// longer lists its origin, is refused with 403: removing either revokes its tokens at once.
/// From another origin, the browser's `Origin` must be the token's own. Nothing the caller
/// merely states (a header naming an origin) is believed.
pub fn identify<'a>(
    config: &'a Config,
    own_origin: &str,
    headers: &[(String, String)],
    secret: Option<&Secret>,
    now_s: u64,
) -> Result<Caller<'a>, ApiError> {
    let foreign = foreign_origin(headers, own_origin);
    let token = header(headers, TOKEN_HEADER).filter(|t| !t.is_empty());
    let named_key = header(headers, KEY_HEADER);
    let Some(token) = token else {
        return match (named_key, foreign) {
            (None, None) => Ok(Caller::Direct),
            (None, Some(origin)) => Err(ApiError::forbidden(format!(
                "Requests from {origin} need a widget key (X-Widget-Key) that allows this origin."
            ))),
            (Some(name), foreign) => {
                let (_, key) = known_key(config, name)?;
                if let Some(origin) = foreign.filter(|origin| !key.allows_origin(origin)) {
                    return Err(not_enabled(origin));
                }
                Err(ApiError::unauthorized(format!(
                    "A widget call needs a widget token (X-Widget-Token): get one from \
                     POST {TOKEN_PATH}."
                )))
            }
        };
    };
    let claims = secret
        .ok_or(TokenError::BadSignature)
        .and_then(|secret| token::verify(secret, token, now_s))
        .map_err(|error| match error {
            TokenError::Malformed => ApiError::unauthorized(format!(
                "The widget token is malformed: get a new one from POST {TOKEN_PATH}."
            )),
            TokenError::BadSignature => ApiError::unauthorized(format!(
                "The widget token was not signed by this edge (or before its secret changed): \
                 get a new one from POST {TOKEN_PATH}."
            )),
            TokenError::Expired => ApiError::token_expired(format!(
                "The widget token has expired: get a new one from POST {TOKEN_PATH}."
            )),
        })?;
    if named_key.is_some_and(|name| name != claims.key) {
        return Err(ApiError::unauthorized(
            "The widget token was issued for another key than X-Widget-Key names.",
        ));
    }
    let (name, key) = known_key(config, &claims.key)?;
    if !key.allows_origin(&claims.origin) {
        return Err(not_enabled(&claims.origin));
    }
    if let Some(browser) = foreign.filter(|browser| *browser != claims.origin) {
        return Err(ApiError::forbidden(format!(
            "This widget token was issued for {}, not for {browser}.",
            claims.origin
        )));
    }
    Ok(Caller::Widget(WidgetCaller {
        name,
        key,
        origin: claims.origin,
        visitor: claims.visitor,
    }))
}

/// The `Origin` of a request from another origin that some widget key lists: it may read the
/// answer (refusals included, so that its page can tell why).
pub fn cors_origin<'a>(
    config: &Config,
    own_origin: &str,
    headers: &'a [(String, String)],
) -> Option<&'a str> {
    foreign_origin(headers, own_origin)
        .filter(|origin| config.widget_keys.values().any(|k| k.allows_origin(origin)))
}

/// Headers letting `origin` read a response (never `*`).
pub fn cors_headers(origin: &str) -> Vec<(String, String)> {
    vec![
        ("access-control-allow-origin".into(), origin.into()),
        (
            "access-control-expose-headers".into(),
            EXPOSED_HEADERS.into(),
        ),
        ("vary".into(), "Origin".into()),
    ]
}

/// The answer to a CORS preflight (`OPTIONS`): its headers when `Origin` is one of some widget
/// key's origins (or the edge's own), `Err` (a message) otherwise. The actual request still
/// needs its key; this only says the origin may ask.
pub fn preflight(
    config: &Config,
    own_origin: &str,
    headers: &[(String, String)],
) -> Result<Vec<(String, String)>, String> {
    let Some(origin) = foreign_origin(headers, own_origin) else {
        return Ok(vec![("allow".into(), "GET, POST, OPTIONS".into())]);
    };
    if !config.widget_keys.values().any(|k| k.allows_origin(origin)) {
        return Err(format!(
            "Cross-origin requests from {origin} are not allowed."
        ));
    }
    let mut cors = cors_headers(origin);
    cors.extend([
        (
            "access-control-allow-methods".into(),
            "GET, POST, OPTIONS".into(),
        ),
        (
            "access-control-allow-headers".into(),
            ALLOWED_HEADERS.into(),
        ),
        ("access-control-max-age".into(), "600".into()),
    ]);
    Ok(cors)
}

/// A parameter of a URL query (`a=1&b=2`), percent-decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| {
            percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// `Content-Security-Policy` of the widget frame at `/widget/frame.html?{query}`:
/// `frame-ancestors` is exactly the origins of the key the query names, whatever else it
/// says, so the browser shows the frame on those pages only; `'none'` for an unknown or
/// missing key, or without a configuration. (A page the key does not list learns so from
/// the loader, which never hears from a frame the browser refused to show.)
pub fn frame_csp(config: Option<&Config>, query: &str) -> String {
    let key = query_param(query, "key")
        .and_then(|key| config.and_then(|c| c.widget_keys.get(key.as_str())));
    let ancestors = match key {
        Some(key) if !key.origins.is_empty() => key.origins.join(" "),
        _ => "'none'".into(),
    };
    format!("{PAGE_CSP}; frame-ancestors {ancestors}")
}

#[cfg(test)]
mod tests;
