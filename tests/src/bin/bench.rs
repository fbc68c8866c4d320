//! The benchmark table: artefact sizes, edge core CPU, the edge's added latency, a load run and
//! the front end's render cost, each with how it was measured. `scripts/bench` builds the
//! release artefacts and runs this in release; the table it prints goes into `BENCHMARKS.md`.
//!
//! Usage: bench [--warmup 50] [--rounds 400] [--load-secs 10] [--concurrency 50,200]
//!              [--token-ms 15] [--skip sizes,core,overhead,load,render]

#![allow(
    clippy::print_stdout,
    reason = "the table on stdout is this program's output"
)]

use anyhow::{bail, Context};
use std::{path::Path, time::Duration};
use tests::{
    bench::{
        cpu, edge_core, load, overhead, render, routes_json, sizes,
        stats::Summary,
        table::{markdown, Row},
    },
    bench::{MODEL, REGION},
    fake_bedrock::{reply_deltas, reply_text, FakeConfig, Fault, FaultRule},
    stack::{repo_root, Stack, StackOptions, Upstream, WorkerRuntime},
};

/// Edge overhead targets: p50 under 1 ms, p99 under 5 ms.
const OVERHEAD_P50_MS: f64 = 1.0;
const OVERHEAD_P99_MS: f64 = 5.0;

struct Options {
    warmup: usize,
    rounds: usize,
    load_secs: u64,
    concurrency: Vec<usize>,
    token_ms: u64,
    skip: Vec<String>,
}

impl Options {
    fn parse() -> anyhow::Result<Self> {
        let mut options = Self {
            warmup: 50,
            rounds: 400,
            load_secs: 10,
            concurrency: vec![50, 200],
            token_ms: 15,
            skip: Vec::new(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--warmup" => options.warmup = value()?.parse()?,
                "--rounds" => options.rounds = value()?.parse()?,
                "--load-secs" => options.load_secs = value()?.parse()?,
                "--token-ms" => options.token_ms = value()?.parse()?,
                "--concurrency" => {
                    options.concurrency = value()?
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<_, _>>()?
                }
                "--skip" => options.skip = value()?.split(',').map(str::to_owned).collect(),
                "--help" | "-h" => {
                    eprintln!(
                        "usage: bench [--warmup 50] [--rounds 400] [--load-secs 10] \
                         [--concurrency 50,200] [--token-ms 15] \
                         [--skip sizes,core,overhead,load,render]"
                    );
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?}; try --help"),
            }
        }
        Ok(options)
    }

    fn runs(&self, section: &str) -> bool {
        !self.skip.iter().any(|s| s == section)
    }
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse()?;
    let root = repo_root();
    let mut rows = Vec::new();
    if options.runs("sizes") {
        eprintln!("bench: sizes");
        rows.extend(sizes::rows(&root)?);
    }
    if options.runs("core") {
        eprintln!("bench: edge core CPU");
        rows.extend(edge_core::rows()?);
    }
    if ["overhead", "load", "render"]
        .iter()
        .any(|section| options.runs(section))
    {
        let runtime = tokio::runtime::Runtime::new()?;
        rows.extend(runtime.block_on(against_the_stack(&root, &options))?);
    }
    println!("{}", header(&root));
    println!("{}", markdown(&rows));
    let out = root.join("target/bench/latest.md");
    std::fs::create_dir_all(root.join("target/bench"))?;
    std::fs::write(&out, format!("{}\n{}", header(&root), markdown(&rows)))?;
    eprintln!("bench: table also written to {}", out.display());
    Ok(())
}

