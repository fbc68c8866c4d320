//! The parts of a request URL the edge uses (origin, path, query), cut from a serialized URL:
//! the runtime's URL of an incoming request, or a Bedrock URL the edge built (for signing).
//! Both are already normalized, so no URL parser (and none of its Unicode tables) is needed
//! in the Worker.

/// A serialized request URL, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestUrl<'a> {
    /// `https://chat.example.com` (with the port when it is not the scheme's default).
    pub origin: &'a str,
    /// `/api/chat`; `/` when the URL has no path.
    pub path: &'a str,
    /// What follows `?`, without it; empty when there is none.
    pub query: &'a str,
}

impl<'a> RequestUrl<'a> {
    /// Splits `url` (`scheme://host[:port]/path[?query][#fragment]`). In a serialized URL a
    /// `?` or `#` inside the path is percent-encoded, so the first of each starts its part.
    pub fn split(url: &'a str) -> Self {
        let url = url.split_once('#').map_or(url, |(before, _)| before);
        let (url, query) = url.split_once('?').unwrap_or((url, ""));
        let host_start = url.find("://").map_or(0, |i| i + 3);
        let path_start = url[host_start..]
            .find('/')
            .map_or(url.len(), |i| host_start + i);
        let path = match &url[path_start..] {
            "" => "/",
            path => path,
        };
        Self {
            origin: &url[..path_start],
            path,
            query,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RequestUrl;

    #[test]
    fn splits_origin_path_and_query() {
        let cases = [
            (
                "https://chat.example.com/api/chat",
                ("https://chat.example.com", "/api/chat", ""),
            ),
            (
                "http://127.0.0.1:8787/widget/frame.html?key=pk_x&origin=http%3A%2F%2Fa#top",
                (
                    "http://127.0.0.1:8787",
                    "/widget/frame.html",
                    "key=pk_x&origin=http%3A%2F%2Fa",
                ),
            ),
            ("https://a.example/", ("https://a.example", "/", "")),
            ("https://a.example", ("https://a.example", "/", "")),
            ("https://a.example?x=1", ("https://a.example", "/", "x=1")),
            (
                "https://a.example/api/jobs?status=queued&limit=5",
                ("https://a.example", "/api/jobs", "status=queued&limit=5"),
            ),
            (
                "https://a.example/a%3Fb/c?q=%23#f?g",
                ("https://a.example", "/a%3Fb/c", "q=%23"),
            ),
        ];
        for (url, (origin, path, query)) in cases {
            assert_eq!(
                RequestUrl::split(url),
                RequestUrl {
                    origin,
                    path,
                    query
                },
                "{url}"
            );
        }
    }
}
