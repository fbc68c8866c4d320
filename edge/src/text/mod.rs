//! Small text helpers used across the layers: lowercase hex, UTC timestamps in the forms SigV4
//! and Bedrock's APIs write, and account ids masked. A leaf: it imports nothing of the crate.

pub mod hex;
pub mod mask;
pub mod utc;
