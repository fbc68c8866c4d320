//! A copy of what the runtime serves, taken when the stack starts, so that a rebuild while it
//! runs (another build on the machine) does not reload the Worker mid-measurement.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// Copies what the runtime serves (`edge/wrangler.toml`, `edge/build`, `edge/migrations`,
/// `dist`) under `to`, keeping their relative places; the copy's `wrangler.toml`.
pub(super) fn snapshot_built(root: &Path, to: &Path) -> anyhow::Result<PathBuf> {
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
