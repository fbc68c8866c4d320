//! `POST /api/chat` and `POST /api/{route}`: a chat request checked, validated, its route
//! resolved (a widget only to routes its key opens), counted against its limits, then routed
//! and streamed as SSE, or answered whole as JSON with `"stream": false`.

use super::{
    error::{upstream_error_response, ApiError},
    json, sse_response,
    validate::{check_json_body, validate},
    widget::Caller,
    Answer, ApiRequest, Edge,
};
use crate::{
    platform::Platform,
    routing::pipeline::{chat_once, chat_stream, choose_route, RequestContext},
};
use shared::ChatRequest;
use std::rc::Rc;

impl<P: Platform> Edge<P> {
    /// `POST /api/chat` (`path_route` `None`) or `POST /api/{route}`.
    pub(super) async fn chat(
        &self,
        path_route: Option<&str>,
        request: &ApiRequest,
        caller: &Caller<'_>,
        client: &str,
        mut context: RequestContext,
    ) -> Result<Answer, ApiError> {
        check_json_body(
            &request.body,
            &request.headers,
            self.settings.max_body_bytes,
        )?;
        let config = &self.settings.config;
        // Counted before the body is parsed, so a refused body is no free work: the route the
        // path names, else the caller's default.
        let first = path_route.or(match caller {
            Caller::Widget(widget) => Some(widget.default_route(config)),
            Caller::Direct => None,
        });
        let counted = config.limits_of(first);
        self.rate_limit(counted.as_slice(), client).await?;
        self.widget_rate_limit(caller).await?;
        let chat: ChatRequest = serde_json::from_slice(&request.body)
            .map_err(|e| ApiError::invalid_json(e.to_string()))?;
        validate(&chat)?;
        if let (Some(path), Some(body)) = (path_route, chat.route.as_deref()) {
            if path != body {
                return Err(ApiError {
                    field: Some("route".into()),
                    ..ApiError::invalid(format!(
                        "route: the path names route {path:?}; leave route out or make it match"
                    ))
                });
            }
        }
        let asked = path_route.or(chat.route.as_deref());
        // A widget names a route its key opens, or gets the key's default.
        let asked = match caller {
            Caller::Widget(widget) => {
                let route = asked.unwrap_or_else(|| widget.default_route(config));
                widget.allows_route(route).map_err(ApiError::forbidden)?;
                Some(route)
            }
            Caller::Direct => asked,
        };
        let open = |route: &str| match caller {
            Caller::Widget(widget) => widget.allows_route(route).is_ok(),
            Caller::Direct => true,
        };
        let choice = choose_route(config, asked, &chat, &open).map_err(|m| ApiError {
            field: Some("route".into()),
            ..ApiError::invalid(format!("route: {m}"))
        })?;
        let mut classes = config.limits_for(asked, &choice.route);
        classes.retain(|(class, _)| counted.is_none_or(|(done, _)| done != *class));
        self.rate_limit(&classes, client).await?;
        context.billed = self.token_budget(client).await?;
        let platform = self.platform.clone();
        let settings = Rc::clone(&self.settings);
        if chat.stream == Some(false) {
            let once = chat_once(platform, settings, context, choice, chat).await;
            return Ok(Answer {
                response: match once.result {
                    Ok(answer) => json(200, &answer),
                    Err(error) => upstream_error_response(&error),
                },
                upstream_ms: Some(once.upstream_ms),
            });
        }
        let events = chat_stream(platform, settings, context, choice, chat);
        Ok(sse_response(events).into())
    }
}
