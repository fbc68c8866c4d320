//! A widget visitor's token: asked of the edge (`POST /api/widget/token`) with the widget's key
//! and the page it is embedded in, sent with every widget call, and asked for again shortly
//! before it expires or when the edge refuses it (a secret rotation ends every token).

use crate::{api, state::Failure};
use shared::widget::TOKEN_HEADER;
use std::{
    fmt,
    sync::{Arc, Mutex},
};
use web_sys::AbortSignal;

/// Seconds before its expiry at which a token is replaced.
const RENEW_BEFORE_S: u64 = 60;

/// The widget's token, shared by every request of the frame. Clones share it.
#[derive(Clone)]
pub struct WidgetToken {
    api_base: Arc<str>,
    key: Arc<str>,
    /// The page the widget is embedded in.
    origin: Arc<str>,
    held: Arc<Mutex<Option<Held>>>,
}

struct Held {
    token: String,
    /// Browser time (ms) from which it is replaced before use.
    renew_at_ms: f64,
}

/// When a token received at `received_ms`, valid `expires_in_s` seconds, is replaced: a minute
/// before it expires, or halfway for a very short-lived one.
pub fn renew_at_ms(received_ms: f64, expires_in_s: u64) -> f64 {
    let keep_s = expires_in_s
        .saturating_sub(RENEW_BEFORE_S)
        .max(expires_in_s / 2);
    received_ms + keep_s as f64 * 1000.0
}

impl WidgetToken {
    pub fn new(api_base: &str, key: &str, origin: &str) -> Self {
        Self {
            api_base: api_base.trim_end_matches('/').into(),
            key: key.into(),
            origin: origin.into(),
            held: Arc::default(),
        }
    }

    /// The headers of a widget call: the token, asked for first when none is held or the one
    /// held is about to expire. A refusal carries the edge's message.
    pub async fn headers(&self, signal: &AbortSignal) -> Result<Vec<(String, String)>, Failure> {
        let now = js_sys::Date::now();
        let fresh = self.with_held(|held| {
            held.as_ref()
                .filter(|h| now < h.renew_at_ms)
                .map(|h| h.token.clone())
        });
        let token = match fresh {
            Some(token) => token,
            None => {
                let issued =
                    api::fetch_widget_token(&self.api_base, &self.key, &self.origin, signal)
                        .await?;
                let renew_at_ms = renew_at_ms(js_sys::Date::now(), issued.expires_in);
                self.with_held(|held| {
                    *held = Some(Held {
                        token: issued.token.clone(),
                        renew_at_ms,
                    });
                });
                issued.token
            }
        };
        Ok(vec![(TOKEN_HEADER.to_owned(), token)])
    }

    /// Drops the token held (the edge refused it): the next call asks for a new one.
    pub fn forget(&self) {
        self.with_held(|held| *held = None);
    }

    fn with_held<T>(&self, f: impl FnOnce(&mut Option<Held>) -> T) -> T {
        // One thread in the browser: the lock is never contended, and a poisoned one (a
        // panic while held) only held a token.
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut held)
    }
}

impl PartialEq for WidgetToken {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.held, &other.held)
    }
}

impl fmt::Debug for WidgetToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WidgetToken")
            .field("key", &self.key)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn tokens_are_renewed_a_minute_before_they_expire() {
        assert_eq!(renew_at_ms(1_000.0, 900), 1_000.0 + 840_000.0);
        assert_eq!(renew_at_ms(0.0, 60), 30_000.0, "halfway when shorter");
        assert_eq!(renew_at_ms(0.0, 0), 0.0);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn clones_share_one_token() {
        let token = WidgetToken::new("", "pk_demo_local", "http://127.0.0.1:8789");
        assert_eq!(token, token.clone());
        assert_ne!(
            token,
            WidgetToken::new("", "pk_demo_local", "http://127.0.0.1:8789")
        );
        assert!(!format!("{token:?}").contains("held"));
    }
}
