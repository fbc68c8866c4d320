//! The local stack: the fake Bedrock (unless real AWS credentials are given) and `wrangler dev`
//! serving the built Worker and front end. Used by `scripts/dev`, the integration tests and the
//! browser tests, so all three run the same thing. The jobs tables (D1) are created in the
//! stack's own state directory before `wrangler dev` starts.

use crate::fake_bedrock::{FakeBedrock, FakeConfig};
use anyhow::{bail, Context};
use std::{
    io::Write,
    net::TcpListener,
    os::unix::{fs::OpenOptionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
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
    /// Port of `wrangler dev` (0 = any free port).
    pub port: u16,
    pub upstream: Upstream,
    /// More Worker variables, e.g. shorter upstream timeouts for tests.
    pub vars: Vec<(String, String)>,
    /// Show wrangler's output on this terminal instead of writing it to `work_dir/wrangler.log`.
    pub inherit_output: bool,
}

/// A running stack; dropping it stops wrangler (and the fake).
pub struct Stack {
    pub url: String,
    pub fake: Option<FakeBedrock>,
    pub work_dir: PathBuf,
    wrangler: Child,
}

impl Stack {
    /// Starts the stack and waits until the Worker answers. Needs `edge/build` and `dist`.
    pub async fn start(options: StackOptions) -> anyhow::Result<Stack> {
        Self::start_with(options, false).await
    }

    /// Like [`start`](Self::start), but `wrangler dev` serves a copy of the built Worker and
    /// front end taken now, so that a rebuild while it runs (another build on the machine) does
    /// not reload it mid-measurement. For benchmarks.
    pub async fn start_snapshot(options: StackOptions) -> anyhow::Result<Stack> {
        Self::start_with(options, true).await
    }

    async fn start_with(options: StackOptions, snapshot: bool) -> anyhow::Result<Stack> {
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
        // Secrets go through a private env file, not the command line.
        let env_file = work_dir.join("worker.env");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&env_file)?;
        for (name, value) in &vars {
            // Single quotes: dotenv takes the value literally, JSON and newlines included.
            if value.contains('\'') {
                bail!(
                    "{name}: a Worker variable for the local stack cannot contain a single quote"
                );
            }
            writeln!(file, "{name}='{value}'")?;
        }

        let port = if options.port == 0 {
            free_port()?
        } else {
            options.port
        };
        let url = format!("http://127.0.0.1:{port}");
        let config = if snapshot {
            snapshot_built(&root, &work_dir.join("snapshot"))?
        } else {
            PathBuf::from("edge/wrangler.toml")
        };
        apply_migrations(&root, &work_dir, &config).await?;
        let mut command = Command::new(root.join("node_modules/.bin/wrangler"));
        command
            .current_dir(&root)
            .args(["dev", "--config"])
            .arg(&config)
            .args(["--ip", "127.0.0.1"])
            .args([
                "--port",
                &port.to_string(),
                "--inspector-port",
                &free_port()?.to_string(),
            ])
            .arg("--persist-to")
            .arg(work_dir.join("state"))
            .arg("--env-file")
            .arg(&env_file)
            .arg("--show-interactive-dev-session=false")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_HIDE_BANNER", "true")
            .env("WRANGLER_LOG_PATH", work_dir.join("wrangler-logs"))
            .stdin(Stdio::null())
            // Own process group, so stopping it also stops the workerd processes it starts.
            .process_group(0);
        if !options.inherit_output {
            let log = std::fs::File::create(work_dir.join("wrangler.log"))?;
            command.stdout(log.try_clone()?).stderr(log);
        }
        let wrangler = command
            .spawn()
            .context("starting wrangler dev (run `npm ci` first)")?;
        let stack = Stack {
            url,
            fake,
            work_dir,
            wrangler,
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

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let probe = format!("{}/api/routes", self.url);
        for _ in 0..600 {
            if let Ok(response) = client
                .get(&probe)
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "wrangler dev did not answer on {} within 60 s; see {}",
            self.url,
            self.log_path().display()
        )
    }

    /// The process id of `wrangler dev`, also the id of the process group of everything it
    /// started (workerd, esbuild): for measuring what they use.
    pub fn wrangler_pid(&self) -> u32 {
        self.wrangler.id()
    }

    /// wrangler's output, when not inherited.
    pub fn log_path(&self) -> PathBuf {
        self.work_dir.join("wrangler.log")
    }

    /// The Worker's log lines so far (what `console.log` wrote).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let group = format!("-{}", self.wrangler.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.wrangler.wait();
        let _ = std::fs::remove_dir_all(self.work_dir.join("state"));
        let _ = std::fs::remove_dir_all(self.work_dir.join("snapshot"));
    }
}

/// Creates the D1 tables (`edge/migrations/`) in the local state `wrangler dev` then uses: both
/// must name the same `--persist-to`.
async fn apply_migrations(root: &Path, work_dir: &Path, config: &Path) -> anyhow::Result<()> {
    let output = tokio::process::Command::new(root.join("node_modules/.bin/wrangler"))
        .current_dir(root)
        .args(["d1", "migrations", "apply", "DB", "--local"])
        .arg("--config")
        .arg(config)
        .arg("--persist-to")
        .arg(work_dir.join("state"))
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("WRANGLER_HIDE_BANNER", "true")
        .env("WRANGLER_LOG_PATH", work_dir.join("wrangler-logs"))
        .stdin(Stdio::null())
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

/// Copies what `wrangler dev` serves (`edge/wrangler.toml`, `edge/build`, `edge/migrations`,
/// `dist`) under `to`, keeping their relative places; the copy's `wrangler.toml`.
fn snapshot_built(root: &Path, to: &Path) -> anyhow::Result<PathBuf> {
    for dir in ["edge/build", "edge/migrations", "dist"] {
        copy_dir(&root.join(dir), &to.join(dir))?;
    }
    let config = to.join("edge/wrangler.toml");
    std::fs::copy(root.join("edge/wrangler.toml"), &config)?;
    Ok(config)
}

/// Copies `from` into `to` recursively, leaving out hidden entries (build scratch space).
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    if !from.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
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
