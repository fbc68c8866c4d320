//! The benchmarks `scripts/bench` runs (through `src/bin/bench.rs`): artefact sizes, the edge's
//! added latency against the fake Bedrock, the edge core's CPU per answer, a concurrent load run
//! and the front end's render cost. Each section returns table rows saying how it measured.
//! The sections that need the Worker run on each local runtime asked for
//! ([`crate::stack::WorkerRuntime`]), each row naming the one it measured.

pub mod chat;
pub mod cpu;
pub mod edge_core;
pub mod load;
pub mod overhead;
pub mod render;
pub mod sizes;
pub mod stats;
pub mod table;

use serde_json::json;

/// The one target of the benchmark route table: a model the fake answers like any other.
pub const MODEL: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
pub const REGION: &str = "us-east-1";

/// The Worker's `ROUTES` for benchmarks: one route `bench` to [`MODEL`] in [`REGION`] with no
/// retries and no rate limit (the built-in routes allow 60 requests a minute per client, which
/// a load run would hit at once). Health tracking and everything else stay as deployed.
pub fn routes_json() -> String {
    let route = json!({
        "description": "benchmark: one target, no rate limit",
        "targets": [{ "model": MODEL, "region": REGION }],
        "retry": { "max_attempts": 1 },
    });
    json!({ "default_route": "bench", "routes": { "bench": route } }).to_string()
}
