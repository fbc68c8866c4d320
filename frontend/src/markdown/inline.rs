//! Inline Markdown: code spans, emphasis, strikethrough, links and line breaks, parsed to a
//! tree of plain data. Raw HTML stays text; links are found by [`super::links`].

use super::links::{autolink, bare_url, link, Link};

#[derive(Debug, Clone, PartialEq)]
pub enum Inline {
    Text(String),
    Code(String),
    Strong(Vec<Inline>),
    Em(Vec<Inline>),
    Strike(Vec<Inline>),
    /// `href` is `None` when the target was unsafe and has been dropped.
    Link {
        href: Option<String>,
        children: Vec<Inline>,
    },
    Break,
}

/// Parses one block's inline text.
pub fn parse(src: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while let Some(c) = src[i..].chars().next() {
        let rest = &src[i..];
        let prev = src[..i].chars().next_back();
        let parsed = match c {
            '\\' => escape(rest),
            '`' => Some(code_span(rest).map_or_else(
                || literal_run(rest, b'`'),
                |(code, len)| (Inline::Code(code), len),
            )),
            '*' | '_' | '~' => Some(emphasis(rest, prev)),
            '[' => link(rest).map(labelled),
            '!' if rest[1..].starts_with('[') => link(&rest[1..]).map(|found| {
                let (node, len) = labelled(found);
                (node, len + 1)
            }),
            '<' => autolink(rest).map(addressed),
            'h' if !prev.is_some_and(char::is_alphanumeric) => bare_url(rest).map(addressed),
            '\n' if text.ends_with("  ") => Some((Inline::Break, 1)),
            _ => None,
        };
        match parsed {
            Some((Inline::Text(more), len)) => {
                text.push_str(&more);
                i += len;
            }
            Some((node, len)) => {
                if node == Inline::Break {
                    text.truncate(text.trim_end_matches(' ').len());
                }
                if !text.is_empty() {
                    out.push(Inline::Text(std::mem::take(&mut text)));
                }
                out.push(node);
                i += len;
            }
            None => {
                text.push(c);
                i += c.len_utf8();
            }
        }
    }
    if !text.is_empty() {
        out.push(Inline::Text(text));
    }
    out
}

/// A `[label](target)` link: its label is Markdown too.
fn labelled(found: Link) -> (Inline, usize) {
    let children = parse(found.label);
    link_node(found, children)
}

/// An autolink or a bare address: it shows its own text.
fn addressed(found: Link) -> (Inline, usize) {
    let children = vec![Inline::Text(found.label.to_owned())];
    link_node(found, children)
}

fn link_node(found: Link, children: Vec<Inline>) -> (Inline, usize) {
    let href = found.href;
    (Inline::Link { href, children }, found.len)
}

fn literal_run(rest: &str, marker: u8) -> (Inline, usize) {
    let len = rest.bytes().take_while(|b| *b == marker).count();
    (Inline::Text(rest[..len].to_owned()), len)
}

fn escape(rest: &str) -> Option<(Inline, usize)> {
    let next = rest[1..].chars().next()?;
    match next {
        '\n' => Some((Inline::Break, 2)),
        _ if next.is_ascii_punctuation() => Some((Inline::Text(next.to_string()), 2)),
        _ => None,
    }
}

/// A code span opened by the backtick run at the start of `rest`: its text and length.
fn code_span(rest: &str) -> Option<(String, usize)> {
    let run = rest.bytes().take_while(|b| *b == b'`').count();
    let mut at = run;
    while let Some(found) = rest[at..].find('`') {
        let start = at + found;
        let len = rest[start..].bytes().take_while(|b| *b == b'`').count();
        if len == run {
            let code = rest[run..start].replace('\n', " ");
            let trimmed = code.strip_prefix(' ').and_then(|c| c.strip_suffix(' '));
            let code = match trimmed {
                Some(inner) if !inner.trim().is_empty() => inner.to_owned(),
                _ => code,
            };
            return Some((code, start + len));
        }
        at = start + len;
    }
    None
}