/// The sections that need the stack: one fake Bedrock (no pacing unless a section sets it) and
/// one `wrangler dev` with the benchmark route table.
async fn against_the_stack(root: &Path, options: &Options) -> anyhow::Result<Vec<Row>> {
    eprintln!("bench: starting the stack (fake Bedrock + wrangler dev)");
    let config = FakeConfig {
        token_delay_ms: 0,
        ..FakeConfig::default()
    };
    // A snapshot of the built files: another build on this machine must not reload wrangler
    // in the middle of a measurement.
    let stack = Stack::start_snapshot(StackOptions {
        runtime: WorkerRuntime::WranglerDev,
        port: 0,
        upstream: Upstream::FakeWith {
            port: 0,
            config: config.clone(),
        },
        vars: vec![("ROUTES".into(), routes_json())],
        inherit_output: false,
    })
    .await?;
    let fake = stack.fake.as_ref().context("the stack has no fake")?;
    let mut rows = Vec::new();
    let result = async {
        if options.runs("overhead") {
            eprintln!(
                "bench: edge overhead ({} warm-up + {} rounds)",
                options.warmup, options.rounds
            );
            let pair = overhead::Pair::new(
                &stack.url,
                &fake.url(),
                &config.access_key_id,
                &config.secret_access_key,
            )?;
            let samples = overhead::measure(&pair, options.warmup, options.rounds).await?;
            rows.extend(overhead_rows(&samples, options)?);
            eprintln!("bench: CPU per chat ({CPU_CHATS} chats through the edge)");
            rows.push(cpu_row(&stack, &pair).await?);
        }
        if options.runs("load") {
            fake.set_fault(FaultRule::new(
                "*",
                Fault::SlowTokens {
                    ms: options.token_ms,
                },
            ))?;
            for &concurrency in &options.concurrency {
                eprintln!(
                    "bench: load, {concurrency} concurrent streams for {} s",
                    options.load_secs
                );
                let result = load::run(
                    &stack.url,
                    concurrency,
                    Duration::from_secs(options.load_secs),
                )
                .await?;
                rows.push(load_row(&result, options));
            }
            fake.reset();
        }
        if options.runs("render") {
            eprintln!("bench: front-end render cost (headless Chromium)");
            let report = render::measure(root, &stack.url, &fake.url())?;
            rows.extend(render::rows(&report));
        }
        anyhow::Ok(())
    }
    .await;
    if let Err(error) = result {
        bail!(
            "{error:#}\n--- wrangler log ---\n{}",
            tail(&stack.log(), 60)
        );
    }
    Ok(rows)
}

fn overhead_rows(samples: &overhead::Samples, options: &Options) -> anyhow::Result<Vec<Row>> {
    let summary = |values: &[f64]| Summary::of(values).context("no samples");
    let (ttfb, ttft) = (summary(&samples.ttfb_diff)?, summary(&samples.ttft_diff)?);
    let (direct, edge) = (summary(&samples.direct_ttft)?, summary(&samples.edge_ttft)?);
    let (asset, routes) = (summary(&samples.asset)?, summary(&samples.routes)?);
    let health = summary(&samples.health)?;
    let net = summary(&samples.ttft_net)?;
    let worker = summary(&samples.worker_ttft)?;
    let method = format!(
        "{} pairs after {} warm-up pairs, sequential, alternating order: the same chat straight to \
         the fake Bedrock (ConverseStream built and SigV4-signed by the edge's code) and through \
         wrangler dev (POST /api/chat); fake with no token pacing; one keep-alive client; \
         per-pair difference edge − direct",
        ttft.n, options.warmup
    );
    let pass = |s: &Summary| s.p50 < OVERHEAD_P50_MS && s.p99 < OVERHEAD_P99_MS;
    Ok(vec![
        Row::new(
            "Edge overhead, time to first byte",
            format!("p50 {:.2} ms, p99 {:.2} ms", ttfb.p50, ttfb.p99),
            format!("{method}; TTFB = response headers"),
        )
        .target("p50 < 1 ms, p99 < 5 ms", pass(&ttfb)),
        Row::new(
            "Edge overhead, time to first token",
            format!("p50 {:.2} ms, p99 {:.2} ms", ttft.p50, ttft.p99),
            format!(
                "{method}; TTFT = first contentBlockDelta frame (direct) / first `delta` event \
                 (edge). Anchors, same method: Bifrost 0.44 ms, Portkey OSS 2.37 ms, LiteLLM \
                 4.34 ms, TensorZero p99 < 1 ms at 10k QPS"
            ),
        )
        .target("p50 < 1 ms, p99 < 5 ms", pass(&ttft)),
        Row::new(
            "Time to first token, direct vs edge",
            format!(
                "direct p50 {:.2} / p99 {:.2} ms; edge p50 {:.2} / p99 {:.2} ms",
                direct.p50, direct.p99, edge.p50, edge.p99
            ),
            "the absolute times behind the differences above",
        ),
        Row::new(
            "Inside the Worker: arrival to first token",
            format!("p50 {:.0} ms, p99 {:.0} ms", worker.p50, worker.p99),
            "the edge's own `done.first_token_ms` of the same chats (the Worker's clock, whole \
             ms): health lookup in the Durable Object, signing, the upstream fetch from workerd \
             to the fake, decoding; the rest of the edge TTFT is wrangler dev's request path",
        ),
        Row::new(
            "Floors (no model call)",
            format!(
                "fake GET p50 {:.2} ms; index.html via wrangler dev p50 {:.2} / p99 {:.2} ms; \
                 GET /api/routes p50 {:.2} / p99 {:.2} ms; GET /api/health p50 {:.2} / p99 {:.2} ms",
                summary(&samples.fake_get)?.p50,
                asset.p50,
                asset.p99,
                routes.p50,
                routes.p99,
                health.p50,
                health.p99
            ),
            "TTFB of plain GETs in the same rounds: the fake's control API (loopback HTTP); a \
             static asset through wrangler dev (its proxy chain and asset worker, none of our \
             code); /api/routes (the same chain into the Worker, answered from its settings); \
             /api/health (the same plus one call to the health Durable Object)",
        ),
        Row::new(
            "Edge overhead, TTFT, less the Worker-request floor",
            format!("p50 {:.2} ms, p99 {:.2} ms", net.p50, net.p99),
            "per round: (edge − direct TTFT) − (GET /api/routes − fake GET): what a chat adds \
             over the cheapest request into the Worker through wrangler dev (health lookup, \
             signing, the upstream fetch from workerd, decoding, the first SSE events)",
        )
        .target("p50 < 1 ms, p99 < 5 ms", pass(&net)),
    ])
}

