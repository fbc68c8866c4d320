//! Builds DOM nodes for parsed Markdown with `createElement` and `createTextNode` only: model
//! output never reaches an HTML parser, so a reply cannot inject markup or run script.

use super::{
    block::Block,
    inline::{self, Inline},
    lines::Align,
    split,
};
use wasm_bindgen::JsValue;
use web_sys::{Document, Element, Node};

type Result<T> = std::result::Result<T, JsValue>;

/// The DOM node of one top-level block's source.
pub fn block(doc: &Document, src: &str) -> Result<Node> {
    render(doc, &Block::parse(src))
}

/// Renders every block of `src` into `parent`; in a tight list item, paragraphs are inlined.
fn blocks_into(doc: &Document, parent: &Element, src: &str, tight: bool) -> Result<()> {
    for source in split::split(src) {
        match Block::parse(&source) {
            Block::Paragraph(text) if tight => inlines(doc, parent, &text)?,
            block => {
                parent.append_child(&render(doc, &block)?)?;
            }
        }
    }
    Ok(())
}

fn render(doc: &Document, block: &Block) -> Result<Node> {
    let node = match block {
        Block::Heading { level, text } => {
            let heading = doc.create_element(&format!("h{level}"))?;
            inlines(doc, &heading, text)?;
            heading
        }
        Block::Rule => doc.create_element("hr")?,
        Block::Code { lang, code } => code_block(doc, lang, code)?,
        Block::Table { align, head, rows } => table(doc, align, head, rows)?,
        Block::List {
            ordered,
            start,
            tight,
            items,
        } => {
            let list = doc.create_element(if *ordered { "ol" } else { "ul" })?;
            if *ordered && *start != 1 {
                list.set_attribute("start", &start.to_string())?;
            }
            for item in items {
                let li = doc.create_element("li")?;
                blocks_into(doc, &li, item, *tight)?;
                list.append_child(&li)?;
            }
            list
        }
        Block::Quote(inner) => {
            let quote = doc.create_element("blockquote")?;
            blocks_into(doc, &quote, inner, false)?;
            quote
        }
        Block::Paragraph(text) => {
            let paragraph = doc.create_element("p")?;
            inlines(doc, &paragraph, text)?;
            paragraph
        }
    };
    Ok(node.into())
}

/// A fenced code block with its language and a Copy button (handled by delegation).
fn code_block(doc: &Document, lang: &str, code: &str) -> Result<Element> {
    let wrapper = element(doc, "div", "code-block")?;
    let head = element(doc, "div", "code-head")?;
    let label = element(doc, "span", "code-lang")?;
    label.set_text_content(Some(if lang.is_empty() { "text" } else { lang }));
    let copy = element(doc, "button", "copy-code")?;
    copy.set_attribute("type", "button")?;
    copy.set_attribute("data-copy-code", "")?;
    copy.set_attribute("aria-label", "Copy code")?;
    copy.set_text_content(Some("Copy"));
    head.append_child(&label)?;
    head.append_child(&copy)?;
    let pre = doc.create_element("pre")?;
    let text = doc.create_element("code")?;
    if !lang.is_empty() {
        text.set_class_name(&format!("language-{lang}"));
    }
    text.set_text_content(Some(code));
    pre.append_child(&text)?;
    wrapper.append_child(&head)?;
    wrapper.append_child(&pre)?;
    Ok(wrapper)
}

fn table(
    doc: &Document,
    align: &[Align],
    head: &[String],
    rows: &[Vec<String>],
) -> Result<Element> {
    let wrapper = element(doc, "div", "table-wrap")?;
    let table = doc.create_element("table")?;
    let row = |cells: &[String], tag: &str| -> Result<Element> {
        let tr = doc.create_element("tr")?;
        for (cell, align) in cells.iter().zip(align) {
            let td = doc.create_element(tag)?;
            match align {
                Align::None => {}
                Align::Left => td.set_class_name("align-left"),
                Align::Center => td.set_class_name("align-center"),
                Align::Right => td.set_class_name("align-right"),
            }
            inlines(doc, &td, cell)?;
            tr.append_child(&td)?;
        }
        Ok(tr)
    };
    let thead = doc.create_element("thead")?;
    let header = row(head, "th")?;
    thead.append_child(&header)?;
    let tbody = doc.create_element("tbody")?;
    for cells in rows {
        let body_row = row(cells, "td")?;
        tbody.append_child(&body_row)?;
    }
    table.append_child(&thead)?;
    table.append_child(&tbody)?;
    wrapper.append_child(&table)?;
    Ok(wrapper)
}

fn element(doc: &Document, tag: &str, class: &str) -> Result<Element> {
    let element = doc.create_element(tag)?;
    element.set_class_name(class);
    Ok(element)
}

fn inlines(doc: &Document, parent: &Element, text: &str) -> Result<()> {
    append_inlines(doc, parent, &inline::parse(text))
}

fn append_inlines(doc: &Document, parent: &Element, nodes: &[Inline]) -> Result<()> {
    for node in nodes {
        let child: Node = match node {
            Inline::Text(text) => doc.create_text_node(text).into(),
            Inline::Code(code) => {
                let element = doc.create_element("code")?;
                element.set_text_content(Some(code));
                element.into()
            }
            Inline::Strong(children) => wrap(doc, "strong", children)?.into(),
            Inline::Em(children) => wrap(doc, "em", children)?.into(),
            Inline::Strike(children) => wrap(doc, "del", children)?.into(),
            Inline::Link {
                href: Some(href),
                children,
            } => {
                let link = wrap(doc, "a", children)?;
                link.set_attribute("href", href)?;
                link.set_attribute("rel", "noopener noreferrer")?;
                link.set_attribute("target", "_blank")?;
                link.into()
            }
            Inline::Link {
                href: None,
                children,
            } => {
                let dropped = wrap(doc, "span", children)?;
                dropped.set_class_name("link-dropped");
                dropped.set_attribute("title", "Link removed: unsafe address")?;
                dropped.into()
            }
            Inline::Break => doc.create_element("br")?.into(),
        };
        parent.append_child(&child)?;
    }
    Ok(())
}

fn wrap(doc: &Document, tag: &str, children: &[Inline]) -> Result<Element> {
    let element = doc.create_element(tag)?;
    append_inlines(doc, &element, children)?;
    Ok(element)
}
