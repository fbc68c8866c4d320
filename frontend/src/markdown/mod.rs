//! Markdown for model answers: a small block/inline parser and a DOM renderer that is safe for
//! untrusted text and incremental while the answer streams.

mod block;
mod closers;
mod dom;
mod inline;
mod lines;
mod links;
mod live;
mod split;

pub use live::{LiveMarkdown, Markdown};
