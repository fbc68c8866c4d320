//! Requests that last only as long as the view that started them.

use leptos::prelude::*;
use web_sys::{AbortController, AbortSignal};

/// A signal that aborts when the current view is cleaned up (its reactive owner goes away);
/// `None` in a browser without `AbortController`.
pub fn until_cleanup() -> Option<AbortSignal> {
    let controller = AbortController::new().ok()?;
    let signal = controller.signal();
    let controller = StoredValue::new_local(controller);
    on_cleanup(move || {
        controller.try_with_value(AbortController::abort);
    });
    Some(signal)
}
