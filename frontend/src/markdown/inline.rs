//! Inline Markdown: code spans, emphasis, strikethrough, links and line breaks, parsed to a
//! tree of plain data. Raw HTML stays text; links are found by [`super::links`].
//!
//! Parsing takes time linear in the text, however many openers go unclosed:
//! - brackets and code spans find their closers in [`Closers`], built once per text;
//! - an emphasis opener searches forward for its closer, stepping over what the parser takes
//!   whole (so emphasis never closes inside a link, code span or address). Every search walks
//!   the parser's own path, a later one the tail of an earlier one, so once a search for a
//!   kind of closer fails, later searches for that kind give up at once;
//! - link labels and emphasis nested deeper than [`MAX_DEPTH`] stay text.

use super::{
    closers::{examined, Closers},
    links::{self, autolink, bare_url, Link},
};
use std::{collections::HashMap, ops::Range};

/// How deep link labels and emphasis nest before their content is kept as text.
const MAX_DEPTH: usize = 16;

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
    Span::new(&Closers::new(src), 0, src, 0).parse()
}

/// What closes an emphasis: its marker, the length of the opening run and whether the
/// closing run must be as long (else longer).
type Closer = (u8, usize, bool);

/// Something the parser takes whole, found without parsing what it contains.
enum Piece<'a> {
    /// A backslash-escaped punctuation character.
    Escaped(char),
    /// A backslash at the end of a line.
    Break,
    /// A backtick run and the start of the run closing it as a code span, if any.
    Code { run: usize, close: Option<usize> },
    /// `[label](target)` in `open..end`, its label closed at `label_end`.
    Link {
        open: usize,
        label_end: usize,
        end: usize,
    },
    /// An autolink or a bare address.
    Address(Link<'a>),
}

/// The text one parse covers: a whole block, a link label or an emphasis body.
struct Span<'c, 'a> {
    closers: &'c Closers<'a>,
    /// Offset of `src` in the block's text.
    start: usize,
    src: &'a str,
    depth: usize,
    /// For each kind of closer, where a search started that found none.
    unclosed: HashMap<Closer, usize>,
}

impl<'c, 'a> Span<'c, 'a> {
    fn new(closers: &'c Closers<'a>, start: usize, src: &'a str, depth: usize) -> Self {
        Self {
            closers,
            start,
            src,
            depth,
            unclosed: HashMap::new(),
        }
    }

