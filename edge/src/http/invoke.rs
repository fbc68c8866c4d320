//! `POST /api/invoke/{route}`: a model-native body (Anthropic Messages, Amazon Nova) checked
//! and sent as it is to the route's models, streamed as SSE when asked, else answered with the
//! model's own JSON.

use super::{
    error::{upstream_error_response, ApiError},
    sse_response,
    validate::check_json_body,
    Answer, ApiBody, ApiRequest, ApiResponse, Edge,
};
use crate::{
    bedrock::native::{prepare, Rules},
    platform::{header, Platform},
    routing::pipeline::{invoke_once, invoke_stream, RequestContext},
};
use shared::sse;
use std::rc::Rc;

/// Whether an invoke request asks for a stream: `?stream=true`, or an `Accept` naming
/// `text/event-stream` (unless `?stream=false`).
fn wants_stream(query: &str, headers: &[(String, String)]) -> bool {
    let stream = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("stream="));
    match stream {
        Some(value) => value == "true",
        None => header(headers, "accept").is_some_and(|accept| {
            accept
                .split(',')
                .any(|media| media.trim().starts_with(sse::CONTENT_TYPE))
        }),
    }
}

impl<P: Platform> Edge<P> {
    /// `POST /api/invoke/{route}`: the route's models get the checked native body as it is.
    pub(super) async fn invoke(
        &self,
        route: &str,
        request: &ApiRequest,
        client: &str,
        mut context: RequestContext,
    ) -> Result<Answer, ApiError> {
        let config = &self.settings.config;
        let (route, chain) = match config.route(Some(route)) {
            Ok((name, chain)) => (name.to_owned(), chain),
            Err(message) => return Err(ApiError::not_found(message)),
        };
        // Counted before the body is read, so a refused body is no free work.
        self.rate_limit(chain.limits(config).as_slice(), client)
            .await?;
        context.billed = self.token_budget(client).await?;
        check_json_body(
            &request.body,
            &request.headers,
            self.settings.max_body_bytes,
        )?;
        if chain.async_invoke.is_some() {
            return Err(ApiError {
                field: Some("route".into()),
                ..ApiError::invalid(format!(
                    "route: {route:?} runs as a Bedrock async invocation: submit it with POST /api/jobs"
                ))
            });
        }
        let rules = Rules {
            max_tokens: None,
            prompt_caching: chain.prompt_caching,
        };
        prepare(&chain.primary().model, &request.body, rules)?;
        let platform = self.platform.clone();
        let settings = Rc::clone(&self.settings);
        let body = request.body.clone();
        if wants_stream(&request.query, &request.headers) {
            let events = invoke_stream(platform, settings, context, route, body);
            return Ok(sse_response(events).into());
        }
        let once = invoke_once(platform, settings, context, route, body).await;
        Ok(Answer {
            response: match once.result {
                Ok(native) => ApiResponse {
                    status: 200,
                    headers: vec![("content-type".into(), native.content_type)],
                    body: ApiBody::Json(String::from_utf8_lossy(&native.bytes).into_owned()),
                },
                Err(error) => upstream_error_response(&error),
            },
            upstream_ms: Some(once.upstream_ms),
        })
    }
}
