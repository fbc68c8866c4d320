//! One message: the user's text (with Edit and Copy) or an answer rendered as Markdown with
//! who answered, fallback notices, usage, errors with Retry, and Copy/Regenerate.

use crate::{
    chat::Chat,
    clipboard,
    markdown::Markdown,
    state::{AnswerInfo, Message, Status},
};
use leptos::{prelude::*, task::spawn_local};
use shared::Role;

#[component]
pub fn MessageView(message: Message, chat: Chat) -> impl IntoView {
    let role = match message.role {
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    let status = message.status();
    let streaming = move || status.with(|s| *s == Status::Streaming);
    let body = match message.role {
        Role::User => view! { <UserBody message chat /> }.into_any(),
        Role::Assistant => view! { <AnswerBody message chat /> }.into_any(),
    };
    let busy = streaming.clone();
    view! {
        <article
            class=format!("message {role}")
            data-testid="message"
            data-role=role
            data-streaming=move || streaming().then_some("true")
            aria-busy=move || busy().to_string()
        >
            {body}
        </article>
    }
}

#[component]
fn UserBody(message: Message, chat: Chat) -> impl IntoView {
    let editing = RwSignal::new(false);
    let draft = RwSignal::new(String::new());
    let text = message.text();
    let start_edit = {
        let text = text.clone();
        move |_| {
            draft.set(text.get_untracked());
            editing.set(true);
        }
    };
    let resend = {
        let chat = chat.clone();
        move || {
            editing.set(false);
            chat.edit(message.id, &draft.get_untracked());
        }
    };
    let on_keydown = {
        let resend = resend.clone();
        move |event: leptos::ev::KeyboardEvent| match event.key().as_str() {
            "Enter" if !event.shift_key() && !event.is_composing() => {
                event.prevent_default();
                resend();
            }
            "Escape" => editing.set(false),
            _ => {}
        }
    };
    let editor = move || {
        let resend = resend.clone();
        view! {
            <div class="edit-box">
                <label class="edit-field">
                    <span class="sr-only">"Edit your question"</span>
                    <textarea
                        data-testid="edit-input"
                        prop:value=move || draft.get()
                        on:input=move |event| draft.set(event_target_value(&event))
                        on:keydown=on_keydown.clone()
                    ></textarea>
                </label>
                <div class="message-actions">
                    <button type="button" class="primary" data-testid="edit-send" on:click=move |_| resend()>
                        "Send"
                    </button>
                    <button type="button" on:click=move |_| editing.set(false)>"Cancel"</button>
                </div>
            </div>
        }
    };
    let shown = text.clone();
    view! {
        <Show when=move || !editing.get() fallback=editor>
            <div class="message-text plain" data-testid="message-text">{
                let shown = shown.clone();
                move || shown.get()
            }</div>
            <div class="message-actions">
                <CopyButton text=text.clone() />
                <button type="button" data-testid="edit-button" title="Edit and resend" on:click=start_edit.clone()>
                    "Edit"
                </button>
            </div>
        </Show>
    }
}

#[component]
fn AnswerBody(message: Message, chat: Chat) -> impl IntoView {
    let id = message.id;
    let (info, status) = (message.info(), message.status());
    let waiting = {
        let (text, status) = (message.text(), status.clone());
        move || status.with(|s| *s == Status::Streaming) && text.with(String::is_empty)
    };
    let fallbacks = {
        let info = info.clone();
        move || {
            let notices =
                info.with(|i| i.as_ref().map(|i| i.fallbacks.clone()).unwrap_or_default());
            notices
                .into_iter()
                .map(
                    |notice| view! { <p class="notice" data-testid="fallback-notice">{notice}</p> },
                )
                .collect::<Vec<_>>()
        }
    };
    let outcome = {
        let (status, chat) = (status.clone(), chat.clone());
        move || match status.get() {
            Status::Failed(failure) => {
                let chat = chat.clone();
                let retry = chat.is_last(id).then(|| {
                    view! {
                        <button type="button" data-testid="retry-button" on:click=move |_| chat.regenerate()>
                            "Retry"
                        </button>
                    }
                });
                let wait = failure
                    .retry_after_secs
                    .map(|secs| format!(" You can retry in {secs} s."));
                Some(
                    view! {
                        <div class="message-error" data-testid="message-error" role="alert">
                            <span>{failure.message}{wait}</span>
                            {retry}
                        </div>
                    }
                    .into_any(),
                )
            }
            Status::Stopped => Some(view! { <p class="notice">"Stopped."</p> }.into_any()),
            Status::Streaming | Status::Done => None,
        }
    };
    let can_regenerate = {
        let (chat, status, streaming) = (chat.clone(), status.clone(), chat.streaming());
        move || {
            chat.is_last(id)
                && !streaming.get()
                && !matches!(status.get(), Status::Failed(_) | Status::Streaming)
        }
    };
    let meta_info = info.clone();
    view! {
        <Show when=move || meta_info.with(Option::is_some)>
            <p class="answer-meta" data-testid="answer-meta">{
                let info = info.clone();
                move || info.get().map(|i| meta_line(&i))
            }</p>
        </Show>
        {fallbacks}
        <div class="message-text" data-testid="message-text">
            <Show when=waiting.clone()>
                <span class="typing" aria-hidden="true">"…"</span>
                <span class="sr-only">"Waiting for the answer"</span>
            </Show>
            <Markdown text=message.text() />
        </div>
        {outcome}
        <div class="message-actions">
            <span class="answer-stats" data-testid="answer-stats">{
                let info = message.info();
                move || info.get().and_then(|i| stats_line(&i))
            }</span>
            <CopyButton text=message.text() />
            <Show when=can_regenerate.clone()>
                <button type="button" data-testid="regenerate-button" on:click={
                    let chat = chat.clone();
                    move |_| chat.regenerate()
                }>"Regenerate"</button>
            </Show>
        </div>
    }
}

#[component]
fn CopyButton(#[prop(into)] text: Signal<String>) -> impl IntoView {
    let label = RwSignal::new("Copy");
    let copy = move |_| {
        let text = text.get_untracked();
        spawn_local(async move {
            label.set(if clipboard::copy(&text).await {
                "Copied"
            } else {
                "Copy failed"
            });
            set_timeout(move || label.set("Copy"), clipboard::FEEDBACK);
        });
    };
    view! {
        <button type="button" data-testid="copy-button" title="Copy to the clipboard" on:click=copy>
            {move || label.get()}
        </button>
    }
}

/// "model · region (route)".
fn meta_line(info: &AnswerInfo) -> String {
    format!("{} · {} ({})", info.model, info.region, info.route)
}

/// "12 → 340 tokens · first token 420 ms · 3.1 s", once the answer is done.
fn stats_line(info: &AnswerInfo) -> Option<String> {
    let usage = info.usage?;
    let mut line = format!("{} → {} tokens", usage.input_tokens, usage.output_tokens);
    if let Some(first) = info.first_token_ms {
        line.push_str(&format!(" · first token {}", duration(first)));
    }
    if let Some(total) = info.latency_ms {
        line.push_str(&format!(" · {}", duration(total)));
    }
    Some(line)
}

fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        // Integer arithmetic: float formatting would add kilobytes to the wasm.
        format!("{}.{} s", ms / 1000, ms % 1000 / 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::Usage;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn stats_show_tokens_and_times() {
        let mut info = AnswerInfo {
            model: "m".into(),
            region: "r".into(),
            route: "generate".into(),
            ..AnswerInfo::default()
        };
        assert_eq!(stats_line(&info), None);
        assert_eq!(meta_line(&info), "m · r (generate)");
        info.usage = Some(Usage {
            input_tokens: 12,
            output_tokens: 340,
        });
        info.first_token_ms = Some(420);
        info.latency_ms = Some(3149);
        assert_eq!(
            stats_line(&info).unwrap(),
            "12 → 340 tokens · first token 420 ms · 3.1 s"
        );
    }
}
