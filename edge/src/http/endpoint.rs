//! The router: every endpoint of the API as one enum, parsed once from the method and path.
//! Adding a front door is one variant here and one handler.

use super::error::ApiError;
use crate::config::Config;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `OPTIONS` on any path: a CORS preflight.
    Preflight,
    /// `POST /api/chat` (`route` from the body) or `POST /api/{route}`.
    Chat { route: Option<&'a str> },
    /// `POST /api/invoke/{route}`: a model-native body.
    Invoke { route: &'a str },
    /// `GET /api/routes`.
    Routes,
    /// `POST /api/widget/token`: a token for a visitor of a widget key.
    WidgetToken,
    /// `GET /api/health`.
    Health,
    /// `/api/jobs`, `/api/jobs/{id}`.
    Jobs(JobEndpoint<'a>),
}

/// An endpoint of the background-jobs API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEndpoint<'a> {
    /// `POST /api/jobs`.
    Submit,
    /// `GET /api/jobs`.
    List,
    /// `GET /api/jobs/{id}`.
    Get(&'a str),
}

impl<'a> Endpoint<'a> {
    /// The endpoint of `method path`; 404 for a path the API does not have, 405 (with
    /// `Allow`) for a method its path does not take. `/api/{name}` is an endpoint for every
    /// route `config` names (other endpoints' names are reserved).
    pub fn parse(method: &str, path: &'a str, config: &Config) -> Result<Self, ApiError> {
        let only = |allowed: &'static str, endpoint: Self| {
            if allowed.split(", ").any(|m| m == method) {
                Ok(endpoint)
            } else {
                Err(ApiError::method_not_allowed(allowed))
            }
        };
        if method == "OPTIONS" {
            return Ok(Self::Preflight);
        }
        let no_such_endpoint = || ApiError::not_found("No such API endpoint.");
        let Some(name) = path.strip_prefix("/api/") else {
            return Err(no_such_endpoint());
        };
        match name {
            "chat" => only("POST", Self::Chat { route: None }),
            "routes" => only("GET", Self::Routes),
            "health" => only("GET", Self::Health),
            "widget/token" => only("POST", Self::WidgetToken),
            "jobs" | "jobs/" => match method {
                "POST" => Ok(Self::Jobs(JobEndpoint::Submit)),
                _ => only("GET, POST", Self::Jobs(JobEndpoint::List)),
            },
            _ => {
                if let Some(route) = name.strip_prefix("invoke/") {
                    only("POST", Self::Invoke { route })
                } else if config.resolve(Some(name)).is_ok() {
                    only("POST", Self::Chat { route: Some(name) })
                } else if let Some(id) = name.strip_prefix("jobs/") {
                    let id = id.trim_start_matches('/');
                    if id.is_empty() || id.contains('/') {
                        return Err(no_such_endpoint());
                    }
                    only("GET", Self::Jobs(JobEndpoint::Get(id)))
                } else {
                    Err(no_such_endpoint())
                }
            }
        }
    }

    /// The endpoints a widget token opens: the chat and the list of its routes.
    pub fn is_for_widgets(self) -> bool {
        matches!(self, Self::Chat { .. } | Self::Routes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_and_path_is_one_endpoint_or_a_clear_refusal() {
        let config = Config::builtin("us-east-1");
        let parse = |method, path| Endpoint::parse(method, path, &config);
        assert_eq!(
            parse("POST", "/api/chat"),
            Ok(Endpoint::Chat { route: None })
        );
        assert_eq!(
            parse("POST", "/api/generate"),
            Ok(Endpoint::Chat {
                route: Some("generate")
            })
        );
        assert_eq!(
            parse("POST", "/api/auto"),
            Ok(Endpoint::Chat {
                route: Some("auto")
            })
        );
        assert_eq!(
            parse("POST", "/api/invoke/classify"),
            Ok(Endpoint::Invoke { route: "classify" })
        );
        assert_eq!(parse("GET", "/api/routes"), Ok(Endpoint::Routes));
        assert_eq!(parse("GET", "/api/health"), Ok(Endpoint::Health));
        assert_eq!(
            parse("POST", "/api/widget/token"),
            Ok(Endpoint::WidgetToken)
        );
        assert_eq!(
            parse("POST", "/api/jobs"),
            Ok(Endpoint::Jobs(JobEndpoint::Submit))
        );
        assert_eq!(
            parse("GET", "/api/jobs/"),
            Ok(Endpoint::Jobs(JobEndpoint::List))
        );
        assert_eq!(
            parse("GET", "/api/jobs/j1"),
            Ok(Endpoint::Jobs(JobEndpoint::Get("j1")))
        );
        assert_eq!(parse("OPTIONS", "/anything"), Ok(Endpoint::Preflight));

        let status = |method, path| parse(method, path).map_err(|e| (e.status, e.headers));
        let allow = |methods: &str| Err((405, vec![("allow".into(), methods.into())]));
        assert_eq!(status("GET", "/api/chat"), allow("POST"));
        assert_eq!(status("PUT", "/api/generate"), allow("POST"));
        assert_eq!(status("GET", "/api/invoke/classify"), allow("POST"));
        assert_eq!(status("POST", "/api/routes"), allow("GET"));
        assert_eq!(status("GET", "/api/widget/token"), allow("POST"));
        assert_eq!(status("DELETE", "/api/jobs"), allow("GET, POST"));
        assert_eq!(status("POST", "/api/jobs/j1"), allow("GET"));
        for path in [
            "/api/nope",
            "/api/jobs/a/b",
            "/api/jobs//",
            "/other",
            "/api/",
        ] {
            assert_eq!(status("POST", path), Err((404, vec![])), "{path}");
        }
    }
}
