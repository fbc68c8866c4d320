//! `fake-bedrock`: runs the fake Bedrock Runtime until Ctrl-C. Prints one line,
//! `fake-bedrock listening on http://127.0.0.1:PORT`, then logs one line per request to stderr.
//! Run `cargo run -p tests --bin fake-bedrock -- --help` for the options and the fault API.

use std::{io::Write, process::ExitCode};
use tests::fake_bedrock::{FakeBedrock, FakeConfig};

const HELP: &str = "\
fake-bedrock: a local fake of Amazon Bedrock Runtime for clients and tests.

USAGE: fake-bedrock [OPTIONS]

OPTIONS (each also read from the environment variable shown; flags win):
  --port N              port on 127.0.0.1, 0 = any free port     [FAKE_BEDROCK_PORT, default 8788]
  --access-key ID       accepted SigV4 access key id        [FAKE_BEDROCK_ACCESS_KEY, default AKIAFAKEBEDROCK00000]
  --secret-key KEY      its secret                  [FAKE_BEDROCK_SECRET_KEY, default fake-bedrock-secret-key]
  --session-token T     require this x-amz-security-token  [FAKE_BEDROCK_SESSION_TOKEN, default: none required]
  --bearer-token T      accepted API key (Authorization: Bearer T); empty = refuse bearer auth
                                             [FAKE_BEDROCK_BEARER_TOKEN, default fake-bedrock-api-key]
  --token-delay-ms MS   pause between stream frames          [FAKE_BEDROCK_TOKEN_DELAY_MS, default 15]
  -h, --help            this text

On start it prints exactly one line to stdout: `fake-bedrock listening on http://127.0.0.1:PORT`.
Each request is logged to stderr (method, path, model, status; never credentials).

BEDROCK OPERATIONS (signed with SigV4, service `bedrock`, any region; or a bearer token):
  POST /model/{modelId}/converse | converse-stream | invoke | invoke-with-response-stream
  POST /async-invoke    GET /async-invoke/{invocationArn}    GET /async-invoke?statusEquals=&maxResults=&nextToken=
  The answer is deterministic and names the model and the signing region:
  \"Hello from {model} in {region}. You said: {first 60 chars of the last user message}. ...\"
  InvokeModel bodies: Anthropic Messages (anthropic_version bedrock-2023-05-31) or Amazon Nova.

FAULT CONTROL API (not signed):
  POST   /_fake/faults  {\"model\": \"<model id or *>\", \"region\": \"<optional>\", \"times\": <optional N>,
                         \"fault\": {\"kind\": \"...\", ...}}
         kinds: throttle (429), unavailable (503), internal (500), model_error (424), model_timeout (408),
                model_not_ready (429), validation (400), access_denied (403),
                hang (never answers), slow_first_byte {\"ms\"}, slow_tokens {\"ms\"},
                exception_after {\"deltas\", \"exception\": \"throttlingException\" | \"modelStreamErrorException\" |
                  \"internalServerException\" | \"serviceUnavailableException\" | \"validationException\" |
                  \"modelTimeoutException\"},
                bad_crc_after {\"deltas\"}, drop_after {\"deltas\"}, truncated_after {\"deltas\"}
         On non-streaming calls exception_after answers the exception as an HTTP error, bad_crc_after
         a 500, drop_after and truncated_after break the JSON body off half way.
  GET    /_fake/faults  the current rules
  POST   /_fake/replies {\"model\": \"<model id or *>\", \"text\": \"...\"}  answer every call to the model
                        with this text instead (word-sized deltas, still cut at maxTokens)
  GET    /_fake/replies the replies set
  DELETE /_fake/faults  clear all faults, set replies and call counters
  GET    /_fake/calls   {\"calls\": {\"<model>\": N}, \"by_region\": {\"<model>@<region>\": N}}

EXAMPLE:
  curl -X POST localhost:8788/_fake/faults -d '{\"model\":\"*\",\"times\":2,\"fault\":{\"kind\":\"throttle\"}}'
";

fn main() -> ExitCode {
    let (config, port) = match parse(std::env::args().skip(1).collect()) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            let _ = std::io::stdout().write_all(HELP.as_bytes());
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("fake-bedrock: {message}\nTry --help.");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fake-bedrock: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config, port)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fake-bedrock: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: FakeConfig, port: u16) -> anyhow::Result<()> {
    let fake = FakeBedrock::start(config, port).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "fake-bedrock listening on {}", fake.url())?;
    stdout.flush()?;
    drop(stdout);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    eprintln!("fake-bedrock: stopping");
    drop(fake);
    Ok(())
}

const FLAGS: [&str; 6] = [
    "--port",
    "--access-key",
    "--secret-key",
    "--session-token",
    "--bearer-token",
    "--token-delay-ms",
];

/// The configuration from the environment then the flags; `None` for `--help`.
fn parse(args: Vec<String>) -> Result<Option<(FakeConfig, u16)>, String> {
    let mut config = FakeConfig {
        log_requests: true,
        ..FakeConfig::default()
    };
    let mut port: u16 = 8788;
    // `--token-delay-ms` is also read from `FAKE_BEDROCK_TOKEN_DELAY_MS`, and so on.
    let mut settings: Vec<(String, String)> = FLAGS
        .iter()
        .filter_map(|flag| {
            let name = flag
                .trim_start_matches('-')
                .to_uppercase()
                .replace('-', "_");
            let value = std::env::var(format!("FAKE_BEDROCK_{name}")).ok()?;
            Some(((*flag).to_owned(), value))
        })
        .collect();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let (flag, value) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), value.to_owned()),
            None if !FLAGS.contains(&arg.as_str()) => return Err(format!("unknown option {arg}")),
            None => {
                let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
                (arg, value)
            }
        };
        settings.push((flag, value));
    }
    for (flag, value) in settings {
        let number = |what: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: {what}, got {value:?}"))
        };
        match flag.as_str() {
            "--port" => {
                port = u16::try_from(number("expected a port number")?)
                    .map_err(|_| format!("--port: {value} is too large"))?
            }
            "--access-key" => config.access_key_id = value,
            "--secret-key" => config.secret_access_key = value,
            "--session-token" => config.session_token = Some(value).filter(|v| !v.is_empty()),
            "--bearer-token" => config.bearer_token = Some(value).filter(|v| !v.is_empty()),
            "--token-delay-ms" => config.token_delay_ms = number("expected milliseconds")?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(Some((config, port)))
}
