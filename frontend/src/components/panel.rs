//! `ChatPanel`: a whole chat (route picker, conversation, composer) against one API base URL.
//! It knows nothing of where conversations are kept; it reports changes through `on_change`.

use super::{composer::Composer, message::MessageView, route_picker::RoutePicker};
use crate::{abort, api, chat::Chat, state::StoredMessage, token::WidgetToken};
use leptos::{ev::KeyboardEvent, html::Div, prelude::*, task::spawn_local};
use shared::routes::RoutesResponse;

/// Distance from the bottom (px) within which new text keeps the view scrolled down.
const STICKY_SCROLL_PX: i32 = 120;

#[component]
pub fn ChatPanel(
    /// Origin of the API (`""` for the page's own origin, or `https://chat.example.com`).
    #[prop(into, optional)]
    api_base: String,
    /// Messages to start with, e.g. a saved conversation.
    #[prop(optional)]
    initial: Vec<StoredMessage>,
    /// Called with every message whenever a turn ends, is stopped or is edited.
    #[prop(into, optional)]
    on_change: Option<Callback<Vec<StoredMessage>>>,
    /// Offer the routes of `GET /api/routes`.
    #[prop(default = true)]
    route_picker: bool,
    /// The route to ask for (until the picker changes it); `None` lets the edge choose.
    #[prop(into, optional)]
    route: Option<String>,
    /// The widget's token, sent with every request (a widget frame's panel only).
    #[prop(optional)]
    widget_token: Option<WidgetToken>,
    /// Messages to send as if typed, oldest first, e.g. from the page embedding a widget. While
    /// an answer streams they wait; the first is sent once the panel is free.
    #[prop(into, optional)]
    queued: Option<Signal<Vec<String>>>,
    /// Called once the first of `queued` has been taken to send: its owner removes it. Queued
    /// messages are sent only when both are given.
    #[prop(into, optional)]
    on_dequeue: Option<Callback<()>>,
) -> impl IntoView {
    let chat = Chat::new(&api_base, widget_token, initial, on_change);
    chat.set_route(route);
    if let (Some(queued), Some(on_dequeue)) = (queued, on_dequeue) {
        send_queued(&chat, queued, on_dequeue);
    }
    on_cleanup({
        let chat = chat.clone();
        move || chat.stop()
    });
    let routes = ArcRwSignal::new(None);
    if route_picker {
        load_routes(api_base, routes.clone());
    }
    let on_select = Callback::new({
        let chat = chat.clone();
        move |chosen| chat.set_route(chosen)
    });
    let log = NodeRef::<Div>::new();
    let messages = chat.messages();
    Effect::new(move |_| {
        // Follow the newest text, unless the reader has scrolled up.
        messages.with(|m| m.last().map(|last| last.text().track()));
        if let Some(log) = log.get() {
            let distance = log.scroll_height() - log.scroll_top() - log.client_height();
            if distance < STICKY_SCROLL_PX {
                log.set_scroll_top(log.scroll_height());
            }
        }
    });
    // Escape stops the answer wherever focus is (the Stop button itself may have had it).
    let escape = window_event_listener(leptos::ev::keydown, {
        let chat = chat.clone();
        move |event: KeyboardEvent| {
            if event.key() == "Escape" {
                chat.stop();
            }
        }
    });
    on_cleanup(move || escape.remove());
    let (list, empty, each_chat) = (chat.messages(), chat.messages(), chat.clone());
    view! {
        <section class="chat-panel" aria-label="Chat">
            {route_picker
                .then(|| {
                    view! {
                        <header class="chat-head">
                            <RoutePicker routes selected=chat.route() on_select />
                        </header>
                    }
                })}
            <div class="conversation" node_ref=log role="log" aria-live="polite" aria-label="Conversation">
                <Show when=move || empty.with(Vec::is_empty)>
                    <p class="empty">"Ask a question to start."</p>
                </Show>
                <For
                    each=move || list.get()
                    key=|message| message.id
                    children=move |message| view! { <MessageView message chat=each_chat.clone() /> }
                />
            </div>
            <Composer chat />
        </section>
    }
}

/// Sends the messages of `queued` one at a time, each once the previous answer has ended,
/// and has `on_dequeue` take each off as it goes.
fn send_queued(chat: &Chat, queued: Signal<Vec<String>>, on_dequeue: Callback<()>) {
    let (chat, streaming) = (chat.clone(), chat.streaming());
    Effect::new(move |_| {
        if streaming.get() {
            return;
        }
        if let Some(text) = queued.with(|waiting| waiting.first().cloned()) {
            on_dequeue.run(());
            chat.send(&text);
        }
    });
}

/// Fetches the route list into `routes`; the request is aborted if the panel goes away.
fn load_routes(api_base: String, routes: ArcRwSignal<Option<RoutesResponse>>) {
    let Some(signal) = abort::until_cleanup() else {
        return;
    };
    spawn_local(async move {
        match api::fetch_routes(api_base.trim_end_matches('/'), &signal).await {
            Ok(list) => routes.set(Some(list)),
            Err(error) if !signal.aborted() => {
                web_sys::console::warn_1(&format!("route list unavailable: {error}").into());
            }
            Err(_) => {}
        }
    });
}
