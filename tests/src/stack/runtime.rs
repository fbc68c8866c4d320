//! The local runtimes that can serve the built Worker: `wrangler dev` (development and tests) or
//! Miniflare on its own (`scripts/lib/miniflare.mjs`, for benchmarks), and the wrangler commands
//! both need around them (environment, D1 migrations).

use anyhow::{bail, Context};
use std::{
    ffi::OsStr,
    fs::File,
    io::{BufRead, BufReader, Write},
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, ChildStdout, Command, Stdio},
    str::FromStr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

/// Which local runtime serves the Worker. Both run the same built Worker in workerd through
/// Miniflare, with the options wrangler derives from `wrangler.toml` and the same env file,
/// state directory and D1 migrations; they differ in what sits in front of the Worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WorkerRuntime {
    /// `wrangler dev`: wrangler's ProxyWorker (a second workerd) and InspectorProxyWorker in
    /// front of the Worker, the inspector reporting every request to node.
    #[default]
    WranglerDev,
    /// Miniflare's Node API directly (`node scripts/lib/miniflare.mjs`): no dev proxy, no
    /// inspector.
    Miniflare,
}

impl WorkerRuntime {
    /// Every runtime, the default first.
    pub const ALL: [WorkerRuntime; 2] = [WorkerRuntime::WranglerDev, WorkerRuntime::Miniflare];

    /// The name used on command lines: `wrangler-dev` or `miniflare`.
    pub fn arg(self) -> &'static str {
        match self {
            Self::WranglerDev => "wrangler-dev",
            Self::Miniflare => "miniflare",
        }
    }

    /// Its name in prose: "wrangler dev" or "Miniflare".
    pub fn name(self) -> &'static str {
        match self {
            Self::WranglerDev => "wrangler dev",
            Self::Miniflare => "Miniflare",
        }
    }

    /// How a figure names it: "through wrangler dev", "on Miniflare (workerd, no dev proxy)".
    pub fn label(self) -> &'static str {
        match self {
            Self::WranglerDev => "through wrangler dev",
            Self::Miniflare => "on Miniflare (workerd, no dev proxy)",
        }
    }

    /// The request path in front of the Worker, for "how measured" texts.
    pub fn path(self) -> &'static str {
        match self {
            Self::WranglerDev => {
                "wrangler dev (its ProxyWorker, a second workerd, and InspectorProxyWorker in \
                 front of Miniflare's workerd)"
            }
            Self::Miniflare => {
                "Miniflare directly (scripts/lib/miniflare.mjs: the same workerd and Worker \
                 options as wrangler dev, without its ProxyWorker and inspector)"
            }
        }
    }

    /// The file in the stack's directory that receives the runtime's output.
    pub(super) fn log_file(self) -> &'static str {
        match self {
            Self::WranglerDev => "wrangler.log",
            Self::Miniflare => "miniflare.log",
        }
    }

    /// The line on stdout after which the runtime serves requests, if it prints one that the
    /// launcher can wait for (`wrangler dev`'s output is left untouched: it may be a terminal).
    fn ready_line(self) -> Option<&'static str> {
        match self {
            Self::WranglerDev => None,
            Self::Miniflare => Some("Ready on "),
        }
    }

    /// Starts the runtime in its own process group (so stopping the group also stops the
    /// workerd processes it starts), its output going to `serve.log` or this terminal.
    pub(super) fn spawn(self, serve: &Serve<'_>) -> anyhow::Result<Running> {
        let mut command = match self {
            Self::WranglerDev => {
                let mut command = loopback_command(
                    serve.root.join("node_modules/.bin/wrangler"),
                    serve.work_dir,
                );
                command
                    .args(["dev", "--config"])
                    .arg(serve.config)
                    .args(["--ip", "127.0.0.1", "--port", &serve.port.to_string()])
                    .args(["--inspector-port", &super::free_port()?.to_string()])
                    .arg("--persist-to")
                    .arg(serve.state)
                    .arg("--env-file")
                    .arg(serve.env_file)
                    .arg("--show-interactive-dev-session=false");
                command
            }
            Self::Miniflare => {
                let mut command = loopback_command("node", serve.work_dir);
                command
                    .arg("scripts/lib/miniflare.mjs")
                    .arg("--config")
                    .arg(serve.config)
                    .args(["--ip", "127.0.0.1", "--port", &serve.port.to_string()])
                    .arg("--persist-to")
                    .arg(serve.state)
                    .arg("--env-file")
                    .arg(serve.env_file);
                for binding in serve.hanging_objects {
                    command.args(["--hanging-object", binding]);
                }
                command
            }
        };
        command.current_dir(serve.root).process_group(0);
        if let Some(log) = serve.log {
            command.stdout(log.try_clone()?).stderr(log.try_clone()?);
        }
        // A runtime that prints a ready line writes stdout through this process, which watches
        // for the line.
        let forward_to = match self.ready_line() {
            Some(_) => {
                command.stdout(Stdio::piped());
                serve.log.map(File::try_clone).transpose()?
            }
            None => None,
        };
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {} (run `npm ci` first)", self.arg()))?;
        let ready = match (self.ready_line(), child.stdout.take()) {
            (Some(line), Some(stdout)) => Some(forward_until_ready(stdout, forward_to, line)),
            _ => None,
        };
        Ok(Running { child, ready })
    }
}

