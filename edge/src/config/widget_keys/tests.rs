use super::*;
use crate::test_support::{shop_widget_config as config, widget_config as config_with};

const SITE: &str = "https://shop.example.com";

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
            r#"widget_keys.pk_shop_1234.origins[1]: "*" is not an origin: write scheme, host and optional port, like "https://www.example.com" or "http://127.0.0.1:8789" (no path, no wildcard, no default port such as :443)"#,
        ),
        (
            key(r#"{"origins":["https://a.example/"],"routes":["generate"]}"#),
            r#"widget_keys.pk_shop_1234.origins[0]: "https://a.example/" is not an origin: write scheme, host and optional port, like "https://www.example.com" or "http://127.0.0.1:8789" (no path, no wildcard, no default port such as :443)"#,
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
        "https://example.com:8443",
        "http://example.com:443",
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
        "https://example.com:443",
        "http://example.com:80",
    ] {
        assert!(check_origin(bad).is_err(), "{bad:?} accepted");
    }
}
