use super::token::{sign, visitor_id, Claims, TOKEN_LIFETIME_S};
use super::*;
use crate::test_support::{headers, shop_widget_config as config, TOKEN_SECRET};
use shared::ErrorCode;

const SITE: &str = "https://shop.example.com";
const EDGE: &str = "https://chat.example.com";
const KEY: &str = "pk_shop_1234";
const NOW: u64 = 1_700_000_000;

fn secret() -> Secret {
    Secret::new(TOKEN_SECRET)
}

/// A token of `key` for `origin` and visitor `n`, issued now.
fn token_for(key: &str, origin: &str, n: u64) -> String {
    sign(
        &secret(),
        &Claims {
            key: key.into(),
            origin: origin.into(),
            visitor: visitor_id(n, n),
            expires_s: NOW + TOKEN_LIFETIME_S,
        },
    )
}

fn who<'a>(config: &'a Config, pairs: &[(&str, &str)]) -> Result<Caller<'a>, ApiError> {
    identify(config, EDGE, &headers(pairs), Some(&secret()), NOW)
}

/// The status, code and message of a refusal.
fn refusal(result: Result<Caller<'_>, ApiError>) -> (u16, ErrorCode, String) {
    let error = result.unwrap_err();
    (error.status, error.code, error.message)
}

#[test]
fn same_origin_requests_without_a_key_are_direct() {
    let config = config();
    assert_eq!(who(&config, &[]), Ok(Caller::Direct));
    assert_eq!(who(&config, &[("Origin", EDGE)]), Ok(Caller::Direct));
    // A header naming an origin is believed by no one.
    assert_eq!(
        who(&config, &[("x-widget-origin", SITE)]),
        Ok(Caller::Direct)
    );
    let foreign = refusal(who(&config, &[("Origin", SITE)]));
    assert_eq!(
        foreign,
        (
            403,
            ErrorCode::Forbidden,
            format!(
                "Requests from {SITE} need a widget key (X-Widget-Key) that allows this origin."
            )
        )
    );
}

#[test]
fn a_key_alone_is_not_enough_whatever_origin_it_claims() {
    let config = config();
    for pairs in [
        vec![("x-widget-key", KEY), ("x-widget-origin", SITE)],
        vec![("x-widget-key", KEY), ("origin", EDGE)],
        vec![("x-widget-key", KEY), ("origin", SITE)],
        vec![("x-widget-key", KEY), ("x-widget-token", "")],
    ] {
        let (status, code, message) = refusal(who(&config, &pairs));
        assert_eq!((status, code), (401, ErrorCode::Unauthorized), "{pairs:?}");
        assert_eq!(
            message,
            "A widget call needs a widget token (X-Widget-Token): get one from POST \
             /api/widget/token."
        );
    }
}

#[test]
fn a_token_identifies_its_key_origin_and_visitor() {
    let config = config();
    // Through the widget frame: same-origin fetch, the token alone.
    let framed = who(
        &config,
        &[
            ("origin", EDGE),
            ("x-widget-token", &token_for(KEY, SITE, 7)),
        ],
    );
    let Ok(Caller::Widget(widget)) = framed else {
        panic!("expected a widget caller: {framed:?}");
    };
    assert_eq!(
        (widget.name, widget.origin.as_str(), widget.visitor.as_str()),
        (KEY, SITE, visitor_id(7, 7).as_str())
    );
    // With its key named too, and straight from the site (the browser's Origin matches).
    let direct = who(
        &config,
        &[
            ("origin", SITE),
            ("x-widget-key", KEY),
            ("x-widget-token", &token_for(KEY, SITE, 7)),
        ],
    );
    assert!(matches!(direct, Ok(Caller::Widget(_))), "{direct:?}");
}

