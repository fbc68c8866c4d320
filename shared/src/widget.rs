//! The embeddable widget's names on the wire: where the edge serves its frame page, and the
//! headers in which the frame sends its key and the origin of the page embedding it.

/// Path of the widget's frame page.
pub const FRAME_PATH: &str = "/widget/frame.html";
/// Request header carrying the widget's public key.
pub const KEY_HEADER: &str = "x-widget-key";
/// Request header carrying the origin of the page the widget is embedded in.
pub const ORIGIN_HEADER: &str = "x-widget-origin";
