//! Where the brackets and backtick runs of a block's inline text close, found in one pass over
//! the whole text on first use. The inline parser looks closers up here instead of searching
//! the rest of the text from every opener, which made text full of unmatched `[`, `](` or
//! backticks take time quadratic in its length.
//!
//! Link labels and emphasis bodies are parsed as ranges of the same text and share these
//! tables, bounding each answer by the range's end. That gives what a search inside the range
//! would: a bracket that closes past the end cannot close before it, and a range ends before
//! a `]` or an emphasis marker, never inside a backtick run.

use std::{cell::OnceCell, collections::BTreeMap};

pub struct Closers<'a> {
    text: &'a str,
    /// `(opener, closer)` of matched `[` and `]`, sorted by opener.
    brackets: OnceCell<Vec<(usize, usize)>>,
    /// `(opener, closer)` of matched `(` and `)`, sorted by opener.
    parens: OnceCell<Vec<(usize, usize)>>,
    /// Start of each backtick run, by run length, in order.
    ticks: OnceCell<BTreeMap<usize, Vec<usize>>>,
}

impl<'a> Closers<'a> {
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            brackets: OnceCell::new(),
            parens: OnceCell::new(),
            ticks: OnceCell::new(),
        }
    }

    /// The `]` closing the `[` at `open`, when it comes before `end`.
    pub fn bracket(&self, open: usize, end: usize) -> Option<usize> {
        self.closing(&self.brackets, *b"[]", open, end)
    }

    /// The `)` closing the `(` at `open`, when it comes before `end`.
    pub fn paren(&self, open: usize, end: usize) -> Option<usize> {
        self.closing(&self.parens, *b"()", open, end)
    }

    fn closing(
        &self,
        pairs: &OnceCell<Vec<(usize, usize)>>,
        [opener, closer]: [u8; 2],
        open: usize,
        end: usize,
    ) -> Option<usize> {
        if self.text.as_bytes().get(open) != Some(&opener) {
            return None;
        }
        let pairs = pairs.get_or_init(|| matched(self.text, opener, closer));
        let found = pairs.binary_search_by_key(&open, |pair| pair.0).ok()?;
        Some(pairs[found].1).filter(|close| *close < end)
    }

    /// Start of the first run of exactly `len` backticks in `from..end`.
    pub fn tick_run(&self, len: usize, from: usize, end: usize) -> Option<usize> {
        let runs = self.ticks.get_or_init(|| tick_runs(self.text));
        let starts = runs.get(&len)?;
        let first = starts.partition_point(|start| *start < from);
        starts.get(first).copied().filter(|start| *start < end)
    }
}

/// Pairs of unescaped `open` and `close` bytes, each closer taking the nearest opener still
/// open, sorted by opener.
fn matched(text: &str, open: u8, close: u8) -> Vec<(usize, usize)> {
    examined(text.len());
    let (mut pairs, mut unclosed, mut escaped) = (Vec::new(), Vec::new(), false);
    for (i, byte) in text.bytes().enumerate() {
        match byte {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            _ if byte == open => unclosed.push(i),
            _ if byte == close => pairs.extend(unclosed.pop().map(|opener| (opener, i))),
            _ => {}
        }
    }
    pairs.sort_unstable();
    pairs
}

fn tick_runs(text: &str) -> BTreeMap<usize, Vec<usize>> {
    examined(text.len());
    let mut runs: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut at = 0;
    while let Some(found) = text[at..].find('`') {
        let start = at + found;
        let len = text[start..].bytes().take_while(|b| *b == b'`').count();
        runs.entry(len).or_default().push(start);
        at = start + len;
    }
    runs
}

#[cfg(test)]
thread_local! {
    /// Bytes examined by searches in inline text, for tests to check that parsing is linear.
    pub static EXAMINED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts bytes a search examined (only in tests).
#[cfg(test)]
pub fn examined(bytes: usize) {
    EXAMINED.with(|total| total.set(total.get() + bytes));
}

#[cfg(not(test))]
pub fn examined(_bytes: usize) {}
