//! A scripted [`Platform`] for tests: answers upstream calls from a queue of canned replies,
//! records the requests and log lines, and runs on tokio's clock (paused in tests, so
//! timeouts pass instantly).

use crate::{
    config::{
        secret::{Credentials, Secret},
        settings::Settings,
        Config, ConfigError, RateLimitClass, Timeouts, TokenBudget,
    },
    platform::{
        health::{HealthQuery, HealthRecord, TargetView},
        ByteStream, Platform, TransportError, UpstreamRequest, UpstreamResponse,
    },
    routing::{budget::BudgetBook, health::HealthStore, rate_limit::FixedWindowLimiter},
};
use futures::{channel::mpsc, future, stream, StreamExt};
use std::{cell::RefCell, collections::VecDeque, rc::Rc};
use tokio::time::{Duration, Instant};

/// Wall-clock time at the start of every test.
pub const START_MS: u64 = 1_700_000_000_000;

/// What one upstream call does.
pub enum Reply {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: ByteStream,
    },
    /// The connection fails.
    Fail,
    /// No response headers, ever.
    Hang,
}

/// How a scripted body ends after its chunks.
pub enum End {
    Close,
    Hang,
    Fail,
}

/// The built-in routes cut down to one upstream call per request: each chain's first target,
/// no retries, no last resort. For tests of what one call does.
pub fn one_call_config(timeouts: Timeouts) -> Config {
    let mut config = Config::builtin_with("us-east-1", timeouts);
    for route in config.routes.values_mut() {
        route.targets.truncate(1);
        route.retry.max_attempts = 1;
        route.last_resort = None;
    }
    config
}

/// A body of `chunks`, then `end`.
pub fn body(chunks: Vec<Vec<u8>>, end: End) -> ByteStream {
    let chunks = stream::iter(chunks.into_iter().map(Ok));
    match end {
        End::Close => Box::pin(chunks),
        End::Hang => Box::pin(chunks.chain(stream::once(future::pending()))),
        End::Fail => Box::pin(chunks.chain(stream::once(future::ready(Err(TransportError(
            "connection reset".into(),
        )))))),
    }
}

/// A body the test feeds chunk by chunk; it ends when the sender is dropped.
pub fn channel_body() -> (mpsc::UnboundedSender<Vec<u8>>, ByteStream) {
    let (sender, receiver) = mpsc::unbounded();
    (sender, Box::pin(receiver.map(Ok)))
}

impl Reply {
    /// A 200 event stream with `body`.
    pub fn stream(body: ByteStream) -> Self {
        Self::Respond {
            status: 200,
            headers: vec![
                (
                    "content-type".into(),
                    "application/vnd.amazon.eventstream".into(),
                ),
                ("x-amzn-RequestId".into(), "upstream-req-1".into()),
            ],
            body,
        }
    }

    /// A 200 JSON body (non-streaming Converse).
    pub fn json(json: &str) -> Self {
        Self::Respond {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body(vec![json.as_bytes().to_vec()], End::Close),
        }
    }

    /// A Bedrock error response, shaped like the real ones (§4.1).
    pub fn error(status: u16, error_type: &str, message: &str) -> Self {
        Self::Respond {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                (
                    "x-amzn-ErrorType".into(),
                    format!("{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
                ),
            ],
            body: body(
                vec![serde_json::json!({ "message": message })
                    .to_string()
                    .into_bytes()],
                End::Close,
            ),
        }
    }
}

#[derive(Default)]
struct State {
    replies: VecDeque<Reply>,
    requests: Vec<UpstreamRequest>,
    logs: Vec<String>,
    next_random: u64,
    health: HealthStore,
    limiter: FixedWindowLimiter,
    limiter_down: bool,
    budgets: BudgetBook,
}

#[derive(Clone)]
pub struct ScriptedPlatform {
    state: Rc<RefCell<State>>,
    origin: Instant,
}

impl ScriptedPlatform {
    pub fn new(replies: Vec<Reply>) -> Self {
        Self {
            state: Rc::new(RefCell::new(State {
                replies: replies.into(),
                next_random: 0x1234_5678_9abc_def0,
                ..State::default()
            })),
            origin: Instant::now(),
        }
    }

    /// Makes the rate limiter unreachable (every count answers `None`).
    pub fn take_limiter_down(&self) {
        self.state.borrow_mut().limiter_down = true;
    }

    pub fn requests(&self) -> Vec<UpstreamRequest> {
        self.state.borrow().requests.clone()
    }

