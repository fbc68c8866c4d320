//! Parses the source of one top-level block (as cut by the splitter) into its structure.
//! Lists and quotes keep their inner source, which is split and parsed again.

use super::{
    lines::{self, Align},
    split::Kind,
};

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading {
        level: u8,
        text: String,
    },
    Rule,
    Code {
        lang: String,
        code: String,
    },
    Table {
        align: Vec<Align>,
        head: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    List {
        ordered: bool,
        start: u64,
        tight: bool,
        items: Vec<String>,
    },
    Quote(String),
    Paragraph(String),
}

impl Block {
    pub fn parse(src: &str) -> Self {
        let first = src.lines().next().unwrap_or_default();
        match Kind::of(first) {
            Kind::Heading => lines::heading(first).map_or_else(
                || Self::Paragraph(src.to_owned()),
                |(level, text)| Self::Heading {
                    level,
                    text: text.to_owned(),
                },
            ),
            Kind::Rule => Self::Rule,
            Kind::Fence { marker, len } => code(src, marker, len),
            Kind::Table => table(src),
            Kind::List { .. } => list(src),
            Kind::Quote => Self::Quote(
                src.lines()
                    .map(|line| lines::quote(line).unwrap_or(line))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            Kind::Paragraph => Self::Paragraph(src.trim().to_owned()),
        }
    }
}

fn code(src: &str, marker: u8, len: usize) -> Block {
    let mut rows = src.lines();
    let info = rows
        .next()
        .and_then(lines::fence)
        .map_or("", |(_, _, info)| info);
    let lang = info
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+#-_.".contains(*c))
        .collect();
    let body: Vec<&str> = rows
        .take_while(|line| !lines::closes_fence(line, marker, len))
        .collect();
    Block::Code {
        lang,
        code: body.join("\n"),
    }
}

fn table(src: &str) -> Block {
    let rows: Vec<&str> = src.lines().collect();
    let Some(align) = rows.get(1).and_then(|row| lines::delimiter_row(row)) else {
        return Block::Paragraph(src.trim().to_owned());
    };
    let width = align.len();
    let fit = |row: &str| {
        let mut cells = lines::cells(row);
        cells.resize(width, String::new());
        cells
    };
    Block::Table {
        head: fit(rows[0]),
        rows: rows[2..].iter().map(|row| fit(row)).collect(),
        align,
    }
}

fn list(src: &str) -> Block {
    let mut items: Vec<String> = Vec::new();
    let (mut ordered, mut start, mut width) = (false, 1, 0);
    for line in src.lines() {
        match lines::list_item(line) {
            Some(item) if items.is_empty() || lines::indent(line) < width => {
                if items.is_empty() {
                    (ordered, start) = (item.ordered, item.number);
                }
                width = item.width;
                items.push(line[item.content..].to_owned());
            }
            _ => {
                if let Some(item) = items.last_mut() {
                    item.push('\n');
                    item.push_str(dedent(line, width));
                }
            }
        }
    }
    let tight = !src.trim_end().lines().any(lines::is_blank);
    Block::List {
        ordered,
        start,
        tight,
        items,
    }
}

/// Removes up to `width` columns of leading spaces.
fn dedent(line: &str, width: usize) -> &str {
    let spaces = line.bytes().take(width).take_while(|b| *b == b' ').count();
    &line[spaces..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn parses_each_kind_of_block() {
        assert_eq!(
            Block::parse("### Three ###"),
            Block::Heading {
                level: 3,
                text: "Three".into()
            }
        );
        assert_eq!(Block::parse("***"), Block::Rule);
        assert_eq!(
            Block::parse("```Rust ignore\nlet a = 1;\n\nlet b = 2;\n```"),
            Block::Code {
                lang: "Rust".into(),
                code: "let a = 1;\n\nlet b = 2;".into()
            }
        );
        assert_eq!(
            Block::parse("~~~\nstill <open>"),
            Block::Code {
                lang: String::new(),
                code: "still <open>".into()
            }
        );
        assert_eq!(
            Block::parse("> a\nlazy\n> b"),
            Block::Quote("a\nlazy\nb".into())
        );
        assert_eq!(
            Block::parse("plain\ntext"),
            Block::Paragraph("plain\ntext".into())
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn tables_need_a_delimiter_row() {
        assert_eq!(
            Block::parse("| a | b |\n|:--|--:|\n| 1 |\n| 2 | 3 | 4 |"),
            Block::Table {
                align: vec![Align::Left, Align::Right],
                head: vec!["a".into(), "b".into()],
                rows: vec![
                    vec!["1".into(), String::new()],
                    vec!["2".into(), "3".into()]
                ],
            }
        );
        assert_eq!(
            Block::parse("| a | b |"),
            Block::Paragraph("| a | b |".into())
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn lists_keep_nested_source_and_looseness() {
        assert_eq!(
            Block::parse("3. one\n   - nested\n4. two\nlazy"),
            Block::List {
                ordered: true,
                start: 3,
                tight: true,
                items: vec!["one\n- nested".into(), "two\nlazy".into()],
            }
        );
        let Block::List { tight, items, .. } = Block::parse("- a\n\n- b") else {
            panic!("not a list");
        };
        assert!(!tight);
        assert_eq!(items, ["a\n", "b"]);
    }
}
