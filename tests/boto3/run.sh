#!/usr/bin/env bash
# Proves the fake Bedrock is faithful by driving it with boto3 from PyPI: creates a venv in
# target/boto3-venv (once), starts target/debug/fake-bedrock on a free port, runs
# test_fake_bedrock.py with plain unittest, and stops the fake.
# Usage: tests/boto3/run.sh [unittest args, e.g. -k converse]
set -euo pipefail

BOTO3_VERSION="1.43.11" # the release bedrock-wire.md was checked against
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/boto3-venv"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "boto3==$BOTO3_VERSION"

(cd "$root" && cargo build --quiet -p tests --bin fake-bedrock)

work="$(mktemp -d)"
"$target/debug/fake-bedrock" --port 0 >"$work/stdout" 2>"$work/stderr" &
fake_pid=$!
stop_fake() {
  kill "$fake_pid" 2>/dev/null || true
  wait "$fake_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap stop_fake EXIT

url=""
for _ in $(seq 100); do
  url="$(sed -n 's/^fake-bedrock listening on //p' "$work/stdout")"
  [ -n "$url" ] && break
  kill -0 "$fake_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "fake-bedrock did not start:" >&2
  cat "$work/stderr" >&2
  exit 1
fi

# Hermetic: no real AWS credentials or config reach boto3 (or the fake).
status=0
(
  cd "$root/tests/boto3"
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
    -u AWS_BEARER_TOKEN_BEDROCK -u AWS_REGION -u AWS_DEFAULT_REGION \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
    FAKE_BEDROCK_URL="$url" \
    "$venv/bin/python" -m unittest -v test_fake_bedrock "$@"
) || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- fake-bedrock log ---" >&2
  cat "$work/stderr" >&2
fi
exit "$status"
