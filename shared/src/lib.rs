//! Wire types used by both the edge Worker and the browser client, so the two cannot drift.
//!
//! Everything here is plain data plus (de)serialisation: no I/O, no platform code.

pub mod chat;
pub mod content;
pub mod error;
pub mod events;
pub mod health;
pub mod jobs;
pub mod routes;
pub mod sse;
pub mod widget;

pub use chat::{ChatMessage, ChatRequest, ChatResponse, Role, Usage};
pub use content::{Content, ContentBlock};
pub use error::{ApiError, ErrorBody, ErrorCode};
pub use events::{Delta, Done, Fallback, Meta, StreamError, StreamEvent};
