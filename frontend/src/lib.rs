//! Browser chat client for the Bedrock edge, built with Leptos (client-side rendering).
//!
//! A library of components: [`ChatPanel`] is a whole chat against an API base URL,
//! [`ConversationList`] the saved-conversation sidebar, [`App`] the page, and [`Widget`] the
//! embeddable widget's frame page (the same panel; one wasm serves both pages).

mod abort;
pub mod api;
mod app;
mod chat;
mod clipboard;
mod components;
mod jobs;
pub mod markdown;
pub mod state;
pub mod store;
pub mod stream;
mod token;
pub mod widget;

pub use app::App;
pub use widget::Widget;

// Unit tests are `#[wasm_bindgen_test(unsupported = test)]`: they run natively with
// `cargo test -p frontend` and in headless Chromium with `--target wasm32-unknown-unknown`.
#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
pub use components::{ChatPanel, ConversationList};
