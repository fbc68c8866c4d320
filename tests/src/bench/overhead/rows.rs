//! The edge overhead figures of one runtime as table rows, each naming the runtime: the TTFB and
//! TTFT differences (with their target), the absolute times, the Worker's own view, the floors
//! and the difference less the Worker-request floor.

use super::Samples;
use crate::{
    bench::{stats::Summary, table::Row},
    stack::WorkerRuntime,
};
use anyhow::Context;

/// Edge overhead targets: p50 under 1 ms, p99 under 5 ms.
const P50_MS: f64 = 1.0;
const P99_MS: f64 = 5.0;
const TARGET: &str = "p50 < 1 ms, p99 < 5 ms";

/// The rows for `samples`, measured on `runtime` after `warmup` unrecorded pairs.
pub fn rows(samples: &Samples, runtime: WorkerRuntime, warmup: usize) -> anyhow::Result<Vec<Row>> {
    let summary = |values: &[f64]| Summary::of(values).context("no samples");
    let (ttfb, ttft) = (summary(&samples.ttfb_diff)?, summary(&samples.ttft_diff)?);
    let (direct, edge) = (summary(&samples.direct_ttft)?, summary(&samples.edge_ttft)?);
    let (asset, routes) = (summary(&samples.asset)?, summary(&samples.routes)?);
    let health = summary(&samples.health)?;
    let net = summary(&samples.ttft_net)?;
    let worker = summary(&samples.worker_ttft)?;
    let (label, name) = (runtime.label(), runtime.name());
    let method = format!(
        "{} pairs after {warmup} warm-up pairs, sequential, alternating order: the same chat \
         straight to the fake Bedrock (ConverseStream built and SigV4-signed by the edge's code) \
         and through the Worker (POST /api/chat) served by {}; fake with no token pacing; one \
         keep-alive client; per-pair difference edge − direct",
        ttft.n,
        runtime.path()
    );
    let pass = |s: &Summary| s.p50 < P50_MS && s.p99 < P99_MS;
    Ok(vec![
        Row::new(
            format!("Edge overhead, time to first byte, {label}"),
            format!("p50 {:.2} ms, p99 {:.2} ms", ttfb.p50, ttfb.p99),
            format!("{method}; TTFB = response headers"),
        )
        .target(TARGET, pass(&ttfb)),
        Row::new(
            format!("Edge overhead, time to first token, {label}"),
            format!("p50 {:.2} ms, p99 {:.2} ms", ttft.p50, ttft.p99),
            format!(
                "{method}; TTFT = first contentBlockDelta frame (direct) / first `delta` event \
                 (edge). Anchors, same method: Bifrost 0.44 ms, Portkey OSS 2.37 ms, LiteLLM \
                 4.34 ms, TensorZero p99 < 1 ms at 10k QPS"
            ),
        )
        .target(TARGET, pass(&ttft)),
        Row::new(
            format!("Time to first token, direct vs edge, {label}"),
            format!(
                "direct p50 {:.2} / p99 {:.2} ms; edge p50 {:.2} / p99 {:.2} ms",
                direct.p50, direct.p99, edge.p50, edge.p99
            ),
            "the absolute times behind the differences above",
        ),
        Row::new(
            format!("Inside the Worker: arrival to first token, {label}"),
            format!("p50 {:.0} ms, p99 {:.0} ms", worker.p50, worker.p99),
            format!(
                "the edge's own `done.first_token_ms` of the same chats (the Worker's clock, \
                 whole ms): health lookup in the Durable Object, signing, the upstream fetch \
                 from workerd to the fake, decoding; the rest of the edge TTFT is the request \
                 path of {name}"
            ),
        ),
        Row::new(
            format!("Floors (no model call), {label}"),
            format!(
                "fake GET p50 {:.2} ms; index.html p50 {:.2} / p99 {:.2} ms; GET /api/routes \
                 p50 {:.2} / p99 {:.2} ms; GET /api/health p50 {:.2} / p99 {:.2} ms",
                summary(&samples.fake_get)?.p50,
                asset.p50,
                asset.p99,
                routes.p50,
                routes.p99,
                health.p50,
                health.p99
            ),
            format!(
                "TTFB of plain GETs in the same rounds: the fake's control API (loopback HTTP); a \
                 static asset through {name} (its request path and asset worker, none of our \
                 code); /api/routes (the same path into the Worker, answered from its settings); \
                 /api/health (the same plus one call to the health Durable Object)"
            ),
        ),
        Row::new(
            format!("Edge overhead, TTFT, less the Worker-request floor, {label}"),
            format!("p50 {:.2} ms, p99 {:.2} ms", net.p50, net.p99),
            format!(
                "per round: (edge − direct TTFT) − (GET /api/routes − fake GET): what a chat \
                 adds over the cheapest request into the Worker through {name} (health lookup, \
                 signing, the upstream fetch from workerd, decoding, the first SSE events)"
            ),
        )
        .target(TARGET, pass(&net)),
    ])
}
