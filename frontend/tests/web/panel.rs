//! `ChatPanel` mounted in the page: saved messages render with the stable test ids, and a
//! request the server refuses shows its error in place with Retry.

use super::dom::{all, container, one, text, wait_for};
use frontend::{
    state::{AnswerInfo, Failure, Status, StoredMessage},
    ChatPanel,
};
use leptos::prelude::*;
use shared::Role;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::{Element, HtmlElement, HtmlTextAreaElement};

/// What the reader is told when the server answers 404 without an error body, as the test
/// runner's server does for the API paths it does not have.
const NOT_FOUND: &str = "The server answered with HTTP 404.";

/// Types `message` in the composer and presses Send.
fn send(root: &Element, message: &str) {
    let input: HtmlTextAreaElement = one(root, "[data-testid=composer-input]").unchecked_into();
    input.set_value(message);
    input
        .dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    one(root, "[data-testid=send-button]")
        .unchecked_into::<HtmlElement>()
        .click();
}

fn saved() -> Vec<StoredMessage> {
    vec![
        StoredMessage {
            role: Role::User,
            content: "Hi".into(),
            info: None,
            status: Status::Done,
        },
        StoredMessage {
            role: Role::Assistant,
            content: "Hello *there*".into(),
            info: Some(AnswerInfo {
                route: "generate".into(),
                model: "model-a".into(),
                region: "eu-west-1".into(),
                ..AnswerInfo::default()
            }),
            status: Status::Failed(Failure {
                message: "Too many requests.".into(),
                retryable: true,
                retry_after_secs: Some(5),
            }),
        },
    ]
}

#[wasm_bindgen_test]
async fn saved_messages_render_with_test_ids() {
    let parent = container();
    let root: Element = parent.clone().into();
    let _handle = leptos::mount::mount_to(parent, || view! { <ChatPanel initial=saved() /> });
    // Markdown renders from an effect, after the first tick.
    wait_for(&root, "[data-testid=message-text] em").await;
    let messages = all(&root, "[data-testid=message]");
    assert_eq!(messages.len(), 2);
    assert_eq!(
        messages[0].get_attribute("data-role").as_deref(),
        Some("user")
    );
    assert_eq!(
        messages[1].get_attribute("data-role").as_deref(),
        Some("assistant")
    );
    assert_eq!(text(&messages[1], "[data-testid=message-text] em"), "there");
    assert_eq!(
        text(&messages[1], "[data-testid=answer-meta]"),
        "model-a · eu-west-1 (generate)"
    );
    let error = text(&messages[1], "[data-testid=message-error]");
    assert!(
        error.contains("Too many requests.") && error.contains("retry in 5 s"),
        "{error}"
    );
    one(&messages[1], "[data-testid=retry-button]");
    one(&root, "select[data-testid=route-picker]");
    one(&root, "[data-testid=composer-input]");
    one(&root, "[data-testid=send-button]");
    one(&messages[0], "[data-testid=edit-button]");
    assert_eq!(all(&root, "[data-testid=copy-button]").len(), 2);
}

#[wasm_bindgen_test]
async fn a_refused_request_shows_its_error_with_retry() {
    let parent = container();
    let root: Element = parent.clone().into();
    // The test runner's server has no `/api/chat`, so the request fails with HTTP 404.
    let _handle = leptos::mount::mount_to(parent, || view! { <ChatPanel route_picker=false /> });
    send(&root, "Hello");
    let error = wait_for(&root, "[data-testid=message-error]").await;
    assert_eq!(text(&error, "span"), NOT_FOUND);
    let messages = all(&root, "[data-testid=message]");
    assert_eq!(messages.len(), 2);
    assert_eq!(text(&messages[0], "[data-testid=message-text]"), "Hello");
    assert_eq!(
        messages[1].get_attribute("aria-busy").as_deref(),
        Some("false")
    );
    one(&root, "[data-testid=retry-button]");
    one(&root, "[data-testid=send-button]");
}

#[wasm_bindgen_test]
async fn background_mode_sends_the_turn_as_a_job() {
    let parent = container();
    let root: Element = parent.clone().into();
    // The test runner's server has no `/api/jobs` either: the submission fails with HTTP 404.
    let _handle = leptos::mount::mount_to(parent, || view! { <ChatPanel route_picker=false /> });
    let status = one(&root, "[data-testid=job-status]");
    assert_eq!(status.text_content().unwrap_or_default(), "");
    one(&root, "[data-testid=background-toggle]")
        .unchecked_into::<HtmlElement>()
        .click();
    send(&root, "Later, please");
    let error = wait_for(&root, "[data-testid=message-error]").await;
    assert_eq!(text(&error, "span"), NOT_FOUND);
    let posted = js_sys::eval(
        "performance.getEntriesByType('resource').some(e => e.name.endsWith('/api/jobs'))",
    )
    .unwrap();
    assert_eq!(
        posted.as_bool(),
        Some(true),
        "the turn did not go to /api/jobs"
    );
}
