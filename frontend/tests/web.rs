//! Browser tests, run in headless Chromium by wasm-bindgen-test-runner:
//! `cargo test -p frontend --target wasm32-unknown-unknown` (chromedriver from `CHROMEDRIVER`).
#![cfg(target_arch = "wasm32")]
// Test helpers outside `#[test]` functions unwrap too; a failure should fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wasm_bindgen_test::wasm_bindgen_test_configure;

wasm_bindgen_test_configure!(run_in_browser);

mod web {
    mod dom;
    mod markdown;
    mod panel;
    mod store;
    mod stream;
}
