//! The embeddable widget's frame page (`/widget/frame.html?key=…`; the same wasm as the chat
//! page, started in widget mode by `main`): a title bar over the `ChatPanel`, after the edge has
//! accepted its key for the page it is embedded in. The conversation stays in this browser.
//!
//! `options` reads the frame's settings from its URL, `host` talks with the loader on the
//! embedding page, `launch` has the edge check the key, and `frame` is the page itself.

mod frame;
mod host;
mod launch;
mod options;

pub use frame::Widget;
pub use host::{FrameMessage, HostMessage};
pub use launch::pick_route;
pub use options::{Options, Theme};
