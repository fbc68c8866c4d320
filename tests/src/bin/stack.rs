//! Runs the local stack (fake Bedrock unless AWS credentials are set, plus `wrangler dev`) until
//! Ctrl-C. `scripts/dev` builds first and then runs this; browser tests run it with `--port 0`.
//! `--runtime miniflare` serves the Worker on Miniflare without wrangler's dev proxy instead.
//!
//! Usage: stack [--port 8787] [--fake-port 8788] [--runtime wrangler-dev|miniflare] [--quiet]
//!              [--var NAME=VALUE]...

#![allow(
    clippy::print_stdout,
    reason = "the ready lines on stdout are this program's interface"
)]

use anyhow::{bail, Context};
use tests::stack::{Stack, StackOptions, Upstream, WorkerRuntime};
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut port = 8787;
    let mut fake_port = 8788;
    let mut runtime = WorkerRuntime::default();
    let mut quiet = false;
    let mut vars = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().context("--port needs a value")?.parse()?,
            "--fake-port" => {
                fake_port = args.next().context("--fake-port needs a value")?.parse()?
            }
            "--runtime" => runtime = args.next().context("--runtime needs a value")?.parse()?,
            "--quiet" => quiet = true,
            "--var" => {
                let pair = args.next().context("--var needs NAME=VALUE")?;
                let (name, value) = pair.split_once('=').context("--var needs NAME=VALUE")?;
                vars.push((name.to_owned(), value.to_owned()));
            }
            "--help" | "-h" => {
                eprintln!(
                    "usage: stack [--port 8787] [--fake-port 8788] \
                     [--runtime wrangler-dev|miniflare] [--quiet] [--var NAME=VALUE]..."
                );
                return Ok(());
            }
            other => bail!("unknown argument {other:?}; try --help"),
        }
    }
    let upstream = Upstream::from_env(fake_port);
    let real = matches!(upstream, Upstream::Aws(_));
    let stack = Stack::start(StackOptions {
        runtime,
        port,
        upstream,
        vars,
        inherit_output: !quiet,
        hanging_objects: Vec::new(),
    })
    .await?;
    // Machine-readable lines first (the browser tests read them), then the human summary.
    if let Some(fake) = &stack.fake {
        println!("fake-bedrock: {}", fake.url());
    }
    println!("edge: {}", stack.url);
    println!("ready");
    eprintln!(
        "\n  Chat UI:  {}/\n  API:      {}/api/chat  (routes: {}/api/routes)\n  Bedrock:  {}\n\n  Ctrl-C stops everything.\n",
        stack.url,
        stack.url,
        stack.url,
        if real { "real AWS Bedrock (credentials from your environment)".to_owned() } else { stack.fake.as_ref().map(|f| format!("fake Bedrock at {}", f.url())).unwrap_or_default() }
    );
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    drop(stack);
    Ok(())
}
