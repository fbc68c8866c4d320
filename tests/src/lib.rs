//! Test support for the whole product: the fake Bedrock Runtime server, and the local stack
//! (fake Bedrock + `wrangler dev`) that `scripts/dev` and the end-to-end tests run.

pub mod client;
pub mod fake_bedrock;
pub mod native_platform;
pub mod stack;
