//! Links in inline Markdown: `[label](target)`, `<autolinks>` and bare `https://` addresses,
//! found as a [`Link`] for the inline parser to build on. Every target passes [`safe_href`],
//! which drops `javascript:`, `data:` and other schemes.

/// A link at the start of some text.
#[derive(Debug, Clone, PartialEq)]
pub struct Link<'a> {
    /// `None` when the target was unsafe and has been dropped.
    pub href: Option<String>,
    /// What the link shows: Markdown for `[label](target)`, plain text otherwise.
    pub label: &'a str,
    /// Bytes of the text the link takes up.
    pub len: usize,
}

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
pub fn link(rest: &str) -> Option<Link<'_>> {
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
    Some(Link {
        href: safe_href(target),
        label: &rest[1..label_end],
        len: label_end + 1 + target_end + 1,
    })
}

/// `<https://example.com>` or `<someone@example.com>`.
pub fn autolink(rest: &str) -> Option<Link<'_>> {
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
    Some(Link {
        href: safe_href(&href),
        label: inner,
        len: end + 1,
    })
}

/// A bare `http://` or `https://` address, without trailing punctuation.
pub fn bare_url(rest: &str) -> Option<Link<'_>> {
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
    Some(Link {
        href: safe_href(url),
        label: url,
        len: url.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn links_give_their_target_label_and_length() {
        let found = |href: Option<&str>, label, len| Link {
            href: href.map(Into::into),
            label,
            len,
        };
        let text = "[a *b*](<https://x.org/a> \"t\") rest";
        assert_eq!(
            link(text),
            Some(found(Some("https://x.org/a"), "a *b*", 30))
        );
        assert_eq!(link("[a](javascript:x)"), Some(found(None, "a", 17)));
        assert_eq!(link("[a] (b)"), None);
        assert_eq!(
            autolink("<me@x.org>!"),
            Some(found(Some("mailto:me@x.org"), "me@x.org", 10))
        );
        assert_eq!(autolink("<b>"), None);
        assert_eq!(
            bare_url("https://x.org/(a)). Next"),
            Some(found(Some("https://x.org/(a)"), "https://x.org/(a)", 17))
        );
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
