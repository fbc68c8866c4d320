//! The result table: one row per figure, with its target (if any), whether it is met, and how
//! it was measured. Printed as Markdown so it can go into `BENCHMARKS.md` as it is.

/// One figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub figure: String,
    pub value: String,
    /// `"< 1 ms: pass"`, `"< 1 ms: MISS"`, or empty when the figure has no target.
    pub target: String,
    pub how: String,
}

impl Row {
    pub fn new(
        figure: impl Into<String>,
        value: impl Into<String>,
        how: impl Into<String>,
    ) -> Self {
        Self {
            figure: figure.into(),
            value: value.into(),
            target: String::new(),
            how: how.into(),
        }
    }

    /// Adds the target `limit` (its text) and whether `met`.
    pub fn target(self, limit: &str, met: bool) -> Self {
        let verdict = if met { "pass" } else { "MISS" };
        Self {
            target: format!("{limit}: {verdict}"),
            ..self
        }
    }
}

/// The rows as a Markdown table (`|` inside cells escaped).
pub fn markdown(rows: &[Row]) -> String {
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    let mut out = String::from("| figure | value | target | how measured |\n|---|---|---|---|\n");
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell(&row.figure),
            cell(&row.value),
            cell(&row.target),
            cell(&row.how)
        ));
    }
    out
}

/// Bytes as `123,456 B (120.6 KiB)`.
pub fn bytes(n: u64) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped} B ({:.1} KiB)", n as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_print_as_markdown() {
        let rows = [
            Row::new("size", "1 | 2", "gzip -9").target("< 3", true),
            Row::new("x", "y", "z").target("< 1", false),
        ];
        assert_eq!(
            markdown(&rows),
            "| figure | value | target | how measured |\n|---|---|---|---|\n\
             | size | 1 \\| 2 | < 3: pass | gzip -9 |\n| x | y | < 1: MISS | z |\n"
        );
        assert_eq!(bytes(1_234_567), "1,234,567 B (1205.6 KiB)");
        assert_eq!(bytes(999), "999 B (1.0 KiB)");
    }
}
