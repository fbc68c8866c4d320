//! The route table: which named routes a client may ask for, and behind each an ordered chain
//! of Bedrock targets with its retry policy, timeouts, last resort and rate-limit class; the
//! `auto` route's tiers; the circuit-breaker, routing and rate-limit settings. Parsed strictly
//! from the `ROUTES` JSON (unknown fields refused) or built in, and validated at start-up;
//! every error names its path (`routes.generate.targets[1].region: unknown region "mars-1"`).
//! Only what is configured here can be reached: the edge is never an open Bedrock proxy.
//!
//! A leaf of the crate: it imports no other layer. [`types`] holds the validated table,
//! [`raw`] its JSON form, [`load`] the checks that turn one into the other, [`builtin`] the
//! routes used when none are configured, [`policy`] the tunables of retries, circuits, health
//! ordering and the `auto` classifier, [`widget_keys`] the embeddable widget's keys,
//! [`limits`] the bounds of every request, [`settings`] and [`secret`] the Worker's settings.

pub mod access;
pub mod builtin;
pub mod host;
mod json_path;
pub mod limits;
pub mod load;
pub mod policy;
mod raw;
pub mod secret;
pub mod settings;
pub mod types;
pub mod widget_keys;

pub use types::*;

use thiserror::Error;

/// A configuration problem: `path` is a setting (`ROUTES`, `AWS_REGION`) or a path inside one
/// (`routes.generate.targets[0].region`). Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests;
