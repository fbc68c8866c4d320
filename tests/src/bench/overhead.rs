//! The edge's added latency: the same chat sent straight to the fake Bedrock (a signed
//! ConverseStream call, built and signed by the edge's own code) and through the edge
//! (`POST /api/chat` on the local runtime serving the Worker), one after the other in
//! alternating order, after a warm-up. Time to first byte is the response headers; time to
//! first token the first `contentBlockDelta` frame (direct) or `delta` event (edge). Each pair
//! gives a difference. Each round also times requests that show the floors under it (see
//! [`Floors`]). The table rows are in [`rows`].

mod rows;

pub use rows::rows;

use super::{
    chat::{chat_request, edge_chat, Timing, LIMIT},
    stats::ms,
    MODEL, REGION,
};
use anyhow::{bail, ensure, Context};
use edge::{
    bedrock::{
        converse::{build_body, ConverseEvents},
        decode::UpstreamEvent,
        model_id,
        signing::sign,
    },
    config::{
        limits::{DEFAULT_MAX_TOKENS, MAX_TOKENS},
        secret::{Credentials, Secret},
    },
    platform::UpstreamRequest,
};
use futures::StreamExt;
use shared::ChatRequest;
use std::time::Duration;

pub const PROMPT: &str = "How much latency does the edge add?";

/// Sends the edge's chat API and the fake Bedrock the same chats.
pub struct Pair {
    client: reqwest::Client,
    edge_url: String,
    fake_url: String,
    credentials: Credentials,
    body: Vec<u8>,
    chat: ChatRequest,
}

impl Pair {
    pub fn new(
        edge_url: &str,
        fake_url: &str,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> anyhow::Result<Self> {
        let chat = chat_request(PROMPT);
        Ok(Self {
            client: reqwest::Client::builder().tcp_nodelay(true).build()?,
            edge_url: edge_url.to_owned(),
            fake_url: fake_url.to_owned(),
            credentials: Credentials::SigV4 {
                access_key_id: access_key_id.to_owned(),
                secret_access_key: Secret::new(secret_access_key),
                session_token: None,
            },
            body: serde_json::to_vec(&chat)?,
            chat,
        })
    }

    /// The ConverseStream call the edge makes for the chat, signed now (before timing starts:
    /// a direct client signs too, the edge's signing is part of what it adds).
    fn signed_direct(&self) -> anyhow::Result<UpstreamRequest> {
        let mut request = UpstreamRequest {
            method: "POST",
            url: format!(
                "{}/model/{}/converse-stream",
                self.fake_url,
                model_id::encode(MODEL)
            ),
            headers: vec![("content-type".into(), "application/json".into())],
            body: build_body(&self.chat, MAX_TOKENS, DEFAULT_MAX_TOKENS),
        };
        let now_ms = crate::wall_clock::now_ms();
        sign(&mut request, &self.credentials, REGION, now_ms)?;
        Ok(request)
    }

    /// One call straight to the fake, read to the end.
    pub async fn direct(&self) -> anyhow::Result<Timing> {
        let request = self.signed_direct()?;
        let mut builder = self.client.post(&request.url).body(request.body);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let started = crate::wall_clock::instant();
        let response = builder.timeout(LIMIT).send().await?;
        let ttfb = started.elapsed();
        ensure!(
            response.status() == 200,
            "fake Bedrock answered {}",
            response.status()
        );
        let mut decoder = ConverseEvents::decoder();
        let mut ttft = None;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            for event in decoder.push(&chunk?) {
                match event {
                    UpstreamEvent::Text(_) if ttft.is_none() => ttft = Some(started.elapsed()),
                    UpstreamEvent::Error(error) => bail!("fake Bedrock stream failed: {error:?}"),
                    _ => {}
                }
            }
        }
        decoder
            .finish()
            .map_err(|e| anyhow::anyhow!("fake Bedrock stream: {e:?}"))?;
        Ok(Timing {
            ttfb,
            ttft: ttft.context("no text from the fake")?,
            worker_ttft_ms: None,
        })
    }

