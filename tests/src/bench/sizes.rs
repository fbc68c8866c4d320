//! Sizes of the release artefacts: the Worker's wasm (`edge/build`), the front end's wasm and
//! all its files (`dist/`), raw and `gzip -9`, and the bundle `wrangler deploy --dry-run`
//! would upload.

use super::table::{bytes, Row};
use crate::stack::loopback_command;
use anyhow::{bail, Context};
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// Worker under 300 KiB gzipped, front end under 200 KiB gzipped.
pub const WORKER_GZIP_LIMIT: u64 = 300 * 1024;
pub const FRONTEND_GZIP_LIMIT: u64 = 200 * 1024;

/// Raw and `gzip -9` size of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Size {
    pub raw: u64,
    pub gzip: u64,
}

impl Size {
    pub fn of(path: &Path) -> anyhow::Result<Self> {
        let raw = std::fs::metadata(path)
            .with_context(|| format!("{} is missing: build first", path.display()))?
            .len();
        let output = Command::new("gzip")
            .args(["-9", "-c"])
            .arg(path)
            .stderr(Stdio::inherit())
            .output()
            .context("running gzip")?;
        if !output.status.success() {
            bail!("gzip failed on {}", path.display());
        }
        Ok(Self {
            raw,
            gzip: output.stdout.len() as u64,
        })
    }

    fn add(self, other: Self) -> Self {
        Self {
            raw: self.raw + other.raw,
            gzip: self.gzip + other.gzip,
        }
    }

    fn show(self) -> String {
        format!("{} raw, {} gzip", bytes(self.raw), bytes(self.gzip))
    }
}

/// The size rows; `root` is the workspace.
pub fn rows(root: &Path) -> anyhow::Result<Vec<Row>> {
    let worker = Size::of(&root.join("edge/build/index_bg.wasm"))?;
    let dist = files(&root.join("dist"))?;
    let wasm: Vec<&PathBuf> = dist
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    let [front_wasm] = wasm[..] else {
        bail!("expected one .wasm file in dist/, found {}", wasm.len());
    };
    let front = Size::of(front_wasm)?;
    let mut all = Size::default();
    for file in &dist {
        all = all.add(Size::of(file)?);
    }
    let mut rows = vec![
        Row::new(
            "Worker wasm",
            worker.show(),
            "edge/build/index_bg.wasm after `worker-build --release` (wasm-opt -Oz, then -Oz --converge and stripped by scripts/lib/common.sh); gzip -9",
        )
        .target("< 300 KiB gzip", worker.gzip < WORKER_GZIP_LIMIT),
        Row::new(
            "Front-end wasm",
            front.show(),
            "dist/*_bg.wasm after `trunk build --release` (wasm-opt -Oz); gzip -9",
        )
        .target("< 200 KiB gzip", front.gzip < FRONTEND_GZIP_LIMIT),
        Row::new(
            "Front end, all files",
            all.show(),
            format!(
                "every file in dist/ ({} files: page, wasm, js, css, widget), each gzip -9, summed",
                dist.len()
            ),
        ),
    ];
    rows.extend(dry_run(root)?);
    Ok(rows)
}

/// The files directly in `dir`, sorted.
fn files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// `wrangler deploy --dry-run`: the Worker bundle (js + wasm) as it would be uploaded.
fn dry_run(root: &Path) -> anyhow::Result<Option<Row>> {
    let out_dir = root.join("target/bench/deploy-dry-run");
    let output = loopback_command(
        root.join("node_modules/.bin/wrangler"),
        &root.join("target/bench"),
    )
    .current_dir(root.join("edge"))
    .args(["deploy", "--dry-run", "--outdir"])
    .arg(&out_dir)
    .output()
    .context("running wrangler deploy --dry-run (run `npm ci` first)")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let total = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Total Upload:"))
        .map(str::trim);
    Ok(total.map(|total| {
        Row::new(
            "Worker upload bundle",
            total,
            "`wrangler deploy --dry-run --outdir`: `Total Upload` (index.js + wasm), wrangler's own gzip",
        )
    }))
}
