//! The benchmark table: artefact sizes, edge core CPU, the edge's added latency, a load run and
//! the front end's render cost, each with how it was measured. `scripts/bench` builds the
//! release artefacts and runs this in release; the table it prints goes into `BENCHMARKS.md`.
//! The edge overhead, CPU and load sections run once per local runtime (`wrangler dev`, then
//! Miniflare without wrangler's dev proxy); the render section on the first runtime.
//!
//! Usage: bench [--warmup 50] [--rounds 400] [--load-secs 10] [--concurrency 50,200]
//!              [--token-ms 15] [--runtimes wrangler-dev,miniflare]
//!              [--skip sizes,core,overhead,load,render]

#![allow(
    clippy::print_stdout,
    reason = "the table on stdout is this program's output"
)]

use anyhow::{bail, Context};
use std::{path::Path, time::Duration};
use tests::{
    bench::{
        cpu, edge_core, load, overhead, render, routes_json, sizes, table::markdown, table::Row,
    },
    fake_bedrock::{FakeConfig, Fault, FaultRule},
    stack::{repo_root, Stack, StackOptions, Upstream, WorkerRuntime},
};

const USAGE: &str = "usage: bench [--warmup 50] [--rounds 400] [--load-secs 10] \
                     [--concurrency 50,200] [--token-ms 15] \
                     [--runtimes wrangler-dev,miniflare] \
                     [--skip sizes,core,overhead,load,render]";

struct Options {
    warmup: usize,
    rounds: usize,
    load_secs: u64,
    concurrency: Vec<usize>,
    token_ms: u64,
    runtimes: Vec<WorkerRuntime>,
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
            runtimes: WorkerRuntime::ALL.to_vec(),
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
                "--concurrency" => options.concurrency = list(&value()?)?,
                "--runtimes" => options.runtimes = list(&value()?)?,
                "--skip" => options.skip = value()?.split(',').map(str::to_owned).collect(),
                "--help" | "-h" => {
                    eprintln!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?}; try --help"),
            }
        }
        if options.runtimes.is_empty() {
            bail!("--runtimes needs at least one of wrangler-dev, miniflare");
        }
        Ok(options)
    }

    fn runs(&self, section: &str) -> bool {
        !self.skip.iter().any(|s| s == section)
    }
}

/// A comma-separated list of values.
fn list<T>(text: &str) -> anyhow::Result<Vec<T>>
where
    T: std::str::FromStr,
    T::Err: Into<anyhow::Error>,
{
    text.split(',')
        .map(|item| item.parse::<T>().map_err(Into::into))
        .collect()
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
        let mut sections = StackSections::default();
        for (i, &worker_runtime) in options.runtimes.iter().enumerate() {
            let render = i == 0 && options.runs("render");
            runtime.block_on(against_the_stack(
                &root,
                &options,
                worker_runtime,
                render,
                &mut sections,
            ))?;
        }
        rows.extend(sections.into_rows());
    }
    println!("{}", header(&root));
    println!("{}", markdown(&rows));
    let out = root.join("target/bench/latest.md");
    std::fs::create_dir_all(root.join("target/bench"))?;
    std::fs::write(&out, format!("{}\n{}", header(&root), markdown(&rows)))?;
    eprintln!("bench: table also written to {}", out.display());
    Ok(())
}

/// The rows of the sections that need the stack, by section, so that each section's rows of
/// every runtime stand together in the table.
#[derive(Default)]
struct StackSections {
    overhead: Vec<Row>,
    cpu: Vec<Row>,
    load: Vec<Row>,
    render: Vec<Row>,
}

impl StackSections {
    fn into_rows(self) -> Vec<Row> {
        [self.overhead, self.cpu, self.load, self.render].concat()
    }
}

/// The sections that need the stack, on one runtime: one fake Bedrock (no pacing unless a
/// section sets it) and the Worker with the benchmark route table.
async fn against_the_stack(
    root: &Path,
    options: &Options,
    runtime: WorkerRuntime,
    render: bool,
    sections: &mut StackSections,
) -> anyhow::Result<()> {
    eprintln!(
        "bench: starting the stack (fake Bedrock + {})",
        runtime.name()
    );
    let config = FakeConfig {
        token_delay_ms: 0,
        ..FakeConfig::default()
    };
    // A snapshot of the built files: another build on this machine must not reload the Worker
    // in the middle of a measurement.
    let stack = Stack::start_snapshot(StackOptions {
        runtime,
        port: 0,
        upstream: Upstream::FakeWith {
            port: 0,
            config: config.clone(),
        },
        vars: vec![("ROUTES".into(), routes_json())],
        inherit_output: false,
        hanging_objects: Vec::new(),
    })
    .await?;
    let fake = stack.fake.as_ref().context("the stack has no fake")?;
    let result = async {
        if options.runs("overhead") {
            eprintln!(
                "bench: edge overhead {} ({} warm-up + {} rounds)",
                runtime.label(),
                options.warmup,
                options.rounds
            );
            let pair = overhead::Pair::new(
                &stack.url,
                &fake.url(),
                &config.access_key_id,
                &config.secret_access_key,
            )?;
            let samples = overhead::measure(&pair, options.warmup, options.rounds).await?;
            sections
                .overhead
                .extend(overhead::rows(&samples, runtime, options.warmup)?);
            eprintln!(
                "bench: CPU per chat ({} chats through the edge)",
                cpu::CHATS
            );
            sections.cpu.push(cpu::row(&stack, &pair).await?);
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
                    "bench: load, {concurrency} concurrent streams for {} s {}",
                    options.load_secs,
                    runtime.label()
                );
                let duration = Duration::from_secs(options.load_secs);
                let result = load::run(&stack.url, concurrency, duration).await?;
                sections
                    .load
                    .push(load::row(&result, runtime, options.token_ms));
            }
            fake.reset();
        }
        if render {
            eprintln!("bench: front-end render cost (headless Chromium)");
            let report = render::measure(root, &stack.url, &fake.url())?;
            sections.render.extend(render::rows(&report, runtime));
        }
        anyhow::Ok(())
    }
    .await;
    if let Err(error) = result {
        bail!(
            "{error:#}\n--- {} log ---\n{}",
            runtime.arg(),
            tail(&stack.log(), 60)
        );
    }
    Ok(())
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
