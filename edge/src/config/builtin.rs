//! The built-in routes, used when `ROUTES` is not set.

use super::{
    policy::{CircuitPolicy, RetryPolicy, RoutingPolicy, Thresholds},
    widget_keys::WidgetKey,
    AutoRoute, Config, LastResort, RateLimitClass, Route, Target, Timeouts, TokenBudget,
    DEMO_WIDGET_KEY,
};
use std::collections::BTreeMap;

/// Tokens one client may spend per hour with the built-in table: a long conversation's
/// worth, and a bound on what one address can cost.
pub const DEFAULT_TOKEN_BUDGET: u64 = 200_000;

impl Config {
    /// The built-in routes around `region`, with the default timeouts.
    pub fn builtin(region: &str) -> Self {
        Self::builtin_with(region, Timeouts::default())
    }

    /// The built-in routes: `classify` on Claude Haiku, `generate` on Claude Sonnet (falling
    /// back to Haiku), `analyze` on Claude Opus (falling back to Sonnet), each first through
    /// the geography's cross-region inference profile in `region`, then in a second region of
    /// the same geography; and `auto`, which picks one of the three by content. The widget key
    /// [`DEMO_WIDGET_KEY`] opens `generate` to the local example page.
    pub fn builtin_with(region: &str, timeouts: Timeouts) -> Self {
        let (prefix, second) = geography(region);
        let model = |name: &str| format!("{prefix}anthropic.{name}");
        let haiku = model("claude-3-5-haiku-20241022-v1:0");
        let sonnet = model("claude-sonnet-4-20250514-v1:0");
        let opus = model("claude-opus-4-20250514-v1:0");
        let both_regions = |model: &str, max_tokens: u32| {
            let mut chain = vec![Target::new(model, region).with_max_tokens(max_tokens)];
            if let Some(second) = second {
                chain.push(Target::new(model, second).with_max_tokens(max_tokens));
            }
            chain
        };
        let busy = LastResort::Message(
            "The assistant is very busy right now and could not answer. Please try again in a minute."
                .into(),
        );
        let route = |description: &str, targets: Vec<Target>, class: &str| Route {
            description: description.into(),
            targets,
            retry: RetryPolicy::default(),
            timeouts,
            last_resort: Some(busy.clone()),
            rate_limit: Some(class.into()),
            async_invoke: None,
            prompt_caching: false,
        };
        let mut generate = both_regions(&sonnet, 4096);
        generate.push(Target::new(&haiku, region).with_max_tokens(4096));
        let mut analyze = both_regions(&opus, 8192);
        analyze.push(Target::new(&sonnet, region).with_max_tokens(8192));
        Self {
            default_route: "generate".into(),
            routes: BTreeMap::from([
                (
                    "classify".into(),
                    route(
                        "Fast and cheap: short answers, labels, extraction.",
                        both_regions(&haiku, 1024),
                        "chat",
                    ),
                ),
                (
                    "generate".into(),
                    route(
                        "Balanced: writing and everyday questions.",
                        generate,
                        "chat",
                    ),
                ),
                (
                    "analyze".into(),
                    route(
                        "Most capable: long documents and careful reasoning.",
                        analyze,
                        "heavy",
                    ),
                ),
            ]),
            auto: Some(AutoRoute {
                name: "auto".into(),
                description: "Picks classify, generate or analyze from the conversation.".into(),
                simple: "classify".into(),
                medium: "generate".into(),
                complex: "analyze".into(),
                thresholds: Thresholds::default(),
                rate_limit: Some("chat".into()),
            }),
            rate_limits: BTreeMap::from([
                (
                    "chat".into(),
                    RateLimitClass {
                        limit: 60,
                        period_s: 60,
                        fail_closed: false,
                    },
                ),
                (
                    "heavy".into(),
                    RateLimitClass {
                        limit: 20,
                        period_s: 60,
                        fail_closed: true,
                    },
                ),
                (
                    "widget".into(),
                    RateLimitClass {
                        limit: 20,
                        period_s: 60,
                        fail_closed: false,
                    },
                ),
                (
                    "widget-key".into(),
                    RateLimitClass {
                        limit: 600,
                        period_s: 60,
                        fail_closed: false,
                    },
                ),
            ]),
            circuit: CircuitPolicy::default(),
            routing: RoutingPolicy::default(),
            widget_keys: BTreeMap::from([(
                DEMO_WIDGET_KEY.into(),
                WidgetKey {
                    origins: vec![
                        "http://127.0.0.1:8789".into(),
                        "http://localhost:8789".into(),
                    ],
                    routes: vec!["generate".into()],
                    rate_limit: Some("widget".into()),
                    key_rate_limit: Some("widget-key".into()),
                },
            )]),
            token_budget: Some(TokenBudget {
                tokens: DEFAULT_TOKEN_BUDGET,
                period_s: 3_600,
            }),
        }
    }
}

/// The cross-region inference-profile prefix of `region`'s geography and a second region of
/// it; no prefix and no second region where this table does not know the geography.
fn geography(region: &str) -> (&'static str, Option<&'static str>) {
    const PAIRS: [(&str, &str, &str); 8] = [
        ("us-east-1", "us.", "us-west-2"),
        ("us-east-2", "us.", "us-east-1"),
        ("us-west-2", "us.", "us-east-1"),
        ("eu-west-1", "eu.", "eu-central-1"),
        ("eu-central-1", "eu.", "eu-west-1"),
        ("eu-west-3", "eu.", "eu-central-1"),
        ("ap-northeast-1", "apac.", "ap-southeast-2"),
        ("ap-southeast-2", "apac.", "ap-northeast-1"),
    ];
    PAIRS
        .iter()
        .find(|(r, _, _)| *r == region)
        .map(|(_, prefix, second)| (*prefix, Some(*second)))
        .unwrap_or(("", None))
}
