//! The edge core (`edge::http::Edge` on the native platform, no wrangler) against the real fake
//! Bedrock: every fault the fake injects × every operation (chat stream, chat whole, invoke
//! stream, invoke whole), every model-id form, both credential kinds. Each case gets its own
//! fake and edge, so its call count is its own; cases run concurrently.
//!
//! Run: `cargo test -p tests --test edge_core_faults`.

#[path = "edge_core_faults/harness.rs"]
mod harness;

use anyhow::ensure;
use harness::{
    check_end, check_no_secrets, fail, run_all, Check, End, World, OPS, SECRETS, TIMEOUT_MS,
};
use serde_json::{json, Value};
use shared::ErrorCode;

const REGION: &str = "us-east-1";
const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const PROFILE: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
const PROFILE_ARN: &str = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0";
const APP_PROFILE_ARN: &str =
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/jf2sje1c0jnb";
const NOVA: &str = "amazon.nova-lite-v1:0";
const NOVA_PROFILE: &str = "us.amazon.nova-pro-v1:0";
/// One fault: what streams see, and what whole answers see.
struct Case {
    fault: Value,
    stream: End,
    once: End,
}

fn case(fault: Value, stream: End, once: End) -> Case {
    Case {
        fault,
        stream,
        once,
    }
}
fn fault_table() -> Vec<Case> {
    use ErrorCode as C;
    let http = |kind: &str, code, retryable, status| {
        let end = fail(code, retryable, status);
        case(json!({ "kind": kind }), end, end)
    };
    let mut cases = vec![
        http("throttle", C::UpstreamThrottled, true, 429),
        http("unavailable", C::UpstreamUnavailable, true, 503),
        http("internal", C::UpstreamUnavailable, true, 502),
        http("model_error", C::ModelError, false, 502),
        http("model_timeout", C::UpstreamTimeout, false, 504),
        http("model_not_ready", C::UpstreamUnavailable, true, 503),
        http("validation", C::UpstreamRejected, false, 400),
        http("access_denied", C::UpstreamAuth, false, 502),
        http("hang", C::UpstreamTimeout, true, 504),
    ];
    let timeout = fail(C::UpstreamTimeout, true, 504);
    let slow = |kind: &str, ms: u64| json!({ "kind": kind, "ms": ms });
    cases.push(case(
        slow("slow_first_byte", 3 * TIMEOUT_MS),
        timeout,
        timeout,
    ));
    cases.push(case(
        slow("slow_first_byte", TIMEOUT_MS / 5),
        End::Answer,
        End::Answer,
    ));
    // Streams stall between frames; whole answers wait before their headers.
    cases.push(case(slow("slow_tokens", 3 * TIMEOUT_MS), timeout, timeout));
    cases.push(case(
        slow("slow_tokens", TIMEOUT_MS / 25),
        End::Answer,
        End::Answer,
    ));
    let after = |deltas: usize, code, retryable| End::Fail {
        deltas,
        code,
        retryable,
        status: 200,
    };
    let exceptions = [
        ("throttlingException", C::UpstreamThrottled, true, 429),
        ("modelStreamErrorException", C::ModelError, false, 502),
        ("internalServerException", C::UpstreamUnavailable, true, 502),
        (
            "serviceUnavailableException",
            C::UpstreamUnavailable,
            true,
            503,
        ),
        ("validationException", C::UpstreamRejected, false, 400),
        ("modelTimeoutException", C::UpstreamTimeout, false, 504),
    ];
    for (exception, code, retryable, status) in exceptions {
        let fault = json!({ "kind": "exception_after", "deltas": 3, "exception": exception });
        cases.push(case(
            fault,
            after(3, code, retryable),
            fail(code, retryable, status),
        ));
    }
    let interrupted = after(2, C::StreamInterrupted, true);
    let broken = |kind: &str| json!({ "kind": kind, "deltas": 2 });
    // Whole answers: a 500; a body cut by an aborted connection; half a JSON body.
    cases.push(case(
        broken("bad_crc_after"),
        interrupted,
        fail(C::UpstreamUnavailable, true, 502),
    ));
    cases.push(case(
        broken("drop_after"),
        interrupted,
        fail(C::UpstreamUnavailable, true, 502),
    ));
    cases.push(case(
        broken("truncated_after"),
        interrupted,
        fail(C::StreamInterrupted, true, 502),
    ));
    cases
}
#[tokio::test]
async fn every_fault_on_every_operation() -> anyhow::Result<()> {
    let mut cases: Vec<Check> = Vec::new();
    for case in fault_table() {
        for op in OPS {
            let name = format!("{op:?} with {}", case.fault);
            let end = if op.streaming() {
                case.stream
            } else {
                case.once
            };
            let fault = case.fault.clone();
            cases.push((
                name,
                Box::pin(async move {
                    let world = World::signed(CLAUDE, REGION).await?;
                    world.fault(CLAUDE, &fault).await?;
                    let outcome = world.run(op, CLAUDE).await?;
                    check_end(op, CLAUDE, REGION, end, &outcome)?;
                    ensure!(
                        world.fake.calls(CLAUDE) == 1,
                        "{} upstream calls",
                        world.fake.calls(CLAUDE)
                    );
                    check_no_secrets(&world, &outcome, &SECRETS)
                }),
            ));
        }
    }
    run_all(cases).await
}

