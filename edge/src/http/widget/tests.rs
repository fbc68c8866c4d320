use super::*;
use crate::test_support::{headers, shop_widget_config as config};

const SITE: &str = "https://shop.example.com";
const EDGE: &str = "https://chat.example.com";

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
fn only_the_key_s_origins_may_frame_the_widget_whatever_the_query_says() {
    let config = config();
    let csp = |query: &str| frame_csp(Some(&config), query);
    let listed = format!("{PAGE_CSP}; frame-ancestors {SITE} http://127.0.0.1:8789");
    let none = format!("{PAGE_CSP}; frame-ancestors 'none'");
    assert_eq!(
        csp("key=pk_shop_1234&origin=https%3A%2F%2Fshop.example.com&title=Ask+us"),
        listed
    );
    // A page the key does not list is not let in, not even to show a refusal.
    assert_eq!(
        csp("key=pk_shop_1234&origin=https%3A%2F%2Fother.example"),
        listed
    );
    assert_eq!(csp("key=pk_shop_1234"), listed);
    assert_eq!(csp("key=pk_shop_1234&origin=*"), listed);
    for refused in [
        "key=pk_unknown&origin=https%3A%2F%2Fshop.example.com",
        "origin=https%3A%2F%2Fshop.example.com",
        "key=&origin=https%3A%2F%2Fshop.example.com",
        "key=pk_shop_1234%3B%20script-src%20*",
        "",
    ] {
        assert_eq!(csp(refused), none, "{refused}");
    }
    assert_eq!(frame_csp(None, "key=pk_shop_1234"), none);
}

#[test]
fn the_chat_ui_sends_the_same_policy() {
    let headers = include_str!("../../../../frontend/_headers");
    let expected = format!("Content-Security-Policy: {PAGE_CSP}; frame-ancestors 'none'");
    assert!(
        headers.lines().any(|line| line.trim() == expected),
        "frontend/_headers must send:\n{expected}"
    );
}
