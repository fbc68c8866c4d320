//! The local stack: the fake Bedrock (unless real AWS credentials are given) and the built Worker
//! and front end served by a local runtime, `wrangler dev` by default (see [`WorkerRuntime`]).
//! Used by `scripts/dev`, the integration tests, the browser tests and the benchmarks, so all
//! run the same thing. The jobs tables (D1) are created in the stack's own state directory
//! before the runtime starts.

mod runtime;
mod snapshot;

pub use runtime::{loopback_command, WorkerRuntime};

use crate::fake_bedrock::{FakeBedrock, FakeConfig};
use anyhow::bail;
use runtime::{apply_migrations, Running, Serve};
use std::{
    io::Write,
    net::TcpListener,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

/// Where the Worker sends Bedrock calls.
pub enum Upstream {
    /// Start the fake Bedrock on this port (0 = any free port).
    Fake { port: u16 },
    /// The same with this configuration (pacing, credentials), e.g. `token_delay_ms: 0` for
    /// benchmarks that set the pacing per run with a `slow_tokens` fault.
    FakeWith { port: u16, config: FakeConfig },
    /// Real Bedrock (or `BEDROCK_ENDPOINT`) with these variables: access key, secret, ...
    Aws(Vec<(String, String)>),
}

impl Upstream {
    /// Real Bedrock when `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (or
    /// `AWS_BEARER_TOKEN_BEDROCK`) are set in this process's environment, else the fake.
    pub fn from_env(fake_port: u16) -> Self {
        const PASSED: [&str; 6] = [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_BEARER_TOKEN_BEDROCK",
            "AWS_REGION",
            "BEDROCK_ENDPOINT",
        ];
        let vars: Vec<(String, String)> = PASSED
            .iter()
            .filter_map(|name| {
                std::env::var(name)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| ((*name).to_owned(), v))
            })
            .collect();
        let has = |name: &str| vars.iter().any(|(n, _)| n == name);
        if (has("AWS_ACCESS_KEY_ID") && has("AWS_SECRET_ACCESS_KEY"))
            || has("AWS_BEARER_TOKEN_BEDROCK")
        {
            Self::Aws(vars)
        } else {
            Self::Fake { port: fake_port }
        }
    }
}

pub struct StackOptions {
    /// What serves the Worker: `wrangler dev` unless measuring without its dev proxy.
    pub runtime: WorkerRuntime,
    /// Port of the Worker (0 = any free port).
    pub port: u16,
    pub upstream: Upstream,
    /// More Worker variables, e.g. shorter upstream timeouts for tests.
    pub vars: Vec<(String, String)>,
    /// Show the runtime's output on this terminal instead of writing it to the log file
    /// ([`Stack::log_path`]).
    pub inherit_output: bool,
    /// Durable Object bindings served by objects that never answer (Miniflare only): to test
    /// a slow object.
    pub hanging_objects: Vec<&'static str>,
}

/// A running stack; dropping it stops the runtime (and the fake).
pub struct Stack {
    pub url: String,
    pub fake: Option<FakeBedrock>,
    pub work_dir: PathBuf,
    pub runtime: WorkerRuntime,
    running: Running,
}

impl Stack {
    /// Starts the stack and waits until the Worker answers. Needs `edge/build` and `dist`.
    pub async fn start(options: StackOptions) -> anyhow::Result<Stack> {
        Self::start_with(options, false).await
    }

    /// Like [`start`](Self::start), but the runtime serves a copy of the built Worker and
    /// front end taken now, so that a rebuild while it runs (another build on the machine) does
    /// not reload it mid-measurement. For benchmarks.
    pub async fn start_snapshot(options: StackOptions) -> anyhow::Result<Stack> {
        Self::start_with(options, true).await
    }

