//! The tunables of the routing layer, as the route table carries them: how hard a route
//! retries, when a target's circuit opens, how a chain is ordered by health, and where the
//! `auto` route's tiers start. Plain data with its range checks; the behaviour lives in
//! `routing`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How hard one route tries. Part of the route table (`routes.<name>.retry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Calls to one target, the first included, before moving down the chain.
    pub max_attempts: u32,
    /// Backoff ceiling of the first retry; it doubles for each further retry.
    pub base_backoff_ms: u64,
    /// Most the backoff ceiling grows to; a longer `Retry-After` moves to the next target.
    pub max_backoff_ms: u64,
    /// Time from the request reaching the edge within which the answer must have started;
    /// no attempt starts, and no backoff sleeps, past it.
    pub deadline_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_backoff_ms: 200,
            max_backoff_ms: 2_000,
            deadline_ms: 30_000,
        }
    }
}

impl RetryPolicy {
    /// `Err((field, problem))` for a setting out of range.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(1..=10).contains(&self.max_attempts) {
            return Err(("max_attempts", "must be from 1 to 10".into()));
        }
        if self.base_backoff_ms > 60_000 {
            return Err(("base_backoff_ms", "must be at most 60000".into()));
        }
        if !(self.base_backoff_ms..=60_000).contains(&self.max_backoff_ms) {
            return Err((
                "max_backoff_ms",
                "must be from base_backoff_ms to 60000".into(),
            ));
        }
        if !(1..=600_000).contains(&self.deadline_ms) {
            return Err(("deadline_ms", "must be from 1 to 600000".into()));
        }
        Ok(())
    }
}

/// When a circuit opens and how long it stays open. Part of the route table (`circuit`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CircuitPolicy {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long an open circuit fails fast before a probe is let through.
    pub cool_down_ms: u64,
    /// Outcomes kept for the error-rate rule (at most 64).
    pub window: u32,
    /// Share of failures in a full window that opens the circuit; `None` turns the rule off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
}

impl Default for CircuitPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down_ms: 30_000,
            window: 20,
            error_rate: None,
        }
    }
}

impl CircuitPolicy {
    /// `Err((field, problem))` for a setting out of range.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(1..=1000).contains(&self.failure_threshold) {
            return Err(("failure_threshold", "must be from 1 to 1000".into()));
        }
        if !(1..=3_600_000).contains(&self.cool_down_ms) {
            return Err(("cool_down_ms", "must be from 1 to 3600000".into()));
        }
        if !(1..=64).contains(&self.window) {
            return Err(("window", "must be from 1 to 64".into()));
        }
        if let Some(rate) = self.error_rate {
            if !(rate > 0.0 && rate <= 1.0) {
                return Err(("error_rate", "must be above 0 and at most 1".into()));
            }
        }
        Ok(())
    }
}

/// How a chain is ordered by health. Part of the route table (`routing`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingPolicy {
    /// Weight of the newest sample in both moving averages (0 < alpha <= 1).
    pub ewma_alpha: f64,
    /// Milliseconds of expected latency one unit of error rate is worth (a target failing half
    /// its calls is ranked as if `error_penalty_ms / 2` slower).
    pub error_penalty_ms: f64,
    /// Milliseconds of expected latency one unit of a target's `cost` is worth; 0 ignores cost.
    pub cost_weight_ms: f64,
}

impl Default for RoutingPolicy {
    fn default() -> Self {
        Self {
            ewma_alpha: 0.3,
            error_penalty_ms: 5_000.0,
            cost_weight_ms: 0.0,
        }
    }
}

impl RoutingPolicy {
    /// `Err((field, problem))` for a setting out of range.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(self.ewma_alpha > 0.0 && self.ewma_alpha <= 1.0) {
            return Err(("ewma_alpha", "must be above 0 and at most 1".into()));
        }
        for (field, value) in [
            ("error_penalty_ms", self.error_penalty_ms),
            ("cost_weight_ms", self.cost_weight_ms),
        ] {
            if !(0.0..=3_600_000.0).contains(&value) {
                return Err((field, "must be from 0 to 3600000".into()));
            }
        }
        Ok(())
    }
}

/// The three tiers, each mapped to a route by the `auto` route's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Simple,
    Medium,
    Complex,
}

impl Tier {
    /// This tier, then the ones below it (nearest first), then the ones above it.
    pub fn nearest(self) -> [Tier; 3] {
        match self {
            Self::Simple => [Self::Simple, Self::Medium, Self::Complex],
            Self::Medium => [Self::Medium, Self::Simple, Self::Complex],
            Self::Complex => [Self::Complex, Self::Medium, Self::Simple],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Medium => "medium",
            Self::Complex => "complex",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Scores at which the tiers start. Part of the `auto` route's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Lowest score that is `medium`.
    pub medium: i32,
    /// Lowest score that is `complex`.
    pub complex: i32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            medium: 1,
            complex: 4,
        }
    }
}

impl Thresholds {
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.complex <= self.medium {
            return Err(("complex", "must be above medium".into()));
        }
        Ok(())
    }
}
