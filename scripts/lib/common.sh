# Shared by scripts/dev, scripts/test and scripts/bench: pinned tool versions, idempotent
# installation of whatever is missing, and the offline-safe environment for the builds.
# Source it; do not run it.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

WASM_BINDGEN_VERSION=0.2.130
WORKER_BUILD_VERSION=0.8.7
TRUNK_VERSION=0.21.14

export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
# worker-build ignores PATH and downloads unless told where its tools are.
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
# Keep wrangler on loopback: no metrics, no update check, no remote `cf` lookups.
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_HIDE_BANNER=true
export CHROMEDRIVER=/usr/bin/chromedriver

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

have_version() { # command, expected version substring
  command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -q "$2"
}

cargo_install() { # crate, version, binary, extra flags...
  local crate=$1 version=$2 binary=$3
  shift 3
  if have_version "$binary" "$version"; then
    echo "    $crate $version: present"
  else
    step "Installing $crate $version with cargo (one-off, several minutes on 2 cores)"
    cargo install "$crate" --version "$version" "$@"
  fi
}

ensure_build_tools() {
  step "Checking build tools"
  if ! rustup target list --installed | grep -q wasm32-unknown-unknown; then
    step "Adding the wasm32-unknown-unknown Rust target"
    rustup target add wasm32-unknown-unknown
  fi
  cargo_install wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen
  cargo_install worker-build "$WORKER_BUILD_VERSION" worker-build
  cargo_install trunk "$TRUNK_VERSION" trunk --locked
  if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    step "Installing wrangler (and its miniflare), binaryen (wasm-opt), esbuild and playwright-core from npm"
    npm ci --no-audit --no-fund
  else
    echo "    npm packages: present"
  fi
}

ensure_browser() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "    chromium + chromedriver: present"
    return
  fi
  step "Installing chromium and chromium-driver from Debian"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update
  $sudo apt-get install -y chromium chromium-driver
}

build_frontend() {
  step "Building the front end (trunk build --release -> dist/)"
  cargo fetch --quiet
  trunk build --release
}

build_worker() {
  step "Building the Worker (worker-build --release -> edge/build/)"
  (cd edge && worker-build --release)
  # worker-build keeps the wasm names section (--debuginfo) for readable panics; a release
  # build does not need it and it is a third of the file. A second -Oz round, repeated until
  # the module stops shrinking (--converge), takes another 2 KB gzip off in about 20 s. Same
  # feature set as worker-build.
  local wasm=edge/build/index_bg.wasm
  wasm-opt "$wasm" -o "$wasm" -Oz --converge --low-memory-unused --strip-debug --strip-producers \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling
  echo "    worker wasm: $(wc -c <"$wasm") bytes, $(gzip -9 <"$wasm" | wc -c) gzipped"
}