    fn parse(&mut self) -> Vec<Inline> {
        let src = self.src;
        let mut out = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        while let Some(c) = src[i..].chars().next() {
            let prev = src[..i].chars().next_back();
            let parsed = match c {
                '*' | '_' | '~' => Some(self.emphasis(i, prev)),
                '\n' if text.ends_with("  ") => Some((Inline::Break, 1)),
                _ => self
                    .piece(i, prev)
                    .map(|(piece, len)| (self.node(i, piece), len)),
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

    /// The piece at `at` and its length, unless that is emphasis or plain text.
    fn piece(&self, at: usize, prev: Option<char>) -> Option<(Piece<'a>, usize)> {
        let rest = &self.src[at..];
        let address = |found: Link<'a>| {
            let len = found.len;
            (Piece::Address(found), len)
        };
        match rest.chars().next()? {
            '\\' => match rest[1..].chars().next()? {
                '\n' => Some((Piece::Break, 2)),
                next if next.is_ascii_punctuation() => Some((Piece::Escaped(next), 2)),
                _ => None,
            },
            '`' => {
                let run = rest.bytes().take_while(|b| *b == b'`').count();
                let (from, end) = (self.start + at + run, self.start + self.src.len());
                let close = self.closers.tick_run(run, from, end);
                let close = close.map(|close| close - self.start);
                let len = close.map_or(run, |close| close + run - at);
                Some((Piece::Code { run, close }, len))
            }
            '[' => self.link(at),
            '!' => self.link(at + 1).map(|(link, len)| (link, len + 1)),
            '<' => autolink(rest).map(address),
            'h' if !prev.is_some_and(char::is_alphanumeric) => bare_url(rest).map(address),
            _ => None,
        }
    }

    /// `[label](target)` at `open`.
    fn link(&self, open: usize) -> Option<(Piece<'a>, usize)> {
        let end = self.start + self.src.len();
        let label_end = self.closers.bracket(self.start + open, end)? - self.start;
        let target_end = self.closers.paren(self.start + label_end + 1, end)? - self.start;
        let end = target_end + 1;
        Some((
            Piece::Link {
                open,
                label_end,
                end,
            },
            end - open,
        ))
    }

    /// The node for the piece at `at`.
    fn node(&self, at: usize, piece: Piece<'a>) -> Inline {
        let src = self.src;
        match piece {
            Piece::Escaped(c) => Inline::Text(c.to_string()),
            Piece::Break => Inline::Break,
            Piece::Code { run, close: None } => Inline::Text(src[at..at + run].to_owned()),
            Piece::Code {
                run,
                close: Some(close),
            } => Inline::Code(code(&src[at + run..close])),
            Piece::Link {
                open,
                label_end,
                end,
            } => Inline::Link {
                href: links::target(&src[label_end + 2..end - 1]),
                children: self.nested(open + 1..label_end),
            },
            Piece::Address(found) => Inline::Link {
                href: found.href,
                children: vec![Inline::Text(found.label.to_owned())],
            },
        }
    }

    /// Parses `src[range]` one level deeper; below [`MAX_DEPTH`] it stays text.
    fn nested(&self, range: Range<usize>) -> Vec<Inline> {
        let (start, src) = (self.start + range.start, &self.src[range]);
        if self.depth == MAX_DEPTH {
            let text = (!src.is_empty()).then(|| Inline::Text(src.to_owned()));
            return text.into_iter().collect();
        }
        Span::new(self.closers, start, src, self.depth + 1).parse()
    }

    fn emphasis(&mut self, at: usize, prev: Option<char>) -> (Inline, usize) {
        let rest = &self.src[at..];
        let marker = rest.as_bytes()[0];
        let run = marker_run(rest);
        let literal = (Inline::Text(rest[..run].to_owned()), run);
        let next = rest[run..].chars().next();
        let opens = next.is_some_and(|c| !c.is_whitespace())
            && !(marker == b'_' && prev.is_some_and(char::is_alphanumeric));
        if !opens || run > 3 || (marker == b'~' && run != 2) {
            return literal;
        }
        // Prefer a closing run of the same length; else take the end of a longer one.
        [true, false]
            .into_iter()
            .find_map(|exact| self.close_emphasis(at, (marker, run, exact)))
            .unwrap_or(literal)
    }

    /// Searches for the run closing the emphasis opened at `open`: marker runs are read one
    /// by one, anything else is stepped over as the parser would take it.
    fn close_emphasis(&mut self, open: usize, closer: Closer) -> Option<(Inline, usize)> {
        let (marker, run, exact) = closer;
        let mut at = open + run;
        if self.unclosed.get(&closer).is_some_and(|from| *from <= at) {
            return None;
        }
        while let Some(c) = self.src[at..].chars().next() {
            let prev = self.src[..at].chars().next_back();
            if !matches!(c, '*' | '_' | '~') {
                // A piece is looked up, not read: searches it needs count themselves.
                examined(1);
                at += self.piece(at, prev).map_or(c.len_utf8(), |(_, len)| len);
                continue;
            }
            let len = marker_run(&self.src[at..]);
            examined(len);
            let after = self.src[at + len..].chars().next();
            let closes = c as u8 == marker
                && prev.is_some_and(|c| !c.is_whitespace())
                && !(marker == b'_' && after.is_some_and(char::is_alphanumeric));
            if closes && (len == run || (!exact && len > run)) {
                let inner = self.nested(open + run..at + len - run);
                let node = match (marker, run) {
                    (b'~', _) => Inline::Strike(inner),
                    (_, 1) => Inline::Em(inner),
                    (_, 2) => Inline::Strong(inner),
                    _ => Inline::Strong(vec![Inline::Em(inner)]),
                };
                return Some((node, at + len - open));
            }
            at += len;
        }
        self.unclosed.insert(closer, open + run);
        None
    }
}

/// Length of the run of the byte `rest` starts with.
fn marker_run(rest: &str) -> usize {
    let marker = rest.as_bytes()[0];
    rest.bytes().take_while(|b| *b == marker).count()
}

/// A code span's text: line ends read as spaces, and one space is stripped from each side.
fn code(raw: &str) -> String {
    let code = raw.replace('\n', " ");
    let trimmed = code.strip_prefix(' ').and_then(|c| c.strip_suffix(' '));
    match trimmed {
        Some(inner) if !inner.trim().is_empty() => inner.to_owned(),
        _ => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markdown::closers::EXAMINED;
    use std::cell::Cell;
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
        assert_eq!(parse("[a] (b)"), vec![text("[a] (b)")]);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn emphasis_does_not_close_inside_a_link_or_an_address() {
        let link = |href: &str, label: &str| Inline::Link {
            href: Some(href.into()),
            children: vec![text(label)],
        };
        assert_eq!(parse("*a [b*](c)"), vec![text("*a "), link("c", "b*")]);
        assert_eq!(
            parse("*a [b](c*d)*"),
            vec![Em(vec![text("a "), link("c*d", "b")])]
        );
        assert_eq!(
            parse("*see https://x.org/*y"),
            vec![text("*see "), link("https://x.org/*y", "https://x.org/*y")]
        );
        let address = "https://x.org/a_b";
        assert_eq!(
            parse("_see https://x.org/a_b_"),
            vec![Em(vec![text("see "), link(address, address)])]
        );
    }

    /// The text a reader sees: text, code and link labels, in order.
    fn shown(nodes: &[Inline]) -> String {
        nodes
            .iter()
            .map(|node| match node {
                Text(text) | Code(text) => text.clone(),
                Strong(inner) | Em(inner) | Strike(inner) => shown(inner),
                Inline::Link { children, .. } => shown(children),
                Break => "\n".into(),
            })
            .collect()
    }

    /// Parses `src` and returns what it shows and how many bytes its searches examined.
    fn parse_counting(src: &str) -> (String, usize) {
        let before = EXAMINED.with(Cell::get);
        let nodes = parse(src);
        (shown(&nodes), EXAMINED.with(Cell::get) - before)
    }

    /// Searches may read a byte once per kind of closer (14) and per table, not once per opener.
    fn assert_linear(src: &str, examined: usize) {
        let len = src.len();
        assert!(examined <= 16 * len, "{examined} bytes examined for {len}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn unmatched_openers_are_searched_past_once() {
        let units = [
            "[",
            "<",
            "[a](",
            "![",
            "<a",
            "*a ",
            "_a ",
            "**a ",
            "~~a ",
            "*a <b ",
            "*a https://x ",
            "[ < *a _a **a ~~a ](",
        ];
        for len in [20_000, 100_000] {
            for unit in units {
                let src = unit.repeat(len / unit.len());
                let (text, examined) = parse_counting(&src);
                assert!(text == src, "{unit:?} lost text");
                assert_linear(&src, examined);
            }
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn backtick_runs_without_a_match_stay_text() {
        // Runs of 1, 2, 3... backticks: none closes another, so each would search to the end.
        let src: String = (1..450).map(|run| "`".repeat(run) + "a").collect();
        let (text, examined) = parse_counting(&src);
        assert!(text == src);
        assert_linear(&src, examined);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn trailing_parentheses_of_an_address_are_counted_once() {
        let src = format!("https://x.org/{}", ")".repeat(100_000));
        let (text, examined) = parse_counting(&src);
        assert!(text == src);
        assert_linear(&src, examined);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn deeply_nested_links_stop_nesting_and_keep_their_text() {
        for label in ["", " *a "] {
            let depth = 20_000;
            let open = format!("[{label}");
            let src = open.repeat(depth) + "a" + &"](x)".repeat(depth);
            let (text, examined) = parse_counting(&src);
            // The outer levels are links, showing their labels; the inner ones stay as written.
            let levels = (src.len() - text.len()) / "[](x)".len();
            let inner = open.repeat(depth - levels) + "a" + &"](x)".repeat(depth - levels);
            assert_eq!(levels, MAX_DEPTH + 1);
            assert!(text == label.repeat(levels) + &inner);
            assert_linear(&src, examined);
        }
    }
}
