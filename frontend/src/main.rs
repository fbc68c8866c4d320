//! Entry point of both pages: the widget frame (`/widget/frame.html`) mounts
//! [`frontend::Widget`], every other path the chat page, [`frontend::App`], on `<body>`.

fn main() {
    let path = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    if path == shared::widget::FRAME_PATH {
        leptos::mount::mount_to_body(frontend::Widget);
    } else {
        leptos::mount::mount_to_body(frontend::App);
    }
}
