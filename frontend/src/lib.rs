//! Browser chat client for the Bedrock edge, built with Leptos (client-side rendering).
//!
//! A library of components: [`ChatPanel`] is a whole chat against an API base URL (an embeddable
//! widget reuses it), [`ConversationList`] the saved-conversation sidebar, and [`App`] the page.

pub mod api;
mod app;
mod chat;
mod clipboard;
mod components;
pub mod markdown;
pub mod state;
pub mod store;
pub mod stream;

pub use app::App;

// Unit tests are `#[wasm_bindgen_test(unsupported = test)]`: they run natively with
// `cargo test -p frontend` and in headless Chromium with `--target wasm32-unknown-unknown`.
#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
pub use components::{ChatPanel, ConversationList};
