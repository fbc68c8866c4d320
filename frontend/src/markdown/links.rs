//! Links in inline Markdown: the target of a `[label](target)` (whose brackets the parser
//! finds), and `<autolinks>` and bare `https://` addresses, found as a [`Link`] for the inline
//! parser to build on. Every target passes [`safe_href`], which drops `javascript:`, `data:`
//! and other schemes.

use super::closers::examined;

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

/// The address of a `[label](target "title")` link, from what is inside its parentheses.
pub fn target(inside: &str) -> Option<String> {
    let target = inside.trim();
    let target = match target.strip_prefix('<') {
        Some(angled) => angled.split_once('>').map_or(angled, |(url, _)| url),
        None => target.split_whitespace().next().unwrap_or_default(),
    };
    safe_href(target)
}

/// `<https://example.com>` or `<someone@example.com>`. The search for `>` stops at a space or
/// `<`, so searches from successive `<` never cover the same text.
pub fn autolink(rest: &str) -> Option<Link<'_>> {
    let stop = rest[1..].find(|c: char| c == '>' || c == '<' || c.is_whitespace());
    examined(stop.map_or(rest.len(), |stop| stop + 1));
    let end = 1 + stop?;
    let inner = &rest[1..end];
    if inner.is_empty() || !rest[end..].starts_with('>') {
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
    examined(end);
    let mut url = &rest[..end];
    // Closing parentheses beyond those opened in the address are text.
    let opened = url.matches('(').count();
    let mut closed = url.matches(')').count();
    loop {
        url = url.trim_end_matches(TRAILING);
        match url.strip_suffix(')') {
            Some(shorter) if closed > opened => (url, closed) = (shorter, closed - 1),
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
        for inside in [" <https://x.org/a> \"t\"", "https://x.org/a \"t\""] {
            assert_eq!(target(inside).as_deref(), Some("https://x.org/a"));
        }
        assert_eq!(target("javascript:x"), None);
        assert_eq!(
            autolink("<me@x.org>!"),
            Some(found(Some("mailto:me@x.org"), "me@x.org", 10))
        );
        assert_eq!(autolink("<b>"), None);
        assert_eq!(autolink("<a b@x.org>"), None);
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
