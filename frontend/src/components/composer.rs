//! The message box: Enter sends, Shift+Enter adds a line, Stop replaces Send while an answer
//! streams (Escape stops too; the panel listens for that key). "Background job" sends the turn
//! as a job (`POST /api/jobs`) and shows its status until the answer arrives.

use crate::{chat::Chat, jobs::status_text};
use leptos::{ev::KeyboardEvent, html::Textarea, prelude::*};

#[component]
pub fn Composer(chat: Chat) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let input = NodeRef::<Textarea>::new();
    let send = {
        let chat = chat.clone();
        move || {
            if chat.send(&draft.get_untracked()) {
                draft.set(String::new());
                // Send turns into Stop: keep focus in the box rather than losing it.
                if let Some(input) = input.get_untracked() {
                    let _ = input.focus();
                }
            }
        }
    };
    let on_keydown = {
        let send = send.clone();
        move |event: KeyboardEvent| {
            if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
                event.prevent_default();
                send();
            }
        }
    };
    let (streaming, background, job_status) =
        (chat.streaming(), chat.background(), chat.job_status());
    let jobs_available = chat.jobs_available();
    let toggle = {
        let chat = chat.clone();
        move |event| chat.set_background(event_target_checked(&event))
    };
    let stop = move |_| chat.stop();
    view! {
        <form
            class="composer"
            on:submit=move |event| {
                event.prevent_default();
                send();
            }
        >
            <label class="composer-field">
                <span class="sr-only">"Message"</span>
                <textarea
                    node_ref=input
                    data-testid="composer-input"
                    rows="2"
                    placeholder="Message (Enter to send, Shift+Enter for a new line)"
                    prop:value=move || draft.get()
                    on:input=move |event| draft.set(event_target_value(&event))
                    on:keydown=on_keydown
                ></textarea>
            </label>
            {jobs_available.then(|| view! {
                <div class="composer-job">
                    <label title="Send as a background job and show the answer when it is done">
                        <input
                            type="checkbox"
                            data-testid="background-toggle"
                            prop:checked=move || background.get()
                            on:change=toggle
                        />
                        "Background job"
                    </label>
                    <span class="job-status" data-testid="job-status" role="status">
                        {move || job_status.get().map(status_text)}
                    </span>
                </div>
            })}
            <Show
                when=move || streaming.get()
                fallback=|| {
                    view! {
                        <button type="submit" class="primary" data-testid="send-button">
                            "Send"
                        </button>
                    }
                }
            >
                <button type="button" class="danger" data-testid="stop-button" on:click=stop.clone()>
                    "Stop"
                </button>
            </Show>
        </form>
    }
}
