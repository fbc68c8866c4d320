//! The edge: validates chat requests, routes and signs Bedrock Runtime calls, decodes the
//! binary event stream and re-streams answers as Server-Sent Events.
//!
//! Everything but the `worker` module is plain Rust, run and tested natively; the Worker is a
//! thin shell supplying the platform (HTTP client, clock, bindings).
//!
//! JSON is always parsed from bytes (`serde_json::from_slice`), never with `from_str` nor
//! converted from a `serde_json::Value`: with one reader, each type's deserializer is
//! compiled into the Worker's wasm once.

pub mod anthropic;
pub mod app;
pub mod bedrock_error;
pub mod chat;
pub mod circuit;
pub mod classifier;
pub mod config;
pub mod converse;
pub mod crc32;
pub mod eventstream;
pub mod health;
pub mod health_cache;
pub mod hex;
pub mod invoke;
pub mod jobs;
pub mod model_id;
pub mod nova;
pub mod platform;
pub mod rate_limit;
mod request_log;
pub mod request_url;
pub mod retry;
pub mod secret;
pub mod settings;
pub mod signing;
pub mod upstream;
pub mod upstream_decode;
pub mod utc;
pub mod validate;
pub mod widget;

#[cfg(test)]
mod test_support;

#[cfg(target_arch = "wasm32")]
mod worker;
