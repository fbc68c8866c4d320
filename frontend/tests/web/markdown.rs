//! The Markdown renderer in a real DOM: structure, safety, and incremental updates.

use super::dom::{all, container, one, text};
use frontend::markdown::LiveMarkdown;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::Element;

fn render(source: &str) -> Element {
    let root: Element = container().into();
    let mut live = LiveMarkdown::new(root.clone()).unwrap();
    live.sync(source).unwrap();
    root
}

#[wasm_bindgen_test]
fn renders_headings_emphasis_lists_code_and_tables() {
    let root = render(
        "# Title\n\nSome **bold**, *em* and `code`.\n\n- one\n- two\n  - nested\n\n3. three\n4. four\n\n\
         ```rust\nfn main() {}\n```\n\n| a | b |\n|---|:-:|\n| 1 | 2 |\n",
    );
    assert_eq!(text(&root, "h1"), "Title");
    assert_eq!(text(&root, "p strong"), "bold");
    assert_eq!(text(&root, "p em"), "em");
    assert_eq!(text(&root, "p code"), "code");
    assert_eq!(all(&root, ":scope > ul > li").len(), 2);
    assert_eq!(text(&root, "ul ul li"), "nested");
    assert_eq!(
        one(&root, "ol").get_attribute("start").as_deref(),
        Some("3")
    );
    assert_eq!(all(&root, "ol > li").len(), 2);
    assert_eq!(text(&root, ".code-block .code-lang"), "rust");
    assert_eq!(text(&root, ".code-block pre code"), "fn main() {}");
    assert_eq!(text(&root, ".code-block button[data-copy-code]"), "Copy");
    assert_eq!(all(&root, "table th").len(), 2);
    assert_eq!(text(&root, "table td.align-center"), "2");
}

#[wasm_bindgen_test]
fn model_output_cannot_add_markup_script_or_unsafe_links() {
    let root = render(
        "<script>window.__pwned = 1</script>\n\n<img src=x onerror=\"window.__pwned = 2\">\n\n\
         [click](javascript:alert(1)) [data](data:text/html,hi) [ok](https://example.com/a)\n",
    );
    assert!(root
        .query_selector("script, img, iframe")
        .unwrap()
        .is_none());
    assert!(root
        .text_content()
        .unwrap()
        .contains("<script>window.__pwned = 1</script>"));
    let links = all(&root, "a");
    assert_eq!(links.len(), 1, "only the https link stays a link");
    assert_eq!(
        links[0].get_attribute("href").as_deref(),
        Some("https://example.com/a")
    );
    assert_eq!(
        links[0].get_attribute("rel").as_deref(),
        Some("noopener noreferrer")
    );
    assert_eq!(all(&root, ".link-dropped").len(), 2);
    for element in all(&root, "*") {
        let names = element.get_attribute_names();
        for name in names.iter().filter_map(|n| n.as_string()) {
            assert!(!name.starts_with("on"), "event handler attribute {name}");
        }
    }
    let window = web_sys::window().unwrap();
    assert!(js_sys::Reflect::get(&window, &"__pwned".into())
        .unwrap()
        .is_undefined());
}

#[wasm_bindgen_test]
fn finished_blocks_keep_their_nodes_as_tokens_arrive() {
    let root: Element = container().into();
    let mut live = LiveMarkdown::new(root.clone()).unwrap();
    let mut answer = String::from("# Title\n\nFirst paragraph.\n\n- item\n\nGrow");
    live.sync(&answer).unwrap();
    let children = |root: &Element| all(root, ":scope > *");
    // Heading and paragraph are finished; the list may still continue, "Grow" is open.
    let before = children(&root);
    assert_eq!(before.len(), 4);
    let mut code_block = None;
    for token in [
        " and",
        " grow",
        "\n\n```py\nprint(1)",
        "\n```\n",
        "Tail",
        " end",
    ] {
        answer.push_str(token);
        live.sync(&answer).unwrap();
        let now = children(&root);
        for (old, new) in before.iter().zip(&now).take(2) {
            assert!(
                old.is_same_node(Some(new)),
                "finished block re-rendered at {token:?}"
            );
        }
        match &code_block {
            None if token == "\n```\n" => code_block = Some(now[4].clone()),
            Some(code) => assert!(code.is_same_node(Some(&now[4])), "code re-rendered"),
            None => {}
        }
    }
    let after = children(&root);
    assert_eq!(after.len(), 6);
    assert!(!before[3].is_connected(), "the open block is replaced");
    assert_eq!(after[3].text_content().as_deref(), Some("Grow and grow"));
    assert_eq!(text(&after[4], "code"), "print(1)");
    assert_eq!(after[5].text_content().as_deref(), Some("Tail end"));

    // Streaming character by character ends in the same DOM as rendering at once.
    let streamed: Element = container().into();
    let mut live = LiveMarkdown::new(streamed.clone()).unwrap();
    for end in answer.char_indices().map(|(i, _)| i).chain([answer.len()]) {
        live.sync(&answer[..end]).unwrap();
    }
    assert_eq!(streamed.inner_html(), render(&answer).inner_html());
}
