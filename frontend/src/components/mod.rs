//! Reusable chat components. `ChatPanel` is the whole chat; the page and an embeddable widget
//! both build on it.

mod composer;
mod message;
mod panel;
mod route_picker;
mod sidebar;

pub use panel::ChatPanel;
pub use sidebar::ConversationList;