fn emphasis(rest: &str, prev: Option<char>) -> (Inline, usize) {
    let marker = rest.as_bytes()[0];
    let literal = literal_run(rest, marker);
    let run = literal.1;
    let next = rest[run..].chars().next();
    let opens = next.is_some_and(|c| !c.is_whitespace())
        && !(marker == b'_' && prev.is_some_and(char::is_alphanumeric));
    if !opens || run > 3 || (marker == b'~' && run != 2) {
        return literal;
    }
    // Prefer a closing run of the same length; else take the end of a longer one.
    [true, false]
        .into_iter()
        .find_map(|exact| close_emphasis(rest, marker, run, exact))
        .unwrap_or(literal)
}

fn close_emphasis(rest: &str, marker: u8, run: usize, exact: bool) -> Option<(Inline, usize)> {
    let mut at = run;
    while at < rest.len() {
        let byte = rest.as_bytes()[at];
        if byte == b'\\' {
            at += 1 + rest[at + 1..].chars().next().map_or(0, char::len_utf8);
        } else if byte == b'`' {
            at += code_span(&rest[at..]).map_or_else(|| literal_run(&rest[at..], b'`').1, |c| c.1);
        } else if byte == marker {
            let len = rest[at..].bytes().take_while(|b| *b == marker).count();
            let before = rest[..at].chars().next_back();
            let after = rest[at + len..].chars().next();
            let closes = before.is_some_and(|c| !c.is_whitespace())
                && !(marker == b'_' && after.is_some_and(char::is_alphanumeric));
            if closes && (len == run || (!exact && len > run)) {
                let inner = parse(&rest[run..at + len - run]);
                let node = match (marker, run) {
                    (b'~', _) => Inline::Strike(inner),
                    (_, 1) => Inline::Em(inner),
                    (_, 2) => Inline::Strong(inner),
                    _ => Inline::Strong(vec![Inline::Em(inner)]),
                };
                return Some((node, at + len));
            }
            at += len;
        } else {
            at += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;
    use Inline::*;

    fn text(s: &str) -> Inline {
        Text(s.into())
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn emphasis_code_and_escapes() {
        assert_eq!(
            parse("a **b *c*** `x*y` \\*no\\* ~~d~~ snake_case_name"),
            vec![
                text("a "),
                Strong(vec![text("b "), Em(vec![text("c")])]),
                text(" "),
                Code("x*y".into()),
                text(" *no* "),
                Strike(vec![text("d")]),
                text(" snake_case_name"),
            ]
        );
        assert_eq!(parse("**open"), vec![text("**open")]);
        assert_eq!(parse("2 * 3 * 4"), vec![text("2 * 3 * 4")]);
        assert_eq!(parse("`` a`b ``"), vec![Code("a`b".into())]);
        assert_eq!(
            parse("line  \nnext"),
            vec![text("line"), Break, text("next")]
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn links_are_parsed_and_unsafe_targets_dropped() {
        let link = |href: Option<&str>, label: &str| Inline::Link {
            href: href.map(Into::into),
            children: vec![text(label)],
        };
        assert_eq!(
            parse("[a](https://x.org/a_(b) \"t\") [b](javascript:alert(1)) ![c](data:x)"),
            vec![
                link(Some("https://x.org/a_(b)"), "a"),
                text(" "),
                link(None, "b"),
                text(" "),
                link(None, "c"),
            ]
        );
        assert_eq!(
            parse("see https://x.org/p?q=1). or <me@x.org>"),
            vec![
                text("see "),
                link(Some("https://x.org/p?q=1"), "https://x.org/p?q=1"),
                text("). or "),
                link(Some("mailto:me@x.org"), "me@x.org"),
            ]
        );
        assert_eq!(
            parse("<script>alert(1)</script>"),
            vec![text("<script>alert(1)</script>")]
        );
        assert_eq!(parse("[no target] [x]"), vec![text("[no target] [x]")]);
    }
}
