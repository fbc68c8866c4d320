//! The frame's settings, passed in its URL by the loader from the script tag's data
//! attributes, and how they dress the page.

/// Colour scheme asked for by `data-theme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Auto,
    Light,
    Dark,
}

/// The frame's URL parameters, set by the loader from the script tag's data attributes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Options {
    pub key: String,
    /// The page the loader runs on, as the loader saw it; believed only where the browser
    /// cannot say (see `host::host_origin`).
    pub origin: Option<String>,
    pub route: Option<String>,
    pub title: String,
    pub theme: Theme,
}

impl Options {
    /// From decoded query pairs; unknown ones are ignored, blanks count as absent.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut options = Self {
            title: "Chat".into(),
            ..Self::default()
        };
        for (name, value) in pairs {
            let value = value.trim().to_owned();
            if value.is_empty() {
                continue;
            }
            match name.as_str() {
                "key" => options.key = value,
                "origin" => options.origin = Some(value),
                "route" => options.route = Some(value),
                "title" => options.title = value.chars().take(80).collect(),
                "theme" => {
                    options.theme = match value.as_str() {
                        "light" => Theme::Light,
                        "dark" => Theme::Dark,
                        _ => Theme::Auto,
                    }
                }
                _ => {}
            }
        }
        options
    }

    /// From this page's query string.
    pub fn from_location() -> Self {
        let search = web_sys::window()
            .and_then(|w| w.location().search().ok())
            .unwrap_or_default();
        let Ok(params) = web_sys::UrlSearchParams::new_with_str(&search) else {
            return Self::from_pairs([]);
        };
        let pairs = ["key", "origin", "route", "title", "theme"]
            .into_iter()
            .filter_map(|name| params.get(name).map(|value| (name.to_owned(), value)));
        Self::from_pairs(pairs)
    }

    /// Shows the options on the page: the title, and the theme as `data-theme` on `<html>`.
    pub fn dress_page(&self) {
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        document.set_title(&self.title);
        if let Some(root) = document.document_element() {
            let theme = match self.theme {
                Theme::Auto => "auto",
                Theme::Light => "light",
                Theme::Dark => "dark",
            };
            let _ = root.set_attribute("data-theme", theme);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn options_come_from_the_query() {
        let pairs = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        let options = Options::from_pairs(pairs(&[
            ("key", "pk_demo_local"),
            ("origin", "http://127.0.0.1:8789"),
            ("route", "generate"),
            ("title", "Ask us"),
            ("theme", "dark"),
            ("other", "x"),
        ]));
        assert_eq!(
            options,
            Options {
                key: "pk_demo_local".into(),
                origin: Some("http://127.0.0.1:8789".into()),
                route: Some("generate".into()),
                title: "Ask us".into(),
                theme: Theme::Dark,
            }
        );
        let defaults = Options::from_pairs(pairs(&[("route", " "), ("theme", "neon")]));
        assert_eq!((defaults.title.as_str(), defaults.route), ("Chat", None));
        assert_eq!(defaults.theme, Theme::Auto);
    }
}