    /// The same chat through the edge, read to the end.
    pub async fn edge(&self) -> anyhow::Result<Timing> {
        let (timing, _) = edge_chat(&self.client, &self.edge_url, self.body.clone()).await?;
        Ok(timing)
    }

    /// Time to first byte of a plain GET, read to the end.
    async fn get(&self, url: String) -> anyhow::Result<Duration> {
        let started = crate::wall_clock::instant();
        let response = self.client.get(&url).timeout(LIMIT).send().await?;
        let ttfb = started.elapsed();
        ensure!(response.status() == 200, "{url}: {}", response.status());
        response.bytes().await?;
        Ok(ttfb)
    }

    /// The floors under the figures (see [`Floors`]).
    pub async fn floors(&self) -> anyhow::Result<Floors> {
        Ok(Floors {
            fake_get: self.get(format!("{}/_fake/calls", self.fake_url)).await?,
            asset: self.get(format!("{}/", self.edge_url)).await?,
            routes: self.get(format!("{}/api/routes", self.edge_url)).await?,
            health: self.get(format!("{}/api/health", self.edge_url)).await?,
        })
    }
}

/// Times to first byte of requests that make no model call.
#[derive(Debug, Clone, Copy)]
pub struct Floors {
    /// The fake's control API: loopback HTTP.
    pub fake_get: Duration,
    /// The front end's `index.html`: the runtime's request path and asset serving, none of the
    /// Worker's code.
    pub asset: Duration,
    /// `GET /api/routes`: the same path into the Worker, which answers from its settings.
    pub routes: Duration,
    /// `GET /api/health`: the same, plus one call to the health Durable Object.
    pub health: Duration,
}

/// The per-pair differences (edge minus direct) and both sides' samples, in ms.
#[derive(Debug, Default)]
pub struct Samples {
    pub ttfb_diff: Vec<f64>,
    pub ttft_diff: Vec<f64>,
    pub direct_ttft: Vec<f64>,
    pub edge_ttft: Vec<f64>,
    /// The Worker's own arrival-to-first-token time ([`Timing::worker_ttft_ms`]).
    pub worker_ttft: Vec<f64>,
    /// The floors of each round ([`Floors`]).
    pub fake_get: Vec<f64>,
    pub asset: Vec<f64>,
    pub routes: Vec<f64>,
    pub health: Vec<f64>,
    /// The TTFT difference less the same round's floor of a Worker request (`/api/routes`
    /// minus the fake's plain GET): what a chat adds over the cheapest Worker request.
    pub ttft_net: Vec<f64>,
}

/// `warmup` unrecorded pairs, then `rounds` recorded ones; the order within a pair alternates.
/// Each round also takes the [`Floors`].
pub async fn measure(pair: &Pair, warmup: usize, rounds: usize) -> anyhow::Result<Samples> {
    let mut samples = Samples::default();
    for round in 0..warmup + rounds {
        let (direct, edge) = if round % 2 == 0 {
            let direct = pair.direct().await.context("direct call")?;
            (direct, pair.edge().await.context("call through the edge")?)
        } else {
            let edge = pair.edge().await.context("call through the edge")?;
            (pair.direct().await.context("direct call")?, edge)
        };
        let floors = pair.floors().await.context("floor requests")?;
        if round >= warmup {
            let diff = ms(edge.ttft) - ms(direct.ttft);
            samples.ttfb_diff.push(ms(edge.ttfb) - ms(direct.ttfb));
            samples.ttft_diff.push(diff);
            samples.direct_ttft.push(ms(direct.ttft));
            samples.edge_ttft.push(ms(edge.ttft));
            samples
                .worker_ttft
                .extend(edge.worker_ttft_ms.map(|ms| ms as f64));
            samples.fake_get.push(ms(floors.fake_get));
            samples.asset.push(ms(floors.asset));
            samples.routes.push(ms(floors.routes));
            samples.health.push(ms(floors.health));
            samples
                .ttft_net
                .push(diff - (ms(floors.routes) - ms(floors.fake_get)));
        }
    }
    Ok(samples)
}