#[tokio::test]
async fn every_model_id_form_round_trips_on_every_operation() -> anyhow::Result<()> {
    let models = [
        (CLAUDE, REGION),
        (PROFILE, "us-west-2"),
        (PROFILE_ARN, REGION),
        (APP_PROFILE_ARN, REGION),
        (NOVA, "eu-west-1"),
        (NOVA_PROFILE, REGION),
    ];
    let mut cases: Vec<Check> = Vec::new();
    for (model, region) in models {
        for op in OPS {
            cases.push((
                format!("{op:?} on {model} in {region}"),
                Box::pin(async move {
                    // A successful call means the fake's SigV4 check passed for this region.
                    let world = World::signed(model, region).await?;
                    let outcome = world.run(op, model).await?;
                    check_end(op, model, region, End::Answer, &outcome)?;
                    ensure!(
                        world.fake.calls(model) == 1,
                        "{} upstream calls",
                        world.fake.calls(model)
                    );
                    check_no_secrets(&world, &outcome, &SECRETS)
                }),
            ));
        }
    }
    run_all(cases).await
}

#[tokio::test]
async fn a_bedrock_api_key_works_and_a_wrong_one_is_an_auth_error() -> anyhow::Result<()> {
    let mut cases: Vec<Check> = Vec::new();
    for op in OPS {
        cases.push((
            format!("{op:?} with the API key"),
            Box::pin(async move {
                let key = [("AWS_BEARER_TOKEN_BEDROCK", "fake-bedrock-api-key")];
                let world = World::start(CLAUDE, REGION, &key).await?;
                let outcome = world.run(op, CLAUDE).await?;
                // Bearer calls name no region: the fake answers for its default, us-east-1.
                check_end(op, CLAUDE, REGION, End::Answer, &outcome)?;
                check_no_secrets(&world, &outcome, &SECRETS)
            }),
        ));
        cases.push((
            format!("{op:?} with a wrong API key"),
            Box::pin(async move {
                let key = [("AWS_BEARER_TOKEN_BEDROCK", "WRONG-API-KEY")];
                let world = World::start(CLAUDE, REGION, &key).await?;
                let outcome = world.run(op, CLAUDE).await?;
                check_end(
                    op,
                    CLAUDE,
                    REGION,
                    fail(ErrorCode::UpstreamAuth, false, 502),
                    &outcome,
                )?;
                ensure!(
                    world.fake.calls(CLAUDE) == 0,
                    "refused calls are not counted"
                );
                check_no_secrets(&world, &outcome, &["WRONG-API-KEY"])
            }),
        ));
    }
    run_all(cases).await
}

#[tokio::test]
async fn a_wrong_secret_key_is_an_auth_error() -> anyhow::Result<()> {
    let mut cases: Vec<Check> = Vec::new();
    for op in OPS {
        cases.push((
            format!("{op:?}"),
            Box::pin(async move {
                let keys = [
                    ("AWS_ACCESS_KEY_ID", "AKIAFAKEBEDROCK00000"),
                    ("AWS_SECRET_ACCESS_KEY", "WRONG-SECRET-KEY"),
                    ("AWS_SESSION_TOKEN", "SESSION-TOKEN-VALUE"),
                ];
                let world = World::start(CLAUDE, REGION, &keys).await?;
                let outcome = world.run(op, CLAUDE).await?;
                check_end(
                    op,
                    CLAUDE,
                    REGION,
                    fail(ErrorCode::UpstreamAuth, false, 502),
                    &outcome,
                )?;
                let secrets = [
                    "WRONG-SECRET-KEY",
                    "SESSION-TOKEN-VALUE",
                    "fake-bedrock-secret-key",
                ];
                check_no_secrets(&world, &outcome, &secrets)
            }),
        ));
    }
    run_all(cases).await
}