#[test]
fn tampered_expired_and_foreign_tokens_are_refused() {
    let config = config();
    let token = token_for(KEY, SITE, 1);
    let with = |token: &str| who(&config, &[("x-widget-token", token)]);
    let mut tampered = token.clone();
    tampered.replace_range(3..6, "xyz");
    let (status, code, message) = refusal(with(&tampered));
    assert_eq!((status, code), (401, ErrorCode::Unauthorized));
    assert!(message.contains("not signed by this edge"), "{message}");
    let (status, code, message) = refusal(with("v1.garbage"));
    assert_eq!((status, code), (401, ErrorCode::Unauthorized));
    assert!(message.contains("malformed"), "{message}");

    let expired = identify(
        &config,
        EDGE,
        &headers(&[("x-widget-token", &token)]),
        Some(&secret()),
        NOW + TOKEN_LIFETIME_S,
    );
    let (status, code, message) = refusal(expired);
    assert_eq!((status, code), (401, ErrorCode::TokenExpired));
    assert!(message.contains("expired"), "{message}");

    // Another secret (a rotated one): every token ends.
    let rotated = Secret::new("a-rotated-secret-of-enough-length-0123456789");
    let after_rotation = identify(
        &config,
        EDGE,
        &headers(&[("x-widget-token", &token)]),
        Some(&rotated),
        NOW,
    );
    assert_eq!(refusal(after_rotation).1, ErrorCode::Unauthorized);

    // A token of one key presented with another.
    let other_key = refusal(who(
        &config,
        &[("x-widget-key", "pk_other_key"), ("x-widget-token", &token)],
    ));
    assert_eq!((other_key.0, other_key.1), (401, ErrorCode::Unauthorized));
    // A token for the site, used by another origin's page.
    let other_origin = refusal(who(
        &config,
        &[
            ("origin", "https://evil.example"),
            ("x-widget-token", &token),
        ],
    ));
    assert_eq!(
        other_origin,
        (
            403,
            ErrorCode::Forbidden,
            format!("This widget token was issued for {SITE}, not for https://evil.example.")
        )
    );
    // A genuine token for an origin the key never listed (say, the key was edited since).
    let unlisted = refusal(with(&token_for(KEY, "https://evil.example", 1)));
    assert_eq!(
        unlisted,
        (
            403,
            ErrorCode::Forbidden,
            "This chat widget is not enabled on https://evil.example. The site's owner can add \
             this origin to the widget key."
                .into()
        )
    );
}

#[test]
fn removing_an_origin_or_the_key_revokes_its_tokens_at_once() {
    let token = token_for(KEY, SITE, 1);
    let mut config = config();
    let check = |config: &Config| refusal(who(config, &[("x-widget-token", &token)]));
    assert!(who(&config, &[("x-widget-token", &token)]).is_ok());
    if let Some(key) = config.widget_keys.get_mut(KEY) {
        key.origins.retain(|origin| origin != SITE);
    }
    let (status, _, message) = check(&config);
    assert_eq!(status, 403);
    assert!(
        message.contains(&format!("not enabled on {SITE}")),
        "{message}"
    );
    config.widget_keys.clear();
    assert_eq!(
        check(&config),
        (
            403,
            ErrorCode::Forbidden,
            "This chat widget's key is not valid: check the data-key of its script tag.".into()
        )
    );
}

#[test]
fn bad_keys_and_missing_origins_are_refused_with_clear_messages() {
    let config = config();
    let invalid = "This chat widget's key is not valid: check the data-key of its script tag.";
    for key in ["pk_nope_0000", ""] {
        let (status, _, message) = refusal(who(
            &config,
            &[("x-widget-key", key), ("x-widget-origin", SITE)],
        ));
        assert_eq!((status, message.as_str()), (403, invalid), "{key:?}");
    }
    let key = &config.widget_keys[KEY];
    let token_origin = |pairs: &[(&str, &str)], named: Option<&str>| {
        token_origin(key, EDGE, &headers(pairs), named)
            .map(str::to_owned)
            .map_err(|e| (e.status, e.message))
    };
    assert_eq!(token_origin(&[], Some(SITE)), Ok(SITE.to_owned()));
    assert_eq!(token_origin(&[("origin", SITE)], None), Ok(SITE.to_owned()));
    assert_eq!(
        token_origin(&[("origin", EDGE)], None),
        Err((
            403,
            "This chat widget could not tell which site it is on, so it cannot answer here.".into()
        ))
    );
    assert_eq!(
        token_origin(&[("origin", "https://evil.example")], Some(SITE)),
        Err((
            403,
            format!("origin: the request comes from https://evil.example, not {SITE}")
        ))
    );
    let null = token_origin(&[], Some("null")).unwrap_err();
    assert!(null.1.contains("not enabled on null"), "{null:?}");
}

#[test]
fn widget_callers_see_only_their_routes_and_count_per_visitor() {
    let config = config();
    let Ok(Caller::Widget(widget)) = who(&config, &[("x-widget-token", &token_for(KEY, SITE, 9))])
    else {
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
    // The visitor class counts the token's visitor, the key class the key; asking for a token
    // counts the address in the visitor class.
    let visitor = visitor_id(9, 9);
    assert_eq!(
        widget.rate_limit_buckets(),
        [
            ("visitor", format!("widget:{KEY}:visitor:{visitor}")),
            ("site", format!("widget:{KEY}"))
        ]
    );
    assert_eq!(
        issuance_bucket(KEY, "2001:0db8:0000:0000::/64"),
        format!("widget:{KEY}:ip:2001:0db8:0000:0000::/64")
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
    assert!(get("access-control-allow-headers")
        .unwrap()
        .contains("x-widget-token"));
    // Listed origins may read every answer, refusals included; others none.
    let cors = |origin: &str| {
        cors_origin(&config, EDGE, &headers(&[("origin", origin)])).map(str::to_owned)
    };
    assert_eq!(cors(SITE), Some(SITE.to_owned()));
    assert_eq!(cors("https://evil.example"), None);
    assert_eq!(cors(EDGE), None);
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
