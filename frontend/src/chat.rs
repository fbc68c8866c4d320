//! The chat controller: sends turns, streams answers into messages, and implements Stop,
//! Regenerate, Retry and Edit. Views hold a clone: they read its state through read-only
//! signals and change it only through its methods.

use crate::{
    api::{self, ChatError},
    jobs,
    state::{history, Failure, Message, Status, StoredMessage},
    token::WidgetToken,
};
use leptos::{prelude::*, task::spawn_local};
use shared::{jobs::JobStatus, ChatRequest, Role, StreamEvent};
use std::sync::Arc;
use web_sys::{AbortController, AbortSignal};

/// One conversation being shown. Clones share state.
#[derive(Clone)]
pub struct Chat {
    api_base: Arc<str>,
    /// A widget's token, sent with every request (the chat page has none).
    widget_token: Option<WidgetToken>,
    messages: ArcRwSignal<Vec<Message>>,
    /// Route for the next request; `None` lets the edge choose its default.
    route: ArcRwSignal<Option<String>>,
    streaming: ArcRwSignal<bool>,
    /// Send the next turn as a background job (`POST /api/jobs`) instead of a stream.
    background: ArcRwSignal<bool>,
    /// The status of the last background job, for the composer.
    job_status: ArcRwSignal<Option<JobStatus>>,
    /// The answer in flight and its controller.
    abort: StoredValue<Option<(u64, AbortController)>, LocalStorage>,
    on_change: Option<Callback<Vec<StoredMessage>>>,
}

impl Chat {
    pub fn new(
        api_base: &str,
        widget_token: Option<WidgetToken>,
        initial: Vec<StoredMessage>,
        on_change: Option<Callback<Vec<StoredMessage>>>,
    ) -> Self {
        Self {
            api_base: api_base.trim_end_matches('/').into(),
            widget_token,
            messages: ArcRwSignal::new(initial.into_iter().map(Message::restore).collect()),
            route: ArcRwSignal::new(None),
            streaming: ArcRwSignal::new(false),
            background: ArcRwSignal::new(false),
            job_status: ArcRwSignal::new(None),
            abort: StoredValue::new_local(None),
            on_change,
        }
    }

    pub fn messages(&self) -> ArcReadSignal<Vec<Message>> {
        self.messages.read_only()
    }

    pub fn route(&self) -> ArcReadSignal<Option<String>> {
        self.route.read_only()
    }

    /// Whether an answer is in flight.
    pub fn streaming(&self) -> ArcReadSignal<bool> {
        self.streaming.read_only()
    }

    pub fn background(&self) -> ArcReadSignal<bool> {
        self.background.read_only()
    }

    pub fn job_status(&self) -> ArcReadSignal<Option<JobStatus>> {
        self.job_status.read_only()
    }

    /// Chooses the route of the next request; `None` for the edge's default.
    pub fn set_route(&self, route: Option<String>) {
        self.route.set(route);
    }

    /// Sends the next turns as background jobs (`true`) or as streams.
    pub fn set_background(&self, background: bool) {
        self.background.set(background);
    }

    /// Background jobs belong to the main client: a widget (which sends its token) may use
    /// only the chat endpoints.
    pub fn jobs_available(&self) -> bool {
        self.widget_token.is_none()
    }

    /// Sends a user message and streams the answer. `false` if busy or `text` is blank.
    pub fn send(&self, text: &str) -> bool {
        if self.streaming.get_untracked() || text.trim().is_empty() {
            return false;
        }
        self.messages.update(|messages| {
            messages.push(Message::new(Role::User, text.to_owned(), Status::Done));
        });
        self.answer();
        true
    }

    /// Replaces the last answer (failed, stopped or finished) with a new one.
    pub fn regenerate(&self) {
        if self.streaming.get_untracked() {
            return;
        }
        self.messages.update(|messages| {
            if messages.last().is_some_and(|m| m.role == Role::Assistant) {
                messages.pop();
            }
        });
        self.answer();
    }

    /// Replaces the user message `id` with `text`, drops everything after it, and resends.
    pub fn edit(&self, id: u64, text: &str) {
        if text.trim().is_empty() {
            return;
        }
        self.stop();
        self.messages.update(|messages| {
            if let Some(at) = messages.iter().position(|m| m.id == id) {
                messages.truncate(at);
            }
        });
        self.send(text);
    }

