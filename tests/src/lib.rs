//! Test support for the whole product: the fake Bedrock Runtime server, the local stack
//! (fake Bedrock + `wrangler dev`) that `scripts/dev` and the end-to-end tests run, and the
//! benchmarks `scripts/bench` runs.

pub mod access_issuer;
pub mod bench;
pub mod client;
pub mod fake_bedrock;
pub mod harness;
pub mod native_platform;
pub mod stack;
pub mod wall_clock;
