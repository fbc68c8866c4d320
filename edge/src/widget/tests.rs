use super::*;
use crate::test_support::headers;

const SITE: &str = "https://shop.example.com";
const EDGE: &str = "https://chat.example.com";

/// A route table with `generate` and `classify`, the given `widget_keys` JSON and two classes.
fn config_with(widget_keys: &str) -> Result<Config, ConfigError> {
    let target = r#"{"targets":[{"model":"m.x","region":"us-east-1"}]}"#;
    Config::from_json(&format!(
        r#"{{"default_route":"generate","routes":{{"generate":{target},"classify":{target}}},
            "rate_limits":{{"visitor":{{"limit":2,"period_s":60}},"site":{{"limit":5,"period_s":60}}}},
            "widget_keys":{widget_keys}}}"#
    ))
}

fn config() -> Config {
    config_with(&format!(
        r#"{{"pk_shop_1234":{{"origins":["{SITE}","http://127.0.0.1:8789"],"routes":["classify"],
            "rate_limit":"visitor","key_rate_limit":"site"}}}}"#
    ))
    .unwrap()
}

#[test]
fn keys_parse_into_origins_routes_and_classes() {
    let config = config();
    let key = &config.widget_keys["pk_shop_1234"];
    assert_eq!(key.origins, [SITE, "http://127.0.0.1:8789"]);
    assert_eq!(key.routes, ["classify"]);
    assert_eq!(key.rate_limit.as_deref(), Some("visitor"));
    assert_eq!(key.key_rate_limit.as_deref(), Some("site"));
    assert_eq!(config.used_rate_limits(), ["site", "visitor"]);
    let builtin = Config::builtin("us-east-1");
    let demo = &builtin.widget_keys[crate::config::DEMO_WIDGET_KEY];
    assert_eq!(
        demo.origins,
        ["http://127.0.0.1:8789", "http://localhost:8789"]
    );
    assert_eq!(
        builtin.used_rate_limits(),
        ["chat", "heavy", "widget", "widget-key"]
    );
    // The built-in table is valid by the same rules as a configured one.
    check_keys(&builtin).unwrap();
}

