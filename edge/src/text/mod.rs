//! Small text encodings used across the layers: lowercase hex, and UTC timestamps in the forms
//! SigV4 and Bedrock's APIs write. A leaf: it imports nothing of the crate.

pub mod hex;
pub mod utc;
