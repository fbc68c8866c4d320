//! A fake Bedrock Runtime: a real HTTP server on 127.0.0.1 that speaks Bedrock's wire protocol
//! (SigV4 or API-key auth, Converse, InvokeModel, both streams, async invoke), with a fault
//! control API under `/_fake/`. The upstream of `scripts/dev` and of every test.

mod async_invoke;
mod clock;
mod converse;
mod errors;
mod faults;
mod invoke;
mod model_id;
mod operations;
mod reply;
mod routes;
mod server;
mod sigv4;
mod stream;

pub use faults::{Fault, FaultRule, SetReply, StreamException};
pub use reply::{reply_deltas, reply_text};

use anyhow::Context;
use server::Server;
use std::{fmt, sync::Arc};
use tokio::sync::watch;

/// The credentials the fake accepts, and its pacing.
#[derive(Clone)]
pub struct FakeConfig {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// When set, SigV4 calls must send this `x-amz-security-token`.
    pub session_token: Option<String>,
    /// The Bedrock API key accepted as `Authorization: Bearer …`; `None` refuses bearer auth.
    pub bearer_token: Option<String>,
    /// Pause between stream frames, so that streaming is visible to clients.
    pub token_delay_ms: u64,
    /// Log one line per request to stderr (the binary turns this on).
    pub log_requests: bool,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            access_key_id: "AKIAFAKEBEDROCK00000".into(),
            secret_access_key: "fake-bedrock-secret-key".into(),
            session_token: None,
            bearer_token: Some("fake-bedrock-api-key".into()),
            token_delay_ms: 15,
            log_requests: false,
        }
    }
}

impl fmt::Debug for FakeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |secret: &Option<String>| secret.as_ref().map(|_| "*****");
        f.debug_struct("FakeConfig")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"*****")
            .field("session_token", &hidden(&self.session_token))
            .field("bearer_token", &hidden(&self.bearer_token))
            .field("token_delay_ms", &self.token_delay_ms)
            .field("log_requests", &self.log_requests)
            .finish()
    }
}

/// A running fake. Dropping it stops the server (hanging and streaming calls end too).
pub struct FakeBedrock {
    url: String,
    port: u16,
    server: Arc<Server>,
    shutdown: watch::Sender<bool>,
}

impl FakeBedrock {
    /// Binds 127.0.0.1:`port` (0 = any free port) and serves on the current tokio runtime.
    pub async fn start(config: FakeConfig, port: u16) -> anyhow::Result<FakeBedrock> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("fake-bedrock: cannot listen on 127.0.0.1:{port}"))?;
        let port = listener.local_addr()?.port();
        let (shutdown, stopped) = watch::channel(false);
        let server = Arc::new(Server {
            config,
            control: faults::Control::default(),
            jobs: async_invoke::AsyncJobs::default(),
            shutdown: stopped.clone(),
        });
        let app = server::app(server.clone());
        let mut stop = stopped;
        tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
                // An error means the handle is gone: stop as well.
                let _ = stop.wait_for(|stopped| *stopped).await;
            });
            if let Err(error) = serving.await {
                eprintln!("fake-bedrock: server error: {error}");
            }
        });
        Ok(FakeBedrock {
            url: format!("http://127.0.0.1:{port}"),
            port,
            server,
            shutdown,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Calls to `model_id` (as sent, decoded) so far, all operations, after authentication.
    pub fn calls(&self, model_id: &str) -> u32 {
        self.server.control.calls(model_id)
    }

    /// Adds a fault rule (what `POST /_fake/faults` does).
    pub fn set_fault(&self, rule: FaultRule) -> anyhow::Result<()> {
        self.server.control.add(rule).map_err(anyhow::Error::msg)
    }

    /// Sets the reply text of a model's calls (what `POST /_fake/replies` does).
    pub fn set_reply(&self, reply: SetReply) -> anyhow::Result<()> {
        self.server
            .control
            .set_reply(reply)
            .map_err(anyhow::Error::msg)
    }

    /// Clears all faults, set replies and call counters (what `DELETE /_fake/faults` does).
    pub fn reset(&self) {
        self.server.control.reset();
    }
}

impl Drop for FakeBedrock {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}