#[test]
fn key_errors_name_the_path() {
    let key = |body: &str| format!(r#"{{"pk_shop_1234":{body}}}"#);
    let cases: Vec<(String, &str)> = vec![
        (
            key(r#"{"origins":["https://a.example"],"routes":["generate"],"colour":"red"}"#),
            "widget_keys.pk_shop_1234.colour: unknown field `colour`, expected one of `origins`, `routes`, `rate_limit`, `key_rate_limit`",
        ),
        (
            r#"{"shop":{"origins":["https://a.example"],"routes":["generate"]}}"#.into(),
            r#"widget_keys.shop: widget keys must be "pk_" and 4 to 64 characters of A-Z, a-z, 0-9, '_' and '-'"#,
        ),
        (
            key(r#"{"origins":[],"routes":["generate"]}"#),
            "widget_keys.pk_shop_1234.origins: must list at least one origin",
        ),
        (
            key(r#"{"origins":["https://a.example","*"],"routes":["generate"]}"#),
            r#"widget_keys.pk_shop_1234.origins[1]: "*" is not an origin: write scheme, host and optional port, like "https://www.example.com" or "http://127.0.0.1:8789" (no path, no wildcard)"#,
        ),
        (
            key(r#"{"origins":["https://a.example/"],"routes":["generate"]}"#),
            r#"widget_keys.pk_shop_1234.origins[0]: "https://a.example/" is not an origin: write scheme, host and optional port, like "https://www.example.com" or "http://127.0.0.1:8789" (no path, no wildcard)"#,
        ),
        (
            key(r#"{"origins":["https://a.example","https://a.example"],"routes":["generate"]}"#),
            "widget_keys.pk_shop_1234.origins[1]: lists the same origin twice",
        ),
        (
            key(r#"{"origins":["https://a.example"],"routes":[]}"#),
            "widget_keys.pk_shop_1234.routes: must list at least one route",
        ),
        (
            key(r#"{"origins":["https://a.example"],"routes":["generate","opus"]}"#),
            r#"widget_keys.pk_shop_1234.routes[1]: unknown route "opus"; available routes: classify, generate"#,
        ),
        (
            key(r#"{"origins":["https://a.example"],"routes":["generate"],"rate_limit":"gold"}"#),
            r#"widget_keys.pk_shop_1234.rate_limit: no rate-limit class is named "gold" (define it in rate_limits)"#,
        ),
        (
            key(r#"{"origins":["https://a.example"],"routes":["generate"],"key_rate_limit":"gold"}"#),
            r#"widget_keys.pk_shop_1234.key_rate_limit: no rate-limit class is named "gold" (define it in rate_limits)"#,
        ),
        (
            key(r#"{"origins":"https://a.example","routes":["generate"]}"#),
            r#"widget_keys.pk_shop_1234.origins: invalid type: string "https://a.example", expected a sequence"#,
        ),
    ];
    for (json, expected) in cases {
        let error = config_with(&json).unwrap_err().to_string();
        let error = error.split(" at line ").next().unwrap_or_default();
        assert_eq!(error, expected, "{json}");
    }
}

#[test]
fn origins_are_scheme_host_and_port_only() {
    for good in [
        "https://www.example.com",
        "http://127.0.0.1:8789",
        "http://localhost:8789",
        "https://a-b.example",
    ] {
        assert_eq!(check_origin(good), Ok(()), "{good}");
    }
    for bad in [
        "",
        "*",
        "null",
        "https://*.example.com",
        "https://Example.com",
        "ftp://example.com",
        "https://example.com/",
        "https://example.com/path",
        "https://example.com:",
        "https://example.com:99999",
        "https://example.com:08",
        "https://example.com; frame-ancestors *",
        "https://user@example.com",
        "https://.example.com",
        "https://[::1]:8080",
    ] {
        assert!(check_origin(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn same_origin_requests_without_a_key_are_direct() {
    let config = config();
    assert_eq!(identify(&config, EDGE, &[]), Ok(Caller::Direct));
    assert_eq!(
        identify(&config, EDGE, &headers(&[("Origin", EDGE)])),
        Ok(Caller::Direct)
    );
    let foreign = identify(&config, EDGE, &headers(&[("Origin", SITE)])).unwrap_err();
    assert_eq!(
        foreign,
        format!("Requests from {SITE} need a widget key (X-Widget-Key) that allows this origin.")
    );
}

#[test]
fn the_frame_names_the_embedding_origin_and_a_browser_origin_wins() {
    let config = config();
    // Through the widget frame: same-origin fetch, the host page in X-Widget-Origin.
    let framed = identify(
        &config,
        EDGE,
        &headers(&[
            ("origin", EDGE),
            ("x-widget-key", "pk_shop_1234"),
            ("x-widget-origin", SITE),
        ]),
    )
    .unwrap();
    let Caller::Widget(widget) = framed else {
        panic!("expected a widget caller");
    };
    assert_eq!(
        (widget.name, widget.origin.as_str(), widget.cross_origin),
        ("pk_shop_1234", SITE, false)
    );
    // Straight from the site: the browser's Origin is used, and X-Widget-Origin cannot override it.
    let direct = identify(
        &config,
        EDGE,
        &headers(&[
            ("origin", "https://evil.example"),
            ("x-widget-key", "pk_shop_1234"),
            ("x-widget-origin", SITE),
        ]),
    );
    assert_eq!(
        direct.unwrap_err(),
        "This chat widget is not enabled on https://evil.example. The site's owner can add this \
         origin to the widget key."
    );
    let Ok(Caller::Widget(cors)) = identify(
        &config,
        EDGE,
        &headers(&[("origin", SITE), ("x-widget-key", "pk_shop_1234")]),
    ) else {
        panic!("expected a widget caller");
    };
    assert!(cors.cross_origin);
}

#[test]
fn bad_keys_and_missing_origins_are_refused_with_clear_messages() {
    let config = config();
    let refused = |pairs: &[(&str, &str)]| identify(&config, EDGE, &headers(pairs)).unwrap_err();
    let invalid = "This chat widget's key is not valid: check the data-key of its script tag.";
    assert_eq!(
        refused(&[("x-widget-key", "pk_nope_0000"), ("x-widget-origin", SITE)]),
        invalid
    );
    assert_eq!(
        refused(&[("x-widget-key", ""), ("x-widget-origin", SITE)]),
        invalid
    );
    assert_eq!(
        refused(&[("x-widget-key", "pk_shop_1234")]),
        "This chat widget could not tell which site it is on, so it cannot answer here."
    );
    assert!(refused(&[
        ("x-widget-key", "pk_shop_1234"),
        ("x-widget-origin", "null")
    ])
    .contains("not enabled on null"));
}

#[test]
fn widget_callers_see_only_their_routes_and_limits() {
    let config = config();
    let Ok(Caller::Widget(widget)) = identify(
        &config,
        EDGE,
        &headers(&[("x-widget-key", "pk_shop_1234"), ("x-widget-origin", SITE)]),
    ) else {
        panic!("expected a widget caller");
    };
    assert_eq!(widget.allows_route("classify"), Ok(()));
    assert_eq!(
        widget.allows_route("generate").unwrap_err(),
        r#"route: "generate" is not enabled for this chat widget (it may use: classify)"#
    );
    assert_eq!(widget.default_route(&config), "classify");
    let routes = widget.routes(&config);
    assert_eq!(routes.default_route, "classify");
    let names: Vec<&str> = routes.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["classify"]);
    assert_eq!(
        widget.rate_limit_buckets("203.0.113.9"),
        [
            ("visitor", "widget:pk_shop_1234:ip:203.0.113.9".to_owned()),
            ("site", "widget:pk_shop_1234".to_owned())
        ]
    );
}

#[test]
fn preflights_answer_listed_origins_only_and_never_a_wildcard() {
    let config = config();
    let allowed = preflight(
        &config,
        EDGE,
        &headers(&[
            ("origin", SITE),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type,x-widget-key",
            ),
        ]),
    )
    .unwrap();
    let get = |name: &str| {
        allowed
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("access-control-allow-origin"), Some(SITE));
    assert_eq!(get("vary"), Some("Origin"));
    assert!(get("access-control-allow-headers")
        .unwrap()
        .contains("x-widget-key"));
    assert!(get("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert_eq!(
        preflight(
            &config,
            EDGE,
            &headers(&[("origin", "https://evil.example")])
        )
        .unwrap_err(),
        "Cross-origin requests from https://evil.example are not allowed."
    );
    let same = preflight(&config, EDGE, &headers(&[("origin", EDGE)])).unwrap();
    assert!(same.iter().all(|(n, _)| !n.starts_with("access-control")));
    assert!(cors_headers(SITE).iter().all(|(_, v)| v != "*"));
}

#[test]
fn the_frame_may_be_embedded_only_where_its_key_allows() {
    let config = config();
    let csp = |query: &str| frame_csp(Some(&config), query);
    let origin = "https%3A%2F%2Fshop.example.com";
    assert_eq!(
        csp(&format!("key=pk_shop_1234&origin={origin}&title=Ask+us")),
        format!("{PAGE_CSP}; frame-ancestors {SITE} http://127.0.0.1:8789")
    );
    // Elsewhere, only the page that loads it may frame it, to show why it is refused.
    assert_eq!(
        csp("key=pk_shop_1234&origin=https%3A%2F%2Fother.example"),
        format!("{PAGE_CSP}; frame-ancestors https://other.example")
    );
    assert_eq!(
        csp(&format!("key=pk_unknown&origin={origin}")),
        format!("{PAGE_CSP}; frame-ancestors {SITE}")
    );
    for refused in [
        "key=pk_shop_1234",
        "key=pk_shop_1234&origin=*",
        "key=pk_shop_1234&origin=https%3A%2F%2Fa.example%3B%20script-src%20*",
        "",
    ] {
        assert_eq!(
            csp(refused),
            format!("{PAGE_CSP}; frame-ancestors 'none'"),
            "{refused}"
        );
    }
    assert_eq!(
        frame_csp(None, &format!("key=pk_shop_1234&origin={origin}")),
        format!("{PAGE_CSP}; frame-ancestors 'none'")
    );
}

#[test]
fn the_chat_ui_sends_the_same_policy() {
    let headers = include_str!("../../../frontend/_headers");
    let expected = format!("Content-Security-Policy: {PAGE_CSP}; frame-ancestors 'none'");
    assert!(
        headers.lines().any(|line| line.trim() == expected),
        "frontend/_headers must send:\n{expected}"
    );
}
