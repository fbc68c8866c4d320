//! The list of saved conversations: open, rename (inline) and delete, plus "New conversation".

use crate::store::Summary;
use leptos::{ev::KeyboardEvent, html::Input, prelude::*};

#[component]
pub fn ConversationList(
    #[prop(into)] conversations: Signal<Vec<Summary>>,
    #[prop(into)] current: Signal<Option<String>>,
    on_new: Callback<()>,
    on_select: Callback<String>,
    on_rename: Callback<(String, String)>,
    on_delete: Callback<String>,
) -> impl IntoView {
    view! {
        <nav class="sidebar" aria-label="Conversations">
            <button type="button" class="primary new" data-testid="new-conversation" on:click=move |_| on_new.run(())>
                "New conversation"
            </button>
            <ul class="conversations">
                <For
                    each=move || conversations.get()
                    key=|summary| (summary.id.clone(), summary.title.clone())
                    children=move |summary| {
                        view! { <Item summary current on_select on_rename on_delete /> }
                    }
                />
            </ul>
        </nav>
    }
}

#[component]
fn Item(
    summary: Summary,
    current: Signal<Option<String>>,
    on_select: Callback<String>,
    on_rename: Callback<(String, String)>,
    on_delete: Callback<String>,
) -> impl IntoView {
    let Summary { id, title, .. } = summary;
    let renaming = RwSignal::new(false);
    let input = NodeRef::<Input>::new();
    Effect::new(move |_| {
        if let Some(input) = input.get() {
            let _ = input.focus();
            input.select();
        }
    });
    let active = {
        let id = id.clone();
        Signal::derive(move || current.with(|c| c.as_deref() == Some(id.as_str())))
    };
    let commit = {
        let id = id.clone();
        move || {
            // Enter and the blur that follows the input's removal must not both rename.
            if !renaming.get_untracked() {
                return;
            }
            let title = input.get_untracked().map(|input| input.value());
            renaming.set(false);
            if let Some(title) = title {
                on_rename.run((id.clone(), title));
            }
        }
    };
    let on_keydown = {
        let commit = commit.clone();
        move |event: KeyboardEvent| match event.key().as_str() {
            "Enter" => commit(),
            "Escape" => renaming.set(false),
            _ => {}
        }
    };
    let (select_id, delete_id, shown) = (id.clone(), id, title.clone());
    let editor = move || {
        let commit = commit.clone();
        view! {
            <input
                node_ref=input
                data-testid="rename-input"
                aria-label="Conversation title"
                value=title.clone()
                on:keydown=on_keydown.clone()
                on:blur=move |_| commit()
            />
        }
    };
    view! {
        <li class="conversation-item" class:active=active data-testid="conversation-item">
            <Show when=move || !renaming.get() fallback=editor>
                <button
                    type="button"
                    class="open"
                    aria-current=move || active.get().then_some("true")
                    on:click={
                        let id = select_id.clone();
                        move |_| on_select.run(id.clone())
                    }
                >
                    {shown.clone()}
                </button>
                <button
                    type="button"
                    class="icon"
                    data-testid="rename-conversation"
                    aria-label="Rename conversation"
                    title="Rename"
                    on:click=move |_| renaming.set(true)
                >
                    "✎"
                </button>
                <button
                    type="button"
                    class="icon"
                    data-testid="delete-conversation"
                    aria-label="Delete conversation"
                    title="Delete"
                    on:click={
                        let id = delete_id.clone();
                        move |_| on_delete.run(id.clone())
                    }
                >
                    "✕"
                </button>
            </Show>
        </li>
    }
}
