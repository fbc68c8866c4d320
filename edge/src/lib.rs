//! The edge: validates chat requests, routes and signs Bedrock Runtime calls, decodes the
//! binary event stream and re-streams answers as Server-Sent Events.
//!
//! Everything but the `worker` module is plain Rust, run and tested natively; the Worker is a
//! thin shell supplying the platform (HTTP client, clock, bindings).

pub mod app;
pub mod bedrock_error;
pub mod chat;
pub mod config;
pub mod converse;
pub mod eventstream;
pub mod model_id;
pub mod platform;
mod request_log;
pub mod secret;
pub mod settings;
pub mod signing;
pub mod validate;

#[cfg(test)]
mod test_support;

#[cfg(target_arch = "wasm32")]
mod worker;
