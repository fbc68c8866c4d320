//! The front end's main-thread cost per token, measured in headless Chromium by
//! `tests/bench/render.mjs` (playwright-core) against the running stack. This side starts the
//! script and reads its JSON report.

use super::table::Row;
use crate::stack::WorkerRuntime;
use anyhow::{bail, Context};
use serde::Deserialize;
use std::{
    path::Path,
    process::{Command, Stdio},
};

/// One measured stretch of the answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Window {
    pub from_chars: u64,
    pub to_chars: u64,
    pub deltas: u64,
    /// Main-thread task time per delta, ms (polling cost taken out).
    pub per_delta_ms: f64,
    pub script_per_delta_ms: f64,
    pub layout_per_delta_ms: f64,
    pub style_per_delta_ms: f64,
}

/// The script's report.
#[derive(Debug, Clone, Deserialize)]
pub struct Report {
    pub windows: Vec<Window>,
    pub pacing_ms: u64,
    pub answer_chars: u64,
    pub rendered_chars: u64,
    pub total_deltas: u64,
    pub poll_ms: f64,
}

/// Runs the script against the stack (`edge_url`, `fake_url`).
pub fn measure(root: &Path, edge_url: &str, fake_url: &str) -> anyhow::Result<Report> {
    let output = Command::new("node")
        .current_dir(root)
        .arg("tests/bench/render.mjs")
        .args([edge_url, fake_url])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running node tests/bench/render.mjs")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("render.mjs failed ({}): {stdout}", output.status);
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .context("render.mjs printed no JSON report")?;
    Ok(serde_json::from_str(line)?)
}

/// The report as rows; `runtime` served the chat page.
pub fn rows(report: &Report, runtime: WorkerRuntime) -> Vec<Row> {
    report
        .windows
        .iter()
        .map(|w| {
            Row::new(
                format!("Front-end render per token at ~{}k chars", w.from_chars / 1000),
                format!(
                    "{:.3} ms (script {:.3}, style {:.3}, layout {:.3})",
                    w.per_delta_ms,
                    w.script_per_delta_ms,
                    w.style_per_delta_ms,
                    w.layout_per_delta_ms
                ),
                format!(
                    "headless Chromium (playwright-core) on the chat page via {}; a {}-char \
                     markdown answer ({} deltas, one every {} ms from the fake); renderer main-thread \
                     task time (CDP Performance.getMetrics TaskDuration) while the answer grew from \
                     {} to {} rendered chars, divided by the {} deltas received meanwhile; polling cost \
                     ({:.3} ms per poll) taken out",
                    runtime.name(),
                    report.answer_chars,
                    report.total_deltas,
                    report.pacing_ms,
                    w.from_chars,
                    w.to_chars,
                    w.deltas,
                    report.poll_ms
                ),
            )
        })
        .collect()
}
