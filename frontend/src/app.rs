//! The full page: saved conversations in a sidebar and the `ChatPanel` of the open one.

use crate::{
    components::{ChatPanel, ConversationList},
    state::StoredMessage,
    store::{ConversationStore, Summary},
};
use leptos::prelude::*;

/// Key prefix of this app's entries in `localStorage`.
const STORAGE_PREFIX: &str = "bedrock-chat:";

#[component]
pub fn App() -> impl IntoView {
    let store = ConversationStore::new(STORAGE_PREFIX);
    let conversations = RwSignal::new(store.list());
    let notice = RwSignal::new(None::<String>);
    let current = RwSignal::new(None::<String>);
    let sidebar_open = RwSignal::new(false);

    let report = move |result: Result<(), crate::store::StoreError>| {
        notice.set(result.err().map(|error| error.to_string()));
        conversations.set(store.list());
    };
    let open_new = move || {
        // The newest conversation is reused while it is still empty, rather than piling up.
        let empty = conversations.with_untracked(|list| {
            list.first()
                .filter(|s| store.load(&s.id).is_empty())
                .map(|s| s.id.clone())
        });
        let id = match empty {
            Some(id) => id,
            None => match store.create() {
                Ok(Summary { id, .. }) => id,
                Err(error) => {
                    notice.set(Some(error.to_string()));
                    "unsaved".to_owned()
                }
            },
        };
        conversations.set(store.list());
        current.set(Some(id));
    };
    match conversations.with_untracked(|list| list.first().map(|s| s.id.clone())) {
        Some(id) => current.set(Some(id)),
        None => open_new(),
    }

    let on_new = Callback::new(move |()| {
        open_new();
        sidebar_open.set(false);
    });
    let on_select = Callback::new(move |id| {
        current.set(Some(id));
        sidebar_open.set(false);
    });
    let on_rename = Callback::new(move |(id, title): (String, String)| {
        report(store.rename(&id, &title));
    });
    let on_delete = Callback::new(move |id: String| {
        report(store.delete(&id));
        if current.get_untracked().as_deref() == Some(id.as_str()) {
            match conversations.with_untracked(|list| list.first().map(|s| s.id.clone())) {
                Some(next) => current.set(Some(next)),
                None => open_new(),
            }
        }
    });

    let panel = move || {
        let id = current.get()?;
        let initial = store.load(&id);
        let on_change = Callback::new(move |messages: Vec<StoredMessage>| {
            report(store.save(&id, &messages));
        });
        Some(view! { <ChatPanel initial on_change /> })
    };
    view! {
        <div class="app" class:sidebar-open=move || sidebar_open.get()>
            <header class="app-bar">
                <button
                    type="button"
                    class="icon menu"
                    aria-label="Conversations"
                    aria-expanded=move || sidebar_open.get().to_string()
                    on:click=move |_| sidebar_open.update(|open| *open = !*open)
                >
                    "☰"
                </button>
                <h1>"Bedrock chat"</h1>
            </header>
            <ConversationList conversations current on_new on_select on_rename on_delete />
            <main class="main">
                {move || notice.get().map(|text| view! { <p class="notice error" role="alert">{text}</p> })}
                {panel}
            </main>
        </div>
    }
}
