use super::{
    load::check_region,
    policy::{CircuitPolicy, RetryPolicy, Tier},
    *,
};

const SONNET: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
const HAIKU: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
const OPUS: &str = "us.anthropic.claude-opus-4-20250514-v1:0";

fn keys(route: &Route) -> Vec<String> {
    route.targets.iter().map(Target::key).collect()
}

#[test]
fn builtin_routes_are_chains_across_two_regions() {
    let config = Config::builtin("us-east-1");
    let (name, route) = config.route(None).unwrap();
    assert_eq!(name, "generate");
    assert_eq!(route.primary().model, SONNET);
    assert_eq!(
        keys(route),
        [
            format!("{SONNET}@us-east-1"),
            format!("{SONNET}@us-west-2"),
            format!("{HAIKU}@us-east-1")
        ]
    );
    assert_eq!(
        keys(config.route(Some("classify")).unwrap().1),
        [format!("{HAIKU}@us-east-1"), format!("{HAIKU}@us-west-2")]
    );
    let analyze = config.route(Some("analyze")).unwrap().1;
    assert_eq!(
        keys(analyze),
        [
            format!("{OPUS}@us-east-1"),
            format!("{OPUS}@us-west-2"),
            format!("{SONNET}@us-east-1")
        ]
    );
    assert_eq!(analyze.rate_limit.as_deref(), Some("heavy"));
    assert_eq!(
        analyze.last_resort.as_ref().map(LastResort::kind),
        Some("message")
    );
    let Ok(Resolved::Auto(auto)) = config.resolve(Some("auto")) else {
        panic!("no auto route")
    };
    assert_eq!(auto.route_for(Tier::Complex), "analyze");
    assert_eq!(
        config.resolve(Some("gpt")).unwrap_err(),
        r#"unknown route "gpt"; available routes: analyze, auto, classify, generate"#
    );
    assert_eq!(
        config.used_rate_limits(),
        ["chat", "heavy", "widget", "widget-key"]
    );
    assert_eq!(config.all_targets().len(), 6);
    // Other geographies get their own profiles; unknown ones a single region.
    let eu = Config::builtin("eu-west-1");
    assert_eq!(
        keys(eu.route(Some("classify")).unwrap().1),
        [
            "eu.anthropic.claude-3-5-haiku-20241022-v1:0@eu-west-1",
            "eu.anthropic.claude-3-5-haiku-20241022-v1:0@eu-central-1"
        ]
    );
    assert_eq!(
        keys(
            Config::builtin("sa-east-1")
                .route(Some("classify"))
                .unwrap()
                .1
        ),
        ["anthropic.claude-3-5-haiku-20241022-v1:0@sa-east-1"]
    );
}

/// The builtin table, written out as JSON, parses to the same thing: the format is complete.
#[test]
fn the_documented_example_parses() {
    let json = r#"{
      "default_route": "generate",
      "routes": {
        "generate": {
          "description": "Balanced",
          "targets": [
            {"model": "us.anthropic.claude-sonnet-4-20250514-v1:0", "region": "us-east-1", "max_tokens": 4096},
            {"model": "us.anthropic.claude-sonnet-4-20250514-v1:0", "region": "us-west-2", "cost": 1.2},
            {"model": "us.anthropic.claude-3-5-haiku-20241022-v1:0", "region": "us-east-1", "temperature": 0.5}
          ],
          "retry": {"max_attempts": 2, "base_backoff_ms": 100, "max_backoff_ms": 1000, "deadline_ms": 15000},
          "timeouts": {"first_byte_ms": 5000},
          "last_resort": {"cached_answer": "Sorry, try again soon."},
          "rate_limit": "chat",
          "prompt_caching": true
        },
        "classify": {
          "targets": [{"model": "us.anthropic.claude-3-5-haiku-20241022-v1:0", "region": "us-east-1"}]
        },
        "auto": {
          "description": "By content",
          "auto": {"simple": "classify", "medium": "generate", "complex": "generate", "thresholds": {"medium": 2, "complex": 5}},
          "rate_limit": "chat"
        }
      },
      "rate_limits": {"chat": {"limit": 30, "period_s": 60}},
      "circuit": {"failure_threshold": 3, "cool_down_ms": 10000, "error_rate": 0.5},
      "routing": {"cost_weight_ms": 200}
    }"#;
    let config = Config::from_json_with(
        json,
        Timeouts {
            first_byte_ms: 1,
            idle_ms: 2,
        },
    )
    .unwrap();
    let generate = &config.routes["generate"];
    assert_eq!(generate.targets.len(), 3);
    assert_eq!(generate.targets[0].max_tokens, Some(4096));
    assert_eq!(generate.targets[1].cost, 1.2);
    assert_eq!(generate.targets[2].temperature, Some(0.5));
    assert_eq!(generate.retry.max_attempts, 2);
    assert_eq!(
        generate.timeouts,
        Timeouts {
            first_byte_ms: 5000,
            idle_ms: 2
        }
    );
    assert_eq!(
        generate.last_resort,
        Some(LastResort::CachedAnswer("Sorry, try again soon.".into()))
    );
    let classify = &config.routes["classify"];
    assert_eq!(classify.retry, RetryPolicy::default());
    assert_eq!(classify.rate_limit, None);
    assert_eq!(classify.timeouts.first_byte_ms, 1);
    assert!(generate.prompt_caching);
    assert!(!classify.prompt_caching, "off unless a route turns it on");
    let auto = config.auto.as_ref().unwrap();
    assert_eq!((auto.thresholds.medium, auto.thresholds.complex), (2, 5));
    assert_eq!(config.circuit.failure_threshold, 3);
    assert_eq!(config.circuit.window, CircuitPolicy::default().window);
    assert_eq!(config.routing.cost_weight_ms, 200.0);
    assert_eq!(config.rate_limits["chat"].limit, 30);
    assert_eq!(rate_limit_binding("chat"), "RATE_LIMIT_CHAT");
    assert_eq!(rate_limit_binding("per-key"), "RATE_LIMIT_PER_KEY");
}

