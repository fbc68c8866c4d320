//! Classifies single Markdown lines (fence, heading, rule, list item, quote, table row).
//! Shared by the streaming block splitter and the block parser so both agree on kinds.

/// Width of the leading spaces (a tab counts as four).
pub fn indent(line: &str) -> usize {
    line.chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .map(|c| if c == '\t' { 4 } else { 1 })
        .sum()
}

pub fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// The line without up to three spaces of indentation, or `None` when indented more.
fn block_start(line: &str) -> Option<&str> {
    (indent(line) <= 3).then(|| line.trim_start())
}

/// An opening or closing code fence: marker byte, run length and info string.
pub fn fence(line: &str) -> Option<(u8, usize, &str)> {
    let rest = block_start(line)?;
    let marker = *rest.as_bytes().first()?;
    if marker != b'`' && marker != b'~' {
        return None;
    }
    let len = rest.bytes().take_while(|b| *b == marker).count();
    let info = rest[len..].trim();
    (len >= 3 && !(marker == b'`' && info.contains('`'))).then_some((marker, len, info))
}

/// Whether `line` closes a fence opened with `marker` repeated `len` times.
pub fn closes_fence(line: &str, marker: u8, len: usize) -> bool {
    matches!(fence(line), Some((m, l, info)) if m == marker && l >= len && info.is_empty())
}

/// An ATX heading: level and text.
pub fn heading(line: &str) -> Option<(u8, &str)> {
    let rest = block_start(line)?;
    let level = rest.bytes().take_while(|b| *b == b'#').count();
    let text = &rest[level..];
    if !(1..=6).contains(&level) || !(text.is_empty() || text.starts_with([' ', '\t'])) {
        return None;
    }
    let text = text.trim();
    let without_closing = text.trim_end_matches('#');
    let text = if without_closing.is_empty() || without_closing.ends_with(' ') {
        without_closing.trim_end()
    } else {
        text
    };
    u8::try_from(level).ok().map(|level| (level, text))
}

/// A thematic break: three or more `-`, `*` or `_`, spaces allowed between.
pub fn is_rule(line: &str) -> bool {
    let Some(rest) = block_start(line) else {
        return false;
    };
    let Some(marker) = rest.chars().next().filter(|c| matches!(c, '-' | '*' | '_')) else {
        return false;
    };
    rest.chars().all(|c| c == marker || c == ' ' || c == '\t')
        && rest.chars().filter(|c| *c == marker).count() >= 3
}

/// A list item's marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListItem {
    pub ordered: bool,
    /// The number of an ordered item.
    pub number: u64,
    /// Byte offset of the item's text in the line.
    pub content: usize,
    /// Column where continuation lines of this item start.
    pub width: usize,
}

pub fn list_item(line: &str) -> Option<ListItem> {
    let lead = indent(line);
    let rest = block_start(line)?;
    let offset = line.len() - rest.len();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (ordered, marker_len) = match rest.as_bytes().first()? {
        b'-' | b'*' | b'+' => (false, 1),
        _ if (1..=9).contains(&digits)
            && matches!(rest.as_bytes().get(digits), Some(b'.' | b')')) =>
        {
            (true, digits + 1)
        }
        _ => return None,
    };
    let after = &rest[marker_len..];
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    let spaces = after.len() - after.trim_start().len();
    let spaces = if spaces == 0 || spaces > 4 { 1 } else { spaces };
    Some(ListItem {
        ordered,
        number: rest[..digits].parse().unwrap_or(1),
        content: (offset + marker_len + spaces).min(line.len()),
        width: lead + marker_len + spaces,
    })
}

/// The text of a block quote line without its `>` marker.
pub fn quote(line: &str) -> Option<&str> {
    let rest = block_start(line)?.strip_prefix('>')?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

pub fn is_table_row(line: &str) -> bool {
    block_start(line).is_some_and(|rest| rest.starts_with('|'))
}

/// Cells of a table row, split on unescaped pipes outside code spans.
pub fn cells(line: &str) -> Vec<String> {
    let row = line.trim();
    let row = row.strip_prefix('|').unwrap_or(row);
    let mut cells = vec![String::new()];
    let (mut escaped, mut in_code) = (false, false);
    for c in row.chars() {
        if c == '|' && !escaped && !in_code {
            cells.push(String::new());
        } else if let Some(cell) = cells.last_mut() {
            if c == '|' && escaped {
                cell.pop();
            }
            in_code ^= c == '`';
            cell.push(c);
        }
        escaped = c == '\\' && !escaped;
    }
    if row.trim_end().ends_with('|') && cells.last().is_some_and(|c| c.trim().is_empty()) {
        cells.pop();
    }
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// Column alignment from a table's delimiter row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    None,
    Left,
    Center,
    Right,
}

/// Parses a delimiter row (`|---|:-:|`), or `None` when the line is not one.
pub fn delimiter_row(line: &str) -> Option<Vec<Align>> {
    if !line.contains('-') {
        return None;
    }
    cells(line)
        .iter()
        .map(|cell| {
            let body = cell.trim_start_matches(':').trim_end_matches(':');
            if body.is_empty() || !body.bytes().all(|b| b == b'-') {
                return None;
            }
            Some(match (cell.starts_with(':'), cell.ends_with(':')) {
                (true, true) => Align::Center,
                (true, false) => Align::Left,
                (false, true) => Align::Right,
                (false, false) => Align::None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn recognises_block_starts() {
        assert_eq!(fence("```rust"), Some((b'`', 3, "rust")));
        assert_eq!(fence("  ~~~~ py "), Some((b'~', 4, "py")));
        assert_eq!(fence("``` a`b"), None);
        assert!(closes_fence("````", b'`', 3));
        assert!(!closes_fence("```js", b'`', 3));
        assert_eq!(heading("## Title ##"), Some((2, "Title")));
        assert_eq!(heading("#hashtag"), None);
        assert_eq!(heading("####### seven"), None);
        assert!(is_rule("* * *") && is_rule("---") && !is_rule("--") && !is_rule("- a"));
        assert_eq!(quote("> hi"), Some("hi"));
        assert!(is_table_row(" | a |") && !is_table_row("a | b"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn list_items_know_their_width() {
        let item = list_item("12. twelve").unwrap();
        assert!(item.ordered && item.number == 12 && item.width == 4);
        assert_eq!(&"12. twelve"[item.content..], "twelve");
        let item = list_item("  - dash").unwrap();
        assert!(!item.ordered && item.width == 4);
        assert_eq!(
            list_item("-"),
            Some(ListItem {
                ordered: false,
                number: 1,
                content: 1,
                width: 2
            })
        );
        assert_eq!(list_item("-not"), None);
        assert_eq!(list_item("2024 was"), None);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn table_rows_split_into_cells() {
        assert_eq!(cells("| a | `x|y` | b\\|c |"), ["a", "`x|y`", "b|c"]);
        assert_eq!(cells("|a||"), ["a", ""]);
        assert_eq!(
            delimiter_row("|:--|:-:|--:|---|"),
            Some(vec![Align::Left, Align::Center, Align::Right, Align::None])
        );
        assert_eq!(delimiter_row("| a | b |"), None);
    }
}
