//! The framed chat itself: a title bar (New conversation, Close) over the `ChatPanel` once the
//! widget is launched, or a notice while it is checked or after it was refused. Its
//! conversation is kept in this browser, apart from the chat page's.

use super::{
    host::{self, FrameMessage, HostMessage},
    launch::{self, Phase},
    options::Options,
};
use crate::{components::ChatPanel, state::StoredMessage, store::ConversationStore};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::HtmlElement;

/// Key prefix of the widget's conversation in `localStorage` (its own, apart from the page's).
const STORAGE_PREFIX: &str = "bedrock-widget:";

#[component]
pub fn Widget() -> impl IntoView {
    let options = Options::from_location();
    options.dress_page();
    let host = host::host_origin(options.origin.as_deref());
    let phase = launch::start(&options, host.as_deref());
    let queued = RwSignal::new(Vec::<String>::new());
    if let Some(host) = host.clone() {
        host::listen(host, move |message| match message {
            HostMessage::Open => focus_composer(),
            HostMessage::Send { text } => queued.update(|q| q.push(text)),
            HostMessage::Close => {}
        });
    }
    let report_to = host.clone();
    Effect::new(move |_| match phase.get() {
        Phase::Checking => {}
        Phase::Ready { .. } => host::post(&FrameMessage::Ready, report_to.as_deref()),
        Phase::Refused(message) => {
            host::post(&FrameMessage::Error { message }, report_to.as_deref());
        }
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
        let Phase::Ready { route, token } = phase.get() else {
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
        Some(view! {
            <ChatPanel
                route
                route_picker=false
                widget_token=token
                initial
                on_change
                queued=queued.read_only()
                on_dequeue
            />
        })
    };
    let close_from = host;
    view! {
        <div class="widget">
            <header class="widget-bar">
                <h1 data-testid="widget-title">{options.title}</h1>
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
                    on:click=move |_| host::post(&FrameMessage::Close, close_from.as_deref())
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
