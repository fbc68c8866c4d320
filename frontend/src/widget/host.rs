//! The frame's side of the `postMessage` protocol with the loader on the embedding page
//! (`widget.js`): JSON strings tagged `bedrockChat`. Every message is checked for both its
//! sender (the parent window) and its origin (the host page's).

use leptos::{ev::MessageEvent, prelude::*};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use web_sys::Window;

/// What the loader on the host page asks of the frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "bedrockChat", rename_all = "snake_case")]
pub enum HostMessage {
    /// The panel was opened: focus the message box.
    Open,
    /// The panel was closed.
    Close,
    /// Send this message as if typed.
    Send { text: String },
}

/// What the frame tells the loader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "bedrockChat", rename_all = "snake_case")]
pub enum FrameMessage {
    /// The edge issued a token for this page: the chat is ready.
    Ready,
    /// The widget cannot work here; `message` says why, for people.
    Error { message: String },
    /// The visitor closed the panel from inside.
    Close,
}

/// The origin of the page embedding this frame: `location.ancestorOrigins[0]`, set by the
/// browser (the host page cannot change it). Only a browser without `ancestorOrigins` (Firefox)
/// falls back to `named`, the origin the loader put in the frame's URL: the frame is shown
/// only on the key's origins (its `frame-ancestors`), so what it names is one of them. Never
/// the referrer, and never anything when the frame is not framed at all.
pub fn host_origin(named: Option<&str>) -> Option<String> {
    let window = web_sys::window()?;
    parent(&window)?;
    let ancestors = js_sys::Reflect::get(&window.location(), &"ancestorOrigins".into()).ok();
    match ancestors.filter(|list| !list.is_undefined() && !list.is_null()) {
        Some(list) => js_sys::Reflect::get(&list, &JsValue::from(0))
            .ok()
            .and_then(|origin| origin.as_string()),
        None => named.map(str::to_owned),
    }
}

/// The window embedding this one, if any.
fn parent(window: &Window) -> Option<Window> {
    window
        .parent()
        .ok()
        .flatten()
        .filter(|parent| JsValue::from(parent) != JsValue::from(window))
}

/// Tells the loader `message`, addressed to the host's origin only (`*` when it is unknown:
/// then the message is only an error text).
pub fn post(message: &FrameMessage, host: Option<&str>) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let (Some(parent), Ok(json)) = (parent(&window), serde_json::to_string(message)) else {
        return;
    };
    let _ = parent.post_message(&JsValue::from_str(&json), host.unwrap_or("*"));
}

/// Hands `on_message` every message of the loader, for as long as the current view lasts.
pub fn listen(host: String, on_message: impl Fn(HostMessage) + 'static) {
    let listener = window_event_listener(leptos::ev::message, move |event: MessageEvent| {
        if let Some(message) = host_message(&event, &host) {
            on_message(message);
        }
    });
    on_cleanup(move || listener.remove());
}

/// A message from the loader: only from the parent window, only from the host's origin.
fn host_message(event: &MessageEvent, host: &str) -> Option<HostMessage> {
    let window = web_sys::window()?;
    let from_parent = event
        .source()
        .zip(parent(&window))
        .is_some_and(|(source, parent)| JsValue::from(source) == JsValue::from(parent));
    if !from_parent || event.origin() != host {
        return None;
    }
    serde_json::from_str(&event.data().as_string()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn messages_have_a_small_tagged_wire_form() {
        let send: HostMessage =
            serde_json::from_str(r#"{"bedrockChat":"send","text":"Hi"}"#).unwrap();
        assert_eq!(send, HostMessage::Send { text: "Hi".into() });
        assert!(serde_json::from_str::<HostMessage>(r#"{"type":"open"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&FrameMessage::Error {
                message: "no".into()
            })
            .unwrap(),
            r#"{"bedrockChat":"error","message":"no"}"#
        );
        assert_eq!(
            serde_json::to_string(&FrameMessage::Ready).unwrap(),
            r#"{"bedrockChat":"ready"}"#
        );
    }
}
