//! The embeddable widget's frame page (`/widget/frame.html?key=…`; the same wasm as the chat
//! page, started in widget mode by `main`): a title bar over the `ChatPanel`, after the edge has
//! accepted its key for the page it is embedded in. It talks to the loader on that page
//! (`widget.js`) with `postMessage`, JSON strings tagged `bedrockChat`, checking both the
//! sender and the origin of every message. The conversation stays in this browser.

use crate::{abort, api, components::ChatPanel, state::StoredMessage, store::ConversationStore};
use leptos::{ev::MessageEvent, prelude::*, task::spawn_local};
use serde::{Deserialize, Serialize};
use shared::widget::{KEY_HEADER, ORIGIN_HEADER};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{HtmlElement, Window};

/// Key prefix of the widget's conversation in `localStorage` (its own, apart from the page's).
const STORAGE_PREFIX: &str = "bedrock-widget:";

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
    /// The edge accepted the key here: the chat is ready.
    Ready,
    /// The widget cannot work here; `message` says why, for people.
    Error { message: String },
    /// The visitor closed the panel from inside.
    Close,
}

/// Colour scheme asked for by `data-theme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Auto,
    Light,
    Dark,
}

/// The frame's URL parameters, set by the loader from the script tag's data attributes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Options {
    pub key: String,
    pub route: Option<String>,
    pub title: String,
    pub theme: Theme,
}

impl Options {
    /// From decoded query pairs; unknown ones are ignored, blanks count as absent.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut options = Self {
            title: "Chat".into(),
            ..Self::default()
        };
        for (name, value) in pairs {
            let value = value.trim().to_owned();
            if value.is_empty() {
                continue;
            }
            match name.as_str() {
                "key" => options.key = value,
                "route" => options.route = Some(value),
                "title" => options.title = value.chars().take(80).collect(),
                "theme" => {
                    options.theme = match value.as_str() {
                        "light" => Theme::Light,
                        "dark" => Theme::Dark,
                        _ => Theme::Auto,
                    }
                }
                _ => {}
            }
        }
        options
    }

    fn from_location() -> Self {
        let search = web_sys::window()
            .and_then(|w| w.location().search().ok())
            .unwrap_or_default();
        let Ok(params) = web_sys::UrlSearchParams::new_with_str(&search) else {
            return Self::from_pairs([]);
        };
        let pairs = ["key", "route", "title", "theme"]
            .into_iter()
            .filter_map(|name| params.get(name).map(|value| (name.to_owned(), value)));
        Self::from_pairs(pairs)
    }
}

/// The route to use from the ones the edge offers this key: the one asked for, if offered.
pub fn pick_route(
    asked: Option<&str>,
    offered: &shared::routes::RoutesResponse,
) -> Result<String, String> {
    match asked {
        None => Ok(offered.default_route.clone()),
        Some(name) if offered.routes.iter().any(|r| r.name == name) => Ok(name.to_owned()),
        Some(name) => Err(format!(
            "This chat widget asks for the route {name:?} (data-route), which its key does not \
             open."
        )),
    }
}

/// Where the widget stands.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Checking,
    Ready { route: String },
    Refused(String),
}

/// The origin of the page embedding this frame: `location.ancestorOrigins[0]` (set by the
/// browser; the host page cannot change it), else the origin of the referrer.
fn host_origin(window: &Window) -> Option<String> {
    let ancestors = js_sys::Reflect::get(&window.location(), &"ancestorOrigins".into()).ok();
    let first = ancestors
        .filter(|list| !list.is_undefined())
        .and_then(|list| js_sys::Reflect::get(&list, &JsValue::from(0)).ok())
        .and_then(|origin| origin.as_string());
    first.or_else(|| {
        let referrer = window.document()?.referrer();
        web_sys::Url::new(&referrer).ok().map(|url| url.origin())
    })
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
fn post(message: &FrameMessage, host: Option<&str>) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let (Some(parent), Ok(json)) = (parent(&window), serde_json::to_string(message)) else {
        return;
    };
    let _ = parent.post_message(&JsValue::from_str(&json), host.unwrap_or("*"));
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

fn focus_composer() {
    let input = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector("[data-testid=composer-input]").ok())
        .flatten()
        .and_then(|element| element.dyn_into::<HtmlElement>().ok());
    if let Some(input) = input {
        let _ = input.focus();
    }
}

/// Shows `options` on the page: the title, and the theme as `data-theme` on `<html>`.
fn dress_page(options: &Options) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    document.set_title(&options.title);
    if let Some(root) = document.document_element() {
        let theme = match options.theme {
            Theme::Auto => "auto",
            Theme::Light => "light",
            Theme::Dark => "dark",
        };
        let _ = root.set_attribute("data-theme", theme);
    }
}

/// Asks the edge which routes this key opens here; sets `phase` from the answer.
fn check(headers: Vec<(String, String)>, asked: Option<String>, phase: RwSignal<Phase>) {
    let Some(signal) = abort::until_cleanup() else {
        phase.set(Phase::Refused(
            "This browser is too old for the chat.".into(),
        ));
        return;
    };
    spawn_local(async move {
        let answer = api::fetch_routes_with("", &headers, &signal).await;
        if signal.aborted() {
            return;
        }
        phase.set(match answer {
            Ok(offered) => match pick_route(asked.as_deref(), &offered) {
                Ok(route) => Phase::Ready { route },
                Err(message) => Phase::Refused(message),
            },
            Err(failure) => Phase::Refused(failure.message),
        });
    });
}

