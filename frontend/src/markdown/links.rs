//! Links in inline Markdown: `[label](target)`, `<autolinks>` and bare `https://` addresses.
//! Every target passes [`safe_href`], which drops `javascript:`, `data:` and other schemes.

use super::inline::{parse, Inline};

/// Keeps links to `http`, `https` and `mailto` and relative ones; drops every other scheme
/// (`javascript:`, `data:`, ...) and targets with whitespace or control characters.
pub fn safe_href(raw: &str) -> Option<String> {
    let url = raw.trim();
    if url.is_empty() || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    let scheme_end = url.find([':', '/', '?', '#']);
    if let Some(end) = scheme_end.filter(|end| url[*end..].starts_with(':')) {
        let scheme = url[..end].to_ascii_lowercase();
        if !matches!(scheme.as_str(), "http" | "https" | "mailto") {
            return None;
        }
    }
    Some(url.to_owned())
}

/// Index of the bracket that closes the one at the start of `s`.
fn closing(s: &str, open: u8, close: u8) -> Option<usize> {
    let mut depth = 0usize;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            _ if b == open => depth += 1,
            _ if b == close => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `[label](target "title")`.
pub fn link(rest: &str) -> Option<(Inline, usize)> {
    let label_end = closing(rest, b'[', b']')?;
    let after = &rest[label_end + 1..];
    if !after.starts_with('(') {
        return None;
    }
    let target_end = closing(after, b'(', b')')?;
    let target = after[1..target_end].trim();
    let target = match target.strip_prefix('<') {
        Some(angled) => angled.split_once('>').map_or(angled, |(url, _)| url),
        None => target.split_whitespace().next().unwrap_or_default(),
    };
    let node = Inline::Link {
        href: safe_href(target),
        children: parse(&rest[1..label_end]),
    };
    Some((node, label_end + 1 + target_end + 1))
}

/// `<https://example.com>` or `<someone@example.com>`.
pub fn autolink(rest: &str) -> Option<(Inline, usize)> {
    let end = rest.find('>')?;
    let inner = &rest[1..end];
    if inner.is_empty() || inner.contains(|c: char| c.is_whitespace() || c == '<') {
        return None;
    }
    let href = if inner.contains("://") {
        inner.to_owned()
    } else if inner.contains('@') && !inner.contains(':') {
        format!("mailto:{inner}")
    } else {
        return None;
    };
    let node = Inline::Link {
        href: safe_href(&href),
        children: vec![Inline::Text(inner.to_owned())],
    };
    Some((node, end + 1))
}

/// A bare `http://` or `https://` address, without trailing punctuation.
pub fn bare_url(rest: &str) -> Option<(Inline, usize)> {
    if !(rest.starts_with("https://") || rest.starts_with("http://")) {
        return None;
    }
    const TRAILING: &[char] = &['.', ',', ':', ';', '!', '?', '"', '\'', '*', '_', '~'];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '<')
        .unwrap_or(rest.len());
    let mut url = &rest[..end];
    loop {
        url = url.trim_end_matches(TRAILING);
        match url.strip_suffix(')') {
            Some(shorter) if url.matches(')').count() > url.matches('(').count() => url = shorter,
            _ => break,
        }
    }
    let node = Inline::Link {
        href: safe_href(url),
        children: vec![Inline::Text(url.to_owned())],
    };
    Some((node, url.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn text(s: &str) -> Inline {
        Inline::Text(s.into())
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

    #[wasm_bindgen_test(unsupported = test)]
    fn only_safe_schemes_survive() {
        for ok in [
            "https://a.b",
            "HTTP://a",
            "mailto:x@y",
            "/rel",
            "#frag",
            "page?x=a:b",
        ] {
            assert_eq!(safe_href(ok).as_deref(), Some(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            " JavaScript:x",
            "java\tscript:x",
            "data:text/html,x",
            "vbscript:x",
            "",
            "a b",
        ] {
            assert_eq!(safe_href(bad), None, "{bad}");
        }
    }
}
