//! Renders a growing answer incrementally: finished blocks are rendered once and kept; only
//! the open last block is rebuilt per token, so the cost of a token does not grow with the answer.

use super::{dom, split};
use leptos::{html::Div, prelude::*};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, Element, MouseEvent, Node};

/// The rendered state of one answer inside `root`.
pub struct LiveMarkdown {
    doc: Document,
    root: Element,
    splitter: split::Splitter,
    /// Nodes of the open block (more than one while a partial line starts a new block).
    open: Vec<Node>,
    /// Bytes of the text already rendered.
    consumed: usize,
}

impl LiveMarkdown {
    /// Takes over `root`, which must belong to a document.
    pub fn new(root: Element) -> Option<Self> {
        Some(Self {
            doc: root.owner_document()?,
            root,
            splitter: split::Splitter::new(),
            open: Vec::new(),
            consumed: 0,
        })
    }

    /// Brings the DOM up to `text`. Text that grew is appended; any other change re-renders.
    pub fn sync(&mut self, text: &str) -> Result<(), JsValue> {
        if text.len() < self.consumed || !text.is_char_boundary(self.consumed) {
            self.root.set_text_content(None);
            self.splitter = split::Splitter::new();
            self.open.clear();
            self.consumed = 0;
        }
        let added = &text[self.consumed..];
        if added.is_empty() {
            return Ok(());
        }
        self.consumed = text.len();
        self.push(added)
    }

    fn push(&mut self, text: &str) -> Result<(), JsValue> {
        let finished = self.splitter.push(text);
        for node in self.open.drain(..) {
            self.root.remove_child(&node)?;
        }
        for src in finished {
            self.root.append_child(&dom::block(&self.doc, &src)?)?;
        }
        for src in split::split(self.splitter.open()) {
            let node = dom::block(&self.doc, &src)?;
            self.root.append_child(&node)?;
            self.open.push(node);
        }
        Ok(())
    }
}

/// Markdown view of `text`, updated incrementally as it grows.
#[component]
pub fn Markdown(#[prop(into)] text: Signal<String>) -> impl IntoView {
    let root = NodeRef::<Div>::new();
    let mut live: Option<LiveMarkdown> = None;
    Effect::new(move |_| {
        let Some(element) = root.get() else {
            return;
        };
        if live.is_none() {
            live = LiveMarkdown::new(element.into());
        }
        if let Some(live) = live.as_mut() {
            if let Err(error) = text.with(|text| live.sync(text)) {
                web_sys::console::error_2(&"markdown rendering failed".into(), &error);
            }
        }
    });
    view! { <div class="markdown" node_ref=root on:click=copy_code></div> }
}

/// Copy buttons of code blocks, handled by delegation from the Markdown root.
fn copy_code(event: MouseEvent) {
    let button = event
        .target()
        .and_then(|target| target.dyn_into::<Element>().ok())
        .and_then(|target| target.closest("[data-copy-code]").ok().flatten());
    let Some(button) = button else {
        return;
    };
    let code = button
        .closest(".code-block")
        .ok()
        .flatten()
        .and_then(|block| block.query_selector("code").ok().flatten())
        .and_then(|code| code.text_content())
        .unwrap_or_default();
    crate::clipboard::copy_with_feedback(code, button);
}
