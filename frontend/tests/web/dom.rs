//! Helpers shared by the browser tests: fresh containers and DOM queries.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Document, Element, HtmlElement};

pub fn document() -> Document {
    web_sys::window().unwrap().document().unwrap()
}

/// A new, empty `<div>` attached to the body.
pub fn container() -> HtmlElement {
    let div: HtmlElement = document().create_element("div").unwrap().unchecked_into();
    document().body().unwrap().append_child(&div).unwrap();
    div
}

pub fn one(root: &Element, selector: &str) -> Element {
    root.query_selector(selector)
        .unwrap()
        .unwrap_or_else(|| panic!("no element matches {selector}"))
}

pub fn all(root: &Element, selector: &str) -> Vec<Element> {
    let list = root.query_selector_all(selector).unwrap();
    (0..list.length())
        .filter_map(|i| list.item(i))
        .map(JsCast::unchecked_into)
        .collect()
}

pub fn text(root: &Element, selector: &str) -> String {
    one(root, selector).text_content().unwrap_or_default()
}

/// Lets pending tasks, effects and network callbacks run.
pub async fn tick() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 10)
            .unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

/// Waits (at most about five seconds) until `selector` matches inside `root`.
pub async fn wait_for(root: &Element, selector: &str) -> Element {
    for _ in 0..500 {
        if let Some(found) = root.query_selector(selector).unwrap() {
            return found;
        }
        tick().await;
    }
    panic!("{selector} never appeared");
}