#[test]
fn errors_name_the_path() {
    let one = |route: &str| {
        format!(
            r#"{{"default_route":"generate","routes":{{"generate":{route}}},"rate_limits":{{"chat":{{"limit":1,"period_s":10}}}}}}"#
        )
    };
    let targets = |targets: &str| one(&format!(r#"{{"targets":{targets}}}"#));
    let ok_target = r#"{"model":"m.x","region":"us-east-1"}"#;
    let cases: Vec<(String, &str)> = vec![
        (
            targets(&format!(r#"[{ok_target},{{"model":"m.x","region":"mars-1"}}]"#)),
            r#"routes.generate.targets[1].region: unknown region "mars-1""#,
        ),
        (
            targets(r#"[{"model":"","region":"us-east-1"}]"#),
            "routes.generate.targets[0].model: must not be empty",
        ),
        (
            targets(r#"[{"model":"m.x","region":"us-east-1","max_tokens":0}]"#),
            "routes.generate.targets[0].max_tokens: must be from 1 to 8192",
        ),
        (
            targets(r#"[{"model":"m.x","region":"us-east-1","temperature":1.5}]"#),
            "routes.generate.targets[0].temperature: must be from 0 to 1",
        ),
        (
            targets(&format!("[{ok_target},{ok_target}]")),
            "routes.generate.targets[1]: lists the same model and region twice",
        ),
        (targets("[]"), "routes.generate.targets: must list 1 to 8 targets"),
        (
            one(&format!(r#"{{"targets":[{ok_target}],"retry":{{"max_attempts":0}}}}"#)),
            "routes.generate.retry.max_attempts: must be from 1 to 10",
        ),
        (
            one(&format!(r#"{{"targets":[{ok_target}],"timeouts":{{"idle_ms":0}}}}"#)),
            "routes.generate.timeouts.idle_ms: must be a whole number of milliseconds from 1 to 600000",
        ),
        (
            one(&format!(r#"{{"targets":[{ok_target}],"last_resort":{{"message":" "}}}}"#)),
            "routes.generate.last_resort: must not be empty",
        ),
        (
            one(&format!(r#"{{"targets":[{ok_target}],"rate_limit":"gold"}}"#)),
            r#"routes.generate.rate_limit: no rate-limit class is named "gold" (define it in rate_limits)"#,
        ),
        (
            one("{}"),
            "routes.generate: needs targets (a chain of models) or auto (tiers)",
        ),
        (
            one(&format!(
                r#"{{"targets":[{ok_target}],"auto":{{"simple":"a","medium":"a","complex":"a"}}}}"#
            )),
            "routes.generate: has both targets and auto: a route is one or the other",
        ),
        (
            r#"{"default_route":"x","routes":{"x":{"auto":{"simple":"x","medium":"x","complex":"x"}}}}"#.into(),
            r#"routes.x.auto.simple: no route with targets is named "x""#,
        ),
        (
            format!(r#"{{"default_route":"a","routes":{{"a":{{"targets":[{ok_target}]}},"x":{{"auto":{{"simple":"a","medium":"a","complex":"a"}},"retry":{{}}}}}}}}"#),
            "routes.x.retry: not allowed on an auto route: set it on the tier routes",
        ),
        (
            format!(r#"{{"default_route":"a","routes":{{"a":{{"targets":[{ok_target}]}},"x":{{"auto":{{"simple":"a","medium":"a","complex":"a"}},"prompt_caching":true}}}}}}"#),
            "routes.x.prompt_caching: not allowed on an auto route: set it on the tier routes",
        ),
        (
            format!(r#"{{"default_route":"x","routes":{{"a":{{"targets":[{ok_target}]}}}}}}"#),
            r#"default_route: no route is named "x""#,
        ),
        (
            r#"{"default_route":"x","routes":{}}"#.into(),
            "routes: must define at least one route",
        ),
        (
            format!(r#"{{"default_route":"health","routes":{{"health":{{"targets":[{ok_target}]}}}}}}"#),
            "routes.health: is reserved (/api/health is another endpoint)",
        ),
        (
            format!(r#"{{"default_route":"Bad Name","routes":{{"Bad Name":{{"targets":[{ok_target}]}}}}}}"#),
            "routes.Bad Name: route names must be 1 to 64 characters of a-z, 0-9, '-' and '_'",
        ),
        (
            format!(r#"{{"default_route":"a","routes":{{"a":{{"targets":[{ok_target}]}}}},"rate_limits":{{"c":{{"limit":5,"period_s":30}}}}}}"#),
            "rate_limits.c.period_s: must be 10 or 60 (the periods Workers rate limiting supports)",
        ),
        (
            format!(r#"{{"default_route":"a","routes":{{"a":{{"targets":[{ok_target}]}}}},"token_budget":{{"tokens":0,"period_s":3600}}}}"#),
            "token_budget.tokens: must be at least 1",
        ),
        (
            format!(r#"{{"default_route":"a","routes":{{"a":{{"targets":[{ok_target}]}}}},"token_budget":{{"tokens":9,"period_s":30}}}}"#),
            "token_budget.period_s: must be from 60 to 2678400 (31 days)",
        ),
        (
            format!(r#"{{"default_route":"a","routes":{{"a":{{"targets":[{ok_target}]}}}},"circuit":{{"failure_threshold":0}}}}"#),
            "circuit.failure_threshold: must be from 1 to 1000",
        ),
        (
            one(&format!(
                r#"{{"targets":[{ok_target}],"async_invoke":{{"s3_output_uri":"https://b/x"}}}}"#
            )),
            "routes.generate.async_invoke.s3_output_uri: must be an s3://bucket/prefix URI",
        ),
        (
            one(&format!(
                r#"{{"targets":[{ok_target}],"async_invoke":{{"s3_output_uri":"s3://bucket/x"}}}}"#
            )),
            "default_route: must not be an async-invoke route (those are for jobs only)",
        ),
        (
            format!(r#"{{"default_route":"a","routes":{{"a":{{"targets":[{ok_target}],"async_invoke":{{"s3_output_uri":"s3://bucket"}}}},"x":{{"auto":{{"simple":"a","medium":"a","complex":"a"}}}}}}}}"#),
            r#"routes.x.auto.simple: "a" is an async-invoke route (jobs only)"#,
        ),
        (
            format!(r#"{{"default_route":"jobs","routes":{{"jobs":{{"targets":[{ok_target}]}}}}}}"#),
            "routes.jobs: is reserved (/api/jobs is another endpoint)",
        ),
    ];
    for (json, expected) in cases {
        assert_eq!(
            Config::from_json(&json).unwrap_err().to_string(),
            expected,
            "{json}"
        );
    }
}

#[test]
fn unknown_fields_are_refused_at_their_path() {
    let cases = [
        (
            r#"{"default_route":"a","routes":{"a":{"targets":[{"model":"m.x","region":"us-east-1","temprature":1}]}}}"#,
            "routes.a.targets[0].temprature: unknown field `temprature`",
        ),
        (
            r#"{"default_route":"a","routes":{"a":{"targets":[],"retries":{}}}}"#,
            "routes.a.retries: unknown field `retries`",
        ),
        (
            r#"{"default_route":"a","routes":{},"model":"x"}"#,
            "model: unknown field `model`",
        ),
        (
            r#"{"default_route":"a","routes":{"a":{"targets":[{"model":"m.x","region":"us-east-1"}],"last_resort":{"text":"x"}}}}"#,
            "routes.a.last_resort: unknown variant `text`",
        ),
        (
            r#"{"default_route":"a","routes":{"a":{"targets":[{"model":"m.x","region":"us-east-1"}],"prompt_caching":"yes"}}}"#,
            "routes.a.prompt_caching: invalid type: string \"yes\", expected a boolean",
        ),
        (
            r#"{"default_route":"a""#,
            "ROUTES: EOF while parsing an object",
        ),
    ];
    for (json, expected) in cases {
        let error = Config::from_json(json).unwrap_err().to_string();
        assert!(
            error.starts_with(expected),
            "{error}\n  expected: {expected}"
        );
    }
}

#[test]
fn region_shapes() {
    for ok in [
        "us-east-1",
        "eu-central-2",
        "ap-southeast-4",
        "us-gov-west-1",
        "cn-north-1",
    ] {
        assert_eq!(check_region(ok), Ok(()), "{ok}");
    }
    for bad in [
        "mars-1",
        "",
        "us-east",
        "US-EAST-1",
        "us--1",
        "xx-east-1",
        "us-east-1a",
    ] {
        assert!(check_region(bad).is_err(), "{bad}");
    }
}

#[test]
fn routes_are_listed_for_clients() {
    let response = Config::builtin("us-east-1").routes_response();
    assert_eq!(response.default_route, "generate");
    let names: Vec<&str> = response.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["analyze", "auto", "classify", "generate"]);
    assert_eq!(response.routes[3].model, SONNET);
    assert_eq!(response.routes[3].targets.len(), 3);
    assert_eq!(
        response.routes[1]
            .tiers
            .as_ref()
            .map(|t| t.complex.as_str()),
        Some("analyze")
    );
}
