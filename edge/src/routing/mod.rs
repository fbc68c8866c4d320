//! Choosing and attempting: which route and target chain a request goes to (by name, or by
//! the `auto` [`classifier`]) and its [`plan`] (ordered by live [`health`]), the answer
//! [`pipeline`] whose decision loop drives a [`run`] of attempts with its [`retry`] decisions,
//! fallback and last resort, the [`circuit`] breakers, [`rate_limit`] buckets, token
//! [`budget`]s, and the structured [`request_log`] line of every request.

pub mod budget;
pub mod circuit;
pub mod classifier;
pub mod health;
pub mod pipeline;
pub mod plan;
pub mod rate_limit;
pub mod request_log;
pub mod retry;
pub mod run;
