//! The rate limits a request counts against before it costs anything: its route's class per
//! client network, and a widget key's per-visitor (the token's visitor) and per-key classes. A limiter that cannot
//! be asked lets the request through, unless the class is `fail_closed` (then 503). Then the
//! client's token budget: a spent window refuses the request before any Bedrock call.

use super::{error::ApiError, widget::Caller, Edge};
use crate::{config::RateLimitClass, platform::Platform};

impl<P: Platform> Edge<P> {
    /// Counts the request of `client` ([`Edge::authenticate`]) against each of its rate-limit
    /// `classes`.
    pub(super) async fn rate_limit(
        &self,
        classes: &[(&str, RateLimitClass)],
        client: &str,
    ) -> Result<(), ApiError> {
        for &(class, limits) in classes {
            self.count(class, limits, client).await?;
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
            self.count(class, limits, &bucket).await?;
        }
        Ok(())
    }

    /// The client a request's answer is charged to, when the edge has a token budget; refused
    /// (429) when the client's current window is spent. A budget store that cannot be asked
    /// lets the request through (and the answer is still charged).
    pub(super) async fn token_budget(&self, client: &str) -> Result<Option<String>, ApiError> {
        let Some(budget) = self.settings.config.token_budget else {
            return Ok(None);
        };
        if let Some(spent) = self.platform.budget_spent(client, budget).await {
            if spent >= budget.tokens {
                return Err(ApiError::budget_spent(budget, self.platform.now_ms()));
            }
        }
        Ok(Some(client.to_owned()))
    }

    /// One count of `bucket` against `class`.
    pub(super) async fn count(
        &self,
        class: &str,
        limits: RateLimitClass,
        bucket: &str,
    ) -> Result<(), ApiError> {
        match self.platform.rate_limit(class, limits, bucket).await {
            Some(true) => Ok(()),
            Some(false) => Err(ApiError::rate_limited(class, limits)),
            None if limits.fail_closed => Err(ApiError::unavailable(
                "The rate limiter cannot be reached, and this route does not run without it; \
                 try again shortly.",
            )),
            None => Ok(()),
        }
    }
}
