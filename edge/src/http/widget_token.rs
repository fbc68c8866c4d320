//! `POST /api/widget/token`: a short-lived token for one visitor of a widget key, on one of
//! the key's origins. Counted, before the body is read, against the key's per-visitor class
//! by the caller's address, so that visitor ids cost what a visitor's requests cost.

use super::{
    error::ApiError,
    json,
    validate::check_json_body,
    widget::{
        issuance_bucket, known_key,
        token::{self, Claims, TOKEN_LIFETIME_S},
        token_origin,
    },
    ApiRequest, ApiResponse, Edge,
};
use crate::{platform::header, platform::Platform, routing::rate_limit::client_network};
use shared::widget::{TokenRequest, TokenResponse, KEY_HEADER};

impl<P: Platform> Edge<P> {
    pub(super) async fn widget_token(&self, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let config = &self.settings.config;
        let named = header(&request.headers, KEY_HEADER).ok_or_else(|| {
            ApiError::forbidden("A widget token is asked for with the widget's key (X-Widget-Key).")
        })?;
        let (name, key) = known_key(config, named)?;
        if let Some(class) = &key.rate_limit {
            if let Some(limits) = config.rate_limits.get(class).copied() {
                let bucket = issuance_bucket(name, &client_network(&request.headers));
                self.count(class, limits, &bucket).await?;
            }
        }
        let asked: TokenRequest = if request.body.is_empty() {
            TokenRequest::default()
        } else {
            check_json_body(
                &request.body,
                &request.headers,
                self.settings.max_body_bytes,
            )?;
            serde_json::from_slice(&request.body)
                .map_err(|e| ApiError::invalid_json(e.to_string()))?
        };
        let origin = token_origin(
            key,
            &request.origin,
            &request.headers,
            asked.origin.as_deref(),
        )?;
        // Only reachable with widget keys, which the settings refuse to start without a secret.
        let secret = self.settings.widget_token_secret.as_ref().ok_or_else(|| {
            ApiError::unavailable("Widget tokens are not configured on this edge.")
        })?;
        let claims = Claims {
            key: name.to_owned(),
            origin: origin.to_owned(),
            visitor: token::visitor_id(self.platform.random_u64(), self.platform.random_u64()),
            expires_s: self.platform.now_ms() / 1000 + TOKEN_LIFETIME_S,
        };
        let mut response = json(
            200,
            &TokenResponse {
                token: token::sign(secret, &claims),
                expires_in: TOKEN_LIFETIME_S,
            },
        );
        response
            .headers
            .push(("cache-control".into(), "no-store".into()));
        Ok(response)
    }
}
