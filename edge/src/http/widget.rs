//! Embeddable-widget keys: public, origin-bound keys from the route table (`widget_keys`), who a
//! request comes from (the edge's own pages, or a widget key used from an allowed origin), CORS
//! for allowed origins only, and the Content-Security-Policy of the pages (the widget frame's
//! `frame-ancestors` comes from its key). Pure functions; the HTTP layer applies them.

use crate::config::widget_keys::WidgetKey;
use crate::config::Config;
use crate::platform::header;
use percent_encoding::percent_decode_str;
use shared::{
    routes::RoutesResponse,
    widget::{KEY_HEADER, ORIGIN_HEADER},
};

/// The policy of every page of the edge, before `frame-ancestors`: scripts and wasm from the
/// edge only, no inline script or style. `frontend/_headers` sends it for the chat UI (a test
/// keeps the two equal).
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'";

/// Request headers a cross-origin caller may send (answered to preflights).
const ALLOWED_HEADERS: &str = "accept, content-type, x-widget-key, traceparent, tracestate";
/// Response headers a cross-origin caller may read.
const EXPOSED_HEADERS: &str = "x-request-id, retry-after, server-timing";

/// Who sent a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller<'a> {
    /// No widget key, and not from another origin: the edge's own pages or a server.
    Direct,
    /// A known widget key, used from one of its origins.
    Widget(WidgetCaller<'a>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetCaller<'a> {
    pub name: &'a str,
    pub key: &'a WidgetKey,
    /// The page embedding the widget, or the cross-origin caller; one of the key's origins.
    pub origin: String,
    /// The request came straight from `origin` (CORS applies), not through the widget frame.
    pub cross_origin: bool,
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

    /// The per-visitor and per-key rate-limit classes, each with its bucket.
    pub fn rate_limit_buckets(&self, visitor_ip: &str) -> Vec<(&str, String)> {
        let mut buckets = Vec::new();
        if let Some(class) = &self.key.rate_limit {
            buckets.push((
                class.as_str(),
                format!("widget:{}:ip:{visitor_ip}", self.name),
            ));
        }
        if let Some(class) = &self.key.key_rate_limit {
            buckets.push((class.as_str(), format!("widget:{}", self.name)));
        }
        buckets
    }
}

/// The `Origin` header when it names another origin than the edge's own (`own_origin`).
fn foreign_origin<'a>(headers: &'a [(String, String)], own_origin: &str) -> Option<&'a str> {
    header(headers, "origin").filter(|origin| *origin != own_origin)
}

/// Who sent a request with `headers` to the edge at `own_origin`. `Err` is a message for the
/// visitor; the request is refused with 403 before anything else happens.
///
/// The embedding origin is the browser's `Origin` header when it names another origin (a page
/// calling the API directly; browsers do not let pages forge it), else `X-Widget-Origin`: the
/// widget frame (served by the edge, so same-origin) sends the origin of the page it is
/// embedded in, read from `location.ancestorOrigins`, which the host page cannot change.
pub fn identify<'a>(
    config: &'a Config,
    own_origin: &str,
    headers: &[(String, String)],
) -> Result<Caller<'a>, String> {
    let foreign = foreign_origin(headers, own_origin);
    let Some(key) = header(headers, KEY_HEADER) else {
        return match foreign {
            None => Ok(Caller::Direct),
            Some(origin) => Err(format!(
                "Requests from {origin} need a widget key (X-Widget-Key) that allows this origin."
            )),
        };
    };
    let Some((name, widget)) = config.widget_keys.get_key_value(key) else {
        return Err(
            "This chat widget's key is not valid: check the data-key of its script tag.".into(),
        );
    };
    let origin = foreign.or_else(|| header(headers, ORIGIN_HEADER).filter(|o| !o.is_empty()));
    let Some(origin) = origin else {
        return Err(
            "This chat widget could not tell which site it is on, so it cannot answer here.".into(),
        );
    };
    if !widget.allows_origin(origin) {
        return Err(format!(
            "This chat widget is not enabled on {origin}. The site's owner can add this origin \
             to the widget key."
        ));
    }
    Ok(Caller::Widget(WidgetCaller {
        name,
        key: widget,
        origin: origin.to_owned(),
        cross_origin: foreign.is_some(),
    }))
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