    async fn start_with(options: StackOptions, snapshot: bool) -> anyhow::Result<Stack> {
        if !options.hanging_objects.is_empty() && options.runtime != WorkerRuntime::Miniflare {
            bail!("hanging Durable Objects are served by the Miniflare runtime only");
        }
        let root = repo_root();
        for built in ["edge/build/index.js", "dist/index.html"] {
            if !root.join(built).exists() {
                bail!("{built} is missing: build first (scripts/dev and scripts/test do)");
            }
        }
        let work_dir = std::env::temp_dir().join(format!(
            "bedrock-edge-stack-{}-{}",
            std::process::id(),
            free_port()?
        ));
        std::fs::create_dir_all(&work_dir)?;

        let (fake, mut vars) = match options.upstream {
            Upstream::Fake { port } => Self::start_fake(FakeConfig::default(), port).await?,
            Upstream::FakeWith { port, config } => Self::start_fake(config, port).await?,
            Upstream::Aws(vars) => (None, vars),
        };
        vars.extend(options.vars);
        if !vars.iter().any(|(name, _)| name == "WIDGET_TOKEN_SECRET") {
            vars.push(("WIDGET_TOKEN_SECRET".to_owned(), dev_token_secret()?));
        }
        let env_file = work_dir.join("worker.env");
        write_env_file(&env_file, &vars)?;

        let port = if options.port == 0 {
            free_port()?
        } else {
            options.port
        };
        let config = if snapshot {
            snapshot::snapshot_built(&root, &work_dir.join("snapshot"))?
        } else {
            PathBuf::from("edge/wrangler.toml")
        };
        let state = work_dir.join("state");
        apply_migrations(&root, &work_dir, &config, &state).await?;
        let runtime = options.runtime;
        let log = match options.inherit_output {
            true => None,
            false => Some(std::fs::File::create(work_dir.join(runtime.log_file()))?),
        };
        let running = runtime.spawn(&Serve {
            root: &root,
            config: &config,
            port,
            state: &state,
            env_file: &env_file,
            work_dir: &work_dir,
            log: log.as_ref(),
            hanging_objects: &options.hanging_objects,
        })?;
        let mut stack = Stack {
            url: format!("http://127.0.0.1:{port}"),
            fake,
            work_dir,
            runtime,
            running,
        };
        stack.wait_ready().await?;
        Ok(stack)
    }

    /// Starts the fake and names it to the Worker: its URL and credentials.
    async fn start_fake(
        config: FakeConfig,
        port: u16,
    ) -> anyhow::Result<(Option<FakeBedrock>, Vec<(String, String)>)> {
        let fake = FakeBedrock::start(config.clone(), port).await?;
        let vars = vec![
            ("BEDROCK_ENDPOINT".to_owned(), fake.url()),
            ("AWS_ACCESS_KEY_ID".to_owned(), config.access_key_id.clone()),
            (
                "AWS_SECRET_ACCESS_KEY".to_owned(),
                config.secret_access_key.clone(),
            ),
        ];
        Ok((Some(fake), vars))
    }

    /// Waits for the runtime's ready line (if it prints one), then for the Worker itself to
    /// answer `GET /api/routes` (a success, its JSON 500 when it is misconfigured on purpose,
    /// or its JSON 401 when it asks for credentials); fails at once if the runtime exits.
    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let probe = format!("{}/api/routes", self.url);
        for _ in 0..600 {
            if let Some(status) = self.running.child.try_wait()? {
                bail!(
                    "{} exited ({status}) before it was ready; see {}",
                    self.runtime.arg(),
                    self.log_path().display()
                );
            }
            if self.running.said_ready() {
                let response = client
                    .get(&probe)
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await;
                let answered = response.is_ok_and(|r| {
                    let json = r
                        .headers()
                        .get("content-type")
                        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
                    // The runtime's own placeholders while it starts answer 503.
                    let refused = matches!(r.status().as_u16(), 401 | 500);
                    r.status().is_success() || (refused && json)
                });
                if answered {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "{} did not answer on {} within 60 s; see {}",
            self.runtime.arg(),
            self.url,
            self.log_path().display()
        )
    }

    /// The process id of the runtime (`wrangler dev` or node), also the id of the process group
    /// of everything it started (workerd, esbuild): for measuring what they use.
    pub fn process_group(&self) -> u32 {
        self.running.child.id()
    }

    /// The runtime's output, when not inherited.
    pub fn log_path(&self) -> PathBuf {
        self.work_dir.join(self.runtime.log_file())
    }

    /// The Worker's log lines so far (what `console.log` wrote).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let group = format!("-{}", self.process_group());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.running.child.wait();
        let _ = std::fs::remove_dir_all(self.work_dir.join("state"));
        let _ = std::fs::remove_dir_all(self.work_dir.join("snapshot"));
    }
}

/// Writes the Worker's variables to a private env file: secrets go through it, not the command
/// line.
fn write_env_file(path: &Path, vars: &[(String, String)]) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    for (name, value) in vars {
        // Single quotes: dotenv takes the value literally, JSON and newlines included.
        if value.contains('\'') {
            bail!("{name}: a Worker variable for the local stack cannot contain a single quote");
        }
        writeln!(file, "{name}='{value}'")?;
    }
    Ok(())
}

/// A fresh secret for the widget tokens of one local stack (the route table's widget keys need
/// one): 32 random bytes as hex, from the system's generator. Tokens of an earlier run end
/// with it, as they do when a deployed edge's secret is rotated.
fn dev_token_secret() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// The workspace root (this crate's parent directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