impl FromStr for WorkerRuntime {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Self> {
        match Self::ALL.into_iter().find(|runtime| runtime.arg() == text) {
            Some(runtime) => Ok(runtime),
            None => bail!("unknown runtime {text:?}: wrangler-dev or miniflare"),
        }
    }
}

/// What a runtime serves and where: the same for every runtime.
pub(super) struct Serve<'a> {
    pub root: &'a Path,
    /// The `wrangler.toml` (the repository's or a snapshot's).
    pub config: &'a Path,
    pub port: u16,
    /// The state directory (`--persist-to`), D1 migrations already applied.
    pub state: &'a Path,
    pub env_file: &'a Path,
    /// The stack's directory: wrangler writes its own logs under it.
    pub work_dir: &'a Path,
    /// Where the output goes; `None` for this process's terminal.
    pub log: Option<&'a File>,
    /// Durable Object bindings served by objects that never answer (Miniflare only).
    pub hanging_objects: &'a [&'static str],
}

/// A started runtime.
pub(super) struct Running {
    pub child: Child,
    /// Set once the ready line was printed; `None` when the runtime prints none.
    ready: Option<Arc<AtomicBool>>,
}

impl Running {
    /// Whether the runtime said it is ready (always true for one that does not say).
    pub fn said_ready(&self) -> bool {
        self.ready
            .as_ref()
            .is_none_or(|ready| ready.load(Ordering::Acquire))
    }
}

/// Copies the runtime's stdout line by line to `log` (or this process's stdout) on a thread of
/// its own, and raises the returned flag when a line starts with `ready_line`.
fn forward_until_ready(
    stdout: ChildStdout,
    log: Option<File>,
    ready_line: &'static str,
) -> Arc<AtomicBool> {
    let ready = Arc::new(AtomicBool::new(false));
    let flag = ready.clone();
    std::thread::spawn(move || {
        let mut sink: Box<dyn Write + Send> = match log {
            Some(file) => Box::new(file),
            None => Box::new(std::io::stdout()),
        };
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(sink, "{line}");
            if line.starts_with(ready_line) {
                flag.store(true, Ordering::Release);
            }
        }
    });
    ready
}

/// A command for wrangler (or a script using it) kept on loopback: no metrics, no update check,
/// no remote `cf` lookups; its logs under `work_dir/wrangler-logs`; no stdin.
pub fn loopback_command(program: impl AsRef<OsStr>, work_dir: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("WRANGLER_HIDE_BANNER", "true")
        .env("WRANGLER_LOG_PATH", work_dir.join("wrangler-logs"))
        .stdin(Stdio::null());
    command
}

/// Creates the D1 tables (`edge/migrations/`) in the state directory `state` that the runtime
/// then uses (its `--persist-to`).
pub(super) async fn apply_migrations(
    root: &Path,
    work_dir: &Path,
    config: &Path,
    state: &Path,
) -> anyhow::Result<()> {
    let mut command = loopback_command(root.join("node_modules/.bin/wrangler"), work_dir);
    command
        .current_dir(root)
        .args(["d1", "migrations", "apply", "DB", "--local"])
        .arg("--config")
        .arg(config)
        .arg("--persist-to")
        .arg(state);
    let output = tokio::process::Command::from(command)
        .output()
        .await
        .context("running wrangler d1 migrations apply (run `npm ci` first)")?;
    if !output.status.success() {
        bail!(
            "wrangler d1 migrations apply failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