#[component]
pub fn Widget() -> impl IntoView {
    let options = Options::from_location();
    dress_page(&options);
    let host = web_sys::window().and_then(|w| host_origin(&w));
    let phase = RwSignal::new(Phase::Checking);
    let queued = RwSignal::new(Vec::<String>::new());
    let headers = vec![
        (KEY_HEADER.to_owned(), options.key.clone()),
        (ORIGIN_HEADER.to_owned(), host.clone().unwrap_or_default()),
    ];
    if options.key.is_empty() {
        phase.set(Phase::Refused(
            "This chat widget has no key: add data-key to its script tag.".into(),
        ));
    } else if host.is_none() {
        phase.set(Phase::Refused(
            "This chat widget could not tell which site it is on, so it cannot answer here.".into(),
        ));
    } else {
        check(headers.clone(), options.route.clone(), phase);
    }

    if let Some(host) = host.clone() {
        let listener =
            window_event_listener(
                leptos::ev::message,
                move |event: MessageEvent| match host_message(&event, &host) {
                    Some(HostMessage::Open) => focus_composer(),
                    Some(HostMessage::Send { text }) => queued.update(|q| q.push(text)),
                    Some(HostMessage::Close) | None => {}
                },
            );
        on_cleanup(move || listener.remove());
    }
    let report_to = host.clone();
    Effect::new(move |_| match phase.get() {
        Phase::Checking => {}
        Phase::Ready { .. } => post(&FrameMessage::Ready, report_to.as_deref()),
        Phase::Refused(message) => post(&FrameMessage::Error { message }, report_to.as_deref()),
    });

    let store = ConversationStore::new(STORAGE_PREFIX);
    let fresh = move || store.create().map_or_else(|_| "unsaved".into(), |s| s.id);
    let saved = store.list().first().map(|s| s.id.clone());
    let conversation = RwSignal::new(saved.unwrap_or_else(fresh));
    let start_over = move |_| {
        let _ = store.delete(&conversation.get_untracked());
        conversation.set(fresh());
    };
    let on_dequeue = Callback::new(move |()| {
        queued.update(|waiting| {
            if !waiting.is_empty() {
                waiting.remove(0);
            }
        });
    });
    let panel = move || {
        let Phase::Ready { route } = phase.get() else {
            return None;
        };
        let id = conversation.get();
        let initial = store.load(&id);
        // Browsers that block third-party storage refuse every save: the conversation then
        // lasts as long as the page. Say so once.
        let warned = StoredValue::new(false);
        let on_change = Callback::new(move |messages: Vec<StoredMessage>| {
            if let Err(error) = store.save(&id, &messages) {
                if !warned.get_value() {
                    warned.set_value(true);
                    web_sys::console::warn_1(&error.to_string().into());
                }
            }
        });
        let headers = headers.clone();
        Some(view! {
            <ChatPanel
                route
                route_picker=false
                headers
                initial
                on_change
                queued=queued.read_only()
                on_dequeue
            />
        })
    };
    let close_from = host.clone();
    view! {
        <div class="widget">
            <header class="widget-bar">
                <h1 data-testid="widget-title">{options.title.clone()}</h1>
                <button
                    type="button"
                    class="icon"
                    title="New conversation"
                    aria-label="New conversation"
                    data-testid="widget-new"
                    on:click=start_over
                >
                    "↺"
                </button>
                <button
                    type="button"
                    class="icon"
                    title="Close"
                    aria-label="Close chat"
                    data-testid="widget-close"
                    on:click=move |_| post(&FrameMessage::Close, close_from.as_deref())
                >
                    "×"
                </button>
            </header>
            {move || match phase.get() {
                Phase::Checking => {
                    Some(view! { <p class="notice widget-status" role="status">"Connecting…"</p> }.into_any())
                }
                Phase::Refused(message) => {
                    Some(
                        view! {
                            <p class="notice error widget-status" role="alert" data-testid="widget-refused">
                                {message}
                            </p>
                        }
                            .into_any(),
                    )
                }
                Phase::Ready { .. } => None,
            }}
            {panel}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::routes::{RouteInfo, RoutesResponse};
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

    #[wasm_bindgen_test(unsupported = test)]
    fn options_come_from_the_query() {
        let pairs = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        let options = Options::from_pairs(pairs(&[
            ("key", "pk_demo_local"),
            ("route", "generate"),
            ("title", "Ask us"),
            ("theme", "dark"),
            ("other", "x"),
        ]));
        assert_eq!(
            options,
            Options {
                key: "pk_demo_local".into(),
                route: Some("generate".into()),
                title: "Ask us".into(),
                theme: Theme::Dark,
            }
        );
        let defaults = Options::from_pairs(pairs(&[("route", " "), ("theme", "neon")]));
        assert_eq!((defaults.title.as_str(), defaults.route), ("Chat", None));
        assert_eq!(defaults.theme, Theme::Auto);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn the_route_must_be_one_the_key_opens() {
        let route = |name: &str| RouteInfo {
            name: name.into(),
            description: String::new(),
            model: "m".into(),
            region: "r".into(),
            targets: Vec::new(),
            tiers: None,
        };
        let offered = RoutesResponse {
            default_route: "generate".into(),
            routes: vec![route("generate"), route("classify")],
        };
        assert_eq!(pick_route(None, &offered), Ok("generate".into()));
        assert_eq!(
            pick_route(Some("classify"), &offered),
            Ok("classify".into())
        );
        assert!(pick_route(Some("analyze"), &offered)
            .unwrap_err()
            .contains("\"analyze\""));
    }
}
