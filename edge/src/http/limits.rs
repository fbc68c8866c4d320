//! The rate limits a request counts against before it costs anything: its route's class per
//! client bucket, and a widget key's per-visitor (the token's visitor) and per-key classes.

use super::{error::ApiError, widget::Caller, Edge};
use crate::{config::RateLimitClass, platform::Platform, routing::rate_limit::client_buckets};

impl<P: Platform> Edge<P> {
    /// Counts the request against each of its rate-limit `classes`, per client bucket.
    pub(super) async fn rate_limit(
        &self,
        classes: &[(&str, RateLimitClass)],
        headers: &[(String, String)],
    ) -> Result<(), ApiError> {
        for &(class, limits) in classes {
            for bucket in client_buckets(headers) {
                if !self.platform.rate_limit(class, limits, &bucket).await {
                    return Err(ApiError::rate_limited(class, limits));
                }
            }
        }
        Ok(())
    }

    /// Counts a widget request against its key's per-visitor and per-key classes.
    pub(super) async fn widget_rate_limit(&self, caller: &Caller<'_>) -> Result<(), ApiError> {
        let Caller::Widget(widget) = caller else {
            return Ok(());
        };
        for (class, bucket) in widget.rate_limit_buckets() {
            let Some(limits) = self.settings.config.rate_limits.get(class).copied() else {
                continue;
            };
            if !self.platform.rate_limit(class, limits, &bucket).await {
                return Err(ApiError::rate_limited(class, limits));
            }
        }
        Ok(())
    }
}
