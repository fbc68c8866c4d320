//! The edge: validates chat requests, routes and signs Bedrock Runtime calls, decodes the
//! binary event stream and re-streams answers as Server-Sent Events.
//!
//! # Layers
//!
//! Each layer imports only the layers below it (a test, `tests/tests/layers.rs`, refuses any
//! import that runs up or closes a circle):
//!
//! | layer | job |
//! |---|---|
//! | [`worker`] | the workers-rs glue: bindings, Durable Object, queue consumer (wasm32 only) |
//! | [`http`] | the front doors: one `Endpoint` per method and path, errors, CORS, widget pages |
//! | [`jobs`] | asynchronous jobs: queue consumer, store, records, callbacks, async invoke |
//! | [`routing`] | choose a chain, attempt, retry, fall back, circuits, health, rate limits |
//! | [`bedrock`] | one signed call path, operations, errors, event-stream and answer codecs |
//! | [`platform`] | the trait the core needs from its host: send, clock, state, limits |
//! | [`config`], [`text`], [`crypto`] | leaves: the route table and settings; hex and UTC formatting; HMAC |
//!
//! # The path of one request
//!
//! `POST /api/chat` reaches [`http::Edge::handle`], which parses the [`http::Endpoint`],
//! identifies the caller (own page, or a visitor of a widget key by the token the edge signed
//! for one of the key's origins), bounds and validates the body and counts it against its
//! rate limits. [`routing::pipeline`] resolves
//! the route (by name, or `auto` by the classifier), orders its chain by live health and runs
//! the attempts: each one [`bedrock::call::open`], through the one signed call path
//! [`bedrock::send::send_signed`] to [`platform::Platform::send`], its event stream decoded
//! ([`bedrock::eventstream`], [`bedrock::decode`]). A failure before the first byte retries or
//! falls back along the chain; the answer goes back as SSE events (`shared::sse`), and the
//! outcome is recorded in the target's health and the request's log line.
//!
//! Everything but `worker` is plain Rust, run and tested natively; the Worker is a thin shell
//! supplying the platform (HTTP client, clock, bindings).
//!
//! JSON is always parsed from bytes (`serde_json::from_slice`), never with `from_str` nor
//! converted from a `serde_json::Value`: with one reader, each type's deserializer is
//! compiled into the Worker's wasm once.

pub mod bedrock;
pub mod config;
pub mod crypto;
pub mod http;
pub mod jobs;
pub mod platform;
pub mod routing;
pub mod text;

#[cfg(test)]
mod test_support;

#[cfg(target_arch = "wasm32")]
mod worker;
