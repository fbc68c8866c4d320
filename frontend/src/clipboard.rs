//! Copying text to the clipboard, with a short confirmation on the button that asked.

use leptos::{prelude::set_timeout, task::spawn_local};
use std::time::Duration;
use wasm_bindgen_futures::JsFuture;
use web_sys::Element;

/// How long "Copied" stays on a button.
pub const FEEDBACK: Duration = Duration::from_secs(2);

/// Writes `text` to the clipboard; `false` when the browser refused.
pub async fn copy(text: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let promise = window.navigator().clipboard().write_text(text);
    JsFuture::from(promise).await.is_ok()
}

/// Copies `text`, then shows the outcome on `button` for a moment.
pub fn copy_with_feedback(text: String, button: Element) {
    spawn_local(async move {
        let label = button.text_content();
        let copied = copy(&text).await;
        button.set_text_content(Some(if copied { "Copied" } else { "Copy failed" }));
        set_timeout(move || button.set_text_content(label.as_deref()), FEEDBACK);
    });
}
