//! Splits streamed Markdown into top-level blocks. A block is finished once a later line
//! shows it cannot continue; finished blocks never change, so they are rendered once.

use super::lines;

/// The kind of a top-level block, decided by its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Fence { marker: u8, len: usize },
    Heading,
    Rule,
    Table,
    List { ordered: bool },
    Quote,
    Paragraph,
}

impl Kind {
    /// The kind of block a non-blank line starts.
    pub fn of(line: &str) -> Self {
        if let Some((marker, len, _)) = lines::fence(line) {
            Self::Fence { marker, len }
        } else if lines::heading(line).is_some() {
            Self::Heading
        } else if lines::is_rule(line) {
            Self::Rule
        } else if let Some(item) = lines::list_item(line) {
            Self::List {
                ordered: item.ordered,
            }
        } else if lines::quote(line).is_some() {
            Self::Quote
        } else if lines::is_table_row(line) {
            Self::Table
        } else {
            Self::Paragraph
        }
    }
}

/// What a complete line does to the open block.
enum Step {
    Continue,
    /// The line is the block's last.
    EndAfter,
    /// The line starts the next block.
    EndBefore,
}

fn step(kind: Kind, line: &str, after_blank: bool) -> Step {
    let blank = lines::is_blank(line);
    let next = || Kind::of(line);
    match kind {
        Kind::Fence { marker, len } if lines::closes_fence(line, marker, len) => Step::EndAfter,
        Kind::Fence { .. } => Step::Continue,
        Kind::Heading | Kind::Rule => Step::EndAfter,
        Kind::List { .. } if blank || lines::indent(line) >= 2 => Step::Continue,
        Kind::List { ordered } => match next() {
            Kind::List { ordered: o } if o == ordered => Step::Continue,
            Kind::Paragraph if !after_blank => Step::Continue,
            _ => Step::EndBefore,
        },
        _ if blank => Step::EndAfter,
        Kind::Table if next() == Kind::Table => Step::Continue,
        Kind::Quote | Kind::Paragraph if next() == Kind::Paragraph => Step::Continue,
        Kind::Quote if next() == Kind::Quote => Step::Continue,
        Kind::Table | Kind::Quote | Kind::Paragraph => Step::EndBefore,
    }
}

/// Incremental splitter: [`Splitter::push`] returns the blocks that text finished, and
/// [`Splitter::open`] is the source of the block still growing.
#[derive(Debug, Default)]
pub struct Splitter {
    /// Source from the open block's first line to the end of the text so far.
    tail: String,
    /// Offset in `tail` of the first line not yet classified.
    scanned: usize,
    kind: Option<Kind>,
    after_blank: bool,
}

impl Splitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds streamed text; returns the source of each block it finished, in order.
    pub fn push(&mut self, text: &str) -> Vec<String> {
        self.tail.push_str(text);
        let mut finished = Vec::new();
        while let Some(len) = self.tail[self.scanned..].find('\n') {
            let (start, end) = (self.scanned, self.scanned + len + 1);
            let line = self.tail[start..end].trim_end_matches(['\n', '\r']);
            let Some(kind) = self.kind else {
                if lines::is_blank(line) {
                    self.tail.drain(..end);
                    self.scanned = 0;
                } else if matches!(Kind::of(line), Kind::Heading | Kind::Rule) {
                    finished.push(self.cut(end));
                } else {
                    self.kind = Some(Kind::of(line));
                    self.after_blank = false;
                    self.scanned = end;
                }
                continue;
            };
            let blank = lines::is_blank(line);
            match step(kind, line, self.after_blank) {
                Step::Continue => {
                    self.after_blank = blank;
                    self.scanned = end;
                }
                Step::EndAfter => finished.push(self.cut(end)),
                Step::EndBefore => finished.push(self.cut(start)),
            }
        }
        finished
    }

    /// The open block's source, possibly ending in a partial line.
    pub fn open(&self) -> &str {
        &self.tail
    }

    /// Removes `tail[..at]` as a finished block.
    fn cut(&mut self, at: usize) -> String {
        let block = self.tail[..at].trim_end().to_owned();
        self.tail.drain(..at);
        self.scanned = 0;
        self.kind = None;
        block
    }
}

/// All blocks of a complete text.
pub fn split(text: &str) -> Vec<String> {
    let mut splitter = Splitter::new();
    let mut blocks = splitter.push(text);
    blocks.extend(splitter.push("\n"));
    let rest = splitter.open().trim_end();
    if !rest.is_empty() {
        blocks.push(rest.to_owned());
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    const DOC: &str = "# Title\nSome *text*\nmore text\n\n- one\n- two\n\n  still two\n- three\nlazy\n\n\
        Para\n```rust\nfn main() {}\n\n```\n| a | b |\n|---|---|\n| 1 | 2 |\n> quote\n> more\n---\n1. first\n2) other\n\nend";

    fn expected() -> Vec<&'static str> {
        vec![
            "# Title",
            "Some *text*\nmore text",
            "- one\n- two\n\n  still two\n- three\nlazy",
            "Para",
            "```rust\nfn main() {}\n\n```",
            "| a | b |\n|---|---|\n| 1 | 2 |",
            "> quote\n> more",
            "---",
            "1. first\n2) other",
            "end",
        ]
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn splits_a_document_into_blocks() {
        assert_eq!(split(DOC), expected());
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn streaming_in_any_chunk_size_gives_the_same_blocks() {
        let chars: Vec<char> = DOC.chars().collect();
        for size in 1..=chars.len() {
            let mut splitter = Splitter::new();
            let mut blocks = Vec::new();
            for chunk in chars.chunks(size) {
                blocks.extend(splitter.push(&chunk.iter().collect::<String>()));
            }
            blocks.extend(split(splitter.open()));
            assert_eq!(blocks, expected(), "chunk size {size}");
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn a_block_finishes_only_when_the_next_line_proves_it() {
        let mut splitter = Splitter::new();
        assert!(splitter.push("Hello wor").is_empty());
        assert!(splitter.push("ld\n").is_empty());
        assert_eq!(splitter.open(), "Hello world\n");
        assert_eq!(splitter.push("\n# Next"), ["Hello world"]);
        assert_eq!(splitter.open(), "# Next");
        assert_eq!(splitter.push("\n"), ["# Next"]);
        assert_eq!(splitter.open(), "");
        assert!(splitter.push("```\nunclosed\n\nstill code\n").is_empty());
    }
}