    pub fn logs(&self) -> Vec<serde_json::Value> {
        self.state
            .borrow()
            .logs
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Platform for ScriptedPlatform {
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, TransportError> {
        let reply = {
            let mut state = self.state.borrow_mut();
            state.requests.push(request);
            state.replies.pop_front()
        };
        match reply.unwrap_or(Reply::Fail) {
            Reply::Respond {
                status,
                headers,
                body,
            } => Ok(UpstreamResponse {
                status,
                headers,
                body,
            }),
            Reply::Fail => Err(TransportError("connection refused".into())),
            Reply::Hang => future::pending().await,
        }
    }

    fn now_ms(&self) -> u64 {
        START_MS + self.origin.elapsed().as_millis() as u64
    }

    async fn sleep(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    fn random_u64(&self) -> u64 {
        let mut state = self.state.borrow_mut();
        state.next_random = state.next_random.wrapping_add(1);
        state.next_random
    }

    fn log(&self, line: &str) {
        self.state.borrow_mut().logs.push(line.to_owned());
    }

    async fn health_load(&self, query: HealthQuery) -> Vec<TargetView> {
        let now = self.now_ms();
        self.state.borrow_mut().health.load(&query, now)
    }

    fn health_record(&self, record: HealthRecord) {
        let now = self.now_ms();
        self.state.borrow_mut().health.record(&record, now);
    }

    async fn rate_limit(&self, class: &str, limits: RateLimitClass, bucket: &str) -> Option<bool> {
        let now = self.now_ms();
        let mut state = self.state.borrow_mut();
        if state.limiter_down {
            return None;
        }
        Some(state.limiter.hit(class, limits, bucket, now))
    }

    async fn budget_spent(&self, client: &str, budget: TokenBudget) -> Option<u64> {
        let now = self.now_ms();
        Some(self.state.borrow().budgets.spent(client, &budget, now))
    }

    /// Scripted: a signature is good when it is [`VALID_SIGNATURE`]. The RSA check itself runs
    /// under workerd (Web Crypto) and natively in `tests` against real signatures.
    async fn verify_rs256(&self, _n: &str, _e: &str, _signed: &[u8], signature: &[u8]) -> bool {
        signature == VALID_SIGNATURE
    }

    fn budget_charge(&self, client: &str, budget: TokenBudget, tokens: u64) {
        let now = self.now_ms();
        self.state
            .borrow_mut()
            .budgets
            .charge(client, &budget, now, tokens);
    }
}

/// The widget token secret of [`settings_with`].
pub const TOKEN_SECRET: &str = "test-widget-token-secret-0123456789abcdef";

/// The signature the scripted platform takes for a good RS256 one.
pub const VALID_SIGNATURE: &[u8] = b"scripted-valid-signature";

/// Settings with test SigV4 credentials, the default endpoint, `config` and a widget token
/// secret ([`TOKEN_SECRET`]).
pub fn settings_with(config: Config) -> Settings {
    Settings {
        credentials: Credentials::SigV4 {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: None,
        },
        endpoint: None,
        config,
        widget_token_secret: Some(Secret::new(TOKEN_SECRET)),
        access: crate::config::access::Access::Public,
        max_body_bytes: crate::config::limits::MAX_BODY_BYTES,
    }
}

/// A route table with `generate` and `classify`, the given `widget_keys` JSON and two classes.
pub fn widget_config(widget_keys: &str) -> Result<Config, ConfigError> {
    let target = r#"{"targets":[{"model":"m.x","region":"us-east-1"}]}"#;
    Config::from_json(&format!(
        r#"{{"default_route":"generate","routes":{{"generate":{target},"classify":{target}}},
            "rate_limits":{{"visitor":{{"limit":2,"period_s":60}},"site":{{"limit":5,"period_s":60}}}},
            "widget_keys":{widget_keys}}}"#
    ))
}

/// [`widget_config`] with one key, `pk_shop_1234`, for `https://shop.example.com` and the
/// local example page: `classify` only, per-visitor class `visitor`, per-key class `site`.
pub fn shop_widget_config() -> Config {
    widget_config(
        r#"{"pk_shop_1234":{"origins":["https://shop.example.com","http://127.0.0.1:8789"],
            "routes":["classify"],"rate_limit":"visitor","key_rate_limit":"site"}}"#,
    )
    .unwrap()
}

/// Header pairs from string literals.
pub fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}
