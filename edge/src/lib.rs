//! The edge: validates chat requests, routes and signs Bedrock Runtime calls, decodes the
//! binary event stream and re-streams answers as Server-Sent Events.
//!
//! Everything but the `worker` module is plain Rust, run and tested natively; the Worker is a
//! thin shell supplying the platform (HTTP client, clock, bindings).

pub mod eventstream;
pub mod platform;