/// Chats whose CPU use is measured.
const CPU_CHATS: usize = 200;

/// CPU per chat through the edge, by process.
async fn cpu_row(stack: &Stack, pair: &overhead::Pair) -> anyhow::Result<Row> {
    let before = cpu::snapshot(stack.process_group());
    for _ in 0..CPU_CHATS {
        pair.edge().await?;
    }
    let after = cpu::snapshot(stack.process_group());
    let mut used = cpu::per_unit(&before, &after, CPU_CHATS);
    used.sort_by(|a, b| b.1.total_cmp(&a.1));
    let value = used
        .iter()
        .map(|(name, ms)| format!("{name} {ms:.1} ms"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Row::new(
        "CPU per chat through the edge",
        value,
        format!(
            "user + system CPU from /proc of wrangler dev's process group (node, workerd) and of \
             this process, over {CPU_CHATS} sequential chats (fake without pacing), divided by \
             {CPU_CHATS}"
        ),
    ))
}

fn load_row(result: &load::LoadResult, options: &Options) -> Row {
    let deltas = reply_deltas(&reply_text(MODEL, REGION, load::PROMPT)).len();
    let ttft = Summary::of(&result.ttft);
    let mut value = format!(
        "{} completed ({:.0}/s), {} errors, {} lost",
        result.completed,
        result.completed as f64 / result.elapsed.as_secs_f64(),
        result.errors,
        result.lost
    );
    if let Some(ttft) = ttft {
        value.push_str(&format!(
            "; TTFT p50 {:.1} ms, p99 {:.1} ms",
            ttft.p50, ttft.p99
        ));
    }
    for (kind, count) in result.error_kinds.iter().take(3) {
        value.push_str(&format!("; {count}× {kind}"));
    }
    Row::new(
        format!("Load, {} concurrent streams", result.concurrency),
        value,
        format!(
            "{} clients in a loop for {} s through wrangler dev, then in-flight streams finished \
             ({:.1} s in all); the fake paces {} ms per frame ({deltas} deltas, ~{:.2} s per \
             answer); a stream completes only with `done` and the exact expected text; lost = no \
             answer within {} s",
            result.concurrency,
            options.load_secs,
            result.elapsed.as_secs_f64(),
            options.token_ms,
            (deltas + 4) as f64 * options.token_ms as f64 / 1000.0,
            load::PER_REQUEST_LIMIT.as_secs()
        ),
    )
    .target("0 errors, 0 lost", result.errors == 0 && result.lost == 0)
}

/// Machine, date and tool versions.
fn header(root: &Path) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let wrangler = std::fs::read_to_string(root.join("node_modules/wrangler/package.json"))
        .ok()
        .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
        .and_then(|p| p["version"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let chromium = command_output("/usr/bin/chromium", &["--version"]);
    // Other work on the machine moves latency figures: say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    format!(
        "Measured {date} on {cores} cores ({cpu}), loopback, load average at the end {load}; \
         rustc {}, wrangler {wrangler}, {chromium}.",
        command_output("rustc", &["--version"])
            .split_whitespace()
            .nth(1)
            .unwrap_or("?")
    )
}

fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