    /// Aborts the answer in flight, keeping the text received so far.
    pub fn stop(&self) {
        let controller = self.abort.try_update_value(Option::take).flatten();
        let Some((_, controller)) = controller else {
            return;
        };
        controller.abort();
        if let Some(answer) = self.messages.with_untracked(|m| m.last().cloned()) {
            answer.end(Status::Stopped);
        }
        self.streaming.set(false);
        self.save();
    }

    /// Whether `id` is the last message, the one Regenerate and Retry act on.
    pub fn is_last(&self, id: u64) -> bool {
        self.messages
            .with(|m| m.last().is_some_and(|last| last.id == id))
    }

    pub fn snapshot(&self) -> Vec<StoredMessage> {
        self.messages
            .with_untracked(|messages| messages.iter().map(Message::snapshot).collect())
    }

    fn save(&self) {
        if let Some(on_change) = &self.on_change {
            on_change.try_run(self.snapshot());
        }
    }

    /// Appends an empty answer and streams it from the conversation so far.
    fn answer(&self) {
        let request = ChatRequest {
            messages: self.messages.with_untracked(|messages| {
                let texts: Vec<(Role, String)> = messages
                    .iter()
                    .map(|m| (m.role, m.text().get_untracked()))
                    .collect();
                history(texts.iter().map(|(role, text)| (*role, text.as_str())))
            }),
            route: self.route.get_untracked(),
            ..ChatRequest::default()
        };
        let answer = Message::pending_answer();
        self.messages
            .update(|messages| messages.push(answer.clone()));
        let Ok(controller) = AbortController::new() else {
            answer.end(Status::Failed(browser_too_old()));
            return self.save();
        };
        let signal = controller.signal();
        self.abort.set_value(Some((answer.id, controller)));
        self.streaming.set(true);
        let chat = self.clone();
        if self.background.get_untracked() {
            spawn_local(async move {
                let status = chat.job_status.clone();
                let on_status = move |s| status.set(Some(s));
                let result = jobs::run_job(&chat.api_base, &[], &request, &signal, &on_status)
                    .await
                    .map(|result| jobs::show_result(&answer, result));
                chat.finish(&answer, result);
            });
            return;
        }
        spawn_local(async move {
            let mut on_event = |event| answer.apply(event);
            let result = chat.stream(&request, &signal, &mut on_event).await;
            chat.finish(&answer, result);
        });
    }

    /// Streams the answer to `request`; a widget sends its token, and once asks for a new one
    /// and tries again when the edge refuses it (expired, or its secret changed).
    async fn stream(
        &self,
        request: &ChatRequest,
        signal: &AbortSignal,
        on_event: &mut dyn FnMut(StreamEvent),
    ) -> Result<(), ChatError> {
        let Some(token) = &self.widget_token else {
            return api::stream_chat(&self.api_base, &[], request, signal, on_event).await;
        };
        let mut renewed = false;
        loop {
            let headers = token.headers(signal).await.map_err(|failure| {
                if signal.aborted() {
                    ChatError::Aborted
                } else {
                    ChatError::Failed(failure)
                }
            })?;
            match api::stream_chat(&self.api_base, &headers, request, signal, on_event).await {
                Err(ChatError::Unauthorized(_)) if !renewed => {
                    token.forget();
                    renewed = true;
                }
                Err(ChatError::Unauthorized(failure)) => return Err(ChatError::Failed(failure)),
                other => return other,
            }
        }
    }

    fn finish(&self, answer: &Message, result: Result<(), ChatError>) {
        answer.end(match result {
            Ok(()) => Status::Done,
            Err(ChatError::Aborted) => Status::Stopped,
            Err(ChatError::Failed(failure) | ChatError::Unauthorized(failure)) => {
                Status::Failed(failure)
            }
        });
        // Stop (or a view that went away) may already have settled this answer.
        let current = self
            .abort
            .try_with_value(|abort| abort.as_ref().is_some_and(|(id, _)| *id == answer.id));
        if current == Some(true) {
            self.abort.set_value(None);
            self.streaming.set(false);
            self.save();
        }
    }
}

fn browser_too_old() -> Failure {
    Failure {
        message: "This browser cannot cancel requests (no AbortController).".into(),
        retryable: false,
        retry_after_secs: None,
    }
}
